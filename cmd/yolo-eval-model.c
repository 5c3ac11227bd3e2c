/* yolo-eval-model: the model= mode of yolo-eval (it execs this tool), kept in its own binary so that
 * scoring saved predictions never loads libtorch.
 *
 * Runs a detection checkpoint (ours or Ultralytics') over a dataset split the way Ultralytics'
 * standalone val does: rect batches, letterboxed without upscaling, NMS, matching in the letterboxed
 * space, then the same metrics and table as yolo-eval preds=. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "yolo/ckpt.h"
#include "yolo/args.h"
#include "yolo/cli.h"
#include "yolo/confusion.h"
#include "yolo/dataset.h"
#include "yolo/draw.h"
#include "yolo/infer.h"
#include "yolo/interrupt.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"
#include "yolo/pipeline.h"
#include "yolo/plot.h"
#include "yolo/status.h"
#include "yolo/stream.h"
#include "yolo/val.h"

static const char *const TOOL = "yolo-eval";

static const char *const USAGE =
    "usage: yolo-eval model=CKPT data=DATA.yaml [split=val] [imgsz=N] [batch=16] [conf=0.001]\n"
    "                 [iou=0.7] [max_det=300] [device=cpu] [threads=N] [save_txt=DIR] [save_conf=true]\n"
    "                 [agnostic_nms=false] [plots=DIR] [multi_label=true] [--json]\n"
    "\n"
    "Runs a detection checkpoint (yolo-tools or Ultralytics) over a dataset split as Ultralytics' val\n"
    "does (rect batches, letterbox, NMS) and prints its table. See yolo-eval(1).\n";

typedef struct {
    const char *model, *data, *split, *device, *save_txt, *save_conf, *agnostic_nms, *plots;
    int imgsz, batch, max_det, threads;
    double conf, iou;
    bool json, multi_label;
} margs;

static int parse_args(int argc, char **argv, margs *a) {
    *a = (margs){.split = "val",
                 .device = "cpu",
                 .imgsz = 0,
                 .batch = (int)args_default_num("batch"),
                 .max_det = (int)args_default_num("max_det"),
                 .conf = VAL_CONF,
                 .iou = args_default_num("iou"),
                 .multi_label = true};
    const char *multi_label = NULL;
    const cli_setting settings[] = {
        CLI_TEXT("model", &a->model),
        CLI_TEXT("data", &a->data),
        CLI_TEXT("split", &a->split),
        CLI_INT_IN("imgsz", &a->imgsz, 32, 8192, "an integer 32..8192"),
        CLI_INT_IN("batch", &a->batch, 1, 4096, "an integer 1..4096"),
        CLI_DOUBLE_IN("conf", &a->conf, 0, 1, "a number between 0 and 1"),
        CLI_DOUBLE_IN("iou", &a->iou, 0, 1, "a number between 0 and 1"),
        CLI_INT_IN("max_det", &a->max_det, 1, 1000000, "a positive integer"),
        CLI_TEXT("device", &a->device),
        CLI_INT_IN("threads", &a->threads, 1, 1024, "a positive integer"),
        CLI_TEXT("save_txt", &a->save_txt),
        CLI_TEXT("plots", &a->plots),
        CLI_TEXT("multi_label", &multi_label),
        CLI_TEXT("save_conf", &a->save_conf),
        CLI_TEXT("agnostic_nms", &a->agnostic_nms),
    };
    const cli_flag flags[] = {{"--json", &a->json}};
    int rc = cli_parse_settings(TOOL, USAGE, settings, (int)(sizeof settings / sizeof *settings), flags, 1,
                                argc, argv);
    if (rc) return rc;
    if (!a->model) return cli_usage_error(TOOL, "model=CKPT is required");
    if (multi_label && !cli_parse_bool(multi_label, &a->multi_label))
        return cli_usage_error(TOOL, "multi_label must be true or false, not '%s'", multi_label);
    if (!a->data && isatty(0))
        return cli_usage_error(TOOL,
                               "data=PATH is required (or pipe a yolo-data validation stream into stdin)");
    return 0;
}

/* The dataset's classes must be the checkpoint's, in order: otherwise class ids mean other things. */
static yolo_status check_names(const infer *m, const dataset *ds, const char *data) {
    int nc = dataset_nc(ds);
    const char *const *dn = dataset_names(ds), *const *mn = infer_names(m);
    if (nc != infer_nc(m))
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: %d classes but the model has %d (evaluate with the data it was trained on)",
                          data, nc, infer_nc(m));
    for (int c = 0; c < nc; c++)
        if (strcmp(dn[c], mn[c]) != 0)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: class %d is '%s' but the model calls it '%s' (other class names)", data, c,
                              dn[c], mn[c]);
    return YOLO_OK;
}

static yolo_status check_header(const infer *m, const stream_header *h) {
    const char *const *mn = infer_names(m);
    if (strcmp(h->task, infer_task(m)) != 0)
        return yolo_error(YOLO_ERR_FORMAT, "stdin: a %s stream but the model is a %s model", h->task,
                          infer_task(m));
    if (h->augment)
        return yolo_error(YOLO_ERR_FORMAT,
                          "stdin: an augmented (train) stream (make it with yolo-data --split val)");
    if (h->nc != infer_nc(m))
        return yolo_error(YOLO_ERR_FORMAT, "stdin: %d classes but the model has %d", h->nc, infer_nc(m));
    for (int c = 0; c < h->nc; c++)
        if (strcmp(h->names[c], mn[c]) != 0)
            return yolo_error(YOLO_ERR_FORMAT,
                              "stdin: class %d is '%s' but the model calls it '%s' (other class names)", c,
                              h->names[c], mn[c]);
    return YOLO_OK;
}

/* ---- plots= (Ultralytics' val plots): the confusion matrices (counted by val.c), the curves, and the
 * first three batches' labels and predictions ---- */

#define PLOT_BATCHES 3

typedef struct {
    const char *dir;
    infer *m;
    nms_opts nms;
    confusion cm;
    val_host host;
    int batches; /* val_batch pictures drawn */
} val_plots;

static int argmax(const float *p, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

/* One image's predictions as a tile: boxes (network-input pixels), confidences, classes and, for
 * segment, masks at prototype resolution; the arrays are allocated into buf/cls/masks. */
static yolo_status pred_tile(val_plots *vp, const stream_sample *s, int k, draw_tile *t, float **buf,
                             int **cls, uint8_t **masks) {
    const val_host *h = &vp->host;
    int nc = infer_nc(vp->m);
    *t = (draw_tile){.img = &s->s.img, .file = s->file, .label = -1, .label_conf = -1};
    if (!h->rows) { /* classify */
        const float *p = h->pred + (size_t)k * nc;
        t->label = argmax(p, nc), t->label_conf = p[t->label];
        return YOLO_OK;
    }
    nms_dets d;
    int nm = h->rows - 4 - nc;
    yolo_status st = nms_run(h->pred + (size_t)k * h->rows * h->anchors, nc, nm, h->anchors, &vp->nms, &d);
    if (st != YOLO_OK) return st;
    *buf = malloc(sizeof **buf * 5 * (size_t)(d.n + 1));
    *cls = malloc(sizeof **cls * (size_t)(d.n + 1));
    if (h->proto) *masks = malloc((size_t)(d.n + 1) * h->mh * h->mw);
    if (!*buf || !*cls || (h->proto && !*masks)) st = yolo_nomem();
    for (int j = 0; st == YOLO_OK && j < d.n; j++) {
        const float *r = d.rows + (size_t)j * d.cols;
        memcpy(*buf + 4 * (size_t)j, r, 4 * sizeof(float));
        (*buf)[4 * (size_t)d.n + j] = r[4];
        (*cls)[j] = (int)r[5];
    }
    if (st == YOLO_OK && h->proto && d.n)
        st = metrics_process_mask(h->proto + (size_t)k * nm * h->mh * h->mw, nm, h->mh, h->mw, d.rows + 6,
                                  d.cols, d.rows, d.cols, d.n, s->s.img.h, s->s.img.w, *masks);
    t->n = d.n, t->cls = *cls, t->xyxy = *buf, t->conf = *buf + 4 * (size_t)d.n;
    if (h->proto) t->masks = *masks, t->mh = h->mh, t->mw = h->mw;
    nms_dets_free(&d);
    return st;
}

/* val's per-batch hook: val_batchN_labels.jpg and val_batchN_pred.jpg of the first three batches. */
static yolo_status plot_batch(void *ctx, stream_sample *v, int n, const model_output *mo) {
    val_plots *vp = ctx;
    if (vp->batches >= PLOT_BATCHES) return YOLO_OK;
    draw_tile *lt = calloc((size_t)n, sizeof *lt), *pt = calloc((size_t)n, sizeof *pt);
    float **buf = calloc((size_t)n, sizeof *buf);
    int **cls = calloc((size_t)n, sizeof *cls);
    uint8_t **masks = calloc((size_t)n, sizeof *masks);
    yolo_status st = lt && pt && buf && cls && masks ? val_host_copy(mo, &vp->host) : yolo_nomem();
    for (int k = 0; st == YOLO_OK && k < n; k++) {
        lt[k] = draw_tile_of_sample(&v[k]);
        st = pred_tile(vp, &v[k], k, &pt[k], &buf[k], &cls[k], &masks[k]);
    }
    char path[4096];
    int nc = infer_nc(vp->m);
    snprintf(path, sizeof path, "%s/val_batch%d_labels.jpg", vp->dir, vp->batches);
    if (st == YOLO_OK) st = draw_batch(lt, n, 16, infer_names(vp->m), nc, path);
    snprintf(path, sizeof path, "%s/val_batch%d_pred.jpg", vp->dir, vp->batches);
    if (st == YOLO_OK) st = draw_batch(pt, n, 16, infer_names(vp->m), nc, path);
    for (int k = 0; k < n && buf; k++)
        free(buf[k]), free(cls[k]), free(masks[k]);
    free(lt), free(pt), free(buf), free(cls), free(masks);
    vp->batches++;
    return st;
}

/* After each batch: an interrupt ends the run here; the first batches are drawn when plotting (ctx). */
static yolo_status each_batch(void *ctx, stream_sample *v, int n, const model_output *mo) {
    if (interrupt_signal) return yolo_error(YOLO_ERR_IO, "interrupted");
    return ctx ? plot_batch(ctx, v, n, mo) : YOLO_OK;
}

/* After the run: the confusion matrices and the curves. */
static yolo_status plots_finish(val_plots *vp, const val *v) {
    const char *const *names = infer_names(vp->m);
    yolo_status st = plot_confusion(&vp->cm, names, false, vp->dir);
    if (st == YOLO_OK) st = plot_confusion(&vp->cm, names, true, vp->dir);
    if (st == YOLO_OK && val_box_ap(v)) st = plot_curves(val_box_ap(v), names, "Box", vp->dir);
    if (st == YOLO_OK && val_mask_ap(v)) st = plot_curves(val_mask_ap(v), names, "Mask", vp->dir);
    return st;
}

static int run(const margs *a) {
    infer *m = NULL;
    dataset *ds = NULL;
    dataset_split *sp = NULL;
    val_source src = {0};
    val *v = NULL;
    val_plots vp = {.dir = a->plots};
    bool stopped = false; /* by an interrupt */
    int64_t total = 0;
    int bsz = a->batch;
    yolo_status st = infer_open(a->model, a->device, a->threads, &m);
    if (st != YOLO_OK) goto done;
    const char *task = infer_task(m);
    /* as Ultralytics' val of a .pt: the size the model was trained at, unless imgsz= is given */
    int imgsz = a->imgsz ? a->imgsz : infer_train_imgsz(m) ? infer_train_imgsz(m) : 640;
    if (a->save_txt && !strcmp(task, "classify")) {
        st = yolo_error(YOLO_ERR_USAGE, "save_txt= writes boxes; a classification model has none");
        goto done;
    }
    if (a->save_txt && (st = ckpt_mkdirs(a->save_txt)) != YOLO_OK) goto done;
    if (a->plots && (st = ckpt_mkdirs(a->plots)) != YOLO_OK) goto done;
    if (a->data) {
        if ((st = dataset_open(a->data, &ds)) != YOLO_OK) goto done;
        if ((st = check_names(m, ds, a->data)) != YOLO_OK) goto done;
        dataset_load_opts lo = {.workers = 0, .no_cache = true};
        if ((st = dataset_split_load(ds, a->split, &lo, &sp)) != YOLO_OK) goto done;
        dataset_report_warn(dataset_split_report(sp), stderr, TOOL, a->split);
        pipeline_opts po;
        pipeline_opts_default(&po);
        po.task = task;
        po.split = a->split;
        po.augment = false;
        po.rect = strcmp(task, "classify") != 0;
        po.batch = a->batch;
        po.aug.imgsz = imgsz;
        if ((st = pipeline_open(ds, sp, &po, &src.p)) != YOLO_OK) goto done;
        total = pipeline_total(src.p);
    } else {
        if ((st = stream_reader_open(stdin, "stdin", &src.r)) != YOLO_OK) goto done;
        const stream_header *h = stream_reader_header(src.r);
        if ((st = check_header(m, h)) != YOLO_OK) goto done;
        bsz = h->rect && h->batch > 0 ? h->batch : a->batch;
        imgsz = h->imgsz;
        total = h->count;
    }
    val_opts vo;
    val_opts_default(&vo);
    vo.task = task;
    vo.nc = infer_nc(m);
    vo.names = infer_names(m);
    vo.dev = infer_device(m);
    vo.nms.conf_thres = a->conf;
    vo.nms.iou_thres = a->iou;
    vo.nms.max_det = a->max_det;
    /* multi_label=false: one class per box, as predict keeps them (Ultralytics' val always takes every
     * class above conf) */
    vo.nms.multi_label = a->multi_label;
    vo.save_txt = a->save_txt;
    vo.save_conf = !a->save_conf || !strcasecmp(a->save_conf, "true");
    vo.nms.agnostic = a->agnostic_nms && !strcasecmp(a->agnostic_nms, "true");
    vo.on_batch = each_batch;
    if (a->plots) {
        if ((st = confusion_init(&vp.cm, vo.nc, strcmp(task, "classify") != 0)) != YOLO_OK) goto done;
        vp.m = m, vp.nms = vo.nms;
        vo.confusion = &vp.cm;
        vo.on_batch_ctx = &vp;
    }
    /* a progress line only for people: a terminal on stderr */
    vo.progress = isatty(2) ? stderr : NULL;
    char label[64];
    snprintf(label, sizeof label, "%s: %s", TOOL, a->data ? a->split : "stdin");
    vo.progress_label = label;
    val_metrics vm;
    if ((st = val_new(&vo, &v)) != YOLO_OK ||
        (st = val_run(v, infer_model(m), &src, total, bsz)) != YOLO_OK ||
        (st = val_finish(v, &vm)) != YOLO_OK)
        goto done;
    val_print_table(v, a->json ? stderr : stdout, true);
    double ms[3];
    val_speed(v, ms);
    fprintf(
        stderr,
        "Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (%d, 3, %d, %d)\n",
        ms[0], ms[1], ms[2], bsz, imgsz, imgsz);
    if (a->json) st = val_write_json(v, stdout);
    if (st == YOLO_OK && a->plots && (st = plots_finish(&vp, v)) == YOLO_OK)
        fprintf(stderr, "Results saved to %s\n", a->plots);
done:
    if (interrupt_signal && st != YOLO_OK) {
        /* (the batch pictures so far are whole: each is renamed into place) */
        fprintf(stderr, "%s: interrupted; nothing was scored\n", TOOL);
        stopped = true;
    }
    val_free(v);
    val_host_free(&vp.host);
    confusion_free(&vp.cm);
    pipeline_free(src.p);
    stream_reader_free(src.r);
    dataset_split_free(sp);
    dataset_free(ds);
    infer_free(m);
    if (stopped) return 128 + interrupt_signal;
    return yolo_report(TOOL, st);
}

int main(int argc, char **argv) {
    margs a;
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return YOLO_EXIT_OK;
    if (rc) return rc;
    (void)torch_memory_reuse(-1); /* batch after batch, the same tensors: without the pool, only slower */
    interrupt_catch();            /* Ctrl+C: stops after the batch, says so */
    return run(&a);
}
