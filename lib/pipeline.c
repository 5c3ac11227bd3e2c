#include "yolo/pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/ckpt.h"
#include "yolo/labels.h"
#include "yolo/letterbox.h"
#include "yolo/masks.h"
#include "yolo/rng.h"

/* Ultralytics resamples every polygon to 1000 points when it reads labels. */
#define SEGMENT_RESAMPLE 1000

void pipeline_opts_default(pipeline_opts *o) {
    memset(o, 0, sizeof *o);
    o->split = "train";
    o->augment = true;
    o->shard_n = 1;
    o->shard_block = 1;
    o->batch = 16;
    o->cache_mb = 512;
    augment_cfg_default(&o->aug);
}

struct pipeline {
    const dataset *ds;
    const dataset_split *sp;
    pipeline_opts o;
    char task[16];
    char split[16];
    int64_t n;
    int64_t *order; /* position -> dataset index */
    int *shape_h, *shape_w;
    bool mosaic_on;
    /* Memo of load_fn results: entries are immutable once published, so readers copy them unlocked. */
    pthread_mutex_t cache_mu;
    sample **cache;
    size_t cache_bytes, cache_budget;
};

yolo_status pipeline_open(const dataset *ds, const dataset_split *sp, const pipeline_opts *o,
                          pipeline **out) {
    if (o->shard_n < 1 || o->shard_k < 0 || o->shard_k >= o->shard_n || o->shard_block < 1)
        return yolo_error(YOLO_ERR_USAGE,
                          "bad shard %d/%d in blocks of %lld (k/n with 0 <= k < n, blocks >= 1)", o->shard_k,
                          o->shard_n, (long long)o->shard_block);
    if (o->from < 0) return yolo_error(YOLO_ERR_USAGE, "--from must not be negative");
    if (o->limit < 0) return yolo_error(YOLO_ERR_USAGE, "--count must not be negative");
    if (o->aug.imgsz < 32 || o->aug.imgsz % 32)
        return yolo_error(YOLO_ERR_USAGE, "imgsz %d must be a multiple of 32 (at least 32)", o->aug.imgsz);
    const char *task = o->task;
    const char *auto_task = dataset_is_classify(ds)          ? "classify"
                            : dataset_split_has_segments(sp) ? "segment"
                                                             : "detect";
    if (!task) task = auto_task;
    if (strcmp(task, "detect") && strcmp(task, "segment") && strcmp(task, "classify"))
        return yolo_error(YOLO_ERR_USAGE, "unknown task '%s' (detect, segment or classify)", task);
    if ((strcmp(task, "classify") == 0) != dataset_is_classify(ds))
        return yolo_error(
            YOLO_ERR_USAGE, "task %s does not fit this dataset: it is a %s dataset (%s)", task, auto_task,
            dataset_is_classify(ds) ? "detection and segmentation take a data.yaml with labels"
                                    : "classification takes an image folder: DIR/train/CLASS/*.jpg");
    if (strcmp(task, "segment") == 0 && !o->aug.overlap_mask)
        return yolo_error(YOLO_ERR_USAGE,
                          "overlap_mask=False is not supported (streams carry overlap masks)");
    if (strcmp(task, "segment") == 0 && !dataset_split_has_segments(sp))
        return yolo_error(
            YOLO_ERR_USAGE,
            "task segment needs polygon labels; this split has boxes only (task detect trains on boxes)");
    pipeline *p = calloc(1, sizeof *p);
    if (!p) return yolo_nomem();
    p->ds = ds;
    p->sp = sp;
    p->o = *o;
    snprintf(p->task, sizeof p->task, "%s", task);
    snprintf(p->split, sizeof p->split, "%s", o->split ? o->split : "train");
    p->o.task = p->task;
    p->o.split = p->split;
    p->n = dataset_split_count(sp);
    p->order = malloc(sizeof *p->order * (size_t)(p->n + 1));
    p->cache = calloc((size_t)p->n + 1, sizeof *p->cache);
    p->cache_budget = o->cache_mb < 0 ? SIZE_MAX : o->cache_mb > 0 ? (size_t)o->cache_mb << 20 : 0;
    pthread_mutex_init(&p->cache_mu, NULL);
    yolo_status st = p->order && p->cache ? YOLO_OK : yolo_nomem();
    /* rect batches: validation (pad 0.5), or rect training (pad 0, no shuffle), as Ultralytics' set_rectangle
     */
    bool rect = o->rect && strcmp(task, "classify") != 0;
    p->o.rect = rect;
    p->o.aug.rect = rect && o->augment;
    if (!st && o->augment && !rect) {
        st = rng_permutation(o->seed, (uint64_t)o->epoch, p->n, p->order);
    } else if (!st && rect) {
        if (o->batch < 1) st = yolo_error(YOLO_ERR_USAGE, "--rect needs --batch of at least 1");
        int64_t nb = o->batch > 0 ? (p->n + o->batch - 1) / o->batch : 0;
        int *h = malloc(sizeof *h * (size_t)(p->n + 1)), *w = malloc(sizeof *w * (size_t)(p->n + 1));
        p->shape_h = malloc(sizeof *p->shape_h * (size_t)(nb + 1));
        p->shape_w = malloc(sizeof *p->shape_w * (size_t)(nb + 1));
        if (!st && (!h || !w || !p->shape_h || !p->shape_w)) st = yolo_nomem();
        for (int64_t i = 0; !st && i < p->n; i++)
            dataset_split_shape(sp, i, &h[i], &w[i]);
        if (!st)
            st = augment_rect_batches(h, w, p->n, o->aug.imgsz, o->batch, 32, o->augment ? 0.0 : 0.5,
                                      p->order, p->shape_h, p->shape_w);
        free(h);
        free(w);
    } else if (!st) {
        for (int64_t i = 0; i < p->n; i++)
            p->order[i] = i;
    }
    if (!rect) p->o.batch = 0;
    /* before close_mosaic: mosaic and mixup (never with rect) and copy_paste */
    p->mosaic_on =
        o->augment && strcmp(task, "classify") != 0 &&
        (o->epochs > 0 ? augment_mosaic_active(&o->aug, o->epoch, o->epochs) : o->aug.mosaic > 0 || rect);
    if (st) {
        pipeline_free(p);
        return st;
    }
    *out = p;
    return YOLO_OK;
}

void pipeline_free(pipeline *p) {
    if (!p) return;
    for (int64_t i = 0; p->cache && i < p->n; i++)
        if (p->cache[i]) {
            sample_free(p->cache[i]);
            free(p->cache[i]);
        }
    free(p->cache);
    pthread_mutex_destroy(&p->cache_mu);
    free(p->order);
    free(p->shape_h);
    free(p->shape_w);
    free(p);
}

int64_t pipeline_total(const pipeline *p) {
    return p->n;
}
const char *pipeline_task(const pipeline *p) {
    return p->task;
}

yolo_status pipeline_header(const pipeline *p, stream_header *h) {
    stream_header_init(h);
    snprintf(h->task, sizeof h->task, "%s", p->task);
    snprintf(h->split, sizeof h->split, "%s", p->split);
    h->imgsz = p->o.aug.imgsz;
    h->seed = p->o.seed;
    h->epoch = p->o.epoch;
    h->epochs = p->o.epochs;
    h->total = p->n;
    h->from = p->o.from > p->n ? p->n : p->o.from;
    h->shard_k = p->o.shard_k;
    h->shard_n = p->o.shard_n;
    h->shard_block = p->o.shard_block;
    h->count = stream_shard_count(h->shard_k, h->shard_n, h->shard_block, h->from, h->total);
    if (p->o.limit > 0 && p->o.limit < h->count) h->count = p->o.limit;
    h->augment = p->o.augment;
    h->mosaic = p->mosaic_on && !p->o.aug.rect;
    h->rect = p->o.rect;
    h->batch = p->o.batch;
    h->stride = 32;
    h->mask_ratio = p->o.aug.mask_ratio;
    h->overlap = true;
    stream_header src = *h;
    src.nc = dataset_nc(p->ds);
    src.names = (char **)dataset_names(p->ds);
    return stream_header_copy(h, &src);
}

static yolo_status load_uncached(pipeline *p, int64_t index, sample *out);

/* Ultralytics' load_image: decode, long side to imgsz; labels stay normalised. */
static yolo_status load_fn(void *ctx, int64_t index, sample *out) {
    pipeline *p = ctx;
    if (index < 0 || index >= p->n)
        return yolo_error(YOLO_ERR_USAGE, "image %lld out of range", (long long)index);
    pthread_mutex_lock(&p->cache_mu);
    sample *hit = p->cache[index];
    pthread_mutex_unlock(&p->cache_mu);
    if (hit) return sample_copy(out, hit);
    yolo_status st = load_uncached(p, index, out);
    if (st || !p->cache_budget) return st;
    size_t bytes = (size_t)out->img.h * out->img.w * out->img.c + sizeof(float) * 6 * (size_t)out->n +
                   (out->seg_start ? sizeof(float) * 2 * (size_t)out->seg_start[out->n] : 0) + 256;
    pthread_mutex_lock(&p->cache_mu);
    bool take = !p->cache[index] && p->cache_bytes + bytes <= p->cache_budget;
    if (take) p->cache_bytes += bytes;
    pthread_mutex_unlock(&p->cache_mu);
    if (!take) return YOLO_OK;
    sample *c = malloc(sizeof *c);
    if (c) {
        sample_init(c);
        if (sample_copy(c, out)) {
            free(c);
            c = NULL;
        }
    }
    pthread_mutex_lock(&p->cache_mu);
    if (c && !p->cache[index]) p->cache[index] = c, c = NULL;
    pthread_mutex_unlock(&p->cache_mu);
    if (c) {
        sample_free(c);
        free(c);
    }
    return YOLO_OK;
}

/* Cache entries live until pipeline_free, so a peeked one stays valid for the whole sample. */
static const sample *peek_fn(void *ctx, int64_t index) {
    pipeline *p = ctx;
    if (index < 0 || index >= p->n) return NULL;
    pthread_mutex_lock(&p->cache_mu);
    const sample *hit = p->cache[index];
    pthread_mutex_unlock(&p->cache_mu);
    return hit;
}

int64_t pipeline_cache_bytes(const pipeline *p) {
    int64_t total = 0;
    for (int64_t i = 0; i < p->n; i++) {
        int h, w, rh, rw;
        dataset_split_shape(p->sp, i, &h, &w);
        letterbox_load_size(h, w, p->o.aug.imgsz, &rh, &rw);
        total += (int64_t)rh * rw * 3;
    }
    return total;
}

/* ---- cache=disk: the decoded image in a numpy file beside the image ---- */

static char *npy_path(const pipeline *p, int64_t index) {
    const char *f = dataset_split_file(p->sp, index);
    char *path = malloc(strlen(f) + 9);
    if (path) sprintf(path, "%s.rgb.npy", f);
    return path;
}

/* The numpy 1.0 header of a uint8 HxWx3 array, padded to 64 bytes (ends with a newline). */
static int npy_header(char *buf, int h, int w) {
    char dict[128];
    int n =
        snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, 3), }", h, w);
    int total = (10 + n + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff), buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', (size_t)(total - 10 - n - 1));
    buf[total - 1] = '\n';
    return total;
}

static bool npy_read(const char *path, image *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char head[256];
    int h = 0, w = 0;
    bool ok = fread(head, 1, 10, f) == 10 && !memcmp(head, "\x93NUMPY\x01\x00", 8);
    int hl = ok ? (unsigned char)head[8] | (unsigned char)head[9] << 8 : 0;
    ok = ok && hl > 0 && hl + 10 < (int)sizeof head && fread(head + 10, 1, (size_t)hl, f) == (size_t)hl;
    if (ok) {
        head[10 + hl] = 0;
        const char *shape = strstr(head + 10, "'shape': (");
        ok = strstr(head + 10, "'|u1'") && shape && sscanf(shape, "'shape': (%d, %d, 3)", &h, &w) == 2;
    }
    ok = ok && h > 0 && w > 0 && image_alloc_unfilled(out, h, w, 3) == YOLO_OK;
    if (ok && fread(out->px, 1, (size_t)h * w * 3, f) != (size_t)h * w * 3) {
        image_free(out);
        ok = false;
    }
    fclose(f);
    return ok;
}

/* The decoded image of index: from its .rgb.npy file when there is one, else decoded and written there
 * (a folder that cannot be written just keeps decoding). */
static yolo_status disk_cached_image(pipeline *p, int64_t index, image *out) {
    char *path = npy_path(p, index);
    if (!path) return yolo_nomem();
    yolo_status st = YOLO_OK;
    if (!npy_read(path, out)) {
        st = dataset_split_image(p->sp, index, out);
        char head[128];
        size_t hn = st == YOLO_OK && out->c == 3 ? (size_t)npy_header(head, out->h, out->w) : 0;
        size_t bytes = (size_t)out->h * out->w * 3;
        uint8_t *buf = hn ? malloc(hn + bytes) : NULL;
        if (buf) {
            memcpy(buf, head, hn);
            memcpy(buf + hn, out->px, bytes);
            ckpt_write_file_atomic(path, buf, hn + bytes);
            free(buf);
        }
    }
    free(path);
    return st;
}

static yolo_status load_uncached(pipeline *p, int64_t index, sample *out) {
    image src = {0};
    yolo_status st =
        p->o.cache_disk ? disk_cached_image(p, index, &src) : dataset_split_image(p->sp, index, &src);
    if (st) return st;
    st = sample_copy(out, dataset_split_labels(p->sp, index));
    image res = {0};
    int src_h = src.h, src_w = src.w, rh, rw;
    letterbox_load_size(src_h, src_w, p->o.aug.imgsz, &rh, &rw);
    if (!st && rh == src_h && rw == src_w && src.px) {
        res = src; /* already at the training size: the resize would be a copy */
        src = (image){0};
    } else if (!st)
        st = letterbox_load_resize(&src, p->o.aug.imgsz, &res);
    if (!st) {
        image_free(&out->img);
        out->img = res;
        out->index = index;
        out->ori_h = src_h, out->ori_w = src_w;
        out->res_h = res.h, out->res_w = res.w;
        out->ratio_h = (double)res.h / src_h, out->ratio_w = (double)res.w / src_w;
        out->pad_left = out->pad_top = 0;
        /* Polygons take part in augmentation whatever the task (Ultralytics keeps them in its Instances:
         * random perspective then recomputes boxes from them); a detect stream just does not carry them. */
        st = labels_resample_segments(out, SEGMENT_RESAMPLE);
    }
    image_free(&src);
    return st;
}

static yolo_status make_classify(pipeline *p, int64_t i, int64_t index, stream_sample *out) {
    image src = {0}, dst = {0};
    yolo_status st = dataset_split_image(p->sp, index, &src);
    if (st) return st;
    if (p->o.augment) {
        rng r;
        rng_init(&r, p->o.seed, (uint64_t)p->o.epoch, (uint64_t)i, RNG_STREAM_CLASSIFY);
        st = augment_classify_train(&p->o.aug, &r, &src, &dst);
    } else
        st = augment_classify_val(&p->o.aug, &src, &dst);
    if (!st) {
        sample *s = &out->s;
        s->img = dst;
        s->index = index;
        s->label = dataset_split_labels(p->sp, index)->label;
        s->ori_h = src.h, s->ori_w = src.w;
        s->res_h = dst.h, s->res_w = dst.w;
        s->ratio_h = (double)dst.h / src.h, s->ratio_w = (double)dst.w / src.w;
    }
    image_free(&src);
    return st;
}

yolo_status pipeline_make(pipeline *p, int64_t i, stream_sample *out) {
    stream_sample_free(out);
    if (i < 0 || i >= p->n)
        return yolo_error(YOLO_ERR_USAGE, "sample %lld outside 0..%lld", (long long)i, (long long)p->n - 1);
    int64_t index = p->order[i];
    out->i = i;
    out->file = strdup(dataset_split_file(p->sp, index));
    if (!out->file) return yolo_nomem();
    /* the letterbox shape: the batch's with rect, else imgsz square */
    int64_t b = p->o.rect ? i / p->o.batch : 0;
    int hw[2] = {p->o.rect ? p->shape_h[b] : p->o.aug.imgsz, p->o.rect ? p->shape_w[b] : p->o.aug.imgsz};
    yolo_status st;
    if (strcmp(p->task, "classify") == 0)
        st = make_classify(p, i, index, out);
    else if (p->o.augment) {
        rng r;
        rng_init(&r, p->o.seed, (uint64_t)p->o.epoch, (uint64_t)i, RNG_STREAM_AUGMENT);
        st = augment_train_peek(&p->o.aug, p->mosaic_on, p->o.rect ? hw : NULL, &r, load_fn, peek_fn, p, p->n,
                                index, &out->s);
    } else {
        st = load_fn(p, index, &out->s);
        if (!st) st = augment_val(&out->s, hw[0], hw[1]);
    }
    if (!st && strcmp(p->task, "segment") == 0) {
        sample *s = &out->s;
        int ratio = p->o.aug.mask_ratio > 0 ? p->o.aug.mask_ratio : 4;
        out->mask_h = s->img.h / ratio, out->mask_w = s->img.w / ratio;
        out->mask = calloc((size_t)out->mask_h * out->mask_w + 1, sizeof *out->mask);
        if (!out->mask) st = yolo_nomem();
        if (!st) st = masks_overlap(s, ratio, out->mask, NULL);
        if (!st && s->seg_start) {
            /* The stream carries the mask; polygons of 1000 points each would only add bytes. */
            free(s->seg_start), free(s->seg_xy);
            s->seg_start = NULL, s->seg_xy = NULL, s->seg_cap = 0;
        }
    }
    if (!st && strcmp(p->task, "segment") != 0 && out->s.seg_start) {
        sample *s = &out->s;
        free(s->seg_start), free(s->seg_xy);
        s->seg_start = NULL, s->seg_xy = NULL, s->seg_cap = 0;
    }
    if (st) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", yolo_last_error());
        stream_sample_free(out);
        return yolo_error(st, "sample %lld (%s): %s", (long long)i, dataset_split_file(p->sp, index), msg);
    }
    return YOLO_OK;
}

/* ---- parallel production, ordered output ---- */

typedef struct {
    pipeline *p;
    int shard_k, shard_n; /* samples j < count: the shard's j-th index at or after from */
    int64_t block, from, count;
    pthread_mutex_t mu;
    pthread_cond_t cv_slot, cv_done;
    int64_t next_claim; /* next j to make */
    int64_t written;    /* j's written so far */
    int window;
    uint8_t **buf; /* per slot (j % window) */
    size_t *len;
    bool *ready;
    bool failed;
    yolo_status err;
    char err_msg[1024];
    int64_t err_j;
} prod;

static void *producer(void *arg) {
    prod *pr = arg;
    stream_sample s;
    stream_sample_init(&s);
    for (;;) {
        pthread_mutex_lock(&pr->mu);
        while (!pr->failed && pr->next_claim < pr->count && pr->next_claim >= pr->written + pr->window)
            pthread_cond_wait(&pr->cv_slot, &pr->mu);
        if (pr->failed || pr->next_claim >= pr->count) {
            pthread_mutex_unlock(&pr->mu);
            break;
        }
        int64_t j = pr->next_claim++;
        pthread_mutex_unlock(&pr->mu);
        uint8_t *b = NULL;
        size_t l = 0;
        int64_t i = stream_shard_index(pr->shard_k, pr->shard_n, pr->block, pr->from, j);
        yolo_status st = pipeline_make(pr->p, i, &s);
        if (!st) st = stream_encode_sample(&s, &b, &l);
        stream_sample_free(&s);
        pthread_mutex_lock(&pr->mu);
        if (st) {
            if (!pr->failed || j < pr->err_j) {
                pr->err = st;
                pr->err_j = j;
                snprintf(pr->err_msg, sizeof pr->err_msg, "%s", yolo_last_error());
            }
            pr->failed = true;
            pthread_cond_broadcast(&pr->cv_slot);
        } else {
            int slot = (int)(j % pr->window);
            pr->buf[slot] = b;
            pr->len[slot] = l;
            pr->ready[slot] = true;
        }
        pthread_cond_broadcast(&pr->cv_done);
        pthread_mutex_unlock(&pr->mu);
    }
    return NULL;
}

yolo_status pipeline_write(pipeline *p, FILE *f, const char *name) {
    stream_header h;
    yolo_status st = pipeline_header(p, &h);
    if (st) return st;
    stream_writer *w = NULL;
    st = stream_writer_open(f, name, &h, &w);
    prod pr = {.p = p,
               .shard_k = h.shard_k,
               .shard_n = h.shard_n,
               .block = h.shard_block,
               .from = h.from,
               .count = h.count};
    stream_header_free(&h);
    if (st) return st;
    int workers = p->o.workers > 0 ? p->o.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1) workers = 1;
    if (workers > 256) workers = 256;
    pr.window = 2 * workers + 2;
    pr.buf = calloc((size_t)pr.window, sizeof *pr.buf);
    pr.len = calloc((size_t)pr.window, sizeof *pr.len);
    pr.ready = calloc((size_t)pr.window, sizeof *pr.ready);
    pthread_t *th = calloc((size_t)workers, sizeof *th);
    if (!pr.buf || !pr.len || !pr.ready || !th) {
        free(pr.buf), free(pr.len), free(pr.ready), free(th);
        stream_writer_free(w);
        return yolo_nomem();
    }
    pthread_mutex_init(&pr.mu, NULL);
    pthread_cond_init(&pr.cv_slot, NULL);
    pthread_cond_init(&pr.cv_done, NULL);
    int started = 0;
    for (int k = 0; k < workers; k++)
        if (pthread_create(&th[started], NULL, producer, &pr) == 0) started++;
    if (started == 0) {
        st = yolo_error(YOLO_ERR_NOMEM, "cannot start worker threads");
        pr.failed = true;
    }
    /* Write in order; a failed sample stops the stream before it, so no trailer is written and readers
     * see a truncated stream. */
    while (!st) {
        pthread_mutex_lock(&pr.mu);
        if (pr.written >= pr.count) {
            pthread_mutex_unlock(&pr.mu);
            break;
        }
        int slot = (int)(pr.written % pr.window);
        while (!pr.ready[slot] && !(pr.failed && pr.err_j <= pr.written))
            pthread_cond_wait(&pr.cv_done, &pr.mu);
        if (!pr.ready[slot]) {
            st = yolo_error(pr.err, "%s", pr.err_msg);
            pthread_mutex_unlock(&pr.mu);
            break;
        }
        uint8_t *b = pr.buf[slot];
        size_t l = pr.len[slot];
        pr.buf[slot] = NULL;
        pr.ready[slot] = false;
        pthread_mutex_unlock(&pr.mu);
        st = stream_writer_put_raw(w, b, l);
        free(b);
        pthread_mutex_lock(&pr.mu);
        pr.written++;
        if (st) pr.failed = true;
        pthread_cond_broadcast(&pr.cv_slot);
        pthread_mutex_unlock(&pr.mu);
    }
    if (st) {
        pthread_mutex_lock(&pr.mu);
        pr.failed = true;
        pthread_cond_broadcast(&pr.cv_slot);
        pthread_mutex_unlock(&pr.mu);
    }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    if (!st)
        st = stream_writer_finish(w);
    else
        fflush(f);
    for (int k = 0; k < pr.window; k++)
        free(pr.buf[k]);
    free(pr.buf), free(pr.len), free(pr.ready), free(th);
    pthread_mutex_destroy(&pr.mu);
    pthread_cond_destroy(&pr.cv_slot);
    pthread_cond_destroy(&pr.cv_done);
    stream_writer_free(w);
    return st;
}
