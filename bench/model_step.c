/* Timing of one training step's network part: forward (train mode) + backward of a YOLOv8 model on
 * random images, as bench/model_step.py does with PyTorch. Prints figures only.
 *
 *   [LAYOUT=both|nchw|nhwc] [EVAL=1] model_step [IMGSZ [BATCH [THREADS [ITERS [MODEL]]]]]
 *                                                             default 128 16 1 3 yolov8n.yaml
 * Figures are CPU time of the whole process (all threads), medians over ITERS steps; with both
 * layouts the steps alternate between them.
 *   model_step --wrapper-cost                                 ns per wrapper call for tiny ops */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "yolo/model.h"
#include "yolo/torch.h"

/* CPU time of the whole process (all threads): less disturbed than wall time on a busy machine. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what) {
    fprintf(stderr, "model_step: %s: %s\n", what, yolo_last_error());
    return 1;
}

static int wrapper_cost(void) {
    torch_set_threads(1);
    int64_t one[1] = {1};
    torch_tensor *a = NULL, *b = NULL, *c = NULL;
    if (torch_ones(1, one, TORCH_F32, TORCH_CPU, &a) || torch_ones(1, one, TORCH_F32, TORCH_CPU, &b))
        return fail("ones");
    const int n = getenv("WRAPPER_N") ? atoi(getenv("WRAPPER_N")) : 200000;
    double t0 = cpu_ms();
    for (int i = 0; i < n; i++)
        torch_add_scalar_(a, 1);
    double t1 = cpu_ms();
    for (int i = 0; i < n; i++)
        torch_add(a, b, &c); /* reuses c's handle */
    double t2 = cpu_ms();
    for (int i = 0; i < n; i++) {
        torch_tensor *d = NULL;
        torch_add(a, b, &d);
        torch_free(d);
    }
    double t3 = cpu_ms();
    volatile int64_t sink = 0; /* volatile: the calls are not optimised away */
    for (int i = 0; i < n; i++)
        sink = sink + torch_numel(a);
    double t4 = cpu_ms();
    printf(
        "C wrapper (CPU time): add_ scalar on 1 element %.0f ns/call, add into a reused handle %.0f ns/call, "
        "add into a new handle + free %.0f ns/call, numel %.1f ns/call\n",
        (t1 - t0) * 1e6 / n, (t2 - t1) * 1e6 / n, (t3 - t2) * 1e6 / n, (t4 - t3) * 1e6 / n);
    torch_free(a), torch_free(b), torch_free(c);
    return 0;
}

/* One training step of the network part; *fwd_cpu gets the forward's CPU time. */
static int step(model *m, torch_tensor *img, model_output *o, torch_tensor **s1, torch_tensor **s2,
                torch_tensor **loss, double *fwd_cpu) {
    double c0 = cpu_ms();
    if (model_forward(m, img, o)) return fail("forward");
    *fwd_cpu = cpu_ms() - c0;
    if (!strcmp(model_task(m), "classify")) {
        if (torch_sum(o->logits, loss)) return fail("sum");
    } else if (torch_sum(o->boxes, s1) || torch_sum(o->scores, s2) || torch_add(*s1, *s2, loss)) {
        return fail("sum");
    }
    if (torch_backward(*loss, NULL, false)) return fail("backward");
    for (int i = 0; i < model_param_count(m); i++)
        torch_grad_reset(model_tensor(m, i));
    return 0;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--wrapper-cost")) return wrapper_cost();
    int imgsz = argc > 1 ? atoi(argv[1]) : 128, batch = argc > 2 ? atoi(argv[2]) : 16;
    int threads = argc > 3 ? atoi(argv[3]) : 1, iters = argc > 4 ? atoi(argv[4]) : 3;
    const char *name = argc > 5 ? argv[5] : "yolov8n.yaml";
    /* LAYOUT=nchw / nhwc times one layout; by default both, interleaved step by step so that
     * load from other processes hits both alike. EVAL=1 times eval-mode forwards instead. */
    const char *lay = getenv("LAYOUT") ? getenv("LAYOUT") : "both";
    bool eval = getenv("EVAL") && atoi(getenv("EVAL"));
    int nmodes = strcmp(lay, "both") ? 1 : 2;
    bool modes[2] = {!strcmp(lay, "nhwc"), true};
    if (imgsz < 32 || batch < 1 || threads < 1 || iters < 1 ||
        (nmodes == 1 && strcmp(lay, "nchw") && !modes[0])) {
        fprintf(
            stderr,
            "usage: [LAYOUT=both|nchw|nhwc] [EVAL=1] model_step [IMGSZ [BATCH [THREADS [ITERS [MODEL]]]]]\n");
        return 2;
    }
    if (torch_set_threads(threads)) return fail("threads");
    torch_manual_seed(0);
    modelcfg *cfg = NULL;
    model *m = NULL;
    if (modelcfg_load(name, 0, &cfg) || model_build(cfg, TORCH_CPU, &m)) return fail(name);
    if (eval) {
        model_set_training(m, false);
        if (model_fuse(m, true)) return fail("fuse");
    }
    int64_t shape[4] = {batch, 3, imgsz, imgsz};
    torch_tensor *img = NULL, *s1 = NULL, *s2 = NULL, *loss = NULL;
    if (torch_empty(4, shape, TORCH_F32, TORCH_CPU, &img) || torch_uniform_(img, 0, 1)) return fail("images");
    model_output o = {0};
    double *tot[2], *fwd[2], *wall[2];
    for (int k = 0; k < 2; k++) {
        tot[k] = calloc((size_t)iters, sizeof(double));
        fwd[k] = calloc((size_t)iters, sizeof(double));
        wall[k] = calloc((size_t)iters, sizeof(double));
        if (!tot[k] || !fwd[k] || !wall[k]) return fail("memory");
    }
    for (int it = -1; it < iters; it++) { /* -1 warms up each layout */
        for (int k = 0; k < nmodes; k++) {
            if (model_set_channels_last(m, modes[k])) return fail("layout");
            double t0 = now_ms(), c0 = cpu_ms(), f = 0;
            if (eval) {
                if (model_forward(m, img, &o)) return fail("forward");
                f = cpu_ms() - c0;
            } else if (step(m, img, &o, &s1, &s2, &loss, &f)) {
                return 1;
            }
            if (it >= 0) tot[k][it] = cpu_ms() - c0, fwd[k][it] = f, wall[k][it] = now_ms() - t0;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    for (int k = 0; k < nmodes; k++)
        printf("C-%s %s imgsz=%d batch=%d threads=%d: %s CPU %.1f ms/batch (median of %d; forward %.1f), "
               "wall %.1f, "
               "peak RSS %.0f MiB\n",
               modes[k] ? "NHWC" : "NCHW", name, imgsz, batch, threads,
               eval ? "eval forward (fused)" : "forward+backward", median(tot[k], iters), iters,
               median(fwd[k], iters), median(wall[k], iters), ru.ru_maxrss / 1024.0);
    for (int k = 0; k < 2; k++)
        free(tot[k]), free(fwd[k]), free(wall[k]);
    model_output_free(&o);
    torch_free(img), torch_free(s1), torch_free(s2), torch_free(loss);
    model_free(m);
    modelcfg_free(cfg);
    return 0;
}
