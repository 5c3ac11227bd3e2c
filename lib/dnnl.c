/* Blocked-layout convolutions through libtorch's own oneDNN (see dnnl.h for why).
 *
 * Each convolution is made as libtorch 1.13 (ideep) makes it: forward_training, direct algorithm,
 * every memory format left to oneDNN ("any"), user-managed scratchpad, and the backward primitives
 * hinted by the forward one. oneDNN then picks the same implementation, so the results are the same
 * bits. Where oneDNN wants a layout other than the caller's (plain weights, a plain first-layer input,
 * a plain head output), the data is reordered, as libtorch does. */
#include "dnnl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- the oneDNN 2.x C API, as much of it as is used ---- */

typedef int64_t dnnl_dims_t[12];
typedef struct dnnl_engine *dnnl_engine_t;
typedef struct dnnl_stream *dnnl_stream_t;
typedef struct dnnl_memory *dnnl_memory_t;
typedef struct dnnl_primitive_desc *dnnl_pd_t;
typedef struct dnnl_primitive *dnnl_primitive_t;
typedef struct dnnl_primitive_attr *dnnl_attr_t;
typedef struct {
    int arg;
    dnnl_memory_t memory;
} dnnl_exec_arg_t;

/* Descriptors are fixed-size public structs in oneDNN 2.x (a memory descriptor is under 1 KiB, an
 * operation descriptor under 4 KiB); only pointers to them cross the API, so room is all they need. */
typedef struct {
    _Alignas(64) unsigned char bytes[2048];
} md_t;
typedef struct {
    _Alignas(64) unsigned char bytes[8192];
} op_desc_t;

enum {
    ENGINE_CPU = 1,
    STREAM_IN_ORDER = 1,
    F32 = 3,
    TAG_ANY = 1,
    FORWARD_TRAINING = 64,
    BACKWARD_DATA = 160,
    BACKWARD_WEIGHTS = 192,
    CONVOLUTION_DIRECT = 1,
    SCRATCHPAD_USER = 1,
    QUERY_SRC = 129,
    QUERY_DIFF_SRC = 130,
    QUERY_WEIGHTS = 131,
    QUERY_DIFF_WEIGHTS = 132,
    QUERY_DST = 133,
    QUERY_DIFF_DST = 134,
    QUERY_SCRATCHPAD = 136,
    ARG_SRC = 1,
    ARG_DST = 17,
    ARG_WEIGHTS = 33,
    ARG_BIAS = 41,
    ARG_SCRATCHPAD = 80,
    ARG_DIFF_SRC = 129,
    ARG_DIFF_DST = 145,
    ARG_DIFF_WEIGHTS = 161,
    ARG_DIFF_BIAS = 169,
};

static struct {
    int (*engine_create)(dnnl_engine_t *, int, size_t);
    int (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
    int (*md_init_by_tag)(md_t *, int, const dnnl_dims_t, int, int);
    int (*md_init_by_strides)(md_t *, int, const dnnl_dims_t, int, const dnnl_dims_t);
    size_t (*md_get_size)(const void *);
    int (*md_equal)(const void *, const void *);
    int (*memory_create)(dnnl_memory_t *, const void *, dnnl_engine_t, void *);
    int (*memory_set_data_handle)(dnnl_memory_t, void *);
    int (*conv_fwd_init)(op_desc_t *, int, int, const md_t *, const md_t *, const md_t *, const md_t *,
                         const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t);
    int (*conv_bwd_data_init)(op_desc_t *, int, const md_t *, const md_t *, const md_t *, const dnnl_dims_t,
                              const dnnl_dims_t, const dnnl_dims_t);
    int (*conv_bwd_weights_init)(op_desc_t *, int, const md_t *, const md_t *, const md_t *, const md_t *,
                                 const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t);
    int (*pd_create)(dnnl_pd_t *, const op_desc_t *, dnnl_attr_t, dnnl_engine_t, dnnl_pd_t);
    const void *(*pd_query_md)(dnnl_pd_t, int, int);
    int (*reorder_pd_create)(dnnl_pd_t *, const void *, dnnl_engine_t, const void *, dnnl_engine_t, dnnl_attr_t);
    int (*primitive_create)(dnnl_primitive_t *, dnnl_pd_t);
    int (*primitive_execute)(dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
    int (*attr_create)(dnnl_attr_t *);
    int (*attr_set_scratchpad_mode)(dnnl_attr_t, int);
    int (*pd_destroy)(dnnl_pd_t);
    int (*primitive_destroy)(dnnl_primitive_t);
    int (*memory_destroy)(dnnl_memory_t);
} api;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_attr_t attr;
static int blocked_tag; /* this library's number for nChw16c, found by probing (see find_blocked_tag) */
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
    for (int i = nd - 1; i >= 0; i--) d[i] = sizes[i], s[i] = stride, stride *= sizes[i];
    return api.md_init_by_strides(md, nd, d, F32, s) == 0;
}

static bool tag_md(md_t *md, int64_t n, int64_t c, int64_t h, int64_t w, int tag) {
    dnnl_dims_t d;
    dims4(d, n, c, h, w);
    return api.md_init_by_tag(md, 4, d, F32, tag) == 0;
}

/* The tag oneDNN numbers nChw16c: the one whose descriptor places element (n, c, h, w) of a plain
 * tensor at [n][c/16][h][w][c%16], checked by reordering known values. Taking the number from the
 * library rather than a header keeps this right for any 2.x release. */
static int find_blocked_tag(void) {
    enum { N = 2, C = 32, H = 3, W = 2, COUNT = N * C * H * W };
    float plain[COUNT], blocked[COUNT];
    for (int i = 0; i < COUNT; i++) plain[i] = (float)i;
    int64_t sz[4] = {N, C, H, W};
    md_t pmd, bmd;
    if (!plain_md(&pmd, 4, sz)) return -1;
    for (int tag = 2; tag < 400; tag++) {
        if (!tag_md(&bmd, N, C, H, W, tag) || api.md_get_size(&bmd) != sizeof blocked) continue;
        dnnl_pd_t pd = NULL;
        dnnl_primitive_t p = NULL;
        dnnl_memory_t a = NULL, b = NULL;
        bool ok = api.reorder_pd_create(&pd, &pmd, engine, &bmd, engine, NULL) == 0 &&
                  api.primitive_create(&p, pd) == 0 && api.memory_create(&a, &pmd, engine, plain) == 0 &&
                  api.memory_create(&b, &bmd, engine, blocked) == 0;
        dnnl_exec_arg_t args[2] = {{ARG_SRC, a}, {ARG_DST, b}};
        ok = ok && api.primitive_execute(p, stream, 2, args) == 0;
        for (int i = 0; ok && i < COUNT; i++) {
            int n = i / (C * H * W), c = i / (H * W) % C, h = i / W % H, w = i % W;
            ok = blocked[(((n * (C / DNNL_BLOCK) + c / DNNL_BLOCK) * H + h) * W + w) * DNNL_BLOCK + c % DNNL_BLOCK] ==
                 (float)i;
        }
        if (a) api.memory_destroy(a);
        if (b) api.memory_destroy(b);
        if (p) api.primitive_destroy(p);
        if (pd) api.pd_destroy(pd);
        if (ok) return tag;
    }
    return -1;
}

static bool load_symbols(void *h) {
    struct {
        void **slot;
        const char *name;
    } table[] = {
        {(void **)&api.engine_create, "dnnl_engine_create"},
        {(void **)&api.stream_create, "dnnl_stream_create"},
        {(void **)&api.md_init_by_tag, "dnnl_memory_desc_init_by_tag"},
        {(void **)&api.md_init_by_strides, "dnnl_memory_desc_init_by_strides"},
        {(void **)&api.md_get_size, "dnnl_memory_desc_get_size"},
        {(void **)&api.md_equal, "dnnl_memory_desc_equal"},
        {(void **)&api.memory_create, "dnnl_memory_create"},
        {(void **)&api.memory_set_data_handle, "dnnl_memory_set_data_handle"},
        {(void **)&api.conv_fwd_init, "dnnl_convolution_forward_desc_init"},
        {(void **)&api.conv_bwd_data_init, "dnnl_convolution_backward_data_desc_init"},
        {(void **)&api.conv_bwd_weights_init, "dnnl_convolution_backward_weights_desc_init"},
        {(void **)&api.pd_create, "dnnl_primitive_desc_create"},
        {(void **)&api.pd_query_md, "dnnl_primitive_desc_query_md"},
        {(void **)&api.reorder_pd_create, "dnnl_reorder_primitive_desc_create"},
        {(void **)&api.primitive_create, "dnnl_primitive_create"},
        {(void **)&api.primitive_execute, "dnnl_primitive_execute"},
        {(void **)&api.attr_create, "dnnl_primitive_attr_create"},
        {(void **)&api.attr_set_scratchpad_mode, "dnnl_primitive_attr_set_scratchpad_mode"},
        {(void **)&api.pd_destroy, "dnnl_primitive_desc_destroy"},
        {(void **)&api.primitive_destroy, "dnnl_primitive_destroy"},
        {(void **)&api.memory_destroy, "dnnl_memory_destroy"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!(*table[i].slot = dlsym(h, table[i].name))) return false;
    return true;
}

/* The engine, stream and attributes live as long as the process, like libtorch's. */
static void load(void) {
    if (getenv("YOLO_BLOCKED") && !strcmp(getenv("YOLO_BLOCKED"), "0")) return;
    /* RTLD_NOLOAD: only the library libtorch already uses; never a second copy */
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (!h || !load_symbols(h)) return;
    if (api.engine_create(&engine, ENGINE_CPU, 0) || api.stream_create(&stream, engine, STREAM_IN_ORDER) ||
        api.attr_create(&attr) || api.attr_set_scratchpad_mode(attr, SCRATCHPAD_USER))
        return;
    blocked_tag = find_blocked_tag();
    usable = blocked_tag > 0;
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

bool dnnl_available(void) {
    pthread_once(&load_once, load);
    return usable;
}

/* ---- one argument of a primitive: the caller's layout and the primitive's ---- */

typedef struct {
    md_t user;             /* the caller's layout */
    const void *prim;      /* the primitive's (owned by its descriptor) */
    bool same;             /* no reorder needed */
    dnnl_primitive_t conv; /* reorder user -> prim (inputs) or prim -> user (outputs) */
    dnnl_memory_t mu, mp;  /* memory objects, data handles set per call */
    size_t prim_bytes;
    int exec_arg; /* ARG_SRC, ARG_DIFF_DST, ... */
} arg_t;

static yolo_status fail(const char *what) {
    return yolo_error(YOLO_ERR_TORCH, "oneDNN: could not %s (set YOLO_BLOCKED=0 to use libtorch's convolution)", what);
}

static yolo_status arg_init(arg_t *a, const void *prim, int exec_arg, bool input) {
    a->prim = prim;
    a->exec_arg = exec_arg;
    a->same = api.md_equal(&a->user, prim);
    a->prim_bytes = api.md_get_size(prim);
    if (api.memory_create(&a->mu, &a->user, engine, NULL) || api.memory_create(&a->mp, prim, engine, NULL))
        return fail("create a memory object");
    if (a->same) return YOLO_OK;
    dnnl_pd_t pd = NULL;
    const void *from = input ? (const void *)&a->user : prim, *to = input ? prim : (const void *)&a->user;
    bool ok = api.reorder_pd_create(&pd, from, engine, to, engine, NULL) == 0 && api.primitive_create(&a->conv, pd) == 0;
    if (pd) api.pd_destroy(pd); /* the primitive keeps what it needs */
    return ok ? YOLO_OK : fail("create a reorder");
}

static void *alloc_floats(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* Points the primitive's memory at data in the caller's layout, reordering into *tmp when they differ. */
static yolo_status arg_in(arg_t *a, const void *data, void **tmp) {
    *tmp = NULL;
    if (a->same) return api.memory_set_data_handle(a->mp, (void *)data) ? fail("set a data handle") : YOLO_OK;
    if (!(*tmp = alloc_floats(a->prim_bytes))) return yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN reorder)");
    if (api.memory_set_data_handle(a->mu, (void *)data) || api.memory_set_data_handle(a->mp, *tmp))
        return fail("set a data handle");
    dnnl_exec_arg_t args[2] = {{ARG_SRC, a->mu}, {ARG_DST, a->mp}};
    return api.primitive_execute(a->conv, stream, 2, args) ? fail("reorder an input") : YOLO_OK;
}

/* Where the primitive writes an output for the caller's buffer (a temporary when layouts differ). */
static yolo_status arg_out(arg_t *a, void *data, void **tmp) {
    *tmp = NULL;
    if (!a->same && !(*tmp = alloc_floats(a->prim_bytes)))
        return yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN reorder)");
    return api.memory_set_data_handle(a->mp, a->same ? data : *tmp) ? fail("set a data handle") : YOLO_OK;
}

static yolo_status arg_out_finish(arg_t *a, void *data) {
    if (a->same) return YOLO_OK;
    if (api.memory_set_data_handle(a->mu, data)) return fail("set a data handle");
    dnnl_exec_arg_t args[2] = {{ARG_SRC, a->mp}, {ARG_DST, a->mu}};
    return api.primitive_execute(a->conv, stream, 2, args) ? fail("reorder an output") : YOLO_OK;
}

/* ---- convolutions ---- */

typedef struct {
    dnnl_pd_t pd;
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

static yolo_status prim_init(prim_t *p, const op_desc_t *d, dnnl_pd_t hint) {
    if (api.pd_create(&p->pd, d, attr, engine, hint) || api.primitive_create(&p->p, p->pd))
        return fail("create a convolution primitive");
    const void *smd = api.pd_query_md(p->pd, QUERY_SCRATCHPAD, 0);
    p->scratch_bytes = smd ? api.md_get_size(smd) : 0;
    if (p->scratch_bytes && api.memory_create(&p->scratch, smd, engine, NULL)) return fail("create a memory object");
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
        api.memory_set_data_handle(p->scratch, scratch_buf);
        args[n++] = (dnnl_exec_arg_t){ARG_SCRATCHPAD, p->scratch};
    }
    int rc = api.primitive_execute(p->p, stream, n, args);
    pthread_mutex_unlock(&scratch_lock);
    return rc ? fail("run a convolution") : YOLO_OK;
}

static yolo_status conv_user_layouts(dnnl_conv *c) {
    const dnnl_conv_shape *s = &c->s;
    int64_t wsz[4] = {s->oc, s->ic, s->k, s->k}, xsz[4] = {s->n, s->ic, s->ih, s->iw},
            ysz[4] = {s->n, s->oc, c->oh, c->ow}, bsz[1] = {s->oc};
    bool ok = plain_md(&c->f_wei.user, 4, wsz) && plain_md(&c->bias, 1, bsz);
    ok = ok && (s->src_plain ? plain_md(&c->f_src.user, 4, xsz)
                             : tag_md(&c->f_src.user, s->n, s->ic, s->ih, s->iw, blocked_tag));
    ok = ok && (s->dst_plain ? plain_md(&c->f_dst.user, 4, ysz)
                             : tag_md(&c->f_dst.user, s->n, s->oc, c->oh, c->ow, blocked_tag));
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
    if (!tag_md(&xa, s->n, s->ic, s->ih, s->iw, TAG_ANY) || !tag_md(&wa, s->oc, s->ic, s->k, s->k, TAG_ANY) ||
        !tag_md(&ya, s->n, s->oc, c->oh, c->ow, TAG_ANY))
        return fail("describe a tensor");
    dnnl_dims_t strides = {s->stride, s->stride}, pl = {s->pad, s->pad}, pr;
    memset(pr, 0, sizeof pr);
    pr[0] = (c->oh - 1) * s->stride + s->k - s->ih - s->pad;
    pr[1] = (c->ow - 1) * s->stride + s->k - s->iw - s->pad;
    const md_t *bias = s->bias ? &c->bias : NULL;
    op_desc_t d;
    if (api.conv_fwd_init(&d, FORWARD_TRAINING, CONVOLUTION_DIRECT, &xa, &wa, bias, &ya, strides, pl, pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->fwd, &d, NULL)) != YOLO_OK) return st;
    if (api.conv_bwd_data_init(&d, CONVOLUTION_DIRECT, &xa, &wa, &ya, strides, pl, pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->bwd_data, &d, c->fwd.pd)) != YOLO_OK) return st;
    if (api.conv_bwd_weights_init(&d, CONVOLUTION_DIRECT, &xa, &wa, bias, &ya, strides, pl, pr))
        return fail("describe a convolution");
    if ((st = prim_init(&c->bwd_weights, &d, c->fwd.pd)) != YOLO_OK) return st;
    struct {
        arg_t *a;
        prim_t *p;
        int query, exec_arg;
        bool input;
    } args[] = {
        {&c->f_src, &c->fwd, QUERY_SRC, ARG_SRC, true},
        {&c->f_wei, &c->fwd, QUERY_WEIGHTS, ARG_WEIGHTS, true},
        {&c->f_dst, &c->fwd, QUERY_DST, ARG_DST, false},
        {&c->d_ddst, &c->bwd_data, QUERY_DIFF_DST, ARG_DIFF_DST, true},
        {&c->d_wei, &c->bwd_data, QUERY_WEIGHTS, ARG_WEIGHTS, true},
        {&c->d_dsrc, &c->bwd_data, QUERY_DIFF_SRC, ARG_DIFF_SRC, false},
        {&c->w_src, &c->bwd_weights, QUERY_SRC, ARG_SRC, true},
        {&c->w_ddst, &c->bwd_weights, QUERY_DIFF_DST, ARG_DIFF_DST, true},
        {&c->w_dwei, &c->bwd_weights, QUERY_DIFF_WEIGHTS, ARG_DIFF_WEIGHTS, false},
    };
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        const void *md = api.pd_query_md(args[i].p->pd, args[i].query, 0);
        if ((st = arg_init(args[i].a, md, args[i].exec_arg, args[i].input)) != YOLO_OK) return st;
    }
    if (s->bias && api.memory_create(&c->m_bias, &c->bias, engine, NULL)) return fail("create a memory object");
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
    while (c && memcmp(&c->s, s, sizeof *s)) c = c->next;
    yolo_status st = YOLO_OK;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) st = yolo_error(YOLO_ERR_NOMEM, "out of memory (oneDNN convolution)");
        else if ((st = conv_make(s, c)) != YOLO_OK) free(c), c = NULL; /* half-made handles stay with oneDNN */
        else c->next = convs, convs = c;
    }
    pthread_mutex_unlock(&convs_lock);
    *out = c;
    return st;
}

void dnnl_conv_out_hw(const dnnl_conv *c, int64_t *oh, int64_t *ow) { *oh = c->oh, *ow = c->ow; }

/* One primitive call: two inputs and an output in the caller's layouts (reordered around the call
 * where the primitive wants others), and the bias, plain, when the shape has one and bias_arg is set. */
static yolo_status run(dnnl_conv *c, prim_t *p, arg_t *in0, const void *d0, arg_t *in1, const void *d1, arg_t *out,
                       void *dout, int bias_arg, void *bias) {
    void *t0 = NULL, *t1 = NULL, *tout = NULL;
    yolo_status st = arg_in(in0, d0, &t0);
    if (st == YOLO_OK) st = arg_in(in1, d1, &t1);
    if (st == YOLO_OK) st = arg_out(out, dout, &tout);
    if (st == YOLO_OK) {
        dnnl_exec_arg_t args[5] = {{in0->exec_arg, in0->mp}, {in1->exec_arg, in1->mp}, {out->exec_arg, out->mp}};
        int n = 3;
        if (c->s.bias && bias_arg) {
            api.memory_set_data_handle(c->m_bias, bias);
            args[n++] = (dnnl_exec_arg_t){bias_arg, c->m_bias};
        }
        st = prim_run(p, args, n);
    }
    if (st == YOLO_OK) st = arg_out_finish(out, dout);
    free(t0), free(t1), free(tout);
    return st;
}

yolo_status dnnl_conv_forward(dnnl_conv *c, const float *src, const float *weights, const float *bias, float *dst) {
    return run(c, &c->fwd, &c->f_src, src, &c->f_wei, weights, &c->f_dst, dst, ARG_BIAS, (void *)bias);
}

yolo_status dnnl_conv_backward_data(dnnl_conv *c, const float *diff_dst, const float *weights, float *diff_src) {
    return run(c, &c->bwd_data, &c->d_ddst, diff_dst, &c->d_wei, weights, &c->d_dsrc, diff_src, 0, NULL);
}

yolo_status dnnl_conv_backward_weights(dnnl_conv *c, const float *src, const float *diff_dst, float *diff_weights,
                                       float *diff_bias) {
    return run(c, &c->bwd_weights, &c->w_src, src, &c->w_ddst, diff_dst, &c->w_dwei, diff_weights, ARG_DIFF_BIAS,
               diff_bias);
}
