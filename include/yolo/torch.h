/* A thin C API over libtorch: opaque tensor handles, the ops the networks, losses and optimizers
 * need, autograd, threads, seeds and devices.
 *
 * Handles: every torch_tensor is owned by the caller and released with torch_free (NULL is fine).
 * A handle holds a reference to a tensor; two handles may share storage (torch_alias, views).
 *
 * Outputs: an op writes its result through `torch_tensor **out`. If *out is NULL a new handle is
 * made; otherwise *out must be a handle the caller owns and its tensor is replaced (the old one is
 * released). Reusing output handles across iterations keeps the C side allocation-free. An input may
 * also be the output (torch_silu(x, &x)).
 *
 * Errors: every fallible call returns a yolo_status; on failure the message (one line) is in
 * yolo_last_error() and the status is YOLO_ERR_TORCH (YOLO_ERR_NOMEM, YOLO_ERR_USAGE for bad
 * arguments). No C++ exception ever crosses into C. On failure *out is left unchanged. */
#ifndef YOLO_TORCH_H
#define YOLO_TORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct torch_tensor torch_tensor;

/* Element types (same order as yv_dtype in value.h, so a cast converts between them). */
typedef enum {
    TORCH_F32,
    TORCH_F16,
    TORCH_BF16,
    TORCH_F64,
    TORCH_I64,
    TORCH_I32,
    TORCH_I16,
    TORCH_I8,
    TORCH_U8,
    TORCH_BOOL,
} torch_dtype;

/* A device: TORCH_CPU, or a CUDA ordinal >= 0. */
typedef int torch_device;
#define TORCH_CPU (-1)

/* ---- runtime ---- */
/* "libtorch 1.13.0 (CPU only)" or "... (CUDA)". */
const char *torch_version_string(void);
bool torch_cuda_available(void);
/* Parses "cpu", "cuda", "cuda:N" or "N" (a bare CUDA ordinal, as Ultralytics accepts). Fails with one
 * line naming this libtorch when it has no CUDA or the ordinal does not exist. */
yolo_status torch_device_parse(const char *spec, torch_device *out);
/* Intra-op threads (at::set_num_threads). n >= 1. */
yolo_status torch_set_threads(int n);
int torch_threads(void);
/* From now on, CPU tensors of 1 MiB and more come from a pool that keeps the pages of freed ones and
 * hands them out again, at any size (lib/torch_memory.cpp): a process that allocates the same
 * tensors over and over (a training epoch) faults its memory in once, and its resident memory stays
 * at the live peak. Never given back to the kernel before exit (except to retry a failed mapping).
 * Smaller blocks stay in glibc's heap, which then keeps what is freed too. For processes that run the
 * network over and over: training, validation, predict. file >= 0: the pool's new pages are taken from
 * that memory file (a trainer server's, serve_memory_fd), in order from its start, as far as its size
 * goes, so that pages an earlier process left in it are mapped, not zeroed again; the file is the
 * caller's to keep open. Only the first call counts. */
yolo_status torch_memory_reuse(int file);
/* Seeds libtorch's default CPU (and CUDA) generators, like torch.manual_seed. */
yolo_status torch_manual_seed(uint64_t seed);
/* Turns gradient recording on or off for the calling thread; returns the previous setting.
 * A no-grad scope: bool was = torch_set_grad_enabled(false); ...; torch_set_grad_enabled(was); */
bool torch_set_grad_enabled(bool enabled);
bool torch_grad_enabled(void);

/* ---- handles ---- */
void torch_free(torch_tensor *t);
/* Frees *t and sets it to NULL. */
void torch_freep(torch_tensor **t);
/* A new handle to the same tensor (shared storage and autograd identity). */
yolo_status torch_alias(const torch_tensor *t, torch_tensor **out);
/* A deep copy (keeps the autograd graph link, like Tensor.clone). */
yolo_status torch_clone(const torch_tensor *t, torch_tensor **out);
/* Shares storage, cut from the graph, requires_grad false. */
yolo_status torch_detach(const torch_tensor *t, torch_tensor **out);

/* ---- creation ---- */
yolo_status torch_empty(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev, torch_tensor **out);
yolo_status torch_zeros(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev, torch_tensor **out);
yolo_status torch_ones(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev, torch_tensor **out);
yolo_status torch_full(int ndim, const int64_t *shape, double value, torch_dtype dt, torch_device dev,
                       torch_tensor **out);
/* A new CPU tensor holding a copy of data (contiguous, row-major). */
yolo_status torch_from_data(const void *data, torch_dtype dt, int ndim, const int64_t *shape,
                            torch_tensor **out);
/* 0, 1, ..., n-1. */
yolo_status torch_arange(int64_t n, torch_dtype dt, torch_device dev, torch_tensor **out);

/* ---- information (no failure: a NULL handle reads as an empty tensor) ---- */
int torch_ndim(const torch_tensor *t);
/* Size of dimension dim (negative counts from the end); -1 if out of range. */
int64_t torch_size(const torch_tensor *t, int dim);
/* Writes up to cap sizes into shape; returns ndim. */
int torch_shape(const torch_tensor *t, int64_t *shape, int cap);
int64_t torch_numel(const torch_tensor *t);
torch_dtype torch_dtype_of(const torch_tensor *t);
torch_device torch_device_of(const torch_tensor *t);
bool torch_is_contiguous(const torch_tensor *t);
/* Pointer to the elements of a contiguous CPU tensor; NULL otherwise. */
void *torch_data_ptr(const torch_tensor *t);

/* ---- moving data ---- */
/* Copies all elements, converted to dt, row-major, into dst (count must equal numel). Any device. */
yolo_status torch_copy_out(const torch_tensor *t, torch_dtype dt, void *dst, int64_t count);
/* Overwrites t's elements from host data of type dt (count must equal numel). */
yolo_status torch_copy_in(torch_tensor *t, const void *src, torch_dtype dt, int64_t count);
/* The value of a one-element tensor. */
yolo_status torch_item(const torch_tensor *t, double *out);
/* dtype and device conversion (a no-op alias when nothing changes). */
yolo_status torch_to(const torch_tensor *t, torch_dtype dt, torch_device dev, torch_tensor **out);
yolo_status torch_contiguous(const torch_tensor *t, torch_tensor **out);
/* The same 4-d tensor in channels-last (NHWC) memory order; convolutions then keep that order. */
yolo_status torch_channels_last(const torch_tensor *t, torch_tensor **out);
bool torch_is_channels_last(const torch_tensor *t);
/* Re-lays a 4-d tensor out in place, in channels-last order (on) or row-major (off): the handle gets a
 * new tensor with the same values, the same requires_grad and, if it had one, its gradient re-laid
 * the same way. A leaf stays a leaf; other handles to the old tensor keep the old one. Values read
 * through torch_copy_out / torch_copy_in are unaffected (they always go in logical row-major order). */
yolo_status torch_set_channels_last_(torch_tensor *t, bool on);
/* Pointer to the elements of a CPU tensor that fills its memory without gaps or overlap in some
 * dimension order (row-major, channels-last, ...); NULL otherwise. An elementwise loop over numel
 * elements through such pointers is correct for tensors that torch_same_layout says agree. */
void *torch_dense_data_ptr(const torch_tensor *t);
/* Same sizes and same strides (so element k of one is element k of the other in memory). */
bool torch_same_layout(const torch_tensor *a, const torch_tensor *b);
/* Re-lays t's gradient out like t when it is not (e.g. a gradient restored from row-major data for
 * a channels-last parameter), so optimizers see matching layouts and sums keep one order. */
yolo_status torch_grad_conform(torch_tensor *t);

/* ---- in place (no autograd recording for leaves that require grad: use under no-grad) ---- */
yolo_status torch_copy_(torch_tensor *dst, const torch_tensor *src);
yolo_status torch_fill_(torch_tensor *t, double value);
yolo_status torch_zero_(torch_tensor *t);
/* Draws from U(lo, hi) / N(mean, std) with libtorch's default generator (as Tensor.uniform_/normal_). */
yolo_status torch_uniform_(torch_tensor *t, double lo, double hi);
yolo_status torch_normal_(torch_tensor *t, double mean, double std);
/* t += alpha * other; t *= s. */
yolo_status torch_add_(torch_tensor *t, const torch_tensor *other, double alpha);
yolo_status torch_mul_scalar_(torch_tensor *t, double s);
/* t += s. */
yolo_status torch_add_scalar_(torch_tensor *t, double s);
/* SiLU in place (what Ultralytics' inplace activations do). */
yolo_status torch_silu_(torch_tensor *t);

/* ---- elementwise and reductions ---- */
yolo_status torch_add(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
yolo_status torch_sub(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
yolo_status torch_mul(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
yolo_status torch_div(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);
yolo_status torch_add_scalar(const torch_tensor *a, double s, torch_tensor **out);
yolo_status torch_mul_scalar(const torch_tensor *a, double s, torch_tensor **out);
yolo_status torch_sigmoid(const torch_tensor *x, torch_tensor **out);
yolo_status torch_silu(const torch_tensor *x, torch_tensor **out);
yolo_status torch_exp(const torch_tensor *x, torch_tensor **out);
yolo_status torch_sqrt(const torch_tensor *x, torch_tensor **out);
yolo_status torch_log(const torch_tensor *x, torch_tensor **out);
yolo_status torch_softmax(const torch_tensor *x, int dim, torch_tensor **out);
yolo_status torch_log_softmax(const torch_tensor *x, int dim, torch_tensor **out);
/* Sum / mean of all elements (0-dim result). */
yolo_status torch_sum(const torch_tensor *x, torch_tensor **out);
yolo_status torch_mean(const torch_tensor *x, torch_tensor **out);
yolo_status torch_sum_dim(const torch_tensor *x, int dim, bool keepdim, torch_tensor **out);
yolo_status torch_matmul(const torch_tensor *a, const torch_tensor *b, torch_tensor **out);

/* ---- shapes (views share storage where libtorch can) ---- */
yolo_status torch_reshape(const torch_tensor *x, int ndim, const int64_t *shape, torch_tensor **out);
yolo_status torch_view(const torch_tensor *x, int ndim, const int64_t *shape, torch_tensor **out);
yolo_status torch_permute(const torch_tensor *x, int ndim, const int64_t *perm, torch_tensor **out);
yolo_status torch_transpose(const torch_tensor *x, int d0, int d1, torch_tensor **out);
yolo_status torch_flatten(const torch_tensor *x, int start_dim, int end_dim, torch_tensor **out);
yolo_status torch_narrow(const torch_tensor *x, int dim, int64_t start, int64_t length, torch_tensor **out);
yolo_status torch_select(const torch_tensor *x, int dim, int64_t index, torch_tensor **out);
yolo_status torch_unsqueeze(const torch_tensor *x, int dim, torch_tensor **out);
yolo_status torch_cat(const torch_tensor *const *xs, int n, int dim, torch_tensor **out);

/* ---- network layers ---- */
/* Every blocked-layout convolution on oneDNN (on), or where libtorch 1.13 would put it (off, the default,
 * whose numbers Ultralytics' match): libtorch runs a 1x1 stride-1 convolution of fewer than 16 images at
 * one thread, and a tiny single-image one, on its own kernels, which call the BLAS (lib/blas.c: the
 * reference BLAS's values, and still slower than oneDNN). Micro-batch training turns it on around its
 * steps, so that small micro-batches train at oneDNN's speed. Plain NCHW convolutions keep libtorch's choice
 * (its backward makes the choice again). Returns the previous setting. */
bool torch_set_conv_onednn(bool on);
/* bias may be NULL. Square stride/padding/dilation. */
yolo_status torch_conv2d(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias, int stride,
                         int pad, int dilation, int groups, torch_tensor **out);
yolo_status torch_conv_transpose2d(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias,
                                   int stride, int pad, torch_tensor **out);
/* training: batch statistics, and running_mean/var (if given) are updated in place with momentum
 * (unbiased variance). Otherwise the running statistics are used. */
yolo_status torch_batch_norm(const torch_tensor *x, const torch_tensor *weight, const torch_tensor *bias,
                             torch_tensor *running_mean, torch_tensor *running_var, bool training,
                             double momentum, double eps, torch_tensor **out);
yolo_status torch_max_pool2d(const torch_tensor *x, int kernel, int stride, int pad, torch_tensor **out);
/* torch_batch_norm followed by SiLU, with the same values. Training on a blocked input records one
 * autograd node that keeps only the BN input (SiLU's input is recomputed in backward): less memory. */
yolo_status torch_batch_norm_silu(const torch_tensor *x, const torch_tensor *weight, const torch_tensor *bias,
                                  torch_tensor *running_mean, torch_tensor *running_var, bool training,
                                  double momentum, double eps, torch_tensor **out);
/* Nearest-neighbour upsampling by an integer factor. */
yolo_status torch_upsample_nearest2d(const torch_tensor *x, int scale, torch_tensor **out);
yolo_status torch_adaptive_avg_pool2d(const torch_tensor *x, int out_h, int out_w, torch_tensor **out);
yolo_status torch_linear(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias,
                         torch_tensor **out);
yolo_status torch_dropout(const torch_tensor *x, double p, bool training, torch_tensor **out);

/* ---- blocked activations ----
 * A (N, C, H, W) activation can be held as a 5-d (N, C/16, H, W, 16) tensor: per image, C/16 planes
 * of 16 consecutive channels, the layout oneDNN computes convolutions in. Networks kept in it skip
 * libtorch's conversions around every convolution (a fifth of a CPU training step) and get the same
 * values to the bit. torch_conv2d, torch_batch_norm, torch_max_pool2d and torch_upsample_nearest2d
 * take blocked inputs and give blocked outputs; elementwise ops, torch_cat and torch_narrow work on
 * them with channels counted in blocks (dim 1). Float CPU tensors only. */
/* Whether the blocked layout can be used here: a CPU device, libtorch's own oneDNN with 16-channel
 * blocks, and the kernels lib/bnorm.c reproduces (YOLO_BLOCKED=0 turns it off). */
bool torch_blocked_available(torch_device dev);
bool torch_is_blocked(const torch_tensor *x);
/* A convolution from a plain or blocked input to a blocked output, or to a plain one when plain_out
 * (whose channels need not be a multiple of 16). */
yolo_status torch_conv2d_blocked(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias,
                                 int stride, int pad, bool plain_out, torch_tensor **out);
/* Layout conversions (C a multiple of 16), recorded by autograd. */
yolo_status torch_to_blocked(const torch_tensor *x, torch_tensor **out);
yolo_status torch_to_plain(const torch_tensor *x, torch_tensor **out);

/* ---- autograd ---- */
yolo_status torch_set_requires_grad(torch_tensor *t, bool requires_grad);
bool torch_requires_grad(const torch_tensor *t);
/* Backpropagates from t (a scalar when grad is NULL; otherwise grad has t's shape). */
yolo_status torch_backward(const torch_tensor *t, const torch_tensor *grad, bool retain_graph);
/* true when t has an accumulated gradient. */
bool torch_has_grad(const torch_tensor *t);
/* A handle to t's gradient (shares storage: changing it changes the gradient). NOTFOUND if none. */
yolo_status torch_grad(const torch_tensor *t, torch_tensor **out);
/* Drops t's gradient (like zero_grad(set_to_none=True)). */
void torch_grad_reset(torch_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
