/* libFuzzer harness for the args.yaml reader (args.yaml of a run, yolo cfg=FILE): any bytes give a
 * dict whose values the argument table checks, or a one-line error; never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    yv_doc *doc = yv_doc_new();
    if (!doc) return 0;
    yv *args = NULL;
    if (args_read_yaml(doc, "fuzz-args.yaml", data, size, &args) == YOLO_OK) {
        if (!args || args->kind != YV_DICT) abort();
        for (size_t i = 0; i < args->dict.n; i++) {
            const arg_spec *s = args_find(yv_as_str(args->dict.keys[i]));
            char text[256];
            args_format_value(args->dict.vals[i], text, sizeof text);
            if (s && args_check_value(s, args->dict.vals[i]) != YOLO_OK && strchr(yolo_last_error(), '\n'))
                abort();
        }
    } else if (strchr(yolo_last_error(), '\n')) {
        abort();
    }
    yv_doc_free(doc);
    return 0;
}
