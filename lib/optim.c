/* Optimizers of Ultralytics 8.4.52 on torch 1.13 (see include/yolo/optim.h). The reference update
 * steps use the same libtorch calls in the same order as torch.optim's single-tensor code paths (the
 * default on CPU in 1.13), so a step is bit-identical to PyTorch's; the fused kernels below repeat
 * those calls' float arithmetic element by element, so they are too. */
#include "yolo/optim.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "optim_internal.h"
#include "fused.h"
#include "yolo/torch_train.h"

static const char *group_names[OPTIM_NGROUPS] = {"weight", "bn", "bias"};

const char *optim_group_name(int group) {
    return group >= 0 && group < OPTIM_NGROUPS ? group_names[group] : "?";
}

const char *optim_kind_name(optim_kind kind) {
    switch (kind) {
    case OPTIM_SGD:
        return "SGD";
    case OPTIM_ADAM:
        return "Adam";
    case OPTIM_ADAMW:
        return "AdamW";
    }
    return "?";
}

yolo_status optim_parse_kind(const char *name, optim_kind *out) {
    static const optim_kind kinds[3] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, optim_kind_name(kinds[i]))) {
            *out = kinds[i];
            return YOLO_OK;
        }
    return yolo_error(YOLO_ERR_USAGE, "optimizer '%s' is not supported (use SGD, Adam, AdamW or auto)",
                      name ? name : "");
}

bool optim_name_is_norm(const char *name) {
    size_t n = strlen(name);
    return strstr(name, ".bn.") != NULL || (n >= 3 && !strncmp(name, "bn.", 3));
}

int optim_group_of(const char *name, bool is_norm) {
    if (strstr(name, "bias")) return OPTIM_GROUP_BIAS;
    if (is_norm) return OPTIM_GROUP_BN;
    return OPTIM_GROUP_WEIGHT;
}

void optim_resolve_auto(int nc, int64_t iterations, optim_kind *kind, double *lr, double *momentum) {
    if (iterations > 10000) {
        *kind = OPTIM_SGD;
        *lr = 0.01;
    } else {
        /* Python's round(x, 6): printf rounds the exact binary value correctly, then parse back */
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", 0.002 * 5 / (4 + nc));
        *kind = OPTIM_ADAMW;
        *lr = strtod(buf, NULL);
    }
    *momentum = 0.9;
}

double optim_scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs) {
    return weight_decay * batch * accumulate / nbs;
}

yolo_status optim_new(optim_kind kind, double lr, double momentum, double weight_decay,
                      const optim_param *params, int n, optim **out) {
    if (!out || n < 0 || (n && !params)) return yolo_error(YOLO_ERR_USAGE, "optim: bad arguments");
    optim *o = calloc(1, sizeof *o);
    if (!o || !(o->p = calloc((size_t)(n ? n : 1), sizeof *o->p))) {
        free(o);
        return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    }
    o->kind = kind;
    o->fused = true;
    o->n = n;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        group *G = &o->g[g];
        G->lr = G->initial_lr = lr;
        G->momentum = momentum;
        G->beta2 = 0.999;
        G->eps = 1e-8;
        G->nesterov = kind == OPTIM_SGD;
        G->weight_decay = g == OPTIM_GROUP_WEIGHT ? weight_decay : 0.0;
        if (!(G->members = calloc((size_t)(n ? n : 1), sizeof(int)))) {
            optim_free(o);
            return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        }
    }
    for (int i = 0; i < n; i++) {
        if (!params[i].name || !params[i].param) {
            optim_free(o);
            return yolo_error(YOLO_ERR_USAGE, "optim: parameter %d has no name or tensor", i);
        }
        slot *s = &o->p[i];
        if (!(s->name = strdup(params[i].name))) {
            optim_free(o);
            return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        }
        s->param = params[i].param;
        s->group = optim_group_of(params[i].name, params[i].is_norm);
        group *G = &o->g[s->group];
        G->members[G->n++] = i;
    }
    *out = o;
    return YOLO_OK;
}

void optim_free(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        free(o->p[i].name);
        torch_free(o->p[i].buf);
        torch_free(o->p[i].sq);
    }
    for (int g = 0; g < OPTIM_NGROUPS; g++)
        free(o->g[g].members);
    free(o->p);
    free(o);
}

void optim_set_fused(optim *o, bool on) {
    o->fused = on;
}
bool optim_get_fused(const optim *o) {
    return o->fused;
}

optim_kind optim_get_kind(const optim *o) {
    return o->kind;
}
int optim_param_count(const optim *o) {
    return o->n;
}
const char *optim_param_name(const optim *o, int i) {
    return i >= 0 && i < o->n ? o->p[i].name : NULL;
}
int optim_group_size(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].n : 0;
}
int optim_group_member(const optim *o, int g, int i) {
    return g >= 0 && g < OPTIM_NGROUPS && i >= 0 && i < o->g[g].n ? o->g[g].members[i] : -1;
}
double optim_get_lr(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].lr : NAN;
}
void optim_set_lr(optim *o, int g, double lr) {
    if (g >= 0 && g < OPTIM_NGROUPS) o->g[g].lr = lr;
}
double optim_get_initial_lr(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].initial_lr : NAN;
}
double optim_get_momentum(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS && o->kind == OPTIM_SGD ? o->g[g].momentum : NAN;
}
void optim_set_momentum(optim *o, int g, double m) {
    if (g >= 0 && g < OPTIM_NGROUPS && o->kind == OPTIM_SGD) o->g[g].momentum = m;
}
double optim_get_weight_decay(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].weight_decay : NAN;
}

void optim_apply_epoch_lr(optim *o, const sched_cfg *cfg, int epoch) {
    for (int g = 0; g < OPTIM_NGROUPS; g++)
        o->g[g].lr = sched_epoch_lr(cfg, o->g[g].initial_lr, epoch);
}

bool optim_apply_warmup(optim *o, const sched_cfg *cfg, int64_t ni, int64_t nw, int epoch) {
    if (nw < 0 || ni > nw) return false;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        group *G = &o->g[g];
        sched_warmup_lr(cfg, ni, nw, epoch, G->initial_lr, g == OPTIM_GROUP_BIAS, &G->lr);
        if (o->kind == OPTIM_SGD) sched_warmup_momentum(cfg, ni, nw, &G->momentum);
    }
    return true;
}

/* torch.optim.SGD, one parameter: d = g (+ wd p); buf = d, then buf = m buf + d; p -= lr (d + m buf). */
static yolo_status sgd_one(slot *s, const group *G, torch_tensor *grad) {
    yolo_status st = YOLO_OK;
    torch_tensor *d = NULL;
    if (G->weight_decay != 0) {
        st = torch_clone(grad, &d);
        if (st == YOLO_OK) st = torch_add_(d, s->param, G->weight_decay);
    } else {
        st = torch_alias(grad, &d);
    }
    if (st == YOLO_OK && G->momentum != 0) {
        if (!s->buf) {
            st = torch_clone(d, &s->buf);
            if (st == YOLO_OK) st = torch_detach(s->buf, &s->buf);
        } else {
            st = torch_mul_scalar_(s->buf, G->momentum);
            if (st == YOLO_OK) st = torch_add_(s->buf, d, 1.0);
        }
        if (st == YOLO_OK) {
            if (G->nesterov) {
                /* d.add(buf, alpha=momentum) makes a new tensor: the gradient is not touched */
                torch_tensor *n = NULL;
                st = torch_clone(d, &n);
                if (st == YOLO_OK) st = torch_add_(n, s->buf, G->momentum);
                torch_free(d);
                d = n;
            } else {
                st = torch_alias(s->buf, &d);
            }
        }
    }
    if (st == YOLO_OK) st = torch_add_(s->param, d, -G->lr);
    torch_free(d);
    return st;
}

/* torch.optim.Adam / AdamW (amsgrad off), one parameter. */
static yolo_status adam_one(slot *s, const group *G, torch_tensor *grad, bool decoupled) {
    yolo_status st = YOLO_OK;
    torch_tensor *g = NULL, *denom = NULL;
    double beta1 = G->momentum, beta2 = G->beta2;
    if (!s->buf) {
        if ((st = torch_clone(grad, &s->buf)) != YOLO_OK || (st = torch_detach(s->buf, &s->buf)) != YOLO_OK ||
            (st = torch_zero_(s->buf)) != YOLO_OK || (st = torch_clone(s->buf, &s->sq)) != YOLO_OK)
            return st;
        s->step = 0;
    }
    s->step += 1;
    if (decoupled) {
        st = torch_mul_scalar_(s->param, 1 - G->lr * G->weight_decay);
        if (st == YOLO_OK) st = torch_alias(grad, &g);
    } else if (G->weight_decay != 0) {
        st = torch_clone(grad, &g);
        if (st == YOLO_OK) st = torch_add_(g, s->param, G->weight_decay);
    } else {
        st = torch_alias(grad, &g);
    }
    if (st == YOLO_OK) st = torch_mul_scalar_(s->buf, beta1);
    if (st == YOLO_OK) st = torch_add_(s->buf, g, 1 - beta1);
    if (st == YOLO_OK) st = torch_mul_scalar_(s->sq, beta2);
    if (st == YOLO_OK) st = tt_addcmul_(s->sq, g, g, 1 - beta2);
    if (st == YOLO_OK) {
        double bc1 = 1 - pow(beta1, s->step), bc2 = 1 - pow(beta2, s->step);
        double step_size = G->lr / bc1, bc2_sqrt = sqrt(bc2);
        st = tt_sqrt(s->sq, &denom);
        if (st == YOLO_OK) st = tt_div_scalar(denom, bc2_sqrt, &denom);
        if (st == YOLO_OK) st = tt_add_scalar_(denom, G->eps);
        if (st == YOLO_OK) st = tt_addcdiv_(s->param, s->buf, denom, -step_size);
    }
    torch_free(g);
    torch_free(denom);
    return st;
}

/* ---- fused kernels ----
 * One pass per parameter over raw float32 memory instead of ~10 libtorch calls and their temporaries.
 * Each element goes through the same float operations, rounded at the same places, as the ATen 1.13
 * CPU kernels the op-by-op path calls (found by testing them, see tests/test_optim_fused.c):
 *   a.add_(b, alpha)       fmaf(b, alpha, a)          a.mul_(s)         a * s
 *   a.addcmul_(b, c, s)    fmaf(s * b, c, a)          a.sqrt() / s      sqrtf(a) / s
 *   a.addcdiv_(b, c, s)    a + (s * b) / c            a.add_(s)         a + s
 * with every scalar rounded to float first, as c10::Scalar::to<float> does. Elementwise work gives the
 * same bits however it is split into chunks, so the loops may run on libtorch's threads. A one-time
 * probe compares both paths on a small tensor; where libtorch rounds differently (another CPU
 * capability, ATEN_CPU_CAPABILITY=default, another compiler), every step takes the op-by-op path. */

/* What happens to the gradient on the way: clipping's scale (g = g * gscale, rounded, written back
 * unless zeroed) and zero_grad (g = 0 after use), so that one pass does clip, step and zero_grad. */
typedef struct {
    float gscale;
    bool scale, zero;
} grad_io;

typedef struct {
    float *p, *buf, *g;
    float wd, mom, neg_lr;
    bool has_wd, has_mom, first, nesterov;
    grad_io io;
} sgd_args;

typedef struct {
    float *p, *m, *v, *g;
    float decay, wd, b1, omb1, b2, omb2, bc2_sqrt, eps, neg_step;
    bool decoupled, has_wd;
    grad_io io;
} adam_args;

/* The gradient element as the step sees it, and what is left in its place. */
static inline float grad_in(const grad_io *io, float *g, int64_t i) {
    float x = g[i];
    if (io->scale) {
        x = x * io->gscale;
        KEEP_F(x);
    }
    if (io->zero)
        g[i] = 0.0f;
    else if (io->scale)
        g[i] = x;
    return x;
}

static inline float sgd_elem(const sgd_args *a, int64_t i) {
    float d = grad_in(&a->io, a->g, i);
    if (a->has_wd) d = fmaf(a->p[i], a->wd, d);
    if (a->has_mom) {
        float b = d;
        if (!a->first) {
            b = a->buf[i] * a->mom;
            KEEP_F(b);
            b = b + d;
        }
        a->buf[i] = b;
        d = a->nesterov ? fmaf(b, a->mom, d) : b;
    }
    return fmaf(d, a->neg_lr, a->p[i]);
}

static inline float adam_elem(const adam_args *a, int64_t i) {
    float p = a->p[i], g = grad_in(&a->io, a->g, i);
    if (a->decoupled)
        p = p * a->decay;
    else if (a->has_wd)
        g = fmaf(p, a->wd, g);
    KEEP_F(p);
    float m = a->m[i] * a->b1;
    KEEP_F(m);
    m = fmaf(g, a->omb1, m);
    float v = a->v[i] * a->b2, t = a->omb2 * g;
    KEEP_F(v);
    KEEP_F(t);
    v = fmaf(t, g, v);
    a->m[i] = m;
    a->v[i] = v;
    float den = sqrtf(v) / a->bc2_sqrt;
    KEEP_F(den);
    den = den + a->eps;
    float u = a->neg_step * m;
    KEEP_F(u);
    u = u / den;
    return p + u;
}

static void sgd_generic(void *ctx, int64_t b, int64_t e) {
    const sgd_args *a = ctx;
    for (int64_t i = b; i < e; i++)
        a->p[i] = sgd_elem(a, i);
}

static void adam_generic(void *ctx, int64_t b, int64_t e) {
    const adam_args *a = ctx;
    for (int64_t i = b; i < e; i++)
        a->p[i] = adam_elem(a, i);
}

#if defined(FUSED_X86)
/* The same steps eight lanes at a time; the tail takes the scalar form (fmaf is one instruction here). */
__attribute__((target("avx2,fma"))) static inline __m256 grad_in8(const grad_io *io, float *g, int64_t i) {
    __m256 x = _mm256_loadu_ps(g + i);
    if (io->scale) {
        x = _mm256_mul_ps(x, _mm256_set1_ps(io->gscale));
        KEEP_PS(x);
    }
    if (io->zero)
        _mm256_storeu_ps(g + i, _mm256_setzero_ps());
    else if (io->scale)
        _mm256_storeu_ps(g + i, x);
    return x;
}

__attribute__((target("avx2,fma"))) static void sgd_avx2(void *ctx, int64_t b, int64_t e) {
    const sgd_args *a = ctx;
    const __m256 wd = _mm256_set1_ps(a->wd), mom = _mm256_set1_ps(a->mom), nlr = _mm256_set1_ps(a->neg_lr);
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
        __m256 p = _mm256_loadu_ps(a->p + i), d = grad_in8(&a->io, a->g, i);
        if (a->has_wd) d = _mm256_fmadd_ps(p, wd, d);
        if (a->has_mom) {
            __m256 bv = d;
            if (!a->first) {
                bv = _mm256_mul_ps(_mm256_loadu_ps(a->buf + i), mom);
                KEEP_PS(bv);
                bv = _mm256_add_ps(bv, d);
            }
            _mm256_storeu_ps(a->buf + i, bv);
            d = a->nesterov ? _mm256_fmadd_ps(bv, mom, d) : bv;
        }
        _mm256_storeu_ps(a->p + i, _mm256_fmadd_ps(d, nlr, p));
    }
    for (; i < e; i++)
        a->p[i] = sgd_elem(a, i);
}

__attribute__((target("avx2,fma"))) static void adam_avx2(void *ctx, int64_t b, int64_t e) {
    const adam_args *a = ctx;
    const __m256 decay = _mm256_set1_ps(a->decay), wd = _mm256_set1_ps(a->wd), b1 = _mm256_set1_ps(a->b1),
                 omb1 = _mm256_set1_ps(a->omb1), b2 = _mm256_set1_ps(a->b2), omb2 = _mm256_set1_ps(a->omb2),
                 bc2 = _mm256_set1_ps(a->bc2_sqrt), eps = _mm256_set1_ps(a->eps),
                 nst = _mm256_set1_ps(a->neg_step);
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
        __m256 p = _mm256_loadu_ps(a->p + i), g = grad_in8(&a->io, a->g, i);
        if (a->decoupled)
            p = _mm256_mul_ps(p, decay);
        else if (a->has_wd)
            g = _mm256_fmadd_ps(p, wd, g);
        KEEP_PS(p);
        __m256 m = _mm256_mul_ps(_mm256_loadu_ps(a->m + i), b1);
        KEEP_PS(m);
        m = _mm256_fmadd_ps(g, omb1, m);
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(a->v + i), b2), t = _mm256_mul_ps(omb2, g);
        KEEP_PS(v);
        KEEP_PS(t);
        v = _mm256_fmadd_ps(t, g, v);
        _mm256_storeu_ps(a->m + i, m);
        _mm256_storeu_ps(a->v + i, v);
        __m256 den = _mm256_div_ps(_mm256_sqrt_ps(v), bc2);
        KEEP_PS(den);
        den = _mm256_add_ps(den, eps);
        __m256 u = _mm256_mul_ps(nst, m);
        KEEP_PS(u);
        u = _mm256_div_ps(u, den);
        _mm256_storeu_ps(a->p + i, _mm256_add_ps(p, u));
    }
    for (; i < e; i++)
        a->p[i] = adam_elem(a, i);
}
#endif

typedef void (*range_fn)(void *ctx, int64_t b, int64_t e);
static range_fn sgd_kernel = sgd_generic, adam_kernel = adam_generic;

/* Optimizer state for a parameter: contiguous float32 on the CPU, its shape. */
static yolo_status state_like(const torch_tensor *param, torch_tensor **out) {
    int64_t shape[8];
    int nd = torch_shape(param, shape, 8);
    if (nd > 8) return yolo_error(YOLO_ERR_LIMIT, "optim: parameter with %d dims", nd);
    return torch_zeros(nd, shape, TORCH_F32, TORCH_CPU, out);
}

/* Sets up the fused step of one parameter in *a (the state is created, Adam's step counted). *done
 * stays false when a tensor does not qualify (not contiguous float32 on the CPU); the caller then takes
 * the op-by-op path, which also creates the state. */
static yolo_status sgd_prepare(slot *s, const group *G, torch_tensor *grad, const grad_io *io, sgd_args *out,
                               bool *done) {
    bool has_mom = G->momentum != 0;
    int64_t n = torch_numel(s->param);
    *done = false;
    if (n == 0 || torch_numel(grad) != n || !fused_raw_f32(s->param) || !fused_raw_f32(grad) ||
        (has_mom && s->buf && !fused_raw_f32(s->buf)))
        return YOLO_OK;
    bool first = has_mom && !s->buf;
    if (first) {
        yolo_status st = state_like(s->param, &s->buf);
        if (st != YOLO_OK) return st;
    }
    sgd_args a = {.p = fused_raw_f32(s->param),
                  .buf = has_mom ? fused_raw_f32(s->buf) : NULL,
                  .g = fused_raw_f32(grad),
                  .wd = (float)G->weight_decay,
                  .mom = (float)G->momentum,
                  .neg_lr = (float)-G->lr,
                  .has_wd = G->weight_decay != 0,
                  .has_mom = has_mom,
                  .first = first,
                  .nesterov = G->nesterov,
                  .io = *io};
    if (has_mom && !a.buf) return yolo_error(YOLO_ERR_TORCH, "optim: momentum buffer has no memory");
    *out = a;
    *done = true;
    return YOLO_OK;
}

static yolo_status adam_prepare(slot *s, const group *G, torch_tensor *grad, bool decoupled,
                                const grad_io *io, adam_args *out, bool *done) {
    int64_t n = torch_numel(s->param);
    *done = false;
    if (n == 0 || torch_numel(grad) != n || !fused_raw_f32(s->param) || !fused_raw_f32(grad) ||
        (s->buf && (!fused_raw_f32(s->buf) || !s->sq || !fused_raw_f32(s->sq))))
        return YOLO_OK;
    if (!s->buf) {
        yolo_status st = state_like(s->param, &s->buf);
        if (st == YOLO_OK) st = state_like(s->param, &s->sq);
        if (st != YOLO_OK) return st;
        s->step = 0;
    }
    s->step += 1;
    double beta1 = G->momentum, beta2 = G->beta2;
    double bc1 = 1 - pow(beta1, s->step), bc2 = 1 - pow(beta2, s->step);
    adam_args a = {.p = fused_raw_f32(s->param),
                   .m = fused_raw_f32(s->buf),
                   .v = fused_raw_f32(s->sq),
                   .g = fused_raw_f32(grad),
                   .decay = (float)(1 - G->lr * G->weight_decay),
                   .wd = (float)G->weight_decay,
                   .b1 = (float)beta1,
                   .omb1 = (float)(1 - beta1),
                   .b2 = (float)beta2,
                   .omb2 = (float)(1 - beta2),
                   .bc2_sqrt = (float)sqrt(bc2),
                   .eps = (float)G->eps,
                   .neg_step = (float)-(G->lr / bc1),
                   .decoupled = decoupled,
                   .has_wd = G->weight_decay != 0,
                   .io = *io};
    if (!a.m || !a.v) return yolo_error(YOLO_ERR_TORCH, "optim: Adam state has no memory");
    *out = a;
    *done = true;
    return YOLO_OK;
}

typedef union {
    sgd_args sgd;
    adam_args adam;
} step_args;

/* Either form's set-up, as a job for tt_parallel_jobs (its ctx is *a). */
static yolo_status step_prepare(optim_kind kind, slot *s, const group *G, torch_tensor *grad,
                                const grad_io *io, step_args *a, tt_range_job *job, bool *done) {
    yolo_status st = kind == OPTIM_SGD ? sgd_prepare(s, G, grad, io, &a->sgd, done)
                                       : adam_prepare(s, G, grad, kind == OPTIM_ADAMW, io, &a->adam, done);
    *job = (tt_range_job){kind == OPTIM_SGD ? sgd_kernel : adam_kernel, a, torch_numel(s->param)};
    return st;
}

/* One parameter's fused step, on its own. */
static yolo_status step_fused(optim_kind kind, slot *s, const group *G, torch_tensor *grad, const grad_io *io,
                              bool *done) {
    step_args a;
    tt_range_job job;
    yolo_status st = step_prepare(kind, s, G, grad, io, &a, &job, done);
    return st == YOLO_OK && *done ? tt_parallel_jobs(&job, 1, FUSED_GRAIN) : st;
}

/* Either form of the op-by-op step. */
static yolo_status step_ops(optim_kind kind, slot *s, const group *G, torch_tensor *grad) {
    return kind == OPTIM_SGD ? sgd_one(s, G, grad) : adam_one(s, G, grad, kind == OPTIM_ADAMW);
}

typedef struct {
    float *g;
    float c;
} scale_args;

static void scale_generic(void *ctx, int64_t b, int64_t e) {
    const scale_args *a = ctx;
    for (int64_t i = b; i < e; i++)
        a->g[i] = a->g[i] * a->c;
}

#if defined(FUSED_X86)
__attribute__((target("avx2"))) static void scale_avx2(void *ctx, int64_t b, int64_t e) {
    const scale_args *a = ctx;
    const __m256 c = _mm256_set1_ps(a->c);
    int64_t i = b;
    for (; i + 8 <= e; i += 8)
        _mm256_storeu_ps(a->g + i, _mm256_mul_ps(_mm256_loadu_ps(a->g + i), c));
    for (; i < e; i++)
        a->g[i] = a->g[i] * a->c;
}
#endif

static range_fn scale_kernel = scale_generic;

/* What follows the 8-lane blocks in ATen's norm: the lanes added left to right, the rest four at a
 * time (squares rounded, then added in turn), the last one to three by fmaf, and a float sqrt. */
static float norm2_finish(const float lane[8], const float *x, int64_t d, int64_t n) {
    float b = lane[0];
    for (int j = 1; j < 8; j++)
        b = b + lane[j];
    for (; n - d >= 4; d += 4)
        for (int j = 0; j < 4; j++) {
            float sq = x[d + j] * x[d + j];
            KEEP_F(sq);
            b = b + sq;
        }
    for (; d < n; d++)
        b = fmaf(x[d], x[d], b);
    return sqrtf(b);
}

/* The L2 norm of n floats as ATen 1.13's AVX2 norm kernel (at::norm(t, 2), a contiguous float tensor)
 * computes it, found by testing: eight lane sums of fmaf(x, x, lane) over the whole 8-blocks, then
 * norm2_finish. */
static float norm2_generic(const float *x, int64_t n) {
    float lane[8] = {0};
    int64_t d = 0;
    for (; d + 8 <= n; d += 8)
        for (int j = 0; j < 8; j++)
            lane[j] = fmaf(x[d + j], x[d + j], lane[j]);
    return norm2_finish(lane, x, d, n);
}

#if defined(FUSED_X86)
__attribute__((target("avx2,fma"))) static float norm2_avx2(const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 v = _mm256_loadu_ps(x + d);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    return norm2_finish(lane, x, d, n);
}
#endif

static float (*norm2_kernel)(const float *x, int64_t n) = norm2_generic;

/* clip_grad_norm_'s coefficient from the total norm, in float as libtorch rounds it:
 * min(max_norm * (1 / (total + 1e-6)), 1). */
static float clip_coef_of(float total, double max_norm) {
    float c = total + (float)1e-6;
    KEEP_F(c);
    c = 1.0f / c;
    KEEP_F(c);
    c = c * (float)max_norm;
    return c > 1.0f ? 1.0f : c;
}

/* The same coefficient by libtorch's ops on the total norm tensor, as clip_grad_norm_ computes it.
 * Python's scalar / tensor is reciprocal(tensor) * scalar, which is what gets rounded. */
static yolo_status clip_coef_ops(const torch_tensor *total, double max_norm, torch_tensor **c) {
    yolo_status st = torch_add_scalar(total, 1e-6, c);
    if (st == YOLO_OK) st = tt_reciprocal(*c, c);
    if (st == YOLO_OK) st = torch_mul_scalar(*c, max_norm, c);
    if (st == YOLO_OK) st = tt_clamp(*c, NAN, 1.0, c);
    return st;
}

static void zero_kernel(void *ctx, int64_t b, int64_t e) {
    memset((float *)ctx + b, 0, sizeof(float) * (size_t)(e - b));
}

/* ---- the probe ---- */

/* 37 elements: four 8-lane blocks and a tail, through both paths for three steps: a plain one, one
 * with clipping's scale and zero_grad folded in, one with the scale alone. */
#define PROBE_N 37
static bool probe_case(optim_kind kind, const group *G) {
    slot r = {0}, f = {0};
    torch_tensor *rg = NULL, *fg = NULL, *coef = NULL;
    float v[PROBE_N], c = 0.37f;
    const int64_t n = PROBE_N;
    bool same = false;
    for (int i = 0; i < PROBE_N; i++)
        v[i] = (float)(1.5 * sin(0.9 * i + 0.3));
    if (torch_from_data(v, TORCH_F32, 1, &n, &r.param) || torch_from_data(v, TORCH_F32, 1, &n, &f.param) ||
        torch_from_data(&c, TORCH_F32, 0, &n, &coef))
        goto done;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < PROBE_N; i++)
            v[i] = i % 11 == 3 ? 0.0f : (float)((1 + i % 5) * cos(1.3 * i + 0.7 * k));
        grad_io io = {c, k > 0, k == 1};
        bool done = false;
        if (torch_from_data(v, TORCH_F32, 1, &n, &rg) || torch_from_data(v, TORCH_F32, 1, &n, &fg) ||
            (io.scale && tt_mul_(rg, coef)) || step_ops(kind, &r, G, rg) || (io.zero && torch_zero_(rg)) ||
            step_fused(kind, &f, G, fg, &io, &done) || !done || !fused_same_bits(rg, fg))
            goto done;
    }
    same = fused_same_bits(r.param, f.param) && fused_same_bits(r.buf, f.buf) &&
           fused_same_bits(r.sq, f.sq) && r.step == f.step;
done:
    torch_free(rg), torch_free(fg), torch_free(coef);
    torch_free(r.param), torch_free(r.buf), torch_free(r.sq);
    torch_free(f.param), torch_free(f.buf), torch_free(f.sq);
    return same;
}

/* The norm and the coefficient against libtorch's on sizes 1 to 40 (every tail length) and a few
 * larger ones, and on totals around the clipping threshold. */
static bool probe_norm(void) {
    enum { MAXN = 4099 };
    float *x = malloc(sizeof(float) * MAXN);
    torch_tensor *t = NULL, *nrm = NULL;
    bool ok = x != NULL;
    for (int64_t n = 1; ok && n <= MAXN; n = n < 40 ? n + 1 : n * 3 + 1) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(sin(1.9 * i + 0.1 * n) * exp(1.5 * cos(0.7 * i)));
        double ref = 0;
        ok = !torch_from_data(x, TORCH_F32, 1, &n, &t) && !tt_norm2(t, &nrm) && !torch_item(nrm, &ref) &&
             (float)ref == norm2_kernel(x, n);
    }
    static const float totals[] = {0.0f, 3.5f, 9.99999f, 10.0f, 10.00001f, 123.456f, 1.0e6f};
    for (size_t i = 0; ok && i < sizeof totals / sizeof *totals; i++) {
        const int64_t one = 1;
        double ref = 0;
        ok = !torch_from_data(&totals[i], TORCH_F32, 0, &one, &t) && !clip_coef_ops(t, 10.0, &nrm) &&
             !torch_item(nrm, &ref) && (float)ref == clip_coef_of(totals[i], 10.0);
    }
    torch_free(t);
    torch_free(nrm);
    free(x);
    return ok;
}

static bool fused_agrees, norm_agrees;
static pthread_once_t fused_once = PTHREAD_ONCE_INIT;

static void fused_setup(void) {
#if defined(FUSED_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        sgd_kernel = sgd_avx2;
        adam_kernel = adam_avx2;
        scale_kernel = scale_avx2;
        norm2_kernel = norm2_avx2;
    }
#endif
    static const struct {
        optim_kind kind;
        group g;
    } cases[] = {
        {OPTIM_SGD, {.lr = 0.37, .momentum = 0.83, .weight_decay = 0.013, .nesterov = true}},
        {OPTIM_SGD, {.lr = 0.21, .momentum = 0.6}},
        {OPTIM_SGD, {.lr = 0.4, .weight_decay = 0.1, .nesterov = true}},
        {OPTIM_ADAM, {.lr = 0.05, .momentum = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.02}},
        {OPTIM_ADAM, {.lr = 0.3, .momentum = 0.7, .beta2 = 0.8, .eps = 0.01}},
        {OPTIM_ADAMW, {.lr = 0.05, .momentum = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.3}},
        {OPTIM_ADAMW, {.lr = 0.3, .momentum = 0.75, .beta2 = 0.9, .eps = 0.1}},
    };
    bool was = torch_set_grad_enabled(false);
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof cases / sizeof *cases; i++)
        ok = probe_case(cases[i].kind, &cases[i].g);
    torch_set_grad_enabled(was);
    fused_agrees = ok;
    norm_agrees = ok && probe_norm();
}

bool optim_fused_available(void) {
    pthread_once(&fused_once, fused_setup);
    return fused_agrees;
}

bool optim_fused_norm_available(void) {
    pthread_once(&fused_once, fused_setup);
    return norm_agrees;
}

/* Whether this optimizer's steps take the fused kernels (they exist and agree with libtorch here). */
static bool use_fused(const optim *o) {
    return o->fused && optim_fused_available();
}

/* The float value of clipping's coefficient where the fused kernels can multiply it in: NAN means
 * they cannot (not float32), and the gradients are then scaled by libtorch first. */
static double coef_value(const torch_tensor *coef) {
    double c = NAN;
    if (coef && torch_dtype_of(coef) == TORCH_F32 && torch_item(coef, &c) != YOLO_OK) c = NAN;
    return c;
}

/* One step of every parameter with a gradient. With coef, each gradient is first multiplied by
 * clipping's coefficient; with zero, it is zeroed after its step: clip, step and zero_grad in one pass
 * over each parameter's memory. Parameters the kernels cannot take are stepped by libtorch's ops in
 * torch's order (group by group) first; the others then run as one parallel job list (every
 * parameter's update depends on nothing but its own tensors, so the order does not matter). */
static yolo_status step_all(optim *o, const torch_tensor *coef, bool zero) {
    bool fused = use_fused(o);
    double c = fused ? coef_value(coef) : NAN;
    /* x * 1 is x for every value a finite norm allows (coef is NaN otherwise): no multiply then */
    bool scale = coef && !(fused && c == 1.0), scale_fused = scale && !isnan(c);
    step_args *args = fused ? malloc(sizeof *args * (size_t)(o->n ? o->n : 1)) : NULL;
    tt_range_job *jobs = fused ? malloc(sizeof *jobs * (size_t)(o->n ? o->n : 1)) : NULL;
    if (fused && (!args || !jobs)) {
        free(args);
        free(jobs);
        return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    }
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    torch_tensor *grad = NULL;
    int nj = 0;
    for (int g = 0; g < OPTIM_NGROUPS && st == YOLO_OK; g++) {
        const group *G = &o->g[g];
        for (int k = 0; k < G->n && st == YOLO_OK; k++) {
            slot *s = &o->p[G->members[k]];
            if (!torch_has_grad(s->param)) continue;
            if ((st = torch_grad(s->param, &grad)) != YOLO_OK) break;
            bool done = false;
            grad_io io = {(float)c, scale_fused, zero};
            /* the raw pointers stay valid after the handle moves on: the parameter holds its gradient */
            if (fused && (scale_fused || !scale))
                st = step_prepare(o->kind, s, G, grad, &io, &args[nj], &jobs[nj], &done);
            if (done) {
                nj++;
            } else if (st == YOLO_OK) {
                if (scale) st = tt_mul_(grad, coef);
                if (st == YOLO_OK) st = step_ops(o->kind, s, G, grad);
                if (st == YOLO_OK && zero) st = torch_zero_(grad);
            }
            if (st != YOLO_OK) yolo_error_prefix(st, s->name);
        }
    }
    if (st == YOLO_OK) st = tt_parallel_jobs(jobs, nj, FUSED_GRAIN);
    torch_free(grad);
    free(args);
    free(jobs);
    torch_set_grad_enabled(was);
    return st;
}

yolo_status optim_step(optim *o) {
    return step_all(o, NULL, false);
}

/* The per-gradient jobs of zero_grad (fn zero_kernel) or of clipping's scale (fn scale_kernel, by c),
 * one parallel job list; gradients the kernels cannot take get libtorch's op at once (coef for the
 * scale, zero_ otherwise). */
static yolo_status grads_apply(optim *o, bool fused, const torch_tensor *coef, float c) {
    tt_range_job *jobs = fused ? malloc(sizeof *jobs * (size_t)(o->n ? o->n : 1)) : NULL;
    scale_args *sa = fused && coef ? malloc(sizeof *sa * (size_t)(o->n ? o->n : 1)) : NULL;
    if (fused && (!jobs || (coef && !sa))) {
        free(jobs);
        free(sa);
        return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    }
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    torch_tensor *grad = NULL;
    int nj = 0;
    for (int i = 0; i < o->n && st == YOLO_OK; i++) {
        if (!torch_has_grad(o->p[i].param)) continue;
        if ((st = torch_grad(o->p[i].param, &grad)) != YOLO_OK) break;
        float *g = fused ? fused_raw_f32(grad) : NULL;
        if (g && coef) {
            sa[nj] = (scale_args){g, c};
            jobs[nj] = (tt_range_job){scale_kernel, &sa[nj], torch_numel(grad)};
            nj++;
        } else if (g) {
            jobs[nj++] = (tt_range_job){zero_kernel, g, torch_numel(grad)};
        } else {
            st = coef ? tt_mul_(grad, coef) : torch_zero_(grad);
        }
    }
    if (st == YOLO_OK) st = tt_parallel_jobs(jobs, nj, FUSED_GRAIN);
    torch_free(grad);
    free(jobs);
    free(sa);
    torch_set_grad_enabled(was);
    return st;
}

yolo_status optim_zero_grad(optim *o) {
    return grads_apply(o, use_fused(o), NULL, 0);
}

/* clip_coef by the fused norm, when every gradient is contiguous float32 on the CPU and the total is
 * finite; *done stays false otherwise, and libtorch's ops then say what the tensors or a NaN give. */
static yolo_status clip_coef_fused(optim *o, double max_norm, double *total_norm, torch_tensor **coef,
                                   bool *done) {
    *done = false;
    float *norms = malloc(sizeof(float) * (size_t)(o->n ? o->n : 1));
    torch_tensor *grad = NULL;
    yolo_status st = norms ? YOLO_OK : yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    int k = 0;
    bool all = true;
    for (int i = 0; i < o->n && st == YOLO_OK && all; i++) {
        if (!torch_has_grad(o->p[i].param)) continue;
        if ((st = torch_grad(o->p[i].param, &grad)) != YOLO_OK) break;
        const float *g = fused_raw_f32(grad);
        if ((all = g != NULL)) norms[k++] = norm2_kernel(g, torch_numel(grad));
    }
    if (st == YOLO_OK && all && k > 0) {
        float total = norm2_kernel(norms, k), c = clip_coef_of(total, max_norm);
        const int64_t one = 1;
        if (isfinite(total) && (st = torch_from_data(&c, TORCH_F32, 0, &one, coef)) == YOLO_OK) {
            if (total_norm) *total_norm = total;
            *done = true;
        }
    }
    torch_free(grad);
    free(norms);
    return st;
}

/* clip_grad_norm_'s coefficient, from libtorch's norms in its order: the norm of each gradient (model
 * order), the norm of those, min(max_norm / (norm + 1e-6), 1). *coef stays NULL when no parameter has
 * a gradient. */
static yolo_status clip_coef(optim *o, double max_norm, double *total_norm, torch_tensor **coef) {
    bool done = false;
    yolo_status st =
        use_fused(o) && norm_agrees ? clip_coef_fused(o, max_norm, total_norm, coef, &done) : YOLO_OK;
    if (st != YOLO_OK || done) return st;
    bool was = torch_set_grad_enabled(false);
    torch_tensor **norms = calloc((size_t)(o->n ? o->n : 1), sizeof *norms);
    torch_tensor *grad = NULL, *total = NULL, *c = NULL;
    int k = 0;
    if (total_norm) *total_norm = 0;
    if (!norms) {
        st = yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        goto done;
    }
    for (int i = 0; i < o->n && st == YOLO_OK; i++) {
        if (!torch_has_grad(o->p[i].param)) continue;
        st = torch_grad(o->p[i].param, &grad);
        if (st == YOLO_OK) st = tt_norm2(grad, &norms[k++]);
    }
    if (st != YOLO_OK || k == 0) goto done;
    if ((st = tt_stack((const torch_tensor *const *)norms, k, 0, &total)) != YOLO_OK ||
        (st = tt_norm2(total, &total)) != YOLO_OK)
        goto done;
    if (total_norm && (st = torch_item(total, total_norm)) != YOLO_OK) goto done;
    if ((st = clip_coef_ops(total, max_norm, &c)) != YOLO_OK) goto done;
    *coef = c;
    c = NULL;
done:
    for (int i = 0; norms && i < k; i++)
        torch_free(norms[i]);
    free(norms);
    torch_free(grad);
    torch_free(total);
    torch_free(c);
    torch_set_grad_enabled(was);
    return st;
}

yolo_status optim_clip_grad_norm(optim *o, double max_norm, double *total_norm) {
    torch_tensor *coef = NULL;
    yolo_status st = clip_coef(o, max_norm, total_norm, &coef);
    if (st != YOLO_OK || !coef) return st;
    bool fused = use_fused(o);
    double c = fused ? coef_value(coef) : NAN;
    /* torch multiplies even by 1; x * 1 is x for all a finite norm allows (coef is NaN otherwise) */
    if (!(fused && c == 1.0)) st = grads_apply(o, fused && !isnan(c), coef, (float)c);
    torch_free(coef);
    return st;
}

yolo_status optim_clip_step_zero(optim *o, double max_norm, double *total_norm) {
    torch_tensor *coef = NULL;
    yolo_status st = clip_coef(o, max_norm, total_norm, &coef);
    /* no gradient at all: nothing to step or zero */
    if (st == YOLO_OK && coef) st = step_all(o, coef, true);
    torch_free(coef);
    return st;
}
