// Internals of the libtorch wrapper, shared by lib/torch*.cpp (never included from C).
//
// Every extern "C" entry point runs its body through yt::guard, which turns any C++ exception into a
// yolo_status plus a one-line message. Results go out through yt::put, which implements the
// "new handle or replace the tensor of an existing one" rule of include/yolo/torch.h.
//
// Usage:
//   yolo_status torch_silu(const torch_tensor *x, torch_tensor **out) {
//       return yt::guard("silu", [&] { yt::put(out, at::silu(yt::T(x))); });
//   }
#ifndef YOLO_TORCH_INTERNAL_HPP
#define YOLO_TORCH_INTERNAL_HPP

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <functional>
#include <new>
#include <stdexcept>
#include <string>

#include "yolo/status.h"
#include "yolo/torch.h"

struct torch_tensor {
    at::Tensor t;
};

namespace yt {

// A bad argument detected by the wrapper itself (reported as YOLO_ERR_USAGE).
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Converts the exception in flight into a status and message "what: first line of the error".
yolo_status fail_current(const char *what) noexcept;

template <class F> inline yolo_status guard(const char *what, F &&f) noexcept {
    try {
        f();
        return YOLO_OK;
    } catch (...) {
        return fail_current(what);
    }
}

// The tensor of a handle; a NULL handle is a usage error.
inline const at::Tensor &T(const torch_tensor *h) {
    if (!h) throw usage_error("null tensor handle");
    return h->t;
}
inline at::Tensor &M(torch_tensor *h) {
    if (!h) throw usage_error("null tensor handle");
    return h->t;
}
// An optional tensor argument: NULL gives an undefined tensor (libtorch's "None").
inline at::Tensor opt(const torch_tensor *h) {
    return h ? h->t : at::Tensor();
}

// Stores t in *out: a new handle when *out is NULL, otherwise replaces the handle's tensor.
inline void put(torch_tensor **out, at::Tensor t) {
    if (!out) throw usage_error("null output pointer");
    if (*out) {
        (*out)->t = std::move(t);
        return;
    }
    torch_tensor *h = new torch_tensor{std::move(t)};
    *out = h;
}

// at::parallel_for on libtorch's intra-op threads, the same chunks. ATen's own template compiles to a
// plain loop in a file built without -fopenmp (ours: the clang build would link another OpenMP
// runtime), so this one enters the parallel region through the libgomp libtorch loaded (GOMP_parallel,
// what `#pragma omp parallel` compiles to); where there is none, the loop runs on the calling thread.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)> &f);

// A layer's backward pass has the gradient of one of its parameters (tt_grads_each): hands it to the
// caller at once, so that what the caller does with it (send it to the other ranks) overlaps the rest
// of the pass. Does nothing unless a tt_grads_each is under way on this thread and param is one of its
// parameters. The blocked layers (lib/torch_blocked.cpp) call it for their weights and biases.
void grad_ready(const at::Tensor &param, const at::Tensor &grad);

c10::ScalarType scalar_type(torch_dtype dt);
torch_dtype dtype_of(c10::ScalarType st);
c10::Device device(torch_device dev);
at::TensorOptions options(torch_dtype dt, torch_device dev);
// Shape array to an IntArrayRef-compatible vector, checking ndim and sizes.
std::vector<int64_t> shape_vec(int ndim, const int64_t *shape);

// Blocked activations (lib/torch_blocked.cpp): 5-d (N, C/16, H, W, 16) tensors, and the layers that
// take them, with libtorch's values to the bit.
bool blocked(const at::Tensor &t);
// torch_set_conv_onednn's setting
bool conv_onednn();
at::Tensor blocked_conv2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride,
                          int64_t pad, bool plain_out);
at::Tensor blocked_batch_norm(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                              const at::Tensor &rm, const at::Tensor &rv, bool training, double momentum,
                              double eps);
at::Tensor blocked_max_pool2d(const at::Tensor &x, int64_t k, int64_t s, int64_t p);
at::Tensor blocked_upsample_nearest2d(const at::Tensor &x, int64_t scale);

// Training BN then SiLU on a blocked input as one autograd node that holds less memory (same values);
// _fuses says whether these arguments take that path.
bool blocked_batch_norm_silu_fuses(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                                   bool training);
at::Tensor blocked_batch_norm_silu(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                                   const at::Tensor &rm, const at::Tensor &rv, double momentum, double eps);
} // namespace yt

#endif
