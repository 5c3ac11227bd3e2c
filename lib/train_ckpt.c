/* The checkpoint of a trainer: the value tree of yolo-checkpoint(5) (weights lent, not copied) and its
 * atomic writes. */
#include "train_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/lock.h"
#include "yolo/rundata.h"

/* Storages of a value tree whose bytes are the trainer's own tensor memory rather than copies: a
 * save streams the weights from where they are. They must be given back (lent_return) before the
 * doc is freed, and the tensors must not change while the tree is in use. */
typedef struct {
    yv_storage **s;
    size_t n, cap;
} lent;

static void lent_return(lent *l) {
    for (size_t i = 0; l && i < l->n; i++)
        l->s[i]->data = NULL;
    if (l) free(l->s), memset(l, 0, sizeof *l);
}

/* The tensor as a value: its memory lent when l is given and the tensor is a plain row-major CPU
 * float32 or int64 one, else a copy (other layouts, devices and dtypes go through torch_copy_out). */
static yolo_status tensor_value(yv_doc *doc, const torch_tensor *t, lent *l, yv **out) {
    int64_t shape[8];
    int nd = torch_shape(t, shape, 8);
    torch_dtype dt = torch_dtype_of(t);
    bool i64 = dt == TORCH_I64;
    void *mem = l && (dt == TORCH_F32 || i64) ? torch_data_ptr(t) : NULL;
    if (mem && l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        yv_storage **ns = realloc(l->s, cap * sizeof *ns);
        if (!ns) return yolo_nomem();
        l->s = ns, l->cap = cap;
    }
    if (mem) {
        int64_t stride[8], step = 1;
        for (int d = nd - 1; d >= 0; d--)
            stride[d] = step, step *= shape[d] ? shape[d] : 1;
        yv_storage *sto = yv_new_storage(doc, i64 ? YDT_I64 : YDT_F32, torch_numel(t), false);
        yv *v = sto ? yv_new_tensor_view(doc, sto, i64 ? YDT_I64 : YDT_F32, nd, shape, stride, 0) : NULL;
        if (!v) return yolo_nomem();
        sto->data = mem;
        l->s[l->n++] = sto;
        *out = v;
        return YOLO_OK;
    }
    yv *v = yv_new_tensor(doc, i64 ? YDT_I64 : YDT_F32, nd, shape);
    if (!v) return yolo_nomem();
    yolo_status st =
        torch_copy_out(t, i64 ? TORCH_I64 : TORCH_F32, yv_tensor_data(&v->tensor), torch_numel(t));
    if (st == YOLO_OK) *out = v;
    return st;
}

static yolo_status lend_value(void *l, yv_doc *doc, const torch_tensor *t, yv **out) {
    return tensor_value(doc, t, l, out);
}

/* model and ema: the state dicts (model_export_state_dict's form), with the weights lent */
static yolo_status put_weights(trainer *t, yv_doc *doc, yv *r, lent *l) {
    yolo_status st;
    yv *msd = yv_new_dict(doc), *esd = yv_new_dict(doc);
    if (!msd || !esd) return yolo_nomem();
    msd->dict.ordered = true;
    for (int i = 0; i < model_param_count(t->m); i++) {
        yv *tv = NULL;
        YOLO_TRY(tensor_value(doc, model_tensor(t->m, i), l, &tv));
        YOLO_TRY(yv_dict_set_new(doc, msd, model_param_name(t->m, i), tv));
    }
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_MODEL, msd));
    esd->dict.ordered = true;
    for (int i = 0; i < ema_count(t->ema); i++) {
        yv *tv = NULL;
        YOLO_TRY(tensor_value(doc, ema_tensor(t->ema, i), l, &tv));
        YOLO_TRY(yv_dict_set_new(doc, esd, ema_name(t->ema, i), tv));
    }
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_EMA, esd));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_UPDATES, yv_new_int(doc, ema_updates(t->ema))));
    yv *opt = NULL;
    YOLO_TRY(optim_state_save(t->opt, doc, lend_value, l, &opt));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_OPTIMIZER, opt));
done:
    return st;
}

/* the model's YAML, classes and strides, and the seed */
static yolo_status put_model_info(trainer *t, yv_doc *doc, yv *r) {
    yolo_status st;
    yv *y = yv_new_dict(doc);
    if (!y) return yolo_nomem();
    const char *base = strrchr(t->yaml_file, '/');
    YOLO_TRY(yv_dict_set_new(doc, y, "yaml_file", yv_new_str(doc, base ? base + 1 : t->yaml_file)));
    char sc[2] = {modelcfg_scale(t->cfg), 0};
    YOLO_TRY(yv_dict_set_new(doc, y, "scale", yv_new_str(doc, sc)));
    YOLO_TRY(yv_dict_set_new(doc, y, "nc", yv_new_int(doc, t->nc)));
    /* the YAML itself: a run from a YAML of one's own resumes (and validates) without the file */
    YOLO_TRY(yv_dict_set_new(doc, y, "text", yv_new_str(doc, modelcfg_text(t->cfg))));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_YAML, y));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_NC, yv_new_int(doc, t->nc)));
    yv *names = yv_new_dict(doc), *strides = yv_new_list(doc);
    if (!names || !strides) return yolo_nomem();
    for (int i = 0; i < t->nc; i++)
        YOLO_TRY(yv_dict_put(doc, names, yv_new_int(doc, i), yv_new_str(doc, t->names[i])));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_NAMES, names));
    int nl = 0;
    const double *s = model_strides(t->m, &nl);
    for (int i = 0; i < nl; i++)
        YOLO_TRY(yv_seq_push(doc, strides, yv_new_float(doc, s[i])));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_STRIDE, strides));
    yv *rng = yv_new_dict(doc);
    if (!rng) return yolo_nomem();
    YOLO_TRY(yv_dict_set_new(doc, rng, "seed", yv_new_int(doc, (int64_t)t->seed)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_RNG, rng));
done:
    return st;
}

/* the position inside the epoch when saved mid-epoch (None at an epoch's end) */
static yolo_status put_position(trainer *t, yv_doc *doc, yv *r, bool mid_epoch) {
    yolo_status st;
    if (!mid_epoch) return yv_dict_set_new(doc, r, CKPTFMT_KEY_POSITION, yv_new_none(doc));
    yv *p = yv_new_dict(doc), *tl = yv_new_list(doc);
    if (!p || !tl) return yolo_nomem();
    const struct {
        const char *key;
        int64_t value;
    } counts[] = {
        {"epoch", t->epoch_done + 1}, {"batch", t->pos_batch}, {"nb", t->pos_nb}, {"seen", t->pos_seen}};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++)
        YOLO_TRY(yv_dict_set_new(doc, p, counts[k].key, yv_new_int(doc, counts[k].value)));
    for (int k = 0; k < train_n_losses(t); k++)
        YOLO_TRY(yv_seq_push(doc, tl, yv_new_float(doc, t->tloss[k])));
    YOLO_TRY(yv_dict_set_new(doc, p, "tloss", tl));
    YOLO_TRY(yv_dict_set_new(doc, p, "time", yv_new_float(doc, t->time_total)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_POSITION, p));
done:
    return st;
}

/* early stopping, accumulation (with the gradients of batches not yet stepped), threads, scheduler */
static yolo_status put_counters(trainer *t, yv_doc *doc, yv *r, bool mid_epoch) {
    yolo_status st;
    yv *stp = yv_new_dict(doc);
    if (!stp) return yolo_nomem();
    YOLO_TRY(yv_dict_set_new(doc, stp, "best_fitness", yv_new_float(doc, t->st_best_fitness)));
    YOLO_TRY(yv_dict_set_new(doc, stp, "best_epoch", yv_new_int(doc, t->st_best_epoch)));
    YOLO_TRY(yv_dict_set_new(doc, stp, "patience", yv_new_int(doc, t->patience)));
    YOLO_TRY(yv_dict_set_new(doc, stp, "possible_stop", yv_new_bool(doc, t->st_possible_stop)));
    YOLO_TRY(yv_dict_set_new(doc, stp, "stopped", yv_new_bool(doc, t->st_stopped)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_STOPPER, stp));
    yv *acc = yv_new_dict(doc);
    if (!acc) return yolo_nomem();
    YOLO_TRY(yv_dict_set_new(doc, acc, "accumulate", yv_new_int(doc, t->accumulate)));
    YOLO_TRY(yv_dict_set_new(doc, acc, "last_opt_step", yv_new_int(doc, t->last_opt_step)));
    YOLO_TRY(yv_dict_set_new(doc, acc, "iteration", yv_new_int(doc, t->iteration)));
    if (t->iteration > t->last_opt_step) {
        /* batches since the last step left gradients that the next step must still see */
        yv *g = yv_new_dict(doc);
        if (!g) return yolo_nomem();
        for (int i = 0; i < model_param_count(t->m); i++) {
            torch_tensor *p = model_tensor(t->m, i), *gr = NULL;
            if (model_param_is_buffer(t->m, i) || !torch_has_grad(p)) continue;
            yv *tv = NULL;
            st = torch_grad(p, &gr);
            if (st == YOLO_OK) st = tensor_value(doc, gr, NULL, &tv);
            torch_free(gr);
            if (st != YOLO_OK) goto done;
            YOLO_TRY(yv_dict_set_new(doc, g, model_param_name(t->m, i), tv));
        }
        YOLO_TRY(yv_dict_set_new(doc, acc, "grads", g));
    } else {
        YOLO_TRY(yv_dict_set_new(doc, acc, "grads", yv_new_none(doc)));
    }
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_ACCUMULATE, acc));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_THREADS, yv_new_int(doc, t->threads)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_MICRO_BATCH, yv_new_int(doc, t->micro)));
    yv *sch = yv_new_dict(doc);
    if (!sch) return yolo_nomem();
    YOLO_TRY(yv_dict_set_new(doc, sch, "last_epoch",
                             yv_new_int(doc, mid_epoch ? t->epoch_done + 1 : t->epoch_done)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_SCHEDULER, sch));
done:
    return st;
}

/* The whole checkpoint, in the key order of yolo-checkpoint(5). */
static yolo_status build_root(trainer *t, yv_doc *doc, bool mid_epoch, lent *l, yv **out) {
    yv *r = NULL;
    yolo_status st = ckptfmt_new_root(doc, &r);
    if (st != YOLO_OK) return st;
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_EPOCH, yv_new_int(doc, t->epoch_done)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_BEST_FITNESS,
                             t->have_best ? yv_new_float(doc, t->best_fitness) : yv_new_none(doc)));
    YOLO_TRY(put_weights(t, doc, r, l));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_TRAIN_ARGS, yv_copy_plain(doc, t->args)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_TRAIN_METRICS, yv_copy_plain(doc, t->metrics)));
    if (t->val_table)
        YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_VAL_TABLE, yv_copy_plain(doc, t->val_table)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_TRAIN_RESULTS, yv_copy_plain(doc, t->results)));
    char ver[64];
    snprintf(ver, sizeof ver, "yolo-tools %s", CKPTFMT_WRITER_VERSION);
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_VERSION, yv_new_str(doc, ver)));
    YOLO_TRY(yv_dict_set_new(doc, r, CKPTFMT_KEY_TASK, yv_new_str(doc, t->task)));
    YOLO_TRY(put_model_info(t, doc, r));
    YOLO_TRY(put_position(t, doc, r, mid_epoch));
    YOLO_TRY(put_counters(t, doc, r, mid_epoch));
    YOLO_TRY(rundata_put(doc, r, t->run_dir, t->data, t->data_root));
    *out = r;
done:
    return st;
}

/* One value tree for every file: they hold the same state. paths[n-1] (last.pt) takes the bytes, the
 * others are links to it (ckpt_write_many). */
yolo_status train_ckpt_write(trainer *t, const char *const *paths, size_t n, bool mid_epoch) {
    double t0 = train_clock();
    yv_doc *doc = yv_doc_new();
    yv *root = NULL;
    lent l = {0};
    lock_run_dir(paths[n - 1], t->run_dir, sizeof t->run_dir); /* where the dataset is recorded from */
    yolo_status st = doc ? build_root(t, doc, mid_epoch, &l, &root) : yolo_nomem();
    if (st == YOLO_OK) st = ckpt_write_many(paths, n, root);
    lent_return(&l);
    yv_doc_free(doc);
    t->prof[PROF_SAVE] += train_clock() - t0;
    return st;
}

yolo_status train_save_as(trainer *t, const char *path, bool mid_epoch) {
    return train_ckpt_write(t, &path, 1, mid_epoch);
}

yolo_status train_save(trainer *t, const char *path) {
    return train_save_as(t, path, t->pos_batch > 0);
}
