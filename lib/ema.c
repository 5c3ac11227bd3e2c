/* ModelEMA (see include/yolo/ema.h). The update is written as Ultralytics writes it,
 * v *= d; v += (1 - d) * model: three roundings per element (v*d, m*(1-d), the sum), never an fma.
 * Contiguous float32 CPU entries take one loop over their memory doing exactly those three float
 * operations (libtorch's add_ with alpha 1 adds exactly); other entries take the libtorch ops. */
#include "yolo/ema.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fused.h"
#include "yolo/torch_train.h"

struct ema {
    int n;
    char **names;
    torch_tensor **t;
    int64_t updates;
    double max_decay, tau;
    bool fused;
};

/* ---- the fused update ---- */

typedef struct {
    float *v;
    const float *m;
    float d, omd;
} ema_args;

static inline float ema_elem(const ema_args *a, int64_t i) {
    float x = a->v[i] * a->d, y = a->m[i] * a->omd;
    KEEP_F(x);
    KEEP_F(y);
    return x + y;
}

static void ema_generic(void *ctx, int64_t b, int64_t e) {
    const ema_args *a = ctx;
    for (int64_t i = b; i < e; i++)
        a->v[i] = ema_elem(a, i);
}

#if defined(FUSED_X86)
__attribute__((target("avx2"))) static void ema_avx2(void *ctx, int64_t b, int64_t e) {
    const ema_args *a = ctx;
    const __m256 d = _mm256_set1_ps(a->d), omd = _mm256_set1_ps(a->omd);
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(a->v + i), d),
               y = _mm256_mul_ps(_mm256_loadu_ps(a->m + i), omd);
        KEEP_PS(x);
        KEEP_PS(y);
        _mm256_storeu_ps(a->v + i, _mm256_add_ps(x, y));
    }
    for (; i < e; i++)
        a->v[i] = ema_elem(a, i);
}
#endif

static void (*ema_kernel)(void *, int64_t, int64_t) = ema_generic;

/* The libtorch form of one entry's update (the reference). */
static yolo_status update_ops(torch_tensor *v, const torch_tensor *model, double d) {
    torch_tensor *m = NULL, *tmp = NULL;
    yolo_status st = torch_detach(model, &m);
    if (st == YOLO_OK) st = torch_mul_scalar_(v, d);
    if (st == YOLO_OK) st = torch_mul_scalar(m, 1 - d, &tmp);
    if (st == YOLO_OK) st = torch_add_(v, tmp, 1.0);
    torch_free(tmp);
    torch_free(m);
    return st;
}

/* The fused form's job for one entry in *a; false when either tensor is not contiguous float32 on
 * the CPU. */
static bool fused_job(torch_tensor *v, const torch_tensor *model, double d, ema_args *a, tt_range_job *job) {
    int64_t n = torch_numel(v);
    *a = (ema_args){fused_raw_f32(v), fused_raw_f32(model), (float)d, (float)(1 - d)};
    *job = (tt_range_job){ema_kernel, a, n};
    return n > 0 && a->v && a->m && torch_numel(model) == n;
}

static yolo_status update_fused(torch_tensor *v, const torch_tensor *model, double d, bool *done) {
    ema_args a;
    tt_range_job job;
    *done = fused_job(v, model, d, &a, &job);
    return *done ? tt_parallel_jobs(&job, 1, FUSED_GRAIN) : YOLO_OK;
}

/* Both forms on a 37-element probe (four 8-lane blocks and a tail) for a few decays. */
static bool probe(void) {
    enum { N = 37 };
    const int64_t n = N;
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(1.7 * sin(0.9 * i + 0.2));
        y[i] = (float)((1 + i % 4) * cos(1.1 * i));
    }
    torch_tensor *r = NULL, *f = NULL, *m = NULL;
    bool ok = !torch_from_data(x, TORCH_F32, 1, &n, &r) && !torch_from_data(x, TORCH_F32, 1, &n, &f) &&
              !torch_from_data(y, TORCH_F32, 1, &n, &m);
    /* automatic, not static: ISO C (and clang) allow exp() only in an automatic initializer */
    const double ds[] = {0.3, 0.61, 0.9999 * (1 - exp(-1.0 / 2000)), 0.987654321};
    for (size_t k = 0; ok && k < sizeof ds / sizeof *ds; k++) {
        bool done = false;
        ok = !update_ops(r, m, ds[k]) && !update_fused(f, m, ds[k], &done) && done;
    }
    ok = ok && fused_same_bits(r, f);
    torch_free(r), torch_free(f), torch_free(m);
    return ok;
}

static bool fused_agrees;
static pthread_once_t fused_once = PTHREAD_ONCE_INIT;

static void fused_setup(void) {
#if defined(FUSED_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) ema_kernel = ema_avx2;
#endif
    bool was = torch_set_grad_enabled(false);
    fused_agrees = probe();
    torch_set_grad_enabled(was);
}

bool ema_fused_available(void) {
    pthread_once(&fused_once, fused_setup);
    return fused_agrees;
}

void ema_set_fused(ema *e, bool on) {
    e->fused = on;
}

static bool is_floating(torch_dtype dt) {
    return dt == TORCH_F32 || dt == TORCH_F16 || dt == TORCH_BF16 || dt == TORCH_F64;
}

yolo_status ema_new(const char *const *names, const torch_tensor *const *state, int n, ema **out) {
    if (!out || n < 0 || (n && (!names || !state))) return yolo_error(YOLO_ERR_USAGE, "ema: bad arguments");
    ema *e = calloc(1, sizeof *e);
    if (!e) return yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
    e->max_decay = 0.9999;
    e->tau = 2000;
    e->fused = true;
    e->names = calloc((size_t)(n ? n : 1), sizeof *e->names);
    e->t = calloc((size_t)(n ? n : 1), sizeof *e->t);
    if (!e->names || !e->t) {
        ema_free(e);
        return yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
    }
    e->n = n;
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    for (int i = 0; i < n && st == YOLO_OK; i++) {
        if (!(e->names[i] = strdup(names[i] ? names[i] : "")))
            st = yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
        if (st == YOLO_OK) st = torch_detach(state[i], &e->t[i]);
        if (st == YOLO_OK) st = torch_clone(e->t[i], &e->t[i]);
    }
    torch_set_grad_enabled(was);
    if (st != YOLO_OK) {
        ema_free(e);
        return st;
    }
    *out = e;
    return YOLO_OK;
}

void ema_free(ema *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) {
        if (e->names) free(e->names[i]);
        if (e->t) torch_free(e->t[i]);
    }
    free(e->names);
    free(e->t);
    free(e);
}

double ema_decay_with(double max_decay, double tau, int64_t updates) {
    return max_decay * (1 - exp(-(double)updates / tau));
}

double ema_decay_at(int64_t updates) {
    return ema_decay_with(0.9999, 2000, updates);
}

void ema_set_params(ema *e, double max_decay, double tau) {
    e->max_decay = max_decay;
    e->tau = tau;
}

yolo_status ema_update(ema *e, const torch_tensor *const *state, int n) {
    if (n != e->n) return yolo_error(YOLO_ERR_USAGE, "ema: %d state entries, the EMA holds %d", n, e->n);
    e->updates++;
    double d = ema_decay_with(e->max_decay, e->tau, e->updates);
    bool fused = e->fused && ema_fused_available();
    /* the fused entries run as one job list on libtorch's threads, the others by ops at once */
    ema_args *args = fused ? malloc(sizeof *args * (size_t)(n ? n : 1)) : NULL;
    tt_range_job *jobs = fused ? malloc(sizeof *jobs * (size_t)(n ? n : 1)) : NULL;
    if (fused && (!args || !jobs)) {
        free(args);
        free(jobs);
        return yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
    }
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    int nj = 0;
    for (int i = 0; i < n && st == YOLO_OK; i++) {
        if (!is_floating(torch_dtype_of(e->t[i]))) continue;
        if (torch_numel(state[i]) != torch_numel(e->t[i])) {
            st = yolo_error(YOLO_ERR_USAGE, "ema: %s changed size", e->names[i]);
            break;
        }
        if (fused && fused_job(e->t[i], state[i], d, &args[nj], &jobs[nj]))
            nj++;
        else
            st = update_ops(e->t[i], state[i], d);
    }
    if (st == YOLO_OK) st = tt_parallel_jobs(jobs, nj, FUSED_GRAIN);
    free(args);
    free(jobs);
    torch_set_grad_enabled(was);
    return st;
}

int64_t ema_updates(const ema *e) {
    return e->updates;
}
void ema_set_updates(ema *e, int64_t updates) {
    e->updates = updates;
}
int ema_count(const ema *e) {
    return e->n;
}
const char *ema_name(const ema *e, int i) {
    return i >= 0 && i < e->n ? e->names[i] : NULL;
}
torch_tensor *ema_tensor(const ema *e, int i) {
    return i >= 0 && i < e->n ? e->t[i] : NULL;
}
