// libtorch wrapper, training extras (include/yolo/torch_train.h): the ops the losses, the assigner
// and the optimizers need. Each call is the libtorch op Ultralytics' Python code reaches, so that the
// same kernels run on the same shapes and the numbers agree to the bit.
#include "torch_internal.hpp"

#include "yolo/torch_train.h"

#include <ATen/Parallel.h>
#include <ATen/ops/addcdiv.h>
#include <ATen/ops/addcmul.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/amin.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/atan.h>
#include <ATen/ops/binary_cross_entropy_with_logits.h>
#include <ATen/ops/clamp.h>
#include <ATen/ops/clamp_max.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/div.h>
#include <ATen/ops/eq.h>
#include <ATen/ops/expand.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/ge.h>
#include <ATen/ops/gt.h>
#include <ATen/ops/index.h>
#include <ATen/ops/index_put.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/le.h>
#include <ATen/ops/lt.h>
#include <ATen/ops/masked_fill.h>
#include <ATen/ops/max.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/mean.h>
#include <ATen/ops/minimum.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/norm.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/reciprocal.h>
#include <ATen/ops/round.h>
#include <ATen/ops/rsub.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/scatter.h>
#include <ATen/ops/scatter_add.h>
#include <ATen/ops/sqrt.h>
#include <ATen/ops/squeeze.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/where.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd.h>
#include <c10/util/Optional.h>

#include <cmath>
#include <algorithm>
#include <unordered_map>
#include <vector>

using yt::guard;
using yt::put;
using yt::T;

extern "C" torch_tensor *tt_handle_new(void) {
    try {
        return new torch_tensor{at::Tensor()};
    } catch (...) {
        return nullptr;
    }
}

extern "C" bool tt_defined(const torch_tensor *t) {
    return t && t->t.defined();
}

// B is a tensor or a double: each picks its own libtorch overload (tensor or Scalar comparison).
template <typename B> static at::Tensor compare(const at::Tensor &a, tt_cmp_op op, const B &b) {
    switch (op) {
    case TT_LT:
        return a.lt(b);
    case TT_LE:
        return a.le(b);
    case TT_GT:
        return a.gt(b);
    case TT_GE:
        return a.ge(b);
    case TT_EQ:
        return a.eq(b);
    case TT_NE:
        return a.ne(b);
    }
    throw yt::usage_error("unknown comparison");
}

extern "C" yolo_status tt_cmp(const torch_tensor *a, tt_cmp_op op, const torch_tensor *b,
                              torch_tensor **out) {
    return guard("compare", [&] { put(out, compare(T(a), op, T(b))); });
}

extern "C" yolo_status tt_cmp_scalar(const torch_tensor *a, tt_cmp_op op, double s, torch_tensor **out) {
    return guard("compare", [&] { put(out, compare(T(a), op, s)); });
}

extern "C" yolo_status tt_rsub_scalar(double s, const torch_tensor *a, torch_tensor **out) {
    return guard("rsub", [&] { put(out, at::rsub(T(a), s)); });
}

extern "C" yolo_status tt_div_scalar(const torch_tensor *a, double s, torch_tensor **out) {
    return guard("div scalar", [&] { put(out, T(a).div(s)); });
}

extern "C" yolo_status tt_pow_scalar(const torch_tensor *a, double e, torch_tensor **out) {
    return guard("pow", [&] { put(out, T(a).pow(e)); });
}

extern "C" yolo_status tt_atan(const torch_tensor *a, torch_tensor **out) {
    return guard("atan", [&] { put(out, T(a).atan()); });
}

extern "C" yolo_status tt_sqrt(const torch_tensor *a, torch_tensor **out) {
    return guard("sqrt", [&] { put(out, T(a).sqrt()); });
}

extern "C" yolo_status tt_reciprocal(const torch_tensor *a, torch_tensor **out) {
    return guard("reciprocal", [&] { put(out, T(a).reciprocal()); });
}

extern "C" yolo_status tt_minimum(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("minimum", [&] { put(out, at::minimum(T(a), T(b))); });
}

extern "C" yolo_status tt_maximum(const torch_tensor *a, const torch_tensor *b, torch_tensor **out) {
    return guard("maximum", [&] { put(out, at::maximum(T(a), T(b))); });
}

extern "C" yolo_status tt_clamp(const torch_tensor *a, double lo, double hi, torch_tensor **out) {
    return guard("clamp", [&] {
        const at::Tensor &x = T(a);
        // Integer tensors get integer bounds, or type promotion would turn the result float.
        bool integral = at::isIntegralType(x.scalar_type(), true);
        auto bound = [&](double v) {
            return integral && v == std::floor(v) ? at::Scalar((int64_t)v) : at::Scalar(v);
        };
        if (std::isnan(lo) && std::isnan(hi))
            put(out, x.clone());
        else if (std::isnan(hi))
            put(out, at::clamp_min(x, bound(lo)));
        else if (std::isnan(lo))
            put(out, at::clamp_max(x, bound(hi)));
        else
            put(out, at::clamp(x, bound(lo), bound(hi)));
    });
}

extern "C" yolo_status tt_add_int(const torch_tensor *a, int64_t s, torch_tensor **out) {
    return guard("add", [&] { put(out, T(a).add(at::Scalar(s))); });
}

extern "C" yolo_status tt_round(const torch_tensor *a, torch_tensor **out) {
    return guard("round", [&] { put(out, T(a).round()); });
}

extern "C" yolo_status tt_where(const torch_tensor *cond, const torch_tensor *a, const torch_tensor *b,
                                torch_tensor **out) {
    return guard("where", [&] { put(out, at::where(T(cond), T(a), T(b))); });
}

extern "C" yolo_status tt_where_scalar(const torch_tensor *cond, const torch_tensor *a, double b,
                                       torch_tensor **out) {
    return guard("where", [&] { put(out, at::where(T(cond), T(a), at::scalar_tensor(b, T(a).options()))); });
}

extern "C" yolo_status tt_where_scalar_a(const torch_tensor *cond, double s, const torch_tensor *b,
                                         torch_tensor **out) {
    return guard("where", [&] { put(out, at::where(T(cond), at::scalar_tensor(s, T(b).options()), T(b))); });
}

extern "C" yolo_status tt_amin(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out) {
    return guard("amin", [&] { put(out, at::amin(T(a), {dim}, keepdim)); });
}

extern "C" yolo_status tt_amax(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out) {
    return guard("amax", [&] { put(out, at::amax(T(a), {dim}, keepdim)); });
}

extern "C" yolo_status tt_argmax(const torch_tensor *a, int dim, bool keepdim, torch_tensor **out) {
    return guard("argmax", [&] { put(out, at::argmax(T(a), dim, keepdim)); });
}

extern "C" yolo_status tt_mean_dims(const torch_tensor *a, int ndims, const int *dims, bool keepdim,
                                    torch_tensor **out) {
    return guard("mean", [&] {
        if (ndims < 0 || (ndims > 0 && !dims)) throw yt::usage_error("bad dims");
        std::vector<int64_t> d(dims, dims + ndims);
        put(out, T(a).mean(d, keepdim));
    });
}

extern "C" yolo_status tt_max_value(const torch_tensor *a, double *out) {
    return guard("max", [&] {
        if (!out) throw yt::usage_error("null output pointer");
        *out = T(a).max().item<double>();
    });
}

extern "C" yolo_status tt_norm2(const torch_tensor *a, torch_tensor **out) {
    return guard("norm", [&] { put(out, at::norm(T(a), 2)); });
}

extern "C" yolo_status tt_stack(const torch_tensor *const *xs, int n, int dim, torch_tensor **out) {
    return guard("stack", [&] {
        if (n <= 0 || !xs) throw yt::usage_error("nothing to stack");
        std::vector<at::Tensor> v;
        v.reserve(n);
        for (int i = 0; i < n; i++)
            v.push_back(T(xs[i]));
        put(out, at::stack(v, dim));
    });
}

extern "C" yolo_status tt_topk(const torch_tensor *a, int64_t k, int dim, bool largest, torch_tensor **values,
                               torch_tensor **indices) {
    return guard("topk", [&] {
        auto r = at::topk(T(a), k, dim, largest, true);
        if (values) put(values, std::get<0>(r));
        if (indices) put(indices, std::get<1>(r));
    });
}

extern "C" yolo_status tt_gather(const torch_tensor *a, int dim, const torch_tensor *index,
                                 torch_tensor **out) {
    return guard("gather", [&] { put(out, at::gather(T(a), dim, T(index))); });
}

extern "C" yolo_status tt_index_select(const torch_tensor *a, int dim, const torch_tensor *index,
                                       torch_tensor **out) {
    return guard("index_select", [&] { put(out, at::index_select(T(a), dim, T(index))); });
}

extern "C" yolo_status tt_index_bool(const torch_tensor *a, const torch_tensor *mask, torch_tensor **out) {
    return guard("index", [&] {
        c10::List<c10::optional<at::Tensor>> idx;
        idx.push_back(T(mask));
        put(out, at::index(T(a), idx));
    });
}

extern "C" yolo_status tt_index_put_bool_(torch_tensor *a, const torch_tensor *mask,
                                          const torch_tensor *values) {
    return guard("index_put_", [&] {
        c10::List<c10::optional<at::Tensor>> idx;
        idx.push_back(T(mask));
        yt::M(a).index_put_(idx, T(values));
    });
}

extern "C" yolo_status tt_expand(const torch_tensor *a, int ndim, const int64_t *shape, torch_tensor **out) {
    return guard("expand", [&] {
        if (ndim <= 0 || !shape) throw yt::usage_error("bad shape");
        put(out, T(a).expand(at::IntArrayRef(shape, ndim)));
    });
}

extern "C" yolo_status tt_squeeze(const torch_tensor *a, int dim, torch_tensor **out) {
    return guard("squeeze", [&] { put(out, T(a).squeeze(dim)); });
}

extern "C" yolo_status tt_masked_fill_(torch_tensor *a, const torch_tensor *mask, double value) {
    return guard("masked_fill_", [&] { yt::M(a).masked_fill_(T(mask), value); });
}

extern "C" yolo_status tt_scatter_value_(torch_tensor *a, int dim, const torch_tensor *index, double value) {
    return guard("scatter_", [&] { yt::M(a).scatter_(dim, T(index), value); });
}

extern "C" yolo_status tt_scatter_add_(torch_tensor *a, int dim, const torch_tensor *index,
                                       const torch_tensor *src) {
    return guard("scatter_add_", [&] { yt::M(a).scatter_add_(dim, T(index), T(src)); });
}

extern "C" yolo_status tt_mul_(torch_tensor *a, const torch_tensor *b) {
    return guard("mul_", [&] { yt::M(a).mul_(T(b)); });
}

extern "C" yolo_status tt_add_scalar_(torch_tensor *a, double s) {
    return guard("add_", [&] { yt::M(a).add_(s); });
}

extern "C" yolo_status tt_div_scalar_(torch_tensor *a, double s) {
    return guard("div_", [&] { yt::M(a).div_(s); });
}

extern "C" yolo_status tt_addcmul_(torch_tensor *a, const torch_tensor *b, const torch_tensor *c,
                                   double value) {
    return guard("addcmul_", [&] { yt::M(a).addcmul_(T(b), T(c), value); });
}

extern "C" yolo_status tt_addcdiv_(torch_tensor *a, const torch_tensor *b, const torch_tensor *c,
                                   double value) {
    return guard("addcdiv_", [&] { yt::M(a).addcdiv_(T(b), T(c), value); });
}

namespace {
// The tt_grads_each under way on this thread: its parameters by data pointer, and what was handed over.
struct grads_each {
    std::unordered_map<const void *, int> index;
    std::vector<at::Tensor> handed;
    std::vector<int64_t> version; // of each handed gradient: an in-place change after it shows here
    tt_grad_ready ready;
    void *ctx;
};
thread_local grads_each *each_now = nullptr;

void hand_over(grads_each &e, int i, const at::Tensor &grad) {
    torch_tensor h{grad.reshape({-1})};
    if (e.ready(e.ctx, i, &h) != YOLO_OK) throw std::runtime_error(yolo_last_error());
}
} // namespace

void yt::grad_ready(const at::Tensor &param, const at::Tensor &grad) {
    grads_each *e = each_now;
    if (!e || !param.defined() || !grad.defined()) return;
    auto it = e->index.find(param.data_ptr());
    if (it == e->index.end()) return;
    int i = it->second;
    // a parameter used twice gets the sum of its parts from autograd, not this first part
    if (e->handed[i].defined()) throw yt::usage_error("a parameter is used twice in the graph");
    if (grad.sizes() != param.sizes() || grad.scalar_type() != param.scalar_type())
        throw yt::usage_error("a gradient of another shape or type than its parameter");
    e->handed[i] = grad;
    e->version[i] = grad._version();
    hand_over(*e, i, grad);
}

extern "C" yolo_status tt_grads_each(const torch_tensor *loss, torch_tensor *const *params, int n,
                                     tt_grad_ready ready, void *ctx) {
    return guard("grads", [&] {
        if (n < 1 || !params || !ready) throw yt::usage_error("no parameters or no receiver");
        if (each_now) throw yt::usage_error("tt_grads_each is not reentrant");
        grads_each e;
        e.handed.resize(n), e.version.resize(n), e.ready = ready, e.ctx = ctx;
        std::vector<at::Tensor> ps;
        for (int i = 0; i < n; i++) {
            ps.push_back(T(params[i]));
            e.index[ps.back().data_ptr()] = i;
        }
        each_now = &e;
        std::vector<at::Tensor> gs;
        try {
            gs = torch::autograd::grad({T(loss)}, ps, {}, false, false, true);
        } catch (...) {
            each_now = nullptr;
            throw;
        }
        each_now = nullptr;
        for (int i = 0; i < n; i++) {
            if (e.handed[i].defined()) {
                // what autograd returns must be what was handed over, unchanged since
                if (!gs[i].defined() || !gs[i].is_same(e.handed[i]) || gs[i]._version() != e.version[i])
                    throw yt::usage_error("a gradient changed after it was handed over");
                continue;
            }
            hand_over(e, i, gs[i].defined() ? gs[i] : at::zeros_like(ps[i]));
        }
    });
}

extern "C" yolo_status tt_grads_alias_flat(torch_tensor *const *params, int n, torch_tensor *flat) {
    return guard("flat grads", [&] {
        at::Tensor &f = yt::M(flat);
        int64_t off = 0;
        for (int i = 0; i < n; i++)
            off += T(params[i]).numel();
        if (f.dim() != 1 || f.numel() != off || !f.is_contiguous())
            throw yt::usage_error("the vector does not match the parameters");
        at::NoGradGuard ng;
        off = 0;
        for (int i = 0; i < n; i++) {
            at::Tensor &p = yt::M(params[i]);
            at::Tensor view = f.narrow(0, off, p.numel()).view(p.sizes());
            off += p.numel();
            at::Tensor &g = p.mutable_grad();
            if (g.defined())
                view.copy_(g);
            else
                view.zero_();
            g = view;
        }
    });
}

extern "C" bool tt_grads_are_flat(torch_tensor *const *params, int n, const torch_tensor *flat) {
    if (!flat || !flat->t.defined()) return false;
    const char *base = static_cast<const char *>(flat->t.data_ptr());
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i]) return false;
        const at::Tensor &p = params[i]->t, &g = p.grad();
        if (!g.defined() || g.data_ptr() != base + off * (int64_t)sizeof(float) || !g.is_contiguous())
            return false;
        off += p.numel();
    }
    return true;
}

extern "C" yolo_status tt_set_grad(torch_tensor *t, const torch_tensor *g) {
    return guard("set grad", [&] {
        if (g)
            yt::M(t).mutable_grad() = g->t.detach().clone();
        else
            yt::M(t).mutable_grad().reset();
    });
}

extern "C" yolo_status tt_bce_with_logits(const torch_tensor *logits, const torch_tensor *target,
                                          torch_tensor **out) {
    return guard("bce_with_logits", [&] {
        put(out, at::binary_cross_entropy_with_logits(T(logits), T(target), {}, {}, at::Reduction::None));
    });
}

extern "C" yolo_status tt_cross_entropy(const torch_tensor *logits, const torch_tensor *target, bool mean,
                                        torch_tensor **out) {
    return guard("cross_entropy", [&] {
        put(out, at::cross_entropy_loss(T(logits), T(target), {},
                                        mean ? at::Reduction::Mean : at::Reduction::None, -100, 0.0));
    });
}

extern "C" yolo_status tt_resize_bilinear(const torch_tensor *a, int64_t h, int64_t w, torch_tensor **out) {
    return guard("resize_bilinear", [&] {
        std::vector<int64_t> size{h, w};
        put(out, at::upsample_bilinear2d(T(a), size, false, c10::nullopt, c10::nullopt));
    });
}

extern "C" yolo_status tt_parallel_jobs(const tt_range_job *jobs, int njobs, int64_t grain) {
    if (njobs <= 0) return YOLO_OK;
    if (!jobs) return yolo_error(YOLO_ERR_USAGE, "parallel_jobs: no jobs");
    return guard("parallel_jobs", [&] {
        // One index space over all jobs, so that one parallel region (one wake-up of the pool) covers
        // them all, and a chunk boundary may fall anywhere, inside a job or between jobs.
        std::vector<int64_t> start(static_cast<size_t>(njobs) + 1, 0);
        for (int j = 0; j < njobs; j++)
            start[j + 1] = start[j] + (jobs[j].n > 0 ? jobs[j].n : 0);
        int64_t total = start[njobs];
        auto run = [&](int64_t b, int64_t e) {
            int j = static_cast<int>(std::upper_bound(start.begin(), start.end(), b) - start.begin()) - 1;
            for (; j < njobs && start[j] < e; j++) {
                int64_t lo = std::max(b, start[j]) - start[j], hi = std::min(e, start[j + 1]) - start[j];
                if (hi > lo) jobs[j].fn(jobs[j].ctx, lo, hi);
            }
        };
        if (total < grain || at::get_num_threads() <= 1 || at::in_parallel_region())
            run(0, total);
        else
            yt::parallel_for(0, total, grain < 1 ? 1 : grain, run);
    });
}
