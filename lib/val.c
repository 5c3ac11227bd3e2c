/* Validation (see include/yolo/val.h): the trainer's and yolo-eval's one path from samples to metrics. */
#include "yolo/val.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yolo/json.h"
#include "yolo/results.h"
#include "yolo/torch_train.h"

struct val {
    val_opts o;
    bool seg, cls;
    metrics_det *det, *mask;
    metrics_cls top;
    metrics_ap box_ap, mask_ap; /* after val_finish */
    bool finished;
    int64_t images;
    double seconds[3]; /* preprocess, inference, postprocess */
    val_host host;
};

static double clock_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void val_opts_default(val_opts *o) {
    memset(o, 0, sizeof *o);
    o->task = "detect";
    o->dev = TORCH_CPU;
    o->save_conf = true;
    nms_opts_default(&o->nms);
}

yolo_status val_new(const val_opts *o, val **out) {
    val *v = calloc(1, sizeof *v);
    if (!v) return yolo_nomem();
    v->o = *o;
    v->seg = !strcmp(o->task, "segment");
    v->cls = !strcmp(o->task, "classify");
    metrics_cls_clear(&v->top);
    yolo_status st = YOLO_OK;
    if (!v->cls) st = metrics_det_init(&v->det, o->nc);
    if (st == YOLO_OK && v->seg) st = metrics_det_init(&v->mask, o->nc);
    if (st != YOLO_OK) {
        val_free(v);
        return st;
    }
    *out = v;
    return YOLO_OK;
}

void val_free(val *v) {
    if (!v) return;
    metrics_det_free(v->det);
    metrics_det_free(v->mask);
    metrics_ap_free(&v->box_ap);
    metrics_ap_free(&v->mask_ap);
    val_host_free(&v->host);
    free(v);
}

/* Rows of a batch's images (image-major, then row) into NCHW floats. */
typedef struct {
    const stream_sample *v;
    float *out;
    int h, w;
} image_rows;

static void image_rows_fill(void *ctx, int64_t begin, int64_t end) {
    const image_rows *a = ctx;
    size_t plane = (size_t)a->h * a->w;
    for (int64_t r = begin; r < end; r++) {
        int64_t k = r / a->h, y = r % a->h;
        const uint8_t *src = a->v[k].s.img.px + (size_t)y * a->w * 3;
        float *dst = a->out + plane * 3 * (size_t)k + (size_t)y * a->w;
        /* what libtorch's x.float() / 255 computes: an exact conversion, then an IEEE division */
        for (int x = 0; x < a->w; x++) {
            dst[x] = (float)src[3 * x] / 255.0f;
            dst[plane + x] = (float)src[3 * x + 1] / 255.0f;
            dst[2 * plane + x] = (float)src[3 * x + 2] / 255.0f;
        }
    }
}

yolo_status val_image_batch(const stream_sample *v, int n, torch_device dev, torch_tensor **out) {
    int h = v[0].s.img.h, w = v[0].s.img.w;
    for (int k = 0; k < n; k++)
        if (v[k].s.img.h != h || v[k].s.img.w != w || v[k].s.img.c != 3)
            return yolo_error(YOLO_ERR_FORMAT, "stream sample %" PRId64 " is %dx%d, the batch is %dx%d",
                              v[k].i, v[k].s.img.w, v[k].s.img.h, w, h);
    int64_t shape[4] = {n, 3, h, w};
    torch_tensor *x = NULL;
    yolo_status st = torch_empty(4, shape, TORCH_F32, TORCH_CPU, &x);
    if (st != YOLO_OK) return st;
    /* one pass, instead of planes of bytes, their float copy and its division */
    image_rows a = {v, torch_dense_data_ptr(x), h, w};
    tt_range_job job = {image_rows_fill, &a, (int64_t)n * h};
    st = tt_parallel_jobs(&job, 1, 64);
    if (st == YOLO_OK) st = torch_to(x, TORCH_F32, dev, out);
    torch_free(x);
    return st;
}

/* Buffers reused across batches: grown to n floats when smaller, never shrunk. */
static yolo_status grow(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return YOLO_OK;
    float *t = realloc(*buf, sizeof *t * n);
    if (!t) return yolo_nomem();
    *buf = t;
    *cap = n;
    return YOLO_OK;
}

void val_host_free(val_host *h) {
    free(h->pred);
    free(h->proto);
    memset(h, 0, sizeof *h);
}

yolo_status val_host_copy(const model_output *mo, val_host *h) {
    int64_t cnt = torch_numel(mo->pred);
    yolo_status st = grow(&h->pred, &h->pred_cap, (size_t)cnt);
    if (st == YOLO_OK) st = torch_copy_out(mo->pred, TORCH_F32, h->pred, cnt);
    if (st != YOLO_OK) return st;
    h->rows = h->anchors = h->nm = h->mh = h->mw = 0;
    if (torch_ndim(mo->pred) == 3)
        h->rows = (int)torch_size(mo->pred, 1), h->anchors = (int)torch_size(mo->pred, 2);
    if (!mo->proto) return YOLO_OK;
    int64_t pn = torch_numel(mo->proto);
    h->nm = (int)torch_size(mo->proto, 1), h->mh = (int)torch_size(mo->proto, 2),
    h->mw = (int)torch_size(mo->proto, 3);
    if ((st = grow(&h->proto, &h->proto_cap, (size_t)pn)) != YOLO_OK) return st;
    return torch_copy_out(mo->proto, TORCH_F32, h->proto, pn);
}

yolo_status val_predict(model *m, const stream_sample *v, int n, torch_device dev, val_host *h) {
    bool was = torch_set_grad_enabled(false);
    model_set_training(m, false);
    model_output mo;
    memset(&mo, 0, sizeof mo);
    torch_tensor *x = NULL;
    yolo_status st = val_image_batch(v, n, dev, &x);
    if (st == YOLO_OK) st = model_forward(m, x, &mo);
    torch_free(x);
    if (st == YOLO_OK) st = val_host_copy(&mo, h);
    model_output_free(&mo);
    torch_set_grad_enabled(was);
    return st;
}

/* One label file per image with detections, in the original image's coordinates (Ultralytics' save_txt). */
static yolo_status save_txt(const char *dir, bool conf, const stream_sample *s, nms_dets *d) {
    if (d->n == 0) return YOLO_OK; /* as Ultralytics: no file for an image without detections */
    nms_geom g = {.in_h = s->s.img.h,
                  .in_w = s->s.img.w,
                  .h0 = s->s.ori_h,
                  .w0 = s->s.ori_w,
                  .gain = s->s.ratio_h,
                  .pad_x = s->s.pad_left,
                  .pad_y = s->s.pad_top};
    nms_scale_boxes(d->rows, d->n, d->cols, &g);
    char path[4096];
    nms_txt_path(dir, s->file ? s->file : "image", path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: cannot create (%s)", path, strerror(errno));
    yolo_status st = nms_write_txt(f, d, s->s.ori_w, s->s.ori_h, conf);
    if (fclose(f) != 0 && st == YOLO_OK) st = yolo_error(YOLO_ERR_IO, "%s: write failed", path);
    return st;
}

/* Box (and mask) metrics of the images of a batch; pred (and proto) hold the batch's outputs. */
static yolo_status add_boxes(val *v, const stream_sample *b, int n) {
    const val_host *h = &v->host;
    int nc = v->o.nc, C = h->rows, A = h->anchors, mh = h->mh, mw = h->mw, nm = C - 4 - nc;
    /* the boxes of each image, when something besides the metrics wants them */
    const bool want = v->o.save_txt || v->o.confusion;
    float *gt = NULL, *gc = NULL;
    yolo_status st = YOLO_OK;
    for (int k = 0; k < n && st == YOLO_OK; k++) {
        const stream_sample *ss = &b[k];
        const sample *s = &ss->s;
        const float *pk = h->pred + (size_t)k * C * A;
        int H = s->img.h, W = s->img.w;
        nms_dets d = {0, 6, NULL};
        if (v->seg) {
            if (s->n > 0 && (!ss->mask || ss->mask_h != mh || ss->mask_w != mw)) {
                st = yolo_error(YOLO_ERR_FORMAT,
                                "val sample %" PRId64 " (%s): ground-truth masks missing or not %dx%d", ss->i,
                                ss->file ? ss->file : "image", mw, mh);
                break;
            }
            st = metrics_seg_add_prediction(v->det, v->mask, pk, nc, nm, A, &v->o.nms,
                                            h->proto + (size_t)k * nm * mh * mw, mh, mw, s->boxes, s->cls,
                                            s->n, ss->mask, H, W);
            /* the boxes once more for save_txt or the confusion matrix (cheap next to the network) */
            if (st == YOLO_OK && want) st = nms_run(pk, nc, nm, A, &v->o.nms, &d);
        } else {
            st = metrics_det_add_prediction(v->det, pk, nc, nm, A, &v->o.nms, s->boxes, s->cls, s->n, H, W,
                                            &d);
        }
        if (st == YOLO_OK && v->o.confusion) {
            float *g1 = realloc(gt, sizeof *gt * 4 * (size_t)(s->n + 1));
            float *g2 = g1 ? realloc(gc, sizeof *gc * (size_t)(s->n + 1)) : NULL;
            if (g1) gt = g1;
            if (g2) gc = g2;
            if (!g1 || !g2) st = yolo_nomem();
            /* matched in the letterboxed space, as the metrics are */
            if (st == YOLO_OK) metrics_labels_xyxy(s->boxes, s->cls, s->n, H, W, gt, gc);
            if (st == YOLO_OK)
                st = confusion_add_detections(v->o.confusion, d.rows, d.cols, d.n, gt, gc, s->n);
        }
        if (st == YOLO_OK && v->o.save_txt) st = save_txt(v->o.save_txt, v->o.save_conf, ss, &d);
        nms_dets_free(&d);
    }
    free(gt), free(gc);
    return st;
}

/* The metrics of a batch from the model's eval-mode outputs. */
static yolo_status add_batch(val *v, stream_sample *b, int n, const model_output *mo) {
    yolo_status st = val_host_copy(mo, &v->host);
    if (st != YOLO_OK) return st;
    if (v->cls) {
        int64_t *lab = malloc(sizeof *lab * (size_t)n);
        if (!lab) return yolo_nomem();
        for (int k = 0; k < n; k++) {
            lab[k] = b[k].s.label;
            if (v->o.confusion) {
                int32_t top[5];
                metrics_topk(v->host.pred + (size_t)k * v->o.nc, 1, v->o.nc, top);
                confusion_add_class(v->o.confusion, top[0], b[k].s.label);
            }
        }
        st = metrics_cls_add(&v->top, v->host.pred, n, v->o.nc, lab);
        free(lab);
        return st;
    }
    return add_boxes(v, b, n);
}

static yolo_status run_batch(val *v, model *m, stream_sample *b, int n) {
    double t0 = clock_s();
    model_output mo;
    memset(&mo, 0, sizeof mo);
    torch_tensor *x = NULL;
    yolo_status st = val_image_batch(b, n, v->o.dev, &x);
    double t1 = clock_s();
    if (st == YOLO_OK) st = model_forward(m, x, &mo);
    torch_free(x);
    double t2 = clock_s();
    if (st == YOLO_OK && v->o.on_batch) st = v->o.on_batch(v->o.on_batch_ctx, b, n, &mo);
    if (st == YOLO_OK) st = add_batch(v, b, n, &mo);
    model_output_free(&mo);
    v->seconds[0] += t1 - t0, v->seconds[1] += t2 - t1, v->seconds[2] += clock_s() - t2;
    v->images += n;
    return st;
}

/* A pack: images, the top-k counts (n, correct1, correct5), then the box and the mask accumulators' packs,
 * each after its length (int64 each; a length of 0: no such accumulator). */
yolo_status val_pack(const val *v, unsigned char **out, size_t *len) {
    *out = NULL, *len = 0;
    unsigned char *part[2] = {NULL, NULL};
    size_t plen[2] = {0, 0};
    yolo_status st = YOLO_OK;
    const metrics_det *acc[2] = {v->det, v->mask};
    for (int k = 0; k < 2 && st == YOLO_OK; k++)
        if (acc[k]) st = metrics_det_pack(acc[k], &part[k], &plen[k]);
    int64_t head[6] = {v->images,       v->top.n,         v->top.correct1,
                       v->top.correct5, (int64_t)plen[0], (int64_t)plen[1]};
    size_t size = sizeof head + plen[0] + plen[1];
    unsigned char *b = st == YOLO_OK ? malloc(size) : NULL;
    if (st == YOLO_OK && !b) st = yolo_nomem();
    if (st == YOLO_OK) {
        memcpy(b, head, sizeof head);
        if (plen[0]) memcpy(b + sizeof head, part[0], plen[0]);
        if (plen[1]) memcpy(b + sizeof head + plen[0], part[1], plen[1]);
        *out = b, *len = size;
    }
    free(part[0]);
    free(part[1]);
    return st;
}

yolo_status val_merge(val *v, const unsigned char *pack, size_t len) {
    int64_t head[6];
    if (len < sizeof head) return yolo_error(YOLO_ERR_FORMAT, "val: a pack of %zu bytes is cut short", len);
    memcpy(head, pack, sizeof head);
    metrics_det *acc[2] = {v->det, v->mask};
    if (head[4] < 0 || head[5] < 0 || (uint64_t)head[4] + (uint64_t)head[5] != len - sizeof head ||
        !acc[0] != !head[4] || !acc[1] != !head[5])
        return yolo_error(YOLO_ERR_FORMAT, "val: a pack of another task, or of %zu bytes that do not add up",
                          len);
    yolo_status st = YOLO_OK;
    const unsigned char *p = pack + sizeof head;
    for (int k = 0; k < 2 && st == YOLO_OK; k++) {
        if (acc[k]) st = metrics_det_merge(acc[k], p, (size_t)head[4 + k]);
        p += head[4 + k];
    }
    if (st != YOLO_OK) return st;
    v->images += head[0];
    v->top.n += head[1], v->top.correct1 += head[2], v->top.correct5 += head[3];
    return YOLO_OK;
}

static yolo_status source_next(val_source *src, stream_sample *s, int *got) {
    if (src->r) return stream_reader_next(src->r, s, got);
    yolo_status st = pipeline_make(src->p, src->next++, s);
    *got = st == YOLO_OK;
    return st;
}

static void show_progress(const val *v, int64_t total) {
    if (!v->o.progress) return;
    fprintf(v->o.progress, "\r%s %" PRId64 "/%" PRId64 " images",
            v->o.progress_label ? v->o.progress_label : "val", v->images, total);
    fflush(v->o.progress);
}

yolo_status val_run(val *v, model *m, val_source *src, int64_t total, int bs) {
    stream_sample *b = calloc((size_t)bs, sizeof *b);
    if (!b) return yolo_nomem();
    for (int k = 0; k < bs; k++)
        stream_sample_init(&b[k]);
    bool was = torch_set_grad_enabled(false);
    model_set_training(m, false);
    yolo_status st = YOLO_OK;
    int have = 0;
    stream_sample pending;
    stream_sample_init(&pending);
    for (int64_t i = 0; i <= total && st == YOLO_OK; i++) {
        int got = 0;
        if (i < total && (st = source_next(src, &pending, &got)) != YOLO_OK) break;
        bool flush = have && (!got || have == bs || pending.s.img.h != b[0].s.img.h ||
                              pending.s.img.w != b[0].s.img.w);
        if (flush) {
            st = run_batch(v, m, b, have);
            have = 0;
            show_progress(v, total);
        }
        if (got && st == YOLO_OK) {
            stream_sample_free(&b[have]);
            b[have++] = pending;
            stream_sample_init(&pending);
        }
        if (!got) break;
    }
    if (st == YOLO_OK && have) st = run_batch(v, m, b, have);
    if (v->o.progress) fputs("\r\033[K", v->o.progress);
    torch_set_grad_enabled(was);
    stream_sample_free(&pending);
    for (int k = 0; k < bs; k++)
        stream_sample_free(&b[k]);
    free(b);
    return st;
}

yolo_status val_finish(val *v, val_metrics *out) {
    memset(out, 0, sizeof *out);
    out->fitness = NAN;
    metrics_kv kv[9];
    int n;
    if (v->cls) {
        n = metrics_cls_results(&v->top, kv);
    } else {
        yolo_status st = metrics_det_finalize(v->det, &v->box_ap);
        if (st == YOLO_OK && v->mask) st = metrics_det_finalize(v->mask, &v->mask_ap);
        if (st != YOLO_OK) return st;
        n = metrics_det_results(&v->box_ap, v->mask ? &v->mask_ap : NULL, kv);
    }
    v->finished = true;
    for (int k = 0; k < n; k++) {
        if (!strcmp(kv[k].key, "fitness"))
            out->fitness = kv[k].value;
        else
            out->keys[out->n] = kv[k].key, out->vals[out->n++] = results_round5(kv[k].value);
    }
    return YOLO_OK;
}

const metrics_ap *val_box_ap(const val *v) {
    return v->finished && !v->cls ? &v->box_ap : NULL;
}
const metrics_ap *val_mask_ap(const val *v) {
    return v->finished && v->mask ? &v->mask_ap : NULL;
}

void val_print_table(const val *v, FILE *f, bool verbose) {
    if (!v->finished) return;
    if (v->cls)
        metrics_cls_print_table(f, &v->top);
    else
        metrics_print_table(f, &v->box_ap, v->mask ? &v->mask_ap : NULL, v->o.names, verbose);
}

yolo_status val_write_json(const val *v, FILE *f) {
    if (!v->cls) return metrics_det_write_json(f, &v->box_ap, v->mask ? &v->mask_ap : NULL, v->o.names);
    metrics_kv kv[3];
    int n = metrics_cls_results(&v->top, kv);
    json_writer w;
    json_init(&w, f, true);
    json_begin_object(&w);
    for (int k = 0; k < n; k++) {
        json_write_key(&w, kv[k].key);
        json_write_double(&w, kv[k].value);
    }
    json_write_key(&w, "images");
    json_write_int(&w, v->top.n);
    json_end_object(&w);
    return json_finish(&w);
}

int64_t val_speed(const val *v, double ms[3]) {
    for (int k = 0; k < 3; k++)
        ms[k] = v->images ? 1e3 * v->seconds[k] / (double)v->images : 0;
    return v->images;
}
