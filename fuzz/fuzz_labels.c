/* libFuzzer harness for the label reader (labels_parse) and polygon resampling, and the label cache
 * parser, which reads files that may be damaged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../lib/labelcache.h"
#include "yolo/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sample s;
    sample_init(&s);
    labels_verdict v;
    char msg[256];
    int nc = size ? 1 + data[0] % 80 : 10;
    if (labels_parse((const char *)data, size, nc, &s, &v, msg, sizeof msg) == YOLO_OK && v == LABELS_OK) {
        for (int k = 0; k < s.n; k++)
            if (s.cls[k] < 0 || s.cls[k] >= nc) abort();
        if (s.seg_start && s.seg_start[s.n] < 1000000) labels_resample_segments(&s, 64);
    }
    sample_free(&s);
    labelcache_entry *e = NULL;
    char note[128];
    for (int64_t n = 0; n < 3; n++) {
        if (labelcache_parse(data, size, 0, n, &e, note, sizeof note) == YOLO_OK && e)
            labelcache_entries_free(e, n);
        e = NULL;
    }
    return 0;
}
