/* Checkpoint reading and writing speed (figures only): the library calls themselves, without
 * process start-up. Usage: bench_ckpt [FILE] (default: the 24 MB Ultralytics mid-training checkpoint). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "yolo/ckpt.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { RUNS = 15 };

/* Median and minimum milliseconds of RUNS calls of what. */
#define TIME(label, extra, body)                                                                             \
    do {                                                                                                     \
        double t[RUNS];                                                                                      \
        for (int r = 0; r < RUNS; r++) {                                                                     \
            double t0 = now();                                                                               \
            body;                                                                                            \
            t[r] = (now() - t0) * 1e3;                                                                       \
        }                                                                                                    \
        qsort(t, RUNS, sizeof t[0], cmp);                                                                    \
        printf("%-34s median %8.2f ms  min %8.2f ms%s\n", label, t[RUNS / 2], t[0], extra);                  \
        med = t[RUNS / 2];                                                                                   \
    } while (0)

int main(int argc, char **argv) {
    char def[4096];
    const char *data = getenv("DATA");
    snprintf(def, sizeof def, "%s/ultralytics/yolov8n-fashion-mid.pt", data ? data : "tests/data");
    const char *path = argc > 1 ? argv[1] : def;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("bench_ckpt: %s not found\n", path);
        return 0;
    }
    double mb = (double)sb.st_size / 1e6, med = 0;
    printf("file: %s, %.1f MB\n", path, mb);
    yv_doc *doc = NULL;
    yv *root = NULL;
    ckpt_read_opts skip = {.skip_tensor_data = true};
    if (ckpt_read(path, NULL, &doc, &root)) { /* also warms the page cache */
        printf("bench_ckpt: %s\n", yolo_last_error());
        return 0;
    }
    yv_doc_free(doc);
    TIME("ckpt_read without tensor data", " (target < 20 ms)", {
        ckpt_read(path, &skip, &doc, &root);
        yv_doc_free(doc);
    });
    TIME("ckpt_read with tensor data", "", {
        ckpt_read(path, NULL, &doc, &root);
        yv_doc_free(doc);
    });
    printf("%-34s %.2f GB/s\n", "  = read throughput", mb / 1e3 / (med / 1e3));
    ckpt_read_opts slow = {.libarchive_only = true};
    TIME("ckpt_read, libarchive only", "", {
        ckpt_read(path, &slow, &doc, &root);
        yv_doc_free(doc);
    });
    TIME("ckpt_verify", "", ckpt_verify(path));
    printf("%-34s %.2f GB/s (target >= 1 GB/s)\n", "  = verify throughput", mb / 1e3 / (med / 1e3));
    ckpt_read(path, NULL, &doc, &root);
    char out[4096];
    snprintf(out, sizeof out, "/tmp/bench_ckpt.%d.pt", (int)getpid());
    TIME("ckpt_write (atomic, fsync)", "", ckpt_write(out, root));
    unlink(out);
    yv *sd = yv_state_dict(doc, yv_dict_get(root, "ema") && yv_dict_get(root, "ema")->kind != YV_NONE
                                    ? yv_dict_get(root, "ema")
                                    : yv_dict_get(root, "model"));
    if (sd) {
        yv_doc *d2 = yv_doc_new();
        TIME("yv_state_dict (module walk)", "", (void)yv_state_dict(d2, yv_dict_get(root, "ema")));
        yv_doc_free(d2);
    }
    yv_doc_free(doc);
    return 0;
}
