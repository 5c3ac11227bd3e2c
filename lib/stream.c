#include "yolo/stream.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Bounds for a reader facing a hostile or damaged stream. */
#define MAX_STR (1u << 20)
#define MAX_BIN (1u << 30)
#define MAX_ARRAY (1u << 26)
#define MAX_SIDE 32768

void stream_header_init(stream_header *h) {
    memset(h, 0, sizeof *h);
    h->version = STREAM_VERSION;
    h->shard_n = 1;
    h->shard_block = 1;
    h->stride = 32;
    h->mask_ratio = 4;
    h->overlap = true;
}

int64_t stream_shard_next(int k, int n, int64_t block, int64_t i) {
    int64_t b = i / block;
    if (b % n == k) return i;
    return (b + ((k - b % n) % n + n) % n) * block;
}

int64_t stream_shard_index(int k, int n, int64_t block, int64_t from, int64_t j) {
    int64_t i0 = stream_shard_next(k, n, block, from), left = block - i0 % block; /* in i0's block */
    if (j < left) return i0 + j;
    j -= left;
    return (i0 / block + n * (j / block + 1)) * block + j % block;
}

/* The shard's indices below x: whole rounds of n blocks, then what shard k's block of the last round has. */
static int64_t shard_below(int k, int n, int64_t block, int64_t x) {
    int64_t round = block * n, part = x % round - (int64_t)k * block;
    return x / round * block + (part < 0 ? 0 : part > block ? block : part);
}

int64_t stream_shard_count(int k, int n, int64_t block, int64_t from, int64_t total) {
    return from >= total ? 0 : shard_below(k, n, block, total) - shard_below(k, n, block, from);
}

void stream_header_free(stream_header *h) {
    if (h->names)
        for (int k = 0; k < h->nc; k++)
            free(h->names[k]);
    free(h->names);
    stream_header_init(h);
}

yolo_status stream_header_copy(stream_header *dst, const stream_header *src) {
    *dst = *src;
    dst->names = NULL;
    if (src->nc > 0 && src->names) {
        dst->names = calloc((size_t)src->nc, sizeof *dst->names);
        if (!dst->names) return yolo_nomem();
        for (int k = 0; k < src->nc; k++) {
            dst->names[k] = strdup(src->names[k] ? src->names[k] : "");
            if (!dst->names[k]) {
                stream_header_free(dst);
                return yolo_nomem();
            }
        }
    }
    return YOLO_OK;
}

void stream_sample_init(stream_sample *s) {
    memset(s, 0, sizeof *s);
    sample_init(&s->s);
}

void stream_sample_free(stream_sample *s) {
    sample_free(&s->s);
    free(s->file);
    free(s->mask);
    memset(s, 0, sizeof *s);
    sample_init(&s->s);
}

/* ---- writing ---- */

struct stream_writer {
    FILE *f;
    char *name;
    int64_t count, written;
    uLong crc;
};

static void pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_bool(msgpack_packer *pk, bool b) {
    if (b)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static yolo_status write_all(stream_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) return yolo_error(YOLO_ERR_IO, "%s: write failed", w->name);
    return YOLO_OK;
}

yolo_status stream_writer_open(FILE *f, const char *name, const stream_header *h, stream_writer **out) {
    stream_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->name = strdup(name ? name : "stream"))) {
        free(w);
        return yolo_nomem();
    }
    w->f = f;
    w->count = h->count;
    w->crc = crc32(0L, Z_NULL, 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 21);
    pack_str(&pk, "format"), pack_str(&pk, "yolo-stream");
    pack_str(&pk, "version"), msgpack_pack_int(&pk, STREAM_VERSION);
    pack_str(&pk, "task"), pack_str(&pk, h->task);
    pack_str(&pk, "split"), pack_str(&pk, h->split);
    pack_str(&pk, "imgsz"), msgpack_pack_int(&pk, h->imgsz);
    pack_str(&pk, "nc"), msgpack_pack_int(&pk, h->nc);
    pack_str(&pk, "names");
    msgpack_pack_array(&pk, (size_t)h->nc);
    for (int k = 0; k < h->nc; k++)
        pack_str(&pk, h->names && h->names[k] ? h->names[k] : "");
    pack_str(&pk, "seed"), msgpack_pack_uint64(&pk, h->seed);
    pack_str(&pk, "epoch"), msgpack_pack_int(&pk, h->epoch);
    pack_str(&pk, "epochs"), msgpack_pack_int(&pk, h->epochs);
    pack_str(&pk, "total"), msgpack_pack_int64(&pk, h->total);
    pack_str(&pk, "count"), msgpack_pack_int64(&pk, h->count);
    pack_str(&pk, "from"), msgpack_pack_int64(&pk, h->from);
    /* [k, n], or [k, n, block] for a shard of blocks (a reader that knows only pairs refuses it) */
    pack_str(&pk, "shard");
    msgpack_pack_array(&pk, h->shard_block > 1 ? 3 : 2), msgpack_pack_int(&pk, h->shard_k),
        msgpack_pack_int(&pk, h->shard_n);
    if (h->shard_block > 1) msgpack_pack_int64(&pk, h->shard_block);
    pack_str(&pk, "augment"), pack_bool(&pk, h->augment);
    pack_str(&pk, "mosaic"), pack_bool(&pk, h->mosaic);
    pack_str(&pk, "rect"), pack_bool(&pk, h->rect);
    pack_str(&pk, "batch"), msgpack_pack_int(&pk, h->batch);
    pack_str(&pk, "stride"), msgpack_pack_int(&pk, h->stride);
    pack_str(&pk, "mask_ratio"), msgpack_pack_int(&pk, h->mask_ratio);
    pack_str(&pk, "overlap"), pack_bool(&pk, h->overlap);
    yolo_status st = write_all(w, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (st) {
        stream_writer_free(w);
        return st;
    }
    *out = w;
    return YOLO_OK;
}

void stream_pack_polygons(struct msgpack_packer *pk, const sample *s) {
    msgpack_pack_array(pk, (size_t)s->n);
    for (int k = 0; k < s->n; k++) {
        int np = sample_seg_len(s, k);
        const float *xy = s->seg_xy + 2 * (size_t)s->seg_start[k];
        msgpack_pack_array(pk, (size_t)np * 2);
        for (int q = 0; q < np * 2; q++)
            msgpack_pack_float(pk, xy[q]);
    }
}

yolo_status stream_encode_sample(const stream_sample *ss, uint8_t **buf, size_t *len) {
    const sample *s = &ss->s;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    /* Reserve the whole map up front: growing a megabyte buffer by doubling copies it several times. */
    size_t est = (size_t)s->img.h * s->img.w * 3 + (size_t)ss->mask_h * ss->mask_w * 2 + 30 * (size_t)s->n +
                 1024 + (ss->file ? strlen(ss->file) : 0) +
                 (s->seg_start ? 10 * (size_t)s->seg_start[s->n] : 0);
    sb.data = malloc(est);
    if (sb.data) sb.alloc = est;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bool seg = s->seg_start != NULL;
    bool mask = ss->mask != NULL;
    msgpack_pack_map(&pk, 13 + (seg ? 1 : 0) + (mask ? 3 : 0));
    pack_str(&pk, "i"), msgpack_pack_int64(&pk, ss->i);
    pack_str(&pk, "src"), msgpack_pack_int64(&pk, s->index);
    pack_str(&pk, "file"), pack_str(&pk, ss->file ? ss->file : "");
    pack_str(&pk, "h"), msgpack_pack_int(&pk, s->img.h);
    pack_str(&pk, "w"), msgpack_pack_int(&pk, s->img.w);
    size_t nb = (size_t)s->img.h * s->img.w * 3;
    pack_str(&pk, "img");
    msgpack_pack_bin(&pk, nb);
    if (s->img.c == 3)
        msgpack_pack_bin_body(&pk, s->img.px, nb);
    else {
        /* Grey images are widened here so that consumers only ever see RGB. */
        for (size_t k = 0; k < (size_t)s->img.h * s->img.w; k++) {
            uint8_t v[3] = {s->img.px[k], s->img.px[k], s->img.px[k]};
            msgpack_pack_bin_body(&pk, v, 3);
        }
    }
    pack_str(&pk, "ori");
    msgpack_pack_array(&pk, 2), msgpack_pack_int(&pk, s->ori_h), msgpack_pack_int(&pk, s->ori_w);
    pack_str(&pk, "res");
    msgpack_pack_array(&pk, 2), msgpack_pack_int(&pk, s->res_h), msgpack_pack_int(&pk, s->res_w);
    pack_str(&pk, "ratio_pad");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2), msgpack_pack_double(&pk, s->ratio_h), msgpack_pack_double(&pk, s->ratio_w);
    msgpack_pack_array(&pk, 2), msgpack_pack_double(&pk, s->pad_left), msgpack_pack_double(&pk, s->pad_top);
    pack_str(&pk, "label"), msgpack_pack_int(&pk, s->label);
    pack_str(&pk, "cls");
    msgpack_pack_array(&pk, (size_t)s->n);
    for (int k = 0; k < s->n; k++)
        msgpack_pack_int(&pk, s->cls[k]);
    pack_str(&pk, "boxes");
    msgpack_pack_array(&pk, (size_t)s->n * 4);
    for (int k = 0; k < s->n * 4; k++)
        msgpack_pack_float(&pk, s->boxes[k]);
    if (seg) {
        pack_str(&pk, "seg");
        stream_pack_polygons(&pk, s);
    }
    if (mask) {
        pack_str(&pk, "mask_h"), msgpack_pack_int(&pk, ss->mask_h);
        pack_str(&pk, "mask_w"), msgpack_pack_int(&pk, ss->mask_w);
        size_t nm = (size_t)ss->mask_h * ss->mask_w;
        pack_str(&pk, "mask");
        msgpack_pack_bin(&pk, nm * 2);
        uint8_t tmp[512];
        for (size_t k = 0; k < nm;) {
            size_t c = 0;
            for (; c < sizeof tmp / 2 && k < nm; c++, k++) {
                tmp[2 * c] = (uint8_t)(ss->mask[k] & 0xff);
                tmp[2 * c + 1] = (uint8_t)(ss->mask[k] >> 8);
            }
            msgpack_pack_bin_body(&pk, tmp, 2 * c);
        }
    }
    /* last: the sample's own checksum, so that a reader can check it before anything trains on it
     * (the trailer's comes only after the whole stream) */
    if (sb.data) {
        uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)sb.data, sb.size);
        pack_str(&pk, SAMPLE_CRC_KEY), msgpack_pack_uint32(&pk, crc);
    }
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return yolo_error(YOLO_ERR_NOMEM, "out of memory encoding a sample");
    }
    *len = sb.size;
    *buf = (uint8_t *)msgpack_sbuffer_release(&sb);
    return YOLO_OK;
}

yolo_status stream_writer_put_raw(stream_writer *w, const uint8_t *buf, size_t len) {
    if (w->written >= w->count)
        return yolo_error(YOLO_ERR_USAGE, "%s: more samples than the header's count %lld", w->name,
                          (long long)w->count);
    w->crc = crc32_z(w->crc, buf, len);
    w->written++;
    return write_all(w, buf, len);
}

yolo_status stream_writer_put(stream_writer *w, const stream_sample *s) {
    uint8_t *buf;
    size_t len;
    yolo_status st = stream_encode_sample(s, &buf, &len);
    if (st) return st;
    st = stream_writer_put_raw(w, buf, len);
    free(buf);
    return st;
}

yolo_status stream_writer_finish(stream_writer *w) {
    if (w->written != w->count)
        return yolo_error(YOLO_ERR_USAGE, "%s: %lld samples written, header promised %lld", w->name,
                          (long long)w->written, (long long)w->count);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "end"), msgpack_pack_int64(&pk, w->written);
    pack_str(&pk, "crc32"), msgpack_pack_uint32(&pk, (uint32_t)w->crc);
    yolo_status st = write_all(w, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (!st && fflush(w->f) != 0) st = yolo_error(YOLO_ERR_IO, "%s: write failed", w->name);
    return st;
}

void stream_writer_free(stream_writer *w) {
    if (!w) return;
    free(w->name);
    free(w);
}

/* ---- reading: a small pull parser over FILE, keeping the bytes of the current map ---- */

struct stream_reader {
    FILE *f;
    char *name;
    uint8_t *buf; /* bytes of the map being parsed */
    size_t len, cap, pos;
    stream_header h;
    int64_t got;    /* samples returned */
    int64_t next_i; /* index the next sample must have */
    uLong crc;
    bool done;
    uint8_t *raw; /* copy of the last sample's bytes */
    size_t raw_len, raw_cap;
};

typedef enum { MP_NIL, MP_BOOL, MP_INT, MP_UINT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP } mp_kind;

typedef struct {
    mp_kind kind;
    bool b;
    int64_t i;
    uint64_t u;
    double f;
    uint32_t n; /* str/bin length, array/map count */
    size_t off; /* str/bin payload offset in r->buf */
} mpv;

static yolo_status bad(stream_reader *r, const char *what) {
    return yolo_error(YOLO_ERR_FORMAT, "%s: damaged stream (%s after %lld samples)", r->name, what,
                      (long long)r->got);
}

static yolo_status need(stream_reader *r, size_t n) {
    if (r->len - r->pos >= n) return YOLO_OK;
    size_t want = r->pos + n;
    if (want > r->cap) {
        size_t nc = r->cap ? r->cap : 1 << 16;
        while (nc < want)
            nc *= 2;
        uint8_t *nb = realloc(r->buf, nc);
        if (!nb) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->name);
        r->buf = nb;
        r->cap = nc;
    }
    size_t miss = want - r->len;
    size_t got = fread(r->buf + r->len, 1, miss, r->f);
    r->len += got;
    if (got < miss) {
        if (ferror(r->f)) return yolo_error(YOLO_ERR_IO, "%s: read error", r->name);
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: truncated stream (ends after %lld of %lld samples, no trailer)", r->name,
                          (long long)r->got, (long long)r->h.count);
    }
    return YOLO_OK;
}

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

static yolo_status mp_next(stream_reader *r, mpv *v) {
    yolo_status st = need(r, 1);
    if (st) return st;
    uint8_t t = r->buf[r->pos++];
    memset(v, 0, sizeof *v);
    int ln = 0; /* bytes of a following length or value */
    if (t <= 0x7f) {
        v->kind = MP_UINT, v->u = t, v->i = t;
        return YOLO_OK;
    }
    if (t >= 0xe0) {
        v->kind = MP_INT, v->i = (int8_t)t;
        return YOLO_OK;
    }
    if ((t & 0xf0) == 0x80) {
        v->kind = MP_MAP, v->n = t & 0x0f;
        return YOLO_OK;
    }
    if ((t & 0xf0) == 0x90) {
        v->kind = MP_ARRAY, v->n = t & 0x0f;
        return YOLO_OK;
    }
    if ((t & 0xe0) == 0xa0) {
        v->kind = MP_STR, v->n = t & 0x1f;
        goto payload;
    }
    switch (t) {
    case 0xc0:
        v->kind = MP_NIL;
        return YOLO_OK;
    case 0xc2:
    case 0xc3:
        v->kind = MP_BOOL, v->b = t == 0xc3;
        return YOLO_OK;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        v->kind = MP_BIN, ln = 1 << (t - 0xc4);
        break;
    case 0xd9:
    case 0xda:
    case 0xdb:
        v->kind = MP_STR, ln = 1 << (t - 0xd9);
        break;
    case 0xdc:
    case 0xdd:
        v->kind = MP_ARRAY, ln = t == 0xdc ? 2 : 4;
        break;
    case 0xde:
    case 0xdf:
        v->kind = MP_MAP, ln = t == 0xde ? 2 : 4;
        break;
    case 0xca:
    case 0xcb: {
        int n = t == 0xca ? 4 : 8;
        if ((st = need(r, (size_t)n))) return st;
        uint64_t bits = be(r->buf + r->pos, n);
        r->pos += (size_t)n;
        v->kind = MP_FLOAT;
        if (n == 4) {
            uint32_t b32 = (uint32_t)bits;
            float fl;
            memcpy(&fl, &b32, 4);
            v->f = fl;
        } else
            memcpy(&v->f, &bits, 8);
        return YOLO_OK;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        int n = 1 << (t - 0xcc);
        if ((st = need(r, (size_t)n))) return st;
        v->u = be(r->buf + r->pos, n);
        r->pos += (size_t)n;
        v->kind = MP_UINT;
        v->i = (int64_t)v->u;
        if (v->u > INT64_MAX) v->i = INT64_MAX;
        return YOLO_OK;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int n = 1 << (t - 0xd0);
        if ((st = need(r, (size_t)n))) return st;
        uint64_t u = be(r->buf + r->pos, n);
        r->pos += (size_t)n;
        int sh = 64 - 8 * n;
        v->kind = MP_INT;
        v->i = sh ? (int64_t)(u << sh) >> sh : (int64_t)u;
        return YOLO_OK;
    }
    default:
        return bad(r, "unsupported msgpack type");
    }
    if ((st = need(r, (size_t)ln))) return st;
    uint64_t n = be(r->buf + r->pos, ln);
    r->pos += (size_t)ln;
    if ((v->kind == MP_STR && n > MAX_STR) || (v->kind == MP_BIN && n > MAX_BIN) ||
        ((v->kind == MP_ARRAY || v->kind == MP_MAP) && n > MAX_ARRAY))
        return bad(r, "length out of bounds");
    v->n = (uint32_t)n;
    if (v->kind == MP_ARRAY || v->kind == MP_MAP) return YOLO_OK;
payload:
    if ((st = need(r, v->n))) return st;
    v->off = r->pos;
    r->pos += v->n;
    return YOLO_OK;
}

static yolo_status mp_skip(stream_reader *r, int depth) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (depth > 32) return bad(r, "nesting too deep");
    if (v.kind == MP_ARRAY || v.kind == MP_MAP) {
        uint64_t n = (uint64_t)v.n * (v.kind == MP_MAP ? 2 : 1);
        for (uint64_t k = 0; k < n; k++)
            if ((st = mp_skip(r, depth + 1))) return st;
    }
    return YOLO_OK;
}

static bool key_is(stream_reader *r, const mpv *k, const char *s) {
    size_t n = strlen(s);
    return k->kind == MP_STR && k->n == n && memcmp(r->buf + k->off, s, n) == 0;
}

static yolo_status get_int(stream_reader *r, int64_t *out, int64_t lo, int64_t hi, const char *key) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if ((v.kind != MP_INT && v.kind != MP_UINT) || v.i < lo || v.i > hi) {
        char m[96];
        snprintf(m, sizeof m, "bad value for \"%s\"", key);
        return bad(r, m);
    }
    *out = v.i;
    return YOLO_OK;
}

static yolo_status get_int32(stream_reader *r, int *out, int lo, int hi, const char *key) {
    int64_t x;
    yolo_status st = get_int(r, &x, lo, hi, key);
    if (!st) *out = (int)x;
    return st;
}

static yolo_status get_bool(stream_reader *r, bool *out, const char *key) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (v.kind != MP_BOOL) {
        char m[96];
        snprintf(m, sizeof m, "bad value for \"%s\"", key);
        return bad(r, m);
    }
    *out = v.b;
    return YOLO_OK;
}

static yolo_status get_double(stream_reader *r, double *out) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (v.kind == MP_FLOAT)
        *out = v.f;
    else if (v.kind == MP_INT || v.kind == MP_UINT)
        *out = (double)v.i;
    else
        return bad(r, "expected a number");
    return YOLO_OK;
}

static yolo_status get_str(stream_reader *r, char *dst, size_t cap, const char *key) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (v.kind != MP_STR || v.n >= cap) {
        char m[96];
        snprintf(m, sizeof m, "bad value for \"%s\"", key);
        return bad(r, m);
    }
    memcpy(dst, r->buf + v.off, v.n);
    dst[v.n] = 0;
    return YOLO_OK;
}

static yolo_status get_strdup(stream_reader *r, char **dst) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (v.kind != MP_STR) return bad(r, "expected a string");
    char *s = malloc((size_t)v.n + 1);
    if (!s) return yolo_nomem();
    memcpy(s, r->buf + v.off, v.n);
    s[v.n] = 0;
    free(*dst);
    *dst = s;
    return YOLO_OK;
}

static yolo_status expect(stream_reader *r, mp_kind kind, uint32_t n, const char *what) {
    mpv v;
    yolo_status st = mp_next(r, &v);
    if (st) return st;
    if (v.kind != kind || v.n != n) return bad(r, what);
    return YOLO_OK;
}

/* Starts a new map: drops the bytes of the previous one. */
static void begin_map(stream_reader *r) {
    if (r->pos < r->len) memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
}

static yolo_status read_header(stream_reader *r) {
    stream_header *h = &r->h;
    mpv m, k;
    yolo_status st = mp_next(r, &m);
    if (st) {
        if (r->len == 0) return yolo_error(YOLO_ERR_FORMAT, "%s: empty stream (no header)", r->name);
        return st;
    }
    bool fmt = false;
    if (m.kind != MP_MAP) return yolo_error(YOLO_ERR_FORMAT, "%s: not a yolo-data stream", r->name);
    for (uint32_t q = 0; q < m.n && !st; q++) {
        if ((st = mp_next(r, &k))) break;
        char tmp[32];
        int64_t x = 0;
        if (key_is(r, &k, "format")) {
            if (!(st = get_str(r, tmp, sizeof tmp, "format")) && strcmp(tmp, "yolo-stream") != 0) break;
            fmt = !st;
        } else if (key_is(r, &k, "version")) {
            if (!(st = get_int32(r, &h->version, 0, 1 << 20, "version")) && h->version != STREAM_VERSION)
                return yolo_error(YOLO_ERR_FORMAT, "%s: stream version %d, this program reads %d", r->name,
                                  h->version, STREAM_VERSION);
        } else if (key_is(r, &k, "task"))
            st = get_str(r, h->task, sizeof h->task, "task");
        else if (key_is(r, &k, "split"))
            st = get_str(r, h->split, sizeof h->split, "split");
        else if (key_is(r, &k, "imgsz"))
            st = get_int32(r, &h->imgsz, 1, MAX_SIDE, "imgsz");
        else if (key_is(r, &k, "nc"))
            st = get_int32(r, &h->nc, 0, STREAM_MAX_NAMES, "nc");
        else if (key_is(r, &k, "names")) {
            mpv a;
            if ((st = mp_next(r, &a))) break;
            if (a.kind != MP_ARRAY || a.n > STREAM_MAX_NAMES) {
                st = bad(r, "bad names");
                break;
            }
            if (h->names) {
                st = bad(r, "names twice");
                break;
            }
            h->names = calloc(a.n ? a.n : 1, sizeof *h->names);
            if (!h->names) {
                st = yolo_nomem();
                break;
            }
            for (uint32_t j = 0; j < a.n && !st; j++)
                st = get_strdup(r, &h->names[j]);
            if (!st && h->nc && (uint32_t)h->nc != a.n) st = bad(r, "names and nc disagree");
            h->nc = (int)a.n;
        } else if (key_is(r, &k, "seed")) {
            mpv v;
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_UINT && !(v.kind == MP_INT && v.i >= 0)) {
                st = bad(r, "bad seed");
                break;
            }
            h->seed = v.kind == MP_UINT ? v.u : (uint64_t)v.i;
        } else if (key_is(r, &k, "epoch"))
            st = get_int32(r, &h->epoch, 0, 1 << 30, "epoch");
        else if (key_is(r, &k, "epochs"))
            st = get_int32(r, &h->epochs, 0, 1 << 30, "epochs");
        else if (key_is(r, &k, "total"))
            st = get_int(r, &h->total, 0, INT64_MAX / 2, "total");
        else if (key_is(r, &k, "count"))
            st = get_int(r, &h->count, 0, INT64_MAX / 2, "count");
        else if (key_is(r, &k, "from"))
            st = get_int(r, &x, 0, INT64_MAX / 2, "from"), h->from = x;
        else if (key_is(r, &k, "shard")) {
            mpv v;
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_ARRAY || (v.n != 2 && v.n != 3)) {
                st = bad(r, "bad shard");
                break;
            }
            if (!(st = get_int32(r, &h->shard_k, 0, 1 << 20, "shard")))
                st = get_int32(r, &h->shard_n, 1, 1 << 20, "shard");
            if (!st && v.n == 3) st = get_int(r, &h->shard_block, 1, 1 << 30, "shard");
        } else if (key_is(r, &k, "augment"))
            st = get_bool(r, &h->augment, "augment");
        else if (key_is(r, &k, "mosaic"))
            st = get_bool(r, &h->mosaic, "mosaic");
        else if (key_is(r, &k, "rect"))
            st = get_bool(r, &h->rect, "rect");
        else if (key_is(r, &k, "overlap"))
            st = get_bool(r, &h->overlap, "overlap");
        else if (key_is(r, &k, "batch"))
            st = get_int32(r, &h->batch, 0, 1 << 20, "batch");
        else if (key_is(r, &k, "stride"))
            st = get_int32(r, &h->stride, 1, 1 << 10, "stride");
        else if (key_is(r, &k, "mask_ratio"))
            st = get_int32(r, &h->mask_ratio, 1, 1 << 10, "mask_ratio");
        else
            st = mp_skip(r, 0); /* newer producers may add keys */
    }
    if (st) return st;
    if (!fmt) return yolo_error(YOLO_ERR_FORMAT, "%s: not a yolo-data stream (no format key)", r->name);
    if (!h->task[0] || h->imgsz <= 0 || h->shard_k >= h->shard_n || h->count > h->total)
        return yolo_error(YOLO_ERR_FORMAT, "%s: inconsistent stream header", r->name);
    if (!h->names && h->nc)
        return yolo_error(YOLO_ERR_FORMAT, "%s: stream header has nc but no names", r->name);
    r->next_i = stream_shard_next(h->shard_k, h->shard_n, h->shard_block, h->from);
    return YOLO_OK;
}

yolo_status stream_reader_open(FILE *f, const char *name, stream_reader **out) {
    stream_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name ? name : "stream"))) {
        free(r);
        return yolo_nomem();
    }
    r->f = f;
    stream_header_init(&r->h);
    r->crc = crc32(0L, Z_NULL, 0);
    yolo_status st = read_header(r);
    if (st) {
        stream_reader_free(r);
        return st;
    }
    *out = r;
    return YOLO_OK;
}

const stream_header *stream_reader_header(const stream_reader *r) {
    return &r->h;
}

static yolo_status read_floats(stream_reader *r, float *dst, uint32_t n, const char *what) {
    yolo_status st = expect(r, MP_ARRAY, n, what);
    for (uint32_t k = 0; k < n && !st; k++) {
        double d;
        if (!(st = get_double(r, &d))) dst[k] = (float)d;
    }
    return st;
}

static yolo_status read_sample(stream_reader *r, stream_sample *ss) {
    sample *s = &ss->s;
    mpv m, k, v;
    yolo_status st = mp_next(r, &m);
    if (st) return st;
    if (m.kind != MP_MAP) return bad(r, "sample is not a map");
    int h = -1, w = -1;
    size_t img_off = 0, mask_off = 0;
    uint32_t img_n = 0, mask_n = 0;
    bool have_img = false, have_mask = false;
    int n = -1;
    uint32_t nbox = 0;
    size_t box_off = 0;
    int64_t i = -1;
    bool have_crc = false;
    /* Polygons arrive before we know every instance: keep their offsets and parse them at the end. */
    size_t seg_off = 0;
    bool have_seg = false;
    int *cls = NULL;
    for (uint32_t q = 0; q < m.n && !st; q++) {
        size_t key_at = r->pos;
        if ((st = mp_next(r, &k))) break;
        if (key_is(r, &k, SAMPLE_CRC_KEY)) {
            int64_t crc;
            if ((st = get_int(r, &crc, 0, UINT32_MAX, SAMPLE_CRC_KEY))) break;
            if (q != m.n - 1) {
                st = bad(r, "a sample's crc32 is not its last key");
                break;
            }
            if ((uint32_t)crc != (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), r->buf, key_at))
                st = yolo_error(YOLO_ERR_CRC, "%s: sample %lld: checksum mismatch (damaged stream)", r->name,
                                (long long)r->next_i);
            have_crc = true;
        } else if (key_is(r, &k, "i"))
            st = get_int(r, &i, 0, INT64_MAX / 2, "i");
        else if (key_is(r, &k, "src"))
            st = get_int(r, &s->index, 0, INT64_MAX / 2, "src");
        else if (key_is(r, &k, "file"))
            st = get_strdup(r, &ss->file);
        else if (key_is(r, &k, "h"))
            st = get_int32(r, &h, 1, MAX_SIDE, "h");
        else if (key_is(r, &k, "w"))
            st = get_int32(r, &w, 1, MAX_SIDE, "w");
        else if (key_is(r, &k, "img")) {
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_BIN) {
                st = bad(r, "img is not bytes");
                break;
            }
            img_off = v.off, img_n = v.n, have_img = true;
        } else if (key_is(r, &k, "ori")) {
            if (!(st = expect(r, MP_ARRAY, 2, "bad ori")) &&
                !(st = get_int32(r, &s->ori_h, 0, 1 << 30, "ori")))
                st = get_int32(r, &s->ori_w, 0, 1 << 30, "ori");
        } else if (key_is(r, &k, "res")) {
            if (!(st = expect(r, MP_ARRAY, 2, "bad res")) &&
                !(st = get_int32(r, &s->res_h, 0, 1 << 30, "res")))
                st = get_int32(r, &s->res_w, 0, 1 << 30, "res");
        } else if (key_is(r, &k, "ratio_pad")) {
            if (!(st = expect(r, MP_ARRAY, 2, "bad ratio_pad")) &&
                !(st = expect(r, MP_ARRAY, 2, "bad ratio_pad")) && !(st = get_double(r, &s->ratio_h)) &&
                !(st = get_double(r, &s->ratio_w)) && !(st = expect(r, MP_ARRAY, 2, "bad ratio_pad")) &&
                !(st = get_double(r, &s->pad_left)))
                st = get_double(r, &s->pad_top);
        } else if (key_is(r, &k, "label"))
            st = get_int32(r, &s->label, -1, STREAM_MAX_NAMES, "label");
        else if (key_is(r, &k, "cls")) {
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_ARRAY) {
                st = bad(r, "cls is not an array");
                break;
            }
            n = (int)v.n;
            free(cls);
            cls = malloc(((size_t)n + 1) * sizeof *cls);
            if (!cls) {
                st = yolo_nomem();
                break;
            }
            for (int j = 0; j < n && !st; j++)
                st = get_int32(r, &cls[j], 0, r->h.nc ? r->h.nc - 1 : 0, "cls");
        } else if (key_is(r, &k, "boxes")) {
            box_off = r->pos;
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_ARRAY) {
                st = bad(r, "boxes is not an array");
                break;
            }
            nbox = v.n;
            for (uint32_t j = 0; j < nbox && !st; j++)
                st = mp_skip(r, 1);
        } else if (key_is(r, &k, "seg")) {
            seg_off = r->pos, have_seg = true;
            st = mp_skip(r, 0);
        } else if (key_is(r, &k, "mask_h"))
            st = get_int32(r, &ss->mask_h, 1, MAX_SIDE, "mask_h");
        else if (key_is(r, &k, "mask_w"))
            st = get_int32(r, &ss->mask_w, 1, MAX_SIDE, "mask_w");
        else if (key_is(r, &k, "mask")) {
            if ((st = mp_next(r, &v))) break;
            if (v.kind != MP_BIN) {
                st = bad(r, "mask is not bytes");
                break;
            }
            mask_off = v.off, mask_n = v.n, have_mask = true;
        } else
            st = mp_skip(r, 0);
    }
    if (!st && (i < 0 || h < 0 || w < 0 || !have_img || n < 0))
        st = bad(r, "sample lacks i, h, w, img or cls");
    if (!st && !have_crc) st = bad(r, "sample lacks its crc32");
    if (st) {
        free(cls);
        return st;
    }
    if (i != r->next_i) {
        char msg[96];
        snprintf(msg, sizeof msg, "sample %lld where %lld was due", (long long)i, (long long)r->next_i);
        free(cls);
        return bad(r, msg);
    }
    if ((size_t)img_n != (size_t)h * w * 3 || nbox != (uint32_t)n * 4) {
        free(cls);
        return bad(r, "img or boxes do not match h, w and cls");
    }
    ss->i = i;
    /* Labels are rebuilt through sample_add so that the sample's own invariants hold. */
    size_t save = r->pos;
    float box[4];
    float *xy = NULL;
    int *seg_len = NULL;
    size_t *seg_at = NULL;
    if (have_seg) {
        r->pos = seg_off;
        if ((st = expect(r, MP_ARRAY, (uint32_t)n, "seg does not match cls"))) goto out;
        seg_len = malloc(((size_t)n + 1) * sizeof *seg_len);
        seg_at = malloc(((size_t)n + 1) * sizeof *seg_at);
        if (!seg_len || !seg_at) {
            st = yolo_nomem();
            goto out;
        }
        for (int j = 0; j < n; j++) {
            seg_at[j] = r->pos;
            if ((st = mp_next(r, &v))) goto out;
            if (v.kind != MP_ARRAY || v.n % 2) {
                st = bad(r, "bad polygon");
                goto out;
            }
            seg_len[j] = (int)(v.n / 2);
            r->pos = seg_at[j];
            if ((st = mp_skip(r, 1))) goto out;
        }
    }
    r->pos = box_off + 0;
    if ((st = mp_next(r, &v))) goto out;
    size_t box_at = r->pos;
    for (int j = 0; j < n && !st; j++) {
        r->pos = box_at;
        for (int c = 0; c < 4 && !st; c++) {
            double d;
            if (!(st = get_double(r, &d))) box[c] = (float)d;
        }
        box_at = r->pos;
        if (st) break;
        int np = 0;
        if (have_seg) {
            np = seg_len[j];
            free(xy);
            xy = malloc(((size_t)np * 2 + 1) * sizeof *xy);
            if (!xy) {
                st = yolo_nomem();
                break;
            }
            r->pos = seg_at[j];
            if ((st = read_floats(r, xy, (uint32_t)np * 2, "bad polygon"))) break;
            if (np == 0) {
                st = bad(r, "empty polygon");
                break;
            }
        }
        st = sample_add(s, cls[j], box, have_seg ? xy : NULL, np);
    }
out:
    r->pos = save;
    free(cls);
    free(xy);
    free(seg_len);
    free(seg_at);
    if (st) return st;
    image_free(&s->img);
    if ((st = image_alloc(&s->img, h, w, 3, 0))) return st;
    memcpy(s->img.px, r->buf + img_off, img_n);
    free(ss->mask);
    ss->mask = NULL;
    if (have_mask) {
        if (ss->mask_h <= 0 || ss->mask_w <= 0 || (size_t)mask_n != (size_t)ss->mask_h * ss->mask_w * 2)
            return bad(r, "mask size does not match mask_h x mask_w");
        ss->mask = malloc((size_t)mask_n);
        if (!ss->mask) return yolo_nomem();
        const uint8_t *p = r->buf + mask_off;
        for (uint32_t j = 0; j < mask_n / 2; j++)
            ss->mask[j] = (uint16_t)(p[2 * j] | p[2 * j + 1] << 8);
    } else
        ss->mask_h = ss->mask_w = 0;
    return YOLO_OK;
}

static yolo_status read_trailer(stream_reader *r) {
    mpv m, k;
    begin_map(r);
    yolo_status st = mp_next(r, &m);
    if (st) return st;
    if (m.kind != MP_MAP) return bad(r, "trailer is not a map");
    int64_t end = -1;
    int64_t crc = -1;
    for (uint32_t q = 0; q < m.n && !st; q++) {
        if ((st = mp_next(r, &k))) break;
        if (key_is(r, &k, "end"))
            st = get_int(r, &end, 0, INT64_MAX / 2, "end");
        else if (key_is(r, &k, "crc32"))
            st = get_int(r, &crc, 0, UINT32_MAX, "crc32");
        else if (key_is(r, &k, "i"))
            return bad(r, "more samples than the header's count");
        else
            st = mp_skip(r, 0);
    }
    if (st) return st;
    if (end < 0 || crc < 0) return bad(r, "no trailer where one was due");
    if (end != r->got)
        return yolo_error(YOLO_ERR_FORMAT, "%s: trailer counts %lld samples, %lld were read", r->name,
                          (long long)end, (long long)r->got);
    if ((uLong)crc != r->crc)
        return yolo_error(YOLO_ERR_CRC, "%s: stream checksum mismatch (damaged stream)", r->name);
    if (fgetc(r->f) != EOF)
        return yolo_error(YOLO_ERR_FORMAT, "%s: data after the trailer (not one stream)", r->name);
    r->done = true;
    return YOLO_OK;
}

yolo_status stream_reader_next(stream_reader *r, stream_sample *s, int *got) {
    *got = 0;
    if (r->done) return YOLO_OK;
    yolo_status st;
    if (r->got == r->h.count) {
        /* Empty stream (count 0): only the trailer remains. */
        return read_trailer(r);
    }
    begin_map(r);
    stream_sample_free(s);
    if ((st = read_sample(r, s))) return st;
    r->crc = crc32_z(r->crc, r->buf, r->pos);
    if (r->pos > r->raw_cap) {
        uint8_t *nb = realloc(r->raw, r->pos);
        if (!nb) return yolo_nomem();
        r->raw = nb;
        r->raw_cap = r->pos;
    }
    memcpy(r->raw, r->buf, r->pos);
    r->raw_len = r->pos;
    r->got++;
    r->next_i = stream_shard_next(r->h.shard_k, r->h.shard_n, r->h.shard_block, r->next_i + 1);
    if (r->got == r->h.count && (st = read_trailer(r))) {
        stream_sample_free(s);
        return st;
    }
    *got = 1;
    return YOLO_OK;
}

void stream_reader_raw(const stream_reader *r, const uint8_t **buf, size_t *len) {
    *buf = r->raw;
    *len = r->raw_len;
}

yolo_status stream_reader_batch(stream_reader *r, stream_sample *v, int max, int *got) {
    *got = 0;
    for (int k = 0; k < max; k++) {
        int g;
        yolo_status st = stream_reader_next(r, &v[k], &g);
        if (st) {
            for (int j = 0; j <= k; j++)
                stream_sample_free(&v[j]);
            *got = 0;
            return st;
        }
        if (!g) break;
        (*got)++;
    }
    return YOLO_OK;
}

void stream_reader_free(stream_reader *r) {
    if (!r) return;
    stream_header_free(&r->h);
    free(r->buf);
    free(r->raw);
    free(r->name);
    free(r);
}

/* ---- merge ---- */

yolo_status stream_merge(FILE **in, const char *const *names, int n, FILE *out, const char *out_name) {
    if (n < 1) return yolo_error(YOLO_ERR_USAGE, "merge: no input streams");
    stream_reader **rs = calloc((size_t)n, sizeof *rs);
    stream_reader **by_k = NULL;
    stream_writer *w = NULL;
    stream_sample s;
    stream_sample_init(&s);
    stream_header mh;
    stream_header_init(&mh);
    yolo_status st = YOLO_OK;
    if (!rs) return yolo_nomem();
    for (int k = 0; k < n && !st; k++)
        st = stream_reader_open(in[k], names[k], &rs[k]);
    if (st) goto done;
    const stream_header *h0 = &rs[0]->h;
    int sn = h0->shard_n;
    if (sn != n) {
        st = yolo_error(YOLO_ERR_USAGE, "merge: %s is shard %d/%d but %d streams were given", names[0],
                        h0->shard_k, sn, n);
        goto done;
    }
    by_k = calloc((size_t)n, sizeof *by_k);
    if (!by_k) {
        st = yolo_nomem();
        goto done;
    }
    int64_t count = 0;
    for (int k = 0; k < n; k++) {
        const stream_header *h = &rs[k]->h;
        if (h->shard_n != sn || strcmp(h->task, h0->task) || strcmp(h->split, h0->split) ||
            h->seed != h0->seed || h->epoch != h0->epoch || h->imgsz != h0->imgsz || h->from != h0->from ||
            h->total != h0->total || h->nc != h0->nc || h->augment != h0->augment || h->rect != h0->rect ||
            h->batch != h0->batch || h->shard_block != h0->shard_block) {
            st = yolo_error(YOLO_ERR_USAGE, "merge: %s was made with other arguments than %s", names[k],
                            names[0]);
            goto done;
        }
        if (by_k[h->shard_k]) {
            st = yolo_error(YOLO_ERR_USAGE, "merge: %s and another stream are both shard %d/%d", names[k],
                            h->shard_k, sn);
            goto done;
        }
        by_k[h->shard_k] = rs[k];
        count += h->count;
    }
    if ((st = stream_header_copy(&mh, h0))) goto done;
    mh.shard_k = 0, mh.shard_n = 1, mh.shard_block = 1, mh.count = count;
    if (count != mh.total - mh.from) {
        st = yolo_error(YOLO_ERR_USAGE, "merge: the shards hold %lld samples, the epoch has %lld",
                        (long long)count, (long long)(mh.total - mh.from));
        goto done;
    }
    if ((st = stream_writer_open(out, out_name, &mh, &w))) goto done;
    for (int64_t i = mh.from; i < mh.total && !st; i++) {
        stream_reader *r = by_k[i / h0->shard_block % sn];
        int g;
        if ((st = stream_reader_next(r, &s, &g))) break;
        if (!g) {
            st = yolo_error(YOLO_ERR_FORMAT, "%s: ends before sample %lld", r->name, (long long)i);
            break;
        }
        const uint8_t *b;
        size_t len;
        stream_reader_raw(r, &b, &len);
        st = stream_writer_put_raw(w, b, len);
    }
    if (!st) st = stream_writer_finish(w);
done:
    stream_sample_free(&s);
    stream_header_free(&mh);
    stream_writer_free(w);
    for (int k = 0; k < n; k++)
        stream_reader_free(rs[k]);
    free(rs);
    free(by_k);
    return st;
}
