#include "yolo/sample.h"

#include <stdlib.h>
#include <string.h>

void sample_init(sample *s) {
    memset(s, 0, sizeof *s);
    s->label = -1;
    s->ratio_h = s->ratio_w = 1.0;
}

void sample_free(sample *s) {
    image_free(&s->img);
    free(s->cls);
    free(s->boxes);
    free(s->seg_start);
    free(s->seg_xy);
    sample_init(s);
}

void sample_clear_labels(sample *s) {
    s->n = 0;
    if (s->seg_start) s->seg_start[0] = 0;
}

static yolo_status grow_instances(sample *s, int need) {
    if (need <= s->cap) return YOLO_OK;
    if (need > (1 << 24)) return yolo_error(YOLO_ERR_LIMIT, "sample: too many instances (%d)", need);
    int cap = s->cap ? s->cap : 8;
    while (cap < need)
        cap *= 2;
    int *cls = realloc(s->cls, sizeof *cls * cap);
    if (cls) s->cls = cls;
    float *boxes = realloc(s->boxes, sizeof *boxes * 4 * cap);
    if (boxes) s->boxes = boxes;
    if (!cls || !boxes) return yolo_error(YOLO_ERR_NOMEM, "sample: out of memory for %d instances", need);
    if (s->seg_start) {
        int *st = realloc(s->seg_start, sizeof *st * (cap + 1));
        if (!st) return yolo_error(YOLO_ERR_NOMEM, "sample: out of memory for %d polygons", need);
        s->seg_start = st;
    }
    s->cap = cap;
    return YOLO_OK;
}

static yolo_status grow_points(sample *s, int need) {
    if (need <= s->seg_cap) return YOLO_OK;
    if (need > (1 << 28)) return yolo_error(YOLO_ERR_LIMIT, "sample: too many polygon points (%d)", need);
    int cap = s->seg_cap ? s->seg_cap : 256;
    while (cap < need)
        cap *= 2;
    float *xy = realloc(s->seg_xy, sizeof *xy * 2 * (size_t)cap);
    if (!xy) return yolo_error(YOLO_ERR_NOMEM, "sample: out of memory for %d polygon points", need);
    s->seg_xy = xy;
    s->seg_cap = cap;
    return YOLO_OK;
}

yolo_status sample_add(sample *s, int cls, const float box[4], const float *xy, int npts) {
    if (cls < 0) return yolo_error(YOLO_ERR_USAGE, "sample: negative class id %d", cls);
    if (npts < 0 || (npts > 0 && !xy)) return yolo_error(YOLO_ERR_USAGE, "sample: bad polygon");
    if (s->n == 0 && npts == 0 && s->seg_start) {
        /* a reused sample that had polygons: this one has none */
        free(s->seg_start);
        s->seg_start = NULL;
    }
    bool has_segs = s->seg_start != NULL;
    if (s->n > 0 && has_segs != (npts > 0))
        return yolo_error(YOLO_ERR_USAGE, "sample: mixing instances with and without polygons");
    yolo_status st = grow_instances(s, s->n + 1);
    if (st) return st;
    if (npts > 0 && !s->seg_start) {
        s->seg_start = malloc(sizeof *s->seg_start * (s->cap + 1));
        if (!s->seg_start) return yolo_error(YOLO_ERR_NOMEM, "sample: out of memory for polygons");
        s->seg_start[0] = 0;
    }
    if (npts > 0) {
        int at = s->seg_start[s->n];
        if ((st = grow_points(s, at + npts))) return st;
        memcpy(s->seg_xy + 2 * (size_t)at, xy, sizeof *xy * 2 * (size_t)npts);
        s->seg_start[s->n + 1] = at + npts;
    } else if (s->seg_start) {
        s->seg_start[s->n + 1] = s->seg_start[s->n];
    }
    s->cls[s->n] = cls;
    memcpy(s->boxes + 4 * (size_t)s->n, box, sizeof(float) * 4);
    s->n++;
    return YOLO_OK;
}

yolo_status sample_copy(sample *dst, const sample *src) {
    sample tmp;
    sample_init(&tmp);
    tmp.index = src->index;
    tmp.ori_h = src->ori_h;
    tmp.ori_w = src->ori_w;
    tmp.res_h = src->res_h;
    tmp.res_w = src->res_w;
    tmp.ratio_h = src->ratio_h;
    tmp.ratio_w = src->ratio_w;
    tmp.pad_left = src->pad_left;
    tmp.pad_top = src->pad_top;
    tmp.label = src->label;
    yolo_status st = YOLO_OK;
    if (src->img.px) {
        st = image_alloc_unfilled(&tmp.img, src->img.h, src->img.w, src->img.c);
        if (!st) memcpy(tmp.img.px, src->img.px, (size_t)src->img.h * src->img.w * src->img.c);
    } else {
        tmp.img = (image){src->img.h, src->img.w, src->img.c, NULL};
    }
    for (int k = 0; !st && k < src->n; k++)
        st = sample_add(&tmp, src->cls[k], src->boxes + 4 * k,
                        src->seg_start ? src->seg_xy + 2 * (size_t)src->seg_start[k] : NULL,
                        sample_seg_len(src, k));
    if (!st && src->n == 0 && src->seg_start) {
        /* Keep "this sample has polygons" even with no instances. */
        tmp.seg_start = calloc(1, sizeof *tmp.seg_start);
        if (!tmp.seg_start) st = yolo_error(YOLO_ERR_NOMEM, "sample: out of memory");
    }
    if (st) {
        sample_free(&tmp);
        return st;
    }
    sample_free(dst);
    *dst = tmp;
    return YOLO_OK;
}

void sample_move(sample *dst, sample *src) {
    if (dst == src) return;
    sample_free(dst);
    *dst = *src;
    sample_init(src);
}

void sample_filter(sample *s, const bool *keep) {
    int j = 0, pts = 0;
    for (int k = 0; k < s->n; k++) {
        if (!keep[k]) continue;
        if (s->seg_start) {
            int a = s->seg_start[k], len = s->seg_start[k + 1] - a;
            memmove(s->seg_xy + 2 * (size_t)pts, s->seg_xy + 2 * (size_t)a, sizeof(float) * 2 * (size_t)len);
            s->seg_start[j] = pts;
            pts += len;
        }
        s->cls[j] = s->cls[k];
        memmove(s->boxes + 4 * j, s->boxes + 4 * k, sizeof(float) * 4);
        j++;
    }
    s->n = j;
    if (s->seg_start) s->seg_start[j] = pts;
}

yolo_status sample_permute(sample *s, const int *perm) {
    if (s->n == 0) return YOLO_OK;
    int n = s->n, npts = s->seg_start ? s->seg_start[n] : 0;
    int *cls = malloc(sizeof *cls * n);
    float *boxes = malloc(sizeof *boxes * 4 * n);
    int *st = s->seg_start ? malloc(sizeof *st * (n + 1)) : NULL;
    float *xy = s->seg_start ? malloc(sizeof *xy * 2 * (size_t)(npts ? npts : 1)) : NULL;
    if (!cls || !boxes || (s->seg_start && (!st || !xy))) {
        free(cls), free(boxes), free(st), free(xy);
        return yolo_error(YOLO_ERR_NOMEM, "sample: out of memory");
    }
    int at = 0;
    for (int k = 0; k < n; k++) {
        int o = perm[k];
        cls[k] = s->cls[o];
        memcpy(boxes + 4 * k, s->boxes + 4 * o, sizeof(float) * 4);
        if (st) {
            int a = s->seg_start[o], len = s->seg_start[o + 1] - a;
            st[k] = at;
            memcpy(xy + 2 * (size_t)at, s->seg_xy + 2 * (size_t)a, sizeof(float) * 2 * (size_t)len);
            at += len;
        }
    }
    memcpy(s->cls, cls, sizeof *cls * n);
    memcpy(s->boxes, boxes, sizeof *boxes * 4 * n);
    if (st) {
        st[n] = at;
        memcpy(s->seg_start, st, sizeof *st * (n + 1));
        memcpy(s->seg_xy, xy, sizeof *xy * 2 * (size_t)at);
    }
    free(cls), free(boxes), free(st), free(xy);
    return YOLO_OK;
}
