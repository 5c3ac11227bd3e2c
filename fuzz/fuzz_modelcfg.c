/* libFuzzer harness for the model YAML reader: any bytes give a layer table with sane widths and a
 * summary line, or a one-line error; never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/modelcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    modelcfg *cfg = NULL;
    if (modelcfg_load_text(data, size, "fuzz-yolov8s.yaml", 0, &cfg) == YOLO_OK) {
        int n = modelcfg_layer_count(cfg);
        if (n < 1) abort();
        for (int i = 0; i < n; i++) {
            const modelcfg_layer *L = modelcfg_layer_at(cfg, i);
            if (!L || L->c2 < 1 || L->n_from < 1) abort();
        }
        char line[256];
        if (modelcfg_summary_line(cfg, line, sizeof line) != YOLO_OK || modelcfg_param_count(cfg) < 0)
            abort();
        modelcfg_free(cfg);
    } else if (strchr(yolo_last_error(), '\n')) {
        abort();
    }
    return 0;
}
