/* The fused optimizer and EMA kernels against the op-by-op libtorch path they replace: parameters,
 * gradients after clipping, optimizer state and EMA tensors must be bit-identical (memcmp) for SGD
 * (Nesterov or not, with and without decay and momentum), Adam and AdamW, over several steps with a
 * changing lr, also through optim_clip_step_zero (all three in one pass), on tensors of odd sizes (1 element,
 * 8-lane blocks with and without a tail, a 4-d weight, one larger than a parallel chunk at 2 threads), with
 * the fallback for tensors the kernels do not take (non-contiguous, float64). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/ema.h"
#include "yolo/optim.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"
#include "yolo/value.h"

typedef struct {
    int ndim;
    int64_t shape[4];
    enum { PLAIN, F64, TRANSPOSED } kind;
} spec;

static const spec specs[] = {
    {1, {1}, PLAIN},           {1, {2}, PLAIN},    {1, {7}, PLAIN},
    {1, {8}, PLAIN},           {1, {9}, PLAIN},    {1, {15}, PLAIN},
    {1, {16}, PLAIN},          {1, {17}, PLAIN},   {1, {33}, PLAIN},
    {4, {16, 3, 3, 3}, PLAIN}, {1, {1021}, PLAIN}, {1, {70001}, PLAIN},
    {2, {7, 5}, TRANSPOSED},   {1, {19}, F64},
};
#define NP ((int)(sizeof specs / sizeof *specs))
#define NP_PLAIN 12 /* the leading contiguous float32 ones */

static int64_t numel_of(const spec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= s->shape[d];
    return n;
}

/* A tensor of spec s holding v (the transposed kind is a non-contiguous view of the data). */
static torch_tensor *make(const spec *s, const float *v) {
    torch_tensor *t = NULL;
    if (s->kind == TRANSPOSED) {
        int64_t sh[2] = {s->shape[1], s->shape[0]};
        if (torch_from_data(v, TORCH_F32, 2, sh, &t) || torch_transpose(t, 0, 1, &t) || torch_detach(t, &t))
            return NULL;
        return t;
    }
    if (torch_from_data(v, TORCH_F32, s->ndim, s->shape, &t)) return NULL;
    if (s->kind == F64 && torch_to(t, TORCH_F64, TORCH_CPU, &t)) return NULL;
    return t;
}

static bool same_tensor(const torch_tensor *a, const torch_tensor *b) {
    int64_t n = torch_numel(a);
    if (n != torch_numel(b) || torch_dtype_of(a) != torch_dtype_of(b)) return false;
    double *x = malloc(sizeof(double) * (size_t)(2 * n + 1));
    bool same = x && !torch_copy_out(a, TORCH_F64, x, n) && !torch_copy_out(b, TORCH_F64, x + n, n) &&
                !memcmp(x, x + n, sizeof(double) * (size_t)n);
    free(x);
    return same;
}

static bool all_zero(const torch_tensor *t) {
    int64_t n = torch_numel(t);
    double *x = malloc(sizeof(double) * (size_t)(n + 1));
    bool zero = x && !torch_copy_out(t, TORCH_F64, x, n);
    for (int64_t i = 0; zero && i < n; i++)
        zero = x[i] == 0 && !signbit(x[i]);
    free(x);
    return zero;
}

static bool same_yv_tensor(const yv *a, const yv *b) {
    if (!a || !b) return !a && !b;
    if (a->kind != YV_TENSOR || b->kind != YV_TENSOR) return false;
    int64_t n = yv_tensor_numel(&a->tensor);
    return n == yv_tensor_numel(&b->tensor) &&
           !memcmp(yv_tensor_data(&a->tensor), yv_tensor_data(&b->tensor), sizeof(float) * (size_t)n);
}

/* Every state entry of both optimizers equal to the bit (momentum buffers, moments, steps). */
static bool same_state(const optim *a, const optim *b, int *entries) {
    yv_doc *da = yv_doc_new(), *db = yv_doc_new();
    yv *ra = NULL, *rb = NULL;
    bool same =
        da && db && !optim_state_save(a, da, NULL, NULL, &ra) && !optim_state_save(b, db, NULL, NULL, &rb);
    const yv *sa = same ? yv_dict_get(ra, "state") : NULL, *sb = same ? yv_dict_get(rb, "state") : NULL;
    same = same && sa && sb && sa->dict.n == sb->dict.n;
    *entries = same ? (int)sa->dict.n : 0;
    static const char *keys[] = {"momentum_buffer", "exp_avg", "exp_avg_sq"};
    for (int i = 0; same && i < optim_param_count(a); i++) {
        const char *name = optim_param_name(a, i);
        const yv *ea = yv_dict_get(sa, name), *eb = yv_dict_get(sb, name);
        if (!ea || !eb) {
            same = !ea && !eb;
            continue;
        }
        for (int k = 0; same && k < 3; k++)
            same = same_yv_tensor(yv_dict_get(ea, keys[k]), yv_dict_get(eb, keys[k]));
        double x = 0, y = 0;
        same = same &&
               yv_as_double(yv_dict_get(ea, "step"), &x) == yv_as_double(yv_dict_get(eb, "step"), &y) &&
               x == y;
    }
    yv_doc_free(da);
    yv_doc_free(db);
    return same;
}

typedef struct {
    const char *label;
    optim_kind kind;
    double lr, momentum, wd;
    bool nesterov_off; /* SGD without Nesterov: what a loaded torch state can ask for */
} opt_case;

static void free_all(torch_tensor **t, int n) {
    for (int i = 0; i < n; i++)
        torch_freep(&t[i]);
}

/* Five steps through clip, step and zero_grad on both paths, comparing everything after each. */
static void run_case(const opt_case *c, int threads, int np) {
    torch_set_threads(threads);
    torch_tensor *pa[NP] = {0}, *pb[NP] = {0}, *pc[NP] = {0};
    char names[NP][48];
    optim_param qa[NP], qb[NP], qc[NP];
    bool made = true;
    for (int i = 0; i < np; i++) {
        int64_t n = numel_of(&specs[i]);
        float *v = malloc(sizeof(float) * (size_t)n);
        tap_fill(v, n, 1.0, false);
        /* weight, bn and bias groups in turn */
        snprintf(names[i], sizeof names[i],
                 i % 3 == 0   ? "model.%d.conv.weight"
                 : i % 3 == 1 ? "model.%d.bn.weight"
                              : "model.%d.conv.bias",
                 i);
        pa[i] = make(&specs[i], v), pb[i] = make(&specs[i], v), pc[i] = make(&specs[i], v);
        made = made && pa[i] && pb[i] && pc[i] && !torch_set_requires_grad(pa[i], true) &&
               !torch_set_requires_grad(pb[i], true) && !torch_set_requires_grad(pc[i], true);
        qa[i] = (optim_param){names[i], pa[i], i % 3 == 1};
        qb[i] = (optim_param){names[i], pb[i], i % 3 == 1};
        qc[i] = (optim_param){names[i], pc[i], i % 3 == 1};
        free(v);
    }
    /* a: the reference (op by op); b: fused, three calls; c: fused, optim_clip_step_zero */
    optim *oa = NULL, *ob = NULL, *oc = NULL;
    made = made && !optim_new(c->kind, c->lr, c->momentum, c->wd, qa, np, &oa) &&
           !optim_new(c->kind, c->lr, c->momentum, c->wd, qb, np, &ob) &&
           !optim_new(c->kind, c->lr, c->momentum, c->wd, qc, np, &oc);
    CHECK(made, "%s (%d threads, %d tensors): parameters and optimizers made", c->label, threads, np);
    if (!made) goto done;
    optim_set_fused(oa, false);
    CHECK(!optim_get_fused(oa) && optim_get_fused(ob), "%s: fused is on by default and can be turned off",
          c->label);
    if (c->nesterov_off) {
        /* through a saved state, the only way to turn Nesterov off */
        yv_doc *doc = yv_doc_new();
        yv *sd = NULL;
        bool ok = !optim_state_save(oa, doc, NULL, NULL, &sd);
        for (size_t g = 0; ok && g < yv_dict_get(sd, "param_groups")->seq.n; g++) {
            yv *grp = yv_dict_get(sd, "param_groups")->seq.items[g];
            ok = !yv_dict_set(doc, grp, "nesterov", yv_new_bool(doc, false));
        }
        ok = ok && !optim_state_load(oa, sd) && !optim_state_load(ob, sd) && !optim_state_load(oc, sd);
        yv_doc_free(doc);
        CHECK(ok, "%s: nesterov turned off through a saved state", c->label);
    }
    bool params_same = true, grads_same = true, norms_same = true, zeroed = true, steps_ok = true;
    int clipped = 0;
    for (int k = 0; k < 5; k++) {
        for (int g = 0; g < OPTIM_NGROUPS; g++) {
            double lr = optim_get_initial_lr(oa, g) * (0.3 + 0.35 * k);
            optim_set_lr(oa, g, lr), optim_set_lr(ob, g, lr), optim_set_lr(oc, g, lr);
            if (c->kind == OPTIM_SGD) {
                double m = c->momentum == 0 ? 0 : 0.8 + 0.03 * k;
                optim_set_momentum(oa, g, m), optim_set_momentum(ob, g, m), optim_set_momentum(oc, g, m);
            }
        }
        for (int i = 0; i < np; i++) {
            if (i == 5 && k == 1) continue; /* a parameter without a gradient this step */
            int64_t n = numel_of(&specs[i]);
            float *v = malloc(sizeof(float) * (size_t)n);
            tap_fill(v, n, k == 2 ? 30.0 : 0.02, false);
            spec s = specs[i];
            if (s.kind == TRANSPOSED) s.kind = PLAIN; /* a contiguous gradient for a strided parameter */
            torch_tensor *gr = make(&s, v);
            steps_ok = steps_ok && gr && !tt_set_grad(pa[i], gr) && !tt_set_grad(pb[i], gr) &&
                       !tt_set_grad(pc[i], gr);
            torch_free(gr);
            free(v);
        }
        /* clipping on step 2 (large gradients), a plain pass-through otherwise */
        double na = -1, nb = -2, nc = -3;
        steps_ok = steps_ok && !optim_clip_grad_norm(oa, 10.0, &na) && !optim_clip_grad_norm(ob, 10.0, &nb) &&
                   !optim_clip_step_zero(oc, 10.0, &nc);
        norms_same = norms_same && memcmp(&na, &nb, sizeof na) == 0 && memcmp(&na, &nc, sizeof na) == 0;
        clipped += na > 10.0;
        for (int i = 0; i < np; i++) {
            torch_tensor *ga = NULL, *gb = NULL;
            if (torch_has_grad(pa[i]) != torch_has_grad(pb[i])) grads_same = false;
            if (torch_has_grad(pa[i]) && !torch_grad(pa[i], &ga) && !torch_grad(pb[i], &gb))
                grads_same = grads_same && same_tensor(ga, gb);
            torch_free(ga), torch_free(gb);
        }
        steps_ok = steps_ok && !optim_step(oa) && !optim_step(ob);
        for (int i = 0; i < np; i++)
            params_same = params_same && same_tensor(pa[i], pb[i]) && same_tensor(pa[i], pc[i]);
        steps_ok = steps_ok && !optim_zero_grad(oa) && !optim_zero_grad(ob);
        for (int i = 0; i < np; i++) {
            torch_tensor *g = NULL, *h = NULL;
            if (torch_has_grad(pb[i]) && !torch_grad(pb[i], &g)) zeroed = zeroed && all_zero(g);
            if (torch_has_grad(pc[i]) && !torch_grad(pc[i], &h)) zeroed = zeroed && all_zero(h);
            torch_free(g), torch_free(h);
        }
        for (int i = 0; i < np; i++)
            torch_grad_reset(pa[i]), torch_grad_reset(pb[i]), torch_grad_reset(pc[i]);
    }
    CHECK(steps_ok, "%s (%d threads): 5 steps of clip, step, zero_grad (and of optim_clip_step_zero) ran",
          c->label, threads);
    CHECK(norms_same, "%s (%d threads): gradient norms bit-identical", c->label, threads);
    CHECK(clipped == 1, "%s (%d threads): one step clipped, four passed through (%d clipped)", c->label,
          threads, clipped);
    CHECK(grads_same, "%s (%d threads): gradients after clipping bit-identical", c->label, threads);
    CHECK(params_same,
          "%s (%d threads): parameters bit-identical after every step, three calls and "
          "optim_clip_step_zero (%d tensors of 1 to 70001 elements)",
          c->label, threads, np);
    CHECK(zeroed, "%s (%d threads): zero_grad leaves +0.0 everywhere", c->label, threads);
    int entries = 0, want = c->kind == OPTIM_SGD && c->momentum == 0 ? 0 : np;
    int entries_c = 0;
    CHECK(same_state(oa, ob, &entries) && entries == want && same_state(oa, oc, &entries_c) &&
              entries_c == want,
          "%s (%d threads): optimizer state bit-identical (%d entries)", c->label, threads, entries);
done:
    optim_free(oa);
    optim_free(ob);
    optim_free(oc);
    free_all(pa, np);
    free_all(pb, np);
    free_all(pc, np);
}

/* Clipping's total norm on one parameter of every size up to 70 and a few larger (each tail length of
 * the norm's 8-lane and 4-element blocks), fused against libtorch's. */
static void norm_sizes(void) {
    torch_set_threads(1);
    int same = 0, tried = 0;
    for (int64_t n = 1; n <= 70000; n = n < 70 ? n + 1 : n * 5 + 3) {
        spec s = {1, {n}, PLAIN};
        float *v = malloc(sizeof(float) * (size_t)n);
        tap_fill(v, n, 3.0, false);
        torch_tensor *pa = make(&s, v), *pb = make(&s, v), *g = make(&s, v);
        optim_param qa = {"model.0.conv.weight", pa, false}, qb = {"model.0.conv.weight", pb, false};
        optim *oa = NULL, *ob = NULL;
        double na = -1, nb = -2;
        if (pa && pb && g && !tt_set_grad(pa, g) && !tt_set_grad(pb, g) &&
            !optim_new(OPTIM_SGD, 0.01, 0.9, 0, &qa, 1, &oa) &&
            !optim_new(OPTIM_SGD, 0.01, 0.9, 0, &qb, 1, &ob)) {
            optim_set_fused(oa, false);
            if (!optim_clip_grad_norm(oa, 1.0, &na) && !optim_clip_grad_norm(ob, 1.0, &nb) &&
                !memcmp(&na, &nb, sizeof na)) {
                torch_tensor *ga = NULL, *gb = NULL;
                if (!torch_grad(pa, &ga) && !torch_grad(pb, &gb) && same_tensor(ga, gb)) same++;
                torch_free(ga), torch_free(gb);
            }
        }
        tried++;
        optim_free(oa), optim_free(ob);
        torch_free(pa), torch_free(pb), torch_free(g);
        free(v);
    }
    CHECK(same == tried,
          "clip: total norm and clipped gradient bit-identical on %d of %d sizes (1 to 70 and larger)", same,
          tried);
}

/* The EMA over a model state with float32, float64, non-contiguous and int64 entries. */
static void run_ema(int threads) {
    torch_set_threads(threads);
    enum { NE = NP + 1 };
    torch_tensor *m[NE] = {0}, *st[NE];
    const char *nm[NE];
    char names[NE][32];
    bool made = true;
    for (int i = 0; i < NE; i++) {
        snprintf(names[i], sizeof names[i], "model.%d.x", i);
        nm[i] = names[i];
        if (i == NP) {
            int64_t one = 1, cnt = 7;
            made = made && !torch_from_data(&cnt, TORCH_I64, 0, &one, &m[i]);
        } else {
            int64_t n = numel_of(&specs[i]);
            float *v = malloc(sizeof(float) * (size_t)n);
            tap_fill(v, n, 2.0, false);
            made = made && (m[i] = make(&specs[i], v));
            free(v);
        }
        st[i] = m[i];
    }
    ema *ea = NULL, *eb = NULL;
    made = made && !ema_new(nm, (const torch_tensor *const *)st, NE, &ea) &&
           !ema_new(nm, (const torch_tensor *const *)st, NE, &eb);
    CHECK(made, "ema (%d threads): model state and two EMAs made", threads);
    if (!made) goto done;
    ema_set_fused(ea, false);
    bool ok = true, same = true;
    for (int k = 0; k < 6 && ok; k++) {
        if (k == 3) ema_set_updates(ea, 1500), ema_set_updates(eb, 1500); /* decay near its ceiling */
        for (int i = 0; i < NP; i++) {
            int64_t n = numel_of(&specs[i]);
            float *v = malloc(sizeof(float) * (size_t)n);
            tap_fill(v, n, 2.0, false);
            torch_tensor *t = make(&specs[i], v);
            ok = ok && t && !torch_copy_(m[i], t);
            torch_free(t);
            free(v);
        }
        ok = ok && !ema_update(ea, (const torch_tensor *const *)st, NE) &&
             !ema_update(eb, (const torch_tensor *const *)st, NE);
        for (int i = 0; i < NE; i++)
            same = same && same_tensor(ema_tensor(ea, i), ema_tensor(eb, i));
    }
    double cnt = 0;
    CHECK(ok, "ema (%d threads): 6 updates on both paths", threads);
    CHECK(same, "ema (%d threads): every entry bit-identical after every update (%d entries)", threads, NE);
    CHECK(!torch_item(ema_tensor(eb, NP), &cnt) && cnt == 7,
          "ema: the int64 entry is copied, never averaged");
done:
    ema_free(ea);
    ema_free(eb);
    free_all(m, NE);
}

int main(void) {
    torch_set_grad_enabled(false);
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    bool expect =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !getenv("ATEN_CPU_CAPABILITY");
#else
    bool expect = false;
#endif
    if (expect) {
        CHECK(optim_fused_available(),
              "optimizer: fused kernels agree with libtorch on this CPU (AVX2+FMA) and run");
        CHECK(optim_fused_norm_available(), "optimizer: fused gradient norm agrees with libtorch's and runs");
        CHECK(ema_fused_available(), "ema: fused kernel agrees with libtorch on this CPU and runs");
    } else {
        printf("skip - this CPU lacks AVX2+FMA (or ATEN_CPU_CAPABILITY is set): fused kernels in use: %s\n",
               optim_fused_available() ? "yes" : "no (probe)");
    }
    static const opt_case cases[] = {
        {"SGD nesterov decay", OPTIM_SGD, 0.05, 0.9, 0.0005 * 16 / 64, false},
        {"SGD plain momentum", OPTIM_SGD, 0.1, 0.937, 0.01, true},
        {"SGD no decay", OPTIM_SGD, 0.2, 0.8, 0.0, false},
        {"SGD no momentum", OPTIM_SGD, 0.3, 0.0, 0.02, false},
        {"Adam decay", OPTIM_ADAM, 0.003, 0.9, 0.01, false},
        {"Adam", OPTIM_ADAM, 0.05, 0.8, 0.0, false},
        {"AdamW", OPTIM_ADAMW, 0.000714, 0.9, 0.0005, false},
        {"AdamW strong decay", OPTIM_ADAMW, 0.02, 0.85, 0.3, false},
    };
    /* all tensors contiguous float32 (the norms too run fused), then with the fallback ones mixed in */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i], 1, NP_PLAIN), run_case(&cases[i], 1, NP);
    run_case(&cases[0], 2, NP_PLAIN);
    run_case(&cases[6], 2, NP);
    norm_sizes();
    run_ema(1);
    run_ema(2);
    TAP_DONE();
}
