/* Checkpoint files: the golden and reference files, round trips, damaged and hostile files, atomic writes.
 *
 * Also a helper for tests/t_ckpt_python.sh:
 *   test_ckpt --dump FILE...      canonical text of each file's values (tensors as SHA-256 of their bytes)
 *   test_ckpt --copy IN OUT       read IN and write it again with ckpt_write
 *   test_ckpt --samples DIR       write checkpoints holding every kind of value we write */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/pickle.h"

/* ---- canonical dump (the same text tests/t_ckpt_python.sh prints from torch.load) ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} sb;

static void sb_put(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf) abort();
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_hex(sb *b, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        sb_put(b, "%02x", c[i]);
}

typedef struct {
    sb *out;
    yv_doc *doc;
    const yv_storage **seen;
    size_t nseen;
} dumper;

static size_t storage_index(dumper *d, const yv_storage *s) {
    for (size_t i = 0; i < d->nseen; i++)
        if (d->seen[i] == s) return i;
    d->seen = realloc(d->seen, (d->nseen + 1) * sizeof *d->seen);
    d->seen[d->nseen] = s;
    return d->nseen++;
}

/* Decimal text of a little-endian two's complement integer of any size. */
static void bigint_dec(sb *b, const unsigned char *le, size_t n) {
    unsigned char *m = malloc(n + 1);
    bool neg = n && (le[n - 1] & 0x80);
    unsigned carry = 1;
    for (size_t i = 0; i < n; i++) {
        if (neg) {
            unsigned x = (unsigned)(unsigned char)~le[i] + carry;
            m[i] = (unsigned char)x;
            carry = x >> 8;
        } else {
            m[i] = le[i];
        }
    }
    char *digits = malloc(n * 3 + 2);
    size_t nd = 0, len = n;
    while (len) {
        unsigned rem = 0;
        for (size_t i = len; i-- > 0;) {
            unsigned x = rem << 8 | m[i];
            m[i] = (unsigned char)(x / 10);
            rem = x % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (len && m[len - 1] == 0)
            len--;
    }
    if (!nd) digits[nd++] = '0';
    sb_put(b, "%s", neg ? "-" : "");
    while (nd)
        sb_put(b, "%c", digits[--nd]);
    free(digits);
    free(m);
}

static void dump_key(sb *b, const yv *k) {
    if (k->kind == YV_STR) {
        bool plain = true;
        for (size_t i = 0; i < k->str.len; i++) {
            unsigned char c = (unsigned char)k->str.s[i];
            if (c < 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '\'') plain = false;
        }
        if (plain)
            sb_put(b, "'%s'", k->str.s);
        else {
            sb_put(b, "s:");
            sb_hex(b, k->str.s, k->str.len);
        }
    } else if (k->kind == YV_BOOL) {
        sb_put(b, "b:%d", k->b);
    } else if (k->kind == YV_INT) {
        sb_put(b, "i:%lld", (long long)k->i);
    } else if (k->kind == YV_BIGINT) {
        sb_put(b, "i:");
        bigint_dec(b, (const unsigned char *)k->str.s, k->str.len);
    } else {
        sb_put(b, "k?");
    }
}

/* SHA-256 (FIPS 180-4), for the tensor fingerprints the Python side computes with hashlib. */
typedef struct {
    uint32_t h[8];
    unsigned char buf[64];
    size_t nbuf;
    uint64_t total;
} sha256;

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) {
    return x >> n | x << (32 - n);
}

static void sha_block(sha256 *c, const unsigned char *b) {
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 |
               b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, c->h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) +
                      ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha_k[i] + w[i];
        uint32_t t2 =
            (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        c->h[i] += v[i];
}

static void sha_init(sha256 *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->nbuf = 0;
    c->total = 0;
}

static void sha_update(sha256 *c, const unsigned char *p, size_t n) {
    c->total += n;
    while (n) {
        size_t k = 64 - c->nbuf < n ? 64 - c->nbuf : n;
        memcpy(c->buf + c->nbuf, p, k);
        c->nbuf += k;
        p += k;
        n -= k;
        if (c->nbuf == 64) {
            sha_block(c, c->buf);
            c->nbuf = 0;
        }
    }
}

static void sha_final(sha256 *c, char hex[65]) {
    uint64_t bits = c->total * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    sha_update(c, &pad, 1);
    while (c->nbuf != 56)
        sha_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha_update(c, len, 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", c->h[i]);
}

static void dump_tensor(dumper *d, const yv_tensor *t, bool sd) {
    sb *b = d->out;
    size_t esz = yv_dtype_size(t->dtype);
    int64_t n = yv_tensor_numel(t);
    unsigned char *raw = malloc((size_t)n * esz + 1);
    const unsigned char *base = yv_tensor_data(t);
    int64_t idx[YV_MAX_DIMS] = {0}, off = 0;
    for (int64_t k = 0; k < n && base; k++) {
        memcpy(raw + k * (int64_t)esz, base + off * (int64_t)esz, esz);
        for (int dim = t->ndim - 1; dim >= 0; dim--) {
            off += t->stride[dim];
            if (++idx[dim] < t->shape[dim]) break;
            off -= t->stride[dim] * t->shape[dim];
            idx[dim] = 0;
        }
    }
    sha256 sh;
    char hex[65] = "none";
    if (base) {
        sha_init(&sh);
        sha_update(&sh, raw, (size_t)n * esz);
        sha_final(&sh, hex);
    }
    free(raw);
    sb_put(b, " tensor %s [", yv_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        sb_put(b, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    sb_put(b, "] [");
    for (int i = 0; i < t->ndim; i++)
        sb_put(b, i ? ", %lld" : "%lld", (long long)t->stride[i]);
    sb_put(b, "] off=%lld st=%zu sha256=%s n=%zu", (long long)t->offset, storage_index(d, t->storage), hex,
           (size_t)n * esz);
    if (!sd) sb_put(b, " param=%d rg=%d", t->is_parameter, t->requires_grad);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_value(dumper *d, const char *path, const yv *v, bool sd, int depth) {
    sb *b = d->out;
    if (depth > 100) {
        sb_put(b, "%s too-deep\n", path);
        return;
    }
    sb_put(b, "%s", path);
    double f;
    switch (v->kind) {
    case YV_NONE:
        sb_put(b, " None\n");
        return;
    case YV_BOOL:
        sb_put(b, " bool %d\n", v->b);
        return;
    case YV_INT:
        sb_put(b, " int %lld\n", (long long)v->i);
        return;
    case YV_BIGINT:
        sb_put(b, " int ");
        bigint_dec(b, (const unsigned char *)v->str.s, v->str.len);
        sb_put(b, "\n");
        return;
    case YV_FLOAT:
    case YV_OBJECT:
        if (v->kind == YV_FLOAT || yv_as_double(v, &f)) {
            if (v->kind == YV_FLOAT) f = v->f;
            uint64_t bits;
            memcpy(&bits, &f, 8);
            sb_put(b, " float %016llx\n", (unsigned long long)bits);
            return;
        }
        {
            yv *m = yv_state_dict(d->doc, v);
            if (m) {
                sb_put(b, " odict %zu\n", m->dict.n);
                for (size_t i = 0; i < m->dict.n; i++) {
                    sb p = {0};
                    sb_put(&p, "%s[", path);
                    dump_key(&p, m->dict.keys[i]);
                    sb_put(&p, "]");
                    dump_value(d, p.buf, m->dict.vals[i], true, depth + 1);
                    free(p.buf);
                }
                return;
            }
        }
        sb_put(b, " object %s\n", v->obj.cls);
        return;
    case YV_STR:
        sb_put(b, " str ");
        sb_hex(b, v->str.s, v->str.len);
        sb_put(b, "\n");
        return;
    case YV_BYTES:
        sb_put(b, " bytes ");
        sb_hex(b, v->str.s, v->str.len);
        sb_put(b, "\n");
        return;
    case YV_GLOBAL:
        sb_put(b, " global %s\n", v->str.s);
        return;
    case YV_TENSOR:
        dump_tensor(d, &v->tensor, sd);
        sb_put(b, "\n");
        return;
    case YV_LIST:
    case YV_TUPLE:
        sb_put(b, " %s %zu\n", v->kind == YV_LIST ? "list" : "tuple", v->seq.n);
        for (size_t i = 0; i < v->seq.n; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            dump_value(d, p, v->seq.items[i], sd, depth + 1);
        }
        return;
    case YV_SET: {
        char **items = calloc(v->seq.n + 1, sizeof *items);
        for (size_t i = 0; i < v->seq.n; i++) {
            sb one = {0};
            dumper sub = {.out = &one, .doc = d->doc};
            dump_value(&sub, "", v->seq.items[i], sd, depth + 1);
            free(sub.seen);
            if (one.len) one.buf[--one.len] = 0; /* drop the newline */
            items[i] = one.buf;
        }
        qsort(items, v->seq.n, sizeof *items, cmp_str);
        sb_put(b, " set %zu ", v->seq.n);
        for (size_t i = 0; i < v->seq.n; i++) {
            sb_put(b, "%s%s", i ? "," : "", items[i]);
            free(items[i]);
        }
        free(items);
        sb_put(b, "\n");
        return;
    }
    case YV_DICT:
        sb_put(b, " %s %zu\n", v->dict.ordered ? "odict" : "dict", v->dict.n);
        for (size_t i = 0; i < v->dict.n; i++) {
            sb p = {0};
            sb_put(&p, "%s[", path);
            dump_key(&p, v->dict.keys[i]);
            sb_put(&p, "]");
            dump_value(d, p.buf, v->dict.vals[i], sd, depth + 1);
            free(p.buf);
        }
        return;
    }
}

static char *dump_root(yv_doc *doc, const yv *root) {
    sb out = {0};
    dumper d = {.out = &out, .doc = doc};
    dump_value(&d, "$", root, false, 0);
    free(d.seen);
    return out.buf;
}

/* ---- sample values (every kind the writer handles) ---- */

static yv *tensor_of(yv_doc *doc, yv_dtype dt, int ndim, const int64_t *shape, unsigned seed) {
    yv *t = yv_new_tensor(doc, dt, ndim, shape);
    unsigned char *p = yv_tensor_data(&t->tensor);
    size_t n = (size_t)yv_tensor_numel(&t->tensor) * yv_dtype_size(dt);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + seed * 7 + 3) >> 1);
    if (dt == YDT_BOOL)
        for (size_t i = 0; i < n; i++)
            p[i] &= 1;
    return t;
}

static yv *sample_values(yv_doc *doc) {
    yv *root = yv_new_dict(doc);
    yv *one_dict = yv_new_dict(doc);
    yv_dict_set(doc, one_dict, "only", yv_new_int(doc, 1));
    yv_dict_set(doc, root, "one_item_dict", one_dict);
    yv *one_list = yv_new_list(doc);
    yv_seq_push(doc, one_list, yv_new_str(doc, "x"));
    yv_dict_set(doc, root, "one_item_list", one_list);
    yv *od = yv_new_dict(doc);
    od->dict.ordered = true;
    yv_dict_set(doc, od, "z", yv_new_float(doc, 1.5));
    yv_dict_set(doc, od, "a", yv_new_none(doc));
    yv_dict_set(doc, root, "ordered", od);
    yv *ints = yv_new_list(doc);
    int64_t iv[] = {0,
                    1,
                    -1,
                    255,
                    256,
                    65535,
                    65536,
                    -129,
                    INT32_MAX,
                    INT32_MIN,
                    (int64_t)INT32_MAX + 1,
                    (int64_t)INT32_MIN - 1,
                    INT64_MAX,
                    INT64_MIN,
                    1LL << 40};
    for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++)
        yv_seq_push(doc, ints, yv_new_int(doc, iv[i]));
    const unsigned char big[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};             /* 2^64 */
    const unsigned char bigneg[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}; /* -(2^80) + 1 */
    yv_seq_push(doc, ints, yv_new_bigint(doc, big, sizeof big));
    yv_seq_push(doc, ints, yv_new_bigint(doc, bigneg, sizeof bigneg));
    yv_dict_set(doc, root, "ints", ints);
    yv *fl = yv_new_list(doc);
    double fv[] = {0.0, -0.0, 1e-300, 3.141592653589793, -2.5e10, 1.0 / 0.0, -1.0 / 0.0};
    for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++)
        yv_seq_push(doc, fl, yv_new_float(doc, fv[i]));
    yv_dict_set(doc, root, "floats", fl);
    yv *misc = yv_new_tuple(doc);
    yv_seq_push(doc, misc, yv_new_none(doc));
    yv_seq_push(doc, misc, yv_new_bool(doc, true));
    yv_seq_push(doc, misc, yv_new_bool(doc, false));
    yv_seq_push(doc, misc, yv_new_str(doc, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \n\"'"));
    yv_seq_push(doc, misc, yv_new_str(doc, ""));
    yv_seq_push(doc, misc, yv_new_bytes(doc, "\x00\x01\x7f\x80\xff abc", 9));
    yv_seq_push(doc, misc, yv_new_bytes(doc, "", 0));
    yv_dict_set(doc, root, "misc", misc);
    yv *t1 = yv_new_tuple(doc);
    yv_seq_push(doc, t1, yv_new_int(doc, 7));
    yv_dict_set(doc, root, "tuple1", t1);
    yv_dict_set(doc, root, "tuple0", yv_new_tuple(doc));
    yv *t5 = yv_new_tuple(doc);
    for (int i = 0; i < 5; i++)
        yv_seq_push(doc, t5, yv_new_int(doc, i));
    yv_dict_set(doc, root, "tuple5", t5);
    yv *set = yv_new_set(doc);
    yv_seq_push(doc, set, yv_new_int(doc, 3));
    yv_seq_push(doc, set, yv_new_str(doc, "s"));
    yv_dict_set(doc, root, "set", set);
    yv *ikeys = yv_new_dict(doc);
    yv_dict_put(doc, ikeys, yv_new_int(doc, 0), yv_new_str(doc, "zero"));
    yv_dict_put(doc, ikeys, yv_new_int(doc, 5000000000LL), yv_new_str(doc, "big"));
    yv_dict_set(doc, root, "int_keys", ikeys);

    yv *tens = yv_new_dict(doc);
    const yv_dtype dts[] = {YDT_F32, YDT_F16, YDT_BF16, YDT_F64, YDT_I64,
                            YDT_I32, YDT_I16, YDT_I8,   YDT_U8,  YDT_BOOL};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        int64_t shape[] = {2, 3};
        yv_dict_set(doc, tens, yv_dtype_name(dts[i]), tensor_of(doc, dts[i], 2, shape, (unsigned)i));
    }
    int64_t s0[1] = {0};
    yv_dict_set(doc, tens, "scalar", tensor_of(doc, YDT_F32, 0, s0, 9));
    yv_dict_set(doc, tens, "empty", tensor_of(doc, YDT_F32, 1, s0, 9));
    int64_t s4[] = {2, 1, 3, 2, 1};
    yv_dict_set(doc, tens, "five_dims", tensor_of(doc, YDT_F32, 5, s4, 4));
    /* Views: a transpose, one with an offset, and two tensors sharing one storage. */
    int64_t sh[] = {4, 5};
    yv *base = tensor_of(doc, YDT_F32, 2, sh, 11);
    yv_dict_set(doc, tens, "base", base);
    int64_t tsh[] = {5, 4}, tst[] = {1, 5};
    yv_dict_set(doc, tens, "transposed",
                yv_new_tensor_view(doc, base->tensor.storage, YDT_F32, 2, tsh, tst, 0));
    int64_t rsh[] = {3}, rst[] = {2};
    yv_dict_set(doc, tens, "strided_offset",
                yv_new_tensor_view(doc, base->tensor.storage, YDT_F32, 1, rsh, rst, 7));
    int64_t psh[] = {3, 2};
    yv *p = tensor_of(doc, YDT_F32, 2, psh, 13);
    p->tensor.is_parameter = true;
    p->tensor.requires_grad = true;
    yv_dict_set(doc, tens, "param", p);
    yv *p2 = tensor_of(doc, YDT_F16, 1, psh, 14);
    p2->tensor.is_parameter = true;
    yv_dict_set(doc, tens, "param_frozen", p2);
    yv *rg = tensor_of(doc, YDT_F64, 1, psh, 15);
    rg->tensor.requires_grad = true;
    yv_dict_set(doc, tens, "requires_grad", rg);
    yv_dict_set(doc, root, "tensors", tens);
    yv *same = yv_new_list(doc);
    yv_seq_push(doc, same, base);
    yv_seq_push(doc, same, base);
    yv_dict_set(doc, root, "same_tensor_twice", same);
    return root;
}

/* ---- helpers ---- */

static char tmpdir[4096];

static const char *tmp_path(const char *name) {
    static char buf[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void spit(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A zip written by libarchive's own writer (stored), for archives our writer would never make. */
static const char *zip_options = "zip:compression=store";

static void write_zip(const char *path, const char **names, const void **datas, const size_t *lens, int n) {
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_set_options(a, zip_options);
    archive_write_open_filename(a, path);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)lens[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, datas[i], lens[i]);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Where each entry's data lies in a stored zip we wrote (from the local headers). */
typedef struct {
    size_t off, len;
} span;

static int entry_spans(const unsigned char *z, size_t n, span *out, int max) {
    int k = 0;
    size_t p = 0;
    while (p + 30 <= n && memcmp(z + p, "PK\3\4", 4) == 0 && k < max) {
        size_t nl = z[p + 26] | (size_t)z[p + 27] << 8, xl = z[p + 28] | (size_t)z[p + 29] << 8;
        size_t len = z[p + 18] | (size_t)z[p + 19] << 8 | (size_t)z[p + 20] << 16 | (size_t)z[p + 21] << 24;
        out[k].off = p + 30 + nl + xl;
        out[k].len = len;
        p = out[k].off + len;
        k++;
    }
    return k;
}

/* ---- tests ---- */

static int read_all_dir(const char *dir, bool (*keep)(const char *)) {
    DIR *d = opendir(dir);
    int count = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".pt") != 0 || (keep && !keep(e->d_name))) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        yv_doc *d1 = NULL, *d2 = NULL;
        yv *r1 = NULL, *r2 = NULL;
        ckpt_read_opts skip = {.skip_tensor_data = true};
        yolo_status s1 = ckpt_read(path, &skip, &d1, &r1);
        yolo_status s2 = ckpt_read(path, NULL, &d2, &r2);
        CHECK(s1 == YOLO_OK && s2 == YOLO_OK && r1->kind == YV_DICT, "read %s (%s)", e->d_name,
              yolo_last_error());
        if (!s1 && !s2) {
            char *a = dump_root(d1, r1);
            size_t ns = yv_doc_storage_count(d2);
            bool all_data = ns > 0;
            for (size_t i = 0; i < ns; i++)
                if (!yv_doc_storage(d2, i)->data && yv_doc_storage(d2, i)->numel) all_data = false;
            CHECK(all_data && ns == yv_doc_storage_count(d1), "%s: %zu storages, all loaded", e->d_name, ns);
            free(a);
        }
        yolo_status vs = ckpt_verify(path);
        CHECK(vs == YOLO_OK, "verify %s", e->d_name);
        yv_doc_free(d1);
        yv_doc_free(d2);
        count++;
    }
    closedir(d);
    return count;
}

static void test_golden_and_reference(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/golden", tap_data());
    int n = read_all_dir(dir, NULL);
    CHECK(n >= 8, "read %d golden files", n);
    snprintf(dir, sizeof dir, "%s/ultralytics", tap_data());
    n = read_all_dir(dir, NULL);
    CHECK(n >= 3, "read %d reference checkpoints", n);

    /* det_forward's own list of state_dict names, against its dict and against the walked module. */
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/det_forward.pt", tap_data());
    yv_doc *gd;
    yv *g;
    ckpt_read_opts skip = {.skip_tensor_data = true};
    if (ckpt_read(path, &skip, &gd, &g)) {
        CHECK(0, "read det_forward.pt: %s", yolo_last_error());
        return;
    }
    yv *sd = yv_dict_get(g, "state_dict"), *keys = yv_dict_get(g, "state_dict_keys");
    int64_t len = 0;
    CHECK(sd && keys && yv_as_int(yv_dict_get(g, "state_dict_len"), &len) && len == 355 &&
              sd->dict.n == 355 && keys->seq.n == 355,
          "det_forward: 355 state_dict entries");
    bool same = sd && keys && sd->dict.n == keys->seq.n;
    for (size_t i = 0; same && i < keys->seq.n; i++)
        same = strcmp(sd->dict.keys[i]->str.s, keys->seq.items[i]->str.s) == 0;
    CHECK(same, "det_forward: state_dict order = state_dict_keys");

    /* The caller's bound on the pickle's memory is honoured. */
    snprintf(path, sizeof path, "%s/golden/det_forward.pt", tap_data());
    ckpt_read_opts tiny = {.skip_tensor_data = true, .max_bytes = 64 * 1024};
    yv_doc *td;
    yv *tr;
    yolo_status ts = ckpt_read(path, &tiny, &td, &tr);
    CHECK(ts == YOLO_ERR_LIMIT &&
              strstr(yolo_last_error(),
                     "det_forward.pt: entry det_forward/data.pkl has 80025 bytes, more than the limit"),
          "max_bytes 64 KiB: %s", yolo_last_error());
    snprintf(path, sizeof path, "%s/golden/det_assigner.pt", tap_data());
    ts = ckpt_read(path, &tiny, &td, &tr);
    CHECK(ts == YOLO_ERR_LIMIT &&
              strstr(yolo_last_error(), "det_assigner.pt: det_assigner/data.pkl: pickle values need more"),
          "max_bytes 64 KiB: %s", yolo_last_error());

    snprintf(path, sizeof path, "%s/ultralytics/yolov8n-fashion-mid.pt", tap_data());
    yv_doc *md;
    yv *m;
    if (ckpt_read(path, NULL, &md, &m)) {
        CHECK(0, "read yolov8n-fashion-mid.pt: %s", yolo_last_error());
        yv_doc_free(gd);
        return;
    }
    yv *ema = yv_state_dict(md, yv_dict_get(m, "ema"));
    bool names = ema && keys && ema->dict.n == keys->seq.n;
    for (size_t i = 0; names && i < keys->seq.n; i++)
        names = strcmp(ema->dict.keys[i]->str.s, keys->seq.items[i]->str.s) == 0;
    CHECK(names, "mid.pt: walked ema module gives the 355 state_dict names in torch's order");
    CHECK(ema && yv_state_dict_numel(ema) == 3023255, "mid.pt: ema holds %lld elements",
          ema ? (long long)yv_state_dict_numel(ema) : -1LL);
    yv *dfl = ema ? yv_dict_get(ema, "model.22.dfl.conv.weight") : NULL;
    float w[16] = {0};
    bool dfl_ok = dfl && dfl->kind == YV_TENSOR && dfl->tensor.dtype == YDT_F16 &&
                  yv_tensor_numel(&dfl->tensor) == 16 && yv_tensor_to_f32(&dfl->tensor, w) == YOLO_OK;
    for (int i = 0; dfl_ok && i < 16; i++)
        dfl_ok = w[i] == (float)i;
    CHECK(dfl_ok, "mid.pt: fp16 DFL weights read as 0..15");
    int64_t epoch = -9;
    CHECK(yv_as_int(yv_dict_get(m, "epoch"), &epoch) && epoch == 1, "mid.pt: epoch = 1");
    /* The optimizer's lr is a numpy float64 scalar record. */
    yv *groups = yv_path(m, "optimizer.param_groups");
    double lr = 0;
    CHECK(groups && groups->kind == YV_LIST && groups->seq.n == 3 &&
              yv_as_double(yv_dict_get(groups->seq.items[0], "lr"), &lr) && lr > 0 && lr < 0.1,
          "mid.pt: param_groups[0].lr = %g (numpy scalar)", lr);
    yv *lr0 = yv_path(m, "train_args.lr0");
    double v = 0;
    CHECK(lr0 && yv_as_double(lr0, &v) && v == 0.01, "mid.pt: train_args.lr0 = 0.01");
    yv_doc_free(md);
    yv_doc_free(gd);
}

static void test_round_trip(void) {
    yv_doc *doc = yv_doc_new();
    yv *root = sample_values(doc);
    const char *path = tmp_path("round.pt");
    yolo_status st = ckpt_write(path, root);
    CHECK(st == YOLO_OK, "write samples (%s)", yolo_last_error());
    yv_doc *d2;
    yv *r2;
    st = ckpt_read(path, NULL, &d2, &r2);
    CHECK(st == YOLO_OK, "read samples back (%s)", yolo_last_error());
    if (st) {
        yv_doc_free(doc);
        return;
    }
    char *a = dump_root(doc, root), *b = dump_root(d2, r2);
    CHECK(strcmp(a, b) == 0, "round trip gives equal values and bit-identical tensors");
    yv *shared = yv_path(r2, "tensors.transposed"), *base = yv_path(r2, "tensors.base");
    CHECK(shared && base && shared->tensor.storage == base->tensor.storage, "shared storage stays shared");
    /* Writing what we read gives the same bytes (deterministic files). */
    mkdir(tmp_path("again"), 0755);
    const char *path2 = tmp_path("again/round.pt");
    st = ckpt_write(path2, r2);
    CHECK(st == YOLO_OK, "rewrite");
    size_t n1, n2;
    unsigned char *f1 = tap_slurp(path, &n1), *f2 = tap_slurp(path2, &n2);
    CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0, "rewriting gives identical bytes (%zu)", n1);
    CHECK(memcmp(f1 + n1 - 22, "PK\5\6", 4) == 0 && memcmp(f1 + 30, "round/data.pkl", 14) == 0,
          "archive folder is the file stem");
    free(f1);
    free(f2);
    free(a);
    free(b);
    yv_doc_free(d2);
    yv_doc_free(doc);

    /* Reading without data, then writing, must refuse rather than write zeros. */
    ckpt_read_opts skip = {.skip_tensor_data = true};
    if (ckpt_read(path, &skip, &d2, &r2) == YOLO_OK) {
        st = ckpt_write(tmp_path("nodata.pt"), r2);
        CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "not loaded"),
              "writing without tensor data fails: %s", yolo_last_error());
        yv_doc_free(d2);
    }
    /* A list that contains itself is written with the memo, as Python's pickler does. */
    doc = yv_doc_new();
    yv *l = yv_new_list(doc);
    yv_seq_push(doc, l, l);
    st = ckpt_write(tmp_path("cycle.pt"), l);
    if (!st) st = ckpt_read(tmp_path("cycle.pt"), NULL, &d2, &r2);
    CHECK(st == YOLO_OK && r2->kind == YV_LIST && r2->seq.n == 1 && r2->seq.items[0] == r2,
          "a self-containing list round-trips");
    if (!st) yv_doc_free(d2);
    /* A tuple that contains itself cannot be written (Python cannot either without a list in between). */
    yv *t = yv_new_tuple(doc);
    yv_seq_push(doc, t, t);
    st = ckpt_write(tmp_path("cycle2.pt"), t);
    CHECK(st == YOLO_ERR_LIMIT, "a self-containing tuple is refused: %s", yolo_last_error());
    yv_doc_free(doc);
}

/* Every prefix of a small checkpoint fails cleanly; every flipped byte inside an entry is caught. */
static void test_damage(void) {
    yv_doc *doc = yv_doc_new();
    yv *root = yv_new_dict(doc);
    int64_t sh[] = {3, 4};
    yv_dict_set(doc, root, "w", tensor_of(doc, YDT_F32, 2, sh, 1));
    yv_dict_set(doc, root, "b", tensor_of(doc, YDT_I64, 1, sh, 2));
    yv_dict_set(doc, root, "name", yv_new_str(doc, "small"));
    const char *path = tmp_path("small.pt");
    ckpt_write(path, root);
    yv_doc_free(doc);
    size_t n;
    unsigned char *z = tap_slurp(path, &n);
    if (!z) {
        CHECK(0, "read small.pt");
        return;
    }
    ckpt_read_opts skip = {.skip_tensor_data = true}, slow = {.libarchive_only = true};
    const ckpt_read_opts *modes[] = {NULL, &skip, &slow};
    int ok_trunc = 0;
    for (size_t len = 0; len < n; len++) {
        for (int mode = 0; mode < 3; mode++) {
            yv_doc *d = NULL;
            yv *r;
            yolo_status st = ckpt_read_memory("t.pt", z, len, modes[mode], &d, &r);
            if (st != YOLO_OK && strncmp(yolo_last_error(), "t.pt: ", 6) == 0 && !d)
                ok_trunc++;
            else if (!st)
                yv_doc_free(d);
        }
    }
    CHECK(ok_trunc == (int)n * 3, "all %zu truncations fail with a message naming the file (%d/%zu)", n,
          ok_trunc, 3 * n);
    /* Cut files on disk too (mmap path). */
    const char *cut = tmp_path("cut.pt");
    spit(cut, z, n / 2);
    yv_doc *d;
    yv *r;
    yolo_status st = ckpt_read(cut, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "truncated"), "half a file: %s",
          yolo_last_error());

    span sp[16];
    int ne = entry_spans(z, n, sp, 16);
    CHECK(ne == 4, "small.pt has 4 entries");
    int caught = 0, caught_slow = 0, total = 0, crashes = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char save = z[i];
        z[i] ^= 0x10;
        bool in_entry = false;
        for (int k = 0; k < ne; k++)
            if (i >= sp[k].off && i < sp[k].off + sp[k].len) in_entry = true;
        for (int mode = 0; mode < 3; mode++) {
            d = NULL;
            st = ckpt_read_memory("t.pt", z, n, modes[mode], &d, &r);
            if (in_entry && mode != 1 && st == YOLO_ERR_CRC &&
                strstr(yolo_last_error(), "CRC mismatch in entry small/"))
                *(mode == 0 ? &caught : &caught_slow) += 1;
            if (!st)
                yv_doc_free(d);
            else if (d)
                crashes++;
        }
        total += in_entry;
        z[i] = save;
    }
    CHECK(total > 100 && caught == total, "flipped bytes in entries: %d/%d reported as CRC mismatch", caught,
          total);
    CHECK(caught_slow == total, "and %d/%d through libarchive alone", caught_slow, total);
    CHECK(crashes == 0, "no doc leaks out of a failed read");
    /* The same through ckpt_verify, which checks CRCs with its own walk of the central directory. */
    int vcaught = 0, vtotal = 0, rcaught = 0;
    for (int k = 0; k < ne; k++)
        for (size_t i = sp[k].off; i < sp[k].off + sp[k].len; i += 3) {
            z[i] ^= 0x01;
            spit(cut, z, n);
            z[i] ^= 0x01;
            vtotal++;
            st = ckpt_verify(cut);
            if ((st == YOLO_ERR_CRC && strstr(yolo_last_error(), "CRC mismatch in entry small/")) ||
                (k == 0 && st == YOLO_ERR_FORMAT))
                vcaught++;
            d = NULL;
            st = ckpt_read(cut, NULL, &d, &r);
            if ((st == YOLO_ERR_CRC && strstr(yolo_last_error(), "CRC mismatch in entry small/")) ||
                (k == 0 && st == YOLO_ERR_FORMAT))
                rcaught++;
            if (!st) yv_doc_free(d);
        }
    CHECK(vtotal > 30 && vcaught == vtotal, "ckpt_verify catches flipped bytes: %d/%d", vcaught, vtotal);
    CHECK(rcaught == vtotal, "ckpt_read of the file catches them too: %d/%d", rcaught, vtotal);
    spit(cut, z, n);
    st = ckpt_verify(cut);
    CHECK(st == YOLO_OK, "ckpt_verify passes the intact file");
    z[sp[1].off + 3] ^= 1;
    spit(cut, z, n);
    z[sp[1].off + 3] ^= 1;
    st = ckpt_verify(cut);
    CHECK(st == YOLO_ERR_CRC &&
              strstr(yolo_last_error(), "cut.pt: damaged: CRC mismatch in entry small/data/0 (the file is "
                                        "corrupt; use an earlier checkpoint)"),
          "verify names the damaged entry: %s", yolo_last_error());
    free(z);
}

static void test_bad_files(void) {
    yv_doc *d = NULL;
    yv *r;
    yolo_status st;
    const char *p = tmp_path("text.pt");
    spit(p, "hello, this is not a zip file at all\n", 37);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "text.pt: not a zip archive"), "text file: %s",
          yolo_last_error());
    p = tmp_path("empty.pt");
    spit(p, "", 0);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "empty.pt: not a zip archive"), "empty file: %s",
          yolo_last_error());
    st = ckpt_read(tmpdir, NULL, &d, &r);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), ": is a directory"), "directory: %s",
          yolo_last_error());
    st = ckpt_read(tmp_path("nope.pt"), NULL, &d, &r);
    CHECK(st == YOLO_ERR_NOTFOUND && strstr(yolo_last_error(), "nope.pt: no such file"), "missing file: %s",
          yolo_last_error());
    st = ckpt_verify(tmp_path("nope.pt"));
    CHECK(st == YOLO_ERR_NOTFOUND, "verify of a missing file fails");

    /* zips made by another writer: no data.pkl; a storage missing; a storage too short; a good one. */
    const unsigned char pkl[] =
        "\x80\x02}q\x00X\x01\x00\x00\x00tctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
        "ctorch\nFloatStorage\nX\x01\x00\x00\x00"
        "0"
        "X\x03\x00\x00\x00"
        "cpuK\x02tQK\x00K\x02\x85K\x01\x85"
        "\x89"
        "ccollections\nOrderedDict\n)RtRs.";
    const char *names[] = {"x/data.pkl", "x/data/0", "x/version"};
    const float two[2] = {1.5f, -2.0f};
    const void *datas[] = {pkl, two, "3\n"};
    size_t lens[] = {sizeof pkl - 1, 8, 2};
    p = tmp_path("libarchive.pt");
    write_zip(p, names, datas, lens, 3);
    st = ckpt_read(p, NULL, &d, &r);
    float got[2] = {0, 0};
    yv *t = st ? NULL : yv_dict_get(r, "t");
    CHECK(t && t->kind == YV_TENSOR && yv_tensor_to_f32(&t->tensor, got) == YOLO_OK && got[0] == 1.5f &&
              got[1] == -2.0f,
          "zip written by libarchive (data descriptors) reads (%s)", st ? yolo_last_error() : "ok");
    if (!st) yv_doc_free(d);
    st = ckpt_verify(p);
    CHECK(st == YOLO_OK, "and verifies");
    /* Compressed entries: not what torch writes, but a zip tool might; libarchive reads them. */
    zip_options = "zip:compression=deflate";
    const char *pz = tmp_path("deflate.pt");
    write_zip(pz, names, datas, lens, 3);
    zip_options = "zip:compression=store";
    st = ckpt_read(pz, NULL, &d, &r);
    t = st ? NULL : yv_dict_get(r, "t");
    got[0] = got[1] = 0;
    CHECK(t && yv_tensor_to_f32(&t->tensor, got) == YOLO_OK && got[0] == 1.5f && got[1] == -2.0f,
          "deflated zip entries read (%s)", st ? yolo_last_error() : "ok");
    if (!st) yv_doc_free(d);
    st = ckpt_verify(pz);
    CHECK(st == YOLO_OK, "and verify (%s)", st ? yolo_last_error() : "ok");
    size_t zn;
    unsigned char *zb = tap_slurp(p, &zn);
    unsigned char *hit = zb ? memmem(zb, zn, two, 8) : NULL;
    if (hit) {
        hit[1] ^= 0x40;
        spit(p, zb, zn);
        st = ckpt_verify(p);
        CHECK(st == YOLO_ERR_CRC && strstr(yolo_last_error(), "entry x/data/0"),
              "a flipped storage byte fails verify: %s", yolo_last_error());
    }
    free(zb);
    p = tmp_path("nopkl.pt");
    write_zip(p, names + 1, datas + 1, lens + 1, 2);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "nopkl.pt: not a checkpoint (no data.pkl)"),
          "no data.pkl: %s", yolo_last_error());
    const char *names2[] = {"x/data.pkl", "x/version"};
    const void *datas2[] = {pkl, "3\n"};
    size_t lens2[] = {sizeof pkl - 1, 2};
    p = tmp_path("nostorage.pt");
    write_zip(p, names2, datas2, lens2, 2);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "missing storage entry x/data/0"),
          "missing storage: %s", yolo_last_error());
    st = ckpt_verify(p);
    CHECK(st == YOLO_ERR_FORMAT, "verify reports the missing storage");
    ckpt_read_opts skip = {.skip_tensor_data = true};
    st = ckpt_read(p, &skip, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT, "reading without data reports it too");
    lens[1] = 4;
    p = tmp_path("short.pt");
    write_zip(p, names, datas, lens, 3);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "has 4 bytes, its tensors need 8"),
          "short storage: %s", yolo_last_error());
    /* A pickle error names the file and the entry. */
    const char *names3[] = {"x/data.pkl"};
    const void *datas3[] = {"\x80\x02\xff."};
    size_t lens3[] = {4};
    p = tmp_path("badop.pt");
    write_zip(p, names3, datas3, lens3, 1);
    st = ckpt_read(p, NULL, &d, &r);
    CHECK(st == YOLO_ERR_FORMAT &&
              strstr(yolo_last_error(), "badop.pt: x/data.pkl: unknown pickle opcode 0xff at offset 2"),
          "bad opcode: %s", yolo_last_error());
}

static void test_atomic_write(void) {
    const char *p = tmp_path("keep.pt");
    yolo_status st = ckpt_write_file_atomic(p, "old contents", 12);
    CHECK(st == YOLO_OK, "atomic write");
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) != 0600, "file gets a normal mode (%o)",
          sb.st_mode & 0777);
    /* A "full disk": the file size limit stops the write half way (SIGXFSZ ignored -> EFBIG). */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {4096, old.rlim_max};
    setrlimit(RLIMIT_FSIZE, &small);
    size_t big = 1 << 20;
    char *buf = calloc(1, big);
    st = ckpt_write_file_atomic(p, buf, big);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    free(buf);
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "keep.pt: cannot write: File too large"),
          "full disk: %s", yolo_last_error());
    size_t n;
    char *c = (char *)tap_slurp(p, &n);
    CHECK(c && n == 12 && memcmp(c, "old contents", 12) == 0, "old file untouched after a failed write");
    free(c);
    DIR *d = opendir(tmpdir);
    int temps = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".keep.pt.")) temps++;
    if (d) closedir(d);
    CHECK(temps == 0, "no temporary file left behind");
    /* A folder we may not write into (skipped as root, who may write anywhere). */
    if (geteuid() != 0) {
        char ro[4200];
        snprintf(ro, sizeof ro, "%s/ro", tmpdir);
        mkdir(ro, 0755);
        char f[4300];
        snprintf(f, sizeof f, "%s/x.pt", ro);
        ckpt_write_file_atomic(f, "v1", 2);
        chmod(ro, 0555);
        st = ckpt_write_file_atomic(f, "v2", 2);
        chmod(ro, 0755);
        CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "Permission denied") &&
                  strstr(yolo_last_error(), "x.pt"),
              "read-only folder: %s", yolo_last_error());
        c = (char *)tap_slurp(f, &n);
        CHECK(c && n == 2 && memcmp(c, "v1", 2) == 0, "old file untouched in a read-only folder");
        free(c);
    } else {
        printf("skip - read-only folder test (running as root)\n");
    }
    st = ckpt_write_file_atomic(tmpdir, "x", 1);
    CHECK(st == YOLO_ERR_USAGE && strstr(yolo_last_error(), "is a directory"), "writing onto a directory: %s",
          yolo_last_error());
    st = ckpt_write_file_atomic("/dev/null", "x", 1);
    CHECK(st == YOLO_OK, "writing to /dev/null goes straight through");
    st = ckpt_write_file_atomic(tmp_path("no/such/dir/x.pt"), "x", 1);
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "No such file"), "missing folder: %s",
          yolo_last_error());
}

/* A checkpoint arriving through a pipe: libarchive streams the zip (no seeking, data descriptors). */
static yolo_status read_through_fifo(const unsigned char *z, size_t n, yv_doc **d, yv **r) {
    const char *fifo = tmp_path("pipe.pt");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) return yolo_error(YOLO_ERR_IO, "mkfifo failed");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(fifo, O_WRONLY);
        signal(SIGPIPE, SIG_IGN);
        for (size_t off = 0; fd >= 0 && off < n;) {
            ssize_t k = write(fd, z + off, n - off);
            if (k <= 0) break;
            off += (size_t)k;
        }
        _exit(0);
    }
    yolo_status st = ckpt_read(fifo, NULL, d, r);
    int status;
    waitpid(pid, &status, 0);
    return st;
}

static void test_stream(void) {
    char path[4096];
    size_t n;
    unsigned char *z =
        tap_data_path(path, sizeof path, "golden/det_assigner.pt") ? tap_slurp(path, &n) : NULL;
    if (!z) {
        CHECK(0, "read %s", path);
        return;
    }
    yv_doc *d1, *d2;
    yv *r1, *r2;
    yolo_status s1 = read_through_fifo(z, n, &d1, &r1);
    yolo_status s2 = ckpt_read(path, NULL, &d2, &r2);
    CHECK(s1 == YOLO_OK && s2 == YOLO_OK, "torch.save file through a pipe (%s)",
          s1 ? yolo_last_error() : "ok");
    if (!s1 && !s2) {
        char *a = dump_root(d1, r1), *b = dump_root(d2, r2);
        CHECK(strcmp(a, b) == 0, "streamed read = mapped read");
        free(a);
        free(b);
        yv_doc_free(d1);
    }
    if (!s2) yv_doc_free(d2);
    s1 = read_through_fifo(z, n / 3, &d1, &r1);
    CHECK(s1 != YOLO_OK, "a pipe that ends early fails: %s", yolo_last_error());
    free(z);
}

/* ---- helper modes for the Python interop test ---- */

static int do_dump(int argc, char **argv) {
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        yv_doc *d;
        yv *r;
        if (ckpt_read(argv[i], NULL, &d, &r)) {
            fprintf(stderr, "test_ckpt: %s\n", yolo_last_error());
            rc = 1;
            continue;
        }
        char *s = dump_root(d, r);
        fputs(s, stdout);
        free(s);
        yv_doc_free(d);
    }
    return rc;
}

static int do_copy(const char *in, const char *out) {
    yv_doc *d;
    yv *r;
    if (ckpt_read(in, NULL, &d, &r) || ckpt_write(out, r)) {
        fprintf(stderr, "test_ckpt: %s\n", yolo_last_error());
        return 1;
    }
    yv_doc_free(d);
    return 0;
}

static int do_samples(const char *dir) {
    yv_doc *doc = yv_doc_new();
    yv *root = sample_values(doc);
    char p[4096];
    snprintf(p, sizeof p, "%s/c_samples.pt", dir);
    yolo_status st = ckpt_write(p, root);
    /* Single values at the top, as torch.save(x) of a non-dict writes them. */
    int64_t sh[] = {2};
    yv *top[] = {yv_new_int(doc, 5), tensor_of(doc, YDT_F32, 1, sh, 3), yv_path(root, "tensors.param")};
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(p, sizeof p, "%s/c_top%d.pt", dir, i);
        st = ckpt_write(p, top[i]);
    }
    yv_doc_free(doc);
    if (st) fprintf(stderr, "test_ckpt: %s\n", yolo_last_error());
    return st ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--dump") == 0) return do_dump(argc - 2, argv + 2);
    if (argc == 4 && strcmp(argv[1], "--copy") == 0) return do_copy(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--samples") == 0) return do_samples(argv[2]);
    const char *t = getenv("TMPROOT");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_ckpt.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_golden_and_reference();
    test_round_trip();
    test_damage();
    test_bad_files();
    test_atomic_write();
    test_stream();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    TAP_DONE();
}
