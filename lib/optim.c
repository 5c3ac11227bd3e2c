/* Optimizers of Ultralytics 8.4.52 on torch 1.13 (see include/yolo/optim.h). The update steps use
 * the same libtorch calls in the same order as torch.optim's single-tensor code paths (the default on
 * CPU in 1.13), so a step is bit-identical to PyTorch's. */
#include "yolo/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yolo/torch_train.h"

typedef struct {
    double lr, initial_lr, momentum, beta2, eps, weight_decay;
    bool nesterov;
    int n;
    int *members;
} group;

typedef struct {
    char *name;
    torch_tensor *param;
    int group;
    /* SGD: buf; Adam: exp_avg in buf, exp_avg_sq in sq */
    torch_tensor *buf, *sq;
    double step;
} slot;

struct optim {
    optim_kind kind;
    int n;
    slot *p;
    group g[OPTIM_NGROUPS];
};

static const char *group_names[OPTIM_NGROUPS] = {"weight", "bn", "bias"};

const char *optim_group_name(int group) {
    return group >= 0 && group < OPTIM_NGROUPS ? group_names[group] : "?";
}

const char *optim_kind_name(optim_kind kind) {
    switch (kind) {
    case OPTIM_SGD:
        return "SGD";
    case OPTIM_ADAM:
        return "Adam";
    case OPTIM_ADAMW:
        return "AdamW";
    }
    return "?";
}

yolo_status optim_parse_kind(const char *name, optim_kind *out) {
    static const optim_kind kinds[3] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, optim_kind_name(kinds[i]))) {
            *out = kinds[i];
            return YOLO_OK;
        }
    return yolo_error(YOLO_ERR_USAGE, "optimizer '%s' is not supported (use SGD, Adam, AdamW or auto)",
                      name ? name : "");
}

bool optim_name_is_norm(const char *name) {
    size_t n = strlen(name);
    return strstr(name, ".bn.") != NULL || (n >= 3 && !strncmp(name, "bn.", 3));
}

int optim_group_of(const char *name, bool is_norm) {
    if (strstr(name, "bias")) return OPTIM_GROUP_BIAS;
    if (is_norm) return OPTIM_GROUP_BN;
    return OPTIM_GROUP_WEIGHT;
}

void optim_resolve_auto(int nc, int64_t iterations, optim_kind *kind, double *lr, double *momentum) {
    if (iterations > 10000) {
        *kind = OPTIM_SGD;
        *lr = 0.01;
    } else {
        /* Python's round(x, 6): printf rounds the exact binary value correctly, then parse back */
        char buf[64];
        snprintf(buf, sizeof buf, "%.6f", 0.002 * 5 / (4 + nc));
        *kind = OPTIM_ADAMW;
        *lr = strtod(buf, NULL);
    }
    *momentum = 0.9;
}

double optim_scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs) {
    return weight_decay * batch * accumulate / nbs;
}

yolo_status optim_new(optim_kind kind, double lr, double momentum, double weight_decay,
                      const optim_param *params, int n, optim **out) {
    if (!out || n < 0 || (n && !params)) return yolo_error(YOLO_ERR_USAGE, "optim: bad arguments");
    optim *o = calloc(1, sizeof *o);
    if (!o || !(o->p = calloc((size_t)(n ? n : 1), sizeof *o->p))) {
        free(o);
        return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    }
    o->kind = kind;
    o->n = n;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        group *G = &o->g[g];
        G->lr = G->initial_lr = lr;
        G->momentum = momentum;
        G->beta2 = 0.999;
        G->eps = 1e-8;
        G->nesterov = kind == OPTIM_SGD;
        G->weight_decay = g == OPTIM_GROUP_WEIGHT ? weight_decay : 0.0;
        if (!(G->members = calloc((size_t)(n ? n : 1), sizeof(int)))) {
            optim_free(o);
            return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        }
    }
    for (int i = 0; i < n; i++) {
        if (!params[i].name || !params[i].param) {
            optim_free(o);
            return yolo_error(YOLO_ERR_USAGE, "optim: parameter %d has no name or tensor", i);
        }
        slot *s = &o->p[i];
        if (!(s->name = strdup(params[i].name))) {
            optim_free(o);
            return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        }
        s->param = params[i].param;
        s->group = optim_group_of(params[i].name, params[i].is_norm);
        group *G = &o->g[s->group];
        G->members[G->n++] = i;
    }
    *out = o;
    return YOLO_OK;
}

void optim_free(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        free(o->p[i].name);
        torch_free(o->p[i].buf);
        torch_free(o->p[i].sq);
    }
    for (int g = 0; g < OPTIM_NGROUPS; g++)
        free(o->g[g].members);
    free(o->p);
    free(o);
}

optim_kind optim_get_kind(const optim *o) {
    return o->kind;
}
int optim_param_count(const optim *o) {
    return o->n;
}
const char *optim_param_name(const optim *o, int i) {
    return i >= 0 && i < o->n ? o->p[i].name : NULL;
}
int optim_group_size(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].n : 0;
}
int optim_group_member(const optim *o, int g, int i) {
    return g >= 0 && g < OPTIM_NGROUPS && i >= 0 && i < o->g[g].n ? o->g[g].members[i] : -1;
}
double optim_get_lr(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].lr : NAN;
}
void optim_set_lr(optim *o, int g, double lr) {
    if (g >= 0 && g < OPTIM_NGROUPS) o->g[g].lr = lr;
}
double optim_get_initial_lr(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].initial_lr : NAN;
}
double optim_get_momentum(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS && o->kind == OPTIM_SGD ? o->g[g].momentum : NAN;
}
void optim_set_momentum(optim *o, int g, double m) {
    if (g >= 0 && g < OPTIM_NGROUPS && o->kind == OPTIM_SGD) o->g[g].momentum = m;
}
double optim_get_weight_decay(const optim *o, int g) {
    return g >= 0 && g < OPTIM_NGROUPS ? o->g[g].weight_decay : NAN;
}

void optim_apply_epoch_lr(optim *o, const sched_cfg *cfg, int epoch) {
    for (int g = 0; g < OPTIM_NGROUPS; g++)
        o->g[g].lr = sched_epoch_lr(cfg, o->g[g].initial_lr, epoch);
}

bool optim_apply_warmup(optim *o, const sched_cfg *cfg, int64_t ni, int64_t nw, int epoch) {
    if (nw < 0 || ni > nw) return false;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        group *G = &o->g[g];
        sched_warmup_lr(cfg, ni, nw, epoch, G->initial_lr, g == OPTIM_GROUP_BIAS, &G->lr);
        if (o->kind == OPTIM_SGD) sched_warmup_momentum(cfg, ni, nw, &G->momentum);
    }
    return true;
}

/* torch.optim.SGD, one parameter: d = g (+ wd p); buf = d, then buf = m buf + d; p -= lr (d + m buf). */
static yolo_status sgd_one(slot *s, const group *G, torch_tensor *grad) {
    yolo_status st = YOLO_OK;
    torch_tensor *d = NULL;
    if (G->weight_decay != 0) {
        st = torch_clone(grad, &d);
        if (st == YOLO_OK) st = torch_add_(d, s->param, G->weight_decay);
    } else {
        st = torch_alias(grad, &d);
    }
    if (st == YOLO_OK && G->momentum != 0) {
        if (!s->buf) {
            st = torch_clone(d, &s->buf);
            if (st == YOLO_OK) st = torch_detach(s->buf, &s->buf);
        } else {
            st = torch_mul_scalar_(s->buf, G->momentum);
            if (st == YOLO_OK) st = torch_add_(s->buf, d, 1.0);
        }
        if (st == YOLO_OK) {
            if (G->nesterov) {
                /* d.add(buf, alpha=momentum) makes a new tensor: the gradient is not touched */
                torch_tensor *n = NULL;
                st = torch_clone(d, &n);
                if (st == YOLO_OK) st = torch_add_(n, s->buf, G->momentum);
                torch_free(d);
                d = n;
            } else {
                st = torch_alias(s->buf, &d);
            }
        }
    }
    if (st == YOLO_OK) st = torch_add_(s->param, d, -G->lr);
    torch_free(d);
    return st;
}

/* torch.optim.Adam / AdamW (amsgrad off), one parameter. */
static yolo_status adam_one(slot *s, const group *G, torch_tensor *grad, bool decoupled) {
    yolo_status st = YOLO_OK;
    torch_tensor *g = NULL, *denom = NULL;
    double beta1 = G->momentum, beta2 = G->beta2;
    if (!s->buf) {
        if ((st = torch_clone(grad, &s->buf)) != YOLO_OK || (st = torch_detach(s->buf, &s->buf)) != YOLO_OK ||
            (st = torch_zero_(s->buf)) != YOLO_OK || (st = torch_clone(s->buf, &s->sq)) != YOLO_OK)
            return st;
        s->step = 0;
    }
    s->step += 1;
    if (decoupled) {
        st = torch_mul_scalar_(s->param, 1 - G->lr * G->weight_decay);
        if (st == YOLO_OK) st = torch_alias(grad, &g);
    } else if (G->weight_decay != 0) {
        st = torch_clone(grad, &g);
        if (st == YOLO_OK) st = torch_add_(g, s->param, G->weight_decay);
    } else {
        st = torch_alias(grad, &g);
    }
    if (st == YOLO_OK) st = torch_mul_scalar_(s->buf, beta1);
    if (st == YOLO_OK) st = torch_add_(s->buf, g, 1 - beta1);
    if (st == YOLO_OK) st = torch_mul_scalar_(s->sq, beta2);
    if (st == YOLO_OK) st = tt_addcmul_(s->sq, g, g, 1 - beta2);
    if (st == YOLO_OK) {
        double bc1 = 1 - pow(beta1, s->step), bc2 = 1 - pow(beta2, s->step);
        double step_size = G->lr / bc1, bc2_sqrt = sqrt(bc2);
        st = tt_sqrt(s->sq, &denom);
        if (st == YOLO_OK) st = tt_div_scalar(denom, bc2_sqrt, &denom);
        if (st == YOLO_OK) st = tt_add_scalar_(denom, G->eps);
        if (st == YOLO_OK) st = tt_addcdiv_(s->param, s->buf, denom, -step_size);
    }
    torch_free(g);
    torch_free(denom);
    return st;
}

yolo_status optim_step(optim *o) {
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    torch_tensor *grad = NULL;
    /* torch steps group by group, each in its parameter order */
    for (int g = 0; g < OPTIM_NGROUPS && st == YOLO_OK; g++) {
        const group *G = &o->g[g];
        for (int k = 0; k < G->n && st == YOLO_OK; k++) {
            slot *s = &o->p[G->members[k]];
            if (!torch_has_grad(s->param)) continue;
            if ((st = torch_grad(s->param, &grad)) != YOLO_OK) break;
            if (o->kind == OPTIM_SGD)
                st = sgd_one(s, G, grad);
            else
                st = adam_one(s, G, grad, o->kind == OPTIM_ADAMW);
            if (st != YOLO_OK) yolo_error_prefix(st, s->name);
        }
    }
    torch_free(grad);
    torch_set_grad_enabled(was);
    return st;
}

yolo_status optim_zero_grad(optim *o) {
    yolo_status st = YOLO_OK;
    torch_tensor *grad = NULL;
    for (int i = 0; i < o->n && st == YOLO_OK; i++) {
        if (!torch_has_grad(o->p[i].param)) continue;
        st = torch_grad(o->p[i].param, &grad);
        if (st == YOLO_OK) st = torch_zero_(grad);
    }
    torch_free(grad);
    return st;
}

yolo_status optim_clip_grad_norm(optim *o, double max_norm, double *total_norm) {
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    torch_tensor **norms = calloc((size_t)(o->n ? o->n : 1), sizeof *norms), **grads = NULL;
    torch_tensor *total = NULL, *coef = NULL;
    int k = 0;
    if (!norms || !(grads = calloc((size_t)(o->n ? o->n : 1), sizeof *grads))) {
        st = yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        goto done;
    }
    for (int i = 0; i < o->n && st == YOLO_OK; i++) {
        if (!torch_has_grad(o->p[i].param)) continue;
        st = torch_grad(o->p[i].param, &grads[k]);
        if (st == YOLO_OK) st = tt_norm2(grads[k], &norms[k]);
        k++;
    }
    if (st != YOLO_OK) goto done;
    if (k == 0) {
        if (total_norm) *total_norm = 0;
        goto done;
    }
    if ((st = tt_stack((const torch_tensor *const *)norms, k, 0, &total)) != YOLO_OK ||
        (st = tt_norm2(total, &total)) != YOLO_OK)
        goto done;
    if (total_norm && (st = torch_item(total, total_norm)) != YOLO_OK) goto done;
    /* coef = min(max_norm / (norm + 1e-6), 1), multiplied in even when it is 1, as torch does.
     * Python's scalar / tensor is reciprocal(tensor) * scalar, which is what gets rounded. */
    if ((st = torch_add_scalar(total, 1e-6, &coef)) != YOLO_OK ||
        (st = tt_reciprocal(coef, &coef)) != YOLO_OK ||
        (st = torch_mul_scalar(coef, max_norm, &coef)) != YOLO_OK)
        goto done;
    if ((st = tt_clamp(coef, NAN, 1.0, &coef)) != YOLO_OK) goto done;
    for (int i = 0; i < k && st == YOLO_OK; i++)
        st = tt_mul_(grads[i], coef);
done:
    for (int i = 0; norms && i < o->n; i++)
        torch_free(norms[i]);
    for (int i = 0; grads && i < o->n; i++)
        torch_free(grads[i]);
    free(norms);
    free(grads);
    torch_free(total);
    torch_free(coef);
    torch_set_grad_enabled(was);
    return st;
}

/* ---- state ---- */

static yolo_status to_value(yv_doc *doc, const torch_tensor *t, yv **out) {
    int64_t shape[YV_MAX_DIMS];
    int nd = torch_shape(t, shape, YV_MAX_DIMS);
    if (nd > YV_MAX_DIMS) return yolo_error(YOLO_ERR_LIMIT, "optim: tensor with %d dims", nd);
    yv *v = yv_new_tensor(doc, YDT_F32, nd, shape);
    if (!v) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    int64_t n = torch_numel(t);
    if (n) {
        yolo_status st = torch_copy_out(t, TORCH_F32, yv_tensor_data(&v->tensor), n);
        if (st != YOLO_OK) return st;
    }
    *out = v;
    return YOLO_OK;
}

/* d[k] = v, where v comes straight from a constructor: NULL means it ran out of memory. */
static yolo_status put_val(yv_doc *doc, yv *d, const char *k, yv *v) {
    return v ? yv_dict_set(doc, d, k, v) : yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
}

/* list.append(v), v as put_val takes it. */
static yolo_status push_val(yv_doc *doc, yv *list, yv *v) {
    return v ? yv_seq_push(doc, list, v) : yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
}

static yolo_status put_num(yv_doc *doc, yv *d, const char *k, double x) {
    return put_val(doc, d, k, yv_new_float(doc, x));
}

yolo_status optim_state_save(const optim *o, yv_doc *doc, yv **out) {
    yolo_status st = YOLO_OK;
    yv *root = yv_new_dict(doc), *groups = yv_new_list(doc), *state = yv_new_dict(doc);
    if (!root || !groups || !state) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    if ((st = put_val(doc, root, "optimizer", yv_new_str(doc, optim_kind_name(o->kind))))) return st;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const group *G = &o->g[g];
        yv *d = yv_new_dict(doc), *names = yv_new_list(doc), *nm = yv_new_str(doc, group_names[g]);
        yv *nest = yv_new_bool(doc, G->nesterov);
        if (!d || !names || !nm || !nest) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        if ((st = yv_dict_set(doc, d, "name", nm)) || (st = put_num(doc, d, "lr", G->lr)) ||
            (st = put_num(doc, d, "initial_lr", G->initial_lr)) ||
            (st = put_num(doc, d, "momentum", G->momentum)) || (st = put_num(doc, d, "beta2", G->beta2)) ||
            (st = put_num(doc, d, "eps", G->eps)) ||
            (st = put_num(doc, d, "weight_decay", G->weight_decay)) ||
            (st = yv_dict_set(doc, d, "nesterov", nest)))
            return st;
        for (int k = 0; k < G->n; k++)
            if ((st = push_val(doc, names, yv_new_str(doc, o->p[G->members[k]].name)))) return st;
        if ((st = yv_dict_set(doc, d, "params", names)) || (st = yv_seq_push(doc, groups, d))) return st;
    }
    for (int i = 0; i < o->n; i++) {
        const slot *s = &o->p[i];
        if (!s->buf) continue;
        yv *d = yv_new_dict(doc), *t = NULL;
        if (!d) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        if (o->kind == OPTIM_SGD) {
            if ((st = to_value(doc, s->buf, &t)) || (st = yv_dict_set(doc, d, "momentum_buffer", t)))
                return st;
        } else {
            if ((st = to_value(doc, s->buf, &t)) || (st = yv_dict_set(doc, d, "exp_avg", t))) return st;
            if ((st = to_value(doc, s->sq, &t)) || (st = yv_dict_set(doc, d, "exp_avg_sq", t))) return st;
            if ((st = put_num(doc, d, "step", s->step))) return st;
        }
        if ((st = yv_dict_set(doc, state, s->name, d))) return st;
    }
    if ((st = yv_dict_set(doc, root, "groups", groups)) || (st = yv_dict_set(doc, root, "state", state)))
        return st;
    *out = root;
    return YOLO_OK;
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
    if (!buf) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
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

/* One parameter's saved state (momentum buffer, or Adam's moments and step), the same in our layout
 * and torch's. No entry (d NULL) means the parameter has not been stepped yet. */
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

yolo_status optim_state_load(optim *o, const yv *root) {
    if (!root || root->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "optimizer state: not a dict");
    const char *kind = yv_as_str(yv_dict_get(root, "optimizer"));
    if (!kind || strcmp(kind, optim_kind_name(o->kind)))
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state is for %s, the optimizer is %s (start a new run)",
                          kind ? kind : "an unknown optimizer", optim_kind_name(o->kind));
    const yv *groups = yv_dict_get(root, "groups"), *state = yv_dict_get(root, "state");
    if (!groups || groups->kind != YV_LIST || groups->seq.n != OPTIM_NGROUPS || !state ||
        state->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state: groups or state missing");
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const yv *d = groups->seq.items[g];
        group *G = &o->g[g];
        const yv *names = yv_dict_get(d, "params");
        if (!names || names->kind != YV_LIST || (int)names->seq.n != G->n)
            return yolo_error(YOLO_ERR_FORMAT, "optimizer state: group %s has a different parameter count",
                              group_names[g]);
        for (int k = 0; k < G->n; k++) {
            const char *s = yv_as_str(names->seq.items[k]);
            if (!s || strcmp(s, o->p[G->members[k]].name))
                return yolo_error(YOLO_ERR_FORMAT,
                                  "optimizer state: group %s parameter %d is %s, expected %s", group_names[g],
                                  k, s ? s : "?", o->p[G->members[k]].name);
        }
        double x;
        if (yv_as_double(yv_dict_get(d, "lr"), &x)) G->lr = x;
        if (yv_as_double(yv_dict_get(d, "initial_lr"), &x)) G->initial_lr = x;
        if (yv_as_double(yv_dict_get(d, "momentum"), &x)) G->momentum = x;
        if (yv_as_double(yv_dict_get(d, "beta2"), &x)) G->beta2 = x;
        if (yv_as_double(yv_dict_get(d, "eps"), &x)) G->eps = x;
        if (yv_as_double(yv_dict_get(d, "weight_decay"), &x)) G->weight_decay = x;
    }
    yolo_status st = YOLO_OK;
    for (int i = 0; i < o->n && st == YOLO_OK; i++) {
        slot *s = &o->p[i];
        st = slot_load(s, yv_dict_get(state, s->name), o->kind == OPTIM_SGD);
    }
    return st;
}

/* ---- torch's state_dict form ---- */

static yv *tuple2(yv_doc *doc, double a, double b) {
    yv *t = yv_new_tuple(doc), *x = yv_new_float(doc, a), *y = yv_new_float(doc, b);
    if (!t || !x || !y || yv_seq_push(doc, t, x) || yv_seq_push(doc, t, y)) return NULL;
    return t;
}

yolo_status optim_state_save_torch(const optim *o, yv_doc *doc, yv **out) {
    yolo_status st = YOLO_OK;
    yv *root = yv_new_dict(doc), *groups = yv_new_list(doc), *state = yv_new_dict(doc);
    if (!root || !groups || !state) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
    int64_t id = 0;
    bool sgd = o->kind == OPTIM_SGD;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const group *G = &o->g[g];
        yv *d = yv_new_dict(doc), *ids = yv_new_list(doc);
        if (!d || !ids) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
        if ((st = put_num(doc, d, "lr", G->lr))) return st;
        if (sgd) {
            if ((st = put_num(doc, d, "momentum", G->momentum)) ||
                (st = put_val(doc, d, "dampening", yv_new_int(doc, 0))) ||
                (st = put_num(doc, d, "weight_decay", G->weight_decay)) ||
                (st = put_val(doc, d, "nesterov", yv_new_bool(doc, G->nesterov))))
                return st;
        } else {
            if ((st = put_val(doc, d, "betas", tuple2(doc, G->momentum, G->beta2))) ||
                (st = put_num(doc, d, "eps", G->eps)) ||
                (st = put_num(doc, d, "weight_decay", G->weight_decay)) ||
                (st = put_val(doc, d, "amsgrad", yv_new_bool(doc, false))))
                return st;
        }
        if ((st = put_val(doc, d, "maximize", yv_new_bool(doc, false))) ||
            (st = put_val(doc, d, "foreach", yv_new_none(doc))) ||
            (!sgd && (st = put_val(doc, d, "capturable", yv_new_bool(doc, false)))) ||
            (st = put_val(doc, d, "differentiable", yv_new_bool(doc, false))) ||
            (o->kind == OPTIM_ADAM && (st = put_val(doc, d, "fused", yv_new_bool(doc, false)))) ||
            (st = put_num(doc, d, "initial_lr", G->initial_lr)) ||
            (st = put_val(doc, d, "param_group", yv_new_str(doc, group_names[g]))))
            return st;
        for (int k = 0; k < G->n; k++, id++) {
            const slot *s = &o->p[G->members[k]];
            if ((st = push_val(doc, ids, yv_new_int(doc, id)))) return st;
            if (!s->buf) continue;
            yv *sd = yv_new_dict(doc), *t = NULL, *key = yv_new_int(doc, id);
            if (!sd || !key) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
            if (sgd) {
                if ((st = to_value(doc, s->buf, &t)) || (st = yv_dict_set(doc, sd, "momentum_buffer", t)))
                    return st;
            } else {
                int64_t none[1] = {0};
                yv *step = yv_new_tensor(doc, YDT_F32, 0, none);
                if (!step) return yolo_error(YOLO_ERR_NOMEM, "optim: out of memory");
                *(float *)yv_tensor_data(&step->tensor) = (float)s->step;
                if ((st = yv_dict_set(doc, sd, "step", step))) return st;
                if ((st = to_value(doc, s->buf, &t)) || (st = yv_dict_set(doc, sd, "exp_avg", t))) return st;
                if ((st = to_value(doc, s->sq, &t)) || (st = yv_dict_set(doc, sd, "exp_avg_sq", t)))
                    return st;
            }
            if ((st = yv_dict_put(doc, state, key, sd))) return st;
        }
        if ((st = yv_dict_set(doc, d, "params", ids)) || (st = yv_seq_push(doc, groups, d))) return st;
    }
    if ((st = yv_dict_set(doc, root, "state", state)) ||
        (st = yv_dict_set(doc, root, "param_groups", groups)))
        return st;
    *out = root;
    return YOLO_OK;
}

/* The state entry of a torch parameter id (int key), or NULL. */
static const yv *state_of(const yv *state, int64_t id) {
    for (size_t i = 0; i < state->dict.n; i++) {
        int64_t k;
        if (yv_as_int(state->dict.keys[i], &k) && k == id) return state->dict.vals[i];
    }
    return NULL;
}

yolo_status optim_state_load_torch(optim *o, const yv *sd) {
    const yv *groups = yv_dict_get(sd, "param_groups"), *state = yv_dict_get(sd, "state");
    if (!sd || sd->kind != YV_DICT || !groups || groups->kind != YV_LIST || !state || state->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT,
                          "optimizer state: not a torch optimizer state_dict (no param_groups/state)");
    if (groups->seq.n != OPTIM_NGROUPS)
        return yolo_error(YOLO_ERR_FORMAT,
                          "optimizer state: %zu parameter groups, expected %d (weight, bn, bias)",
                          groups->seq.n, OPTIM_NGROUPS);
    bool sgd = o->kind == OPTIM_SGD;
    for (int g = 0; g < OPTIM_NGROUPS; g++) {
        const yv *d = groups->seq.items[g], *ids = yv_dict_get(d, "params");
        const char *nm = yv_as_str(yv_dict_get(d, "param_group"));
        bool has_betas = yv_dict_get(d, "betas") != NULL;
        if (has_betas == sgd)
            return yolo_error(YOLO_ERR_FORMAT,
                              "optimizer state is for %s, the optimizer is %s (start a new run)",
                              has_betas ? "an Adam-type optimizer" : "SGD", optim_kind_name(o->kind));
        if (nm && strcmp(nm, group_names[g]))
            return yolo_error(YOLO_ERR_FORMAT, "optimizer state: group %d is '%s', expected '%s'", g, nm,
                              group_names[g]);
        if (!ids || ids->kind != YV_LIST || (int)ids->seq.n != o->g[g].n)
            return yolo_error(YOLO_ERR_FORMAT, "optimizer state: group %s has %zu parameters, the model %d",
                              group_names[g], ids && ids->kind == YV_LIST ? ids->seq.n : 0, o->g[g].n);
    }
    yolo_status st = YOLO_OK;
    for (int g = 0; g < OPTIM_NGROUPS && st == YOLO_OK; g++) {
        const yv *d = groups->seq.items[g], *ids = yv_dict_get(d, "params");
        group *G = &o->g[g];
        double x;
        if (yv_as_double(yv_dict_get(d, "lr"), &x)) G->lr = x;
        G->initial_lr = yv_as_double(yv_dict_get(d, "initial_lr"), &x) ? x : G->lr;
        if (yv_as_double(yv_dict_get(d, "weight_decay"), &x)) G->weight_decay = x;
        if (sgd) {
            if (yv_as_double(yv_dict_get(d, "momentum"), &x)) G->momentum = x;
            const yv *n = yv_dict_get(d, "nesterov");
            if (n) G->nesterov = yv_is_truthy(n);
        } else {
            const yv *b = yv_dict_get(d, "betas");
            if (b && (b->kind == YV_TUPLE || b->kind == YV_LIST) && b->seq.n == 2) {
                yv_as_double(b->seq.items[0], &G->momentum);
                yv_as_double(b->seq.items[1], &G->beta2);
            }
            if (yv_as_double(yv_dict_get(d, "eps"), &x)) G->eps = x;
        }
        for (int k = 0; k < G->n && st == YOLO_OK; k++) {
            slot *s = &o->p[G->members[k]];
            int64_t id = -1;
            yv_as_int(ids->seq.items[k], &id);
            st = slot_load(s, state_of(state, id), sgd);
        }
    }
    return st;
}
