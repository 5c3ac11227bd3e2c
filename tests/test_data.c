/* Images, label parsing and the sample stream: decoders on synthetic files, Ultralytics' label rules,
 * stream round trips and every way a stream can break. */
#include <math.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "tap.h"
#include "yolo/image.h"
#include "yolo/labels.h"
#include "yolo/stream.h"

/* tap.h's CHECK evaluates its condition twice; these conditions decode and parse, so evaluate once. */
#define CHECK1(cond, ...)                                                                                    \
    do {                                                                                                     \
        int once_ = (cond);                                                                                  \
        CHECK(once_, __VA_ARGS__);                                                                           \
    } while (0)

/* ---- images ---- */

static uint8_t *png_make(int w, int h, int color_type, int depth, const void *px, size_t n,
                         const uint8_t *plte, int plte_n, size_t *len) {
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, (uint8_t)depth, (uint8_t)color_type, 0, 0, 0};
    spng_set_ihdr(ctx, &ihdr);
    if (plte) {
        struct spng_plte p = {0};
        p.n_entries = (uint32_t)plte_n;
        for (int k = 0; k < plte_n; k++)
            p.entries[k].red = plte[3 * k], p.entries[k].green = plte[3 * k + 1],
            p.entries[k].blue = plte[3 * k + 2];
        spng_set_plte(ctx, &p);
    }
    int e = spng_encode_image(ctx, px, n, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    uint8_t *out = e ? NULL : spng_get_png_buffer(ctx, len, &e);
    spng_ctx_free(ctx);
    return out;
}

static void test_png(void) {
    image im;
    size_t len;
    /* grey 8-bit */
    uint8_t g[12 * 10];
    for (int k = 0; k < 120; k++)
        g[k] = (uint8_t)(k * 2);
    uint8_t *b = png_make(12, 10, SPNG_COLOR_TYPE_GRAYSCALE, 8, g, sizeof g, NULL, 0, &len);
    CHECK1(b && image_decode(b, len, "g.png", &im) == YOLO_OK && im.h == 10 && im.w == 12 && im.c == 3 &&
               im.px[3 * 37] == 74 && im.px[3 * 37 + 1] == 74 && im.px[3 * 37 + 2] == 74,
           "grey PNG decodes to RGB with equal channels");
    image_free(&im);
    int ph, pw;
    CHECK1(b && image_probe(b, len, "g.png", &ph, &pw) == YOLO_OK && ph == 10 && pw == 12,
           "PNG probe gives h, w");
    /* truncated */
    CHECK1(b && image_decode(b, len / 2, "cut.png", &im) == YOLO_ERR_FORMAT &&
               strstr(yolo_last_error(), "cut.png") &&
               (strstr(yolo_last_error(), "truncated") || strstr(yolo_last_error(), "corrupt")),
           "truncated PNG is an error naming the file: %s", yolo_last_error());
    free(b);
    /* RGBA: alpha dropped, no compositing */
    uint8_t rgba[4 * 4 * 4];
    for (int k = 0; k < 16; k++)
        rgba[4 * k] = 200, rgba[4 * k + 1] = 100, rgba[4 * k + 2] = 50, rgba[4 * k + 3] = (uint8_t)(k * 16);
    b = png_make(4, 4, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, rgba, sizeof rgba, NULL, 0, &len);
    CHECK1(b && image_decode(b, len, "a.png", &im) == YOLO_OK && im.px[0] == 200 && im.px[1] == 100 &&
               im.px[2] == 50 && im.px[3 * 15] == 200,
           "RGBA PNG: alpha dropped, colour kept");
    image_free(&im);
    free(b);
    /* 16-bit RGB: high byte kept */
    uint16_t rgb16[2 * 2 * 3]; /* spng takes host-endian samples */
    for (int k = 0; k < 4 * 3; k++)
        rgb16[k] = (uint16_t)((10 * k + 1) << 8 | 0xff);
    b = png_make(2, 2, SPNG_COLOR_TYPE_TRUECOLOR, 16, rgb16, sizeof rgb16, NULL, 0, &len);
    CHECK1(b && image_decode(b, len, "16.png", &im) == YOLO_OK && im.px[0] == 1 && im.px[1] == 11 &&
               im.px[11] == 111,
           "16-bit PNG keeps the high byte");
    image_free(&im);
    free(b);
    /* palette */
    uint8_t pal[3 * 2] = {255, 0, 0, 0, 0, 255}, idx[4] = {0, 1, 1, 0};
    b = png_make(2, 2, SPNG_COLOR_TYPE_INDEXED, 8, idx, sizeof idx, pal, 2, &len);
    CHECK1(b && image_decode(b, len, "p.png", &im) == YOLO_OK && im.px[0] == 255 && im.px[2] == 0 &&
               im.px[3] == 0 && im.px[5] == 255,
           "palette PNG expands to RGB");
    image_free(&im);
    free(b);
    /* our own encoder round trip */
    image src;
    image_alloc(&src, 9, 7, 3, 0);
    for (int k = 0; k < 9 * 7 * 3; k++)
        src.px[k] = (uint8_t)(k * 7);
    uint8_t *enc;
    CHECK1(image_encode_png(&src, &enc, &len) == YOLO_OK &&
               image_decode(enc, len, "rt.png", &im) == YOLO_OK && memcmp(im.px, src.px, 9 * 7 * 3) == 0,
           "PNG encoder round trip is exact");
    image_free(&im);
    free(enc);
    image_free(&src);
    CHECK1(image_decode("GIF89a....", 10, "x.gif", &im) == YOLO_ERR_FORMAT &&
               strstr(yolo_last_error(), "not a JPEG or PNG"),
           "unknown format: %s", yolo_last_error());
}

/* A JPEG with an APP1 Exif block holding orientation o (inserted right after SOI). */
static uint8_t *jpeg_with_exif(const image *im, int o, size_t *len) {
    uint8_t *j;
    size_t jl;
    if (image_encode_jpeg(im, 100, &j, &jl)) return NULL;
    uint8_t app1[] = {
        0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0,          0, 'I', 'I',
        42,   0,    8, 0,  0,   0,   1,   0,                          /* one entry */
        0x12, 0x01, 3, 0,  1,   0,   0,   0,   (uint8_t)o, 0, 0,   0, /* orientation, SHORT, 1 */
        0,    0,    0, 0};
    *len = jl + sizeof app1;
    uint8_t *out = malloc(*len);
    memcpy(out, j, 2);
    memcpy(out + 2, app1, sizeof app1);
    memcpy(out + 2 + sizeof app1, j + 2, jl - 2);
    free(j);
    return out;
}

static void test_jpeg(void) {
    image src, im;
    image_alloc(&src, 16, 32, 3, 0);
    /* left half red, right half blue, top 8 rows of the left half green instead */
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) {
            uint8_t *p = src.px + (y * 32 + x) * 3;
            if (x < 16 && y < 8)
                p[1] = 255;
            else if (x < 16)
                p[0] = 255;
            else
                p[2] = 255;
        }
    size_t len;
    uint8_t *j = jpeg_with_exif(&src, 1, &len);
    CHECK1(j && image_decode(j, len, "o1.jpg", &im) == YOLO_OK && im.h == 16 && im.w == 32 && im.px[1] > 200,
           "JPEG orientation 1: as stored");
    image_free(&im);
    free(j);
    j = jpeg_with_exif(&src, 6, &len);
    int ph, pw;
    CHECK1(j && image_probe(j, len, "o6.jpg", &ph, &pw) == YOLO_OK && ph == 32 && pw == 16,
           "JPEG orientation 6: probe swaps the size");
    /* rotate 90 clockwise: the stored bottom-left (red) becomes top-left, the green top-left becomes
     * top-right */
    bool ok = j && image_decode(j, len, "o6.jpg", &im) == YOLO_OK && im.h == 32 && im.w == 16;
    CHECK1(ok && im.px[(2 * 16 + 2) * 3] > 200 && im.px[(2 * 16 + 13) * 3 + 1] > 200 &&
               im.px[(29 * 16 + 8) * 3 + 2] > 200,
           "JPEG orientation 6: pixels rotated clockwise");
    image_free(&im);
    /* truncated JPEG */
    CHECK1(j && image_decode(j, len * 2 / 3, "cut.jpg", &im) == YOLO_ERR_FORMAT &&
               strstr(yolo_last_error(), "cut.jpg"),
           "truncated JPEG is an error: %s", yolo_last_error());
    free(j);
    j = jpeg_with_exif(&src, 3, &len);
    CHECK1(j && image_decode(j, len, "o3.jpg", &im) == YOLO_OK && im.h == 16 && im.w == 32 &&
               im.px[(15 * 32 + 31) * 3 + 1] > 200 && im.px[(0 * 32 + 0) * 3 + 2] > 200,
           "JPEG orientation 3: rotated 180");
    image_free(&im);
    free(j);
    image_free(&src);
    /* a larger JPEG cut inside its scan data, and one with junk after its end marker */
    image_alloc(&src, 64, 64, 3, 0);
    for (int k = 0; k < 64 * 64 * 3; k++)
        src.px[k] = (uint8_t)(k * 31 + k / 777);
    image_encode_jpeg(&src, 90, &j, &len);
    CHECK1(image_decode(j, len * 3 / 4, "scan.jpg", &im) == YOLO_ERR_FORMAT &&
               strstr(yolo_last_error(), "scan.jpg: truncated JPEG"),
           "JPEG cut in its scan data: %s", yolo_last_error());
    uint8_t *junk = malloc(len + 300);
    memcpy(junk, j, len);
    for (int k = 0; k < 300; k++)
        junk[len + k] = (uint8_t)k;
    CHECK1(image_decode(junk, len + 300, "junk.jpg", &im) == YOLO_OK && im.h == 64,
           "JPEG with bytes after its end marker decodes");
    image_free(&im);
    free(junk);
    free(j);
    image_free(&src);
}

/* ---- labels ---- */

static labels_verdict parse(const char *text, int nc, sample *s, char *msg) {
    labels_verdict v;
    labels_parse(text, strlen(text), nc, s, &v, msg, 256);
    return v;
}

/* The tokens as a box's x: NULL reason: each must read as 0.5; else each must make the file corrupt with
 * that reason. Returns how many did not (named in comments). */
static int x_tokens(const char *const *tok, size_t n, sample *s, const char *reason) {
    char row[64], msg[256];
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        snprintf(row, sizeof row, "0 %s 0.5 0.1 0.1\n", tok[k]);
        labels_verdict v = parse(row, 4, s, msg);
        bool as_wanted =
            reason ? v == LABELS_CORRUPT && strstr(msg, reason) : v == LABELS_OK && s->boxes[0] == 0.5f;
        if (!as_wanted) bad++, printf("# %s: %s\n", tok[k], v == LABELS_OK ? "read" : msg);
    }
    return bad;
}

static void test_labels(void) {
    sample s;
    sample_init(&s);
    char msg[256];
    CHECK1(parse("0 0.5 0.5 0.2 0.2\n3 0.1 0.2 0.1 0.1\n", 4, &s, msg) == LABELS_OK && s.n == 2 &&
               s.cls[1] == 3 && s.boxes[4] == 0.1f && !s.seg_start && !msg[0],
           "detect labels parse in file order");
    CHECK1(parse("", 4, &s, msg) == LABELS_EMPTY && s.n == 0, "empty file is a background");
    CHECK1(parse("\n  \n", 4, &s, msg) == LABELS_EMPTY, "blank lines only: background");
    CHECK1(parse("0 0.5 0.5 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "labels require 5 columns, 4 columns detected"),
           "4 columns: %s", msg);
    CHECK1(parse("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "5 columns"),
           "ragged rows: %s", msg);
    CHECK1(parse("0 0.5 1.5 0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "non-normalized or out of bounds coordinates"),
           "coordinate above 1: %s", msg);
    CHECK1(parse("0 0.5 0.5 -0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "negative label values"),
           "negative value: %s", msg);
    CHECK1(parse("-1 0.5 0.5 0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "negative label values"),
           "negative class: %s", msg);
    CHECK1(parse("4 0.5 0.5 0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "Label class 4 exceeds dataset class count 4. Possible class labels are 0-3"),
           "class too large: %s", msg);
    CHECK1(parse("7777777777 0.5 0.5 0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "Label class 7777777664 exceeds dataset class count 4"),
           "class beyond the int range (found by fuzzing): %s", msg);
    CHECK1(parse("0 0.5 x 0.2 0.2\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "could not convert string to float: 'x'"),
           "not a number: %s", msg);
    /* Numbers as Ultralytics reads them (numpy's float32 of the text, i.e. Python's float()); the verdicts
     * were taken from Python 3.11: strtod took hex, so "0x1" was class 1 */
    CHECK1(parse("0x1 0.5 0.5 0.1 0.1\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "could not convert string to float: '0x1'"),
           "hex class id: not a number: %s", msg);
    static const char *const half[] = {".5",     "5e-1",   "5E-1",      "+0.5",  "0.5_0",
                                       "5_0e-2", "500e-3", "0.000_5e3", "5.e-1", "50e-0_2"};
    static const char *const nonum[] = {"0x1p-1", "0X.8p0", "0.5f", "5e",      "e-1",  "_0.5",
                                        "0.5_",   "0__5",   "0._5", "5_e-1",   "0,5",  "--0.5",
                                        "nan(1)", ".",      "1e+",  "0.5e1.0", "0x.8", "5e_1"};
    static const char *const nonfinite[] = {"nan", "-NaN", "+nan", "inf", "Infinity", "-inf", "INF", "1e999"};
#define N_OF(a) (sizeof a / sizeof *a)
    CHECK(x_tokens(half, N_OF(half), &s, NULL) == 0,
          "Python's decimal forms of 0.5 (sign, exponent, '_' between digits) are read");
    CHECK(x_tokens(nonum, N_OF(nonum), &s, "could not convert") == 0,
          "what Python's float() refuses (hex, stray '_', suffixes, nan(...)) is not a number");
    CHECK(x_tokens(nonfinite, N_OF(nonfinite), &s, "is not a finite number") == 0,
          "nan and inf make the file corrupt, as Ultralytics' checks of them do");
#undef N_OF
    CHECK1(parse("2 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1\n2 0.5 0.5 0.2 0.2\n", 4, &s, msg) == LABELS_OK &&
               s.n == 2 && strcmp(msg, "1 duplicate labels removed") == 0 && s.cls[0] == 1 && s.cls[1] == 2,
           "duplicate rows removed, sorted like numpy.unique: %s", msg);
    CHECK1(parse("1 0.1 0.1 0.5 0.1 0.5 0.4 0.1 0.4\n0 0.2 0.2 0.3 0.2 0.3 0.3\n", 4, &s, msg) == LABELS_OK &&
               s.n == 2 && s.seg_start && sample_seg_len(&s, 0) == 4 && sample_seg_len(&s, 1) == 3 &&
               fabsf(s.boxes[0] - 0.3f) < 1e-6f && fabsf(s.boxes[2] - 0.4f) < 1e-6f &&
               fabsf(s.boxes[3] - 0.3f) < 1e-6f,
           "polygons with boxes from their extent");
    CHECK1(parse("1 0.1 0.1 0.5 0.1 0.5\n0 0.2 0.2 0.3 0.2 0.3 0.3\n", 4, &s, msg) == LABELS_CORRUPT &&
               strstr(msg, "reshape"),
           "polygon with an odd coordinate count: %s", msg);
    /* resampling: a triangle becomes 1000 points, starting and ending at its first vertex (closed) */
    parse("0 0.1 0.1 0.5 0.1 0.5 0.4\n", 4, &s, msg);
    CHECK1(labels_resample_segments(&s, 1000) == YOLO_OK && sample_seg_len(&s, 0) == 1000 &&
               s.seg_xy[0] == 0.1f && s.seg_xy[1998] == 0.1f && s.seg_xy[1999] == 0.1f,
           "polygons resampled to 1000 closed points");
    sample_free(&s);
    char *p = labels_path_for_image("d/images/x/images/train/a.b.jpg");
    CHECK1(p && strcmp(p, "d/images/x/labels/train/a.b.txt") == 0,
           "label path: last /images/ -> /labels/: %s", p ? p : "");
    free(p);
}

/* ---- stream ---- */

static void fill(stream_sample *ss, int64_t i, int n) {
    stream_sample_init(ss);
    ss->i = i;
    ss->file = strdup("x.png");
    image_alloc(&ss->s.img, 8, 6, 3, (uint8_t)i);
    ss->s.index = i * 3;
    ss->s.ori_h = 80, ss->s.ori_w = 60;
    for (int k = 0; k < n; k++) {
        float b[4] = {0.1f * k, 0.2f, 0.3f, 0.4f};
        sample_add(&ss->s, k % 3, b, NULL, 0);
    }
    ss->mask_h = 2, ss->mask_w = 1;
    ss->mask = calloc(2, sizeof *ss->mask);
    ss->mask[1] = 300;
}

static char names_buf[3][8] = {"a", "b", "c"};

/* The nth occurrence (1-based) of key (a msgpack string with its header byte) in b, or NULL. */
static uint8_t *find_key(uint8_t *b, size_t len, const char *key, int nth) {
    size_t kl = strlen(key);
    for (size_t k = 0; k + kl <= len; k++)
        if (!memcmp(b + k, key, kl) && --nth == 0) return b + k;
    return NULL;
}

static size_t write_stream(const char *path, int count, int64_t from, int k, int n) {
    FILE *f = fopen(path, "wb");
    stream_header h;
    stream_header_init(&h);
    strcpy(h.task, "segment");
    strcpy(h.split, "train");
    h.imgsz = 32, h.nc = 3, h.total = count, h.from = from, h.shard_k = k, h.shard_n = n;
    char *names[3] = {names_buf[0], names_buf[1], names_buf[2]};
    h.names = names;
    int64_t c = 0;
    for (int64_t i = from; i < count; i++)
        c += i % n == k;
    h.count = c;
    stream_writer *w;
    stream_writer_open(f, path, &h, &w);
    for (int64_t i = from; i < count; i++) {
        if (i % n != k) continue;
        stream_sample s;
        fill(&s, i, (int)(i % 4));
        stream_writer_put(w, &s);
        stream_sample_free(&s);
    }
    stream_writer_finish(w);
    stream_writer_free(w);
    long sz = ftell(f);
    fclose(f);
    return (size_t)sz;
}

static yolo_status read_all(const char *path, int *n_read, bool check_content) {
    FILE *f = fopen(path, "rb");
    stream_reader *r;
    yolo_status st = stream_reader_open(f, path, &r);
    *n_read = 0;
    if (st) {
        fclose(f);
        return st;
    }
    stream_sample v[4];
    for (int k = 0; k < 4; k++)
        stream_sample_init(&v[k]);
    int got;
    bool good = true;
    while (!(st = stream_reader_batch(r, v, 4, &got)) && got) {
        for (int k = 0; k < got; k++) {
            const sample *s = &v[k].s;
            good = good && s->img.h == 8 && s->img.w == 6 && s->img.px[5] == (uint8_t)v[k].i &&
                   s->n == v[k].i % 4 && s->index == v[k].i * 3 && v[k].mask && v[k].mask[1] == 300 &&
                   s->ori_h == 80;
            for (int q = 0; q < s->n; q++)
                good = good && s->boxes[4 * q] == 0.1f * q && s->cls[q] == q % 3;
        }
        *n_read += got;
    }
    for (int k = 0; k < 4; k++)
        stream_sample_free(&v[k]);
    stream_reader_free(r);
    fclose(f);
    if (!st && check_content && !good) return yolo_error(YOLO_ERR_FORMAT, "content differs");
    return st;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    *n = fread(b, 1, *n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void test_stream(const char *dir) {
    char p[512], q[512], shard[3][512];
    snprintf(p, sizeof p, "%s/full.bin", dir);
    size_t sz = write_stream(p, 10, 0, 0, 1);
    int n;
    yolo_status st0;
    st0 = read_all(p, &n, true);
    CHECK1(st0 == YOLO_OK && n == 10, "stream round trip: 10 samples, every field back (%s)",
           st0 ? yolo_last_error() : "");
    /* truncations at several points: always an error, never a short clean end */
    size_t len;
    uint8_t *b = slurp(p, &len);
    CHECK1(len == sz, "stream size");
    bool all = true;
    for (size_t cut = 1; cut < len; cut += len / 37 + 1) {
        snprintf(q, sizeof q, "%s/cut.bin", dir);
        spit(q, b, cut);
        yolo_status st = read_all(q, &n, false);
        if (st == YOLO_OK) all = false;
    }
    snprintf(q, sizeof q, "%s/cut.bin", dir);
    spit(q, b, len - 1);
    yolo_status st = read_all(q, &n, false);
    CHECK1(all && st != YOLO_OK && n == 8 && strstr(yolo_last_error(), "cut.bin"),
           "truncated streams are errors; the batch holding the cut is not returned (%d read: %s)", n,
           yolo_last_error());
    /* one flipped image byte of sample 5: its own CRC catches it, before the batch holding it is returned
     * (and long before the trailer) */
    uint8_t *img5 = find_key(b, len, "\xa3img", 6);
    if (img5) img5[4 + 2 + 10] ^= 0x01; /* key, bin8 header, then the image */
    spit(q, b, len);
    st = read_all(q, &n, false);
    CHECK1(img5 && st == YOLO_ERR_CRC && n == 4 && strstr(yolo_last_error(), "sample 5: checksum mismatch"),
           "flipped image byte: sample 5's checksum error, samples 0-3 only (%d read: %s)", n,
           yolo_last_error());
    if (img5) img5[4 + 2 + 10] ^= 0x01;
    /* trailing garbage */
    uint8_t *b2 = malloc(len + 1);
    memcpy(b2, b, len);
    b2[len] = 0xc0;
    spit(q, b2, len + 1);
    CHECK1(read_all(q, &n, false) == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "after the trailer"),
           "data after the trailer is an error");
    free(b2);
    free(b);
    CHECK1(read_all(p, &n, false) == YOLO_OK, "original still fine");
    /* shards, merged, equal the full stream */
    FILE *in[3];
    const char *nm[3];
    for (int k = 0; k < 3; k++) {
        snprintf(shard[k], sizeof shard[k], "%s/s%d.bin", dir, k);
        write_stream(shard[k], 10, 0, k, 3);
        in[2 - k] = fopen(shard[k], "rb");
        nm[2 - k] = shard[k];
    }
    snprintf(q, sizeof q, "%s/merged.bin", dir);
    FILE *o = fopen(q, "wb");
    st = stream_merge(in, nm, 3, o, q);
    fclose(o);
    for (int k = 0; k < 3; k++)
        fclose(in[k]);
    size_t la, lb;
    uint8_t *ba = slurp(p, &la), *bb = slurp(q, &lb);
    CHECK1(st == YOLO_OK && la == lb && memcmp(ba, bb, la) == 0,
           "3 shards merged = the full stream, byte for byte");
    free(ba), free(bb);
    /* --from with shards: first index is the right one */
    snprintf(q, sizeof q, "%s/from.bin", dir);
    write_stream(q, 10, 4, 1, 3);
    CHECK1(read_all(q, &n, true) == YOLO_OK && n == 2, "from 4, shard 1/3: samples 4 and 7 (read %d)", n);
    /* a sample out of order is an error */
    snprintf(q, sizeof q, "%s/bad.bin", dir);
    write_stream(q, 10, 0, 0, 1);
    b = slurp(q, &len);
    /* the first sample map starts with {"i": 0}: a map16 header (0xde, 2 bytes), 0xa1 'i', 0x00; its
     * own CRC is made right again, so that only the order is wrong */
    uint8_t *hit = find_key(b, len, "\xa1i", 1);
    uint8_t *crc = find_key(b, len, "\xa5" SAMPLE_CRC_KEY, 1);
    if (hit && crc && hit[-3] == 0xde && hit[2] == 0x00 && crc[6] == 0xce) {
        hit[2] = 0x01;
        uint32_t c = (uint32_t)crc32(0L, hit - 3, (uInt)(crc - (hit - 3)));
        for (int k = 0; k < 4; k++)
            crc[7 + k] = (uint8_t)(c >> (24 - 8 * k));
    } else
        hit = NULL;
    spit(q, b, len);
    free(b);
    CHECK1(hit && read_all(q, &n, false) == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "where 0 was due"),
           "sample out of order: %s", yolo_last_error());
    FILE *e = fopen(q, "wb");
    fclose(e);
    e = fopen(q, "rb");
    stream_reader *r;
    CHECK1(stream_reader_open(e, q, &r) == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "empty stream"),
           "empty input: %s", yolo_last_error());
    fclose(e);
}

int main(void) {
    test_png();
    test_jpeg();
    test_labels();
    char dir[] = "/tmp/test_data.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_stream(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    TAP_DONE();
}
