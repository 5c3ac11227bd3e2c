// libtorch wrapper, blocked layout (include/yolo/torch.h, "blocked activations"): convolution and
// batch norm as autograd functions over lib/dnnl.c and lib/bnorm.c, and the few other layers of the
// networks on 5-d blocked tensors (N, C/16, H, W, 16). The values are libtorch's to the bit; only the
// layout conversions around each convolution are gone.
#include "torch_internal.hpp"

#include <ATen/Parallel.h>
#include <ATen/ops/batch_norm.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/silu_backward.h>
#include <ATen/ops/upsample_nearest2d.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>

extern "C" {
#include "bnorm.h"
#include "dnnl_conv.h"
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using yt::guard;
using yt::opt;
using yt::put;
using yt::T;

namespace {

void check(yolo_status st) {
    if (st != YOLO_OK) throw std::runtime_error(yolo_last_error());
}

// Optional tensors cross autograd functions as empty ones: libtorch 1.13 cannot record an undefined input.
float *F(const at::Tensor &t) {
    return t.defined() && t.numel() ? t.data_ptr<float>() : nullptr;
}
at::Tensor or_empty(const at::Tensor &t, const at::Tensor &like) {
    return t.defined() ? t : at::empty({0}, like.options());
}

dnnl_conv *conv_for(const at::Tensor &x, const at::Tensor &w, bool bias, int64_t stride, int64_t pad,
                    bool plain_out) {
    dnnl_conv_shape s;
    std::memset(&s, 0, sizeof s); // the cache compares shapes bytewise, padding included
    s.n = x.size(0), s.ic = w.size(1), s.oc = w.size(0), s.ih = x.size(2), s.iw = x.size(3), s.k = w.size(2);
    s.stride = stride, s.pad = pad, s.threads = at::get_num_threads(), s.bias = bias,
    s.src_plain = x.dim() == 4, s.dst_plain = plain_out;
    if (w.size(2) != w.size(3)) throw yt::usage_error("blocked convolution needs a square kernel");
    int64_t ic = s.src_plain ? x.size(1) : x.size(1) * DNNL_BLOCK;
    if (ic != s.ic) throw yt::usage_error("blocked convolution: input channels do not match the weights");
    if (!plain_out && s.oc % DNNL_BLOCK)
        throw yt::usage_error("blocked convolution: output channels not a multiple of 16");
    dnnl_conv *c = nullptr;
    check(dnnl_conv_get(&s, &c));
    return c;
}

struct BlockedConv : public torch::autograd::Function<BlockedConv> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor x, at::Tensor w, at::Tensor b, int64_t stride,
                              int64_t pad, bool plain_out) {
        x = x.contiguous(), w = w.contiguous();
        dnnl_conv *c = conv_for(x, w, b.numel() > 0, stride, pad, plain_out);
        int64_t oh, ow, n = x.size(0), oc = w.size(0);
        dnnl_conv_out_hw(c, &oh, &ow);
        at::Tensor y = plain_out ? at::empty({n, oc, oh, ow}, x.options())
                                 : at::empty({n, oc / DNNL_BLOCK, oh, ow, DNNL_BLOCK}, x.options());
        check(dnnl_conv_forward(c, F(x), F(w), F(b), F(y)));
        ctx->save_for_backward({x, w, b}); // b: to name its gradient (yt::grad_ready)
        ctx->saved_data["stride"] = stride;
        ctx->saved_data["pad"] = pad;
        ctx->saved_data["plain_out"] = plain_out;
        ctx->saved_data["bias"] = b.numel() > 0;
        return y;
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &w = saved[1];
        at::Tensor gy = grads[0].contiguous(), gx, gw, gb;
        bool bias = ctx->saved_data["bias"].toBool();
        dnnl_conv *c = conv_for(x, w, bias, ctx->saved_data["stride"].toInt(), ctx->saved_data["pad"].toInt(),
                                ctx->saved_data["plain_out"].toBool());
        if (ctx->needs_input_grad(0)) {
            gx = at::empty_like(x);
            check(dnnl_conv_backward_data(c, F(gy), F(w), F(gx)));
        }
        if (ctx->needs_input_grad(1) || ctx->needs_input_grad(2)) {
            gw = at::empty_like(w);
            if (bias) gb = at::empty({w.size(0)}, w.options());
            check(dnnl_conv_backward_weights(c, F(x), F(gy), F(gw), F(gb)));
            yt::grad_ready(w, gw);
            if (bias) yt::grad_ready(saved[2], gb);
        }
        return {gx, gw, gb, at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

bnorm_shape shape_of(const at::Tensor &x) {
    return bnorm_shape{x.size(0), x.size(1) * DNNL_BLOCK, x.size(2) * x.size(3)};
}

// The pieces of a blocked batch norm, shared by the BN node and the BN+SiLU node.
struct bn_stats {
    at::Tensor mean, invstd;
};

// The batch statistics (training: running averages updated in place) or the running ones.
bn_stats bn_statistics(const at::Tensor &x, const at::Tensor &rm, const at::Tensor &rv, bool training,
                       double momentum, double eps) {
    bnorm_shape s = shape_of(x);
    bn_stats st{at::Tensor(), at::empty({s.c}, x.options())};
    if (training) {
        st.mean = at::empty({s.c}, x.options());
        at::Tensor var_sum = at::empty({s.c}, x.options());
        yt::parallel_for(0, s.c / BNORM_GROUP, 1, [&](int64_t g0, int64_t g1) {
            bnorm_stats(&s, F(x), g0, g1, F(st.mean), F(var_sum));
        });
        bnorm_update(&s, F(st.mean), F(var_sum), momentum, eps, F(st.invstd), F(rm), F(rv));
    } else {
        if (!F(rm) || !F(rv))
            throw yt::usage_error("blocked batch norm: evaluation needs running statistics");
        st.mean = rm;
        bnorm_eval_invstd(s.c, F(rv), eps, F(st.invstd));
    }
    return st;
}

at::Tensor bn_apply(const at::Tensor &x, const bn_stats &st, const at::Tensor &w, const at::Tensor &b) {
    bnorm_shape s = shape_of(x);
    at::Tensor y = at::empty_like(x);
    yt::parallel_for(0, s.n * (s.c / DNNL_BLOCK), 1, [&](int64_t p0, int64_t p1) {
        bnorm_apply(&s, F(x), F(st.mean), F(st.invstd), F(w), F(b), p0, p1, F(y));
    });
    return y;
}

// Gradients of input (when wanted), weight and bias from the output's gradient gy.
variable_list bn_backward(const at::Tensor &x, const at::Tensor &w, const bn_stats &st, const at::Tensor &gy,
                          bool input_grad) {
    bnorm_shape s = shape_of(x);
    auto opts = x.options();
    at::Tensor gx, gw = at::empty({s.c}, opts), gb = at::empty({s.c}, opts), k = at::empty({s.c}, opts),
                   gmean = at::empty({s.c}, opts);
    yt::parallel_for(0, s.c / BNORM_GROUP, 1, [&](int64_t g0, int64_t g1) {
        bnorm_backward_stats(&s, F(x), F(gy), F(st.mean), F(st.invstd), g0, g1, F(gw), F(gb), F(k), F(gmean));
    });
    if (input_grad) {
        gx = at::empty_like(x);
        yt::parallel_for(0, s.n * (s.c / DNNL_BLOCK), 1, [&](int64_t p0, int64_t p1) {
            bnorm_backward_input(&s, F(x), F(gy), F(st.mean), F(st.invstd), F(w), F(k), F(gmean), p0, p1,
                                 F(gx));
        });
    }
    return {gx, gw, gb};
}

struct BlockedBatchNorm : public torch::autograd::Function<BlockedBatchNorm> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor x, at::Tensor w, at::Tensor b, at::Tensor rm,
                              at::Tensor rv, bool training, double momentum, double eps) {
        x = x.contiguous();
        bn_stats st = bn_statistics(x, rm, rv, training, momentum, eps);
        at::Tensor y = bn_apply(x, st, w, b);
        if (training) ctx->save_for_backward({x, w, st.mean, st.invstd, b});
        ctx->saved_data["training"] = training;
        return y;
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        if (!ctx->saved_data["training"].toBool())
            throw yt::usage_error("blocked batch norm: no gradient in evaluation mode");
        auto saved = ctx->get_saved_variables();
        variable_list g = bn_backward(saved[0], saved[1], {saved[2], saved[3]}, grads[0].contiguous(),
                                      ctx->needs_input_grad(0));
        yt::grad_ready(saved[1], g[1]), yt::grad_ready(saved[4], g[2]);
        return {g[0], g[1], g[2], at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

// Training BN followed by SiLU, as one node that keeps only BN's input (which BN's gradient needs
// anyway): SiLU's gradient needs BN's output, and that is recomputed in backward by the same kernel,
// to the same bits, instead of being held from forward to backward. For yolov8n at 640 px, batch 16,
// that is 0.83 GB of the 2.99 GB a step holds at its peak; the recomputation is one elementwise pass.
struct BlockedBatchNormSilu : public torch::autograd::Function<BlockedBatchNormSilu> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor x, at::Tensor w, at::Tensor b, at::Tensor rm,
                              at::Tensor rv, double momentum, double eps) {
        x = x.contiguous();
        bn_stats st = bn_statistics(x, rm, rv, true, momentum, eps);
        ctx->save_for_backward({x, w, b, st.mean, st.invstd});
        return at::silu(bn_apply(x, st, w, b));
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &w = saved[1];
        bn_stats st{saved[3], saved[4]};
        // what autograd's SiLU node computes from its saved input
        at::Tensor gy = at::silu_backward(grads[0], bn_apply(x, st, w, saved[2]));
        variable_list g = bn_backward(x, w, st, gy.contiguous(), ctx->needs_input_grad(0));
        yt::grad_ready(w, g[1]), yt::grad_ready(saved[2], g[2]);
        return {g[0], g[1], g[2], at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

// A blocked tensor seen as N*C/16 images of 16 channels in channels-last order (a view): libtorch's
// channels-last pooling and upsampling kernels then run on it unchanged, with the same values and
// the same order of gradient sums as on NCHW.
at::Tensor as_planes(const at::Tensor &x) {
    return x.reshape({x.size(0) * x.size(1), x.size(2), x.size(3), DNNL_BLOCK}).permute({0, 3, 1, 2});
}

at::Tensor from_planes(const at::Tensor &y, int64_t n, int64_t blocks) {
    return y.permute({0, 2, 3, 1}).reshape({n, blocks, y.size(2), y.size(3), DNNL_BLOCK});
}

// libtorch 1.13's choice between oneDNN and its own convolution (ConvParams::use_mkldnn, float CPU, no
// groups or dilation): a 1x1 stride-1 kernel on fewer than 16 images at 1 thread, and a tiny
// single-image input, run libtorch's own kernels, whose sums round differently.
bool libtorch_uses_onednn(const at::Tensor &x, const at::Tensor &w, int64_t stride) {
    int64_t n = x.size(0), numel = x.numel();
    bool one_by_one = w.size(2) == 1 && w.size(3) == 1;
    bool fast_native = !(stride > 1 || n >= 16 || !one_by_one || at::get_num_threads() > 1);
    bool tiny = !(w.size(2) > 3 && w.size(3) > 3) && n <= 1 && numel <= 20480;
    return !fast_native && !tiny;
}

at::Tensor plain_copy(const at::Tensor &t) {
    return t.permute({0, 1, 4, 2, 3}).reshape({t.size(0), t.size(1) * DNNL_BLOCK, t.size(2), t.size(3)});
}

at::Tensor blocked_copy(const at::Tensor &t) {
    if (t.size(1) % DNNL_BLOCK) throw yt::usage_error("blocked layout: channels not a multiple of 16");
    return t.reshape({t.size(0), t.size(1) / DNNL_BLOCK, DNNL_BLOCK, t.size(2), t.size(3)})
        .permute({0, 1, 3, 4, 2})
        .contiguous();
}

// Layout conversions whose gradients are converted back into dense tensors. Autograd's own backward
// of a permutation would hand on a strided view, and libtorch's elementwise kernels take a scalar
// path on those, with other roundings than the vector path that dense NCHW gets.
struct ToPlain : public torch::autograd::Function<ToPlain> {
    static at::Tensor forward(AutogradContext *, at::Tensor x) { return plain_copy(x); }
    static variable_list backward(AutogradContext *, variable_list g) { return {blocked_copy(g[0])}; }
};

struct ToBlocked : public torch::autograd::Function<ToBlocked> {
    static at::Tensor forward(AutogradContext *, at::Tensor x) { return blocked_copy(x); }
    static variable_list backward(AutogradContext *, variable_list g) {
        return {plain_copy(g[0].contiguous())};
    }
};

at::Tensor to_plain(const at::Tensor &t) {
    return ToPlain::apply(t);
}
at::Tensor to_blocked(const at::Tensor &t) {
    return ToBlocked::apply(t);
}

} // namespace

namespace yt {

bool blocked(const at::Tensor &t) {
    return t.dim() == 5 && t.size(4) == DNNL_BLOCK;
}

at::Tensor blocked_conv2d(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, int64_t stride,
                          int64_t pad, bool plain_out) {
    if (x.scalar_type() != at::kFloat || !x.device().is_cpu())
        throw usage_error("blocked convolution: float CPU tensors only");
    if (conv_onednn() || libtorch_uses_onednn(x, w, stride))
        return BlockedConv::apply(x, w, or_empty(b, x), stride, pad, plain_out);
    // where libtorch computes without oneDNN, so does this (in its layout, converted on both sides)
    at::Tensor plain = yt::blocked(x) ? to_plain(x) : x;
    int64_t s[2] = {stride, stride}, p[2] = {pad, pad}, d[2] = {1, 1};
    at::Tensor y = at::conv2d(plain, w, b, s, p, d, 1);
    return plain_out ? y : to_blocked(y);
}

at::Tensor blocked_batch_norm(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                              const at::Tensor &rm, const at::Tensor &rv, bool training, double momentum,
                              double eps) {
    if (x.size(2) * x.size(3) == 1) {
        // one pixel per map: the blocked memory is already NCHW, where libtorch has its own path
        at::Tensor plain = x.reshape({x.size(0), x.size(1) * DNNL_BLOCK, 1, 1});
        return at::batch_norm(plain, w, b, rm, rv, training, momentum, eps, true).reshape(x.sizes());
    }
    if (!w.defined() || !b.defined()) throw usage_error("blocked batch norm needs weight and bias");
    return BlockedBatchNorm::apply(x, w, b, or_empty(rm, x), or_empty(rv, x), training, momentum, eps);
}

bool blocked_batch_norm_silu_fuses(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                                   bool training) {
    return blocked(x) && training && at::GradMode::is_enabled() && x.size(2) * x.size(3) > 1 && w.defined() &&
           b.defined();
}

at::Tensor blocked_batch_norm_silu(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                                   const at::Tensor &rm, const at::Tensor &rv, double momentum, double eps) {
    return BlockedBatchNormSilu::apply(x, w, b, or_empty(rm, x), or_empty(rv, x), momentum, eps);
}

at::Tensor blocked_max_pool2d(const at::Tensor &x, int64_t k, int64_t s, int64_t p) {
    int64_t kk[2] = {k, k}, ss[2] = {s, s}, pp[2] = {p, p}, dd[2] = {1, 1};
    return from_planes(at::max_pool2d(as_planes(x), kk, ss, pp, dd, false), x.size(0), x.size(1));
}

at::Tensor blocked_upsample_nearest2d(const at::Tensor &x, int64_t scale) {
    int64_t size[2] = {x.size(2) * scale, x.size(3) * scale};
    return from_planes(at::upsample_nearest2d(as_planes(x), size, (double)scale, (double)scale), x.size(0),
                       x.size(1));
}

} // namespace yt

extern "C" bool torch_blocked_available(torch_device dev) {
    return dev == TORCH_CPU && dnnl_available() && bnorm_matches_libtorch();
}

extern "C" yolo_status torch_conv2d_blocked(const torch_tensor *x, const torch_tensor *w,
                                            const torch_tensor *bias, int stride, int pad, bool plain_out,
                                            torch_tensor **out) {
    return guard("conv2d (blocked)",
                 [&] { put(out, yt::blocked_conv2d(T(x), T(w), opt(bias), stride, pad, plain_out)); });
}

extern "C" yolo_status torch_to_blocked(const torch_tensor *x, torch_tensor **out) {
    return guard("to_blocked", [&] {
        if (T(x).dim() != 4) throw yt::usage_error("needs an (N, C, H, W) tensor");
        put(out, to_blocked(T(x)));
    });
}

extern "C" yolo_status torch_to_plain(const torch_tensor *x, torch_tensor **out) {
    return guard("to_plain", [&] {
        if (!yt::blocked(T(x))) throw yt::usage_error("needs a blocked (N, C/16, H, W, 16) tensor");
        put(out, to_plain(T(x)));
    });
}

extern "C" bool torch_is_blocked(const torch_tensor *x) {
    return x && yt::blocked(x->t);
}
