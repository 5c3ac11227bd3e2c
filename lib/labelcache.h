/* The label cache of a dataset split (private to dataset.c; exposed for tests and the fuzz harness).
 *
 * One msgpack map: {"version": LABELCACHE_VERSION, "hash": key, "n": images, "items": [...]}, one item per
 * listed image in dataset order: [h, w, code, message or nil, [cls...], [cx, cy, w, h, ...], nil or
 * [[x1, y1, x2, y2, ...] per instance]]. The key (dataset.c) covers names, paths, sizes and mtimes, so a
 * cache is either exactly right for the files on disk or rejected. */
#ifndef YOLO_LABELCACHE_H
#define YOLO_LABELCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "yolo/sample.h"
#include "yolo/status.h"

/* A new version when the checks of a label file change, so that caches made by the old checks are rebuilt
 * (2: numbers are read as Python's float() reads them; hex such as 0x1 was a number). */
#define LABELCACHE_VERSION "yolo-data labels 2"

enum { LABELCACHE_OK = 0, LABELCACHE_EMPTY = 1, LABELCACHE_MISSING = 2, LABELCACHE_CORRUPT = 3 };

typedef struct {
    int h, w;
    int code;   /* LABELCACHE_* */
    char *msg;  /* warning or corrupt reason, or NULL */
    sample lab; /* instances (normalised), polygons as in the label file */
} labelcache_entry;

/* Reads a cache made for `hash` and n images. A missing, stale or damaged cache is not an error: *out is
 * NULL and note says why it was not used ("" when it does not exist). */
yolo_status labelcache_read(const char *path, uint64_t hash, int64_t n, labelcache_entry **out, char *note,
                            size_t note_cap);
/* Parses cache bytes (labelcache_read without the file). */
yolo_status labelcache_parse(const uint8_t *buf, size_t len, uint64_t hash, int64_t n, labelcache_entry **out,
                             char *note, size_t note_cap);
/* Writes atomically (temporary file, fsync, rename, fsync of the folder). */
yolo_status labelcache_write(const char *path, uint64_t hash, const labelcache_entry *e, int64_t n);
void labelcache_entries_free(labelcache_entry *e, int64_t n);

#endif
