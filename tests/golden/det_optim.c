/* det_optim.pt: parameter groups, one SGD step and its momentum buffers, the trainer's clipped step
 * with the EMA update, optimizer=auto (AdamW) and the warmup tables. Start weights come from
 * det_forward.pt, gradients and post-forward BN buffers from det_loss.pt (same folder). */
#include <stdbool.h>

#include "golden.h"
#include "loss_util.h"
#include "yolo/ckpt.h"
#include "yolo/ema.h"
#include "yolo/optim.h"
#include "yolo/schedule.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

static bool is_buffer(const char *name) {
    size_t n = strlen(name);
    const char *suf[3] = {"running_mean", "running_var", "num_batches_tracked"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suf[i]);
        if (n >= k && !strcmp(name + n - k, suf[i])) return true;
    }
    return false;
}

/* The model's parameters (not buffers) from a state dict, fresh copies with gradients from grads. */
typedef struct {
    int n;
    const char **names;
    torch_tensor **t;
    optim_param *p;
} params;

static void params_free(params *P) {
    for (int i = 0; i < P->n; i++)
        torch_free(P->t[i]);
    free(P->names);
    free(P->t);
    free(P->p);
    memset(P, 0, sizeof *P);
}

static bool params_load(params *P, const yv *sd, const yv *grads) {
    memset(P, 0, sizeof *P);
    size_t cap = sd->dict.n;
    P->names = calloc(cap + 1, sizeof *P->names);
    P->t = calloc(cap + 1, sizeof *P->t);
    P->p = calloc(cap + 1, sizeof *P->p);
    if (!P->names || !P->t || !P->p) return false;
    for (size_t i = 0; i < cap; i++) {
        const char *k = yv_as_str(sd->dict.keys[i]);
        if (!k || is_buffer(k)) continue;
        torch_tensor *t = lu_tensor(sd->dict.vals[i]);
        if (!t) return false;
        P->names[P->n] = k;
        P->t[P->n] = t;
        P->p[P->n] = (optim_param){k, t, optim_name_is_norm(k)};
        torch_set_requires_grad(t, true);
        const yv *g = grads ? yv_dict_get(grads, k) : NULL;
        if (g) {
            torch_tensor *gt = lu_tensor(g);
            bool ok = gt && tt_set_grad(t, gt) == YOLO_OK;
            torch_free(gt);
            if (!ok) return false;
        }
        P->n++;
    }
    return P->n > 0;
}

static int find(const params *P, const char *name) {
    for (int i = 0; i < P->n; i++)
        if (!strcmp(P->names[i], name)) return i;
    return -1;
}

/* Max abs difference over every tensor in a stored dict name -> tensor. */
static double dict_diff(const params *P, const yv *stored, int *missing) {
    double worst = 0;
    *missing = 0;
    for (size_t i = 0; stored && i < stored->dict.n; i++) {
        int k = find(P, yv_as_str(stored->dict.keys[i]));
        if (k < 0) {
            (*missing)++;
            continue;
        }
        double d = lu_abs(P->t[k], stored->dict.vals[i]);
        if (!(d <= worst)) worst = d;
    }
    return stored ? worst : INFINITY;
}

static int check_groups(const char *file, const char *label, const optim *o, const yv *groups, double lr,
                        double momentum, bool sgd) {
    char group[128];
    double worst = 0;
    bool ok = groups && groups->kind == YV_LIST && groups->seq.n == OPTIM_NGROUPS;
    for (int g = 0; ok && g < OPTIM_NGROUPS; g++) {
        const yv *G = groups->seq.items[g];
        const char *pg = yv_as_str(yv_dict_get(G, "param_group"));
        const yv *names = yv_dict_get(G, "names");
        ok = pg && !strcmp(pg, optim_group_name(g)) && names && names->kind == YV_LIST &&
             (int)names->seq.n == optim_group_size(o, g);
        for (int i = 0; ok && i < optim_group_size(o, g); i++) {
            const char *s = yv_as_str(names->seq.items[i]);
            ok = s && !strcmp(s, optim_param_name(o, optim_group_member(o, g, i)));
        }
        double x = NAN;
        if (ok && yv_as_double(yv_dict_get(G, "lr"), &x)) worst = fmax(worst, fabs(x - optim_get_lr(o, g)));
        if (ok && yv_as_double(yv_dict_get(G, "weight_decay"), &x))
            worst = fmax(worst, fabs(x - optim_get_weight_decay(o, g)));
        if (ok && sgd && yv_as_double(yv_dict_get(G, "momentum"), &x))
            worst = fmax(worst, fabs(x - optim_get_momentum(o, g)));
        ok = ok && fabs(optim_get_lr(o, g) - lr) == 0 && (!sgd || optim_get_momentum(o, g) == momentum);
    }
    snprintf(group, sizeof group, "%s groups (order, names, lr, momentum, decay)", label);
    return golden_report(file, group, ok ? worst : INFINITY, ok && worst == 0);
}

static int check_sgd(const char *file, const yv *root, const yv *sd, const yv *grads) {
    char group[128];
    int failed = 0;
    double lr0 = lu_num(root, "scenario.lr0"), mom = lu_num(root, "scenario.momentum");
    double wd = lu_num(root, "scenario.weight_decay_scaled");
    params P;
    optim *o = NULL;
    if (!params_load(&P, sd, grads) || optim_new(OPTIM_SGD, lr0, mom, wd, P.p, P.n, &o) != YOLO_OK) {
        params_free(&P);
        return golden_report(file, "sgd setup", INFINITY, false);
    }
    failed += check_groups(file, "sgd", o, yv_path(root, "sgd.groups"), lr0, mom, true);
    if (optim_step(o) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "sgd step", INFINITY, false);
    } else {
        int missing = 0;
        const yv *after = yv_path(root, "sgd.params_after_step");
        double d = dict_diff(&P, after, &missing);
        bool all = after && (int)after->dict.n == P.n && !missing;
        snprintf(group, sizeof group, "sgd params_after_step (%d tensors)", P.n);
        failed += golden_report(file, group, all ? d : INFINITY, all && d == 0);
        /* momentum buffers through the saved state */
        yv_doc *doc = yv_doc_new();
        yv *state = NULL;
        double worst = INFINITY;
        const yv *subset = yv_path(root, "sgd.momentum_buffer_subset");
        if (doc && subset && optim_state_save(o, doc, NULL, NULL, &state) == YOLO_OK) {
            worst = 0;
            for (size_t i = 0; i < subset->dict.n; i++) {
                const char *k = yv_as_str(subset->dict.keys[i]);
                const yv *b = yv_dict_get(yv_dict_get(yv_dict_get(state, "state"), k), "momentum_buffer");
                long n = b ? (long)yv_tensor_numel(&b->tensor) : 0;
                float *f = b ? malloc(sizeof(float) * (size_t)(n ? n : 1)) : NULL;
                double dd = f && yv_tensor_to_f32(&b->tensor, f) == YOLO_OK
                                ? golden_max_abs_diff(f, n, subset->dict.vals[i])
                                : INFINITY;
                free(f);
                if (!(dd <= worst)) worst = dd;
            }
        }
        failed += golden_report(file, "sgd momentum_buffer_subset (saved state)", worst, worst == 0);
        yv_doc_free(doc);
    }
    optim_free(o);
    params_free(&P);
    return failed;
}

static int check_trainer_step(const char *file, const yv *root, const yv *sd, const yv *grads,
                              const yv *bn_after) {
    char group[128];
    int failed = 0;
    const yv *ts = yv_dict_get(root, "trainer_step");
    double lr0 = lu_num(root, "scenario.lr0"), mom = lu_num(root, "scenario.momentum");
    double wd = lu_num(root, "scenario.weight_decay_scaled");
    params P;
    optim *o = NULL;
    ema *e = NULL;
    /* the EMA starts from the whole state before the forward */
    int ns = (int)sd->dict.n;
    const char **snames = calloc((size_t)ns + 1, sizeof *snames);
    torch_tensor **sten = calloc((size_t)ns + 1, sizeof *sten),
                 **after = calloc((size_t)ns + 1, sizeof *after);
    bool ok = snames && sten && after && ts && params_load(&P, sd, grads) &&
              optim_new(OPTIM_SGD, lr0, mom, wd, P.p, P.n, &o) == YOLO_OK;
    for (int i = 0; ok && i < ns; i++) {
        snames[i] = yv_as_str(sd->dict.keys[i]);
        ok = snames[i] && (sten[i] = lu_tensor(sd->dict.vals[i])) != NULL;
    }
    ok = ok && ema_new(snames, (const torch_tensor *const *)sten, ns, &e) == YOLO_OK;
    if (!ok) {
        failed += golden_report(file, "trainer_step setup", INFINITY, false);
        goto done;
    }
    double norm = 0, max_norm = lu_num(ts, "clip_max_norm");
    if (optim_clip_grad_norm(o, max_norm, &norm) != YOLO_OK || optim_step(o) != YOLO_OK ||
        optim_zero_grad(o) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "trainer_step clip/step", INFINITY, false);
        goto done;
    }
    double d = lu_rel1(norm, lu_num(ts, "grad_total_norm"), 1e-12);
    failed += golden_report(file, "trainer_step grad_total_norm(rel)", d, d <= 1e-6);
    int missing = 0;
    d = dict_diff(&P, yv_dict_get(ts, "params_after_subset"), &missing);
    failed += golden_report(file, "trainer_step params_after_subset (clipped SGD step)",
                            missing ? INFINITY : d, !missing && d <= 1e-7);
    /* gradients stay allocated and zero after zero_grad */
    bool zero = true;
    for (int i = 0; i < P.n && zero; i++) {
        torch_tensor *g = NULL;
        if (!torch_has_grad(P.t[i])) continue;
        double mx = 1;
        zero = torch_grad(P.t[i], &g) == YOLO_OK && tt_max_value(g, &mx) == YOLO_OK && mx == 0;
        torch_free(g);
    }
    failed += golden_report(file, "trainer_step zero_grad", zero ? 0 : INFINITY, zero);
    /* the model's state after the step: stepped parameters, BN buffers from the train forward */
    for (int i = 0; i < ns && ok; i++) {
        int k = find(&P, snames[i]);
        if (k >= 0)
            ok = torch_alias(P.t[k], &after[i]) == YOLO_OK;
        else
            ok = (after[i] = lu_tensor(yv_dict_get(bn_after, snames[i]))) != NULL;
    }
    if (!ok || ema_update(e, (const torch_tensor *const *)after, ns) != YOLO_OK) {
        failed += golden_report(file, "trainer_step ema update", INFINITY, false);
        goto done;
    }
    d = fabs(ema_decay_at(ema_updates(e)) - lu_num(ts, "ema_decay")) +
        fabs((double)ema_updates(e) - lu_num(ts, "ema_updates"));
    failed += golden_report(file, "trainer_step ema_decay/updates", d, d == 0);
    {
        const yv *sub = yv_dict_get(ts, "ema_after_subset");
        double worst = sub ? 0 : INFINITY;
        for (size_t i = 0; sub && i < sub->dict.n; i++) {
            const char *k = yv_as_str(sub->dict.keys[i]);
            int j = -1;
            for (int m = 0; m < ema_count(e) && j < 0; m++)
                if (k && !strcmp(ema_name(e, m), k)) j = m;
            double dd = j >= 0 ? lu_abs(ema_tensor(e, j), sub->dict.vals[i]) : INFINITY;
            if (!(dd <= worst)) worst = dd;
        }
        snprintf(group, sizeof group, "trainer_step ema_after_subset (%zu tensors)", sub ? sub->dict.n : 0);
        failed += golden_report(file, group, worst, worst <= 1e-7);
    }
done:
    for (int i = 0; i < ns; i++) {
        if (sten) torch_free(sten[i]);
        if (after) torch_free(after[i]);
    }
    free(snames);
    free(sten);
    free(after);
    ema_free(e);
    optim_free(o);
    params_free(&P);
    return failed;
}

static int check_auto(const char *file, const yv *root, const yv *sd, const yv *grads) {
    int failed = 0;
    int64_t nc = 0, n_images = 0, batch = 0, nbs = 0, epochs = 0;
    yv_as_int(yv_path(root, "args.nc"), &nc);
    yv_as_int(yv_path(root, "scenario.n_images"), &n_images);
    yv_as_int(yv_path(root, "scenario.batch"), &batch);
    yv_as_int(yv_path(root, "scenario.nbs"), &nbs);
    yv_as_int(yv_path(root, "scenario.epochs"), &epochs);
    int64_t iters = sched_auto_iterations(n_images, (int)batch, (int)nbs, (int)epochs);
    double d = fabs((double)iters - lu_num(root, "scenario.iterations"));
    failed += golden_report(file, "scenario iterations", d, d == 0);
    d = fabs((double)sched_accumulate((int)nbs, (int)batch) - lu_num(root, "scenario.accumulate"));
    d += fabs(optim_scaled_weight_decay(lu_num(root, "scenario.weight_decay"), (int)batch,
                                        sched_accumulate((int)nbs, (int)batch), (int)nbs) -
              lu_num(root, "scenario.weight_decay_scaled"));
    failed += golden_report(file, "scenario accumulate/weight_decay_scaled", d, d == 0);
    optim_kind kind;
    double lr, mom;
    optim_resolve_auto((int)nc, iters, &kind, &lr, &mom);
    const char *want = yv_as_str(yv_path(root, "auto.optimizer"));
    const yv *betas = yv_path(root, "auto.betas");
    double b1 = NAN;
    if (betas && betas->kind == YV_LIST && betas->seq.n > 0) yv_as_double(betas->seq.items[0], &b1);
    bool ok = want && !strcmp(want, optim_kind_name(kind)) && lr == lu_num(root, "auto.lr") && mom == b1;
    failed += golden_report(file, "auto resolve (AdamW, lr, beta1)", ok ? 0 : INFINITY, ok);
    params P;
    optim *o = NULL;
    double wd = lu_num(root, "scenario.weight_decay_scaled");
    if (!params_load(&P, sd, grads) || optim_new(kind, lr, mom, wd, P.p, P.n, &o) != YOLO_OK) {
        params_free(&P);
        return failed + golden_report(file, "auto setup", INFINITY, false);
    }
    failed += check_groups(file, "auto", o, yv_path(root, "auto.groups"), lr, mom, kind == OPTIM_SGD);
    if (optim_step(o) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "auto step", INFINITY, false);
    } else {
        int missing = 0;
        d = dict_diff(&P, yv_path(root, "auto.params_after_step_subset"), &missing);
        failed += golden_report(file, "auto params_after_step_subset (AdamW step)", missing ? INFINITY : d,
                                !missing && d == 0);
    }
    optim_free(o);
    params_free(&P);
    return failed;
}

static int check_warmup(const char *file, const yv *root, const char *name) {
    char group[128];
    const yv *t = yv_path(root, "warmup_tables");
    t = t ? yv_dict_get(t, name) : NULL;
    if (!t) return 0;
    int64_t epochs = 0, batch = 0, nbs = 0, nb = 0;
    yv_as_int(yv_path(root, "scenario.epochs"), &epochs);
    yv_as_int(yv_dict_get(t, "batch"), &batch);
    yv_as_int(yv_path(root, "scenario.nbs"), &nbs);
    yv_as_int(yv_dict_get(t, "nb"), &nb);
    sched_cfg cfg;
    sched_cfg_default(&cfg, (int)epochs, (int)batch);
    cfg.nbs = (int)nbs;
    cfg.momentum = lu_num(root, "scenario.momentum");
    cfg.warmup_epochs = lu_num(root, "scenario.warmup_epochs");
    cfg.warmup_momentum = lu_num(root, "scenario.warmup_momentum");
    cfg.warmup_bias_lr = lu_num(t, "warmup_bias_lr");
    const yv *gn = yv_dict_get(t, "group_names"), *il = yv_dict_get(t, "initial_lr"),
             *lf = yv_dict_get(t, "lf");
    const yv *rows = yv_dict_get(t, "rows"), *eel = yv_dict_get(t, "epoch_end_lr");
    const char *oc = yv_as_str(yv_dict_get(t, "optimizer_class"));
    bool sgd = oc && !strcmp(oc, "SGD");
    int failed = 0;
    double worst = 0;
    int64_t nw = sched_warmup_iters(cfg.warmup_epochs, nb);
    worst = fabs((double)nw - lu_num(t, "nw"));
    for (size_t e = 0; lf && e < lf->seq.n; e++) {
        double x = NAN;
        yv_as_double(lf->seq.items[e], &x);
        worst = fmax(worst, fabs(sched_lf(&cfg, (double)e) - x));
    }
    snprintf(group, sizeof group, "warmup_tables.%s nw and lf", name);
    failed += golden_report(file, group, worst, worst == 0);
    if (!gn || !il || !rows || gn->seq.n != 3 || il->seq.n != 3)
        return failed + golden_report(file, "warmup table layout", INFINITY, false);
    double init[3];
    bool is_bias[3];
    for (int g = 0; g < 3; g++) {
        yv_as_double(il->seq.items[g], &init[g]);
        const char *s = yv_as_str(gn->seq.items[g]);
        is_bias[g] = s && !strcmp(s, "bias");
    }
    double lr_worst = 0, mom_worst = 0;
    int acc_bad = 0, step_bad = 0;
    int64_t last = -1;
    double last_lr[3] = {0};
    int last_epoch = -1;
    size_t eel_i = 0;
    for (size_t r = 0; r < rows->seq.n; r++) {
        const yv *row = rows->seq.items[r];
        int64_t ni = 0, epoch = 0, acc_ref = 0;
        yv_as_int(yv_dict_get(row, "ni"), &ni);
        yv_as_int(yv_dict_get(row, "epoch"), &epoch);
        yv_as_int(yv_dict_get(row, "accumulate"), &acc_ref);
        if (last_epoch >= 0 && epoch != last_epoch && eel && eel_i < eel->seq.n) {
            for (int g = 0; g < 3; g++) {
                char key[16];
                snprintf(key, sizeof key, "lr/pg%d", g);
                lr_worst = fmax(lr_worst, fabs(last_lr[g] - lu_num(eel->seq.items[eel_i], key)));
            }
            eel_i++;
        }
        last_epoch = (int)epoch;
        int acc = sched_accumulate(cfg.nbs, cfg.batch);
        sched_warmup_accumulate(&cfg, ni, nw, &acc);
        acc_bad += acc != acc_ref;
        bool step = sched_should_step(ni, last, acc);
        if (step) last = ni;
        step_bad += step != yv_is_truthy(yv_dict_get(row, "optimizer_step"));
        const yv *lrs = yv_dict_get(row, "lr"), *ms = yv_dict_get(row, "momentum");
        for (int g = 0; g < 3; g++) {
            double lr = sched_epoch_lr(&cfg, init[g], (int)epoch), ref = NAN;
            sched_warmup_lr(&cfg, ni, nw, (int)epoch, init[g], is_bias[g], &lr);
            last_lr[g] = lr;
            if (lrs && lrs->kind == YV_LIST && (size_t)g < lrs->seq.n) yv_as_double(lrs->seq.items[g], &ref);
            lr_worst = fmax(lr_worst, fabs(lr - ref));
            if (!(lr == lr && ref == ref)) lr_worst = INFINITY;
            const yv *mv = ms && ms->kind == YV_LIST && (size_t)g < ms->seq.n ? ms->seq.items[g] : NULL;
            if (sgd) {
                double m = cfg.momentum, mref = NAN;
                sched_warmup_momentum(&cfg, ni, nw, &m);
                yv_as_double(mv, &mref);
                mom_worst = fmax(mom_worst, fabs(m - mref));
                if (!(mref == mref)) mom_worst = INFINITY;
            } else if (mv && mv->kind != YV_NONE) {
                mom_worst = INFINITY; /* Adam-type groups have no momentum */
            }
        }
    }
    if (eel && eel_i < eel->seq.n) {
        for (int g = 0; g < 3; g++) {
            char key[16];
            snprintf(key, sizeof key, "lr/pg%d", g);
            lr_worst = fmax(lr_worst, fabs(last_lr[g] - lu_num(eel->seq.items[eel_i], key)));
        }
    }
    snprintf(group, sizeof group, "warmup_tables.%s lr (%zu rows + epoch ends)", name, rows->seq.n);
    failed += golden_report(file, group, lr_worst, lr_worst == 0);
    snprintf(group, sizeof group, "warmup_tables.%s momentum", name);
    failed += golden_report(file, group, mom_worst, mom_worst == 0);
    snprintf(group, sizeof group, "warmup_tables.%s accumulate and optimizer_step", name);
    failed += golden_report(file, group, acc_bad + step_bad, acc_bad + step_bad == 0);
    return failed;
}

int golden_det_optim(const char *path, const yv *root) {
    torch_set_threads(1); /* the golden numbers were made with one thread */
    const char *file = gm_base(path);
    char dir[4096], p1[4200], p2[4200];
    lu_dirname(path, dir, sizeof dir);
    snprintf(p1, sizeof p1, "%s/det_forward.pt", dir);
    snprintf(p2, sizeof p2, "%s/det_loss.pt", dir);
    yv_doc *d1 = NULL, *d2 = NULL;
    yv *fwd = NULL, *lss = NULL;
    int failed = 0;
    if (ckpt_read(p1, NULL, &d1, &fwd) != YOLO_OK || ckpt_read(p2, NULL, &d2, &lss) != YOLO_OK) {
        printf("# %s\n", yolo_last_error());
        failed += golden_report(file, "det_forward.pt / det_loss.pt", INFINITY, false);
    } else {
        const yv *sd = yv_dict_get(fwd, "state_dict"), *grads = yv_dict_get(lss, "grads");
        const yv *bn = yv_dict_get(lss, "bn_after");
        if (!sd || sd->kind != YV_DICT || !grads || !bn) {
            failed += golden_report(file, "state_dict / grads / bn_after", INFINITY, false);
        } else {
            failed += check_sgd(file, root, sd, grads);
            failed += check_trainer_step(file, root, sd, grads, bn);
            failed += check_auto(file, root, sd, grads);
        }
        failed += check_warmup(file, root, "SGD");
        failed += check_warmup(file, root, "auto");
    }
    yv_doc_free(d1);
    yv_doc_free(d2);
    return failed;
}
