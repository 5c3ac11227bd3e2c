/* End to end through the dataset and the pipeline: synthetic images whose objects are solid rectangles, one
 * pure colour per class, go through mosaic and random perspective; every box in every sample must still
 * cover its rectangle's colour. Also: samples are pure functions of (seed, epoch, index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "yolo/dataset.h"
#include "yolo/pipeline.h"

static const uint8_t COLOR[3][3] = {{230, 20, 20}, {20, 230, 20}, {20, 20, 230}};

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* Image i: 96 x (80 + 8 i) px grey 114 background with 1-3 non-overlapping rectangles. */
static void make_dataset(const char *dir) {
    char p[600];
    snprintf(p, sizeof p, "%s/images", dir), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/images/train", dir), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/labels", dir), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/labels/train", dir), mkdir(p, 0755);
    for (int i = 0; i < 8; i++) {
        int H = 96, W = 80 + 8 * i;
        image im;
        image_alloc(&im, H, W, 3, 114);
        char txt[512];
        int tl = 0;
        for (int k = 0; k < 1 + i % 3; k++) {
            int c = (i + k) % 3;
            int x1 = 4 + k * (W / 3), y1 = 6 + 10 * k + i, w = W / 3 - 10, h = 30 + 4 * k;
            for (int y = y1; y < y1 + h; y++)
                for (int x = x1; x < x1 + w; x++)
                    memcpy(im.px + ((size_t)y * W + x) * 3, COLOR[c], 3);
            tl += snprintf(txt + tl, sizeof txt - (size_t)tl, "%d %.6f %.6f %.6f %.6f\n", c,
                           (x1 + w / 2.0) / W, (y1 + h / 2.0) / H, (double)w / W, (double)h / H);
        }
        uint8_t *png;
        size_t n;
        image_encode_png(&im, &png, &n);
        snprintf(p, sizeof p, "%s/images/train/im%d.png", dir, i);
        write_file(p, png, n);
        free(png);
        image_free(&im);
        snprintf(p, sizeof p, "%s/labels/train/im%d.txt", dir, i);
        write_file(p, txt, (size_t)tl);
    }
    const char *y = "path: .\ntrain: images/train\nval: images/train\nnames: [red, green, blue]\n";
    snprintf(p, sizeof p, "%s/data.yaml", dir);
    write_file(p, y, strlen(y));
}

/* Fraction of pixels inside the box (shrunk by 2 px for the bilinear edge) that have the class colour. */
static double box_purity(const sample *s, int k) {
    const float *b = s->boxes + 4 * k;
    int W = s->img.w, H = s->img.h;
    int x1 = (int)((b[0] - b[2] / 2) * W) + 2, x2 = (int)((b[0] + b[2] / 2) * W) - 2;
    int y1 = (int)((b[1] - b[3] / 2) * H) + 2, y2 = (int)((b[1] + b[3] / 2) * H) - 2;
    if (x2 < x1 || y2 < y1) return 1; /* a sliver: nothing inside to test */
    const uint8_t *c = COLOR[s->cls[k]];
    long good = 0, all = 0;
    for (int y = y1; y <= y2; y++)
        for (int x = x1; x <= x2; x++) {
            const uint8_t *p = s->img.px + ((size_t)y * W + x) * 3;
            int d = abs(p[0] - c[0]) + abs(p[1] - c[1]) + abs(p[2] - c[2]);
            good += d < 60;
            all++;
        }
    return (double)good / (double)all;
}

/* Pixels of a class colour, and how many of them lie inside a box of that class (grown by 2 px). */
static void coverage(const sample *s, long *colored, long *covered) {
    int W = s->img.w, H = s->img.h;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = s->img.px + ((size_t)y * W + x) * 3;
            for (int c = 0; c < 3; c++) {
                int d = abs(p[0] - COLOR[c][0]) + abs(p[1] - COLOR[c][1]) + abs(p[2] - COLOR[c][2]);
                if (d >= 30) continue;
                (*colored)++;
                for (int k = 0; k < s->n; k++) {
                    const float *b = s->boxes + 4 * k;
                    if (s->cls[k] == c && x + 0.5 >= (b[0] - b[2] / 2) * W - 2 &&
                        x + 0.5 <= (b[0] + b[2] / 2) * W + 2 && y + 0.5 >= (b[1] - b[3] / 2) * H - 2 &&
                        y + 0.5 <= (b[1] + b[3] / 2) * H + 2) {
                        (*covered)++;
                        break;
                    }
                }
            }
        }
}

int main(void) {
    char dir[] = "/tmp/test_data_pipeline.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    make_dataset(dir);
    char yaml[600];
    snprintf(yaml, sizeof yaml, "%s/data.yaml", dir);
    dataset *ds = NULL;
    dataset_split *sp = NULL;
    yolo_status st = dataset_open(yaml, &ds);
    dataset_load_opts lo = {.workers = 1};
    if (!st) st = dataset_split_load(ds, "train", &lo, &sp);
    CHECK(!st && dataset_split_count(sp) == 8, "synthetic dataset: 8 images (%s)",
          st ? yolo_last_error() : "");
    if (st) return 1;

    pipeline_opts o;
    pipeline_opts_default(&o);
    o.aug.imgsz = 64;
    o.aug.hsv_h = o.aug.hsv_s = o.aug.hsv_v = 0; /* colours stay exact */
    o.aug.degrees = 0, o.aug.scale = 0.5f, o.aug.translate = 0.1f;
    o.workers = 1;
    int boxes = 0, bad = 0, samples = 0, wrong_size = 0;
    long colored = 0, covered = 0;
    double worst = 1;
    for (int epoch = 0; epoch < 6; epoch++) {
        o.epoch = epoch;
        pipeline *p;
        if (pipeline_open(ds, sp, &o, &p)) break;
        stream_sample s;
        stream_sample_init(&s);
        for (int64_t i = 0; i < pipeline_total(p); i++) {
            if (pipeline_make(p, i, &s)) {
                bad += 1000;
                break;
            }
            samples++;
            wrong_size += s.s.img.h != 64 || s.s.img.w != 64;
            coverage(&s.s, &colored, &covered);
            for (int k = 0; k < s.s.n; k++) {
                double q = box_purity(&s.s, k);
                boxes++;
                if (q < worst) worst = q;
                if (q < 0.9) bad++;
            }
        }
        stream_sample_free(&s);
        pipeline_free(p);
    }
    CHECK(samples == 48 && wrong_size == 0, "48 train samples of 64 x 64");
    CHECK(boxes > 60 && bad == 0,
          "mosaic + perspective: %d boxes in %d samples all cover their rectangle (worst %.3f)", boxes,
          samples, worst);
    CHECK(colored > 10000 && covered > 0.97 * colored,
          "and the rectangles' pixels are inside boxes of their class (%ld of %ld; small clipped remnants "
          "are dropped)",
          covered, colored);

    /* pure function of (seed, epoch, index): making sample 5 alone equals making it after the others */
    o.epoch = 3;
    pipeline *p1, *p2;
    stream_sample a, b;
    stream_sample_init(&a), stream_sample_init(&b);
    pipeline_open(ds, sp, &o, &p1);
    o.cache_mb = 0;
    pipeline_open(ds, sp, &o, &p2);
    for (int64_t i = 0; i < 5; i++)
        pipeline_make(p1, i, &a);
    pipeline_make(p1, 5, &a);
    pipeline_make(p2, 5, &b);
    uint8_t *ea, *eb;
    size_t la, lb;
    stream_encode_sample(&a, &ea, &la);
    stream_encode_sample(&b, &eb, &lb);
    CHECK(la == lb && memcmp(ea, eb, la) == 0,
          "sample 5 of epoch 3 is the same alone, after others, with or without the image cache");
    free(ea), free(eb);
    o.seed = 1;
    pipeline *p3;
    pipeline_open(ds, sp, &o, &p3);
    pipeline_make(p3, 5, &b);
    stream_encode_sample(&b, &eb, &lb);
    stream_encode_sample(&a, &ea, &la);
    CHECK(la != lb || memcmp(ea, eb, la) != 0, "another seed gives another sample");
    free(ea), free(eb);
    stream_sample_free(&a), stream_sample_free(&b);
    pipeline_free(p1), pipeline_free(p2), pipeline_free(p3);

    /* validation: letterboxed without upscaling, boxes still on their rectangles */
    o.augment = false;
    o.split = "val";
    o.aug.imgsz = 128;
    pipeline *pv;
    dataset_split *sv = NULL;
    dataset_split_load(ds, "val", &lo, &sv);
    st = pipeline_open(ds, sv, &o, &pv);
    stream_sample s;
    stream_sample_init(&s);
    bad = 0, boxes = 0;
    for (int64_t i = 0; !st && i < pipeline_total(pv); i++) {
        if (pipeline_make(pv, i, &s)) {
            bad++;
            break;
        }
        for (int k = 0; k < s.s.n; k++)
            boxes++, bad += box_purity(&s.s, k) < 0.95;
        bad += s.s.img.h != 128 || s.s.img.w != 128;
    }
    CHECK(!st && boxes > 10 && bad == 0, "val letterbox: %d boxes on their rectangles", boxes);
    stream_sample_free(&s);
    pipeline_free(pv);
    dataset_split_free(sv);
    dataset_split_free(sp);
    dataset_free(ds);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    TAP_DONE();
}
