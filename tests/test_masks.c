/* Overlap masks rebuilt from the golden polygons (seg_forward_loss.pt) must equal Ultralytics' exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/masks.h"
#include "yolo/sample.h"

static void synthetic_checks(void) {
    /* A filled axis-aligned square: fillPoly covers both boundary rows/columns. */
    uint8_t plane[20 * 20];
    memset(plane, 0, sizeof plane);
    float sq[8] = {3, 4, 10, 4, 10, 12, 3, 12};
    masks_fill_polygon(plane, 20, 20, sq, 4, 1);
    int n = 0, inside = 1;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++) {
            n += plane[y * 20 + x];
            if ((x >= 3 && x <= 10 && y >= 4 && y <= 12) != (plane[y * 20 + x] == 1)) inside = 0;
        }
    CHECK(inside && n == 8 * 9, "fillPoly of a square covers exactly its closed pixel range (%d px)", n);

    /* Overlap order: the small square inside the big one gets the higher id, and instances are permuted. */
    sample s;
    sample_init(&s);
    image_alloc(&s.img, 64, 64, 3, 0);
    float small[8] = {20 / 64.f, 20 / 64.f, 27 / 64.f, 20 / 64.f, 27 / 64.f, 27 / 64.f, 20 / 64.f, 27 / 64.f};
    float big[8] = {8 / 64.f, 8 / 64.f, 55 / 64.f, 8 / 64.f, 55 / 64.f, 55 / 64.f, 8 / 64.f, 55 / 64.f};
    float box[4] = {0.5f, 0.5f, 0.1f, 0.1f};
    sample_add(&s, 7, box, small, 4);
    sample_add(&s, 3, box, big, 4);
    uint16_t m[16 * 16];
    int perm[2];
    yolo_status st = masks_overlap(&s, 4, m, perm);
    CHECK(st == YOLO_OK && perm[0] == 1 && perm[1] == 0 && s.cls[0] == 3 && s.cls[1] == 7,
          "masks_overlap sorts by area, largest first (perm %d %d)", perm[0], perm[1]);
    CHECK(m[6 * 16 + 6] == 2 && m[3 * 16 + 3] == 1 && m[0] == 0,
          "smaller instance overwrites larger (%d %d %d)", m[6 * 16 + 6], m[3 * 16 + 3], m[0]);
    uint8_t sep[2 * 16 * 16];
    st = masks_separate(&s, 4, sep);
    int agree = 1;
    for (int i = 0; i < 256; i++)
        agree &= (m[i] >= 1) == (sep[i] == 1) && (m[i] == 2) == (sep[256 + i] == 1);
    CHECK(st == YOLO_OK && agree,
          "masks_separate gives one binary plane per instance, consistent with overlap");
    sample_free(&s);
}

static int golden_checks(void) {
    char path[4096];
    if (!tap_data_path(path, sizeof path, "golden/seg_forward_loss.pt")) return 0;
    yv_doc *doc = NULL;
    yv *root = NULL;
    if (ckpt_read(path, NULL, &doc, &root) != YOLO_OK) {
        CHECK(0, "read %s: %s", path, yolo_last_error());
        return 1;
    }
    const yv *segs = yv_dict_get(root, "segments_letterboxed_px");
    const yv *masks = yv_dict_get(root, "masks");
    const yv *sortix = yv_dict_get(root, "mask_sort_index");
    const yv *img = yv_dict_get(root, "img_uint8");
    bool shapes = segs && segs->kind == YV_LIST && masks && masks->kind == YV_TENSOR &&
                  masks->tensor.ndim == 3 && img && img->kind == YV_TENSOR && img->tensor.ndim == 4 &&
                  sortix && sortix->kind == YV_LIST;
    CHECK(shapes, "golden seg file has polygons, masks and image shapes");
    if (!shapes) {
        yv_doc_free(doc);
        return 1;
    }
    int B = (int)masks->tensor.shape[0], mh = (int)masks->tensor.shape[1], mw = (int)masks->tensor.shape[2];
    int H = (int)img->tensor.shape[2], W = (int)img->tensor.shape[3], ratio = H / mh;
    float *ref = malloc(sizeof *ref * (size_t)B * mh * mw);
    yv_tensor_to_f32(&masks->tensor, ref);
    int bad_px = 0, bad_order = 0, bad_api = 0;
    for (int b = 0; b < B && b < (int)segs->seq.n; b++) {
        const yv_tensor *t = &segs->seq.items[b]->tensor;
        int n = (int)t->shape[0], np = (int)t->shape[1];
        float *xy = malloc(sizeof *xy * (size_t)n * np * 2 + 1);
        yv_tensor_to_f32(t, xy);
        /* through the sample API: normalised polygons (exact for power-of-two sizes, and close otherwise) */
        sample s;
        sample_init(&s);
        image_alloc(&s.img, H, W, 3, 0);
        for (int k = 0; k < n; k++) {
            float *p = xy + (size_t)k * np * 2;
            float *q = malloc(sizeof *q * np * 2);
            for (int i = 0; i < np; i++)
                q[2 * i] = p[2 * i] / W, q[2 * i + 1] = p[2 * i + 1] / H;
            float box[4] = {0.5f, 0.5f, 0.1f, 0.1f};
            sample_add(&s, k, box, q, np);
            free(q);
        }
        uint16_t *m = malloc(sizeof *m * (size_t)mh * mw);
        int *perm = malloc(sizeof *perm * (n ? n : 1));
        if (masks_overlap(&s, ratio, m, perm) != YOLO_OK) bad_api++;
        for (int i = 0; i < mh * mw; i++)
            if (m[i] != (uint16_t)ref[(size_t)b * mh * mw + i]) bad_px++;
        const yv *ix = sortix->seq.items[b];
        float *order = malloc(sizeof *order * (n ? n : 1));
        yv_tensor_to_f32(&ix->tensor, order);
        for (int k = 0; k < n; k++)
            if (perm[k] != (int)order[k]) bad_order++;
        free(order), free(perm), free(m), free(xy);
        sample_free(&s);
    }
    CHECK(bad_api == 0, "masks_overlap runs on every golden image");
    CHECK(bad_px == 0, "golden overlap masks reproduced exactly (%d of %d px differ)", bad_px, B * mh * mw);
    CHECK(bad_order == 0, "golden area-descending order reproduced (%d differ)", bad_order);
    free(ref);
    yv_doc_free(doc);
    return 0;
}

/* Hostile polygons (outside the image, huge, NaN, degenerate) must stay inside the plane (run under ASan). */
static void robustness_checks(void) {
    enum { H = 37, W = 53 };
    uint8_t plane[H * W];
    uint32_t seed = 12345;
    int only01 = 1;
    for (int t = 0; t < 2000; t++) {
        memset(plane, 0, sizeof plane);
        int n = 1 + t % 12;
        float xy[24];
        for (int i = 0; i < 2 * n; i++) {
            seed = seed * 1664525u + 1013904223u;
            float span = t % 200 == 0 ? 1e7f : t % 5 == 0 ? 1e4f : 120.0f;
            xy[i] = ((seed >> 8) / 16777216.0f) * span - span / 3;
        }
        if (t % 97 == 0) xy[0] = NAN;
        if (t % 89 == 0) xy[1] = INFINITY;
        masks_fill_polygon(plane, H, W, xy, n, 1);
        for (int i = 0; i < H * W; i++)
            only01 &= plane[i] <= 1;
    }
    CHECK(only01, "fillPoly survives 2000 hostile polygons and writes only inside the plane");
}

int main(void) {
    robustness_checks();
    synthetic_checks();
    golden_checks();
    TAP_DONE();
}
