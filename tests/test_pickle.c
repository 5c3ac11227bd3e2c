/* The pickle interpreter and writer: opcodes, values, bad and hostile input, bounds. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "yolo/pickle.h"

/* A tiny pickle assembler, so that each test spells out its opcodes. */
typedef struct {
    unsigned char b[1 << 16];
    size_t n;
} pk;

static void op(pk *p, int c) {
    p->b[p->n++] = (unsigned char)c;
}
static void raw(pk *p, const void *s, size_t n) {
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void u32(pk *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        op(p, (int)(v >> (8 * i)) & 0xff);
}
static void ustr(pk *p, const char *s) { /* BINUNICODE */
    op(p, 'X');
    u32(p, (uint32_t)strlen(s));
    raw(p, s, strlen(s));
}
static void bint(pk *p, int32_t v) { /* BININT */
    op(p, 'J');
    u32(p, (uint32_t)v);
}
static void global(pk *p, const char *mod, const char *name) {
    op(p, 'c');
    raw(p, mod, strlen(mod));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}
static void start(pk *p) {
    p->n = 0;
    op(p, 0x80);
    op(p, 2);
}

static yv_doc *doc;
static yv *load(pk *p, yolo_status *st) {
    yv_doc_free(doc);
    doc = yv_doc_new();
    yv *out = NULL;
    *st = pickle_load(doc, p->b, p->n, NULL, &out);
    return *st ? NULL : out;
}

static yv *load_ok(pk *p) {
    op(p, '.');
    yolo_status st;
    yv *v = load(p, &st);
    if (st) printf("# %s\n", yolo_last_error());
    return v;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void storage_tuple(pk *p, const char *cls, const char *key, int32_t numel) {
    op(p, '(');
    ustr(p, "storage");
    global(p, "torch", cls);
    ustr(p, key);
    ustr(p, "cpu");
    bint(p, numel);
    op(p, 't');
    op(p, 'Q');
}

/* _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) over a fresh persid. */
static void tensor(pk *p, const char *key, int32_t numel, int32_t offset, int nd, const int32_t *size,
                   const int32_t *stride) {
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');
    storage_tuple(p, "FloatStorage", key, numel);
    bint(p, offset);
    op(p, '(');
    for (int i = 0; i < nd; i++)
        bint(p, size[i]);
    op(p, 't');
    op(p, '(');
    for (int i = 0; i < nd; i++)
        bint(p, stride[i]);
    op(p, 't');
    op(p, 0x89);
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');
    op(p, 't');
    op(p, 'R');
}

static void test_scalars(void) {
    pk p;
    start(&p);
    op(&p, '(');
    bint(&p, -5);
    op(&p, 'K'), op(&p, 200);
    op(&p, 'M'), op(&p, 0x34), op(&p, 0x12);
    op(&p, 0x8a), op(&p, 0);                                                     /* LONG1 of no bytes: 0 */
    op(&p, 0x8a), op(&p, 5), raw(&p, "\x00\x00\x00\x00\x80", 5);                 /* -2^39 */
    op(&p, 0x8a), op(&p, 9), raw(&p, "\x00\x00\x00\x00\x00\x00\x00\x00\x01", 9); /* 2^64 */
    op(&p, 0x8b), u32(&p, 2), raw(&p, "\xff\x7f", 2);                            /* LONG4: 32767 */
    raw(&p, "I42\n", 4);
    raw(&p, "I01\n", 4); /* protocol 0 True */
    raw(&p, "L-12345678901234567890L\n", 24);
    raw(&p, "F2.5\n", 5);
    op(&p, 'G'), raw(&p, "\xc0\x09\x21\xfb\x54\x44\x2d\x18", 8); /* -pi */
    op(&p, 'N'), op(&p, 0x88), op(&p, 0x89);
    op(&p, 'l');
    yv *v = load_ok(&p);
    CHECK(v && v->kind == YV_LIST && v->seq.n == 15, "scalars: a list of 15");
    if (!v || v->seq.n != 15) return;
    yv **it = v->seq.items;
    CHECK(it[0]->kind == YV_INT && it[0]->i == -5, "BININT negative");
    CHECK(it[1]->i == 200 && it[2]->i == 0x1234, "BININT1, BININT2");
    CHECK(it[3]->kind == YV_INT && it[3]->i == 0, "LONG1 empty = 0");
    CHECK(it[4]->kind == YV_INT && it[4]->i == -(1LL << 39), "LONG1 negative");
    CHECK(it[5]->kind == YV_BIGINT && it[5]->str.len == 9, "LONG1 2^64 is a big int");
    double big;
    CHECK(yv_as_double(it[5], &big) && big == 18446744073709551616.0, "big int as double");
    CHECK(it[6]->kind == YV_INT && it[6]->i == 32767, "LONG4");
    CHECK(it[7]->kind == YV_INT && it[7]->i == 42, "INT text");
    CHECK(it[8]->kind == YV_BOOL && it[8]->b, "INT 01 is True");
    /* -12345678901234567890 = -(0xab54a98ceb1f0ad2) */
    const unsigned char want[] = {0x2e, 0xf5, 0xe0, 0x14, 0x73, 0x56, 0xab, 0x54, 0xff};
    CHECK(it[9]->kind == YV_BIGINT && it[9]->str.len == 9 && memcmp(it[9]->str.s, want, 9) == 0,
          "LONG text big negative");
    CHECK(yv_as_double(it[9], &big) && big == -12345678901234567890.0, "negative big int as double (%.17g)",
          big);
    double d;
    CHECK(yv_as_double(it[10], &d) && d == 2.5, "FLOAT text");
    CHECK(yv_as_double(it[11], &d) && d == -3.141592653589793, "BINFLOAT big-endian");
    CHECK(it[12]->kind == YV_NONE && it[13]->b && !it[14]->b, "None True False");
    int64_t i;
    CHECK(yv_as_int(it[10], &i) == false && yv_as_int(it[13], &i) && i == 1, "yv_as_int");
}

static void test_strings(void) {
    pk p;
    start(&p);
    op(&p, '(');
    ustr(&p, "h\xc3\xa9");
    op(&p, 0x8c), op(&p, 2), raw(&p, "ab", 2);             /* SHORT_BINUNICODE */
    op(&p, 0x8d), u32(&p, 1), u32(&p, 0), raw(&p, "z", 1); /* BINUNICODE8 */
    raw(&p, "S'it\\'s\\n'\n", 11);                         /* STRING */
    raw(&p, "Vx\\u20acy\n", 10);                           /* UNICODE: x€y */
    op(&p, 'C'), op(&p, 3), raw(&p, "\x00\xff\x01", 3);    /* SHORT_BINBYTES */
    op(&p, 'B'), u32(&p, 1), raw(&p, "q", 1);              /* BINBYTES */
    global(&p, "_codecs", "encode"), ustr(&p, "\xc3\xbf\x01"), ustr(&p, "latin1"), op(&p, 0x86), op(&p, 'R');
    global(&p, "__builtin__", "bytes"), op(&p, ')'), op(&p, 'R');
    op(&p, 'l');
    yv *v = load_ok(&p);
    CHECK(v && v->seq.n == 9, "strings: a list of 9");
    if (!v || v->seq.n != 9) return;
    yv **it = v->seq.items;
    CHECK(it[0]->kind == YV_STR && strcmp(it[0]->str.s, "h\xc3\xa9") == 0, "BINUNICODE");
    CHECK(strcmp(yv_as_str(it[1]), "ab") == 0 && strcmp(yv_as_str(it[2]), "z") == 0,
          "SHORT_BINUNICODE, BINUNICODE8");
    CHECK(yv_as_str(it[3]) && strcmp(it[3]->str.s, "it's\n") == 0, "STRING with escapes");
    CHECK(yv_as_str(it[4]) && strcmp(it[4]->str.s, "x\xe2\x82\xac"
                                                   "y") == 0,
          "UNICODE raw escapes");
    CHECK(it[5]->kind == YV_BYTES && it[5]->str.len == 3 && memcmp(it[5]->str.s, "\x00\xff\x01", 3) == 0,
          "SHORT_BINBYTES");
    CHECK(it[6]->kind == YV_BYTES && it[6]->str.len == 1, "BINBYTES");
    CHECK(it[7]->kind == YV_BYTES && it[7]->str.len == 2 && memcmp(it[7]->str.s, "\xff\x01", 2) == 0,
          "_codecs.encode(latin1) gives bytes");
    CHECK(it[8]->kind == YV_BYTES && it[8]->str.len == 0, "bytes() is empty bytes");
}

static void test_containers_and_memo(void) {
    pk p;
    start(&p);
    op(&p, '}');
    op(&p, 'q'), op(&p, 0);
    ustr(&p, "one");
    op(&p, ']'), op(&p, 'q'), op(&p, 1);
    bint(&p, 7);
    op(&p, 'a'); /* APPEND */
    op(&p, 's'); /* SETITEM */
    ustr(&p, "same");
    op(&p, 'h'), op(&p, 1); /* BINGET the list again */
    op(&p, 's');
    ustr(&p, "od");
    global(&p, "collections", "OrderedDict"), op(&p, ')'), op(&p, 'R');
    raw(&p, "p5\n", 3);
    op(&p, '(');
    ustr(&p, "b"), bint(&p, 2), ustr(&p, "a"), bint(&p, 1);
    op(&p, 'u');
    op(&p, 's');
    ustr(&p, "set");
    global(&p, "__builtin__", "set"), op(&p, ']'), op(&p, '('), bint(&p, 1), bint(&p, 2), op(&p, 'e'),
        op(&p, 0x85), op(&p, 'R');
    op(&p, 's');
    ustr(&p, "set4");
    op(&p, 0x8f), op(&p, '('), bint(&p, 3), op(&p, 0x90); /* EMPTY_SET, ADDITEMS */
    op(&p, 's');
    ustr(&p, "size");
    global(&p, "torch", "Size"), op(&p, '('), bint(&p, 2), bint(&p, 3), op(&p, 't'), op(&p, 0x85),
        op(&p, 'R');
    op(&p, 's');
    ustr(&p, "memo");
    raw(&p, "g5\n", 3); /* text GET of the text PUT */
    op(&p, 's');
    ustr(&p, "memo4");
    op(&p, 0x8f), op(&p, 0x94), op(&p, '0'); /* MEMOIZE takes index 3 (three entries so far), POP */
    op(&p, 'j'), u32(&p, 3);                 /* LONG_BINGET */
    op(&p, 's');
    ustr(&p, "dict_op");
    op(&p, '('), ustr(&p, "k"), op(&p, 'N'), op(&p, 'd');
    op(&p, 's');
    ustr(&p, "tuple3");
    op(&p, 'N'), op(&p, 'N'), op(&p, 'N'), op(&p, 0x87);
    op(&p, 's');
    ustr(&p, "popmark");
    op(&p, '('), bint(&p, 1), bint(&p, 2), op(&p, '1'), op(&p, 'N'); /* POP_MARK drops 1, 2 */
    op(&p, 's');
    ustr(&p, "dup");
    bint(&p, 9), op(&p, '2'), op(&p, 0x86);
    op(&p, 's');
    yv *v = load_ok(&p);
    CHECK(v && v->kind == YV_DICT && v->dict.n == 12, "containers: dict of 12 (%zu)", v ? v->dict.n : 0);
    if (!v) return;
    yv *one = yv_dict_get(v, "one");
    CHECK(one && one->kind == YV_LIST && one->seq.n == 1 && one->seq.items[0]->i == 7,
          "1-item list via APPEND");
    CHECK(yv_dict_get(v, "same") == one, "BINGET gives the same object");
    yv *od = yv_dict_get(v, "od");
    CHECK(od && od->kind == YV_DICT && od->dict.ordered && od->dict.n == 2 &&
              strcmp(od->dict.keys[0]->str.s, "b") == 0,
          "OrderedDict keeps order");
    yv *set = yv_dict_get(v, "set"), *set4 = yv_dict_get(v, "set4");
    CHECK(set && set->kind == YV_SET && set->seq.n == 2 && set4 && set4->kind == YV_SET && set4->seq.n == 1,
          "set, EMPTY_SET+ADDITEMS");
    yv *size = yv_dict_get(v, "size");
    CHECK(size && size->kind == YV_TUPLE && size->seq.n == 2 && size->seq.items[1]->i == 3,
          "torch.Size is a tuple");
    CHECK(yv_dict_get(v, "memo") == od, "text PUT/GET");
    yv *m4 = yv_dict_get(v, "memo4");
    CHECK(m4 && m4->kind == YV_SET && m4->seq.n == 0, "MEMOIZE + LONG_BINGET");
    yv *dd = yv_dict_get(v, "dict_op");
    CHECK(dd && dd->kind == YV_DICT && dd->dict.n == 1, "DICT opcode");
    yv *t3 = yv_dict_get(v, "tuple3");
    CHECK(t3 && t3->kind == YV_TUPLE && t3->seq.n == 3, "TUPLE3");
    yv *pm = yv_dict_get(v, "popmark");
    CHECK(pm && pm->kind == YV_NONE, "POP_MARK");
    yv *dup = yv_dict_get(v, "dup");
    CHECK(dup && dup->seq.n == 2 && dup->seq.items[0] == dup->seq.items[1], "DUP");
    CHECK(yv_path(v, "od.a") && yv_path(v, "od.a")->i == 1 && !yv_path(v, "od.c") && !yv_path(v, "one.x"),
          "yv_path");
    CHECK(yv_dict_del(od, "b") && od->dict.n == 1 && !yv_dict_get(od, "b") && yv_dict_get(od, "a"),
          "yv_dict_del");
}

static void test_objects(void) {
    pk p;
    start(&p);
    op(&p, '(');
    /* NEWOBJ + BUILD: an inert record */
    global(&p, "ultralytics.utils", "IterableSimpleNamespace"), op(&p, ')'), op(&p, 0x81);
    op(&p, '}'), ustr(&p, "lr0"), op(&p, 'G'), raw(&p, "\x3f\x84\x7a\xe1\x47\xae\x14\x7b", 8), op(&p, 's'),
        op(&p, 'b');
    /* REDUCE of an unknown function: a record, never called */
    global(&p, "os", "system"), ustr(&p, "rm -rf /"), op(&p, 0x85), op(&p, 'R');
    /* numpy scalar: scalar(dtype('f8'), _codecs.encode('...', 'latin1')) */
    global(&p, "numpy.core.multiarray", "scalar");
    global(&p, "numpy", "dtype"), ustr(&p, "f8"), op(&p, 0x89), op(&p, 0x88), op(&p, 0x87), op(&p, 'R');
    op(&p, '('), bint(&p, 3), ustr(&p, "<"), op(&p, 'N'), op(&p, 'N'), op(&p, 'N'), bint(&p, -1),
        bint(&p, -1), bint(&p, 0), op(&p, 't'), op(&p, 'b');
    /* 0.25 = 00 00 00 00 00 00 d0 3f little-endian, as latin-1 text (0xd0 -> c3 90, 0x3f) */
    global(&p, "_codecs", "encode"), ustr(&p, "\x01\x01\x01\x01\x01\x01\xc3\x90?"), ustr(&p, "latin1"),
        op(&p, 0x86), op(&p, 'R');
    op(&p, 0x86), op(&p, 'R');
    /* STACK_GLOBAL */
    ustr(&p, "torch"), ustr(&p, "device"), op(&p, 0x93), ustr(&p, "cpu"), op(&p, 0x85), op(&p, 'R');
    op(&p, 'l');
    yv *v = load_ok(&p);
    CHECK(v && v->seq.n == 4, "objects: list of 4");
    if (!v || v->seq.n != 4) return;
    yv *ns = v->seq.items[0];
    CHECK(ns->kind == YV_OBJECT && ns->obj.newobj &&
              strcmp(ns->obj.cls, "ultralytics.utils.IterableSimpleNamespace") == 0,
          "NEWOBJ gives a record");
    double d;
    CHECK(yv_as_double(yv_dict_get(ns, "lr0"), &d) && d == 0.01,
          "record state is looked into by yv_dict_get");
    yv *sys = v->seq.items[1];
    CHECK(sys->kind == YV_OBJECT && strcmp(sys->obj.cls, "os.system") == 0 && !sys->obj.newobj,
          "REDUCE of os.system is inert");
    yv *np = v->seq.items[2];
    bool got = yv_as_double(np, &d);
    uint64_t bits;
    memcpy(&bits, &d, 8);
    CHECK(got && bits == 0x3fd0010101010101ULL, "numpy float64 scalar record as double (%016llx)",
          (unsigned long long)bits);
    int64_t iv;
    CHECK(!yv_as_int(np, &iv), "a non-integral numpy scalar is no int");
    CHECK(v->seq.items[3]->kind == YV_OBJECT && strcmp(v->seq.items[3]->obj.cls, "torch.device") == 0,
          "STACK_GLOBAL");
}

static void test_tensors(void) {
    pk p;
    start(&p);
    op(&p, '(');
    int32_t sz[] = {2, 3}, st[] = {3, 1}, tst[] = {1, 2};
    tensor(&p, "0", 6, 0, 2, sz, st);
    /* a second view of storage "0", transposed with an offset */
    int32_t tsz[] = {2, 2};
    tensor(&p, "0", 6, 1, 2, tsz, tst);
    /* a Parameter around a tensor */
    global(&p, "torch._utils", "_rebuild_parameter");
    tensor(&p, "1", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    op(&p, 0x88), global(&p, "collections", "OrderedDict"), op(&p, ')'), op(&p, 'R'), op(&p, 0x87),
        op(&p, 'R');
    op(&p, 'l');
    yv *v = load_ok(&p);
    CHECK(v && v->seq.n == 3, "tensors: list of 3");
    if (!v || v->seq.n != 3) return;
    yv_tensor *a = &v->seq.items[0]->tensor, *b = &v->seq.items[1]->tensor, *c = &v->seq.items[2]->tensor;
    CHECK(a->ndim == 2 && a->shape[1] == 3 && yv_tensor_is_contiguous(a) && a->storage->numel == 6,
          "tensor shape");
    CHECK(a->storage == b->storage && b->offset == 1 && !yv_tensor_is_contiguous(b), "shared storage view");
    CHECK(yv_doc_storage_count(doc) == 2 && strcmp(yv_doc_storage(doc, 0)->key, "0") == 0,
          "two storages, keyed");
    CHECK(c->is_parameter && c->requires_grad && c->dtype == YDT_F32, "Parameter");
    CHECK(yv_tensor_data(a) == NULL && yv_tensor_to_f32(a, (float[6]){0}) == YOLO_ERR_USAGE,
          "no data without storage_data");

    /* with data: fill storage 0 with 0..5, read the transposed view */
    yv_doc_free(doc);
    doc = yv_doc_new();
    pickle_opts o = {.storage_data = true};
    yv *w;
    yolo_status s = pickle_load(doc, p.b, p.n, &o, &w);
    CHECK(s == YOLO_OK, "load with storage data");
    if (s) return;
    float *f = yv_doc_storage(doc, 0)->data;
    for (int i = 0; i < 6; i++)
        f[i] = (float)i;
    float out[4];
    double outd[4];
    CHECK(yv_tensor_to_f32(&w->seq.items[1]->tensor, out) == YOLO_OK && out[0] == 1 && out[1] == 3 &&
              out[2] == 2 && out[3] == 4,
          "strided view read row-major: %g %g %g %g", out[0], out[1], out[2], out[3]);
    CHECK(yv_tensor_to_f64(&w->seq.items[1]->tensor, outd) == YOLO_OK && outd[3] == 4, "to_f64");

    /* views that reach outside their storage, or absurd sizes */
    struct {
        int32_t numel, offset, nd, size[3], stride[3];
        const char *what;
    } badv[] = {
        {6, 0, 2, {2, 4}, {4, 1}, "view past the end"},
        {6, 6, 1, {1}, {1}, "offset at the end"},
        {6, 0, 1, {-1}, {1}, "negative size"},
        {6, 0, 1, {2}, {-1}, "negative stride"},
        {6, -1, 1, {1}, {1}, "negative offset"},
        {6, 0, 3, {INT32_MAX, INT32_MAX, INT32_MAX}, {0, 0, 0}, "numel overflow"},
    };
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
        start(&p);
        tensor(&p, "0", badv[i].numel, badv[i].offset, badv[i].nd, badv[i].size, badv[i].stride);
        op(&p, '.');
        load(&p, &s);
        CHECK(s == YOLO_ERR_FORMAT, "rejects %s: %s", badv[i].what, yolo_last_error());
    }
    start(&p);
    int32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    tensor(&p, "0", 1, 0, 9, nine, nine);
    op(&p, '.');
    load(&p, &s);
    CHECK(s == YOLO_ERR_LIMIT, "rejects 9 dimensions: %s", yolo_last_error());
    /* a storage key reused with another size */
    start(&p);
    storage_tuple(&p, "FloatStorage", "0", 4);
    storage_tuple(&p, "FloatStorage", "0", 5);
    op(&p, 0x86), op(&p, '.');
    load(&p, &s);
    CHECK(s == YOLO_ERR_FORMAT, "rejects a storage key reused with another size");
    start(&p);
    storage_tuple(&p, "FloatStorage", "../../etc/passwd", 4);
    op(&p, '.');
    load(&p, &s);
    CHECK(s == YOLO_ERR_FORMAT, "rejects a storage key that is a path");
    start(&p);
    storage_tuple(&p, "WeirdStorage", "0", 4);
    op(&p, '.');
    load(&p, &s);
    CHECK(s == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "WeirdStorage"), "unknown storage type: %s",
          yolo_last_error());
    /* a huge declared storage with data: refused by the memory bound, not allocated */
    start(&p);
    storage_tuple(&p, "DoubleStorage", "0", INT32_MAX);
    op(&p, '.');
    yv_doc_free(doc);
    doc = yv_doc_new();
    pickle_opts small = {.storage_data = true, .max_bytes = 1 << 20};
    s = pickle_load(doc, p.b, p.n, &small, &w);
    CHECK(s == YOLO_ERR_LIMIT, "16 GB storage with a 1 MB bound: %s", yolo_last_error());
}

static void test_state_dict(void) {
    /* A module record: params {w: T, b: None}, buffers {rm: T, tmp: T} with tmp non-persistent,
     * child "0" with params {w: T} and child "skip" = None. */
    pk p;
    start(&p);
    global(&p, "my", "Net"), op(&p, ')'), op(&p, 0x81);
    op(&p, '}');
    ustr(&p, "_parameters"), global(&p, "collections", "OrderedDict"), op(&p, ')'), op(&p, 'R');
    op(&p, '('), ustr(&p, "w"), tensor(&p, "0", 1, 0, 0, NULL, NULL), ustr(&p, "b"), op(&p, 'N'), op(&p, 'u');
    op(&p, 's');
    ustr(&p, "_buffers"), op(&p, '}');
    op(&p, '('), ustr(&p, "rm"), tensor(&p, "1", 1, 0, 0, NULL, NULL), ustr(&p, "tmp"),
        tensor(&p, "2", 1, 0, 0, NULL, NULL), op(&p, 'u');
    op(&p, 's');
    ustr(&p, "_non_persistent_buffers_set"), global(&p, "__builtin__", "set"), op(&p, ']'), ustr(&p, "tmp"),
        op(&p, 'a'), op(&p, 0x85), op(&p, 'R');
    op(&p, 's');
    ustr(&p, "_modules"), op(&p, '}');
    ustr(&p, "0");
    global(&p, "torch.nn", "Conv2d"), op(&p, ')'), op(&p, 0x81), op(&p, '}');
    ustr(&p, "_parameters"), op(&p, '}'), ustr(&p, "w"), tensor(&p, "3", 1, 0, 0, NULL, NULL), op(&p, 's'),
        op(&p, 's');
    ustr(&p, "_modules"), op(&p, '}'), op(&p, 's');
    op(&p, 'b');
    op(&p, 's');
    ustr(&p, "skip"), op(&p, 'N'), op(&p, 's');
    op(&p, 's');
    op(&p, 'b');
    yv *v = load_ok(&p);
    yv *sd = v ? yv_state_dict(doc, v) : NULL;
    CHECK(sd && sd->dict.n == 3, "state dict of a module record has 3 entries (%zu)", sd ? sd->dict.n : 0);
    if (!sd || sd->dict.n != 3) return;
    CHECK(strcmp(sd->dict.keys[0]->str.s, "w") == 0 && strcmp(sd->dict.keys[1]->str.s, "rm") == 0 &&
              strcmp(sd->dict.keys[2]->str.s, "0.w") == 0,
          "params, persistent buffers, then children: %s %s %s", sd->dict.keys[0]->str.s,
          sd->dict.keys[1]->str.s, sd->dict.keys[2]->str.s);
    CHECK(yv_state_dict_numel(sd) == 3, "state dict numel");
    CHECK(yv_state_dict(doc, sd) == sd, "a plain dict is its own state dict");
    CHECK(yv_state_dict(doc, yv_dict_get(sd, "w")) == NULL, "a tensor is no state dict");

    /* A module DAG: each level has two children that are the same module one level down. Walking it
     * naively would visit 2^40 modules; the walk's work budget stops it at once. */
    start(&p);
    global(&p, "m", "M"), op(&p, 'q'), op(&p, 0);
    op(&p, 'h'), op(&p, 0), op(&p, ')'), op(&p, 0x81), op(&p, '}');
    ustr(&p, "_parameters"), op(&p, '}'), ustr(&p, "w"), tensor(&p, "0", 1, 0, 0, NULL, NULL), op(&p, 's'),
        op(&p, 's');
    ustr(&p, "_modules"), op(&p, '}'), op(&p, 's'), op(&p, 'b'), op(&p, 'q'), op(&p, 1);
    for (int lvl = 2; lvl <= 41; lvl++) {
        op(&p, 'h'), op(&p, 0), op(&p, ')'), op(&p, 0x81), op(&p, '}');
        ustr(&p, "_parameters"), op(&p, '}'), op(&p, 's');
        ustr(&p, "_modules"), op(&p, '}'), op(&p, '(');
        ustr(&p, "a"), op(&p, 'h'), op(&p, lvl - 1), ustr(&p, "b"), op(&p, 'h'), op(&p, lvl - 1);
        op(&p, 'u'), op(&p, 's'), op(&p, 'b'), op(&p, 'q'), op(&p, lvl);
    }
    v = load_ok(&p);
    double t0 = now();
    sd = v ? yv_state_dict(doc, v) : NULL;
    CHECK(v && !sd && strstr(yolo_last_error(), "too large") && now() - t0 < 2.0,
          "module DAG bomb stopped: %s (%.2f s)", yolo_last_error(), now() - t0);
}

static void expect_fail(pk *p, yolo_status want, const char *needle, const char *what) {
    yolo_status st;
    double t0 = now();
    load(p, &st);
    double dt = now() - t0;
    CHECK(st == want && (!needle || strstr(yolo_last_error(), needle)) && dt < 1.0, "%s: %s (%.3f s)", what,
          yolo_last_error(), dt);
}

static void test_bad_input(void) {
    pk p;
    start(&p);
    op(&p, 0xff);
    expect_fail(&p, YOLO_ERR_FORMAT, "unknown pickle opcode 0xff at offset 2", "unknown opcode");
    start(&p);
    op(&p, 'N');
    expect_fail(&p, YOLO_ERR_FORMAT, "no STOP", "missing STOP");
    start(&p);
    op(&p, 'a'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "underflow", "APPEND on an empty stack");
    start(&p);
    bint(&p, 1), op(&p, 't'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "MARK", "TUPLE without MARK");
    start(&p);
    op(&p, '('), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "underflow", "STOP right after MARK");
    start(&p);
    op(&p, 'h'), op(&p, 3), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "memo", "GET of a missing memo entry");
    start(&p);
    op(&p, 'N'), op(&p, 'r'), u32(&p, 0xfffffff0u), op(&p, '.');
    expect_fail(&p, YOLO_ERR_LIMIT, "memo index", "huge LONG_BINPUT index");
    start(&p);
    op(&p, 'X'), u32(&p, 0xffffffffu), raw(&p, "abc", 3);
    expect_fail(&p, YOLO_ERR_FORMAT, NULL, "BINUNICODE length beyond the input");
    start(&p);
    op(&p, 0x8d), u32(&p, 0), u32(&p, 0x7fffffff), raw(&p, "abc", 3);
    expect_fail(&p, YOLO_ERR_FORMAT, NULL, "BINUNICODE8 length beyond the input");
    start(&p);
    op(&p, 0x8b), u32(&p, 0x7ffffff0u), op(&p, 0);
    expect_fail(&p, YOLO_ERR_FORMAT, "truncated", "LONG4 length beyond the input");
    start(&p);
    op(&p, 0x8b), u32(&p, 0xfffffff0u), op(&p, 0);
    expect_fail(&p, YOLO_ERR_FORMAT, NULL, "negative LONG4 length");
    start(&p);
    op(&p, 0x82), op(&p, 1), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "extension", "EXT1");
    start(&p);
    raw(&p, "Pfoo\n", 5), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "persistent", "text PERSID");
    start(&p);
    ustr(&p, "x"), op(&p, 'Q'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "storage tuple", "BINPERSID of a str");
    start(&p);
    ustr(&p, "x"), op(&p, ')'), op(&p, 'R'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "REDUCE", "REDUCE of a str");
    start(&p);
    op(&p, '}'), op(&p, '('), bint(&p, 1), op(&p, 'u'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "odd", "SETITEMS with an odd count");
    start(&p);
    op(&p, 'N'), op(&p, '('), bint(&p, 1), op(&p, 'e'), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "APPENDS", "APPENDS onto None");
    start(&p);
    raw(&p, "I12x\n", 5), op(&p, '.');
    expect_fail(&p, YOLO_ERR_FORMAT, "digit", "INT with a bad digit");
    start(&p);
    op(&p, 0x80), op(&p, 9);
    expect_fail(&p, YOLO_ERR_FORMAT, "protocol", "protocol 9");

    /* every prefix of a valid pickle fails cleanly */
    start(&p);
    op(&p, '}'), ustr(&p, "k"), tensor(&p, "0", 6, 0, 2, (int32_t[]){2, 3}, (int32_t[]){3, 1}), op(&p, 's'),
        op(&p, '.');
    size_t full = p.n, fails = 0;
    for (size_t n = 0; n < full; n++) {
        p.n = n;
        yolo_status st;
        load(&p, &st);
        if (st == YOLO_ERR_FORMAT) fails++;
    }
    CHECK(fails == full, "every one of %zu prefixes fails with FORMAT (%zu)", full, fails);
}

static void test_bombs(void) {
    static pk p;
    yolo_status st;
    /* Billion laughs: each level a tuple of 10 references to the level below, 60 levels. Shared
     * references cost nothing: this must load at once in little memory. */
    start(&p);
    ustr(&p, "lol"), op(&p, 'q'), op(&p, 0);
    for (int lvl = 1; lvl <= 60; lvl++) {
        op(&p, '(');
        for (int k = 0; k < 10; k++)
            op(&p, 'h'), op(&p, lvl - 1);
        op(&p, 't'), op(&p, 'q'), op(&p, lvl);
    }
    op(&p, '.');
    double t0 = now();
    yv *v = load(&p, &st);
    CHECK(st == YOLO_OK && v && yv_doc_bytes(doc) < (1 << 20) && now() - t0 < 0.5,
          "billion laughs: shared, %zu bytes", yv_doc_bytes(doc));
    char buf[256];
    yv_repr(v, buf, sizeof buf);
    CHECK(strlen(buf) < sizeof buf, "repr of it is bounded");
    /* The writer memoizes shared values, so writing it back is as small as reading it. */
    unsigned char *bomb_out = NULL;
    size_t bomb_n = 0;
    st = pickle_dump(v, NULL, NULL, &bomb_out, &bomb_n);
    CHECK(st == YOLO_OK && bomb_n < 4 * p.n, "billion laughs written back in %zu bytes", bomb_n);
    free(bomb_out);
    /* A list that contains itself (DUP, APPEND) is fine to hold and to print. */
    start(&p);
    op(&p, ']'), op(&p, '2'), op(&p, 'a'), op(&p, '.');
    v = load(&p, &st);
    yv_repr(v, buf, sizeof buf);
    CHECK(st == YOLO_OK && v->seq.items[0] == v && strlen(buf) < sizeof buf, "self-containing list loads: %s",
          buf);
    CHECK(yv_state_dict(doc, v) == NULL, "and is no state dict");
    /* 10000 DUPs of a list appended to it: 10000 pointers, linear work. */
    start(&p);
    op(&p, ']'), op(&p, 'q'), op(&p, 0), op(&p, '(');
    for (int i = 0; i < 10000; i++)
        op(&p, 'h'), op(&p, 0);
    op(&p, '2'), op(&p, 'e'), op(&p, '.');
    t0 = now();
    v = load(&p, &st);
    CHECK(st == YOLO_OK && v->seq.n == 10001 && now() - t0 < 0.5, "GET/DUP bomb is linear");
    /* A big dict of distinct keys loads in linear time (hashed keys). */
    static pk big;
    big.n = 0;
    op(&big, 0x80), op(&big, 2), op(&big, '}'), op(&big, '(');
    for (int i = 0; i < 9000; i++)
        bint(&big, i * 7919), op(&big, 'N');
    op(&big, 'u'), op(&big, '.');
    t0 = now();
    v = load(&big, &st);
    double dt = now() - t0;
    int64_t probe = 0;
    yv key = {.kind = YV_INT, .i = 8999 * 7919};
    (void)key;
    CHECK(st == YOLO_OK && v->dict.n == 9000 && dt < 0.2, "9000-key dict in %.4f s", dt);
    (void)probe;
    /* Duplicate keys: the last wins, like Python. */
    start(&p);
    op(&p, '}'), op(&p, '('), ustr(&p, "a"), bint(&p, 1), ustr(&p, "a"), bint(&p, 2), op(&p, 'u'),
        op(&p, '.');
    v = load(&p, &st);
    CHECK(st == YOLO_OK && v->dict.n == 1 && yv_dict_get(v, "a")->i == 2, "duplicate key: last wins");
    /* The memory bound: 2000 strings of 1 KB with max_bytes 256 KB. */
    static pk strs;
    strs.n = 0;
    op(&strs, 0x80), op(&strs, 2), op(&strs, '(');
    char kb[1024];
    memset(kb, 'x', sizeof kb);
    for (int i = 0; i < 60; i++) {
        op(&strs, 'X'), u32(&strs, sizeof kb), raw(&strs, kb, sizeof kb);
    }
    op(&strs, 'l'), op(&strs, '.');
    yv_doc_free(doc);
    doc = yv_doc_new();
    pickle_opts o = {.max_bytes = 32 * 1024};
    st = pickle_load(doc, strs.b, strs.n, &o, &v);
    CHECK(st == YOLO_ERR_LIMIT && strstr(yolo_last_error(), "memory limit"), "max_bytes bound: %s",
          yolo_last_error());
    /* Deep nesting loads (iteratively) and the writer refuses it instead of overflowing the stack. */
    start(&p);
    for (int i = 0; i < 5000; i++)
        op(&p, ']'), op(&p, '(');
    op(&p, 'N');
    for (int i = 0; i < 5000; i++)
        op(&p, 'e');
    op(&p, '.');
    v = load(&p, &st);
    unsigned char *out = NULL;
    size_t n;
    CHECK(st == YOLO_OK, "5000-deep nesting loads");
    st = v ? pickle_dump(v, NULL, NULL, &out, &n) : YOLO_ERR_FORMAT;
    CHECK(st == YOLO_ERR_LIMIT, "writer refuses 5000-deep nesting");
    free(out);
}

static const char *key_seq(yv_storage *st, void *ctx) {
    (void)st;
    static char k[16];
    snprintf(k, sizeof k, "%d", (*(int *)ctx)++);
    return k;
}

static void test_writer(void) {
    yv_doc *d = yv_doc_new();
    yv *root = yv_new_dict(d);
    yv_dict_set(d, root, "n", yv_new_int(d, 3000000000LL));
    yv_dict_set(d, root, "neg", yv_new_int(d, -300));
    yv_dict_set(d, root, "f", yv_new_float(d, 0.1));
    yv_dict_set(d, root, "b", yv_new_bytes(d, "\xff\x00", 2));
    yv *l = yv_new_list(d);
    for (int i = 0; i < 2500; i++)
        yv_seq_push(d, l, yv_new_int(d, i));
    yv_dict_set(d, root, "l", l);
    int64_t sh[] = {2};
    yv_dict_set(d, root, "t", yv_new_tensor(d, YDT_F16, 1, sh));
    yv *obj = yv_new_object(d, "ultralytics.utils.IterableSimpleNamespace", yv_new_tuple(d));
    obj->obj.newobj = true;
    obj->obj.state = yv_new_dict(d);
    yv_dict_set(d, obj->obj.state, "x", yv_new_none(d));
    yv_dict_set(d, root, "obj", obj);
    unsigned char *out;
    size_t n;
    int ctr = 0;
    yolo_status st = pickle_dump(root, key_seq, &ctr, &out, &n);
    CHECK(st == YOLO_OK && n > 2 && out[0] == 0x80 && out[1] == 2 && out[n - 1] == '.',
          "writer: protocol 2 pickle");
    if (st) return;
    yv_doc_free(doc);
    doc = yv_doc_new();
    yv *v;
    st = pickle_load(doc, out, n, NULL, &v);
    free(out);
    CHECK(st == YOLO_OK && v->dict.n == 7, "writer output reads back");
    if (st) return;
    int64_t i;
    double f;
    CHECK(yv_as_int(yv_dict_get(v, "n"), &i) && i == 3000000000LL && yv_as_int(yv_dict_get(v, "neg"), &i) &&
              i == -300,
          "ints");
    CHECK(yv_as_double(yv_dict_get(v, "f"), &f) && f == 0.1, "float");
    yv *b = yv_dict_get(v, "b");
    CHECK(b && b->kind == YV_BYTES && b->str.len == 2 && memcmp(b->str.s, "\xff\x00", 2) == 0,
          "bytes via _codecs.encode");
    yv *ll = yv_dict_get(v, "l");
    CHECK(ll && ll->seq.n == 2500 && ll->seq.items[2499]->i == 2499, "list over several APPENDS batches");
    yv *t = yv_dict_get(v, "t");
    CHECK(t && t->kind == YV_TENSOR && t->tensor.dtype == YDT_F16 && t->tensor.shape[0] == 2 &&
              strcmp(t->tensor.storage->key, "0") == 0,
          "tensor with storage key 0");
    yv *o = yv_dict_get(v, "obj");
    CHECK(o && o->kind == YV_OBJECT && o->obj.newobj && yv_dict_get(o, "x") &&
              yv_dict_get(o, "x")->kind == YV_NONE,
          "object record round trip (NEWOBJ + BUILD)");
    yv_doc_free(d);
}

static void test_value_misc(void) {
    yv_doc *d = yv_doc_new();
    CHECK(yv_dtype_size(YDT_BF16) == 2 && strcmp(yv_dtype_name(YDT_U8), "uint8") == 0 &&
              strcmp(yv_dtype_storage_class(YDT_I64), "LongStorage") == 0,
          "dtype tables");
    yv_dtype dt;
    CHECK(yv_dtype_from_storage_class("torch.BFloat16Storage", &dt) && dt == YDT_BF16 &&
              !yv_dtype_from_storage_class("X", &dt),
          "storage class names");
    int64_t sh[] = {3};
    yv *h = yv_new_tensor(d, YDT_F16, 1, sh);
    uint16_t *hp = yv_tensor_data(&h->tensor);
    hp[0] = 0x3c00, hp[1] = 0xc000, hp[2] = 0x0001; /* 1, -2, smallest subnormal */
    float f[3];
    yv_tensor_to_f32(&h->tensor, f);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0x1p-24f, "fp16 conversion incl. subnormals");
    yv *bf = yv_new_tensor(d, YDT_BF16, 1, sh);
    uint16_t *bp = yv_tensor_data(&bf->tensor);
    bp[0] = 0x3f80, bp[1] = 0xc040, bp[2] = 0;
    yv_tensor_to_f32(&bf->tensor, f);
    CHECK(f[0] == 1.0f && f[1] == -3.0f && f[2] == 0, "bf16 conversion");
    int64_t s0[1] = {0};
    yv *sc = yv_new_tensor(d, YDT_I64, 0, s0);
    *(int64_t *)yv_tensor_data(&sc->tensor) = 42;
    double x;
    CHECK(yv_as_double(sc, &x) && x == 42, "0-dim tensor as double");
    CHECK(!yv_is_truthy(yv_new_str(d, "")) && yv_is_truthy(yv_new_int(d, 2)) && !yv_is_truthy(yv_new_list(d)),
          "truthiness");
    const unsigned char small[] = {0xff, 0xff, 0xff};
    yv *bi = yv_new_bigint(d, small, 3);
    CHECK(bi->kind == YV_INT && bi->i == -1, "big int normalised to int");
    /* mixed-type keys: 1, True and 1.0 are one key, like Python */
    yv *dict = yv_new_dict(d);
    for (int i = 0; i < 20; i++)
        yv_dict_put(d, dict, yv_new_int(d, i), yv_new_int(d, i));
    yv_dict_put(d, dict, yv_new_bool(d, true), yv_new_str(d, "t"));
    yv_dict_put(d, dict, yv_new_float(d, 2.0), yv_new_str(d, "two"));
    CHECK(dict->dict.n == 20 && dict->dict.vals[1]->kind == YV_STR && dict->dict.vals[2]->kind == YV_STR,
          "numeric keys compare by value");
    /* a hashed dict that deletions take back under the hashing threshold still finds what is added
     * then (yolo-args crashed: a cfg= file's task and mode deleted, then model= added, not found) */
    yv *few = yv_new_dict(d);
    char key[8];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        yv_dict_set(d, few, key, yv_new_int(d, i));
    }
    bool gone = yv_dict_del(few, "k0") && yv_dict_del(few, "k1") && yv_dict_del(few, "k2");
    yv_dict_set(d, few, "new", yv_new_int(d, 99));
    CHECK(gone && few->dict.n == 8 && yv_dict_get(few, "new") && yv_dict_get(few, "new")->i == 99 &&
              yv_dict_get(few, "k9") && !yv_dict_get(few, "k1"),
          "a key added after deletions under the hashing threshold is found");
    yv_doc_free(d);
}

int main(void) {
    test_scalars();
    test_strings();
    test_containers_and_memo();
    test_objects();
    test_tensors();
    test_state_dict();
    test_bad_input();
    test_bombs();
    test_writer();
    test_value_misc();
    yv_doc_free(doc);
    TAP_DONE();
}
