/* yolo-eval: validation metrics (P, R, mAP50, mAP50-95) as Ultralytics' validator reports them.
 *
 * This tool is the libtorch-free mode: it scores saved predictions (preds=DIR) against a dataset's
 * labels. Running a network (model=) belongs in a separate code path so that this one keeps starting
 * in milliseconds. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yolo/cli.h"
#include "yolo/args.h"
#include "yolo/dataset.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"
#include "yolo/status.h"

static const char *const TOOL = "yolo-eval";

static const char *const USAGE =
    "usage: yolo-eval model=CKPT data=DATA.yaml [split=val] [imgsz=N] [batch=16] [conf=0.001]\n"
    "                 [iou=0.7] [max_det=300] [device=cpu] [threads=N] [save_txt=DIR] [save_conf=true]\n"
    "                 [agnostic_nms=false] [plots=DIR] [multi_label=true] [--json]\n"
    "       yolo-data DATA --split val --rect --batch B --imgsz N | yolo-eval model=CKPT [...]\n"
    "       yolo-eval preds=DIR data=DATA.yaml [split=val] [conf=0.001] [iou=F] [max_det=300] [--json]\n"
    "\n"
    "Prints Ultralytics' validation table (Class Images Instances Box(P R mAP50 mAP50-95)).\n"
    "model= runs a detection checkpoint (ours or Ultralytics') over the split as Ultralytics' val does\n"
    "(through yolo-eval-model); preds= scores saved predictions without libtorch:\n"
    "\n"
    "  preds=DIR     one STEM.txt per image (the image's file name without extension), lines\n"
    "                'cls cx cy w h conf' normalised to the original image; a missing file means\n"
    "                no detections\n"
    "  data=PATH     data.yaml (or anything yolo-data accepts); labels come from its split\n"
    "  split=NAME    val (default), test or train\n"
    "  conf=F        keep predictions with conf > F (default 0.001, the validator's)\n"
    "  iou=F         preds=: run class-aware NMS at IoU F on the predictions first (default: none)\n"
    "  max_det=N     keep at most N predictions per image, best first (default 300)\n"
    "  save_txt=DIR  model=: write the detections in the format preds= reads\n"
    "  plots=DIR     model=: draw the confusion matrices, the P/R/F1/PR curves and the first\n"
    "                batches' labels and predictions into DIR, as Ultralytics' validator does\n"
    "  multi_label=B model=: false keeps one class per box in NMS, as predict does\n"
    "  --json        print the metrics as JSON on stdout (the table then goes to stderr)\n"
    "\n"
    "Exit status: 0 ok, 1 failed (bad files), 2 usage error, 130 interrupted. See yolo-eval(1).\n";

typedef struct {
    const char *preds, *data, *split, *model;
    double conf, iou;
    bool have_iou;
    int max_det;
    bool json;
} eval_args;

static int parse_args(int argc, char **argv, eval_args *a) {
    *a = (eval_args){.split = "val",
                     .conf = VAL_CONF,
                     .iou = args_default_num("iou"),
                     .max_det = (int)args_default_num("max_det")};
    const cli_setting settings[] = {
        CLI_TEXT("preds", &a->preds),
        CLI_TEXT("data", &a->data),
        CLI_TEXT("split", &a->split),
        CLI_DOUBLE_IN("conf", &a->conf, 0, 1, "a number between 0 and 1"),
        /* iou= given switches NMS on: the saved predictions are taken as they are otherwise */
        {.key = "iou",
         .type = CLI_DOUBLE,
         .dst = &a->iou,
         .lo = 0,
         .hi = 1,
         .what = "a number between 0 and 1",
         .given = &a->have_iou},
        CLI_INT_IN("max_det", &a->max_det, 1, 1000000000, "a positive integer"),
        /* model= only reaches here next to preds=, to be refused below */
        CLI_TEXT("model", &a->model),
    };
    const cli_flag flags[] = {{"--json", &a->json}};
    int rc = cli_parse_settings(TOOL, USAGE, settings, (int)(sizeof settings / sizeof *settings), flags, 1,
                                argc, argv);
    if (rc) return rc;
    if (a->model && a->preds) return cli_usage_error(TOOL, "give model= or preds=, not both");
    if (!a->preds) return cli_usage_error(TOOL, "preds=DIR is required");
    if (!a->data)
        return cli_usage_error(TOOL, "data=PATH is required (the dataset whose labels to score against)");
    return 0;
}

/* Predictions of one image in original-image pixels, parsed from a save_txt file. */
typedef struct {
    int n, cap;
    float *xyxy; /* n * 4 */
    float *conf, *cls;
} pred_list;

static void pred_list_free(pred_list *p) {
    free(p->xyxy), free(p->conf), free(p->cls);
    memset(p, 0, sizeof *p);
}

static yolo_status pred_push(pred_list *p, const float xyxy[4], float conf, float cls) {
    if (p->n == p->cap) {
        int c = p->cap ? p->cap * 2 : 64;
        float *a = realloc(p->xyxy, sizeof *a * 4 * c);
        if (a) p->xyxy = a;
        float *b = realloc(p->conf, sizeof *b * c);
        if (b) p->conf = b;
        float *d = realloc(p->cls, sizeof *d * c);
        if (d) p->cls = d;
        if (!a || !b || !d) return yolo_error(YOLO_ERR_NOMEM, "out of memory for predictions");
        p->cap = c;
    }
    memcpy(p->xyxy + 4 * (size_t)p->n, xyxy, 4 * sizeof(float));
    p->conf[p->n] = conf;
    p->cls[p->n] = cls;
    p->n++;
    return YOLO_OK;
}

/* Normalised cx cy w h -> x1 y1 x2 y2 pixels of a w0 x h0 image, in float32 as the validator does it
 * for both predictions and labels. */
static void xywhn_to_xyxy(const float xywh[4], int w0, int h0, float out[4]) {
    float hw = xywh[2] / 2, hh = xywh[3] / 2;
    out[0] = (xywh[0] - hw) * (float)w0;
    out[1] = (xywh[1] - hh) * (float)h0;
    out[2] = (xywh[0] + hw) * (float)w0;
    out[3] = (xywh[1] + hh) * (float)h0;
}

/* Reads DIR/STEM.txt. A missing file is an image without detections. */
static yolo_status read_preds(const char *path, int nc, int w0, int h0, double conf_thres, pred_list *out) {
    out->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return YOLO_OK;
        return yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    yolo_status st = YOLO_OK;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\n' || *p == '\r' || !*p) continue;
        double v[7];
        int k = 0;
        while (k < 7) {
            char *end;
            errno = 0;
            v[k] = strtod(p, &end);
            if (end == p) break;
            if (errno || !isfinite(v[k])) {
                k = -1;
                break;
            }
            k++;
            p = end;
        }
        while (k >= 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (k != 6 || *p) {
            st =
                yolo_error(YOLO_ERR_FORMAT, "%s:%ld: expected 6 numbers 'cls cx cy w h conf'%s", path, lineno,
                           k == 5 && !*p ? " (the confidence is missing: save with save_conf=True)" : "");
            break;
        }
        if (v[0] != floor(v[0]) || v[0] < 0 || v[0] >= nc) {
            st =
                yolo_error(YOLO_ERR_FORMAT, "%s:%ld: class %g is not one of the dataset's %d classes (0..%d)",
                           path, lineno, v[0], nc, nc - 1);
            break;
        }
        if (v[3] < 0 || v[4] < 0) {
            st = yolo_error(YOLO_ERR_FORMAT, "%s:%ld: negative box size", path, lineno);
            break;
        }
        if (!((float)v[5] > (float)conf_thres)) continue;
        float xywh[4] = {(float)v[1], (float)v[2], (float)v[3], (float)v[4]}, b[4];
        xywhn_to_xyxy(xywh, w0, h0, b);
        if ((st = pred_push(out, b, (float)v[5], (float)v[0])) != YOLO_OK) break;
    }
    if (st == YOLO_OK && ferror(f)) st = yolo_error(YOLO_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    return st;
}

/* Puts predictions in NMS output order (stable, by descending confidence), optionally through NMS,
 * and keeps max_det. Result as nms rows (x1 y1 x2 y2 conf cls). */
static yolo_status order_preds(const pred_list *p, int nc, const eval_args *a, nms_dets *out) {
    out->n = 0;
    out->cols = 6;
    out->rows = NULL;
    if (p->n == 0) return YOLO_OK;
    if (a->have_iou) {
        /* feed them to NMS as anchors with one score each, boxes as cx cy w h */
        size_t A = (size_t)p->n;
        float *in = calloc((4 + (size_t)nc) * A, sizeof *in);
        if (!in) return yolo_nomem();
        for (size_t j = 0; j < A; j++) {
            const float *b = p->xyxy + 4 * j;
            in[j] = (b[0] + b[2]) / 2;
            in[A + j] = (b[1] + b[3]) / 2;
            in[2 * A + j] = b[2] - b[0];
            in[3 * A + j] = b[3] - b[1];
            in[(4 + (size_t)p->cls[j]) * A + j] = p->conf[j];
        }
        nms_opts o;
        nms_opts_default(&o);
        o.conf_thres = a->conf;
        o.iou_thres = a->iou;
        o.max_det = a->max_det;
        o.multi_label = true;
        yolo_status st = nms_run(in, nc, 0, (int)A, &o, out);
        free(in);
        return st;
    }
    metrics_conf_idx *o = malloc(sizeof *o * p->n);
    int keep = p->n < a->max_det ? p->n : a->max_det;
    out->rows = malloc(sizeof *out->rows * 6 * (keep ? keep : 1));
    if (!o || !out->rows) {
        free(o);
        return yolo_nomem();
    }
    for (int j = 0; j < p->n; j++)
        o[j] = (metrics_conf_idx){p->conf[j], j};
    metrics_sort_conf_desc(o, p->n);
    for (int r = 0; r < keep; r++) {
        float *row = out->rows + 6 * (size_t)r;
        memcpy(row, p->xyxy + 4 * (size_t)o[r].idx, 4 * sizeof(float));
        row[4] = p->conf[o[r].idx];
        row[5] = p->cls[o[r].idx];
    }
    out->n = keep;
    free(o);
    return YOLO_OK;
}

static int run_preds(const eval_args *a) {
    struct stat sb;
    if (stat(a->preds, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        yolo_error(YOLO_ERR_IO, "%s: not a folder (preds= names the folder of prediction .txt files)",
                   a->preds);
        return yolo_report(TOOL, YOLO_ERR_IO);
    }
    dataset *ds = NULL;
    dataset_split *sp = NULL;
    metrics_det *acc = NULL;
    yolo_status st = dataset_open(a->data, &ds);
    if (st != YOLO_OK) return yolo_report(TOOL, st);
    if (dataset_is_classify(ds)) {
        dataset_free(ds);
        yolo_error(YOLO_ERR_USAGE, "%s: a classification dataset; preds= scores detection boxes", a->data);
        return yolo_report(TOOL, YOLO_ERR_USAGE);
    }
    /* scoring never writes into the dataset: no label cache */
    dataset_load_opts lo = {.workers = 0, .no_cache = true};
    int nc = dataset_nc(ds);
    if ((st = dataset_split_load(ds, a->split, &lo, &sp)) != YOLO_OK) goto done;
    if ((st = metrics_det_init(&acc, nc)) != YOLO_OK) goto done;
    pred_list pl = {0};
    float *gt = NULL, *gcls = NULL;
    int gcap = 0;
    int64_t count = dataset_split_count(sp);
    size_t plen = strlen(a->preds) + 300;
    char *path = malloc(plen);
    if (!path) {
        st = yolo_nomem();
        goto done;
    }
    for (int64_t i = 0; i < count && st == YOLO_OK; i++) {
        int h0 = 0, w0 = 0;
        dataset_split_shape(sp, i, &h0, &w0);
        nms_txt_path(a->preds, dataset_split_file(sp, i), path, plen);
        if ((st = read_preds(path, nc, w0, h0, a->conf, &pl)) != YOLO_OK) break;
        nms_dets d;
        if ((st = order_preds(&pl, nc, a, &d)) != YOLO_OK) break;
        const sample *s = dataset_split_labels(sp, i);
        int n = s ? s->n : 0;
        if (n > gcap) {
            float *g1 = realloc(gt, sizeof *gt * 4 * n), *g2 = g1 ? realloc(gcls, sizeof *gcls * n) : NULL;
            if (g1) gt = g1;
            if (g2) gcls = g2;
            if (!g1 || !g2) {
                nms_dets_free(&d);
                st = yolo_nomem();
                break;
            }
            gcap = n;
        }
        for (int k = 0; k < n; k++) {
            xywhn_to_xyxy(s->boxes + 4 * (size_t)k, w0, h0, gt + 4 * (size_t)k);
            gcls[k] = (float)s->cls[k];
        }
        st = metrics_det_add(acc, d.rows, 6, d.rows ? d.rows + 4 : NULL, 6, d.rows ? d.rows + 5 : NULL, 6,
                             d.n, gt, gcls, n);
        nms_dets_free(&d);
        if (st != YOLO_OK) yolo_error_prefix(st, path);
    }
    free(path);
    free(gt);
    free(gcls);
    pred_list_free(&pl);
    if (st != YOLO_OK) goto done;
    metrics_ap r;
    if ((st = metrics_det_finalize(acc, &r)) != YOLO_OK) goto done;
    const char *const *names = dataset_names(ds);
    if (a->json) {
        metrics_print_table(stderr, &r, NULL, names, true);
        st = metrics_det_write_json(stdout, &r, NULL, names);
    } else {
        metrics_print_table(stdout, &r, NULL, names, true);
    }
    int64_t total = 0;
    for (int c = 0; c < nc; c++)
        total += r.nt_per_class[c];
    if (total == 0)
        fprintf(stderr,
                "%s: warning: no labels found in the %s split, can not compute metrics without labels\n",
                TOOL, a->split);
    metrics_ap_free(&r);
    if (fflush(stdout) != 0 || ferror(stdout)) st = yolo_error(YOLO_ERR_IO, "cannot write to stdout");
done:
    metrics_det_free(acc);
    dataset_split_free(sp);
    dataset_free(ds);
    return yolo_report(TOOL, st);
}

/* model= runs the network in yolo-eval-model, a separate binary: linking libtorch here would make
 * every preds= run pay for loading it. */
static int exec_model_mode(char **argv) {
    int err = cli_exec_tool("yolo-eval-model", argv);
    fprintf(stderr, "%s: model=: cannot run yolo-eval-model (%s; install it next to yolo-eval)\n", TOOL,
            strerror(err));
    return YOLO_EXIT_FAIL;
}

static bool has_model_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "model=", 6)) return true;
    return false;
}

int main(int argc, char **argv) {
    eval_args a;
    bool preds = false;
    for (int i = 1; i < argc; i++)
        preds |= !strncmp(argv[i], "preds=", 6);
    if (has_model_arg(argc, argv) && !preds) return exec_model_mode(argv);
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return YOLO_EXIT_OK;
    if (rc) return rc;
    return run_preds(&a);
}
