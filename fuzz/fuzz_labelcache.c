/* libFuzzer harness for the label cache: the reader, and the writer on whatever the reader accepts.
 * Input: 8 bytes of hash and 2 bytes of image count (little-endian), then the cache bytes, so that
 * mutations reach past the hash and count checks. A cache the reader accepts is written back
 * (labelcache_write) and read again (labelcache_read): the entries must come back the same. A damaged
 * cache must never make the reader ask for more memory than its bytes can describe. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/labelcache.h"

static int same_floats(const float *a, const float *b, size_t n) {
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static int same_entry(const labelcache_entry *a, const labelcache_entry *b) {
    const sample *x = &a->lab, *y = &b->lab;
    if (a->h != b->h || a->w != b->w || a->code != b->code || !a->msg != !b->msg) return 0;
    if (a->msg && strcmp(a->msg, b->msg)) return 0;
    if (x->n != y->n || !x->seg_start != !y->seg_start) return 0;
    if (x->n && memcmp(x->cls, y->cls, sizeof *x->cls * (size_t)x->n)) return 0;
    if (!same_floats(x->boxes, y->boxes, 4 * (size_t)x->n)) return 0;
    if (!x->seg_start) return 1;
    if (memcmp(x->seg_start, y->seg_start, sizeof *x->seg_start * ((size_t)x->n + 1))) return 0;
    return same_floats(x->seg_xy, y->seg_xy, 2 * (size_t)x->seg_start[x->n]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 10) return 0;
    uint64_t hash = 0;
    for (int k = 7; k >= 0; k--)
        hash = hash << 8 | data[k];
    int64_t n = data[8] | data[9] << 8;
    labelcache_entry *e = NULL;
    char note[128];
    if (labelcache_parse(data + 10, size - 10, hash, n, &e, note, sizeof note) != YOLO_OK || !e) return 0;
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_labelcache.%ld", (long)getpid());
    labelcache_entry *back = NULL;
    if (labelcache_write(path, hash, e, n) != YOLO_OK) abort();
    if (labelcache_read(path, hash, n, &back, note, sizeof note) != YOLO_OK || !back) abort();
    for (int64_t i = 0; i < n; i++)
        if (!same_entry(&e[i], &back[i])) abort();
    unlink(path);
    labelcache_entries_free(e, n);
    labelcache_entries_free(back, n);
    return 0;
}
