/* libFuzzer harness for the data.yaml reader: any bytes give a dataset or a one-line error, never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dataset *ds = NULL;
    if (dataset_open_yaml_text(data, size, "fuzz.yaml", "/nonexistent-fuzz-dir", &ds) == YOLO_OK) {
        int nc = dataset_nc(ds);
        const char *const *names = dataset_names(ds);
        if (nc < 1) abort();
        for (int k = 0; k < nc; k++)
            if (!names[k]) abort();
        (void)dataset_has_split(ds, "train");
        dataset_free(ds);
    } else if (strchr(yolo_last_error(), '\n')) {
        abort();
    }
    return 0;
}
