/* The drawing layer and what feeds the run's pictures: canvas, the confusion matrix, the chart helpers,
 * the batch grid, mask outlines, predict's letterbox and class filter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/canvas.h"
#include "yolo/confusion.h"
#include "yolo/draw.h"
#include "yolo/letterbox.h"
#include "yolo/masks.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"
#include "yolo/plot.h"

static char dir[256];

static int count_px(const image *im, int x0, int y0, int x1, int y1, int (*pred)(const uint8_t *)) {
    int n = 0;
    for (int y = y0; y < y1 && y < im->h; y++)
        for (int x = x0; x < x1 && x < im->w; x++)
            n += pred(im->px + ((size_t)y * im->w + x) * im->c);
    return n;
}
static int not_white(const uint8_t *p) {
    return p[0] < 250 || p[1] < 250 || p[2] < 250;
}
/* the Blues colour map: blue clearly above red */
static int bluish(const uint8_t *p) {
    return p[2] > p[0] + 40;
}
/* class 3's colour, #00DFB7, through JPEG */
static int dress(const uint8_t *p) {
    return p[0] < 60 && p[1] > 180 && p[2] > 140;
}

static void test_canvas(void) {
    canvas *c = NULL;
    CHECK(canvas_new(120, 40, &c) == YOLO_OK, "canvas_new");
    image im = {0};
    canvas_to_image(c, &im);
    CHECK(count_px(&im, 0, 0, 120, 40, not_white) == 0, "a new canvas is white");
    image_free(&im);
    canvas_text(c, 2, 2, "Ankle boot", 20, 0x000000, CANVAS_REGULAR, 0, 0, 0);
    double w = canvas_text_width(c, "Ankle boot", 20, CANVAS_REGULAR);
    canvas_to_image(c, &im);
    int inked = count_px(&im, 0, 0, 120, 40, not_white);
    CHECK(inked > 100 && w > 60 && w < 118, "text is drawn with a real font (%d px inked, %.0f px wide)",
          inked, w);
    image_free(&im);
    canvas_fill_rect(c, 0, 0, 10, 10, 0xFF0000, 1);
    canvas_to_image(c, &im);
    CHECK(im.px[0] == 255 && im.px[1] == 0 && im.px[2] == 0, "fill_rect paints");
    image_free(&im);
    canvas_free(c);
    CHECK(canvas_class_color(0) == 0x042AFF && canvas_class_color(21) == 0x0BDBEB,
          "Ultralytics' palette, cycled");
}

/* A perfect and a random predictor on two classes: their normalised matrices differ on the cells. */
static void test_confusion(void) {
    confusion perfect, random;
    confusion_init(&perfect, 2, true);
    confusion_init(&random, 2, true);
    float gt[8] = {0, 0, 10, 10, 20, 20, 30, 30}, gc[2] = {0, 1};
    /* x1 y1 x2 y2 conf cls */
    float hit[12] = {0, 0, 10, 10, 0.9f, 0, 20, 20, 30, 30, 0.8f, 1};
    float swap[12] = {0, 0, 10, 10, 0.9f, 1, 20, 20, 30, 30, 0.8f, 0};
    for (int k = 0; k < 8; k++) {
        confusion_add_detections(&perfect, hit, 6, 2, gt, gc, 2);
        confusion_add_detections(&random, k % 2 ? hit : swap, 6, 2, gt, gc, 2);
    }
    CHECK(perfect.counts[0] == 8 && perfect.counts[4] == 8 && perfect.counts[1] == 0 &&
              perfect.counts[8] == 0,
          "perfect predictions count on the diagonal");
    CHECK(random.counts[0] == 4 && random.counts[1] == 4 && random.counts[3] == 4 && random.counts[4] == 4,
          "swapped classes count off the diagonal");
    confusion bg;
    confusion_init(&bg, 2, true);
    float low[6] = {0, 0, 10, 10, 0.2f, 0}, far[6] = {50, 50, 60, 60, 0.9f, 1};
    confusion_add_detections(&bg, low, 6, 1, gt, gc, 1);     /* below 0.25: a missed label */
    confusion_add_detections(&bg, far, 6, 1, gt, gc, 1);     /* no overlap: missed, and a false positive */
    confusion_add_detections(&bg, far, 6, 1, NULL, NULL, 0); /* background image */
    /* rows predicted, columns true; background is row/column 2 */
    CHECK(bg.counts[2 * 3 + 0] == 2 && bg.counts[1 * 3 + 2] == 2 && bg.counts[0] == 0,
          "missed labels count in the background row, unmatched detections in the background column");
    confusion cls;
    confusion_init(&cls, 3, false);
    confusion_add_class(&cls, 2, 1);
    CHECK(cls.n == 3 && cls.counts[2 * 3 + 1] == 1,
          "classification counts top-1 against the label, no background");
    confusion_free(&cls);
    confusion_free(&bg);

    /* the pictures: in the perfect matrix the off-diagonal class cells are white, in the random one blue */
    yolo_status st = YOLO_OK;
    char p1[512], p2[512];
    const char *names[2] = {"cat", "dog"};
    char d1[300], d2[300];
    snprintf(d1, sizeof d1, "%s/perfect", dir), snprintf(d2, sizeof d2, "%s/random", dir);
    mkdir(d1, 0777), mkdir(d2, 0777);
    st = plot_confusion(&perfect, names, true, d1);
    if (st == YOLO_OK) st = plot_confusion(&random, names, true, d2);
    if (st == YOLO_OK) st = plot_confusion(&random, names, false, d2);
    snprintf(p1, sizeof p1, "%s/confusion_matrix_normalized.png", d1);
    snprintf(p2, sizeof p2, "%s/confusion_matrix_normalized.png", d2);
    image a = {0}, b = {0}, c = {0};
    if (st == YOLO_OK) st = image_load(p1, &a);
    if (st == YOLO_OK) st = image_load(p2, &b);
    char p3[512];
    snprintf(p3, sizeof p3, "%s/confusion_matrix.png", d2);
    if (st == YOLO_OK) st = image_load(p3, &c);
    CHECK(st == YOLO_OK && a.w == 3000 && a.h == 2250 && c.w == 3000,
          "confusion matrices written at 3000x2250 (%s)", yolo_last_error());
    if (st == YOLO_OK) {
        /* the class cells: the bounding box of the random matrix's blue cells (left of the colour bar) */
        int x0 = a.w, y0 = a.h, x1 = 0, y1 = 0;
        for (int y = 0; y < b.h; y++)
            for (int x = 0; x < (int)(0.8 * b.w); x++)
                if (bluish(b.px + ((size_t)y * b.w + x) * 3)) {
                    if (x < x0) x0 = x;
                    if (y < y0) y0 = y;
                    if (x > x1) x1 = x;
                    if (y > y1) y1 = y;
                }
        int cw = (x1 - x0) / 2, m = cw / 4, all = m * m;
        /* a square inside cell (row 0, column 1) and (row 0, column 0), away from the centred numbers */
        int off_p = count_px(&a, x0 + cw + m, y0 + m, x0 + cw + 2 * m, y0 + 2 * m, bluish);
        int off_r = count_px(&b, x0 + cw + m, y0 + m, x0 + cw + 2 * m, y0 + 2 * m, bluish);
        int dia_p = count_px(&a, x0 + m, y0 + m, x0 + 2 * m, y0 + 2 * m, bluish);
        CHECK(cw > 100 && off_p == 0 && off_r > all * 0.98 && dia_p > all * 0.98,
              "perfect: diagonal filled, off-diagonal white; random: off-diagonal filled (%d, %d, %d of %d)",
              dia_p, off_p, off_r, all);
        /* the random one's cells are all 0.50: one colour, the same as its diagonal */
        const uint8_t *pd = b.px + ((size_t)(y0 + m) * b.w + x0 + m) * 3,
                      *po = b.px + ((size_t)(y0 + m) * b.w + x0 + cw + m) * 3;
        CHECK(!memcmp(pd, po, 3), "equal values, equal colours");
    }
    image_free(&a), image_free(&b), image_free(&c);
    confusion_free(&perfect);
    confusion_free(&random);
}

static void test_gaussian(void) {
    /* scipy.ndimage.gaussian_filter1d([1, 2, 3, 4, 5], sigma) from scipy's documentation */
    const double y[5] = {1, 2, 3, 4, 5}, want1[5] = {1.42704095, 2.06782203, 3, 3.93217797, 4.57295905},
                 want4[5] = {2.91948343, 2.95023502, 3, 3.04976498, 3.08051657};
    double o1[5], o4[5], e = 0;
    plot_gaussian_filter(y, 5, 1, o1);
    plot_gaussian_filter(y, 5, 4, o4);
    for (int i = 0; i < 5; i++)
        e = fmax(e, fmax(fabs(o1[i] - want1[i]), fabs(o4[i] - want4[i])));
    CHECK(e < 1e-7, "gaussian_filter1d as scipy's (mode reflect): max error %.2g", e);
}

static void test_outline(void) {
    uint8_t m[6 * 6] = {0};
    for (int y = 1; y <= 3; y++)
        for (int x = 1; x <= 3; x++)
            m[y * 6 + x] = 1;
    float *xy = NULL;
    int n = 0;
    masks_outline(m, 6, 6, &xy, &n);
    const float want[8] = {1, 1, 1, 3, 3, 3, 3, 1};
    CHECK(n == 4 && !memcmp(xy, want, sizeof want),
          "a square's outline is its corners from the top-left, down first (%d)", n);
    free(xy);
    m[5 * 6 + 5] = 1; /* a second component: one pixel */
    masks_outline(m, 6, 6, &xy, &n);
    CHECK(n == 5 && xy[8] == 5 && xy[9] == 5, "each component's outline, one after the other (%d points)", n);
    free(xy);
    memset(m, 0, sizeof m);
    masks_outline(m, 6, 6, &xy, &n);
    CHECK(n == 0 && !xy, "an empty mask has no outline");
}

static void test_letterbox_auto(void) {
    letterbox_plan p;
    letterbox_plan_auto(480, 640, 640, 32, &p);
    CHECK(p.out_h == 480 && p.out_w == 640 && p.top == 0, "640x480 at 640: no padding (%dx%d)", p.out_w,
          p.out_h);
    letterbox_plan_auto(500, 375, 640, 32, &p);
    CHECK(p.new_h == 640 && p.new_w == 480 && p.out_w == 480 && p.out_h == 640,
          "375x500 scaled up to 480x640");
    letterbox_plan_auto(100, 130, 128, 32, &p);
    CHECK(p.new_w == 128 && p.new_h == 98 && p.out_h == 128 && p.top == 15 && p.bottom == 15,
          "padded to the next multiple of 32, centred (%d+%d+%d)", p.top, p.new_h, p.bottom);
}

/* predict's masks: the logits cropped at prototype resolution, then resized bilinearly to the input */
static void test_mask_upsample(void) {
    float proto[16], coeff[1] = {1}, box[4] = {0, 0, 8, 8};
    for (int i = 0; i < 16; i++)
        proto[i] = 1;
    uint8_t m[16 * 16];
    yolo_status st = metrics_process_mask_upsample(proto, 1, 4, 4, coeff, 1, box, 4, 1, 16, 16, m);
    int on = 0;
    for (int i = 0; i < 256; i++)
        on += m[i];
    /* cells 0-1 are 1, cell 2 is 0: pixels 0..9 still blend some of cell 1 in */
    CHECK(st == YOLO_OK && on == 100 && m[9 * 16 + 9] && !m[10 * 16 + 10] && !m[15],
          "masks at input resolution: cropped, then bilinear (%d pixels)", on);
}

static void test_nms_classes(void) {
    /* two anchors, 3 classes: anchor 0 is class 1, anchor 1 class 2 */
    float pred[(4 + 3) * 2] = {10, 50, 10, 50, 4, 4, 4, 4, 0, 0, 0.9f, 0, 0, 0.8f};
    nms_opts o;
    nms_opts_default(&o);
    o.multi_label = false;
    bool keep[3] = {false, false, true};
    o.keep_class = keep;
    nms_dets d;
    nms_run(pred, 3, 0, 2, &o, &d);
    CHECK(d.n == 1 && d.rows[5] == 2, "classes= keeps only the classes asked for");
    nms_dets_free(&d);
}

static void test_batch(void) {
    image ims[3];
    uint16_t ov[16 * 16] = {0};
    for (int i = 0; i < 16 * 16; i++)
        ov[i] = i % 16 < 8;
    draw_tile t[3];
    float box[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    int cls[1] = {3};
    for (int i = 0; i < 3; i++) {
        image_alloc(&ims[i], 64, 64, 3, (uint8_t)(60 * i));
        t[i] = (draw_tile){.img = &ims[i],
                           .file = "a/b/img.jpg",
                           .n = i ? 1 : 0,
                           .cls = cls,
                           .xywhn = box,
                           .overlap = i == 2 ? ov : NULL,
                           .mh = 16,
                           .mw = 16,
                           .label = -1,
                           .label_conf = -1};
    }
    char path[512];
    snprintf(path, sizeof path, "%s/grid.jpg", dir);
    const char *names[4] = {"a", "b", "c", "Dress"};
    yolo_status st = draw_batch(t, 3, 16, names, 4, path);
    image g = {0};
    if (st == YOLO_OK) st = image_load(path, &g);
    CHECK(st == YOLO_OK && g.w == 128 && g.h == 128, "3 images of 64 px make a 2x2 grid of 128x128 (%dx%d)",
          g.w, g.h);
    if (st == YOLO_OK) {
        /* tile 1 (below tile 0: the grid fills columns first) has a Dress box (#00DFB7), tile 0 none;
         * tile 2's mask tints the left half of it */
        int boxed = count_px(&g, 0, 64, 64, 128, dress), plain = count_px(&g, 0, 0, 64, 40, dress);
        const uint8_t *mask = g.px + ((size_t)60 * g.w + 64 + 10) * 3,
                      *bare = g.px + ((size_t)60 * g.w + 64 + 58) * 3;
        CHECK(boxed > 50 && plain == 0 && mask[1] > bare[1] + 50,
              "boxes, labels and masks are drawn where the labels say (%d, %d, %d/%d)", boxed, plain, mask[1],
              bare[1]);
    }
    image_free(&g);
    for (int i = 0; i < 3; i++)
        image_free(&ims[i]);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_draw.XXXXXX", getenv("TMPROOT") ? getenv("TMPROOT") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    test_canvas();
    test_confusion();
    test_gaussian();
    test_outline();
    test_letterbox_auto();
    test_mask_upsample();
    test_nms_classes();
    test_batch();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    TAP_DONE();
}
