/* results.csv kept in the checkpoint (see include/yolo/results.h). */
#include "yolo/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/ckpt.h"

static const char *const det_cols[] = {"epoch",
                                       "time",
                                       "train/box_loss",
                                       "train/cls_loss",
                                       "train/dfl_loss",
                                       "metrics/precision(B)",
                                       "metrics/recall(B)",
                                       "metrics/mAP50(B)",
                                       "metrics/mAP50-95(B)",
                                       "val/box_loss",
                                       "val/cls_loss",
                                       "val/dfl_loss",
                                       "lr/pg0",
                                       "lr/pg1",
                                       "lr/pg2"};
static const char *const seg_cols[] = {"epoch",
                                       "time",
                                       "train/box_loss",
                                       "train/seg_loss",
                                       "train/cls_loss",
                                       "train/dfl_loss",
                                       "metrics/precision(B)",
                                       "metrics/recall(B)",
                                       "metrics/mAP50(B)",
                                       "metrics/mAP50-95(B)",
                                       "metrics/precision(M)",
                                       "metrics/recall(M)",
                                       "metrics/mAP50(M)",
                                       "metrics/mAP50-95(M)",
                                       "val/box_loss",
                                       "val/seg_loss",
                                       "val/cls_loss",
                                       "val/dfl_loss",
                                       "lr/pg0",
                                       "lr/pg1",
                                       "lr/pg2"};
static const char *const cls_cols[] = {
    "epoch",  "time",   "train/loss", "metrics/accuracy_top1", "metrics/accuracy_top5", "val/loss",
    "lr/pg0", "lr/pg1", "lr/pg2"};

const char *const *results_columns(const char *task, int *n) {
#define RET(a) (*n = (int)(sizeof a / sizeof *a), a)
    if (!task) return NULL;
    if (!strcmp(task, "detect")) return RET(det_cols);
    if (!strcmp(task, "segment")) return RET(seg_cols);
    if (!strcmp(task, "classify")) return RET(cls_cols);
#undef RET
    *n = 0;
    return NULL;
}

double results_round5(double x) {
    if (!isfinite(x)) return x;
    /* Python rounds the exact decimal value of the double; going through "%.5f" does the same
     * (correctly rounded, ties to even on the exact binary value) */
    char buf[64];
    snprintf(buf, sizeof buf, "%.5f", x);
    return strtod(buf, NULL);
}

int results_row_count(const yv *tr) {
    const yv *e = tr && tr->kind == YV_DICT ? yv_dict_get(tr, "epoch") : NULL;
    return e && e->kind == YV_LIST ? (int)e->seq.n : 0;
}

yolo_status results_add_row(yv_doc *doc, yv *tr, const char *task, const double *values, int n) {
    int nc = 0;
    const char *const *cols = results_columns(task, &nc);
    if (!cols) return yolo_error(YOLO_ERR_USAGE, "results: unknown task '%s'", task ? task : "");
    if (n != nc) return yolo_error(YOLO_ERR_USAGE, "results: %d values for %d columns", n, nc);
    if (!tr || tr->kind != YV_DICT) return yolo_error(YOLO_ERR_USAGE, "results: train_results is not a dict");
    /* keep only rows of earlier epochs: a re-run epoch replaces its row instead of adding a second */
    const yv *ep = yv_dict_get(tr, "epoch");
    size_t keep = 0;
    if (ep && ep->kind == YV_LIST) {
        for (; keep < ep->seq.n; keep++) {
            double e;
            if (!yv_as_double(ep->seq.items[keep], &e) || e >= values[0]) break;
        }
    }
    for (int c = 0; c < nc; c++) {
        yv *col = yv_dict_get(tr, cols[c]);
        if (!col || col->kind != YV_LIST) {
            col = yv_new_list(doc);
            if (!col) return yolo_error(YOLO_ERR_NOMEM, "results: out of memory");
            yolo_status st = yv_dict_set(doc, tr, cols[c], col);
            if (st != YOLO_OK) return st;
        }
        /* columns shorter than the epoch column (a damaged file) are padded, never misaligned */
        while (col->seq.n < keep) {
            yv *nan = yv_new_float(doc, NAN);
            if (!nan || yv_seq_push(doc, col, nan) != YOLO_OK)
                return yolo_error(YOLO_ERR_NOMEM, "results: out of memory");
        }
        if (col->seq.n > keep) col->seq.n = keep;
        yv *v = c == 0 ? yv_new_int(doc, (int64_t)values[0]) : yv_new_float(doc, values[c]);
        if (!v) return yolo_error(YOLO_ERR_NOMEM, "results: out of memory");
        yolo_status st = yv_seq_push(doc, col, v);
        if (st != YOLO_OK) return st;
    }
    return YOLO_OK;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->buf = p, b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n + 1);
    b->len += n;
}

yolo_status results_csv_text(const yv *tr, char **text, size_t *len) {
    if (!tr || tr->kind != YV_DICT) return yolo_error(YOLO_ERR_USAGE, "results: train_results is not a dict");
    sbuf b = {0};
    size_t ncol = tr->dict.n;
    for (size_t c = 0; c < ncol; c++) {
        const char *k = yv_as_str(tr->dict.keys[c]);
        if (c) sb_put(&b, ",");
        sb_put(&b, k ? k : "?");
    }
    sb_put(&b, "\n");
    int rows = results_row_count(tr);
    for (int r = 0; r < rows; r++) {
        for (size_t c = 0; c < ncol; c++) {
            const yv *col = tr->dict.vals[c];
            double x = NAN;
            if (col && col->kind == YV_LIST && (size_t)r < col->seq.n) yv_as_double(col->seq.items[r], &x);
            char num[64];
            snprintf(num, sizeof num, "%s%.6g", c ? "," : "", x);
            sb_put(&b, num);
        }
        sb_put(&b, "\n");
    }
    if (b.failed) {
        free(b.buf);
        return yolo_error(YOLO_ERR_NOMEM, "results: out of memory");
    }
    *text = b.buf;
    *len = b.len;
    return YOLO_OK;
}

yolo_status results_write_csv(const char *path, const yv *tr) {
    char *text = NULL;
    size_t len = 0;
    yolo_status st = results_csv_text(tr, &text, &len);
    if (!st) st = ckpt_write_file_atomic(path, text ? text : "", len);
    free(text);
    return st;
}
