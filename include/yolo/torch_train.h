/* Tensor ops the training core needs beyond include/yolo/torch.h: comparisons, selection, top-k,
 * scatter/gather, boolean-mask indexing, the loss primitives and the in-place updates optimizers use.
 *
 * Prefix tt_ (torch_train). Same rules as torch.h: handles are owned by the caller, results go out
 * through `torch_tensor **out` (a new handle when *out is NULL, else that handle's tensor is replaced),
 * every call returns a yolo_status and no C++ exception crosses into C.
 *
 * These ops exist so that the C code can replay Ultralytics' exact sequence of libtorch operations:
 * matching its numbers bit for bit depends on calling the same kernels on tensors of the same shapes. */
#ifndef YOLO_TORCH_TRAIN_H
#define YOLO_TORCH_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A handle that holds no tensor yet (an undefined tensor): a place for an op to write into. */
torch_tensor *tt_handle_new(void);
/* true when the handle holds a tensor. */
bool tt_defined(const torch_tensor *t);

typedef enum { TT_LT, TT_LE, TT_GT, TT_GE, TT_EQ, TT_NE } tt_cmp_op;

/* ---- elementwise ---- */
yolo_status tt_cmp(const torch_tensor *a, tt_cmp_op op, const torch_tensor *b, torch_tensor **out);
yolo_status tt_cmp_scalar(const torch_tensor *a, tt_cmp_op op, double s, torch_tensor **out);
/* a + s with an integer scalar (keeps integer tensors integer). */
yolo_status tt_add_int(const torch_tensor *a, int64_t s, torch_tensor **out);
/* s - a */
yolo_status tt_rsub_scalar(double s, const torch_tensor *a, torch_tensor **out);
yolo_status tt_div_scalar(const torch_tensor *a, double s, torch_tensor **out);
yolo_status tt_pow_scalar(const torch_tensor *a, double e, torch_tensor **out);
yolo_status tt_atan(const torch_tensor *a, torch_tensor **out);
yolo_status tt_sqrt(const torch_tensor *a, torch_tensor **out);
yolo_status tt_reciprocal(const torch_tensor *a, torch_tensor **out);
yolo_status tt_minimum(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
yolo_status tt_maximum(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
/* Clamps to [lo, hi]; a NaN bound means "no bound on that side". */
yolo_status tt_clamp(const torch_tensor *a, double lo, double hi, torch_tensor **out);
/* Round half to even. */
yolo_status tt_round(const torch_tensor *a, torch_tensor **out);
yolo_status tt_where(const torch_tensor *cond, const torch_tensor *a, const torch_tensor *b,
                     torch_tensor **out);
/* where(cond, a, b) with b a scalar of a's dtype. */
yolo_status tt_where_scalar(const torch_tensor *cond, const torch_tensor *a, double b, torch_tensor **out);
/* where(cond, s, b) with s a 0-dim tensor of b's dtype. */
yolo_status tt_where_scalar_a(const torch_tensor *cond, double s, const torch_tensor *b, torch_tensor **out);

/* ---- reductions (dim may be negative) ---- */
yolo_status tt_amin(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out);
yolo_status tt_amax(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out);
yolo_status tt_argmax(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out);
/* Mean over several dims. */
yolo_status tt_mean_dims(const torch_tensor *a, int ndims, const int *dims, bool keepdim, torch_tensor **out);
/* Largest element as a double (a must be non-empty). */
yolo_status tt_max_value(const torch_tensor *a, double *out);
/* L2 norm over all elements (torch.norm(x, 2)). */
yolo_status tt_norm2(const torch_tensor *a, torch_tensor **out);
yolo_status tt_stack(const torch_tensor *const *xs, int n, int dim, torch_tensor **out);

/* ---- selection ---- */
/* Top-k along dim (largest or smallest first), values and indices (either may be NULL). */
yolo_status tt_topk(const torch_tensor *a, int64_t k, int dim, bool largest, torch_tensor **values,
                    torch_tensor **indices);
yolo_status tt_gather(const torch_tensor *a, int dim, const torch_tensor *index, torch_tensor **out);
yolo_status tt_index_select(const torch_tensor *a, int dim, const torch_tensor *index, torch_tensor **out);
/* a[mask] with a boolean mask over a's leading dims (Python's boolean indexing). */
yolo_status tt_index_bool(const torch_tensor *a, const torch_tensor *mask, torch_tensor **out);
/* a[mask] = values, in place. */
yolo_status tt_index_put_bool_(torch_tensor *a, const torch_tensor *mask, const torch_tensor *values);
yolo_status tt_expand(const torch_tensor *a, int ndim, const int64_t *shape, torch_tensor **out);
yolo_status tt_squeeze(const torch_tensor *a, int dim, torch_tensor **out);

/* ---- in place ---- */
yolo_status tt_masked_fill_(torch_tensor *a, const torch_tensor *mask, double value);
yolo_status tt_scatter_value_(torch_tensor *a, int dim, const torch_tensor *index, double value);
yolo_status tt_scatter_add_(torch_tensor *a, int dim, const torch_tensor *index, const torch_tensor *src);
yolo_status tt_mul_(torch_tensor *a, const torch_tensor *b);
yolo_status tt_add_scalar_(torch_tensor *a, double s);
yolo_status tt_div_scalar_(torch_tensor *a, double s);
/* a += value * b * c;  a += value * b / c. */
yolo_status tt_addcmul_(torch_tensor *a, const torch_tensor *b, const torch_tensor *c, double value);
yolo_status tt_addcdiv_(torch_tensor *a, const torch_tensor *b, const torch_tensor *c, double value);

/* Receives parameter i's gradient (flat, float32, numel of the parameter); valid during the call only.
 * A status other than YOLO_OK stops tt_grads_each with it. */
typedef yolo_status (*tt_grad_ready)(void *ctx, int i, const torch_tensor *grad);
/* The gradients of a scalar loss with respect to params[0..n-1] (each requiring grad), leaving their
 * accumulated gradients untouched: the values backward would accumulate, each handed to
 * ready(ctx, i, grad) exactly once, as early as the backward pass has it: the blocked layers' weights
 * and biases while the pass goes on (what ready starts then overlaps the rest of the pass), the others
 * after it (zeros for one the loss does not reach). Frees the graph, as backward does. A gradient that
 * autograd would still change after handing it over (a parameter used twice) fails the call. */
yolo_status tt_grads_each(const torch_tensor *loss, torch_tensor *const *params, int n, tt_grad_ready ready,
                          void *ctx);
/* Makes the parameters' gradients views into flat, a float32 vector of each one's gradient flattened in
 * row-major order, concatenated in parameter order (on their device), their current values copied in (zeros
 * where there was none): an in-place op on flat then reaches every gradient at once, and in-place updates of
 * a gradient (clipping, zero_grad) stay in it. */
yolo_status tt_grads_alias_flat(torch_tensor *const *params, int n, torch_tensor *flat);
/* Whether every gradient still is its view of flat (nothing has replaced one). */
bool tt_grads_are_flat(torch_tensor *const *params, int n, const torch_tensor *flat);

/* Sets t's accumulated gradient to a copy of g (NULL drops it). For tests and restoring state. */
yolo_status tt_set_grad(torch_tensor *t, const torch_tensor *g);

/* Runs jobs on libtorch's intra-op threads (at::parallel_for, so torch_set_threads applies): job j
 * covers [0, n) of its own, and the concatenation of all jobs is split into chunks (one parallel region
 * however many jobs; everything on the calling thread when the total is under grain or there is one
 * thread), so a job may be cut anywhere into calls of fn(ctx, begin, end), which may run concurrently:
 * fn must touch only its own range and must not longjmp out. Empty jobs are skipped. */
typedef struct {
    void (*fn)(void *ctx, int64_t begin, int64_t end);
    void *ctx;
    int64_t n;
} tt_range_job;
yolo_status tt_parallel_jobs(const tt_range_job *jobs, int njobs, int64_t grain);

/* ---- losses and resampling ---- */
/* Per-element BCE with logits (reduction none). */
yolo_status tt_bce_with_logits(const torch_tensor *logits, const torch_tensor *target, torch_tensor **out);
/* Softmax cross-entropy of (N,C) logits against int64 (N,) classes; mean=false gives per-row losses. */
yolo_status tt_cross_entropy(const torch_tensor *logits, const torch_tensor *target, bool mean,
                             torch_tensor **out);
/* Bilinear resize of (N,C,H,W) to (h,w), align_corners false. */
yolo_status tt_resize_bilinear(const torch_tensor *a, int64_t h, int64_t w, torch_tensor **out);

/* ---- a scope for temporaries (C callers) ----
 * Tracks the addresses of local handle variables; tt_scope_free frees them all at once. Declare the
 * locals NULL and pass TT_OUT(scope, var) as an op's output: the first op creates the handle, later ops
 * reuse it. Give a result away by setting the local to NULL before freeing the scope. When the scope is
 * full TT_OUT gives NULL, which the op reports as a usage error (nothing leaks). */
#define TT_SCOPE_MAX 256
typedef struct {
    torch_tensor **slot[TT_SCOPE_MAX];
    int n;
} tt_scope;

static inline torch_tensor **tt_track(tt_scope *s, torch_tensor **p) {
    for (int i = 0; i < s->n; i++)
        if (s->slot[i] == p) return p;
    if (s->n >= TT_SCOPE_MAX) return (torch_tensor **)0;
    s->slot[s->n++] = p;
    return p;
}

static inline void tt_scope_free(tt_scope *s) {
    for (int i = 0; i < s->n; i++) {
        torch_free(*s->slot[i]);
        *s->slot[i] = (torch_tensor *)0;
    }
    s->n = 0;
}
#define TT_OUT(scope, var) tt_track((scope), &(var))

#ifdef __cplusplus
}
#endif
#endif
