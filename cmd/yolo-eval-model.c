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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "yolo/ckpt.h"
#include "yolo/cli.h"
#include "yolo/ckptfmt.h"
#include "yolo/dataset.h"
#include "yolo/json.h"
#include "yolo/metrics.h"
#include "yolo/model.h"
#include "yolo/modelcfg.h"
#include "yolo/nms.h"
#include "yolo/pipeline.h"
#include "yolo/status.h"
#include "yolo/stream.h"
#include "yolo/torch.h"

static const char *const TOOL = "yolo-eval";

static const char *const USAGE =
    "usage: yolo-eval model=CKPT data=DATA.yaml [split=val] [imgsz=N] [batch=16] [conf=0.001]\n"
    "                 [iou=0.7] [max_det=300] [device=cpu] [threads=N] [save_txt=DIR] [--json]\n"
    "\n"
    "Runs a detection checkpoint (yolo-tools or Ultralytics) over a dataset split as Ultralytics' val\n"
    "does (rect batches, letterbox, NMS) and prints its table. See yolo-eval(1).\n";

typedef struct {
    const char *model, *data, *split, *device, *save_txt;
    int imgsz, batch, max_det, threads;
    double conf, iou;
    bool json;
} margs;

static int parse_args(int argc, char **argv, margs *a) {
    *a = (margs){
        .split = "val", .device = "cpu", .imgsz = 0, .batch = 16, .max_det = 300, .conf = 0.001, .iou = 0.7};
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
    };
    const cli_flag flags[] = {{"--json", &a->json}};
    int rc = cli_parse_settings(TOOL, USAGE, settings, (int)(sizeof settings / sizeof *settings), flags, 1, argc, argv);
    if (rc) return rc;
    if (!a->model) return cli_usage_error(TOOL, "model=CKPT is required");
    if (!a->data && isatty(0))
        return cli_usage_error(TOOL, "data=PATH is required (or pipe a yolo-data validation stream into stdin)");
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Class names of a checkpoint (dict int -> str) into a malloc'ed array of nc borrowed strings. */
static yolo_status ckpt_names(const yv *names, int nc, const char ***out) {
    *out = NULL;
    if (!names || names->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "no class names in the checkpoint");
    const char **v = calloc(nc ? nc : 1, sizeof *v);
    if (!v) return yolo_error(YOLO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < names->dict.n; k++) {
        int64_t id;
        const char *s = yv_as_str(names->dict.vals[k]);
        if (yv_as_int(names->dict.keys[k], &id) && id >= 0 && id < nc && s) v[id] = s;
    }
    for (int c = 0; c < nc; c++)
        if (!v[c]) {
            free(v);
            return yolo_error(YOLO_ERR_FORMAT, "the checkpoint has no name for class %d", c);
        }
    *out = v;
    return YOLO_OK;
}

typedef struct {
    yv_doc *doc;
    yv *root;
    const char *task;
    int nc;
    const char **names;
    model *net;
} loaded;

static yolo_status load_model(const margs *a, torch_device dev, loaded *L) {
    memset(L, 0, sizeof *L);
    yolo_status st = ckpt_read(a->model, NULL, &L->doc, &L->root);
    if (st != YOLO_OK) return st;
    ckptfmt_kind_t kind = ckptfmt_kind(L->root);
    yv *ours = L->root;
    if (kind == CKPTFMT_ULTRA_TRAINING || kind == CKPTFMT_ULTRA_STRIPPED) {
        if ((st = ckptfmt_import(L->doc, L->root, a->model, &ours)) != YOLO_OK)
            return yolo_error_prefix(st, a->model);
    } else if (kind != CKPTFMT_OURS_TRAINING && kind != CKPTFMT_OURS_STRIPPED) {
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: %s, not a model checkpoint (give last.pt, best.pt or an Ultralytics .pt)",
                          a->model, ckptfmt_kind_describe(kind));
    }
    L->root = ours;
    L->task = yv_as_str(yv_dict_get(ours, CKPTFMT_KEY_TASK));
    if (!L->task) return yolo_error(YOLO_ERR_FORMAT, "%s: no task in the checkpoint", a->model);
    if (strcmp(L->task, "detect") && strcmp(L->task, "segment") && strcmp(L->task, "classify"))
        return yolo_error(YOLO_ERR_FORMAT, "%s: unknown task '%s' in the checkpoint", a->model, L->task);
    int64_t nc = 0;
    if (!yv_as_int(yv_dict_get(ours, CKPTFMT_KEY_NC), &nc) || nc < 1 || nc > 100000)
        return yolo_error(YOLO_ERR_FORMAT, "%s: no class count in the checkpoint", a->model);
    L->nc = (int)nc;
    if ((st = ckpt_names(yv_dict_get(ours, CKPTFMT_KEY_NAMES), L->nc, &L->names)) != YOLO_OK)
        return yolo_error_prefix(st, a->model);
    const yv *yaml = yv_dict_get(ours, CKPTFMT_KEY_YAML);
    const char *yaml_file = yv_as_str(yv_dict_get(yaml, "yaml_file"));
    if (!yaml_file)
        return yolo_error(YOLO_ERR_FORMAT, "%s: the checkpoint does not name its model YAML", a->model);
    modelcfg *cfg = NULL;
    if ((st = modelcfg_load(yaml_file, L->nc, &cfg)) != YOLO_OK) return yolo_error_prefix(st, a->model);
    st = model_build(cfg, dev, &L->net);
    modelcfg_free(cfg);
    if (st != YOLO_OK) return st;
    const char *which = NULL;
    const yv *sd = ckptfmt_weights(L->doc, ours, &which);
    if (!sd) return yolo_error(YOLO_ERR_FORMAT, "%s: the checkpoint holds no weights", a->model);
    int got = 0;
    if ((st = model_load_state_dict(L->net, sd, &got, NULL, 0)) != YOLO_OK)
        return yolo_error_prefix(st, a->model);
    if (got != model_param_count(L->net))
        return yolo_error(YOLO_ERR_FORMAT, "%s: only %d of %d weights fit a %s model with %d classes",
                          a->model, got, model_param_count(L->net), yaml_file, L->nc);
    model_set_training(L->net, false);
    return YOLO_OK;
}

static void loaded_free(loaded *L) {
    model_free(L->net);
    free(L->names);
    yv_doc_free(L->doc);
}

/* The dataset's classes must be the checkpoint's, in order: otherwise class ids mean other things. */
static yolo_status check_names(const loaded *L, const dataset *ds, const char *data) {
    int nc = dataset_nc(ds);
    const char *const *dn = dataset_names(ds);
    if (nc != L->nc)
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: %d classes but the model has %d (evaluate with the data it was trained on)",
                          data, nc, L->nc);
    for (int c = 0; c < nc; c++)
        if (strcmp(dn[c], L->names[c]) != 0)
            return yolo_error(YOLO_ERR_FORMAT,
                              "%s: class %d is '%s' but the model calls it '%s' (other class names)", data, c,
                              dn[c], L->names[c]);
    return YOLO_OK;
}

static yolo_status check_header(const loaded *L, const stream_header *h) {
    if (strcmp(h->task, L->task) != 0)
        return yolo_error(YOLO_ERR_FORMAT, "stdin: a %s stream but the model is a %s model", h->task,
                          L->task);
    if (h->augment)
        return yolo_error(YOLO_ERR_FORMAT,
                          "stdin: an augmented (train) stream (make it with yolo-data --split val)");
    if (h->nc != L->nc)
        return yolo_error(YOLO_ERR_FORMAT, "stdin: %d classes but the model has %d", h->nc, L->nc);
    for (int c = 0; c < h->nc; c++)
        if (strcmp(h->names[c], L->names[c]) != 0)
            return yolo_error(YOLO_ERR_FORMAT,
                              "stdin: class %d is '%s' but the model calls it '%s' (other class names)", c,
                              h->names[c], L->names[c]);
    return YOLO_OK;
}

/* Where validation samples come from: the dataset through the pipeline, or a stream on stdin. */
typedef struct {
    pipeline *pl;
    int64_t next, total;
    stream_reader *r;
    int bsz; /* images per batch: rect batches must stay whole */
} source;

static yolo_status source_next(source *src, stream_sample *v, int *got) {
    if (src->r) return stream_reader_batch(src->r, v, src->bsz, got);
    int n = (int)(src->total - src->next < src->bsz ? src->total - src->next : src->bsz);
    for (int k = 0; k < n; k++) {
        yolo_status st = pipeline_make(src->pl, src->next + k, &v[k]);
        if (st != YOLO_OK) return st;
    }
    src->next += n;
    *got = n;
    return YOLO_OK;
}

static yolo_status save_txt(const char *dir, const stream_sample *s, nms_dets *d) {
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
    yolo_status st = nms_write_txt(f, d, s->s.ori_w, s->s.ori_h, true);
    if (fclose(f) != 0 && st == YOLO_OK) st = yolo_error(YOLO_ERR_IO, "%s: write failed", path);
    return st;
}

/* Buffers reused across batches: grown to n floats when smaller, never shrunk. */
static yolo_status grow(float **buf, size_t *cap, size_t n, const char *what) {
    if (n <= *cap) return YOLO_OK;
    float *t = realloc(*buf, sizeof *t * n);
    if (!t) return yolo_error(YOLO_ERR_NOMEM, "out of memory for %s", what);
    *buf = t;
    *cap = n;
    return YOLO_OK;
}

static int run(const margs *a) {
    torch_device dev;
    yolo_status st = torch_device_parse(a->device, &dev);
    if (st != YOLO_OK) return yolo_report(TOOL, YOLO_ERR_USAGE);
    if (a->threads > 0) torch_set_threads(a->threads);
    torch_set_grad_enabled(false);
    if (a->save_txt) {
        struct stat sb;
        if (stat(a->save_txt, &sb) != 0 && mkdir(a->save_txt, 0777) != 0) {
            yolo_error(YOLO_ERR_IO, "%s: cannot create the folder (%s)", a->save_txt, strerror(errno));
            return yolo_report(TOOL, YOLO_ERR_IO);
        }
    }
    loaded L;
    dataset *ds = NULL;
    dataset_split *sp = NULL;
    pipeline *pl = NULL;
    metrics_det *acc = NULL, *macc = NULL;
    metrics_cls cls_acc;
    metrics_cls_clear(&cls_acc);
    float *proto = NULL;
    size_t proto_cap = 0;
    stream_sample *batch = NULL;
    float *img = NULL, *pred = NULL;
    model_output out;
    memset(&out, 0, sizeof out);
    int nb = 0, nbatch = 0;
    source src = {0};
    const char *data_name = a->data ? a->data : "stdin";
    if ((st = load_model(a, dev, &L)) != YOLO_OK) goto done;
    /* as Ultralytics' val of a .pt: the size the model was trained at, unless imgsz= is given */
    int imgsz = a->imgsz;
    int64_t train_imgsz = 0;
    if (!imgsz && yv_as_int(yv_path(L.root, "train_args.imgsz"), &train_imgsz) && train_imgsz >= 32 &&
        train_imgsz <= 8192)
        imgsz = (int)train_imgsz;
    if (!imgsz) imgsz = 640;
    if (a->data) {
        if ((st = dataset_open(a->data, &ds)) != YOLO_OK) goto done;
        if ((st = check_names(&L, ds, a->data)) != YOLO_OK) goto done;
        dataset_load_opts lo = {.workers = 0, .no_cache = true};
        if ((st = dataset_split_load(ds, a->split, &lo, &sp)) != YOLO_OK) goto done;
        pipeline_opts po;
        pipeline_opts_default(&po);
        po.task = L.task;
        po.split = a->split;
        po.augment = false;
        po.rect = strcmp(L.task, "classify") != 0;
        po.batch = a->batch;
        po.aug.imgsz = imgsz;
        if ((st = pipeline_open(ds, sp, &po, &pl)) != YOLO_OK) goto done;
        src.pl = pl;
        src.total = pipeline_total(pl);
        src.bsz = a->batch;
    } else {
        if ((st = stream_reader_open(stdin, "stdin", &src.r)) != YOLO_OK) goto done;
        const stream_header *h = stream_reader_header(src.r);
        if ((st = check_header(&L, h)) != YOLO_OK) goto done;
        src.bsz = h->rect && h->batch > 0 ? h->batch : a->batch;
        imgsz = h->imgsz;
        src.total = h->count; /* for the progress line only: the reader checks the count */
    }
    const bool seg = !strcmp(L.task, "segment"), cls = !strcmp(L.task, "classify");
    if (!cls && (st = metrics_det_init(&acc, L.nc)) != YOLO_OK) goto done;
    if (seg && (st = metrics_det_init(&macc, L.nc)) != YOLO_OK) goto done;
    if (a->save_txt && !strcmp(L.task, "classify")) {
        st = yolo_error(YOLO_ERR_USAGE, "save_txt= writes boxes; a classification model has none");
        goto done;
    }
    batch = calloc(src.bsz, sizeof *batch);
    if (!batch) {
        st = yolo_error(YOLO_ERR_NOMEM, "out of memory");
        goto done;
    }
    nbatch = src.bsz;
    for (int k = 0; k < src.bsz; k++)
        stream_sample_init(&batch[k]);
    nms_opts no;
    nms_opts_default(&no);
    no.conf_thres = a->conf;
    no.iou_thres = a->iou;
    no.max_det = a->max_det;
    /* a progress line only for people: a terminal on stderr */
    const bool progress = isatty(2);
    double t_pre = 0, t_inf = 0, t_post = 0;
    size_t img_cap = 0, pred_cap = 0;
    int64_t total = 0;
    for (;;) {
        double t0 = now();
        if ((st = source_next(&src, batch, &nb)) != YOLO_OK) goto done;
        if (nb == 0) break;
        total += nb;
        int H = batch[0].s.img.h, W = batch[0].s.img.w;
        for (int k = 1; k < nb; k++)
            if (batch[k].s.img.h != H || batch[k].s.img.w != W) {
                st = yolo_error(YOLO_ERR_FORMAT, "%s: images of one batch differ in size", data_name);
                goto done;
            }
        size_t per = (size_t)3 * H * W;
        if ((st = grow(&img, &img_cap, per * nb, "a batch")) != YOLO_OK) goto done;
        /* HWC RGB uint8 -> CHW float in [0, 1], as the validator's /255 */
        for (int k = 0; k < nb; k++) {
            const uint8_t *px = batch[k].s.img.px;
            float *o = img + per * k;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < 3; c++)
                        o[(size_t)c * H * W + (size_t)y * W + x] = px[((size_t)y * W + x) * 3 + c] / 255.0f;
        }
        int64_t shape[4] = {nb, 3, H, W};
        torch_tensor *x = NULL, *xd = NULL;
        if ((st = torch_from_data(img, TORCH_F32, 4, shape, &x)) != YOLO_OK) goto done;
        if (dev != TORCH_CPU) {
            st = torch_to(x, TORCH_F32, dev, &xd);
            torch_free(x);
            if (st != YOLO_OK) goto done;
            x = xd;
        }
        double t1 = now();
        st = model_forward(L.net, x, &out);
        torch_free(x);
        if (st != YOLO_OK) goto done;
        int64_t n = torch_numel(out.pred);
        if ((st = grow(&pred, &pred_cap, (size_t)n, "predictions")) != YOLO_OK) goto done;
        if ((st = torch_copy_out(out.pred, TORCH_F32, pred, n)) != YOLO_OK) goto done;
        double t2 = now();
        if (cls) {
            int64_t *targets = malloc(sizeof *targets * nb);
            if (!targets) {
                st = yolo_error(YOLO_ERR_NOMEM, "out of memory");
                goto done;
            }
            for (int k = 0; k < nb; k++)
                targets[k] = batch[k].s.label;
            st = metrics_cls_add(&cls_acc, pred, nb, L.nc, targets);
            free(targets);
            if (st != YOLO_OK) goto done;
        } else {
            int C = (int)torch_size(out.pred, 1), A = (int)torch_size(out.pred, 2);
            int mh = 0, mw = 0, nm = C - 4 - L.nc;
            if (seg) {
                int64_t pn = torch_numel(out.proto);
                mh = (int)torch_size(out.proto, 2), mw = (int)torch_size(out.proto, 3);
                if ((st = grow(&proto, &proto_cap, (size_t)pn, "prototypes")) != YOLO_OK) goto done;
                if ((st = torch_copy_out(out.proto, TORCH_F32, proto, pn)) != YOLO_OK) goto done;
            }
            for (int k = 0; k < nb; k++) {
                const stream_sample *ss = &batch[k];
                const sample *s = &ss->s;
                nms_dets d = {0, 6, NULL};
                const float *pk = pred + (size_t)k * C * A;
                if (seg) {
                    if (s->n > 0 && (!ss->mask || ss->mask_h != mh || ss->mask_w != mw)) {
                        st = yolo_error(YOLO_ERR_FORMAT, "%s: %s: ground-truth masks missing or not %dx%d",
                                        data_name, ss->file ? ss->file : "image", mh, mw);
                        goto done;
                    }
                    st = metrics_seg_add_prediction(acc, macc, pk, L.nc, nm, A, &no,
                                                    proto + (size_t)k * nm * mh * mw, mh, mw, s->boxes,
                                                    s->cls, s->n, ss->mask, H, W);
                    /* save_txt writes the boxes; NMS again only for that (cheap next to the network) */
                    if (st == YOLO_OK && a->save_txt) st = nms_run(pk, L.nc, nm, A, &no, &d);
                } else {
                    st = metrics_det_add_prediction(acc, pk, L.nc, nm, A, &no, s->boxes, s->cls, s->n, H, W,
                                                    &d);
                }
                if (st == YOLO_OK && a->save_txt) st = save_txt(a->save_txt, ss, &d);
                nms_dets_free(&d);
                if (st != YOLO_OK) goto done;
            }
        }
        double t3 = now();
        t_pre += t1 - t0, t_inf += t2 - t1, t_post += t3 - t2;
        if (progress) {
            if (src.total)
                fprintf(stderr, "\r%s: %s %lld/%lld images", TOOL, a->split, (long long)total,
                        (long long)src.total);
            else
                fprintf(stderr, "\r%s: %lld images", TOOL, (long long)total);
            fflush(stderr);
        }
    }
    if (progress) fputs("\r\033[K", stderr);
    FILE *table = a->json ? stderr : stdout;
    double per_img = total ? 1e3 / total : 0;
    if (cls) {
        metrics_cls_print_table(table, &cls_acc);
    } else {
        metrics_ap r, rm;
        memset(&rm, 0, sizeof rm);
        if ((st = metrics_det_finalize(acc, &r)) != YOLO_OK) goto done;
        if (seg && (st = metrics_det_finalize(macc, &rm)) != YOLO_OK) {
            metrics_ap_free(&r);
            goto done;
        }
        metrics_print_table(table, &r, seg ? &rm : NULL, L.names, true);
        if (a->json) st = metrics_det_write_json(stdout, &r, seg ? &rm : NULL, L.names);
        metrics_ap_free(&r);
        metrics_ap_free(&rm);
    }
    fprintf(
        stderr,
        "Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (%d, 3, %d, %d)\n",
        t_pre * per_img, t_inf * per_img, t_post * per_img, src.bsz, imgsz, imgsz);
    if (cls && a->json) {
        metrics_kv kv[3];
        int n = metrics_cls_results(&cls_acc, kv);
        json_writer w;
        json_init(&w, stdout, true);
        json_begin_object(&w);
        for (int k = 0; k < n; k++) {
            json_write_key(&w, kv[k].key);
            json_write_double(&w, kv[k].value);
        }
        json_write_key(&w, "images");
        json_write_int(&w, cls_acc.n);
        json_end_object(&w);
        st = json_finish(&w);
    }
done:
    for (int k = 0; k < nbatch; k++)
        stream_sample_free(&batch[k]);
    free(batch);
    free(img);
    free(pred);
    model_output_free(&out);
    metrics_det_free(acc);
    metrics_det_free(macc);
    free(proto);
    pipeline_free(pl);
    stream_reader_free(src.r);
    dataset_split_free(sp);
    dataset_free(ds);
    loaded_free(&L);
    return yolo_report(TOOL, st);
}

int main(int argc, char **argv) {
    margs a;
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return YOLO_EXIT_OK;
    if (rc) return rc;
    return run(&a);
}
