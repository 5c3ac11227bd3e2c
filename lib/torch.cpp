// libtorch wrapper: runtime, handles, creation, data movement and autograd.
// The layer and arithmetic ops are in torch_ops.cpp (split to keep rebuilds short).
#include "torch_internal.hpp"

#include "yolo/blas.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// libtorch's calls to the BLAS's sgemm_ go to lib/blas.c's (yolo/blas.h says why): referring to it
// here puts it in every program that links this wrapper, and so before libblas.so.3 in the lookup.
[[gnu::used]] static void *const libtorch_sgemm = reinterpret_cast<void *>(&sgemm_);

namespace yt {

static std::string first_line(const char *s) {
    std::string m(s ? s : "");
    size_t nl = m.find('\n');
    if (nl != std::string::npos) m.resize(nl);
    while (!m.empty() && (m.back() == ' ' || m.back() == '\r' || m.back() == '.'))
        m.pop_back();
    return m;
}

yolo_status fail_current(const char *what) noexcept {
    try {
        throw;
    } catch (const usage_error &e) {
        return yolo_error(YOLO_ERR_USAGE, "%s: %s", what, e.what());
    } catch (const c10::Error &e) {
        return yolo_error(YOLO_ERR_TORCH, "%s: %s", what, first_line(e.what_without_backtrace()).c_str());
    } catch (const std::bad_alloc &) {
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", what);
    } catch (const std::exception &e) {
        return yolo_error(YOLO_ERR_TORCH, "%s: %s", what, first_line(e.what()).c_str());
    } catch (...) {
        return yolo_error(YOLO_ERR_TORCH, "%s: unknown libtorch exception", what);
    }
}

c10::ScalarType scalar_type(torch_dtype dt) {
    switch (dt) {
    case TORCH_F32:
        return at::kFloat;
    case TORCH_F16:
        return at::kHalf;
    case TORCH_BF16:
        return at::kBFloat16;
    case TORCH_F64:
        return at::kDouble;
    case TORCH_I64:
        return at::kLong;
    case TORCH_I32:
        return at::kInt;
    case TORCH_I16:
        return at::kShort;
    case TORCH_I8:
        return at::kChar;
    case TORCH_U8:
        return at::kByte;
    case TORCH_BOOL:
        return at::kBool;
    }
    throw usage_error("unknown dtype " + std::to_string((int)dt));
}

torch_dtype dtype_of(c10::ScalarType st) {
    switch (st) {
    case at::kFloat:
        return TORCH_F32;
    case at::kHalf:
        return TORCH_F16;
    case at::kBFloat16:
        return TORCH_BF16;
    case at::kDouble:
        return TORCH_F64;
    case at::kLong:
        return TORCH_I64;
    case at::kInt:
        return TORCH_I32;
    case at::kShort:
        return TORCH_I16;
    case at::kChar:
        return TORCH_I8;
    case at::kByte:
        return TORCH_U8;
    case at::kBool:
        return TORCH_BOOL;
    default:
        return TORCH_F32;
    }
}

c10::Device device(torch_device dev) {
    if (dev < 0) return c10::Device(c10::kCPU);
    return c10::Device(c10::kCUDA, (c10::DeviceIndex)dev);
}

at::TensorOptions options(torch_dtype dt, torch_device dev) {
    return at::TensorOptions().dtype(scalar_type(dt)).device(device(dev));
}

std::vector<int64_t> shape_vec(int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > 16 || (ndim > 0 && !shape))
        throw usage_error("bad shape (ndim " + std::to_string(ndim) + ")");
    std::vector<int64_t> v(shape, shape + ndim);
    for (int64_t s : v)
        if (s < 0) throw usage_error("negative size in shape");
    return v;
}

namespace {

// libgomp's entry points, looked up in the process: libtorch's own runtime, whichever file it is.
struct gomp_api {
    void (*parallel)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
    int (*thread_num)(void);
    int (*num_threads)(void);
};

const gomp_api *gomp() {
    static gomp_api api;
    static std::once_flag once;
    std::call_once(once, [] {
        api.parallel = reinterpret_cast<decltype(api.parallel)>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
        api.thread_num =
            reinterpret_cast<decltype(api.thread_num)>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
        api.num_threads =
            reinterpret_cast<decltype(api.num_threads)>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    });
    return api.parallel && api.thread_num && api.num_threads ? &api : nullptr;
}

struct region {
    const gomp_api *g;
    int64_t begin, end, grain;
    const std::function<void(int64_t, int64_t)> *f;
    std::atomic_flag failed = ATOMIC_FLAG_INIT;
    std::exception_ptr error;
};

// One thread's part, chunked as ATen's invoke_parallel chunks.
void region_part(void *p) {
    region *r = static_cast<region *>(p);
    int64_t n = r->end - r->begin, threads = r->g->num_threads();
    if (r->grain > 0) threads = std::min(threads, (n + r->grain - 1) / r->grain);
    int64_t tid = r->g->thread_num(), chunk = (n + threads - 1) / threads, b = r->begin + tid * chunk;
    if (b >= r->end) return;
    try {
        at::internal::ThreadIdGuard guard(tid);
        (*r->f)(b, std::min(r->end, b + chunk));
    } catch (...) {
        if (!r->failed.test_and_set()) r->error = std::current_exception();
    }
}

} // namespace

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)> &f) {
    if (begin >= end) return;
    at::internal::lazy_init_num_threads();
    const gomp_api *g = gomp();
    int64_t n = end - begin;
    if (!g || n <= grain || n <= 1 || at::in_parallel_region() || at::get_num_threads() <= 1) {
        at::internal::ThreadIdGuard guard(0);
        f(begin, end);
        return;
    }
    region r;
    r.g = g, r.begin = begin, r.end = end, r.grain = grain, r.f = &f;
    g->parallel(region_part, &r, 0, 0);
    if (r.error) std::rethrow_exception(r.error);
}

} // namespace yt

using yt::guard;
using yt::put;
using yt::T;

/* ---- runtime ---- */

static const char *libtorch_path(void) {
    // Names the shared object actually loaded, so an error says which libtorch is in use.
    static char path[512];
    if (!path[0]) {
        Dl_info info;
        void *sym = reinterpret_cast<void *>(&at::set_num_threads);
        if (dladdr(sym, &info) && info.dli_fname)
            snprintf(path, sizeof path, "%s", info.dli_fname);
        else
            snprintf(path, sizeof path, "(static)");
    }
    return path;
}

extern "C" bool torch_cuda_available(void) {
    try {
        return at::hasCUDA();
    } catch (...) {
        return false;
    }
}

extern "C" const char *torch_version_string(void) {
    static char buf[128];
    if (!buf[0])
        snprintf(buf, sizeof buf, "libtorch %s (%s)", TORCH_VERSION,
                 torch_cuda_available() ? "CUDA" : "CPU only");
    return buf;
}

extern "C" yolo_status torch_device_parse(const char *spec, torch_device *out) {
    if (!spec || !out) return yolo_error(YOLO_ERR_USAGE, "device: missing device name");
    if (!strcmp(spec, "cpu") || !strcmp(spec, "")) {
        *out = TORCH_CPU;
        return YOLO_OK;
    }
    const char *num = nullptr;
    if (!strcmp(spec, "cuda"))
        num = "0";
    else if (!strncmp(spec, "cuda:", 5))
        num = spec + 5;
    else if (spec[0] >= '0' && spec[0] <= '9')
        num = spec;
    if (!num)
        return yolo_error(YOLO_ERR_USAGE, "device %s: unknown device (use cpu, cuda, cuda:N or N)", spec);
    if (!torch_cuda_available())
        return yolo_error(YOLO_ERR_USAGE,
                          "device %s: libtorch %s (%s) was built without CUDA (use device=cpu, or build with "
                          "make LIBTORCH=/path/to/cuda-libtorch)",
                          spec, TORCH_VERSION, libtorch_path());
    char *end = nullptr;
    errno = 0;
    long idx = strtol(num, &end, 10);
    if (end == num || *end || errno || idx < 0 || idx > 1023)
        return yolo_error(YOLO_ERR_USAGE, "device %s: bad CUDA device number (use cuda:N; one device only)",
                          spec);
    long count = 0;
    try {
        count = (long)at::detail::getCUDAHooks().getNumGPUs();
    } catch (...) {
        count = 0;
    }
    if (idx >= count)
        return yolo_error(YOLO_ERR_USAGE, "device %s: no such CUDA device (%ld visible)", spec, count);
    *out = (torch_device)idx;
    return YOLO_OK;
}

static std::atomic<bool> conv_onednn_on{false};

bool yt::conv_onednn() {
    return conv_onednn_on.load(std::memory_order_relaxed);
}

extern "C" bool torch_set_conv_onednn(bool on) {
    return conv_onednn_on.exchange(on);
}

extern "C" yolo_status torch_set_threads(int n) {
    if (n < 1) return yolo_error(YOLO_ERR_USAGE, "threads: %d is not a positive thread count", n);
    // Not at::set_num_threads: it also recreates libtorch's second pool (pthreadpool, used only by
    // its mobile kernels, none of which run here), whose fresh threads spin for tens of milliseconds
    // each time, and ATen calls it again from the first parallel region of each new thread: at 2
    // threads that took 25-40 ms off the cores in every epoch's start. ATen takes an unset count from
    // OMP_NUM_THREADS (its lazy set-up in each thread), so setting both gives it the same count.
    static void (*omp_set)(int) = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    if (!omp_set) return guard("set threads", [&] { at::set_num_threads(n); });
    char v[16];
    snprintf(v, sizeof v, "%d", n);
    if (setenv("OMP_NUM_THREADS", v, 1) != 0) return yolo_nomem();
    omp_set(n);
    return YOLO_OK;
}

extern "C" int torch_threads(void) {
    try {
        return at::get_num_threads();
    } catch (...) {
        return 1;
    }
}

extern "C" yolo_status torch_manual_seed(uint64_t seed) {
    return guard("manual seed", [&] { at::manual_seed(seed); });
}

extern "C" bool torch_set_grad_enabled(bool enabled) {
    bool was = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(enabled);
    return was;
}

extern "C" bool torch_grad_enabled(void) {
    return c10::GradMode::is_enabled();
}

/* ---- handles ---- */

extern "C" void torch_free(torch_tensor *t) {
    delete t;
}

extern "C" void torch_freep(torch_tensor **t) {
    if (t) {
        delete *t;
        *t = nullptr;
    }
}

extern "C" yolo_status torch_alias(const torch_tensor *t, torch_tensor **out) {
    return guard("alias", [&] { put(out, T(t)); });
}

extern "C" yolo_status torch_clone(const torch_tensor *t, torch_tensor **out) {
    return guard("clone", [&] { put(out, T(t).clone()); });
}

extern "C" yolo_status torch_detach(const torch_tensor *t, torch_tensor **out) {
    return guard("detach", [&] { put(out, T(t).detach()); });
}

/* ---- creation ---- */

extern "C" yolo_status torch_empty(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev,
                                   torch_tensor **out) {
    return guard("empty", [&] { put(out, at::empty(yt::shape_vec(ndim, shape), yt::options(dt, dev))); });
}

extern "C" yolo_status torch_zeros(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev,
                                   torch_tensor **out) {
    return guard("zeros", [&] { put(out, at::zeros(yt::shape_vec(ndim, shape), yt::options(dt, dev))); });
}

extern "C" yolo_status torch_ones(int ndim, const int64_t *shape, torch_dtype dt, torch_device dev,
                                  torch_tensor **out) {
    return guard("ones", [&] { put(out, at::ones(yt::shape_vec(ndim, shape), yt::options(dt, dev))); });
}

extern "C" yolo_status torch_full(int ndim, const int64_t *shape, double value, torch_dtype dt,
                                  torch_device dev, torch_tensor **out) {
    return guard("full",
                 [&] { put(out, at::full(yt::shape_vec(ndim, shape), value, yt::options(dt, dev))); });
}

extern "C" yolo_status torch_from_data(const void *data, torch_dtype dt, int ndim, const int64_t *shape,
                                       torch_tensor **out) {
    return guard("from data", [&] {
        auto sv = yt::shape_vec(ndim, shape);
        at::Tensor t = at::empty(sv, yt::options(dt, TORCH_CPU));
        if (t.numel() > 0) {
            if (!data) throw yt::usage_error("null data pointer");
            memcpy(t.data_ptr(), data, t.nbytes());
        }
        put(out, std::move(t));
    });
}

extern "C" yolo_status torch_arange(int64_t n, torch_dtype dt, torch_device dev, torch_tensor **out) {
    return guard("arange", [&] { put(out, at::arange(n, yt::options(dt, dev))); });
}

/* ---- information ---- */

extern "C" int torch_ndim(const torch_tensor *t) {
    return t && t->t.defined() ? (int)t->t.dim() : 0;
}

extern "C" int64_t torch_size(const torch_tensor *t, int dim) {
    int nd = torch_ndim(t);
    if (dim < 0) dim += nd;
    if (dim < 0 || dim >= nd) return -1;
    return t->t.size(dim);
}

extern "C" int torch_shape(const torch_tensor *t, int64_t *shape, int cap) {
    int nd = torch_ndim(t);
    for (int i = 0; i < nd && i < cap; i++)
        shape[i] = t->t.size(i);
    return nd;
}

extern "C" int64_t torch_numel(const torch_tensor *t) {
    return t && t->t.defined() ? t->t.numel() : 0;
}

extern "C" torch_dtype torch_dtype_of(const torch_tensor *t) {
    return t && t->t.defined() ? yt::dtype_of(t->t.scalar_type()) : TORCH_F32;
}

extern "C" torch_device torch_device_of(const torch_tensor *t) {
    if (!t || !t->t.defined() || t->t.device().is_cpu()) return TORCH_CPU;
    return (torch_device)t->t.device().index();
}

extern "C" bool torch_is_contiguous(const torch_tensor *t) {
    return t && t->t.defined() && t->t.is_contiguous();
}

extern "C" void *torch_data_ptr(const torch_tensor *t) {
    if (!t || !t->t.defined() || !t->t.device().is_cpu() || !t->t.is_contiguous()) return nullptr;
    return t->t.data_ptr();
}

/* ---- moving data ---- */

extern "C" yolo_status torch_copy_out(const torch_tensor *t, torch_dtype dt, void *dst, int64_t count) {
    return guard("copy out", [&] {
        const at::Tensor &x = T(t);
        if (x.numel() != count)
            throw yt::usage_error("tensor has " + std::to_string(x.numel()) + " elements, buffer " +
                                  std::to_string(count));
        if (count == 0) return;
        if (!dst) throw yt::usage_error("null destination");
        auto st = yt::scalar_type(dt);
        at::Tensor host = at::from_blob(dst, x.sizes(), at::TensorOptions().dtype(st));
        host.copy_(x.detach());
    });
}

extern "C" yolo_status torch_copy_in(torch_tensor *t, const void *src, torch_dtype dt, int64_t count) {
    return guard("copy in", [&] {
        at::Tensor &x = yt::M(t);
        if (x.numel() != count)
            throw yt::usage_error("tensor has " + std::to_string(x.numel()) + " elements, buffer " +
                                  std::to_string(count));
        if (count == 0) return;
        if (!src) throw yt::usage_error("null source");
        at::Tensor host =
            at::from_blob(const_cast<void *>(src), x.sizes(), at::TensorOptions().dtype(yt::scalar_type(dt)));
        at::NoGradGuard ng;
        x.copy_(host);
    });
}

extern "C" yolo_status torch_item(const torch_tensor *t, double *out) {
    return guard("item", [&] {
        if (!out) throw yt::usage_error("null output");
        *out = T(t).item<double>();
    });
}

extern "C" yolo_status torch_to(const torch_tensor *t, torch_dtype dt, torch_device dev, torch_tensor **out) {
    return guard("to", [&] { put(out, T(t).to(yt::options(dt, dev))); });
}

extern "C" yolo_status torch_contiguous(const torch_tensor *t, torch_tensor **out) {
    return guard("contiguous", [&] { put(out, T(t).contiguous()); });
}

extern "C" yolo_status torch_channels_last(const torch_tensor *t, torch_tensor **out) {
    return guard("channels_last", [&] { put(out, T(t).contiguous(at::MemoryFormat::ChannelsLast)); });
}

extern "C" bool torch_is_channels_last(const torch_tensor *t) {
    return t && t->t.defined() && t->t.dim() == 4 && t->t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// A fresh tensor of x's values laid out as mf. It is always a new one: a 1x1 kernel's row-major
// strides already pass is_contiguous(ChannelsLast), yet convolutions pick their layout from the
// strides themselves, so only freshly made channels-last strides make them choose it.
static at::Tensor relaid(const at::Tensor &x, at::MemoryFormat mf) {
    at::Tensor n = at::empty(x.sizes(), x.options().memory_format(mf));
    at::NoGradGuard ng;
    n.copy_(x.detach());
    return n;
}

extern "C" yolo_status torch_set_channels_last_(torch_tensor *t, bool on) {
    return guard("set channels_last", [&] {
        at::Tensor &x = yt::M(t);
        if (x.dim() != 4) throw yt::usage_error("needs a 4-d tensor, not " + std::to_string(x.dim()) + "-d");
        if (!x.is_leaf()) throw yt::usage_error("only a leaf (a parameter or buffer) can be re-laid");
        auto mf = on ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
        at::Tensor n = relaid(x, mf);
        if (x.requires_grad()) n.set_requires_grad(true);
        if (x.is_leaf() && x.grad().defined()) n.mutable_grad() = relaid(x.grad(), mf);
        x = std::move(n);
    });
}

extern "C" void *torch_dense_data_ptr(const torch_tensor *t) {
    if (!t || !t->t.defined() || !t->t.device().is_cpu() || !t->t.is_non_overlapping_and_dense())
        return nullptr;
    return t->t.data_ptr();
}

extern "C" bool torch_same_layout(const torch_tensor *a, const torch_tensor *b) {
    if (!a || !b || !a->t.defined() || !b->t.defined()) return false;
    return a->t.sizes() == b->t.sizes() && a->t.strides() == b->t.strides();
}

extern "C" yolo_status torch_grad_conform(torch_tensor *t) {
    return guard("grad conform", [&] {
        at::Tensor &x = yt::M(t);
        if (!x.is_leaf()) return;
        const at::Tensor &g = x.grad();
        if (!g.defined() || g.strides() == x.strides() || !x.is_non_overlapping_and_dense()) return;
        at::Tensor n = at::empty_strided(x.sizes(), x.strides(), g.options());
        at::NoGradGuard ng;
        n.copy_(g);
        x.mutable_grad() = n;
    });
}

/* ---- in place ---- */

extern "C" yolo_status torch_copy_(torch_tensor *dst, const torch_tensor *src) {
    return guard("copy_", [&] { yt::M(dst).copy_(T(src)); });
}

extern "C" yolo_status torch_fill_(torch_tensor *t, double value) {
    return guard("fill_", [&] { yt::M(t).fill_(value); });
}

extern "C" yolo_status torch_zero_(torch_tensor *t) {
    return guard("zero_", [&] { yt::M(t).zero_(); });
}

// GCC with -fsanitize=address reports the empty optional<Generator> default argument of uniform_ and
// normal_ as maybe-uninitialized inside c10's headers; it is a constructed nullopt.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
extern "C" yolo_status torch_uniform_(torch_tensor *t, double lo, double hi) {
    return guard("uniform_", [&] { yt::M(t).uniform_(lo, hi); });
}

extern "C" yolo_status torch_normal_(torch_tensor *t, double mean, double std) {
    return guard("normal_", [&] { yt::M(t).normal_(mean, std); });
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

extern "C" yolo_status torch_add_(torch_tensor *t, const torch_tensor *other, double alpha) {
    return guard("add_", [&] { yt::M(t).add_(T(other), alpha); });
}

extern "C" yolo_status torch_mul_scalar_(torch_tensor *t, double s) {
    return guard("mul_", [&] { yt::M(t).mul_(s); });
}

extern "C" yolo_status torch_add_scalar_(torch_tensor *t, double s) {
    return guard("add_", [&] {
        at::Tensor &x = yt::M(t);
        // Integer tensors (BN's num_batches_tracked) need an integer scalar to stay integral.
        if (c10::isIntegralType(x.scalar_type(), true) && s == (double)(int64_t)s)
            x.add_((int64_t)s);
        else
            x.add_(s);
    });
}

/* ---- autograd ---- */

extern "C" yolo_status torch_set_requires_grad(torch_tensor *t, bool requires_grad) {
    return guard("requires_grad", [&] { yt::M(t).set_requires_grad(requires_grad); });
}

extern "C" bool torch_requires_grad(const torch_tensor *t) {
    return t && t->t.defined() && t->t.requires_grad();
}

extern "C" yolo_status torch_backward(const torch_tensor *t, const torch_tensor *grad, bool retain_graph) {
    return guard("backward", [&] {
        std::vector<at::Tensor> outs{T(t)};
        std::vector<at::Tensor> grads;
        if (grad) grads.push_back(grad->t);
        torch::autograd::backward(outs, grads, retain_graph, false);
    });
}

extern "C" bool torch_has_grad(const torch_tensor *t) {
    if (!t || !t->t.defined()) return false;
    try {
        return t->t.grad().defined();
    } catch (...) {
        return false;
    }
}

extern "C" yolo_status torch_grad(const torch_tensor *t, torch_tensor **out) {
    at::Tensor g;
    yolo_status st = guard("grad", [&] { g = T(t).grad(); });
    if (st != YOLO_OK) return st;
    if (!g.defined()) return yolo_error(YOLO_ERR_NOTFOUND, "grad: the tensor has no gradient");
    return guard("grad", [&] { put(out, std::move(g)); });
}

extern "C" void torch_grad_reset(torch_tensor *t) {
    if (!t || !t->t.defined()) return;
    try {
        t->t.mutable_grad().reset();
    } catch (...) {
    }
}
