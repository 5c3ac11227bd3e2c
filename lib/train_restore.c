/* A trainer restored from a checkpoint: weights, EMA, optimizer state (in either layout), the schedule
 * and accumulation position, early stopping and the position inside an epoch. */
#include "train_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/dataset.h"
#include "yolo/lock.h"
#include "yolo/microsplit.h"
#include "yolo/rundata.h"
#include "yolo/torch_train.h"

static yolo_status tensor_from_yv(const yv *v, torch_tensor *dst, const char *what) {
    if (!v || v->kind != YV_TENSOR) return yolo_error(YOLO_ERR_FORMAT, "%s: missing", what);
    int64_t n = yv_tensor_numel(&v->tensor);
    if (n != torch_numel(dst))
        return yolo_error(YOLO_ERR_FORMAT, "%s: %" PRId64 " elements, expected %" PRId64, what, n,
                          torch_numel(dst));
    yolo_status st;
    const void *raw = yv_tensor_is_contiguous(&v->tensor) ? yv_tensor_data(&v->tensor) : NULL;
    /* a row-major tensor of the destination's type goes straight in (the checkpoint's own tensors) */
    if (raw && v->tensor.dtype == YDT_F32 && torch_dtype_of(dst) == TORCH_F32)
        return torch_copy_in(dst, raw, TORCH_F32, n);
    if (raw && v->tensor.dtype == YDT_I64 && torch_dtype_of(dst) == TORCH_I64)
        return torch_copy_in(dst, raw, TORCH_I64, n);
    if (torch_dtype_of(dst) == TORCH_I64) {
        double *b = malloc(sizeof(double) * (size_t)(n ? n : 1));
        int64_t *ib = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        st = b && ib ? yv_tensor_to_f64(&v->tensor, b) : yolo_nomem();
        for (int64_t k = 0; st == YOLO_OK && k < n; k++)
            ib[k] = (int64_t)b[k];
        if (st == YOLO_OK) st = torch_copy_in(dst, ib, TORCH_I64, n);
        free(b);
        free(ib);
    } else {
        float *b = malloc(sizeof(float) * (size_t)(n ? n : 1));
        st = b ? yv_tensor_to_f32(&v->tensor, b) : yolo_nomem();
        if (st == YOLO_OK) st = torch_copy_in(dst, b, TORCH_F32, n);
        free(b);
    }
    return st;
}

static yolo_status restore_grads(trainer *t, const yv *grads) {
    if (!grads || grads->kind != YV_DICT) return YOLO_OK;
    yolo_status st = YOLO_OK;
    for (size_t i = 0; i < grads->dict.n && st == YOLO_OK; i++) {
        const char *name = yv_as_str(grads->dict.keys[i]);
        int k = name ? model_param_find(t->m, name) : -1;
        if (k < 0)
            return yolo_error(YOLO_ERR_FORMAT, "accumulate.grads: unknown parameter %s", name ? name : "?");
        torch_tensor *p = model_tensor(t->m, k), *g = NULL;
        int64_t shape[8];
        int nd = torch_shape(p, shape, 8);
        st = torch_zeros(nd, shape, TORCH_F32, torch_device_of(p), &g);
        if (st == YOLO_OK) st = tensor_from_yv(grads->dict.vals[i], g, name);
        if (st == YOLO_OK) st = tt_set_grad(p, g);
        torch_free(g);
    }
    return st;
}

/* train_args, train_results, train_metrics and the last val table, copied into the trainer's doc */
static yolo_status restore_values(trainer *t, const yv *root, const char *path) {
    t->args = yv_copy_plain(t->doc, yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS));
    if (!t->args || t->args->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "%s: no train_args", path);
    const yv *res = yv_dict_get(root, CKPTFMT_KEY_TRAIN_RESULTS);
    t->results = res && res->kind == YV_DICT ? yv_copy_plain(t->doc, res) : yv_new_dict(t->doc);
    const yv *met = yv_dict_get(root, CKPTFMT_KEY_TRAIN_METRICS);
    t->metrics = met && met->kind == YV_DICT ? yv_copy_plain(t->doc, met) : yv_new_dict(t->doc);
    if (!t->results || !t->metrics) return yolo_nomem();
    const yv *table = yv_dict_get(root, CKPTFMT_KEY_VAL_TABLE);
    if (yv_as_str(table)) t->val_table = yv_copy_plain(t->doc, table);
    return YOLO_OK;
}

/* nc and the class names */
static yolo_status restore_names(trainer *t, const yv *root, const char *path, int64_t *nc) {
    const yv *names = yv_dict_get(root, CKPTFMT_KEY_NAMES);
    *nc = 0;
    if (!yv_get_int(root, CKPTFMT_KEY_NC, nc) || *nc < 1 || !names || names->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "%s: nc or names missing", path);
    char **nm = calloc((size_t)*nc, sizeof *nm);
    if (!nm) return yolo_nomem();
    for (size_t i = 0; i < names->dict.n; i++) {
        int64_t k;
        if (yv_as_int(names->dict.keys[i], &k) && k >= 0 && k < *nc)
            nm[k] = (char *)yv_as_str(names->dict.vals[i]);
    }
    yolo_status st = train_set_names(t, (const char *const *)nm, (int)*nc);
    free(nm);
    return st;
}

/* The run's dataset, where it was recorded (rundata.h), or data= of this resume when it holds the same
 * classes: a run goes on only on a dataset with its class names. */
static yolo_status restore_data(trainer *t, const yv *root, const char *path) {
    if (!t->o.data) {
        yolo_status st =
            rundata_find(root, t->run_dir, t->data, sizeof t->data, t->data_root, sizeof t->data_root);
        return st ? yolo_error_prefix(st, path) : YOLO_OK;
    }
    char found[4096];
    dataset *ds = NULL;
    yolo_status st = dataset_find(t->o.data, found, sizeof found);
    if (!st) st = dataset_open_at(found, NULL, &ds);
    if (!st) {
        const char *const *names = dataset_names(ds);
        int nc = dataset_nc(ds), k = 0;
        while (k < nc && k < t->nc && !strcmp(names[k], t->names[k]))
            k++;
        if (nc != t->nc)
            st = yolo_error(
                YOLO_ERR_USAGE,
                "data=%s: %d classes, the run has %d; a run goes on only on a dataset with the same class "
                "names (start a new run from these weights with model=%s)",
                t->o.data, nc, t->nc, path);
        else if (k < nc)
            st = yolo_error(
                YOLO_ERR_USAGE,
                "data=%s: class %d is '%s' there and '%s' in the run; a run goes on only on a dataset with "
                "the same class names (start a new run from these weights with model=%s)",
                t->o.data, k, names[k], t->names[k], path);
    }
    if (!st) st = train_set_data(t, found, ds);
    dataset_free(ds);
    return st;
}

/* The network from its YAML, its weights, the EMA and the optimizer with its state. */
static yolo_status restore_network(trainer *t, const yv *root, const char *path, int nc) {
    yolo_status st;
    const yv *stored = yv_dict_get(root, CKPTFMT_KEY_YAML);
    const char *yf = yv_as_str(yv_dict_get(stored, "yaml_file"));
    if (!yf) yf = yv_get_str(t->args, "model"), stored = NULL;
    if (!yf) return yolo_error(YOLO_ERR_FORMAT, "%s: does not name its model YAML", path);
    YOLO_TRY(train_build_model(t, yf, stored, nc, true));
    int n_loaded = 0;
    const yv *msd = yv_dict_get(root, CKPTFMT_KEY_MODEL);
    YOLO_TRY(model_load_state_dict(t->m, msd, &n_loaded, NULL, 0));
    if (n_loaded != model_param_count(t->m))
        return yolo_error(YOLO_ERR_FORMAT, "%s: model holds %d of the %d tensors of %s", path, n_loaded,
                          model_param_count(t->m), yf);
    YOLO_TRY(train_build_ema(t));
    const yv *esd = yv_dict_get(root, CKPTFMT_KEY_EMA);
    if (esd && esd->kind == YV_DICT)
        for (int i = 0; i < ema_count(t->ema); i++)
            YOLO_TRY(tensor_from_yv(yv_dict_get(esd, ema_name(t->ema, i)), ema_tensor(t->ema, i),
                                    ema_name(t->ema, i)));
    int64_t v;
    if (yv_get_int(root, CKPTFMT_KEY_UPDATES, &v)) ema_set_updates(t->ema, v);

    const yv *os = yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER);
    optim_kind kind;
    if ((st = optim_state_kind(os, &kind)) != YOLO_OK) return yolo_error_prefix(st, path);
    YOLO_TRY(train_build_optimizer(t, kind, 0, 0, 0));
    YOLO_TRY(optim_state_load(t->opt, os));
done:
    return st;
}

/* The position inside an epoch saved mid-epoch, and the loss means so far. batch_before: the
 * checkpoint's batch size (this process may have changed it). */
static yolo_status restore_position(trainer *t, const yv *pos, const char *path, int batch_before) {
    int64_t pe = -1;
    yv_get_int(pos, "epoch", &pe);
    if (pe != t->epoch_done + 1)
        return yolo_error(YOLO_ERR_FORMAT, "%s: position is in epoch %" PRId64 " but epoch %d is the next",
                          path, pe, t->epoch_done + 2);
    yv_get_int(pos, "batch", &t->pos_batch);
    yv_get_int(pos, "seen", &t->pos_seen);
    yv_get_int(pos, "nb", &t->pos_nb);
    const yv *tl = yv_dict_get(pos, "tloss");
    for (size_t i = 0; tl && tl->kind == YV_LIST && i < tl->seq.n && i < 5; i++) {
        double d = 0;
        yv_as_double(tl->seq.items[i], &d);
        t->tloss[i] = (float)d;
    }
    if (t->batch != batch_before && t->pos_seen % t->batch)
        return yolo_error(YOLO_ERR_USAGE,
                          "%s: saved %" PRId64 " samples into epoch %d, which is not a whole number of "
                          "batches of %d (change batch= at an epoch boundary, or resume with batch=%d)",
                          path, t->pos_seen, t->epoch_done + 2, t->batch, batch_before);
    t->pos_batch = t->pos_seen / t->batch;
    return YOLO_OK;
}

/* Epoch, best fitness, early stopping, accumulation, the position inside the epoch and the time. */
static yolo_status restore_counters(trainer *t, const yv *root, const char *path, int batch_before) {
    yolo_status st;
    int64_t v;
    t->epoch_done = yv_get_int(root, CKPTFMT_KEY_EPOCH, &v) ? (int)v : -1;
    const yv *bf = yv_dict_get(root, CKPTFMT_KEY_BEST_FITNESS);
    t->have_best = bf && yv_as_double(bf, &t->best_fitness);
    const yv *stp = yv_dict_get(root, CKPTFMT_KEY_STOPPER);
    t->st_best_fitness = yv_get_num(stp, "best_fitness", 0);
    t->st_best_epoch = yv_get_int(stp, "best_epoch", &v) ? (int)v : 0;
    t->st_possible_stop = yv_is_truthy(yv_dict_get(stp, "possible_stop"));
    t->st_stopped = yv_is_truthy(yv_dict_get(stp, "stopped"));
    const yv *acc = yv_dict_get(root, CKPTFMT_KEY_ACCUMULATE);
    t->accumulate = yv_get_int(acc, "accumulate", &v) && v >= 1 ? (int)v : sched_accumulate(t->nbs, t->batch);
    /* a new batch size starts from its own accumulation count; warmup recomputes it anyway */
    if (t->batch != batch_before) t->accumulate = sched_accumulate(t->nbs, t->batch);
    /* an imported file has no step history: the first batch steps, as Ultralytics' resume does */
    t->last_opt_step = yv_get_int(acc, "last_opt_step", &v) ? v : -1;
    t->iteration = yv_get_int(acc, "iteration", &v) ? v : -1;
    if ((st = restore_grads(t, yv_dict_get(acc, "grads"))) != YOLO_OK) return st;
    const yv *pos = yv_dict_get(root, CKPTFMT_KEY_POSITION);
    bool mid_epoch = pos && pos->kind == YV_DICT;
    if (mid_epoch && (st = restore_position(t, pos, path, batch_before)) != YOLO_OK) return st;
    t->time_total = 0;
    const yv *tcol = yv_dict_get(t->results, "time");
    if (tcol && tcol->kind == YV_LIST && tcol->seq.n)
        yv_as_double(tcol->seq.items[tcol->seq.n - 1], &t->time_total);
    if (mid_epoch) {
        double el = 0;
        if (yv_as_double(yv_dict_get(pos, "time"), &el)) t->time_total = el;
    }
    return YOLO_OK;
}

yolo_status train_open(const char *path, const train_opts *o, trainer **out) {
    trainer *t = train_alloc(o);
    if (!t) return yolo_nomem();
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st;
    char why[256];
    void *shared = NULL; /* rank 0's checkpoint, on every rank */
    size_t shared_len = 0;
    if (t->world > 1) {
        YOLO_TRY(train_dist_share_file(t, path, &shared, &shared_len));
        YOLO_TRY(ckpt_read_memory(path, shared, shared_len, NULL, &doc, &root));
    } else {
        YOLO_TRY(ckpt_read(path, NULL, &doc, &root));
    }
    if (!yv_dict_get(root, CKPTFMT_KEY_FORMAT)) {
        ckptfmt_kind_t kind = ckptfmt_kind(root);
        YOLO_TRY(yolo_error(YOLO_ERR_FORMAT,
                            "%s: %s, not one of ours (convert it with 'yolo-ckpt import', or start a new "
                            "run from it with model=%s)",
                            path, ckptfmt_kind_describe(kind), path));
    }
    if (!ckptfmt_resumable(root, why, sizeof why))
        YOLO_TRY(yolo_error(YOLO_ERR_USAGE,
                            "%s: cannot continue: %s (start a new run with model=%s to train on from "
                            "these weights)",
                            path, why, path));
    lock_run_dir(path, t->run_dir, sizeof t->run_dir);
    YOLO_TRY(restore_values(t, root, path));
    YOLO_TRY(train_args_defaults(t->doc, t->args));
    YOLO_TRY(train_load_settings(t));
    int64_t v, nc;
    if (yv_get_int(root, CKPTFMT_KEY_THREADS, &v) && v > 0) t->threads = (int)v;
    int batch_before = t->batch;
    YOLO_TRY(train_apply_process_opts(t));
    int64_t micro = batch_before; /* files from before micro-batches trained whole batches */
    yv_get_int(root, CKPTFMT_KEY_MICRO_BATCH, &micro);
    YOLO_TRY(microsplit_resolve(t->batch, t->world,
                                micro > 0 && micro <= INT32_MAX ? (int)micro : batch_before, batch_before,
                                path, &t->micro));
    YOLO_TRY(restore_names(t, root, path, &nc));
    YOLO_TRY(restore_data(t, root, path));
    YOLO_TRY(restore_network(t, root, path, (int)nc));
    YOLO_TRY(restore_counters(t, root, path, batch_before));
    yv_doc_free(doc);
    free(shared);
    *out = t;
    return YOLO_OK;
done:
    yv_doc_free(doc);
    free(shared);
    train_free(t);
    return st;
}
