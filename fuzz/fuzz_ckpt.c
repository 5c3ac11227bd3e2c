/* libFuzzer: whole checkpoint files (zip + pickle + storages) from memory, with and without tensor
 * data; a successful read is walked the way the tools walk it.
 * An input that starts like a pickle (0x80) is first wrapped into a valid stored zip as data.pkl,
 * next to storages "0".."3" of a few sizes: mutations of the pickle then get past the zip's CRCs
 * and reach the storage binding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "yolo/ckpt.h"

static void touch(yv_doc *doc, yv *root) {
    char buf[512];
    yv_repr(root, buf, sizeof buf);
    yv *sd = yv_state_dict(doc, root);
    if (!sd || sd->kind != YV_DICT) return;
    for (size_t i = 0; i < sd->dict.n && i < 64; i++) {
        yv *t = sd->dict.vals[i];
        if (t->kind != YV_TENSOR || !yv_tensor_data(&t->tensor)) continue;
        int64_t n = yv_tensor_numel(&t->tensor);
        if (n > (1 << 20)) continue;
        double *out = malloc((size_t)(n ? n : 1) * sizeof *out);
        if (out && yv_tensor_to_f64(&t->tensor, out) != YOLO_OK) abort();
        free(out);
    }
}

static void put(unsigned char **p, const void *s, size_t n) {
    memcpy(*p, s, n);
    *p += n;
}
static void put16(unsigned char **p, unsigned v) {
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(p, b, 2);
}
static void put32(unsigned char **p, uint32_t v) {
    put16(p, v & 0xffff);
    put16(p, v >> 16);
}

/* A minimal stored zip: entries x/data.pkl, x/data/0..3, x/version. */
static unsigned char *wrap(const uint8_t *pkl, size_t n, size_t *out_len) {
    static const unsigned char fill[256] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *names[] = {"x/data.pkl", "x/data/0", "x/data/1", "x/data/2", "x/data/3", "x/version"};
    const void *datas[] = {pkl, fill, fill, fill, fill, "3\n"};
    size_t lens[] = {n, 0, 16, 64, 256, 2}, offs[6];
    unsigned char *z = malloc(n + 4096), *p = z;
    uint32_t crcs[6];
    for (int i = 0; i < 6; i++) {
        crcs[i] = (uint32_t)crc32(0, datas[i], (uInt)lens[i]);
        offs[i] = (size_t)(p - z);
        put32(&p, 0x04034b50), put16(&p, 20), put16(&p, 0), put16(&p, 0), put32(&p, 0), put32(&p, crcs[i]);
        put32(&p, (uint32_t)lens[i]), put32(&p, (uint32_t)lens[i]), put16(&p, (unsigned)strlen(names[i])),
            put16(&p, 0);
        put(&p, names[i], strlen(names[i]));
        put(&p, datas[i], lens[i]);
    }
    size_t cd = (size_t)(p - z);
    for (int i = 0; i < 6; i++) {
        put32(&p, 0x02014b50), put16(&p, 20), put16(&p, 20), put16(&p, 0), put16(&p, 0), put32(&p, 0),
            put32(&p, crcs[i]);
        put32(&p, (uint32_t)lens[i]), put32(&p, (uint32_t)lens[i]), put16(&p, (unsigned)strlen(names[i]));
        put16(&p, 0), put16(&p, 0), put16(&p, 0), put16(&p, 0), put32(&p, 0), put32(&p, (uint32_t)offs[i]);
        put(&p, names[i], strlen(names[i]));
    }
    size_t cdlen = (size_t)(p - z) - cd;
    put32(&p, 0x06054b50), put16(&p, 0), put16(&p, 0), put16(&p, 6), put16(&p, 6);
    put32(&p, (uint32_t)cdlen), put32(&p, (uint32_t)cd), put16(&p, 0);
    *out_len = (size_t)(p - z);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *wrapped = NULL;
    if (size > 0 && data[0] == 0x80) {
        wrapped = wrap(data, size, &size);
        data = wrapped;
    }
    for (int mode = 0; mode < 3; mode++) {
        /* with data (fast path), without data, with data through libarchive alone */
        ckpt_read_opts o = {
            .skip_tensor_data = mode == 1, .libarchive_only = mode == 2, .max_bytes = 64 << 20};
        yv_doc *doc = NULL;
        yv *root = NULL;
        if (ckpt_read_memory("fuzz.pt", data, size, &o, &doc, &root) == YOLO_OK) {
            touch(doc, root);
            yv *top = root->kind == YV_DICT && root->dict.n ? root->dict.vals[0] : root;
            touch(doc, top);
            yv_doc_free(doc);
        }
    }
    free(wrapped);
    return 0;
}
