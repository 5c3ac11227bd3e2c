#include "yolo/image.h"

#include <errno.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* Bounds that keep a hostile header from asking for gigabytes: 32k per side and 1 GiB of pixels. */
#define IMAGE_MAX_SIDE 32768
#define IMAGE_MAX_BYTES ((size_t)1 << 30)

/* image_alloc without the fill, for buffers a decoder overwrites completely. */
static yolo_status alloc_unfilled(image *im, int h, int w, int c);

yolo_status image_alloc(image *im, int h, int w, int c, uint8_t value) {
    yolo_status st = alloc_unfilled(im, h, w, c);
    if (!st) memset(im->px, value, (size_t)h * (size_t)w * (size_t)c);
    return st;
}

yolo_status image_alloc_unfilled(image *im, int h, int w, int c) {
    return alloc_unfilled(im, h, w, c);
}

static yolo_status alloc_unfilled(image *im, int h, int w, int c) {
    im->h = im->w = im->c = 0;
    im->px = NULL;
    if (h <= 0 || w <= 0 || (c != 1 && c != 3))
        return yolo_error(YOLO_ERR_USAGE, "image_alloc: bad shape %dx%dx%d", h, w, c);
    if (h > IMAGE_MAX_SIDE || w > IMAGE_MAX_SIDE || (size_t)h * (size_t)w * (size_t)c > IMAGE_MAX_BYTES)
        return yolo_error(YOLO_ERR_LIMIT, "image of %dx%d pixels is too large (limit %d per side, 1 GiB)", w,
                          h, IMAGE_MAX_SIDE);
    size_t n = (size_t)h * (size_t)w * (size_t)c;
    im->px = malloc(n);
    if (!im->px) return yolo_error(YOLO_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    im->h = h;
    im->w = w;
    im->c = c;
    return YOLO_OK;
}

void image_free(image *im) {
    if (!im) return;
    free(im->px);
    im->px = NULL;
    im->h = im->w = im->c = 0;
}

static int is_jpeg(const uint8_t *p, size_t n) {
    return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}
static int is_png(const uint8_t *p, size_t n) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    return n >= 8 && memcmp(p, sig, 8) == 0;
}

/* ---- EXIF orientation ---- */

static unsigned rd16(const uint8_t *p, int le) {
    return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation tag (0x0112) from the first APP1 Exif segment; 1 when absent or unreadable, because a
 * damaged EXIF block should not make an otherwise good photo unusable. */
static int jpeg_exif_orientation(const uint8_t *p, size_t n) {
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) return 1;
        uint8_t m = p[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return 1; /* image data starts: no EXIF before it */
        size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
        if (len < 2 || i + 2 + len > n) return 1;
        const uint8_t *s = p + i + 4;
        size_t sl = len - 2;
        if (m == 0xE1 && sl >= 14 && memcmp(s, "Exif\0\0", 6) == 0) {
            const uint8_t *t = s + 6;
            size_t tl = sl - 6;
            int le;
            if (t[0] == 'I' && t[1] == 'I')
                le = 1;
            else if (t[0] == 'M' && t[1] == 'M')
                le = 0;
            else
                return 1;
            if (rd16(t + 2, le) != 42) return 1;
            uint32_t ifd = rd32(t + 4, le);
            if (ifd > tl || tl - ifd < 2) return 1;
            unsigned count = rd16(t + ifd, le);
            for (unsigned k = 0; k < count; k++) {
                size_t e = ifd + 2 + (size_t)k * 12;
                if (e + 12 > tl) return 1;
                if (rd16(t + e, le) == 0x0112) {
                    unsigned v = rd16(t + e + 8, le);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        i += 2 + len;
    }
    return 1;
}

/* Applies an EXIF orientation in place (replacing px). Orientations 5-8 swap width and height. */
static yolo_status apply_orientation(image *im, int o) {
    if (o <= 1) return YOLO_OK;
    int H = im->h, W = im->w, C = im->c;
    int swap = o >= 5;
    image out;
    yolo_status st = alloc_unfilled(&out, swap ? W : H, swap ? H : W, C);
    if (st) return st;
    for (int y = 0; y < out.h; y++)
        for (int x = 0; x < out.w; x++) {
            int sy, sx;
            switch (o) {
            case 2:
                sy = y, sx = W - 1 - x;
                break;
            case 3:
                sy = H - 1 - y, sx = W - 1 - x;
                break;
            case 4:
                sy = H - 1 - y, sx = x;
                break;
            case 5:
                sy = x, sx = y;
                break;
            case 6:
                sy = H - 1 - x, sx = y;
                break;
            case 7:
                sy = H - 1 - x, sx = W - 1 - y;
                break;
            default:
                sy = x, sx = W - 1 - y;
                break; /* 8 */
            }
            memcpy(out.px + ((size_t)y * out.w + x) * C, im->px + ((size_t)sy * W + sx) * C, (size_t)C);
        }
    image_free(im);
    *im = out;
    return YOLO_OK;
}

/* ---- JPEG ---- */

static yolo_status jpeg_header(tjhandle tj, const uint8_t *p, size_t n, const char *name, int *w, int *h) {
    int sub = -1, cs = -1;
    *w = *h = 0; /* libjpeg-turbo can return success on a stream without a frame header */
    if (tjDecompressHeader3(tj, p, (unsigned long)n, w, h, &sub, &cs) != 0)
        return yolo_error(YOLO_ERR_FORMAT, "%s: corrupt JPEG (%s)", name, tjGetErrorStr2(tj));
    if (*w <= 0 || *h <= 0 || sub < 0)
        return yolo_error(YOLO_ERR_FORMAT, "%s: corrupt JPEG (no frame header)", name);
    if (*w > IMAGE_MAX_SIDE || *h > IMAGE_MAX_SIDE)
        return yolo_error(YOLO_ERR_FORMAT, "%s: corrupt JPEG (size %dx%d out of bounds)", name, *w, *h);
    return YOLO_OK;
}

static yolo_status decode_jpeg(const uint8_t *p, size_t n, const char *name, image *out) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return yolo_error(YOLO_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
    int w, h;
    yolo_status st = jpeg_header(tj, p, n, name, &w, &h);
    if (!st) st = alloc_unfilled(out, h, w, 3);
    if (!st && tjDecompress2(tj, p, (unsigned long)n, out->px, w, 0, h, TJPF_RGB, 0) != 0) {
        /* libjpeg-turbo reports recoverable problems (such as extraneous bytes) as warnings and the
         * pixels are good then; but data cut short is also only a warning, with the missing rows grey. */
        const char *why = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) != TJERR_WARNING)
            st = yolo_error(YOLO_ERR_FORMAT, "%s: corrupt JPEG (%s)", name, why);
        else if (strstr(why, "Premature end"))
            st = yolo_error(YOLO_ERR_FORMAT, "%s: truncated JPEG (premature end of data)", name);
    }
    tjDestroy(tj);
    if (!st) st = apply_orientation(out, jpeg_exif_orientation(p, n));
    if (st) image_free(out);
    return st;
}

/* ---- PNG ---- */

static yolo_status decode_png(const uint8_t *p, size_t n, const char *name, image *out) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return yolo_error(YOLO_ERR_NOMEM, "%s: cannot start the PNG decoder", name);
    yolo_status st = YOLO_OK;
    struct spng_ihdr ihdr;
    size_t need = 0;
    int e;
    spng_set_image_limits(ctx, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    spng_set_chunk_limits(ctx, 1u << 24, 1u << 26);
    if ((e = spng_set_png_buffer(ctx, p, n)) || (e = spng_get_ihdr(ctx, &ihdr)) ||
        (e = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &need))) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: corrupt PNG (%s)", name, spng_strerror(e));
        goto done;
    }
    if ((st = alloc_unfilled(out, (int)ihdr.height, (int)ihdr.width, 3))) goto done;
    if (need != (size_t)out->h * out->w * 3) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: corrupt PNG (unexpected decoded size)", name);
        goto done;
    }
    /* Alpha and tRNS are ignored (no compositing) and 16-bit samples keep their high byte: this is what
     * OpenCV's imread(IMREAD_COLOR) gives Ultralytics. */
    if ((e = spng_decode_image(ctx, out->px, need, SPNG_FMT_RGB8, 0))) {
        const char *what = e == SPNG_EOF || e == SPNG_IO_EOF ? "truncated PNG" : "corrupt PNG";
        st = yolo_error(YOLO_ERR_FORMAT, "%s: %s (%s)", name, what, spng_strerror(e));
    }
done:
    spng_ctx_free(ctx);
    if (st) image_free(out);
    return st;
}

yolo_status image_decode(const void *data, size_t len, const char *name, image *out) {
    const uint8_t *p = data;
    out->px = NULL;
    out->h = out->w = out->c = 0;
    if (!name) name = "image";
    if (len == 0) return yolo_error(YOLO_ERR_FORMAT, "%s: empty image file", name);
    if (is_jpeg(p, len)) return decode_jpeg(p, len, name, out);
    if (is_png(p, len)) return decode_png(p, len, name, out);
    return yolo_error(YOLO_ERR_FORMAT, "%s: not a JPEG or PNG image (unsupported format)", name);
}

static yolo_status read_file(const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return yolo_error(errno == ENOENT ? YOLO_ERR_NOTFOUND : YOLO_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap >= ((size_t)1 << 31)) {
            free(b);
            fclose(f);
            return yolo_error(YOLO_ERR_LIMIT, "%s: file too large", path);
        }
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!b) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(b);
        return yolo_error(YOLO_ERR_IO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return YOLO_OK;
}

yolo_status image_load(const char *path, image *out) {
    uint8_t *b = NULL;
    size_t n = 0;
    out->px = NULL;
    yolo_status st = read_file(path, &b, &n);
    if (st) return st;
    st = image_decode(b, n, path, out);
    free(b);
    return st;
}

yolo_status image_probe(const void *data, size_t len, const char *name, int *h, int *w) {
    const uint8_t *p = data;
    if (!name) name = "image";
    if (is_jpeg(p, len)) {
        tjhandle tj = tjInitDecompress();
        if (!tj) return yolo_error(YOLO_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
        int jw, jh;
        yolo_status st = jpeg_header(tj, p, len, name, &jw, &jh);
        tjDestroy(tj);
        if (st) return st;
        int swap = jpeg_exif_orientation(p, len) >= 5;
        *h = swap ? jw : jh;
        *w = swap ? jh : jw;
        return YOLO_OK;
    }
    if (is_png(p, len)) {
        if (len < 33 || memcmp(p + 12, "IHDR", 4) != 0)
            return yolo_error(YOLO_ERR_FORMAT, "%s: corrupt PNG (no IHDR chunk)", name);
        uint32_t pw = rd32(p + 16, 0), ph = rd32(p + 20, 0);
        if (pw == 0 || ph == 0 || pw > IMAGE_MAX_SIDE || ph > IMAGE_MAX_SIDE)
            return yolo_error(YOLO_ERR_FORMAT, "%s: PNG size %ux%u is out of bounds", name, pw, ph);
        *w = (int)pw;
        *h = (int)ph;
        return YOLO_OK;
    }
    if (len == 0) return yolo_error(YOLO_ERR_FORMAT, "%s: empty image file", name);
    return yolo_error(YOLO_ERR_FORMAT, "%s: not a JPEG or PNG image (unsupported format)", name);
}

yolo_status image_encode_jpeg(const image *im, int quality, uint8_t **out, size_t *out_len) {
    if (!im || !im->px || (im->c != 1 && im->c != 3))
        return yolo_error(YOLO_ERR_USAGE, "image_encode_jpeg: not a 1- or 3-channel image");
    tjhandle tj = tjInitCompress();
    if (!tj) return yolo_error(YOLO_ERR_NOMEM, "cannot start the JPEG encoder");
    unsigned char *buf = NULL;
    unsigned long n = 0;
    int grey = im->c == 1;
    int r = tjCompress2(tj, im->px, im->w, 0, im->h, grey ? TJPF_GRAY : TJPF_RGB, &buf, &n,
                        grey ? TJSAMP_GRAY : TJSAMP_420,
                        quality < 1     ? 1
                        : quality > 100 ? 100
                                        : quality,
                        0);
    yolo_status st = YOLO_OK;
    if (r != 0) st = yolo_error(YOLO_ERR_FORMAT, "JPEG encoding failed (%s)", tjGetErrorStr2(tj));
    tjDestroy(tj);
    if (st) {
        tjFree(buf);
        return st;
    }
    /* Hand back plain malloc memory so callers free() it like every other buffer. */
    *out = malloc(n ? n : 1);
    if (!*out) {
        tjFree(buf);
        return yolo_nomem();
    }
    memcpy(*out, buf, n);
    *out_len = n;
    tjFree(buf);
    return YOLO_OK;
}

yolo_status image_encode_png(const image *im, uint8_t **out, size_t *out_len) {
    if (!im || !im->px || (im->c != 1 && im->c != 3))
        return yolo_error(YOLO_ERR_USAGE, "image_encode_png: not a 1- or 3-channel image");
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return yolo_error(YOLO_ERR_NOMEM, "cannot start the PNG encoder");
    struct spng_ihdr ihdr = {0};
    ihdr.width = (uint32_t)im->w;
    ihdr.height = (uint32_t)im->h;
    ihdr.bit_depth = 8;
    ihdr.color_type = im->c == 1 ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR;
    int e;
    yolo_status st = YOLO_OK;
    size_t len = (size_t)im->h * im->w * im->c;
    /* No row filters and zlib level 1: the pictures are charts and drawings with flat areas, where this
     * is six times faster than libspng's defaults (adaptive filters, level 6) and about as small. */
    if ((e = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)) ||
        (e = spng_set_option(ctx, SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_NONE)) ||
        (e = spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, 1)) || (e = spng_set_ihdr(ctx, &ihdr)) ||
        (e = spng_encode_image(ctx, im->px, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE))) {
        st = yolo_error(YOLO_ERR_FORMAT, "PNG encoding failed (%s)", spng_strerror(e));
    } else {
        size_t n = 0;
        void *buf = spng_get_png_buffer(ctx, &n, &e);
        if (!buf)
            st = yolo_error(YOLO_ERR_FORMAT, "PNG encoding failed (%s)", spng_strerror(e));
        else {
            *out = buf;
            *out_len = n;
        }
    }
    spng_ctx_free(ctx);
    return st;
}
