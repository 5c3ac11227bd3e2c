/* yolo-plot: the pictures of a run folder, as Ultralytics draws them (man 1 yolo-plot). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/cli.h"
#include "yolo/dataset.h"
#include "yolo/draw.h"
#include "yolo/plot.h"
#include "yolo/status.h"
#include "yolo/stream.h"

#define TOOL "yolo-plot"

static const char USAGE[] =
    "usage: yolo-plot results RESULTS.csv [-o results.png]\n"
    "       yolo-plot labels DATA [-o labels.jpg] [--split train] [fraction=F]\n"
    "       yolo-plot grid -o OUT.jpg [--batch B] < STREAM\n"
    "\n"
    "  results  the loss and metric columns of results.csv, one panel each (default: results.png\n"
    "           beside the CSV)\n"
    "  labels   the labels of a split: instances per class, the boxes, where they lie and how big\n"
    "  grid     the images of a yolo-data stream on stdin with their boxes, masks and classes; with\n"
    "           --batch B, one picture per batch of B samples (its first 16 images), named OUT with %d\n"
    "           replaced by the batch's number in the run (epoch x batches per epoch + batch), as\n"
    "           train_batch%d.jpg; without, one picture of every sample (at most 256)\n"
    "\n"
    "Exit status: 0 ok, 1 failed, 2 usage error. See yolo-plot(1).\n";

static int usage_error(const char *fmt, const char *arg) {
    return cli_usage_error(TOOL, fmt, arg);
}

static bool is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help");
}

/* ---- results ---- */

static int cmd_results(int argc, char **argv) {
    const char *csv = NULL, *out = NULL;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "-o") && k + 1 < argc)
            out = argv[++k];
        else if (argv[k][0] != '-' && !csv)
            csv = argv[k];
        else
            return usage_error("unexpected argument '%s'", argv[k]);
    }
    if (!csv) return usage_error("%s", "results: no results.csv given");
    char def[4096];
    if (!out) {
        const char *slash = strrchr(csv, '/');
        snprintf(def, sizeof def, "%.*sresults.png", slash ? (int)(slash - csv + 1) : 0, csv);
        out = def;
    }
    return yolo_report(TOOL, plot_results(csv, out));
}

/* ---- labels ---- */

static int cmd_labels(int argc, char **argv) {
    const char *data = NULL, *out = "labels.jpg", *split = "train";
    double fraction = 1;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "-o") && k + 1 < argc)
            out = argv[++k];
        else if (!strcmp(a, "--split") && k + 1 < argc)
            split = argv[++k];
        else if (!strncmp(a, "fraction=", 9)) {
            if (!cli_parse_double(a + 9, &fraction) || !(fraction > 0 && fraction <= 1))
                return usage_error("bad '%s' (a number with 0 < fraction <= 1)", a);
        } else if (a[0] != '-' && !data)
            data = a;
        else
            return usage_error("unexpected argument '%s'", a);
    }
    if (!data) return usage_error("%s", "labels: no dataset given");
    dataset *ds = NULL;
    yolo_status st = dataset_open(data, &ds);
    if (st != YOLO_OK) return yolo_report(TOOL, st);
    dataset_split *sp = NULL;
    float *boxes = NULL;
    int *cls = NULL;
    if (dataset_is_classify(ds))
        st = yolo_error(YOLO_ERR_USAGE, "%s: a classification dataset has no boxes to plot", data);
    /* one worker: it runs beside the first epoch */
    dataset_load_opts lo = {.workers = 1, .fraction = strcmp(split, "train") == 0 ? fraction : 1};
    if (st == YOLO_OK) st = dataset_split_load(ds, split, &lo, &sp);
    int64_t n = 0, cap = 0;
    for (int64_t i = 0; st == YOLO_OK && i < dataset_split_count(sp); i++) {
        const sample *s = dataset_split_labels(sp, i);
        if (!s) continue;
        if (n + s->n > cap) {
            cap = (n + s->n) * 2 + 64;
            float *b = realloc(boxes, sizeof *b * 4 * (size_t)cap);
            int *c = b ? realloc(cls, sizeof *c * (size_t)cap) : NULL;
            if (b) boxes = b;
            if (c) cls = c;
            if (!b || !c) st = yolo_nomem();
        }
        for (int k = 0; st == YOLO_OK && k < s->n; k++, n++) {
            memcpy(boxes + 4 * n, s->boxes + 4 * k, 4 * sizeof *boxes);
            cls[n] = s->cls[k];
        }
    }
    if (st == YOLO_OK) st = plot_labels(boxes, cls, n, dataset_names(ds), dataset_nc(ds), out);
    free(boxes), free(cls);
    dataset_split_free(sp);
    dataset_free(ds);
    return yolo_report(TOOL, st);
}

/* ---- grid ---- */

/* OUT with its %d replaced by the batch number (any other % is kept as it is). */
static void name_of(const char *pattern, int64_t k, char *out, size_t cap) {
    const char *p = strstr(pattern, "%d");
    if (!p)
        snprintf(out, cap, "%s", pattern);
    else
        snprintf(out, cap, "%.*s%" PRId64 "%s", (int)(p - pattern), pattern, k, p + 2);
}

static int cmd_grid(int argc, char **argv) {
    const char *out = NULL;
    int batch = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (!strcmp(a, "-o") && v)
            out = v, k++;
        else if (!strcmp(a, "--batch") && v) {
            if (!cli_parse_int(v, 1, 1 << 20, &batch))
                return usage_error("bad --batch '%s' (a positive number)", v);
            k++;
        } else
            return usage_error("unexpected argument '%s'", a);
    }
    if (!out) return usage_error("%s", "grid: no output file (-o train_batch%d.jpg)");
    if (batch && !strstr(out, "%d"))
        return usage_error("grid: --batch needs %%d in the output name ('%s')", out);
    if (isatty(STDIN_FILENO))
        return usage_error("%s", "grid: reads a yolo-data stream on stdin (pipe one in)");
    stream_reader *r = NULL;
    yolo_status st = stream_reader_open(stdin, "stdin", &r);
    if (st != YOLO_OK) return yolo_report(TOOL, st);
    const stream_header *h = stream_reader_header(r);
    /* a grid without --batch holds the whole stream (yolo-data show: at most 256) */
    int per = batch ? batch : 256;
    stream_sample *v = calloc((size_t)per, sizeof *v);
    draw_tile *t = calloc((size_t)per, sizeof *t);
    if (!v || !t) st = yolo_nomem();
    for (int k = 0; v && k < per; k++)
        stream_sample_init(&v[k]);
    /* Ultralytics numbers a batch by its index in the run: epoch x batches per epoch + batch */
    int64_t k = batch ? h->epoch * ((h->total + batch - 1) / batch) + h->from / batch : 0;
    for (;;) {
        int got = 0;
        if (st == YOLO_OK) st = stream_reader_batch(r, v, per, &got);
        if (st != YOLO_OK || got == 0) break;
        for (int i = 0; i < got; i++)
            t[i] = draw_tile_of_sample(&v[i]);
        char path[4096];
        name_of(out, k++, path, sizeof path);
        st = draw_batch(t, got, batch ? 16 : got, (const char *const *)h->names, h->nc, path);
        if (!batch) break;
    }
    for (int j = 0; v && j < per; j++)
        stream_sample_free(&v[j]);
    free(v), free(t);
    stream_reader_free(r);
    return yolo_report(TOOL, st);
}

int main(int argc, char **argv) {
    if (argc < 2 || is_help(argv[1])) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? YOLO_EXIT_USAGE : YOLO_EXIT_OK;
    }
    const char *c = argv[1];
    for (int k = 2; k < argc; k++)
        if (is_help(argv[k])) {
            fputs(USAGE, stdout);
            return YOLO_EXIT_OK;
        }
    if (!strcmp(c, "results")) return cmd_results(argc - 1, argv + 1);
    if (!strcmp(c, "labels")) return cmd_labels(argc - 1, argv + 1);
    if (!strcmp(c, "grid")) return cmd_grid(argc - 1, argv + 1);
    return usage_error("unknown command '%s' (results, labels or grid)", c);
}
