/* Train transform speed (one core): samples per second of the full detect chain with mosaic (4 loads,
 * canvas, affine warp, HSV, flips) at imgsz 128 and 640. Images come from memory (pre-decoded, already
 * at load size) so this measures augmentation alone; decoding is timed by the data benchmarks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yolo/augment.h"
#include "yolo/letterbox.h"
#include "yolo/masks.h"

typedef struct {
    image imgs[8];
    bool polygons;
} bench_ds;

static yolo_status mem_load(void *ctx, int64_t index, sample *out) {
    const bench_ds *ds = ctx;
    const image *src = &ds->imgs[index % 8];
    yolo_status st = image_alloc(&out->img, src->h, src->w, 3, 0);
    if (st) return st;
    memcpy(out->img.px, src->px, (size_t)src->h * src->w * 3);
    out->ori_h = out->res_h = src->h, out->ori_w = out->res_w = src->w;
    for (int k = 0; k < 4; k++) {
        float box[4] = {0.2f + 0.2f * k, 0.5f, 0.15f, 0.4f};
        float xy[64];
        for (int p = 0; p < 32; p++) {
            int e = p / 8;
            float t = (p % 8) / 8.0f;
            float cx[5] = {box[0] - 0.075f, box[0] + 0.075f, box[0] + 0.075f, box[0] - 0.075f,
                           box[0] - 0.075f};
            float cy[5] = {0.3f, 0.3f, 0.7f, 0.7f, 0.3f};
            xy[2 * p] = cx[e] + t * (cx[e + 1] - cx[e]), xy[2 * p + 1] = cy[e] + t * (cy[e + 1] - cy[e]);
        }
        if ((st = sample_add(out, k, box, ds->polygons ? xy : NULL, ds->polygons ? 32 : 0))) return st;
    }
    return YOLO_OK;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: per-core figures on a busy machine */
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run(int imgsz, bool polygons, double seconds) {
    bench_ds ds = {.polygons = polygons};
    for (int i = 0; i < 8; i++) {
        int h = imgsz - (i % 3) * imgsz / 8, w = imgsz - (i % 2) * imgsz / 6;
        image_alloc(&ds.imgs[i], h, w, 3, 0);
        for (size_t k = 0; k < (size_t)h * w * 3; k++)
            ds.imgs[i].px[k] = (uint8_t)(k * 2654435761u >> 24);
    }
    augment_cfg cfg;
    augment_cfg_default(&cfg);
    cfg.imgsz = imgsz;
    uint16_t *mask = malloc(sizeof *mask * (imgsz / 4) * (imgsz / 4));
    int n = 0;
    double t0 = now(), t;
    do {
        rng r;
        rng_init(&r, 0, 0, n, RNG_STREAM_AUGMENT);
        sample s;
        sample_init(&s);
        if (augment_train(&cfg, true, &r, mem_load, &ds, 1000, n % 1000, &s)) {
            fprintf(stderr, "bench: %s\n", yolo_last_error());
            exit(1);
        }
        if (polygons) masks_overlap(&s, 4, mask, NULL);
        sample_free(&s);
        n++;
        t = now();
    } while (t - t0 < seconds);
    printf("augment train %s imgsz %d: %.0f samples/s per core (%d in %.2f CPU s)\n",
           polygons ? "segment" : "detect ", imgsz, n / (t - t0), n, t - t0);
    free(mask);
    for (int i = 0; i < 8; i++)
        image_free(&ds.imgs[i]);
}

int main(void) {
    run(128, false, 1.0);
    run(640, false, 2.0);
    run(128, true, 1.0);
    run(640, true, 2.0);
    return 0;
}
