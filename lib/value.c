/* Plain values in an arena (see value.h). */
#include "yolo/value.h"

#include <math.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(16) unsigned char data[];
} chunk;

struct yv_doc {
    chunk *chunks;
    size_t bytes, limit;
    bool over_limit;
    yv_storage **storages;
    size_t nstorages, storages_cap;
};

enum { CHUNK_SIZE = 64 * 1024, BIG_ALLOC = 8 * 1024, INDEX_MIN = 8, MAX_DEPTH = 256 };

yv_doc *yv_doc_new(void) {
    return calloc(1, sizeof(yv_doc));
}

void yv_doc_free(yv_doc *doc) {
    if (!doc) return;
    for (size_t i = 0; i < doc->nstorages; i++)
        free(doc->storages[i]->data);
    free(doc->storages);
    for (chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

size_t yv_doc_bytes(const yv_doc *doc) {
    return doc->bytes;
}
void yv_doc_set_limit(yv_doc *doc, size_t max_bytes) {
    doc->limit = max_bytes;
}
bool yv_doc_over_limit(const yv_doc *doc) {
    return doc->over_limit;
}

/* Charges n bytes against the cap; false when they do not fit. */
static bool charge(yv_doc *doc, size_t n) {
    if (doc->limit && (n > doc->limit || doc->bytes > doc->limit - n)) {
        doc->over_limit = true;
        return false;
    }
    doc->bytes += n;
    return true;
}

void *yv_doc_alloc(yv_doc *doc, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        /* Big blocks get a chunk of their own, placed behind the current one so that the current
         * chunk's free space is not abandoned. Other chunks start small and double up to CHUNK_SIZE,
         * so that small docs stay small and a memory cap is charged for what is really used. */
        size_t step = 4096;
        while (step < CHUNK_SIZE && step < doc->bytes)
            step *= 2;
        size_t cap = n > BIG_ALLOC ? n : n > step ? CHUNK_SIZE : step;
        if (cap > SIZE_MAX - sizeof(chunk)) return NULL;
        if (!charge(doc, cap + sizeof(chunk))) return NULL;
        chunk *nc = malloc(sizeof(chunk) + cap);
        if (!nc) return NULL;
        nc->used = 0;
        nc->cap = cap;
        if (c && n > BIG_ALLOC) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            doc->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *yv_doc_strdup(yv_doc *doc, const char *s, size_t len) {
    if (len == SIZE_MAX) return NULL;
    char *p = yv_doc_alloc(doc, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

size_t yv_doc_storage_count(const yv_doc *doc) {
    return doc->nstorages;
}
yv_storage *yv_doc_storage(const yv_doc *doc, size_t i) {
    return i < doc->nstorages ? doc->storages[i] : NULL;
}

void yv_storage_adopt(yv_doc *doc, yv_storage *st, void *data) {
    (void)doc;
    free(st->data);
    st->data = data;
}

/* ---- dtypes ---- */

static const struct {
    size_t size;
    const char *name, *storage;
} dtypes[YDT_COUNT_] = {
    [YDT_F32] = {4, "float32", "FloatStorage"},      [YDT_F16] = {2, "float16", "HalfStorage"},
    [YDT_BF16] = {2, "bfloat16", "BFloat16Storage"}, [YDT_F64] = {8, "float64", "DoubleStorage"},
    [YDT_I64] = {8, "int64", "LongStorage"},         [YDT_I32] = {4, "int32", "IntStorage"},
    [YDT_I16] = {2, "int16", "ShortStorage"},        [YDT_I8] = {1, "int8", "CharStorage"},
    [YDT_U8] = {1, "uint8", "ByteStorage"},          [YDT_BOOL] = {1, "bool", "BoolStorage"},
};

size_t yv_dtype_size(yv_dtype dt) {
    return (unsigned)dt < YDT_COUNT_ ? dtypes[dt].size : 0;
}
const char *yv_dtype_name(yv_dtype dt) {
    return (unsigned)dt < YDT_COUNT_ ? dtypes[dt].name : "?";
}
const char *yv_dtype_storage_class(yv_dtype dt) {
    return (unsigned)dt < YDT_COUNT_ ? dtypes[dt].storage : "?";
}

bool yv_dtype_from_storage_class(const char *name, yv_dtype *out) {
    if (strncmp(name, "torch.", 6) == 0) name += 6;
    for (int i = 0; i < YDT_COUNT_; i++)
        if (strcmp(name, dtypes[i].storage) == 0) {
            *out = (yv_dtype)i;
            return true;
        }
    return false;
}

/* ---- constructors ---- */

static yv *new_value(yv_doc *doc, yv_kind kind) {
    yv *v = yv_doc_alloc(doc, sizeof(yv));
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->kind = kind;
    return v;
}

yv *yv_new_none(yv_doc *doc) {
    return new_value(doc, YV_NONE);
}
yv *yv_new_bool(yv_doc *doc, bool b) {
    yv *v = new_value(doc, YV_BOOL);
    if (v) v->b = b;
    return v;
}
yv *yv_new_int(yv_doc *doc, int64_t i) {
    yv *v = new_value(doc, YV_INT);
    if (v) v->i = i;
    return v;
}
yv *yv_new_float(yv_doc *doc, double f) {
    yv *v = new_value(doc, YV_FLOAT);
    if (v) v->f = f;
    return v;
}

static yv *new_bytes_kind(yv_doc *doc, yv_kind kind, const void *p, size_t len) {
    yv *v = new_value(doc, kind);
    if (!v) return NULL;
    v->str.s = yv_doc_strdup(doc, p, len);
    if (!v->str.s) return NULL;
    v->str.len = len;
    return v;
}
yv *yv_new_strn(yv_doc *doc, const char *s, size_t len) {
    return new_bytes_kind(doc, YV_STR, s, len);
}
yv *yv_new_str(yv_doc *doc, const char *s) {
    return yv_new_strn(doc, s, strlen(s));
}
yv *yv_new_bytes(yv_doc *doc, const void *p, size_t len) {
    return new_bytes_kind(doc, YV_BYTES, p, len);
}
yv *yv_new_global(yv_doc *doc, const char *dotted) {
    return new_bytes_kind(doc, YV_GLOBAL, dotted, strlen(dotted));
}

yv *yv_new_bigint(yv_doc *doc, const void *le_bytes, size_t len) {
    const unsigned char *b = le_bytes;
    /* Drop redundant sign-extension bytes so that equal numbers have equal encodings. */
    while (len > 1 &&
           ((b[len - 1] == 0 && !(b[len - 2] & 0x80)) || (b[len - 1] == 0xff && (b[len - 2] & 0x80))))
        len--;
    if (len <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < len; i++)
            u |= (uint64_t)b[i] << (8 * i);
        if (len > 0 && len < 8 && (b[len - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * len);
        int64_t i;
        memcpy(&i, &u, sizeof i);
        return yv_new_int(doc, len ? i : 0);
    }
    return new_bytes_kind(doc, YV_BIGINT, le_bytes, len);
}

yv *yv_new_list(yv_doc *doc) {
    return new_value(doc, YV_LIST);
}
yv *yv_new_tuple(yv_doc *doc) {
    return new_value(doc, YV_TUPLE);
}
yv *yv_new_set(yv_doc *doc) {
    return new_value(doc, YV_SET);
}
yv *yv_new_dict(yv_doc *doc) {
    return new_value(doc, YV_DICT);
}

yv *yv_new_object(yv_doc *doc, const char *cls, yv *args) {
    yv *v = new_value(doc, YV_OBJECT);
    if (!v) return NULL;
    v->obj.cls = yv_doc_strdup(doc, cls, strlen(cls));
    if (!v->obj.cls) return NULL;
    v->obj.args = args;
    return v;
}

yv_storage *yv_new_storage(yv_doc *doc, yv_dtype dt, int64_t numel, bool with_data) {
    if ((unsigned)dt >= YDT_COUNT_ || numel < 0) return NULL;
    size_t esz = yv_dtype_size(dt);
    if ((uint64_t)numel > SIZE_MAX / esz) return NULL;
    if (doc->nstorages == doc->storages_cap) {
        size_t cap = doc->storages_cap ? doc->storages_cap * 2 : 16;
        if (!charge(doc, (cap - doc->storages_cap) * sizeof(yv_storage *))) return NULL;
        yv_storage **p = realloc(doc->storages, cap * sizeof *p);
        if (!p) return NULL;
        doc->storages = p;
        doc->storages_cap = cap;
    }
    yv_storage *st = yv_doc_alloc(doc, sizeof *st);
    if (!st) return NULL;
    memset(st, 0, sizeof *st);
    st->dtype = dt;
    st->numel = numel;
    st->device = yv_doc_strdup(doc, "cpu", 3);
    st->key = yv_doc_strdup(doc, "", 0);
    if (!st->device || !st->key) return NULL;
    if (with_data) {
        size_t n = (size_t)numel * esz;
        if (!charge(doc, n)) return NULL;
        st->data = calloc(1, n ? n : 1);
        if (!st->data) return NULL;
    }
    doc->storages[doc->nstorages++] = st;
    return st;
}

static bool contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        if (shape[d] < 0) return false;
        if (shape[d] && s > INT64_MAX / shape[d]) return false;
        s *= shape[d] ? shape[d] : 1;
    }
    return true;
}

yv *yv_new_tensor_view(yv_doc *doc, yv_storage *st, yv_dtype dt, int ndim, const int64_t *shape,
                       const int64_t *stride, int64_t offset) {
    if (ndim < 0 || ndim > YV_MAX_DIMS || !st) return NULL;
    yv *v = new_value(doc, YV_TENSOR);
    if (!v) return NULL;
    v->tensor.dtype = dt;
    v->tensor.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        v->tensor.shape[d] = shape[d];
        v->tensor.stride[d] = stride[d];
    }
    v->tensor.offset = offset;
    v->tensor.storage = st;
    st->refs++;
    return v;
}

yv *yv_new_tensor(yv_doc *doc, yv_dtype dt, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > YV_MAX_DIMS) return NULL;
    int64_t stride[YV_MAX_DIMS];
    if (!contiguous_strides(ndim, shape, stride)) return NULL;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] && n > INT64_MAX / shape[d]) return NULL;
        n *= shape[d];
    }
    yv_storage *st = yv_new_storage(doc, dt, n, true);
    if (!st) return NULL;
    return yv_new_tensor_view(doc, st, dt, ndim, shape, stride, 0);
}

/* ---- containers ---- */

static bool grow(yv_doc *doc, void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 4;
    if (nc > SIZE_MAX / elem) return false;
    void *p = yv_doc_alloc(doc, nc * elem);
    if (!p) return false;
    if (n) memcpy(p, *arr, n * elem);
    *arr = p;
    *cap = nc;
    return true;
}

static yolo_status alloc_error(yv_doc *doc) {
    if (doc->over_limit)
        return yolo_error(YOLO_ERR_LIMIT, "values exceed the memory limit of %zu bytes", doc->limit);
    return yolo_nomem();
}

yolo_status yv_seq_push(yv_doc *doc, yv *seq, yv *item) {
    if (!seq || (seq->kind != YV_LIST && seq->kind != YV_TUPLE && seq->kind != YV_SET))
        return yolo_error(YOLO_ERR_USAGE, "yv_seq_push: not a sequence");
    void *arr = seq->seq.items;
    if (!grow(doc, &arr, &seq->seq.cap, seq->seq.n, sizeof(yv *))) return alloc_error(doc);
    seq->seq.items = arr;
    seq->seq.items[seq->seq.n++] = item;
    return YOLO_OK;
}

/* Key hashing and equality follow Python's for the key kinds pickles use: numbers compare by value
 * (True == 1 == 1.0), str and bytes by content, tuples element-wise; anything else by identity. */
static bool num_of(const yv *v, double *d, int64_t *i, bool *is_int) {
    switch (v->kind) {
    case YV_BOOL:
        *i = v->b;
        *is_int = true;
        return true;
    case YV_INT:
        *i = v->i;
        *is_int = true;
        return true;
    case YV_FLOAT:
        *d = v->f;
        *is_int = false;
        if (v->f == floor(v->f) && fabs(v->f) < 9.2e18) {
            *i = (int64_t)v->f;
            *is_int = true;
        }
        return true;
    default:
        return false;
    }
}

static uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* A per-process random seed, so that a hostile file cannot pick keys that all collide. */
static uint64_t hash_seed(void) {
    static uint64_t seed;
    if (!seed) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        uint64_t s = 0x9e3779b97f4a7c15ULL;
        if (r) memcpy(&s, r + 8, sizeof s);
        seed = s | 1; /* races are harmless: every thread computes the same value */
    }
    return seed;
}

static uint64_t key_hash(const yv *k, int depth) {
    double d;
    int64_t i;
    bool is_int;
    if (num_of(k, &d, &i, &is_int)) {
        if (is_int) return mix((uint64_t)i ^ hash_seed());
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        return mix(u ^ hash_seed() ^ 0x5bd1e995);
    }
    switch (k->kind) {
    case YV_NONE:
        return 0x9e3779b97f4a7c15ULL;
    case YV_STR:
    case YV_BYTES:
    case YV_BIGINT:
    case YV_GLOBAL: {
        uint64_t h = hash_seed() ^ (uint64_t)k->kind;
        for (size_t j = 0; j < k->str.len; j++)
            h = (h ^ (unsigned char)k->str.s[j]) * 1099511628211ULL;
        return mix(h);
    }
    case YV_TUPLE: {
        uint64_t h = 0x12345;
        if (depth > 32) return h;
        for (size_t j = 0; j < k->seq.n; j++)
            h = mix(h * 31 + key_hash(k->seq.items[j], depth + 1));
        return h;
    }
    default:
        return mix((uint64_t)(uintptr_t)k);
    }
}

static bool key_eq(const yv *a, const yv *b, int depth) {
    if (a == b) return true;
    double da, db;
    int64_t ia, ib;
    bool ai, bi;
    if (num_of(a, &da, &ia, &ai) && num_of(b, &db, &ib, &bi)) {
        if (ai && bi) return ia == ib;
        if (!ai && !bi) return da == db;
        return false;
    }
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case YV_NONE:
        return true;
    case YV_STR:
    case YV_BYTES:
    case YV_BIGINT:
    case YV_GLOBAL:
        return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
    case YV_TUPLE:
        if (a->seq.n != b->seq.n || depth > 32) return false;
        for (size_t j = 0; j < a->seq.n; j++)
            if (!key_eq(a->seq.items[j], b->seq.items[j], depth + 1)) return false;
        return true;
    default:
        return false;
    }
}

static bool build_index(yv_doc *doc, yv *d) {
    size_t cap = 16;
    while (cap < d->dict.n * 4)
        cap *= 2;
    if (cap > UINT32_MAX) return false;
    uint32_t *idx = yv_doc_alloc(doc, cap * sizeof *idx);
    if (!idx) return false;
    memset(idx, 0, cap * sizeof *idx);
    for (size_t j = 0; j < d->dict.n; j++) {
        size_t s = key_hash(d->dict.keys[j], 0) & (cap - 1);
        while (idx[s])
            s = (s + 1) & (cap - 1);
        idx[s] = (uint32_t)(j + 1);
    }
    d->dict.index = idx;
    d->dict.index_cap = cap;
    return true;
}

/* Position of key in d, or -1. */
static ptrdiff_t dict_find(const yv *d, const yv *key) {
    if (d->dict.index) {
        size_t mask = d->dict.index_cap - 1;
        for (size_t s = key_hash(key, 0) & mask;; s = (s + 1) & mask) {
            uint32_t e = d->dict.index[s];
            if (!e) return -1;
            if (key_eq(d->dict.keys[e - 1], key, 0)) return (ptrdiff_t)e - 1;
        }
    }
    for (size_t j = 0; j < d->dict.n; j++)
        if (key_eq(d->dict.keys[j], key, 0)) return (ptrdiff_t)j;
    return -1;
}

yolo_status yv_dict_put(yv_doc *doc, yv *dict, yv *key, yv *val) {
    if (!dict || dict->kind != YV_DICT || !key) return yolo_error(YOLO_ERR_USAGE, "yv_dict_put: not a dict");
    ptrdiff_t at = dict_find(dict, key);
    if (at >= 0) {
        dict->dict.vals[at] = val;
        return YOLO_OK;
    }
    size_t cap = dict->dict.cap;
    void *keys = dict->dict.keys, *vals = dict->dict.vals;
    if (!grow(doc, &keys, &cap, dict->dict.n, sizeof(yv *))) return alloc_error(doc);
    cap = dict->dict.cap;
    if (!grow(doc, &vals, &cap, dict->dict.n, sizeof(yv *))) return alloc_error(doc);
    dict->dict.keys = keys;
    dict->dict.vals = vals;
    dict->dict.cap = cap;
    size_t n = dict->dict.n++;
    dict->dict.keys[n] = key;
    dict->dict.vals[n] = val;
    /* a dict that had an index keeps it up to date, also when deletions took it under INDEX_MIN */
    if (dict->dict.index || dict->dict.n > INDEX_MIN) {
        if (!dict->dict.index || dict->dict.n * 2 > dict->dict.index_cap) {
            if (!build_index(doc, dict)) return alloc_error(doc);
        } else {
            size_t mask = dict->dict.index_cap - 1;
            size_t s = key_hash(key, 0) & mask;
            while (dict->dict.index[s])
                s = (s + 1) & mask;
            dict->dict.index[s] = (uint32_t)(n + 1);
        }
    }
    return YOLO_OK;
}

yolo_status yv_dict_set(yv_doc *doc, yv *dict, const char *key, yv *val) {
    yv *k = yv_new_str(doc, key);
    if (!k) return alloc_error(doc);
    return yv_dict_put(doc, dict, k, val);
}

/* Objects with a dict state (SimpleNamespace-like records) are looked into like dicts. */
static const yv *as_dict(const yv *v) {
    if (!v) return NULL;
    if (v->kind == YV_DICT) return v;
    if (v->kind == YV_OBJECT && v->obj.state) {
        const yv *s = v->obj.state;
        if (s->kind == YV_TUPLE && s->seq.n == 2 && s->seq.items[0]->kind == YV_DICT) s = s->seq.items[0];
        if (s->kind == YV_DICT) return s;
    }
    return NULL;
}

yv *yv_dict_get(const yv *dict, const char *key) {
    const yv *d = as_dict(dict);
    if (!d) return NULL;
    yv k = {.kind = YV_STR};
    k.str.s = (char *)key;
    k.str.len = strlen(key);
    ptrdiff_t at = dict_find(d, &k);
    return at >= 0 ? d->dict.vals[at] : NULL;
}

yv *yv_path(const yv *root, const char *dotted) {
    const yv *v = root;
    char part[256];
    while (v && *dotted) {
        const char *dot = strchr(dotted, '.');
        size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
        if (n >= sizeof part) return NULL;
        memcpy(part, dotted, n);
        part[n] = 0;
        v = yv_dict_get(v, part);
        dotted += n + (dot ? 1 : 0);
    }
    return (yv *)v;
}

bool yv_dict_del(yv *dict, const char *key) {
    if (!dict || dict->kind != YV_DICT) return false;
    yv k = {.kind = YV_STR};
    k.str.s = (char *)key;
    k.str.len = strlen(key);
    ptrdiff_t at = dict_find(dict, &k);
    if (at < 0) return false;
    size_t rest = dict->dict.n - (size_t)at - 1;
    memmove(dict->dict.keys + at, dict->dict.keys + at + 1, rest * sizeof(yv *));
    memmove(dict->dict.vals + at, dict->dict.vals + at + 1, rest * sizeof(yv *));
    dict->dict.n--;
    if (dict->dict.index) {
        /* Rebuild in place: positions after the removed entry shifted down by one. */
        size_t cap = dict->dict.index_cap;
        memset(dict->dict.index, 0, cap * sizeof(uint32_t));
        for (size_t j = 0; j < dict->dict.n; j++) {
            size_t s = key_hash(dict->dict.keys[j], 0) & (cap - 1);
            while (dict->dict.index[s])
                s = (s + 1) & (cap - 1);
            dict->dict.index[s] = (uint32_t)(j + 1);
        }
    }
    return true;
}

yolo_status yv_dict_set_new(yv_doc *doc, yv *dict, const char *key, yv *val) {
    if (!val) return yolo_nomem();
    return yv_dict_set(doc, dict, key, val);
}

static yv *copy_plain_at(yv_doc *doc, const yv *v, int depth) {
    if (!v || depth > 32) return yv_new_none(doc);
    switch (v->kind) {
    case YV_NONE:
        return yv_new_none(doc);
    case YV_BOOL:
        return yv_new_bool(doc, v->b);
    case YV_INT:
        return yv_new_int(doc, v->i);
    case YV_FLOAT:
        return yv_new_float(doc, v->f);
    case YV_STR:
        return yv_new_strn(doc, v->str.s, v->str.len);
    case YV_LIST:
    case YV_TUPLE: {
        yv *l = v->kind == YV_LIST ? yv_new_list(doc) : yv_new_tuple(doc);
        for (size_t i = 0; l && i < v->seq.n; i++) {
            yv *c = copy_plain_at(doc, v->seq.items[i], depth + 1);
            if (!c || yv_seq_push(doc, l, c) != YOLO_OK) return NULL;
        }
        return l;
    }
    case YV_DICT: {
        yv *d = yv_new_dict(doc);
        for (size_t i = 0; d && i < v->dict.n; i++) {
            yv *k = copy_plain_at(doc, v->dict.keys[i], depth + 1),
               *c = copy_plain_at(doc, v->dict.vals[i], depth + 1);
            if (!k || !c || yv_dict_put(doc, d, k, c) != YOLO_OK) return NULL;
        }
        return d;
    }
    default:
        return yv_new_none(doc);
    }
}

yv *yv_copy_plain(yv_doc *doc, const yv *v) {
    return copy_plain_at(doc, v, 0);
}

/* ---- scalars ---- */

static bool numpy_scalar(const yv *v, double *out);

bool yv_as_int(const yv *v, int64_t *out) {
    if (!v) return false;
    double d;
    switch (v->kind) {
    case YV_OBJECT: /* numpy integer scalars (and integral float ones) */
        if (!numpy_scalar(v, &d) || d != floor(d) || d < -9.2e18 || d > 9.2e18) return false;
        *out = (int64_t)d;
        return true;
    case YV_INT:
        *out = v->i;
        return true;
    case YV_BOOL:
        *out = v->b;
        return true;
    case YV_FLOAT:
        if (v->f == floor(v->f) && v->f >= -9.2e18 && v->f <= 9.2e18) {
            *out = (int64_t)v->f;
            return true;
        }
        return false;
    default:
        return false;
    }
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float f = (float)man * 0x1p-24f;
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Reads element i (a pointer into raw little-endian data) of dtype dt as a double. */
static double elem_to_double(yv_dtype dt, const unsigned char *p) {
    switch (dt) {
    case YDT_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case YDT_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return half_to_float(h);
    }
    case YDT_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        uint32_t b = (uint32_t)h << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case YDT_F64: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    case YDT_I64: {
        int64_t i;
        memcpy(&i, p, 8);
        return (double)i;
    }
    case YDT_I32: {
        int32_t i;
        memcpy(&i, p, 4);
        return i;
    }
    case YDT_I16: {
        int16_t i;
        memcpy(&i, p, 2);
        return i;
    }
    case YDT_I8:
        return (int8_t)p[0];
    case YDT_U8:
        return p[0];
    case YDT_BOOL:
        return p[0] != 0;
    default:
        return 0;
    }
}

/* numpy scalar records: numpy.core.multiarray.scalar(dtype, raw bytes), dtype = numpy.dtype("f8", ...)
 * with BUILD state (version, byte order, ...). */
static bool numpy_scalar(const yv *v, double *out) {
    const char *c = v->obj.cls;
    if (strcmp(c, "numpy.core.multiarray.scalar") != 0 && strcmp(c, "numpy._core.multiarray.scalar") != 0)
        return false;
    const yv *a = v->obj.args;
    if (!a || a->kind != YV_TUPLE || a->seq.n < 2) return false;
    const yv *dt = a->seq.items[0], *raw = a->seq.items[1];
    if (dt->kind != YV_OBJECT || strcmp(dt->obj.cls, "numpy.dtype") != 0 || raw->kind != YV_BYTES)
        return false;
    const yv *da = dt->obj.args;
    if (!da || da->kind != YV_TUPLE || da->seq.n < 1 || da->seq.items[0]->kind != YV_STR) return false;
    const char *code = da->seq.items[0]->str.s;
    bool big = false;
    const yv *st = dt->obj.state;
    if (st && st->kind == YV_TUPLE && st->seq.n > 1 && st->seq.items[1]->kind == YV_STR)
        big = strcmp(st->seq.items[1]->str.s, ">") == 0;
    static const struct {
        const char *code;
        yv_dtype dt;
    } codes[] = {{"f8", YDT_F64}, {"f4", YDT_F32}, {"f2", YDT_F16}, {"i8", YDT_I64}, {"i4", YDT_I32},
                 {"i2", YDT_I16}, {"i1", YDT_I8},  {"u1", YDT_U8},  {"b1", YDT_BOOL}};
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        if (strcmp(code, codes[k].code) != 0) continue;
        size_t sz = yv_dtype_size(codes[k].dt);
        if (raw->str.len != sz) return false;
        unsigned char b[8];
        for (size_t j = 0; j < sz; j++)
            b[j] = (unsigned char)raw->str.s[big ? sz - 1 - j : j];
        *out = elem_to_double(codes[k].dt, b);
        return true;
    }
    return false;
}

bool yv_as_double(const yv *v, double *out) {
    if (!v) return false;
    switch (v->kind) {
    case YV_FLOAT:
        *out = v->f;
        return true;
    case YV_INT:
        *out = (double)v->i;
        return true;
    case YV_BOOL:
        *out = v->b;
        return true;
    case YV_OBJECT:
        return numpy_scalar(v, out);
    case YV_BIGINT: { /* beyond int64: the nearest double */
        const unsigned char *b = (const unsigned char *)v->str.s;
        bool neg = v->str.len && (b[v->str.len - 1] & 0x80);
        double d = 0;
        for (size_t i = v->str.len; i-- > 0;)
            d = d * 256 + (neg ? (unsigned char)~b[i] : b[i]);
        *out = neg ? -(d + 1) : d;
        return true;
    }
    case YV_TENSOR: {
        const yv_tensor *t = &v->tensor;
        if (yv_tensor_numel(t) != 1) return false;
        const unsigned char *p = yv_tensor_data(t);
        if (!p) return false;
        *out = elem_to_double(t->dtype, p);
        return true;
    }
    default:
        return false;
    }
}

const char *yv_as_str(const yv *v) {
    return v && v->kind == YV_STR ? v->str.s : NULL;
}

bool yv_is_truthy(const yv *v) {
    if (!v) return false;
    switch (v->kind) {
    case YV_NONE:
        return false;
    case YV_BOOL:
        return v->b;
    case YV_INT:
        return v->i != 0;
    case YV_BIGINT:
        return true;
    case YV_FLOAT:
        return v->f != 0;
    case YV_STR:
    case YV_BYTES:
        return v->str.len != 0;
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET:
        return v->seq.n != 0;
    case YV_DICT:
        return v->dict.n != 0;
    default:
        return true;
    }
}

bool yv_get_int(const yv *dict, const char *key, int64_t *out) {
    const yv *v = yv_dict_get(dict, key);
    double d;
    if (!v || v->kind == YV_NONE || !yv_as_double(v, &d)) return false;
    *out = (int64_t)d;
    return true;
}

double yv_get_num(const yv *dict, const char *key, double def) {
    const yv *v = yv_dict_get(dict, key);
    double d;
    return v && yv_as_double(v, &d) ? d : def;
}

const char *yv_get_str(const yv *dict, const char *key) {
    return yv_as_str(yv_dict_get(dict, key));
}

/* ---- tensors ---- */

int64_t yv_tensor_numel(const yv_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

bool yv_tensor_is_contiguous(const yv_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 0) return true;
        if (t->shape[d] != 1 && t->stride[d] != s) return false;
        s *= t->shape[d];
    }
    return true;
}

void *yv_tensor_data(const yv_tensor *t) {
    if (!t->storage || !t->storage->data) return NULL;
    return (char *)t->storage->data + (size_t)t->offset * yv_dtype_size(t->storage->dtype);
}

static yolo_status to_doubles(const yv_tensor *t, float *f32, double *f64) {
    const unsigned char *base = yv_tensor_data(t);
    if (!base) return yolo_error(YOLO_ERR_USAGE, "tensor data was not loaded");
    int64_t n = yv_tensor_numel(t);
    size_t esz = yv_dtype_size(t->dtype);
    /* Model weights are contiguous float32 or float16: convert those without per-element dispatch. */
    if (yv_tensor_is_contiguous(t)) {
        if (f32 && t->dtype == YDT_F32) {
            memcpy(f32, base, (size_t)n * 4);
            return YOLO_OK;
        }
        if (t->dtype == YDT_F16) {
            for (int64_t k = 0; k < n; k++) {
                uint16_t h;
                memcpy(&h, base + 2 * k, 2);
                float v = half_to_float(h);
                if (f32)
                    f32[k] = v;
                else
                    f64[k] = v;
            }
            return YOLO_OK;
        }
    }
    int64_t idx[YV_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = elem_to_double(t->dtype, base + off * (int64_t)esz);
        if (f32)
            f32[k] = (float)d;
        else
            f64[k] = d;
        for (int dim = t->ndim - 1; dim >= 0; dim--) {
            off += t->stride[dim];
            if (++idx[dim] < t->shape[dim]) break;
            off -= t->stride[dim] * t->shape[dim];
            idx[dim] = 0;
        }
    }
    return YOLO_OK;
}

yolo_status yv_tensor_to_f32(const yv_tensor *t, float *out) {
    return to_doubles(t, out, NULL);
}
yolo_status yv_tensor_to_f64(const yv_tensor *t, double *out) {
    return to_doubles(t, NULL, out);
}

/* ---- state dicts ---- */

static const yv *module_state(const yv *m) {
    if (!m || m->kind != YV_OBJECT) return NULL;
    const yv *s = as_dict(m);
    if (!s || !yv_dict_get(s, "_modules") || !yv_dict_get(s, "_parameters")) return NULL;
    return s;
}

static bool in_set(const yv *set, const yv *key) {
    if (!set || (set->kind != YV_SET && set->kind != YV_LIST && set->kind != YV_TUPLE)) return false;
    for (size_t j = 0; j < set->seq.n; j++)
        if (key_eq(set->seq.items[j], key, 0)) return true;
    return false;
}

static yolo_status put_named(yv_doc *doc, yv *out, const char *prefix, const yv *name, yv *t) {
    if (name->kind != YV_STR) return yolo_error(YOLO_ERR_FORMAT, "module has a non-string member name");
    size_t pl = strlen(prefix);
    char *full = yv_doc_alloc(doc, pl + name->str.len + 1);
    if (!full) return alloc_error(doc);
    memcpy(full, prefix, pl);
    memcpy(full + pl, name->str.s, name->str.len + 1);
    yv *k = yv_new_str(doc, full);
    if (!k) return alloc_error(doc);
    return yv_dict_put(doc, out, k, t);
}

/* The order of torch's Module.state_dict(): own parameters, own persistent buffers, then children.
 * *budget bounds the work: a hostile file can share one module many times over (a DAG whose walk
 * grows exponentially), which real models never do. */
static yolo_status walk_module(yv_doc *doc, yv *out, const yv *m, const char *prefix, int depth,
                               long *budget) {
    if (depth > MAX_DEPTH) return yolo_error(YOLO_ERR_LIMIT, "modules nested too deeply");
    if (--*budget < 0) return yolo_error(YOLO_ERR_LIMIT, "module tree too large (shared modules?)");
    const yv *s = module_state(m);
    if (!s) return yolo_error(YOLO_ERR_FORMAT, "a module record has no _parameters/_modules");
    const yv *params = yv_dict_get(s, "_parameters"), *bufs = yv_dict_get(s, "_buffers");
    const yv *nonp = yv_dict_get(s, "_non_persistent_buffers_set"), *mods = yv_dict_get(s, "_modules");
    yolo_status st;
    for (int pass = 0; pass < 2; pass++) {
        const yv *d = pass == 0 ? params : bufs;
        if (!d || d->kind != YV_DICT) continue;
        for (size_t j = 0; j < d->dict.n; j++) {
            yv *t = d->dict.vals[j];
            if (t->kind == YV_NONE) continue;
            if (pass == 1 && in_set(nonp, d->dict.keys[j])) continue;
            if (t->kind != YV_TENSOR)
                return yolo_error(YOLO_ERR_FORMAT, "a module parameter is not a tensor");
            if (--*budget < 0) return yolo_error(YOLO_ERR_LIMIT, "module tree too large (shared modules?)");
            if ((st = put_named(doc, out, prefix, d->dict.keys[j], t))) return st;
        }
    }
    if (mods && mods->kind == YV_DICT) {
        for (size_t j = 0; j < mods->dict.n; j++) {
            const yv *child = mods->dict.vals[j], *name = mods->dict.keys[j];
            if (child->kind == YV_NONE) continue;
            if (name->kind != YV_STR)
                return yolo_error(YOLO_ERR_FORMAT, "module has a non-string child name");
            size_t pl = strlen(prefix);
            if (name->str.len > 4096 || pl > 65536)
                return yolo_error(YOLO_ERR_LIMIT, "module names too long");
            char *sub = yv_doc_alloc(doc, pl + name->str.len + 2);
            if (!sub) return alloc_error(doc);
            memcpy(sub, prefix, pl);
            memcpy(sub + pl, name->str.s, name->str.len);
            sub[pl + name->str.len] = '.';
            sub[pl + name->str.len + 1] = 0;
            if ((st = walk_module(doc, out, child, sub, depth + 1, budget))) return st;
        }
    }
    return YOLO_OK;
}

yv *yv_state_dict(yv_doc *doc, const yv *v) {
    if (!v) return NULL;
    if (v->kind == YV_DICT) return (yv *)v;
    if (!module_state(v)) return NULL;
    yv *out = yv_new_dict(doc);
    if (!out) return NULL;
    out->dict.ordered = true;
    long budget = 1L << 18; /* modules + tensors; YOLOv8x has about 1,000 */
    if (walk_module(doc, out, v, "", 0, &budget)) return NULL;
    return out;
}

int64_t yv_state_dict_numel(const yv *sd) {
    if (!sd || sd->kind != YV_DICT) return 0;
    int64_t n = 0;
    for (size_t j = 0; j < sd->dict.n; j++)
        if (sd->dict.vals[j]->kind == YV_TENSOR) n += yv_tensor_numel(&sd->dict.vals[j]->tensor);
    return n;
}

/* ---- repr ---- */

typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    if (b->len + 1 >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) b->len = b->len + (size_t)n < b->cap ? b->len + (size_t)n : b->cap - 1;
}

static void repr(sbuf *b, const yv *v, int depth) {
    if (b->len + 1 >= b->cap) return;
    if (!v) {
        put(b, "<null>");
        return;
    }
    switch (v->kind) {
    case YV_NONE:
        put(b, "None");
        break;
    case YV_BOOL:
        put(b, v->b ? "True" : "False");
        break;
    case YV_INT:
        put(b, "%lld", (long long)v->i);
        break;
    case YV_BIGINT:
        put(b, "<int of %zu bytes>", v->str.len);
        break;
    case YV_FLOAT:
        put(b, "%.17g", v->f);
        break;
    case YV_STR:
        put(b, "'%.*s%s'", (int)(v->str.len > 60 ? 60 : v->str.len), v->str.s, v->str.len > 60 ? "..." : "");
        break;
    case YV_BYTES:
        put(b, "<%zu bytes>", v->str.len);
        break;
    case YV_GLOBAL:
        put(b, "<global %s>", v->str.s);
        break;
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET: {
        const char *o = v->kind == YV_LIST ? "[" : v->kind == YV_TUPLE ? "(" : "{";
        const char *c = v->kind == YV_LIST ? "]" : v->kind == YV_TUPLE ? ")" : "}";
        if (depth > 4) {
            put(b, "%s...%zu%s", o, v->seq.n, c);
            break;
        }
        put(b, "%s", o);
        for (size_t j = 0; j < v->seq.n && j < 8; j++) {
            if (j) put(b, ", ");
            repr(b, v->seq.items[j], depth + 1);
        }
        if (v->seq.n > 8) put(b, ", ...(%zu items)", v->seq.n);
        put(b, "%s", c);
        break;
    }
    case YV_DICT:
        if (depth > 4) {
            put(b, "{...%zu}", v->dict.n);
            break;
        }
        put(b, "{");
        for (size_t j = 0; j < v->dict.n && j < 8; j++) {
            if (j) put(b, ", ");
            repr(b, v->dict.keys[j], depth + 1);
            put(b, ": ");
            repr(b, v->dict.vals[j], depth + 1);
        }
        if (v->dict.n > 8) put(b, ", ...(%zu items)", v->dict.n);
        put(b, "}");
        break;
    case YV_TENSOR: {
        const yv_tensor *t = &v->tensor;
        put(b, "%s(%s[", t->is_parameter ? "Parameter" : "tensor", yv_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            put(b, d ? ", %lld" : "%lld", (long long)t->shape[d]);
        put(b, "])");
        break;
    }
    case YV_OBJECT: {
        double d;
        if (numpy_scalar(v, &d))
            put(b, "%.17g", d);
        else
            put(b, "<%s>", v->obj.cls);
        break;
    }
    }
}

void yv_repr(const yv *v, char *buf, size_t cap) {
    if (!cap) return;
    sbuf b = {buf, cap, 0};
    buf[0] = 0;
    repr(&b, v, 0);
}
