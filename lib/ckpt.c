/* Checkpoint files: torch.save's zip layout read with libarchive, written as a stored zip of our own
 * (deterministic bytes: fixed timestamps, 64-byte aligned data like torch's writer), streamed to the
 * file from the tensors' memory. See ckpt.h. */
#include "yolo/ckpt.h"

#include <archive.h>
#include <ctype.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "yolo/pickle.h"

enum { MODE_SKIP, MODE_DATA, MODE_VERIFY };

/* ---- CRC-32 (the zip polynomial) ----
 * zlib's table-driven crc32 runs at 1-2 GB/s here; folding with carry-less multiplication (PCLMULQDQ)
 * runs at memory speed, which is what makes verifying a checkpoint cost about as much as reading it.
 * Constants: x^(k) mod P(x) for the fold distances (512, 128, 64 bits), bit-reflected, and the
 * Barrett pair (P(x), floor(x^64 / P(x))) for the final reduction. */

static uint32_t crc32_zlib(uint32_t crc, const unsigned char *p, size_t n) {
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("pclmul,sse4.1"))) static __m128i crc_fold(__m128i x, __m128i k, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00), hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t crc, const unsigned char *p,
                                                                     size_t n) {
    const __m128i k512 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL),
                  k128 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    const __m128i k64 = _mm_set_epi64x(0, 0x163cd6124LL),
                  barrett = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
    const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x1 = _mm_loadu_si128((const __m128i *)p), x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32)), x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)~crc));
    p += 64, n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x1 = crc_fold(x1, k512, _mm_loadu_si128((const __m128i *)p));
        x2 = crc_fold(x2, k512, _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = crc_fold(x3, k512, _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = crc_fold(x4, k512, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x1 = crc_fold(x1, k128, x2);
    x1 = crc_fold(x1, k128, x3);
    x1 = crc_fold(x1, k128, x4);
    for (; n >= 16; p += 16, n -= 16)
        x1 = crc_fold(x1, k128, _mm_loadu_si128((const __m128i *)p));
    __m128i t = _mm_clmulepi64_si128(x1, k128, 0x10); /* 128 -> 64 bits */
    x1 = _mm_xor_si128(t, _mm_srli_si128(x1, 8));
    t = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), k64, 0x00); /* 64 -> 32 bits */
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 4), t);
    t = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), barrett, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
    x1 = _mm_xor_si128(x1, t);
    crc = ~(uint32_t)_mm_extract_epi32(x1, 1);
    return n ? crc32_zlib(crc, p, n) : crc;
}

static uint32_t crc32_fast(uint32_t crc, const void *data, size_t n) {
    static int have = -1;
    if (have < 0) have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    if (have && n >= 64) return crc32_clmul(crc, data, n);
    return crc32_zlib(crc, data, n);
}
#else
static uint32_t crc32_fast(uint32_t crc, const void *data, size_t n) {
    return crc32_zlib(crc, data, n);
}
#endif

typedef struct {
    char *name;
    size_t size;
    void *data; /* MODE_DATA only */
} entry;

typedef struct {
    const char *label; /* the file name, for messages */
    int mode;
    size_t max_bytes;
    size_t input_size; /* bytes of the whole archive (0 if unknown) */
    entry *entries;
    size_t n, cap;
    unsigned char *pkl;
    size_t pkl_len;
    char *root; /* "<root>/" prefix of data.pkl */
} rd;

static void rd_free(rd *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->entries[i].name);
        free(r->entries[i].data);
    }
    free(r->entries);
    free(r->pkl);
    free(r->root);
}

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The folder a file of path lives in, where its temporaries go: "." for a bare name. */
static void folder_of(const char *path, char *out, size_t cap) {
    size_t dl = (size_t)(basename_of(path) - path);
    if (dl)
        snprintf(out, cap, "%.*s", (int)dl, path);
    else
        snprintf(out, cap, ".");
}

/* libarchive's complaint about the current entry, as one of our messages. */
static yolo_status archive_fail(rd *r, struct archive *a, const char *entry_name) {
    const char *msg = archive_error_string(a);
    if (!msg) msg = "unknown error";
    if (strstr(msg, "CRC") || strstr(msg, "crc"))
        return yolo_error(
            YOLO_ERR_CRC,
            "%s: damaged: CRC mismatch in entry %s (the file is corrupt; use an earlier checkpoint)",
            r->label, entry_name ? entry_name : "?");
    if (strstr(msg, "Unrecognized archive format") || strstr(msg, "Missing type keyword"))
        return yolo_error(YOLO_ERR_FORMAT, "%s: not a zip archive (is it a checkpoint?)", r->label);
    if (strstr(msg, "runcated") || strstr(msg, "premature") || strstr(msg, "EOF"))
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: truncated or damaged zip archive (%s%s%s; the file is incomplete)", r->label,
                          msg, entry_name ? " in entry " : "", entry_name ? entry_name : "");
    if (archive_errno(a) == EIO || archive_errno(a) == ENOMEM)
        return yolo_error(YOLO_ERR_IO, "%s: %s", r->label, msg);
    return yolo_error(YOLO_ERR_FORMAT, "%s: damaged zip archive (%s%s%s)", r->label, msg,
                      entry_name ? " in entry " : "", entry_name ? entry_name : "");
}

static bool is_pickle_name(const char *name) {
    const char *slash = strchr(name, '/');
    return slash && slash != name && strcmp(slash, "/data.pkl") == 0;
}

/* Reads the current entry to its end (so that libarchive checks its CRC); keeps the bytes in *out
 * when out is not NULL. */
static yolo_status read_entry(rd *r, struct archive *a, struct archive_entry *e, const char *name,
                              size_t limit, unsigned char **out, size_t *len) {
    unsigned char *buf = NULL;
    size_t cap = 0, size = 0;
    if (out && archive_entry_size_is_set(e) && archive_entry_size(e) >= 0) {
        int64_t declared = archive_entry_size(e);
        if (r->input_size && (uint64_t)declared > r->input_size)
            return yolo_error(YOLO_ERR_FORMAT, "%s: damaged zip archive (entry %s claims %lld bytes)",
                              r->label, name, (long long)declared);
        if ((uint64_t)declared > limit)
            return yolo_error(YOLO_ERR_LIMIT, "%s: entry %s has %lld bytes, more than the limit of %zu",
                              r->label, name, (long long)declared, limit);
        cap = (size_t)declared;
        buf = malloc(cap ? cap : 1);
        if (!buf) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory reading entry %s", r->label, name);
    }
    for (;;) {
        const void *blk;
        size_t n;
        la_int64_t off;
        int rc = archive_read_data_block(a, &blk, &n, &off);
        if (rc == ARCHIVE_EOF) break;
        if (rc != ARCHIVE_OK) {
            free(buf);
            return archive_fail(r, a, name);
        }
        if (off < 0 || (uint64_t)off > limit || n > limit - (size_t)off) {
            free(buf);
            return yolo_error(YOLO_ERR_LIMIT, "%s: entry %s is larger than %zu bytes", r->label, name, limit);
        }
        size_t end = (size_t)off + n;
        if (out) {
            if (end > cap) {
                size_t nc = cap ? cap : 4096;
                while (nc < end)
                    nc = nc > limit / 2 ? limit : nc * 2;
                unsigned char *nb = realloc(buf, nc);
                if (!nb) {
                    free(buf);
                    return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory reading entry %s", r->label, name);
                }
                buf = nb;
                cap = nc;
            }
            if (end > size && (size_t)off > size) memset(buf + size, 0, (size_t)off - size);
            if (n) memcpy(buf + off, blk, n);
        }
        if (end > size) size = end;
    }
    if (out) {
        *out = buf;
    }
    *len = size;
    return YOLO_OK;
}

static yolo_status add_entry(rd *r, const char *name, size_t size, void *data) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        entry *e = realloc(r->entries, cap * sizeof *e);
        if (!e) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->label);
        r->entries = e;
        r->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->label);
    r->entries[r->n++] = (entry){nm, size, data};
    return YOLO_OK;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static yolo_status scan(rd *r, struct archive *a) {
    struct archive_entry *e;
    yolo_status st;
    for (;;) {
        int rc = archive_read_next_header(a, &e);
        if (rc == ARCHIVE_EOF) break;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return archive_fail(r, a, NULL);
        const char *name = archive_entry_pathname(e);
        if (!name) name = "";
        if (!r->pkl && is_pickle_name(name)) {
            if ((st = read_entry(r, a, e, name, r->max_bytes, &r->pkl, &r->pkl_len))) return st;
            size_t rl = (size_t)(strchr(name, '/') - name) + 1;
            r->root = strndup(name, rl);
            if (!r->root) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->label);
            continue;
        }
        bool storage = strstr(name, "/data/") != NULL;
        if (r->mode == MODE_SKIP) {
            /* Sizes from the headers suffice to check that every storage is there. */
            if (storage) {
                int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
                if ((st = add_entry(r, name, sz < 0 ? SIZE_MAX : (size_t)sz, NULL))) return st;
            }
            if (archive_read_data_skip(a) != ARCHIVE_OK) return archive_fail(r, a, name);
            continue;
        }
        unsigned char *data = NULL;
        size_t len;
        size_t limit = r->input_size ? r->input_size : SIZE_MAX / 2;
        if ((st = read_entry(r, a, e, name, limit, storage && r->mode == MODE_DATA ? &data : NULL, &len)))
            return st;
        if (storage && (st = add_entry(r, name, len, data))) {
            free(data);
            return st;
        }
    }
    return YOLO_OK;
}

/* Binds each storage the pickle names to its entry, checking sizes (and taking the bytes in MODE_DATA). */
static yolo_status bind_storages(rd *r, yv_doc *doc) {
    if (r->n) qsort(r->entries, r->n, sizeof *r->entries, entry_cmp);
    size_t rl = strlen(r->root);
    for (size_t i = 0; i < yv_doc_storage_count(doc); i++) {
        yv_storage *s = yv_doc_storage(doc, i);
        char name[512];
        if (rl + strlen(s->key) + 6 >= sizeof name)
            return yolo_error(YOLO_ERR_FORMAT, "%s: storage key too long", r->label);
        snprintf(name, sizeof name, "%sdata/%s", r->root, s->key);
        entry k = {.name = name};
        entry *e = r->n ? bsearch(&k, r->entries, r->n, sizeof *r->entries, entry_cmp) : NULL;
        if (!e)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: damaged: missing storage entry %s (the file is incomplete)", r->label,
                              name);
        size_t need = (size_t)s->numel * yv_dtype_size(s->dtype);
        if (e->size != SIZE_MAX && e->size < need)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: damaged: storage entry %s has %zu bytes, its tensors need %zu", r->label,
                              name, e->size, need);
        if (r->mode == MODE_DATA) {
            if (!e->data) {
                /* Two storages with one key cannot happen (the pickle reader merges them). */
                e->data = malloc(1);
                if (!e->data) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->label);
            }
            yv_storage_adopt(doc, s, e->data);
            e->data = NULL;
        }
    }
    return YOLO_OK;
}

static yolo_status read_archive(rd *r, struct archive *a, yv_doc **doc_out, yv **root_out) {
    yolo_status st = scan(r, a);
    if (st) return st;
    if (!r->pkl) return yolo_error(YOLO_ERR_FORMAT, "%s: not a checkpoint (no data.pkl)", r->label);
    yv_doc *doc = yv_doc_new();
    if (!doc) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", r->label);
    pickle_opts po = {.max_bytes = r->max_bytes};
    yv *root = NULL;
    st = pickle_load(doc, r->pkl, r->pkl_len, &po, &root);
    if (st) {
        char where[600];
        snprintf(where, sizeof where, "%s: %sdata.pkl", r->label, r->root);
        yolo_error_prefix(st, where);
    } else {
        st = bind_storages(r, doc);
    }
    if (st || !doc_out) {
        yv_doc_free(doc);
        return st;
    }
    *doc_out = doc;
    *root_out = root;
    return YOLO_OK;
}

static struct archive *new_reader(void) {
    struct archive *a = archive_read_new();
    if (!a) return NULL;
    archive_read_support_format_zip(a);
    return a;
}

/* A whole zip ends with an end-of-central-directory record that points just before itself. Without
 * one, libarchive would fall back to streaming the entries and accept a file cut inside its central
 * directory; we want every truncation reported. */
static yolo_status check_end_record(const char *label, const unsigned char *p, size_t len) {
    if (len < 4 || memcmp(p, "PK\3\4", 4) != 0) {
        if (len >= 4 && memcmp(p, "PK\5\6", 4) == 0)
            return yolo_error(YOLO_ERR_FORMAT, "%s: not a checkpoint (an empty zip archive)", label);
        /* torch.save before 1.6 (or with _use_new_zipfile_serialization=False) wrote bare pickles. */
        if (len >= 3 && p[0] == 0x80 && p[1] <= 5 && p[2] == 0x8a)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: not a zip archive (an old-style torch.save file: load and save it again "
                              "with torch >= 1.6)",
                              label);
        return yolo_error(YOLO_ERR_FORMAT, "%s: not a zip archive (is it a checkpoint?)", label);
    }
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len >= 22 ? len - 22 + 1 : 0; i-- > lo;) {
        const unsigned char *e = p + i;
        if (memcmp(e, "PK\5\6", 4) != 0) continue;
        size_t comment = (size_t)e[20] | (size_t)e[21] << 8;
        if (i + 22 + comment != len) continue;
        uint32_t csize =
            (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
        uint32_t coff =
            (uint32_t)e[16] | (uint32_t)e[17] << 8 | (uint32_t)e[18] << 16 | (uint32_t)e[19] << 24;
        /* zip64 archives keep 0xffffffff here and their real numbers in the zip64 records. */
        if (coff == UINT32_MAX || csize == UINT32_MAX) return YOLO_OK;
        if ((uint64_t)coff + csize > i)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: truncated or damaged zip archive (the central directory lies past the "
                              "end; the file is incomplete)",
                              label);
        return YOLO_OK;
    }
    return yolo_error(YOLO_ERR_FORMAT,
                      "%s: truncated zip archive (no end-of-archive record; the file is incomplete)", label);
}

static yolo_status read_memory(const char *label, const void *data, size_t len, int mode, size_t max_bytes,
                               yv_doc **doc, yv **root) {
    rd r = {.label = label,
            .mode = mode,
            .max_bytes = max_bytes ? max_bytes : (size_t)1 << 30,
            .input_size = len};
    if (len == 0) return yolo_error(YOLO_ERR_FORMAT, "%s: not a zip archive (the file is empty)", label);
    yolo_status cst = check_end_record(label, data, len);
    if (cst) return cst;
    struct archive *a = new_reader();
    if (!a) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", label);
    yolo_status st;
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK)
        st = archive_fail(&r, a, NULL);
    else
        st = read_archive(&r, a, doc, root);
    archive_read_free(a);
    rd_free(&r);
    return st;
}

static uint32_t rd16(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const unsigned char *p) {
    return rd16(p) | rd16(p + 2) << 16;
}

typedef struct {
    const char *name; /* into the central directory, not NUL-terminated */
    size_t nlen;
    const unsigned char *data;
    size_t size;
} zent;

static int zent_cmp(const void *a, const void *b) {
    const zent *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* The fast path for a stored zip held in memory, after libarchive has read its structure and pickle:
 * walks the central directory ourselves, checks every entry's CRC-32 (at memory speed, see
 * crc32_fast) and, when doc is given, copies each storage's bytes into it. Sets *fallback, having
 * changed nothing, when the archive uses what this walk does not handle (compression, zip64, odd
 * layouts); the caller then lets libarchive read everything. */
static yolo_status fast_pass(const char *label, const unsigned char *p, size_t len, yv_doc *doc,
                             bool *fallback) {
    *fallback = true;
    const unsigned char *e = NULL;
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len >= 22 ? len - 22 + 1 : 0; i-- > lo;)
        if (memcmp(p + i, "PK\5\6", 4) == 0 && i + 22 + rd16(p + i + 20) == len) {
            e = p + i;
            break;
        }
    if (!e) return YOLO_OK;
    size_t count = rd16(e + 10), cd = rd32(e + 16), cd_end = cd + rd32(e + 12);
    if (count == 0xffff || rd32(e + 16) == UINT32_MAX || cd_end > (size_t)(e - p)) return YOLO_OK;
    zent *ents = malloc((count ? count : 1) * sizeof *ents);
    if (!ents) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", label);
    yolo_status st = YOLO_OK;
    const char *root = NULL;
    size_t rootlen = 0, n = 0;
    for (size_t at = cd; n < count; n++) {
        if (at + 46 > cd_end || rd32(p + at) != 0x02014b50) goto fallback;
        const unsigned char *c = p + at;
        uint32_t crc = rd32(c + 16), csize = rd32(c + 20), usize = rd32(c + 24), off = rd32(c + 42);
        size_t nl = rd16(c + 28), next = at + 46 + nl + rd16(c + 30) + rd16(c + 32);
        if (rd16(c + 10) != 0 || csize == UINT32_MAX || usize == UINT32_MAX || off == UINT32_MAX ||
            next > cd_end || (size_t)off + 30 > len || rd32(p + off) != 0x04034b50)
            goto fallback;
        size_t data = (size_t)off + 30 + rd16(p + off + 26) + rd16(p + off + 28);
        if (data > len || csize > len - data) goto fallback;
        /* the two copies of an entry's facts must agree (sizes and CRC are in the local header unless a
         * data descriptor carries them, flag bit 3), and a stored entry's sizes are equal */
        const unsigned char *lh = p + off;
        const char *what = NULL;
        if (csize != usize)
            what = "a stored entry's two sizes differ in the central directory";
        else if (rd16(lh + 8) != 0)
            what = "its local header says compressed, the central directory stored";
        else if (rd16(lh + 26) != nl || memcmp(lh + 30, c + 46, nl) != 0)
            what = "its local header names another entry";
        else if (!(rd16(c + 8) & 8) && rd32(lh + 14) != crc)
            what = "the CRC in its local header differs from the central directory's";
        else if (!(rd16(c + 8) & 8) && (rd32(lh + 18) != csize || rd32(lh + 22) != usize))
            what = "the sizes in its local header differ from the central directory's";
        if (what) {
            *fallback = false;
            st = yolo_error(YOLO_ERR_FORMAT,
                            "%s: damaged: entry %.*s: %s (the file is corrupt; use an earlier checkpoint)",
                            label, (int)nl, (const char *)c + 46, what);
            goto out;
        }
        ents[n] = (zent){(const char *)c + 46, nl, p + data, usize};
        if (crc32_fast(0, p + data, usize) != crc) {
            *fallback = false;
            st = yolo_error(
                YOLO_ERR_CRC,
                "%s: damaged: CRC mismatch in entry %.*s (the file is corrupt; use an earlier checkpoint)",
                label, (int)nl, (const char *)c + 46);
            goto out;
        }
        const char *slash = memchr(c + 46, '/', nl);
        if (!root && slash && nl - (size_t)(slash - (const char *)(c + 46)) == 9 &&
            memcmp(slash, "/data.pkl", 9) == 0) {
            root = (const char *)c + 46;
            rootlen = (size_t)(slash - root) + 1;
        }
        at = next;
    }
    if (doc) {
        if (!root) goto fallback;
        qsort(ents, n, sizeof *ents, zent_cmp);
        size_t ns = yv_doc_storage_count(doc);
        void **bufs = calloc(ns ? ns : 1, sizeof *bufs);
        if (!bufs) {
            st = yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", label);
            goto out;
        }
        for (size_t i = 0; i < ns && !st; i++) {
            yv_storage *s = yv_doc_storage(doc, i);
            char name[600];
            if (rootlen + strlen(s->key) + 6 >= sizeof name) {
                st = yolo_error(YOLO_ERR_FORMAT, "%s: storage key too long", label);
                break;
            }
            int k = snprintf(name, sizeof name, "%.*sdata/%s", (int)rootlen, root, s->key);
            zent key = {name, (size_t)k, NULL, 0};
            zent *z = bsearch(&key, ents, n, sizeof *ents, zent_cmp);
            size_t need = (size_t)s->numel * yv_dtype_size(s->dtype);
            if (!z || z->size < need) { /* libarchive's pass checked these; be safe anyway */
                st = yolo_error(YOLO_ERR_FORMAT, "%s: damaged: storage entry %s is missing or short", label,
                                name);
                break;
            }
            bufs[i] = malloc(need ? need : 1);
            if (!bufs[i])
                st = yolo_error(YOLO_ERR_NOMEM, "%s: out of memory for tensor data", label);
            else if (need)
                memcpy(bufs[i], z->data, need);
        }
        for (size_t i = 0; i < ns; i++) {
            if (st)
                free(bufs[i]);
            else
                yv_storage_adopt(doc, yv_doc_storage(doc, i), bufs[i]);
        }
        free(bufs);
    }
    *fallback = false;
    goto out;
fallback:
    st = YOLO_OK;
out:
    free(ents);
    return st;
}

/* A whole archive in memory. With fast, data and CRCs go through fast_pass (libarchive still reads the
 * structure and the pickle); without, libarchive reads every byte. */
static yolo_status read_mapped(const char *label, const void *m, size_t len, int mode, size_t max_bytes,
                               bool fast, yv_doc **doc, yv **root) {
    if (mode == MODE_SKIP || !fast) return read_memory(label, m, len, mode, max_bytes, doc, root);
    bool fallback = false, want = mode == MODE_DATA;
    yv_doc *d = NULL;
    yv *r = NULL;
    yolo_status st = read_memory(label, m, len, MODE_SKIP, max_bytes, want ? &d : NULL, want ? &r : NULL);
    if (!st) st = fast_pass(label, m, len, d, &fallback);
    if (!st && fallback) {
        yv_doc_free(d);
        d = NULL;
        st = read_memory(label, m, len, mode, max_bytes, want ? &d : NULL, want ? &r : NULL);
    }
    if (st) {
        yv_doc_free(d);
    } else if (want) {
        *doc = d;
        *root = r;
    }
    return st;
}

static yolo_status read_path(const char *path, int mode, size_t max_bytes, bool fast, yv_doc **doc,
                             yv **root) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return yolo_error(YOLO_ERR_NOTFOUND, "%s: no such file", path);
        return yolo_error(YOLO_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return yolo_error(YOLO_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return yolo_error(YOLO_ERR_USAGE, "%s: is a directory (give a .pt file)", path);
    }
    yolo_status st;
    if (S_ISREG(sb.st_mode)) {
        /* A mapped file lets the zip reader seek to the central directory and skip storages for free. */
        if (sb.st_size == 0) {
            close(fd);
            return yolo_error(YOLO_ERR_FORMAT, "%s: not a zip archive (the file is empty)", path);
        }
        /* Reading every byte: fault the pages in up front, in bulk, rather than one by one. */
        int flags = MAP_PRIVATE | (mode == MODE_SKIP ? 0 : MAP_POPULATE);
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, flags, fd, 0);
        close(fd);
        if (m == MAP_FAILED) return yolo_error(YOLO_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        st = read_mapped(path, m, (size_t)sb.st_size, mode, max_bytes, fast, doc, root);
        munmap(m, (size_t)sb.st_size);
        return st;
    }
    /* Pipes and devices: stream through the archive (torch's zips carry sizes in data descriptors,
     * which libarchive's streaming zip reader handles). */
    rd r = {.label = path, .mode = mode, .max_bytes = max_bytes ? max_bytes : (size_t)1 << 30};
    struct archive *a = new_reader();
    if (!a) {
        close(fd);
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", path);
    }
    if (archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK)
        st = archive_fail(&r, a, NULL);
    else
        st = read_archive(&r, a, doc, root);
    archive_read_free(a);
    close(fd);
    rd_free(&r);
    return st;
}

yolo_status ckpt_read(const char *path, const ckpt_read_opts *opts, yv_doc **doc, yv **root) {
    bool skip = opts && opts->skip_tensor_data, fast = !(opts && opts->libarchive_only);
    return read_path(path, skip ? MODE_SKIP : MODE_DATA, opts ? opts->max_bytes : 0, fast, doc, root);
}

yolo_status ckpt_read_memory(const char *label, const void *data, size_t len, const ckpt_read_opts *opts,
                             yv_doc **doc, yv **root) {
    bool skip = opts && opts->skip_tensor_data, fast = !(opts && opts->libarchive_only);
    return read_mapped(label, data, len, skip ? MODE_SKIP : MODE_DATA, opts ? opts->max_bytes : 0, fast, doc,
                       root);
}

yolo_status ckpt_verify(const char *path) {
    return read_path(path, MODE_VERIFY, 0, true, NULL, NULL);
}

/* ---- writing ---- */

typedef struct {
    yv_storage **st;
    char **keys;
    size_t n, cap;
    yv_storage **slots; /* open-addressing pointer set: storage -> index+1 in st */
    size_t *slot_idx;
    size_t nslots;
} keymap;

static size_t ptr_hash(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h;
}

static bool keymap_grow(keymap *m) {
    size_t ns = m->nslots ? m->nslots * 2 : 256;
    yv_storage **slots = calloc(ns, sizeof *slots);
    size_t *idx = calloc(ns, sizeof *idx);
    if (!slots || !idx) {
        free(slots);
        free(idx);
        return false;
    }
    for (size_t i = 0; i < m->n; i++) {
        size_t s = ptr_hash(m->st[i]) & (ns - 1);
        while (slots[s])
            s = (s + 1) & (ns - 1);
        slots[s] = m->st[i];
        idx[s] = i;
    }
    free(m->slots);
    free(m->slot_idx);
    m->slots = slots;
    m->slot_idx = idx;
    m->nslots = ns;
    return true;
}

/* Keys "0", "1", ... in the order the pickle first meets each storage, as torch.save numbers them. */
static const char *key_of(yv_storage *s, void *ctx) {
    keymap *m = ctx;
    if (m->nslots) {
        for (size_t i = ptr_hash(s) & (m->nslots - 1); m->slots[i]; i = (i + 1) & (m->nslots - 1))
            if (m->slots[i] == s) return m->keys[m->slot_idx[i]];
    }
    if ((m->n + 1) * 2 > m->nslots && !keymap_grow(m)) return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        yv_storage **st = realloc(m->st, cap * sizeof *st);
        if (!st) return NULL;
        m->st = st;
        char **keys = realloc(m->keys, cap * sizeof *keys);
        if (!keys) return NULL;
        m->keys = keys;
        m->cap = cap;
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%zu", m->n);
    char *k = strdup(buf);
    if (!k) return NULL;
    size_t i = ptr_hash(s) & (m->nslots - 1);
    while (m->slots[i])
        i = (i + 1) & (m->nslots - 1);
    m->slots[i] = s;
    m->slot_idx[i] = m->n;
    m->st[m->n] = s;
    m->keys[m->n++] = k;
    return k;
}

static void keymap_free(keymap *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->st);
    free(m->slots);
    free(m->slot_idx);
}

static void le16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static yolo_status too_large(const char *label) {
    return yolo_error(YOLO_ERR_LIMIT,
                      "%s: checkpoint too large for a zip without zip64 (over 4 GiB or 65535 storages)",
                      label);
}

/* One zip entry to write: its name below the archive folder, and bytes that stay where they are (the
 * pickle buffer, or a storage's own memory: no copy of the tensors is ever made). */
typedef struct {
    char tail[32];
    const void *data;
    size_t len;
    uint32_t crc;
} wentry;

/* A root serialised once (pickle and CRCs), ready to be laid out under any folder name. */
typedef struct {
    wentry *e;
    size_t n;
    unsigned char *pkl;
} wplan;

static void wplan_free(wplan *w) {
    free(w->e);
    free(w->pkl);
}

static yolo_status wplan_make(const char *label, const yv *root, wplan *w) {
    memset(w, 0, sizeof *w);
    keymap km = {0};
    size_t pkl_len = 0;
    yolo_status st = pickle_dump(root, key_of, &km, &w->pkl, &pkl_len);
    if (st) {
        keymap_free(&km);
        return yolo_error_prefix(st, label);
    }
    if (km.n > 65535 - 2) {
        keymap_free(&km);
        return too_large(label);
    }
    w->e = calloc(km.n + 2, sizeof *w->e);
    if (!w->e) {
        keymap_free(&km);
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory building the archive", label);
    }
    w->e[w->n++] = (wentry){.tail = "data.pkl", .data = w->pkl, .len = pkl_len};
    for (size_t i = 0; i < km.n && !st; i++) {
        yv_storage *s = km.st[i];
        size_t nbytes = (size_t)s->numel * yv_dtype_size(s->dtype);
        if (!s->data && nbytes)
            st = yolo_error(YOLO_ERR_USAGE,
                            "%s: tensor data was not loaded (read the source without skip_tensor_data)",
                            label);
        wentry *e = &w->e[w->n++];
        snprintf(e->tail, sizeof e->tail, "data/%s", km.keys[i]);
        e->data = s->data ? s->data : "";
        e->len = s->data ? nbytes : 0;
    }
    w->e[w->n++] = (wentry){.tail = "version", .data = "3\n", .len = 2};
    keymap_free(&km);
    for (size_t i = 0; i < w->n && !st; i++)
        w->e[i].crc = crc32_fast(0, w->e[i].data, w->e[i].len);
    if (st) wplan_free(w);
    return st;
}

/* The file's bytes as a list of pieces: per entry a local header (padded so that the data starts on a
 * 64-byte boundary, in an extra field as torch does, so storages can be mapped and read in place) and
 * the entry's own bytes, then the central directory. Headers live in *meta. */
typedef struct {
    struct iovec *iov;
    size_t niov;
    unsigned char *meta;
    size_t total;
} wlayout;

static void wlayout_free(wlayout *l) {
    free(l->iov);
    free(l->meta);
}

static yolo_status wlayout_make(const char *path, const wplan *w, wlayout *l) {
    memset(l, 0, sizeof *l);
    /* The archive's folder: the file name without its extension, as torch.save names it. */
    const char *base = basename_of(path);
    char folder[256];
    size_t bl = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) bl = (size_t)(dot - base);
    if (bl == 0 || bl >= sizeof folder - 1)
        snprintf(folder, sizeof folder, "archive");
    else
        snprintf(folder, sizeof folder, "%.*s", (int)bl, base);
    size_t fl = strlen(folder);

    size_t local = 0, central = 22;
    for (size_t i = 0; i < w->n; i++) {
        size_t nl = fl + 1 + strlen(w->e[i].tail);
        local += 30 + nl + 4 + 63;
        central += 46 + nl;
    }
    l->meta = malloc(local + central);
    l->iov = malloc((2 * w->n + 1) * sizeof *l->iov);
    if (!l->meta || !l->iov) {
        wlayout_free(l);
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory building the archive", path);
    }
    unsigned char *h = l->meta, *c0 = l->meta + local, *c = c0;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wentry *e = &w->e[i];
        char name[300];
        size_t nl = (size_t)snprintf(name, sizeof name, "%s/%s", folder, e->tail);
        size_t hdr = 30 + nl + 4;
        size_t pad = (64 - (off + hdr) % 64) % 64;
        if (off > UINT32_MAX) break;
        unsigned char *p = h;
        memset(p, 0, 30);
        le32(p, 0x04034b50);
        le16(p + 4, 20);
        le16(p + 6, 0x800); /* names are UTF-8 */
        le16(p + 12, 0x21); /* 1980-01-01, fixed so that equal contents give equal files */
        le32(p + 14, e->crc);
        le32(p + 18, (uint32_t)e->len);
        le32(p + 22, (uint32_t)e->len);
        le16(p + 26, (unsigned)nl);
        le16(p + 28, (unsigned)(4 + pad));
        memcpy(p + 30, name, nl);
        memset(p + 30 + nl, 'Z', 4 + pad);
        le16(p + 30 + nl, 0x4246);
        le16(p + 32 + nl, (unsigned)pad);
        l->iov[l->niov++] = (struct iovec){h, hdr + pad};
        if (e->len) l->iov[l->niov++] = (struct iovec){(void *)e->data, e->len};
        h += hdr + pad;

        memset(c, 0, 46);
        le32(c, 0x02014b50);
        le16(c + 4, 20);
        le16(c + 6, 20);
        le16(c + 8, 0x800);
        le16(c + 14, 0x21);
        le32(c + 16, e->crc);
        le32(c + 20, (uint32_t)e->len);
        le32(c + 24, (uint32_t)e->len);
        le16(c + 28, (unsigned)nl);
        le32(c + 42, (uint32_t)off);
        memcpy(c + 46, name, nl);
        c += 46 + nl;
        off += hdr + pad + e->len;
    }
    size_t clen = (size_t)(c - c0);
    if (off > UINT32_MAX - 1 || clen > UINT32_MAX / 2) {
        wlayout_free(l);
        return too_large(path);
    }
    memset(c, 0, 22);
    le32(c, 0x06054b50);
    le16(c + 8, (unsigned)w->n);
    le16(c + 10, (unsigned)w->n);
    le32(c + 12, (uint32_t)clen);
    le32(c + 16, (uint32_t)off);
    l->iov[l->niov++] = (struct iovec){c0, clen + 22};
    l->total = (size_t)off + clen + 22;
    return YOLO_OK;
}

static const char *errno_hint(int e) {
    switch (e) {
    case ENOSPC:
        return "free some disk space";
    case EDQUOT:
        return "disk quota exceeded";
    case EFBIG:
        return "the file is larger than the file system or a limit allows";
    case EACCES:
    case EPERM:
        return "check the folder's permissions";
    case EROFS:
        return "the file system is read-only";
    case ENOENT:
        return "the folder does not exist";
    case EISDIR:
        return "the path is a directory";
    default:
        return "the previous file, if any, is unchanged";
    }
}

static yolo_status write_fail(const char *path, const char *what, int e) {
    return yolo_error(YOLO_ERR_IO, "%s: cannot %s: %s (%s)", path, what, strerror(e), errno_hint(e));
}

/* Writes every piece to fd; false with errno set on failure. Modifies iov. */
static bool write_all_iov(int fd, struct iovec *iov, size_t n) {
    while (n) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        size_t done = (size_t)w;
        while (n && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++, n--;
        }
        if (n) {
            iov->iov_base = (unsigned char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return true;
}

/* A file being replaced: its bytes go to a hidden temporary in the same folder (rename() within one
 * file system is atomic), or straight into a pipe or device, which cannot be replaced. */
typedef struct {
    const char *path;
    char *tmp, *dir;
    int fd;
    bool direct;
} pending;

static yolo_status pending_open(const char *path, pending *p) {
    memset(p, 0, sizeof *p);
    p->path = path;
    p->fd = -1;
    struct stat target;
    if (stat(path, &target) == 0 && !S_ISREG(target.st_mode)) {
        if (S_ISDIR(target.st_mode))
            return yolo_error(YOLO_ERR_USAGE, "%s: is a directory (give a file name)", path);
        p->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (p->fd < 0) return write_fail(path, "open", errno);
        p->direct = true;
        return YOLO_OK;
    }
    size_t pl = strlen(path);
    const char *base = basename_of(path);
    if (!*base) return yolo_error(YOLO_ERR_USAGE, "%s: not a file name", path);
    size_t dl = (size_t)(base - path);
    p->tmp = malloc(pl + 16);
    p->dir = malloc(dl + 2);
    if (!p->tmp || !p->dir) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", path);
    snprintf(p->tmp, pl + 16, "%.*s.%s.XXXXXX", (int)dl, path, base);
    folder_of(path, p->dir, dl + 2);
    p->fd = mkostemp(p->tmp, O_CLOEXEC);
    if (p->fd < 0) {
        int e = errno;
        free(p->tmp);
        p->tmp = NULL;
        return write_fail(path, "create a temporary file", e);
    }
    /* mkstemp makes 0600; give the file the mode a plain create would (or the old file's). */
    struct stat old;
    mode_t mode;
    if (stat(path, &old) == 0) {
        mode = old.st_mode & 07777;
    } else {
        mode_t um = umask(022);
        umask(um);
        mode = 0666 & ~um;
    }
    (void)fchmod(p->fd, mode);
    return YOLO_OK;
}

static yolo_status pending_write(pending *p, struct iovec *iov, size_t n) {
    /* No sync_file_range to start the write-back early here: measured, it made the later fsync
     * slower, not faster. */
    if (!write_all_iov(p->fd, iov, n)) return write_fail(p->path, "write", errno);
    return YOLO_OK;
}

/* Makes the temporary's bytes durable (a pipe or device is only closed); removes it on failure. */
static yolo_status pending_sync(pending *p) {
    yolo_status st = YOLO_OK;
    if (!p->direct && fsync(p->fd) != 0) st = write_fail(p->path, "fsync", errno);
    if (close(p->fd) != 0 && !st) st = write_fail(p->path, p->direct ? "write" : "close", errno);
    p->fd = -1;
    if (st && p->tmp) {
        unlink(p->tmp);
        free(p->tmp);
        p->tmp = NULL;
    }
    return st;
}

/* Puts a synced temporary in place; removes it on failure. */
static yolo_status pending_place(pending *p) {
    if (p->direct) return YOLO_OK;
    yolo_status st = YOLO_OK;
    if (rename(p->tmp, p->path) != 0) {
        st = write_fail(p->path, "rename the temporary file over", errno);
        unlink(p->tmp);
    }
    free(p->tmp);
    p->tmp = NULL;
    if (st) return st;
    int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        /* The rename is only durable once the folder is synced; some file systems refuse (EINVAL). */
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
            st = write_fail(p->path, "fsync the folder of", errno);
        close(dfd);
    }
    return st;
}

static yolo_status pending_commit(pending *p) {
    yolo_status st = pending_sync(p);
    return st ? st : pending_place(p);
}

/* Drops a file not committed (its temporary goes; the old file at path stays). */
static void pending_close(pending *p) {
    if (p->fd >= 0) close(p->fd);
    if (p->tmp) unlink(p->tmp);
    free(p->tmp);
    free(p->dir);
    memset(p, 0, sizeof *p);
    p->fd = -1;
}

/* A second name for src's synced temporary, to be put in place at path: a hard link, so the bytes
 * are written and synced once. *linked is false (p holds no file) where no link can be made
 * (another file system, a pipe or device at path, a file system without hard links): the caller
 * writes a copy instead. */
static yolo_status pending_link(const char *path, const pending *src, pending *p, bool *linked) {
    *linked = false;
    struct stat target;
    if (src->direct || (stat(path, &target) == 0 && !S_ISREG(target.st_mode))) return YOLO_OK;
    yolo_status st = pending_open(path, p);
    if (st) return st;
    /* pending_open made an empty temporary: the link takes over its name */
    close(p->fd);
    p->fd = -1;
    unlink(p->tmp);
    if (link(src->tmp, p->tmp) == 0) {
        *linked = true;
        return YOLO_OK;
    }
    int e = errno;
    free(p->tmp);
    p->tmp = NULL;
    free(p->dir);
    p->dir = NULL;
    if (e == EXDEV || e == EPERM || e == EOPNOTSUPP || e == ENOSYS || e == EMLINK) return YOLO_OK;
    return write_fail(path, "link the checkpoint to a temporary name for", e);
}

/* Writes one full copy of the plan to a temporary for path and syncs it. */
static yolo_status write_copy(const char *path, const wplan *w, pending *p) {
    wlayout l;
    yolo_status st = wlayout_make(path, w, &l);
    if (st) return st;
    if (!(st = pending_open(path, p))) st = pending_write(p, l.iov, l.niov);
    wlayout_free(&l);
    return st ? st : pending_sync(p);
}

yolo_status ckpt_write_many(const char *const *paths, size_t n, const yv *root) {
    if (n == 0) return YOLO_OK;
    /* The bytes go to the last path (last.pt): its name is the archive's folder. */
    size_t last = n - 1;
    wplan w;
    yolo_status st = wplan_make(paths[last], root, &w);
    if (st) return st;
    pending *p = calloc(n, sizeof *p);
    if (!p) {
        wplan_free(&w);
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", paths[last]);
    }
    for (size_t i = 0; i < n; i++)
        p[i].fd = -1;
    st = write_copy(paths[last], &w, &p[last]);
    for (size_t i = 0; i < last && !st; i++) {
        bool linked;
        st = pending_link(paths[i], &p[last], &p[i], &linked);
        if (!st && !linked) st = write_copy(paths[i], &w, &p[i]);
    }
    for (size_t i = 0; i < n && !st; i++)
        st = pending_place(&p[i]);
    for (size_t i = 0; i < n; i++)
        pending_close(&p[i]);
    free(p);
    wplan_free(&w);
    return st;
}

yolo_status ckpt_write(const char *path, const yv *root) {
    return ckpt_write_many(&path, 1, root);
}

yolo_status ckpt_write_file_atomic(const char *path, const void *data, size_t len) {
    pending p;
    yolo_status st = pending_open(path, &p);
    struct iovec iov = {(void *)data, len};
    if (!st) st = pending_write(&p, &iov, len ? 1 : 0);
    if (!st) st = pending_commit(&p);
    pending_close(&p);
    return st;
}

yolo_status ckpt_mkdirs(const char *path) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return yolo_error(YOLO_ERR_LIMIT, "%.100s...: path too long", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return yolo_error(YOLO_ERR_IO, "%s: cannot create the folder (%s)", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return yolo_error(YOLO_ERR_IO, "%s: cannot create the folder (%s)", buf, strerror(errno));
    return YOLO_OK;
}

/* ".NAME.XXXXXX" as pending_open names a temporary, for NAME a checkpoint, results.csv or args.yaml. */
static bool is_our_temporary(const char *name) {
    size_t n = strlen(name);
    if (n < 9 || name[0] != '.' || name[n - 7] != '.') return false;
    for (size_t i = n - 6; i < n; i++)
        if (!isalnum((unsigned char)name[i])) return false;
    size_t stem = n - 8; /* NAME, between the leading dot and ".XXXXXX" */
    const char *s = name + 1;
    return (stem > 3 && !memcmp(s + stem - 3, ".pt", 3)) || (stem == 11 && !memcmp(s, "results.csv", 11)) ||
           (stem == 9 && !memcmp(s, "args.yaml", 9));
}

int ckpt_remove_stale_temporaries(const char *beside) {
    char dir[PATH_MAX];
    folder_of(beside, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_our_temporary(e->d_name)) continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}
