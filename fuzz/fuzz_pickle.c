/* libFuzzer: the pickle interpreter on arbitrary bytes, then everything that walks its result
 * (repr, state-dict walk, the writer) and a reload of what the writer wrote. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "yolo/pickle.h"

static const char *key_of(yv_storage *st, void *ctx) {
    (void)ctx;
    return st->key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    yv_doc *doc = yv_doc_new();
    yv *v = NULL;
    pickle_opts o = {.max_bytes = 64 << 20};
    if (pickle_load(doc, data, size, &o, &v) == YOLO_OK) {
        char buf[512];
        yv_repr(v, buf, sizeof buf);
        yv *sd = yv_state_dict(doc, v);
        if (sd) (void)yv_state_dict_numel(sd);
        double d;
        int64_t i;
        (void)yv_as_double(v, &d);
        (void)yv_as_int(v, &i);
        (void)yv_path(v, "a.b");
        unsigned char *out;
        size_t n;
        if (pickle_dump(v, key_of, NULL, &out, &n) == YOLO_OK) {
            yv_doc *d2 = yv_doc_new();
            yv *v2;
            /* What we write we must read back (limits aside). */
            yolo_status st = pickle_load(d2, out, n, &o, &v2);
            if (st != YOLO_OK && st != YOLO_ERR_LIMIT) {
                fprintf(stderr, "rereading our own pickle failed: %s\n", yolo_last_error());
                abort();
            }
            yv_doc_free(d2);
            free(out);
        }
    }
    yv_doc_free(doc);
    return 0;
}
