/* The optimizer's state as a value: the one layout of yolo-checkpoint(5) (see include/yolo/optim.h),
 * written by the trainer's saves and read by its restores. Ultralytics' torch state_dicts are
 * translated into it by ckptfmt_import, never read directly. */
#include "optim_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yolo/value.h"

/* The tensor as a float32 CPU copy (the default optim_value_fn). */
static yolo_status copy_value(void *ctx, yv_doc *doc, const torch_tensor *t, yv **out) {
    (void)ctx;
    int64_t shape[YV_MAX_DIMS];
    int nd = torch_shape(t, shape, YV_MAX_DIMS);
    if (nd > YV_MAX_DIMS) return yolo_error(YOLO_ERR_LIMIT, "optim: tensor with %d dims", nd);
    yv *v = yv_new_tensor(doc, YDT_F32, nd, shape);
    if (!v) return yolo_nomem();
    int64_t n = torch_numel(t);
    if (n) {
        yolo_status st = torch_copy_out(t, TORCH_F32, yv_tensor_data(&v->tensor), n);
        if (st != YOLO_OK) return st;
    }
    *out = v;
    return YOLO_OK;
}

/* One param_group: its label, learning rates, torch's option names for the kind, weight decay and
 * the names of its parameters. */
static yolo_status group_value(const optim *o, int g, yv_doc *doc, yv **out) {
    const group *G = &o->g[g];
    yv *d = yv_new_dict(doc), *names = yv_new_list(doc);
    if (!d || !names) return yolo_nomem();
    yolo_status st;
    if ((st = yv_dict_set_new(doc, d, "param_group", yv_new_str(doc, optim_group_name(g)))) ||
        (st = yv_dict_set_new(doc, d, "lr", yv_new_float(doc, G->lr))) ||
        (st = yv_dict_set_new(doc, d, "initial_lr", yv_new_float(doc, G->initial_lr))))
        return st;
    if (o->kind == OPTIM_SGD) {
        if ((st = yv_dict_set_new(doc, d, "momentum", yv_new_float(doc, G->momentum))) ||
            (st = yv_dict_set_new(doc, d, "dampening", yv_new_int(doc, 0))) ||
            (st = yv_dict_set_new(doc, d, "nesterov", yv_new_bool(doc, G->nesterov))))
            return st;
    } else {
        yv *b = yv_new_tuple(doc);
        if (!b || yv_seq_push(doc, b, yv_new_float(doc, G->momentum)) ||
            yv_seq_push(doc, b, yv_new_float(doc, G->beta2)))
            return yolo_nomem();
        if ((st = yv_dict_set_new(doc, d, "betas", b)) ||
            (st = yv_dict_set_new(doc, d, "eps", yv_new_float(doc, G->eps))) ||
            (st = yv_dict_set_new(doc, d, "amsgrad", yv_new_bool(doc, false))))
            return st;
    }
    for (int k = 0; k < G->n; k++)
        if ((st = yv_seq_push(doc, names, yv_new_str(doc, o->p[G->members[k]].name)))) return st;
    if ((st = yv_dict_set_new(doc, d, "weight_decay", yv_new_float(doc, G->weight_decay))) ||
        (st = yv_dict_set_new(doc, d, "params", names)))
        return st;
    *out = d;
    return YOLO_OK;
}

/* One parameter's state: SGD's momentum buffer, or Adam's moments and step (a 0-dim float32 tensor,
 * as torch keeps it; counts stay exact below 2^24). */
static yolo_status slot_value(const optim *o, const slot *s, yv_doc *doc, optim_value_fn fn, void *ctx,
                              yv **out) {
    yv *d = yv_new_dict(doc), *t = NULL;
    if (!d) return yolo_nomem();
    yolo_status st;
    if (o->kind == OPTIM_SGD) {
        if ((st = fn(ctx, doc, s->buf, &t)) || (st = yv_dict_set(doc, d, "momentum_buffer", t))) return st;
    } else {
        int64_t none[1] = {0};
        yv *step = yv_new_tensor(doc, YDT_F32, 0, none);
        if (!step) return yolo_nomem();
        *(float *)yv_tensor_data(&step->tensor) = (float)s->step;
        if ((st = fn(ctx, doc, s->buf, &t)) || (st = yv_dict_set(doc, d, "exp_avg", t))) return st;
        if ((st = fn(ctx, doc, s->sq, &t)) || (st = yv_dict_set(doc, d, "exp_avg_sq", t))) return st;
        if ((st = yv_dict_set(doc, d, "step", step))) return st;
    }
    *out = d;
    return YOLO_OK;
}

yolo_status optim_state_save(const optim *o, yv_doc *doc, optim_value_fn fn, void *ctx, yv **out) {
    yolo_status st;
    if (!fn) fn = copy_value;
    yv *root = yv_new_dict(doc), *groups = yv_new_list(doc), *state = yv_new_dict(doc);
    if (!root || !groups || !state) return yolo_nomem();
    if ((st = yv_dict_set_new(doc, root, "name", yv_new_str(doc, optim_kind_name(o->kind)))) ||
        (st = yv_dict_set_new(doc, root, "keyed_by", yv_new_str(doc, "name"))))
        return st;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        yv *d = NULL;
        if ((st = group_value(o, g, doc, &d)) || (st = yv_seq_push(doc, groups, d))) return st;
    }
    for (int i = 0; i < o->n; i++) {
        yv *d = NULL;
        if (!o->p[i].buf) continue;
        if ((st = slot_value(o, &o->p[i], doc, fn, ctx, &d)) ||
            (st = yv_dict_set(doc, state, o->p[i].name, d)))
            return st;
    }
    if ((st = yv_dict_set(doc, root, "param_groups", groups)) ||
        (st = yv_dict_set(doc, root, "state", state)))
        return st;
    *out = root;
    return YOLO_OK;
}

/* ---- reading ---- */

/* The layout's name and keying, checked. */
static yolo_status state_layout(const yv *root, const char **name) {
    *name = yv_get_str(root, "name");
    const char *keyed = yv_get_str(root, "keyed_by");
    const yv *pgs = yv_dict_get(root, "param_groups"), *state = yv_dict_get(root, "state");
    if (!root || root->kind != YV_DICT || !*name || !pgs || pgs->kind != YV_LIST || !state ||
        state->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: not the layout of yolo-checkpoint(5) (name, "
                                           "param_groups, state)");
    if (keyed && strcmp(keyed, "name"))
        return yolo_error(YOLO_ERR_FORMAT,
                          "optimizer state is keyed by parameter id, not name (it cannot be matched "
                          "to the model; start a new run from these weights)");
    return YOLO_OK;
}

yolo_status optim_state_kind(const yv *root, optim_kind *out) {
    const char *name;
    yolo_status st = state_layout(root, &name);
    return st == YOLO_OK ? optim_parse_kind(name, out) : st;
}

/* A stored tensor into a new tensor shaped and placed like the parameter. */
static yolo_status from_value(const yv *v, const torch_tensor *like, const char *name, const char *what,
                              torch_tensor **out) {
    if (!v || v->kind != YV_TENSOR)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: %s: %s missing", name, what);
    int64_t n = yv_tensor_numel(&v->tensor);
    if (n != torch_numel(like))
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: %s: %s has %lld elements, the parameter %lld",
                          name, what, (long long)n, (long long)torch_numel(like));
    float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!buf) return yolo_nomem();
    int64_t shape[YV_MAX_DIMS];
    int nd = torch_shape(like, shape, YV_MAX_DIMS);
    yolo_status st = yv_tensor_to_f32(&v->tensor, buf);
    torch_tensor *t = NULL;
    if (st == YOLO_OK) st = torch_from_data(buf, TORCH_F32, nd, shape, &t);
    free(buf);
    if (st == YOLO_OK) st = torch_to(t, torch_dtype_of(like), torch_device_of(like), &t);
    if (st == YOLO_OK) {
        torch_free(*out);
        *out = t;
    } else {
        torch_free(t);
    }
    return st;
}

/* One parameter's saved state. No entry (d NULL) means the parameter has not been stepped yet. */
static yolo_status slot_load(slot *s, const yv *d, bool sgd) {
    torch_freep(&s->buf);
    torch_freep(&s->sq);
    s->step = 0;
    if (!d) return YOLO_OK;
    if (sgd)
        return from_value(yv_dict_get(d, "momentum_buffer"), s->param, s->name, "momentum_buffer", &s->buf);
    yolo_status st = from_value(yv_dict_get(d, "exp_avg"), s->param, s->name, "exp_avg", &s->buf);
    if (st == YOLO_OK) st = from_value(yv_dict_get(d, "exp_avg_sq"), s->param, s->name, "exp_avg_sq", &s->sq);
    if (st == YOLO_OK && !yv_as_double(yv_dict_get(d, "step"), &s->step))
        st = yolo_error(YOLO_ERR_FORMAT, "optimizer state: %s: step missing", s->name);
    return st;
}

/* The param_group of group g: the one labelled so, or the g-th where groups have no labels. */
static const yv *find_group(const yv *pgs, int g) {
    for (size_t i = 0; i < pgs->seq.n; i++) {
        const char *label = yv_get_str(pgs->seq.items[i], "param_group");
        if (label ? !strcmp(label, optim_group_name(g)) : (int)i == g) return pgs->seq.items[i];
    }
    return NULL;
}

/* A group's settings and parameter names (which must be the optimizer's, in its order). */
static yolo_status group_load(optim *o, int g, const yv *d) {
    group *G = &o->g[g];
    const yv *names = yv_dict_get(d, "params");
    if (!names || names->kind != YV_LIST || (int)names->seq.n != G->n)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: group %s has %zu parameters, the model %d",
                          optim_group_name(g), names && names->kind == YV_LIST ? names->seq.n : 0, G->n);
    for (int k = 0; k < G->n; k++) {
        const char *s = yv_as_str(names->seq.items[k]);
        if (!s || strcmp(s, o->p[G->members[k]].name))
            return yolo_error(YOLO_ERR_FORMAT, "optimizer state: group %s parameter %d is %s, expected %s",
                              optim_group_name(g), k, s ? s : "?", o->p[G->members[k]].name);
    }
    G->lr = yv_get_num(d, "lr", G->lr);
    G->initial_lr = yv_get_num(d, "initial_lr", G->lr);
    G->weight_decay = yv_get_num(d, "weight_decay", G->weight_decay);
    G->eps = yv_get_num(d, "eps", G->eps);
    G->momentum = yv_get_num(d, "momentum", G->momentum);
    const yv *b = yv_dict_get(d, "betas"), *n = yv_dict_get(d, "nesterov");
    if (b && (b->kind == YV_TUPLE || b->kind == YV_LIST) && b->seq.n == 2) {
        yv_as_double(b->seq.items[0], &G->momentum);
        yv_as_double(b->seq.items[1], &G->beta2);
    }
    if (n) G->nesterov = yv_is_truthy(n);
    return YOLO_OK;
}

yolo_status optim_state_load(optim *o, const yv *root) {
    const char *name;
    yolo_status st = state_layout(root, &name);
    if (st != YOLO_OK) return st;
    if (strcasecmp(name, optim_kind_name(o->kind)))
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state is for %s, the optimizer is %s (start a new run)",
                          name, optim_kind_name(o->kind));
    const yv *pgs = yv_dict_get(root, "param_groups"), *state = yv_dict_get(root, "state");
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const yv *d = find_group(pgs, g);
        if (!d)
            return yolo_error(YOLO_ERR_FORMAT, "optimizer state: no %s parameter group", optim_group_name(g));
        if ((st = group_load(o, g, d)) != YOLO_OK) return st;
    }
    for (int i = 0; i < o->n && st == YOLO_OK; i++)
        st = slot_load(&o->p[i], yv_dict_get(state, o->p[i].name), o->kind == OPTIM_SGD);
    return st;
}
