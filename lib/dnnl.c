/* Blocked-layout convolutions through libtorch's own oneDNN (see dnnl_conv.h for why).
 *
 * Each convolution is made as libtorch 1.13 (ideep) makes it: forward_training, direct algorithm,
 * every memory format left to oneDNN ("any"), user-managed scratchpad, and the backward primitives
 * hinted by the forward one. oneDNN then picks the same implementation, so the results are the same
 * bits. Where oneDNN wants a layout other than the caller's (plain weights, a plain first-layer input,
 * a plain head output), the data is reordered, as libtorch does. */
#include "dnnl_conv.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The functions used, called through pointers taken from the copy libtorch loaded (see load). */
#define DNNL_FUNCTIONS(X)                                                                                    \
    X(dnnl_version)                                                                                          \
    X(dnnl_engine_create)                                                                                    \
    X(dnnl_stream_create)                                                                                    \
    X(dnnl_memory_desc_init_by_tag)                                                                          \
    X(dnnl_memory_desc_init_by_strides)                                                                      \
    X(dnnl_memory_desc_get_size)                                                                             \
    X(dnnl_memory_desc_equal)                                                                                \
    X(dnnl_memory_create)                                                                                    \
    X(dnnl_memory_set_data_handle)                                                                           \
    X(dnnl_convolution_forward_desc_init)                                                                    \
    X(dnnl_convolution_backward_data_desc_init)                                                              \
    X(dnnl_convolution_backward_weights_desc_init)                                                           \
    X(dnnl_primitive_desc_create)                                                                            \
    X(dnnl_primitive_desc_query_md)                                                                          \
    X(dnnl_reorder_primitive_desc_create)                                                                    \
    X(dnnl_primitive_create)                                                                                 \
    X(dnnl_primitive_execute)                                                                                \
    X(dnnl_primitive_attr_create)                                                                            \
    X(dnnl_primitive_attr_set_scratchpad_mode)                                                               \
    X(dnnl_primitive_desc_destroy)                                                                           \
    X(dnnl_primitive_destroy)                                                                                \
    X(dnnl_memory_destroy)

static struct {
#define DNNL_POINTER(f) __typeof__(f) *f;
    DNNL_FUNCTIONS(DNNL_POINTER)
#undef DNNL_POINTER
} api;

typedef dnnl_memory_desc_t md_t;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_primitive_attr_t attr;
static bool usable;

/* ---- layouts ---- */

static void dims4(dnnl_dims_t d, int64_t a, int64_t b, int64_t c, int64_t e) {
    memset(d, 0, sizeof(dnnl_dims_t));
    d[0] = a, d[1] = b, d[2] = c, d[3] = e;
}

static bool plain_md(md_t *md, int nd, const int64_t *sizes) {
    dnnl_dims_t d, s;
    memset(d, 0, sizeof d), memset(s, 0, sizeof s);
    int64_t stride = 1;
    for (int i = nd - 1; i >= 0; i--)
        d[i] = sizes[i], s[i] = stride, stride *= sizes[i];
    return api.dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, s) == dnnl_success;
}

static bool tag_md(md_t *md, int64_t n, int64_t c, int64_t h, int64_t w, dnnl_format_tag_t tag) {
    dnnl_dims_t d;
    dims4(d, n, c, h, w);
    return api.dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, tag) == dnnl_success;
}

/* Whether the library's nChw16c places element (n, c, h, w) of a plain tensor at
 * [n][c/16][h][w][c%16], the layout lib/bnorm.c and lib/torch_blocked.cpp compute on: checked by
 * reordering known values, once, so that a library that numbers or lays it out otherwise is not used. */
static bool blocked_layout_holds(void) {
    enum { N = 2, C = 32, H = 3, W = 2, COUNT = N * C * H * W };
    float plain[COUNT], blocked[COUNT];
    for (int i = 0; i < COUNT; i++)
        plain[i] = (float)i;
    int64_t sz[4] = {N, C, H, W};
    md_t pmd, bmd;
    if (!plain_md(&pmd, 4, sz) || !tag_md(&bmd, N, C, H, W, dnnl_nChw16c) ||
        api.dnnl_memory_desc_get_size(&bmd) != sizeof blocked)
        return false;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t a = NULL, b = NULL;
    bool ok = api.dnnl_reorder_primitive_desc_create(&pd, &pmd, engine, &bmd, engine, NULL) == dnnl_success &&
              api.dnnl_primitive_create(&p, pd) == dnnl_success &&
              api.dnnl_memory_create(&a, &pmd, engine, plain) == dnnl_success &&
              api.dnnl_memory_create(&b, &bmd, engine, blocked) == dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_DST, b}};
    ok = ok && api.dnnl_primitive_execute(p, stream, 2, args) == dnnl_success;
    for (int i = 0; ok && i < COUNT; i++) {
        int n = i / (C * H * W), c = i / (H * W) % C, h = i / W % H, w = i % W;
        ok = blocked[(((n * (C / DNNL_BLOCK) + c / DNNL_BLOCK) * H + h) * W + w) * DNNL_BLOCK +
                     c % DNNL_BLOCK] == (float)i;
    }
    if (a) api.dnnl_memory_destroy(a);
    if (b) api.dnnl_memory_destroy(b);
    if (p) api.dnnl_primitive_destroy(p);
    if (pd) api.dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool load_symbols(void *h) {
#define DNNL_LOOKUP(f)                                                                                       \
    if (!(*(void **)&api.f = dlsym(h, #f))) return false;
    DNNL_FUNCTIONS(DNNL_LOOKUP)
#undef DNNL_LOOKUP
    return true;
}

/* The engine, stream and attributes live as long as the process, like libtorch's. */
static void load(void) {
    if (getenv("YOLO_BLOCKED") && !strcmp(getenv("YOLO_BLOCKED"), "0")) return;
    /* RTLD_NOLOAD: only the library libtorch already uses; never a second copy */
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (!h || !load_symbols(h)) return;
    /* the descriptors are the headers' structs: the library must be their version */
    const dnnl_version_t *v = api.dnnl_version();
    if (v->major != DNNL_VERSION_MAJOR || v->minor != DNNL_VERSION_MINOR) return;
    if (api.dnnl_engine_create(&engine, dnnl_cpu, 0) ||
        api.dnnl_stream_create(&stream, engine, dnnl_stream_in_order) ||
        api.dnnl_primitive_attr_create(&attr) ||
        api.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))
        return;
    usable = blocked_layout_holds();
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

bool dnnl_available(void) {
    pthread_once(&load_once, load);
    return usable;
}

/* ---- one argument of a primitive: the caller's layout and the primitive's ---- */

typedef struct {
    md_t user;             /* the caller's layout */
    const md_t *prim;      /* the primitive's (owned by its descriptor) */
    bool same;             /* no reorder needed */
    dnnl_primitive_t conv; /* reorder user -> prim (inputs) or prim -> user (outputs) */
    dnnl_memory_t mu, mp;  /* memory objects, data handles set per call */
    size_t prim_bytes;
    int exec_arg; /* DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, ... */
} arg_t;

static yolo_status fail(const char *what) {
    return yolo_error(YOLO_ERR_TORCH,
                      "oneDNN: could not %s (set YOLO_BLOCKED=0 to use libtorch's convolution)", what);
}

static yolo_status arg_init(arg_t *a, const md_t *prim, int exec_arg, bool input) {
    a->prim = prim;
    a->exec_arg = exec_arg;
    a->same = api.dnnl_memory_desc_equal(&a->user, prim);
    a->prim_bytes = api.dnnl_memory_desc_get_size(prim);
    if (api.dnnl_memory_create(&a->mu, &a->user, engine, NULL) ||
        api.dnnl_memory_create(&a->mp, prim, engine, NULL))
        return fail("create a memory object");
    if (a->same) return YOLO_OK;
    dnnl_primitive_desc_t pd = NULL;
    const md_t *from = input ? &a->user : prim, *to = input ? prim : &a->user;
    bool ok = api.dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL) == 0 &&
              api.dnnl_primitive_create(&a->conv, pd) == 0;
    if (pd) api.dnnl_primitive_desc_destroy(pd); /* the primitive keeps what it needs */
    return ok ? YOLO_OK : fail("create a reorder");
}

static void *alloc_floats(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* Points the primitive's memory at data in the caller's layout, reordering into *tmp when they differ. */
static yolo_status arg_in(arg_t *a, const void *data, void **tmp) {
    *tmp = NULL;
    if (a->same)
        return api.dnnl_memory_set_data_handle(a->mp, (void *)data) ? fail("set a data handle") : YOLO_OK;
    if (!(*tmp = alloc_floats(a->prim_bytes)))
        return yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN reorder)");
    if (api.dnnl_memory_set_data_handle(a->mu, (void *)data) || api.dnnl_memory_set_data_handle(a->mp, *tmp))
        return fail("set a data handle");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, a->mu}, {DNNL_ARG_DST, a->mp}};
    return api.dnnl_primitive_execute(a->conv, stream, 2, args) ? fail("reorder an input") : YOLO_OK;
}

/* Where the primitive writes an output for the caller's buffer (a temporary when layouts differ). */
static yolo_status arg_out(arg_t *a, void *data, void **tmp) {
    *tmp = NULL;
    if (!a->same && !(*tmp = alloc_floats(a->prim_bytes)))
        return yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN reorder)");
    return api.dnnl_memory_set_data_handle(a->mp, a->same ? data : *tmp) ? fail("set a data handle")
                                                                         : YOLO_OK;
}

static yolo_status arg_out_finish(arg_t *a, void *data) {
    if (a->same) return YOLO_OK;
    if (api.dnnl_memory_set_data_handle(a->mu, data)) return fail("set a data handle");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, a->mp}, {DNNL_ARG_DST, a->mu}};
    return api.dnnl_primitive_execute(a->conv, stream, 2, args) ? fail("reorder an output") : YOLO_OK;
}

/* ---- convolutions ---- */

typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
    size_t scratch_bytes;
} prim_t;

struct dnnl_conv {
    dnnl_conv_shape s;
    int64_t oh, ow;
    prim_t fwd, bwd_data, bwd_weights;
    /* forward: src, weights, dst; backward data: diff_dst, weights, diff_src; backward weights: src,
     * diff_dst, diff_weights (bias stays plain: a vector has one layout) */
    arg_t f_src, f_wei, f_dst, d_ddst, d_wei, d_dsrc, w_src, w_ddst, w_dwei;
    md_t bias;
    dnnl_memory_t m_bias;
    struct dnnl_conv *next;
};

static yolo_status prim_init(prim_t *p, const dnnl_convolution_desc_t *d, dnnl_primitive_desc_t hint) {
    if (api.dnnl_primitive_desc_create(&p->pd, d, attr, engine, hint) ||
        api.dnnl_primitive_create(&p->p, p->pd))
        return fail("create a convolution primitive");
    const md_t *smd = api.dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
    p->scratch_bytes = smd ? api.dnnl_memory_desc_get_size(smd) : 0;
    if (p->scratch_bytes && api.dnnl_memory_create(&p->scratch, smd, engine, NULL))
        return fail("create a memory object");
    return YOLO_OK;
}

/* One scratchpad for all primitives, grown to the largest: a fresh block per call would be fresh
 * pages to fault in, each time (libtorch keeps its scratchpads too). */
static void *scratch_buf;
static size_t scratch_cap;
static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;

static yolo_status prim_run(prim_t *p, dnnl_exec_arg_t *args, int n) {
    pthread_mutex_lock(&scratch_lock);
    if (p->scratch_bytes > scratch_cap) {
        free(scratch_buf);
        scratch_cap = 0;
        if (!(scratch_buf = alloc_floats(p->scratch_bytes))) {
            pthread_mutex_unlock(&scratch_lock);
            return yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN scratchpad)");
        }
        scratch_cap = p->scratch_bytes;
    }
    if (p->scratch_bytes) {
        api.dnnl_memory_set_data_handle(p->scratch, scratch_buf);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    }
    int rc = api.dnnl_primitive_execute(p->p, stream, n, args);
    pthread_mutex_unlock(&scratch_lock);
    return rc ? fail("run a convolution") : YOLO_OK;
}

static yolo_status conv_user_layouts(dnnl_conv *c) {
    const dnnl_conv_shape *s = &c->s;
    int64_t wsz[4] = {s->oc, s->ic, s->k, s->k}, xsz[4] = {s->n, s->ic, s->ih, s->iw},
            ysz[4] = {s->n, s->oc, c->oh, c->ow}, bsz[1] = {s->oc};
    bool ok = plain_md(&c->f_wei.user, 4, wsz) && plain_md(&c->bias, 1, bsz);
    ok = ok && (s->src_plain ? plain_md(&c->f_src.user, 4, xsz)
                             : tag_md(&c->f_src.user, s->n, s->ic, s->ih, s->iw, dnnl_nChw16c));
    ok = ok && (s->dst_plain ? plain_md(&c->f_dst.user, 4, ysz)
                             : tag_md(&c->f_dst.user, s->n, s->oc, c->oh, c->ow, dnnl_nChw16c));
    if (!ok) return fail("describe a tensor");
    c->d_wei.user = c->w_dwei.user = c->f_wei.user;
    c->d_dsrc.user = c->w_src.user = c->f_src.user;
    c->d_ddst.user = c->w_ddst.user = c->f_dst.user;
    return YOLO_OK;
}

static yolo_status conv_make(const dnnl_conv_shape *s, dnnl_conv *c) {
    c->s = *s;
    c->oh = (s->ih + 2 * s->pad - s->k) / s->stride + 1;
    c->ow = (s->iw + 2 * s->pad - s->k) / s->stride + 1;
    yolo_status st = conv_user_layouts(c);
    if (st != YOLO_OK) return st;
    md_t xa, wa, ya;
    if (!tag_md(&xa, s->n, s->ic, s->ih, s->iw, dnnl_format_tag_any) ||
        !tag_md(&wa, s->oc, s->ic, s->k, s->k, dnnl_format_tag_any) ||
        !tag_md(&ya, s->n, s->oc, c->oh, c->ow, dnnl_format_tag_any))
        return fail("describe a tensor");
    dnnl_dims_t strides = {s->stride, s->stride}, pl = {s->pad, s->pad}, pr;
    memset(pr, 0, sizeof pr);
    pr[0] = (c->oh - 1) * s->stride + s->k - s->ih - s->pad;
    pr[1] = (c->ow - 1) * s->stride + s->k - s->iw - s->pad;
    const md_t *bias = s->bias ? &c->bias : NULL;
    dnnl_convolution_desc_t d;
    if (api.dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &xa, &wa,
                                               bias, &ya, strides, pl, pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->fwd, &d, NULL)) != YOLO_OK) return st;
    if (api.dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &xa, &wa, &ya, strides, pl,
                                                     pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->bwd_data, &d, c->fwd.pd)) != YOLO_OK) return st;
    if (api.dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &xa, &wa, bias, &ya,
                                                        strides, pl, pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->bwd_weights, &d, c->fwd.pd)) != YOLO_OK) return st;
    struct {
        arg_t *a;
        prim_t *p;
        dnnl_query_t query;
        int exec_arg;
        bool input;
    } args[] = {
        {&c->f_src, &c->fwd, dnnl_query_src_md, DNNL_ARG_SRC, true},
        {&c->f_wei, &c->fwd, dnnl_query_weights_md, DNNL_ARG_WEIGHTS, true},
        {&c->f_dst, &c->fwd, dnnl_query_dst_md, DNNL_ARG_DST, false},
        {&c->d_ddst, &c->bwd_data, dnnl_query_diff_dst_md, DNNL_ARG_DIFF_DST, true},
        {&c->d_wei, &c->bwd_data, dnnl_query_weights_md, DNNL_ARG_WEIGHTS, true},
        {&c->d_dsrc, &c->bwd_data, dnnl_query_diff_src_md, DNNL_ARG_DIFF_SRC, false},
        {&c->w_src, &c->bwd_weights, dnnl_query_src_md, DNNL_ARG_SRC, true},
        {&c->w_ddst, &c->bwd_weights, dnnl_query_diff_dst_md, DNNL_ARG_DIFF_DST, true},
        {&c->w_dwei, &c->bwd_weights, dnnl_query_diff_weights_md, DNNL_ARG_DIFF_WEIGHTS, false},
    };
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        const md_t *md = api.dnnl_primitive_desc_query_md(args[i].p->pd, args[i].query, 0);
        if ((st = arg_init(args[i].a, md, args[i].exec_arg, args[i].input)) != YOLO_OK) return st;
    }
    if (s->bias && api.dnnl_memory_create(&c->m_bias, &c->bias, engine, NULL))
        return fail("create a memory object");
    return YOLO_OK;
}

/* Shapes seen so far. Primitives are never freed: a process meets a few hundred shapes at most
 * (layers x batch sizes), and oneDNN's generated kernels are what makes a second use cheap. */
static dnnl_conv *convs;
static pthread_mutex_t convs_lock = PTHREAD_MUTEX_INITIALIZER;

yolo_status dnnl_conv_get(const dnnl_conv_shape *s, dnnl_conv **out) {
    if (!dnnl_available()) return yolo_error(YOLO_ERR_USAGE, "oneDNN blocked convolutions are not available");
    pthread_mutex_lock(&convs_lock);
    dnnl_conv *c = convs;
    while (c && memcmp(&c->s, s, sizeof *s))
        c = c->next;
    yolo_status st = YOLO_OK;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            st = yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN convolution)");
        else if ((st = conv_make(s, c)) != YOLO_OK)
            free(c), c = NULL; /* half-made handles stay with oneDNN */
        else
            c->next = convs, convs = c;
    }
    pthread_mutex_unlock(&convs_lock);
    *out = c;
    return st;
}

void dnnl_conv_out_hw(const dnnl_conv *c, int64_t *oh, int64_t *ow) {
    *oh = c->oh, *ow = c->ow;
}

/* One primitive call: two inputs and an output in the caller's layouts (reordered around the call
 * where the primitive wants others), and the bias, plain, when the shape has one and bias_arg is set. */
static yolo_status run(dnnl_conv *c, prim_t *p, arg_t *in0, const void *d0, arg_t *in1, const void *d1,
                       arg_t *out, void *dout, int bias_arg, void *bias) {
    void *t0 = NULL, *t1 = NULL, *tout = NULL;
    yolo_status st = arg_in(in0, d0, &t0);
    if (st == YOLO_OK) st = arg_in(in1, d1, &t1);
    if (st == YOLO_OK) st = arg_out(out, dout, &tout);
    if (st == YOLO_OK) {
        dnnl_exec_arg_t args[5] = {
            {in0->exec_arg, in0->mp}, {in1->exec_arg, in1->mp}, {out->exec_arg, out->mp}};
        int n = 3;
        if (c->s.bias && bias_arg) {
            api.dnnl_memory_set_data_handle(c->m_bias, bias);
            args[n++] = (dnnl_exec_arg_t){bias_arg, c->m_bias};
        }
        st = prim_run(p, args, n);
    }
    if (st == YOLO_OK) st = arg_out_finish(out, dout);
    free(t0), free(t1), free(tout);
    return st;
}

yolo_status dnnl_conv_forward(dnnl_conv *c, const float *src, const float *weights, const float *bias,
                              float *dst) {
    return run(c, &c->fwd, &c->f_src, src, &c->f_wei, weights, &c->f_dst, dst, DNNL_ARG_BIAS, (void *)bias);
}

yolo_status dnnl_conv_backward_data(dnnl_conv *c, const float *diff_dst, const float *weights,
                                    float *diff_src) {
    return run(c, &c->bwd_data, &c->d_ddst, diff_dst, &c->d_wei, weights, &c->d_dsrc, diff_src, 0, NULL);
}

yolo_status dnnl_conv_backward_weights(dnnl_conv *c, const float *src, const float *diff_dst,
                                       float *diff_weights, float *diff_bias) {
    return run(c, &c->bwd_weights, &c->w_src, src, &c->w_ddst, diff_dst, &c->w_dwei, diff_weights,
               DNNL_ARG_DIFF_BIAS, diff_bias);
}
