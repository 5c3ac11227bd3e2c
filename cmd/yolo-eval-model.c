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
#include "yolo/val.h"

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
    int rc = cli_parse_settings(TOOL, USAGE, settings, (int)(sizeof settings / sizeof *settings), flags, 1,
                                argc, argv);
    if (rc) return rc;
    if (!a->model) return cli_usage_error(TOOL, "model=CKPT is required");
    if (!a->data && isatty(0))
        return cli_usage_error(TOOL,
                               "data=PATH is required (or pipe a yolo-data validation stream into stdin)");
    return 0;
}

/* Class names of a checkpoint (dict int -> str) into a malloc'ed array of nc borrowed strings. */
static yolo_status ckpt_names(const yv *names, int nc, const char ***out) {
    *out = NULL;
    if (!names || names->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "no class names in the checkpoint");
    const char **v = calloc(nc ? nc : 1, sizeof *v);
    if (!v) return yolo_nomem();
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
    val_source src = {0};
    val *v = NULL;
    int64_t total = 0;
    int bsz = a->batch;
    if ((st = load_model(a, dev, &L)) != YOLO_OK) goto done;
    /* as Ultralytics' val of a .pt: the size the model was trained at, unless imgsz= is given */
    int imgsz = a->imgsz;
    int64_t train_imgsz = 0;
    if (!imgsz && yv_as_int(yv_path(L.root, "train_args.imgsz"), &train_imgsz) && train_imgsz >= 32 &&
        train_imgsz <= 8192)
        imgsz = (int)train_imgsz;
    if (!imgsz) imgsz = 640;
    if (a->save_txt && !strcmp(L.task, "classify")) {
        st = yolo_error(YOLO_ERR_USAGE, "save_txt= writes boxes; a classification model has none");
        goto done;
    }
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
        if ((st = pipeline_open(ds, sp, &po, &src.p)) != YOLO_OK) goto done;
        total = pipeline_total(src.p);
    } else {
        if ((st = stream_reader_open(stdin, "stdin", &src.r)) != YOLO_OK) goto done;
        const stream_header *h = stream_reader_header(src.r);
        if ((st = check_header(&L, h)) != YOLO_OK) goto done;
        bsz = h->rect && h->batch > 0 ? h->batch : a->batch;
        imgsz = h->imgsz;
        total = h->count;
    }
    val_opts vo;
    val_opts_default(&vo);
    vo.task = L.task;
    vo.nc = L.nc;
    vo.names = L.names;
    vo.dev = dev;
    vo.nms.conf_thres = a->conf;
    vo.nms.iou_thres = a->iou;
    vo.nms.max_det = a->max_det;
    vo.save_txt = a->save_txt;
    /* a progress line only for people: a terminal on stderr */
    vo.progress = isatty(2) ? stderr : NULL;
    char label[64];
    snprintf(label, sizeof label, "%s: %s", TOOL, a->data ? a->split : "stdin");
    vo.progress_label = label;
    val_metrics vm;
    if ((st = val_new(&vo, &v)) != YOLO_OK || (st = val_run(v, L.net, &src, total, bsz)) != YOLO_OK ||
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
done:
    val_free(v);
    pipeline_free(src.p);
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
