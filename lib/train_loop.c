/* The epoch: the batches of a stream through train_step, mid-epoch saves on request or Ctrl+C, then
 * validation, fitness, early stopping, the results row and the epoch's checkpoint files. */
#include "train_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/lock.h"
#include "yolo/results.h"
#include "yolo/runfiles.h"

static void sibling(const char *path, const char *name, char *out, size_t cap) {
    const char *s = strrchr(path, '/');
    if (s)
        snprintf(out, cap, "%.*s/%s", (int)(s - path), path, name);
    else
        snprintf(out, cap, "%s", name);
}

static void fill_summary(const trainer *t, train_summary *s, int epoch) {
    s->epoch = epoch;
    s->epochs = t->epochs;
    s->n_loss = train_loss_names(t->task, s->loss_names);
    for (int k = 0; k < s->n_loss; k++)
        s->loss[k] = results_round5(t->tloss[k]);
    s->best_fitness = t->have_best ? t->best_fitness : NAN;
}

/* One epoch in progress in this process. */
typedef struct {
    const char *out_path;
    int epoch;
    int64_t nb, nw; /* batches in the epoch, warmup iterations */
    int64_t total;  /* samples in the epoch (of every rank) */
    int64_t i;      /* batches of the epoch done */
    double t0;      /* when this process started on it */
    double time_base;
    stream_sample *v; /* a batch of samples, and its tensors */
    batch_t b;
} epoch_run;

/* Writes the checkpoint(s) at paths (the last is last.pt), then the run folder's args.yaml and
 * results.csv from the same state, so that they always describe last.pt. */
static yolo_status save_run(trainer *t, const char *const *paths, size_t n, bool mid_epoch) {
    yolo_status st = train_ckpt_write(t, paths, n, mid_epoch);
    if (st != YOLO_OK) return st;
    char rd[4096];
    lock_run_dir(paths[n - 1], rd, sizeof rd);
    return runfiles_write(rd, t->args, t->results);
}

/* Saves the position inside the epoch and ends this process' part of it (Ctrl+C, stop_after). */
static yolo_status stop_mid_epoch(trainer *t, epoch_run *e, train_summary *s, bool interrupted) {
    s->interrupted = interrupted;
    yolo_status st = t->rank == 0 ? save_run(t, &e->out_path, 1, true) : YOLO_OK;
    fill_summary(t, s, e->epoch);
    s->position = t->pos_seen;
    s->seconds = train_clock() - e->t0;
    return st;
}

/* Reads batch e->i (this rank's share of it: all of it on one rank) into e->v; *got: how many samples
 * (0 at the end of a whole-batch stream), *all: the batch's samples on every rank. */
static yolo_status read_batch(trainer *t, stream_reader *r, epoch_run *e, int *got, int *all) {
    *got = 0, *all = 0;
    if (t->micro == t->batch) {
        yolo_status st = stream_reader_batch(r, e->v, t->batch, got);
        *all = *got;
        if (st == YOLO_OK && *got) {
            batch_free(&e->b);
            st = train_make_batch(t, e->v, *got, &e->b);
        }
        return st;
    }
    if (e->i >= e->nb) return YOLO_OK;
    int want;
    train_batch_share(t, e->i, e->total, all, &want);
    yolo_status st = want ? stream_reader_batch(r, e->v, want, got) : YOLO_OK;
    if (st == YOLO_OK && *got < want) {
        *all = 0;
        *got = 0; /* the stream ended early: reported below */
    }
    return st;
}

/* Batch e->i through the step: whole, or as micro-batches on one rank or several (then *stop says whether
 * some rank was interrupted). */
static yolo_status step_batch(trainer *t, epoch_run *e, int got, int all, float *items, int *nitems,
                              bool *stop) {
    int64_t ni = e->i + e->nb * e->epoch;
    *stop = t->o.interrupt && *t->o.interrupt;
    if (t->micro == t->batch) return train_step(t, &e->b, e->epoch, ni, e->nw, items, nitems);
    return train_step_micro(t, e->v, got, all, e->epoch, ni, e->nw, items, nitems, &e->b, stop);
}

/* The batches of r. *stopped: the process stopped mid-epoch (the position is saved). */
static yolo_status run_batches(trainer *t, stream_reader *r, epoch_run *e, train_summary *s, bool *stopped) {
    yolo_status st;
    *stopped = false;
    for (;;) {
        int got = 0, all = 0;
        double d0 = train_clock();
        st = read_batch(t, r, e, &got, &all);
        t->prof[PROF_DATA] += train_clock() - d0;
        if (st != YOLO_OK) {
            /* Ctrl+C also stops the producer, so the stream breaks off: the state after the last whole
             * batch is still consistent and worth saving */
            if (t->o.interrupt && *t->o.interrupt && s->batches > 0 && e->i < e->nb) {
                *stopped = true;
                return stop_mid_epoch(t, e, s, true);
            }
            return st;
        }
        if (!all) break;
        float items[5] = {0};
        int nitems = 0;
        bool interrupted = false;
        if ((st = step_batch(t, e, got, all, items, &nitems, &interrupted)) != YOLO_OK) {
            if (train_is_oom(st))
                st = yolo_error(YOLO_ERR_NOMEM,
                                "out of memory in epoch %d, batch %" PRId64 " with batch=%d (resume with "
                                "a smaller batch=, e.g. batch=%d; the checkpoint was not changed)",
                                e->epoch + 1, e->i + 1, t->batch, t->batch > 1 ? t->batch / 2 : 1);
            return st;
        }
        int64_t i = e->i;
        for (int k = 0; k < nitems && k < 5; k++)
            t->tloss[k] = (t->tloss[k] * (float)i + items[k]) / (float)(i + 1);
        i = ++e->i;
        s->batches++;
        t->pos_batch = i;
        t->pos_seen += all;
        t->time_total = e->time_base + (train_clock() - e->t0);
        train_progress_line(t, e->epoch, i - 1, e->nb, &e->b, i >= e->nb, train_clock() - e->t0, s->batches);
        bool more = i < e->nb;
        if (more && (interrupted || (t->o.stop_after > 0 && s->batches >= t->o.stop_after))) {
            *stopped = true;
            return stop_mid_epoch(t, e, s, interrupted);
        }
        if (more && t->o.save_every > 0 && i % t->o.save_every == 0) {
            if (t->rank == 0 && (st = save_run(t, &e->out_path, 1, true)) != YOLO_OK) return st;
            train_dist_patience(t, true); /* the next step waits for rank 0's save */
        }
    }
    if (e->i < e->nb)
        return yolo_error(YOLO_ERR_FORMAT, "stdin: the stream ended after %" PRId64 " of %" PRId64 " batches",
                          e->i, e->nb);
    return YOLO_OK;
}

/* Validation when due (every epoch with val=true, the last one, and when early stopping may strike),
 * then best fitness and early stopping. */
static yolo_status validate_epoch(trainer *t, int epoch, bool final_epoch, val_result *vr) {
    memset(vr, 0, sizeof *vr);
    vr->fitness = NAN;
    /* every rank knows when: the checkpoint they all read decides it */
    if (t->val || final_epoch || t->st_possible_stop) {
        double v0 = train_clock();
        yolo_status st = train_validate(t, epoch, vr);
        t->prof[PROF_VAL] += train_clock() - v0;
        if (st != YOLO_OK) {
            if (train_is_oom(st))
                st = yolo_error(YOLO_ERR_NOMEM,
                                "out of memory validating epoch %d (resume with a smaller batch=, "
                                "validation uses 2x batch)",
                                epoch + 1);
            return st;
        }
    }
    if (!vr->done) return YOLO_OK;
    double fitness = vr->fitness;
    if (!t->have_best || t->best_fitness == 0 || t->best_fitness < fitness) {
        t->best_fitness = fitness;
        t->have_best = true;
    }
    /* early stopping, called with the 1-based epoch as the reference does */
    int e1 = epoch + 1;
    if (fitness > t->st_best_fitness || t->st_best_fitness == 0) {
        t->st_best_epoch = e1;
        t->st_best_fitness = fitness;
    }
    int delta = e1 - t->st_best_epoch;
    /* patience=0 means never stop, as Ultralytics reads it (patience or inf) */
    t->st_possible_stop = t->patience > 0 && delta >= t->patience - 1;
    t->st_stopped = t->patience > 0 && delta >= t->patience;
    return YOLO_OK;
}

/* The epoch's results row and, when validated, train_metrics. lr_pg: the learning rates it trained with. */
static yolo_status record_results(trainer *t, int epoch, const val_result *vr, const double lr_pg[3]) {
    int nc = 0;
    const char *const *cols = results_columns(t->task, &nc);
    double row[RESULTS_MAX_COLUMNS];
    int c = 0;
    row[c++] = epoch + 1;
    row[c++] = results_round5(t->time_total);
    int nl = train_n_losses(t);
    for (int k = 0; k < nl; k++)
        row[c++] = results_round5(t->tloss[k]);
    int nmet = !strcmp(t->task, "segment") ? 8 : !strcmp(t->task, "classify") ? 2 : 4;
    for (int k = 0; k < nmet; k++, c++) {
        row[c] = NAN;
        for (int q = 0; vr->done && q < vr->n; q++)
            if (!strcmp(vr->keys[q], cols[c])) row[c] = vr->vals[q];
    }
    for (int k = 0; k < nl; k++)
        row[c++] = vr->done ? results_round5(vr->vloss[k]) : NAN;
    for (int g = 0; g < 3; g++)
        row[c++] = lr_pg[g];
    if (c != nc) return yolo_error(YOLO_ERR_USAGE, "results: %d values for %d columns", c, nc);
    yolo_status st = results_add_row(t->doc, t->results, t->task, row, nc);
    if (st != YOLO_OK || !vr->done) return st;
    yv *m = yv_new_dict(t->doc);
    if (!m) st = yolo_nomem();
    /* train_metrics: the validation dict (val losses and metrics) plus fitness */
    for (int k = 0; st == YOLO_OK && k < nl; k++)
        st =
            yv_dict_set_new(t->doc, m, cols[2 + nl + nmet + k], yv_new_float(t->doc, row[2 + nl + nmet + k]));
    for (int k = 0; st == YOLO_OK && k < vr->n; k++)
        st = yv_dict_set_new(t->doc, m, vr->keys[k], yv_new_float(t->doc, vr->vals[k]));
    if (st == YOLO_OK)
        st = yv_dict_set_new(t->doc, m, "fitness", yv_new_float(t->doc, results_round5(vr->fitness)));
    if (st == YOLO_OK) t->metrics = m;
    return st;
}

/* best.pt (when fitness improved), epochN.pt (save_period) and out_path, then results.csv and
 * args.yaml. best.pt
 * comes before last.pt: a crash in between re-runs this epoch, which rewrites both. */
static yolo_status write_epoch_files(trainer *t, const char *out_path, int epoch, bool is_best) {
    char path[4200], epath[sizeof path];
    const char *paths[3];
    size_t np = 0;
    if (is_best) {
        sibling(out_path, "best.pt", path, sizeof path);
        paths[np++] = path;
    }
    if (t->save_period > 0 && epoch % t->save_period == 0) {
        char name[64];
        snprintf(name, sizeof name, "epoch%d.pt", epoch);
        sibling(out_path, name, epath, sizeof epath);
        paths[np++] = epath;
    }
    paths[np++] = out_path;
    return save_run(t, paths, np, false);
}

/* End of epoch (spec §3.5): validation, fitness, early stopping, results, checkpoints. */
static yolo_status finish_epoch(trainer *t, epoch_run *e, train_summary *s) {
    int epoch = e->epoch;
    double lr_pg[3];
    for (int g = 0; g < 3; g++)
        lr_pg[g] = optim_get_lr(t->opt, g);
    bool final_epoch = epoch + 1 >= t->epochs;
    val_result vr;
    yolo_status st = validate_epoch(t, epoch, final_epoch, &vr);
    if (st != YOLO_OK) return st;
    double fitness = vr.done ? vr.fitness : NAN;
    bool is_best = vr.done && t->have_best && t->best_fitness == fitness;
    t->time_total = e->time_base + (train_clock() - e->t0);
    if ((st = record_results(t, epoch, &vr, lr_pg)) != YOLO_OK) return st;
    t->epoch_done = epoch;
    t->pos_batch = 0;
    t->pos_seen = 0;
    s->validated = vr.done;
    s->fitness = fitness;
    s->n_metrics = vr.n;
    for (int k = 0; k < vr.n; k++)
        s->metric_keys[k] = vr.keys[k], s->metrics[k] = vr.vals[k];
    s->epoch_done = true;
    s->stopped_early = t->st_stopped;
    s->finished = final_epoch || t->st_stopped;
    s->best = is_best;
    fill_summary(t, s, epoch);
    st = write_epoch_files(t, e->out_path, epoch, is_best);
    s->seconds = train_clock() - e->t0;
    return st;
}

yolo_status train_run(trainer *t, stream_reader *r, const char *out_path, train_summary *s) {
    memset(s, 0, sizeof *s);
    s->fitness = NAN;
    s->position = -1;
    epoch_run e = {.out_path = out_path, .t0 = train_clock()};
    yolo_status st = train_check_header(t, stream_reader_header(r));
    if (st != YOLO_OK) return st;
    const stream_header *h = stream_reader_header(r);
    e.epoch = t->epoch_done + 1;
    e.total = h->total;
    e.nb = (h->total + t->batch - 1) / t->batch;
    e.nw = sched_warmup_iters(t->sc.warmup_epochs, e.nb);
    t->pos_nb = e.nb;
    e.i = t->pos_batch;
    if (e.i == 0) {
        /* the LR scheduler's step at the start of each epoch */
        for (int g = 0; g < OPTIM_NGROUPS; g++)
            optim_set_lr(t->opt, g, sched_epoch_lr(&t->sc, optim_get_initial_lr(t->opt, g), e.epoch));
        memset(t->tloss, 0, sizeof t->tloss);
    }
    fill_summary(t, s, e.epoch);
    train_progress_header(t, e.nb);
    e.v = calloc((size_t)t->batch, sizeof *e.v);
    if (!e.v) return yolo_nomem();
    for (int k = 0; k < t->batch; k++)
        stream_sample_init(&e.v[k]);
    e.time_base = t->time_total;
    bool stopped = false;
    st = run_batches(t, r, &e, s, &stopped);
    s->collective_seconds = t->prof[PROF_COMM];
    /* rank 0 writes; the other ranks validate their share of the val batches and are done */
    if (st == YOLO_OK && !stopped && t->rank == 0) st = finish_epoch(t, &e, s);
    if (st == YOLO_OK && !stopped && t->rank != 0) {
        val_result vr;
        st = validate_epoch(t, e.epoch, e.epoch + 1 >= t->epochs, &vr);
        if (st == YOLO_OK) {
            fill_summary(t, s, e.epoch);
            s->epoch_done = true;
            s->seconds = train_clock() - e.t0;
        }
    }
    if (st == YOLO_OK) train_print_profile(t, train_clock() - e.t0);
    batch_free(&e.b);
    for (int k = 0; k < t->batch; k++)
        stream_sample_free(&e.v[k]);
    free(e.v);
    return st;
}
