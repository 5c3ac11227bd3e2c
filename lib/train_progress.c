/* What the user sees of an epoch: Ultralytics' progress fields (epoch, losses, instances, size, then the
 * batch count, it/s, elapsed time and ETA), as a bar sized to the terminal (o.columns) or as one line
 * per batch when nobody is watching (a pipe, a log file), and the profile of where the time went. */
#include "train_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const prof_names[PROF_N] = {"data wait", "forward",     "loss+assigner",
                                               "backward",  "collectives", "clip+optimizer",
                                               "ema",       "validation",  "save"};

void train_print_profile(const trainer *t, double total) {
    if (!t->o.profile || !t->o.log) return;
    double sum = 0;
    fprintf(t->o.log, "profile:");
    for (int k = 0; k < PROF_N; k++) {
        fprintf(t->o.log, " %s %.3f s,", prof_names[k], t->prof[k]);
        sum += t->prof[k];
    }
    fprintf(t->o.log, " other %.3f s, total %.3f s (threads %d", total - sum, total, t->threads);
    if (t->world > 1)
        fprintf(t->o.log, ", rank %d of %d, gradients sent %s the backward pass", t->rank, t->world,
                train_dist_overlaps(t) ? "during" : "after");
    fprintf(t->o.log, ")\n");
}

enum { FIELD_MIN = 6, FIELD_MAX = 11 };

/* The width of each field: Ultralytics' 11, narrower where the terminal is (to 6), so that a line of
 * nb batches (": 100% 8/8 5.9it/s 0:01<0:01" after the fields) never wraps. */
static int field_width(const trainer *t, int64_t nb) {
    int nf = train_n_losses(t) + 3, cols = t->o.columns, digits = 1;
    if (cols <= 0) return FIELD_MAX;
    for (int64_t x = nb; x >= 10; x /= 10)
        digits++;
    int tail = 7 + 2 * digits + 1 + 10 + 12; /* ": 100% ", "i/nb", " 999.9it/s", " 0:00<0:00" */
    int w = (cols - 1 - tail) / nf;
    return w > FIELD_MAX ? FIELD_MAX : w < FIELD_MIN ? FIELD_MIN : w;
}

/* A column name in w characters with a space before it: box_loss becomes box, Instances Inst. */
static void put_name(FILE *f, int w, const char *name) {
    size_t n = strlen(name);
    if ((int)n >= w && n > 5 && !strcmp(name + n - 5, "_loss")) n -= 5;
    if ((int)n >= w && !strcmp(name, "Instances")) n = 4;
    fprintf(f, "%*.*s", w, (int)n < w ? (int)n : w - 1, name);
}

/* A number in w characters with a space before it, with as many significant digits as fit (up to 4). */
static int put_num(char *buf, size_t cap, int w, double x) {
    char t[32];
    for (int p = 4; p >= 1; p--) {
        snprintf(t, sizeof t, "%.*g", p, x);
        if ((int)strlen(t) < w) break;
    }
    return snprintf(buf, cap, "%*s", w, t);
}

/* The progress of the epoch is rank 0's to show (the other ranks train the same batches). */
void train_progress_header(const trainer *t, int64_t nb) {
    if (!t->o.log || t->rank != 0) return;
    const char *n[5];
    int k = train_loss_names(t->task, n), w = field_width(t, nb);
    put_name(t->o.log, w, "Epoch");
    for (int i = 0; i < k; i++)
        put_name(t->o.log, w, n[i]);
    put_name(t->o.log, w, "Instances");
    put_name(t->o.log, w, "Size");
    fputc('\n', t->o.log);
}

static void clock_text(double s, char *buf, size_t cap) {
    int64_t x = s > 0 && s < 1e9 ? (int64_t)(s + 0.5) : 0;
    if (x >= 3600)
        snprintf(buf, cap, "%" PRId64 ":%02d:%02d", x / 3600, (int)(x / 60 % 60), (int)(x % 60));
    else
        snprintf(buf, cap, "%d:%02d", (int)(x / 60), (int)(x % 60));
}

/* The bar in columns cells (UTF-8 heavy and light lines, as Ultralytics 8.4 draws it). */
static void put_bar(FILE *f, int columns, int64_t done, int64_t total) {
    int fill = total ? (int)(columns * done / total) : columns;
    for (int k = 0; k < columns; k++)
        fputs(k < fill ? "\u2501" : "\u2500", f);
}

void train_progress_line(const trainer *t, int epoch, int64_t i, int64_t nb, const batch_t *b, bool last,
                         double elapsed, int64_t done) {
    if (!t->o.log || t->rank != 0) return;
    FILE *f = t->o.log;
    char head[256], tail[128], e[32], el[24], eta[24];
    int w = field_width(t, nb), len = 0;
    snprintf(e, sizeof e, "%d/%d", epoch + 1, t->epochs);
    len += snprintf(head + len, sizeof head - (size_t)len, "%*s", w, e);
    for (int k = 0; k < train_n_losses(t) && len < 200; k++)
        len += put_num(head + len, sizeof head - (size_t)len, w, (double)t->tloss[k]);
    if (len < 200) snprintf(head + len, sizeof head - (size_t)len, "%*d%*d", w, b->n_inst, w, b->w);
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    clock_text(elapsed, el, sizeof el);
    clock_text(rate > 0 ? (double)(nb - i - 1) / rate : 0, eta, sizeof eta);
    int pct = nb ? (int)(100 * (i + 1) / nb) : 100;
    snprintf(tail, sizeof tail, "%" PRId64 "/%" PRId64 " %.1fit/s %s<%s", i + 1, nb, rate, el, eta);
    if (t->o.columns <= 0) {
        fprintf(f, "%s %s\n", head, tail);
    } else {
        /* head ": 45% " bar " " tail in at most columns - 1 cells (the last cell would wrap) */
        int width = t->o.columns - 1, fixed = (int)strlen(head) + 7;
        int room = width - fixed - (int)strlen(tail) - 1;
        if (t->o.bar) fputc('\r', f);
        fprintf(f, "%s: %3d%% ", head, pct);
        if (room >= 4) {
            put_bar(f, room, i + 1, nb);
            fputc(' ', f);
            fixed += room + 1;
        }
        /* what a very narrow terminal has no room for is cut, never wrapped */
        int left = width - fixed;
        fprintf(f, "%.*s", left > 0 ? left : 0, tail);
        if (!t->o.bar || last) fputc('\n', f);
    }
    fflush(f);
}
