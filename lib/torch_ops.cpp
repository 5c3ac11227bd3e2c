// libtorch wrapper: arithmetic, shape and layer ops (see include/yolo/torch.h).
#include "torch_internal.hpp"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/adaptive_avg_pool2d.h>
#include <ATen/ops/batch_norm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/conv_transpose2d.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/upsample_nearest2d.h>

#include <vector>

using yt::guard;
using yt::opt;
using yt::put;
using yt::T;

/* ---- elementwise and reductions ---- */

extern "C" yolo_status torch_add(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("add", [&] { put(out, T(a).add(T(b))); });
}

extern "C" yolo_status torch_sub(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("sub", [&] { put(out, T(a).sub(T(b))); });
}

extern "C" yolo_status torch_mul(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("mul", [&] { put(out, T(a).mul(T(b))); });
}

extern "C" yolo_status torch_div(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("div", [&] { put(out, T(a).div(T(b))); });
}

extern "C" yolo_status torch_add_scalar(const torch_tensor *a, double s, torch_tensor **out) {
    return guard("add scalar", [&] { put(out, T(a).add(s)); });
}

extern "C" yolo_status torch_mul_scalar(const torch_tensor *a, double s, torch_tensor **out) {
    return guard("mul scalar", [&] { put(out, T(a).mul(s)); });
}

extern "C" yolo_status torch_sigmoid(const torch_tensor *x, torch_tensor **out) {
    return guard("sigmoid", [&] { put(out, at::sigmoid(T(x))); });
}

extern "C" yolo_status torch_silu(const torch_tensor *x, torch_tensor **out) {
    return guard("silu", [&] { put(out, at::silu(T(x))); });
}

extern "C" yolo_status torch_silu_(torch_tensor *t) {
    return guard("silu_", [&] { at::silu_(yt::M(t)); });
}

extern "C" yolo_status torch_exp(const torch_tensor *x, torch_tensor **out) {
    return guard("exp", [&] { put(out, T(x).exp()); });
}

extern "C" yolo_status torch_sqrt(const torch_tensor *x, torch_tensor **out) {
    return guard("sqrt", [&] { put(out, T(x).sqrt()); });
}

extern "C" yolo_status torch_log(const torch_tensor *x, torch_tensor **out) {
    return guard("log", [&] { put(out, T(x).log()); });
}

extern "C" yolo_status torch_softmax(const torch_tensor *x, int dim, torch_tensor **out) {
    return guard("softmax", [&] { put(out, T(x).softmax(dim)); });
}

extern "C" yolo_status torch_log_softmax(const torch_tensor *x, int dim, torch_tensor **out) {
    return guard("log_softmax", [&] { put(out, T(x).log_softmax(dim)); });
}

extern "C" yolo_status torch_sum(const torch_tensor *x, torch_tensor **out) {
    return guard("sum", [&] { put(out, T(x).sum()); });
}

extern "C" yolo_status torch_mean(const torch_tensor *x, torch_tensor **out) {
    return guard("mean", [&] { put(out, T(x).mean()); });
}

extern "C" yolo_status torch_sum_dim(const torch_tensor *x, int dim, bool keepdim, torch_tensor **out) {
    return guard("sum", [&] { put(out, T(x).sum(dim, keepdim)); });
}

extern "C" yolo_status torch_matmul(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("matmul", [&] { put(out, at::matmul(T(a), T(b))); });
}

/* ---- shapes ---- */

extern "C" yolo_status torch_reshape(const torch_tensor *x, int ndim, const int64_t *shape,
                                     torch_tensor **out) {
    return guard("reshape", [&] {
        if (ndim < 0 || ndim > 16 || (ndim && !shape)) throw yt::usage_error("bad shape");
        put(out, T(x).reshape(at::IntArrayRef(shape, ndim)));
    });
}

extern "C" yolo_status torch_view(const torch_tensor *x, int ndim, const int64_t *shape, torch_tensor **out) {
    return guard("view", [&] {
        if (ndim < 0 || ndim > 16 || (ndim && !shape)) throw yt::usage_error("bad shape");
        put(out, T(x).view(at::IntArrayRef(shape, ndim)));
    });
}

extern "C" yolo_status torch_permute(const torch_tensor *x, int ndim, const int64_t *perm,
                                     torch_tensor **out) {
    return guard("permute", [&] {
        if (ndim < 0 || ndim > 16 || (ndim && !perm)) throw yt::usage_error("bad permutation");
        put(out, T(x).permute(at::IntArrayRef(perm, ndim)));
    });
}

extern "C" yolo_status torch_transpose(const torch_tensor *x, int d0, int d1, torch_tensor **out) {
    return guard("transpose", [&] { put(out, T(x).transpose(d0, d1)); });
}

extern "C" yolo_status torch_flatten(const torch_tensor *x, int start_dim, int end_dim, torch_tensor **out) {
    return guard("flatten", [&] { put(out, T(x).flatten(start_dim, end_dim)); });
}

extern "C" yolo_status torch_narrow(const torch_tensor *x, int dim, int64_t start, int64_t length,
                                    torch_tensor **out) {
    return guard("narrow", [&] { put(out, T(x).narrow(dim, start, length)); });
}

extern "C" yolo_status torch_select(const torch_tensor *x, int dim, int64_t index, torch_tensor **out) {
    return guard("select", [&] { put(out, T(x).select(dim, index)); });
}

extern "C" yolo_status torch_unsqueeze(const torch_tensor *x, int dim, torch_tensor **out) {
    return guard("unsqueeze", [&] { put(out, T(x).unsqueeze(dim)); });
}

extern "C" yolo_status torch_cat(const torch_tensor *const *xs, int n, int dim, torch_tensor **out) {
    return guard("cat", [&] {
        if (n < 1 || !xs) throw yt::usage_error("nothing to concatenate");
        std::vector<at::Tensor> v;
        v.reserve((size_t)n);
        for (int i = 0; i < n; i++)
            v.push_back(T(xs[i]));
        put(out, at::cat(v, dim));
    });
}

/* ---- layers ---- */

extern "C" yolo_status torch_conv2d(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias,
                                    int stride, int pad, int dilation, int groups, torch_tensor **out) {
    return guard("conv2d", [&] {
        if (yt::blocked(T(x))) {
            if (dilation != 1 || groups != 1)
                throw yt::usage_error("blocked convolution: no dilation or groups");
            return put(out, yt::blocked_conv2d(T(x), T(w), opt(bias), stride, pad, false));
        }
        int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {dilation, dilation};
        put(out, at::conv2d(T(x), T(w), opt(bias), s, p, d, groups));
    });
}

extern "C" yolo_status torch_conv_transpose2d(const torch_tensor *x, const torch_tensor *w,
                                              const torch_tensor *bias, int stride, int pad,
                                              torch_tensor **out) {
    return guard("conv_transpose2d", [&] {
        int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, op[2] = {0, 0}, d[2] = {1, 1};
        put(out, at::conv_transpose2d(T(x), T(w), opt(bias), s, p, op, 1, d));
    });
}

extern "C" yolo_status torch_batch_norm(const torch_tensor *x, const torch_tensor *weight,
                                        const torch_tensor *bias, torch_tensor *running_mean,
                                        torch_tensor *running_var, bool training, double momentum, double eps,
                                        torch_tensor **out) {
    return guard("batch_norm", [&] {
        if (yt::blocked(T(x)))
            return put(out, yt::blocked_batch_norm(T(x), opt(weight), opt(bias), opt(running_mean),
                                                   opt(running_var), training, momentum, eps));
        put(out, at::batch_norm(T(x), opt(weight), opt(bias), opt(running_mean), opt(running_var), training,
                                momentum, eps, /*cudnn_enabled=*/true));
    });
}

extern "C" yolo_status torch_batch_norm_silu(const torch_tensor *x, const torch_tensor *weight,
                                             const torch_tensor *bias, torch_tensor *running_mean,
                                             torch_tensor *running_var, bool training, double momentum,
                                             double eps, torch_tensor **out) {
    return guard("batch_norm_silu", [&] {
        const at::Tensor &t = T(x), w = opt(weight), b = opt(bias), rm = opt(running_mean),
                         rv = opt(running_var);
        if (yt::blocked_batch_norm_silu_fuses(t, w, b, training))
            return put(out, yt::blocked_batch_norm_silu(t, w, b, rm, rv, momentum, eps));
        at::Tensor y = yt::blocked(t) ? yt::blocked_batch_norm(t, w, b, rm, rv, training, momentum, eps)
                                      : at::batch_norm(t, w, b, rm, rv, training, momentum, eps, true);
        // in place when no gradient is recorded; otherwise SiLU's backward needs its input
        put(out, at::GradMode::is_enabled() ? at::silu(y) : at::silu_(y));
    });
}

extern "C" yolo_status torch_max_pool2d(const torch_tensor *x, int kernel, int stride, int pad,
                                        torch_tensor **out) {
    return guard("max_pool2d", [&] {
        if (yt::blocked(T(x))) return put(out, yt::blocked_max_pool2d(T(x), kernel, stride, pad));
        int64_t k[2] = {kernel, kernel}, s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {1, 1};
        put(out, at::max_pool2d(T(x), k, s, p, d, false));
    });
}

extern "C" yolo_status torch_upsample_nearest2d(const torch_tensor *x, int scale, torch_tensor **out) {
    return guard("upsample_nearest2d", [&] {
        const at::Tensor &t = T(x);
        if (scale >= 1 && yt::blocked(t)) return put(out, yt::blocked_upsample_nearest2d(t, scale));
        if (t.dim() != 4 || scale < 1) throw yt::usage_error("needs a 4-d input and a positive scale");
        int64_t size[2] = {t.size(2) * scale, t.size(3) * scale};
        // Python's nn.Upsample(scale_factor=2) passes the scale too; nearest uses it for the index map.
        put(out, at::upsample_nearest2d(t, size, (double)scale, (double)scale));
    });
}

extern "C" yolo_status torch_adaptive_avg_pool2d(const torch_tensor *x, int out_h, int out_w,
                                                 torch_tensor **out) {
    return guard("adaptive_avg_pool2d", [&] {
        int64_t size[2] = {out_h, out_w};
        put(out, at::adaptive_avg_pool2d(T(x), size));
    });
}

extern "C" yolo_status torch_linear(const torch_tensor *x, const torch_tensor *w, const torch_tensor *bias,
                                    torch_tensor **out) {
    return guard("linear", [&] { put(out, at::linear(T(x), T(w), opt(bias))); });
}

extern "C" yolo_status torch_dropout(const torch_tensor *x, double p, bool training, torch_tensor **out) {
    return guard("dropout", [&] {
        if (!training || p == 0)
            put(out, T(x));
        else
            put(out, at::dropout(T(x), p, training));
    });
}
