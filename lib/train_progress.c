/* What the user sees of an epoch: the progress line (a redrawn bar on a terminal, a line per batch
 * otherwise) and the profile of where the time went. */
#include "train_internal.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const prof_names[PROF_N] = {"data wait",      "forward", "loss+assigner", "backward",
                                               "clip+optimizer", "ema",     "validation",    "save"};

void train_print_profile(const trainer *t, double total) {
    if (!t->o.profile || !t->o.log) return;
    double sum = 0;
    fprintf(t->o.log, "profile:");
    for (int k = 0; k < PROF_N; k++) {
        fprintf(t->o.log, " %s %.3f s,", prof_names[k], t->prof[k]);
        sum += t->prof[k];
    }
    fprintf(t->o.log, " other %.3f s, total %.3f s (threads %d)\n", total - sum, total, t->threads);
}

void train_progress_header(const trainer *t) {
    if (!t->o.log) return;
    const char *n[5];
    int k = train_loss_names(t->task, n);
    fprintf(t->o.log, "%11s", "Epoch");
    for (int i = 0; i < k; i++)
        fprintf(t->o.log, "%11s", n[i]);
    fprintf(t->o.log, "%11s%11s\n", "Instances", "Size");
}

void train_progress_line(const trainer *t, int epoch, int64_t i, int64_t nb, const batch_t *b, bool last) {
    if (!t->o.log) return;
    char e[32];
    snprintf(e, sizeof e, "%d/%d", epoch + 1, t->epochs);
    if (t->o.bar) fputc('\r', t->o.log);
    fprintf(t->o.log, "%11s", e);
    for (int k = 0; k < train_n_losses(t); k++)
        fprintf(t->o.log, "%11.4g", (double)t->tloss[k]);
    fprintf(t->o.log, "%11d%11d", b->n_inst, b->w);
    int pct = nb ? (int)(100 * (i + 1) / nb) : 100;
    if (t->o.bar) {
        char bar[21];
        int fill = pct / 5;
        for (int k = 0; k < 20; k++)
            bar[k] = k < fill ? '#' : '-';
        bar[20] = 0;
        fprintf(t->o.log, " %3d%% %s %" PRId64 "/%" PRId64, pct, bar, i + 1, nb);
        if (last) fputc('\n', t->o.log);
    } else {
        fprintf(t->o.log, " %" PRId64 "/%" PRId64 "\n", i + 1, nb);
    }
    fflush(t->o.log);
}
