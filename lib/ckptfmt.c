#include "yolo/ckptfmt.h"
#include "yolo/args.h"
#include "yolo/text.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define PLAIN_MAX_DEPTH 64
/* Shared sub-values (pickle memo) can make a small file describe an exponentially large tree: every
 * walk over values counts the nodes it visits and gives up past this many. */
#define WALK_MAX_NODES 4000000

static bool is_none(const yv *v) {
    return !v || v->kind == YV_NONE;
}

static bool is_module_record(const yv *v) {
    return v && v->kind == YV_OBJECT && yv_dict_get(v, "_modules") && yv_dict_get(v, "_parameters");
}

/* A dict whose every key is a string and every value a tensor (an empty dict is not one). */
static bool is_tensor_dict(const yv *v) {
    if (!v || v->kind != YV_DICT || v->dict.n == 0) return false;
    for (size_t i = 0; i < v->dict.n; i++)
        if (v->dict.keys[i]->kind != YV_STR || v->dict.vals[i]->kind != YV_TENSOR) return false;
    return true;
}

static bool has_weights(const yv *v) {
    return is_module_record(v) || is_tensor_dict(v);
}

static bool get_int(const yv *root, const char *path, int64_t *out) {
    const yv *v = yv_path(root, path);
    return v && v->kind != YV_FLOAT && yv_as_int(v, out);
}

yolo_status ckptfmt_new_root(yv_doc *doc, yv **out) {
    struct timeval tv;
    struct tm tm;
    char date[64];
    gettimeofday(&tv, NULL);
    time_t sec = tv.tv_sec;
    if (!localtime_r(&sec, &tm)) return yolo_error(YOLO_ERR_IO, "cannot read the clock");
    size_t n = strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(date + n, sizeof date - n, ".%06ld", (long)tv.tv_usec);
    yv *d = yv_new_dict(doc), *f = yv_new_int(doc, CKPTFMT_FORMAT_VERSION),
       *w = yv_new_str(doc, CKPTFMT_WRITER_VERSION);
    yv *t = yv_new_str(doc, date);
    if (!d || !f || !w || !t) return yolo_error(YOLO_ERR_NOMEM, "out of memory building the checkpoint");
    yolo_status st;
    if ((st = yv_dict_set(doc, d, CKPTFMT_KEY_FORMAT, f)) ||
        (st = yv_dict_set(doc, d, CKPTFMT_KEY_WRITER, w)) || (st = yv_dict_set(doc, d, CKPTFMT_KEY_DATE, t)))
        return st;
    *out = d;
    return YOLO_OK;
}

ckptfmt_kind_t ckptfmt_kind(const yv *root) {
    if (!root || root->kind != YV_DICT) return CKPTFMT_UNKNOWN;
    int64_t epoch = 0;
    bool has_epoch = get_int(root, CKPTFMT_KEY_EPOCH, &epoch);
    bool no_training_state =
        is_none(yv_dict_get(root, CKPTFMT_KEY_EMA)) && is_none(yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER));
    /* epoch -1 also marks a save in the middle of the first epoch; only without optimizer state is it
     * Ultralytics' stripped file. */
    bool stripped =
        no_training_state || (has_epoch && epoch < 0 && is_none(yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER)));
    if (yv_dict_get(root, CKPTFMT_KEY_FORMAT))
        return stripped ? CKPTFMT_OURS_STRIPPED : CKPTFMT_OURS_TRAINING;
    if (is_tensor_dict(root)) return CKPTFMT_PLAIN_TENSORS;
    const yv *ema = yv_dict_get(root, CKPTFMT_KEY_EMA), *model = yv_dict_get(root, CKPTFMT_KEY_MODEL);
    if (is_module_record(ema) || is_module_record(model) ||
        (yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS) && (has_weights(ema) || has_weights(model))))
        return stripped ? CKPTFMT_ULTRA_STRIPPED : CKPTFMT_ULTRA_TRAINING;
    return CKPTFMT_UNKNOWN;
}

const char *ckptfmt_task(const yv *root) {
    const char *task = yv_as_str(yv_path(root, "train_args.task"));
    if (!task) task = yv_as_str(yv_dict_get(root, CKPTFMT_KEY_TASK));
    for (int i = 0; !task && i < 2; i++) {
        const yv *net = yv_dict_get(root, i ? CKPTFMT_KEY_MODEL : CKPTFMT_KEY_EMA);
        if (net && net->kind == YV_OBJECT) task = yv_as_str(yv_dict_get(net, "task"));
    }
    return task;
}

const char *ckptfmt_kind_name(ckptfmt_kind_t kind) {
    switch (kind) {
    case CKPTFMT_OURS_TRAINING:
        return "ours-training";
    case CKPTFMT_OURS_STRIPPED:
        return "ours-stripped";
    case CKPTFMT_ULTRA_TRAINING:
        return "ultralytics-training";
    case CKPTFMT_ULTRA_STRIPPED:
        return "ultralytics-stripped";
    case CKPTFMT_PLAIN_TENSORS:
        return "tensor-dict";
    case CKPTFMT_UNKNOWN:
        break;
    }
    return "unknown";
}

const char *ckptfmt_kind_describe(ckptfmt_kind_t kind) {
    switch (kind) {
    case CKPTFMT_OURS_TRAINING:
        return "yolo-tools training checkpoint";
    case CKPTFMT_OURS_STRIPPED:
        return "yolo-tools stripped weights";
    case CKPTFMT_ULTRA_TRAINING:
        return "Ultralytics training checkpoint";
    case CKPTFMT_ULTRA_STRIPPED:
        return "Ultralytics stripped weights";
    case CKPTFMT_PLAIN_TENSORS:
        return "plain tensor dict";
    case CKPTFMT_UNKNOWN:
        break;
    }
    return "unknown pickle (not a checkpoint this tool knows)";
}

/* A file from a newer yolo-tools may carry state this program would silently drop. */
static bool newer_format(const yv *root, int64_t *version) {
    return get_int(root, CKPTFMT_KEY_FORMAT, version) && *version > CKPTFMT_FORMAT_VERSION;
}

static yolo_status check_format(const yv *root) {
    int64_t v;
    if (newer_format(root, &v))
        return yolo_error(YOLO_ERR_FORMAT,
                          "layout version %" PRId64 " is newer than this program's %d (update yolo-tools)", v,
                          CKPTFMT_FORMAT_VERSION);
    return YOLO_OK;
}

bool ckptfmt_resumable(const yv *root, char *why, size_t cap) {
    char dummy[8];
    if (!why) why = dummy, cap = sizeof dummy;
    ckptfmt_kind_t kind = ckptfmt_kind(root);
    int64_t version;
    if (newer_format(root, &version)) {
        snprintf(why, cap, "layout version %" PRId64 " is newer than this program's %d", version,
                 CKPTFMT_FORMAT_VERSION);
        return false;
    }
    if (kind == CKPTFMT_OURS_STRIPPED || kind == CKPTFMT_ULTRA_STRIPPED) {
        snprintf(why, cap, "stripped weights (epoch -1, no optimizer state)");
        return false;
    }
    if (kind != CKPTFMT_OURS_TRAINING && kind != CKPTFMT_ULTRA_TRAINING) {
        snprintf(why, cap, "not a training checkpoint");
        return false;
    }
    int64_t epoch, epochs;
    if (!get_int(root, CKPTFMT_KEY_EPOCH, &epoch)) {
        snprintf(why, cap, "no epoch recorded");
        return false;
    }
    if (is_none(yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER))) {
        snprintf(why, cap, "no optimizer state");
        return false;
    }
    if (get_int(root, "train_args.epochs", &epochs) && epoch + 1 >= epochs) {
        snprintf(why, cap, "training finished (%" PRId64 " of %" PRId64 " epochs done)", epoch + 1, epochs);
        return false;
    }
    const yv *stopper = yv_dict_get(root, CKPTFMT_KEY_STOPPER);
    if (stopper && yv_is_truthy(yv_dict_get(stopper, "stopped"))) {
        int64_t best = -1, patience = -1;
        get_int(stopper, "best_epoch", &best);
        get_int(stopper, "patience", &patience);
        /* best_epoch is 1-based, as Ultralytics' EarlyStopping counts */
        snprintf(why, cap,
                 "stopped early after epoch %" PRId64 " (best epoch %" PRId64 ", patience %" PRId64 ")",
                 epoch + 1, best, patience);
        return false;
    }
    snprintf(why, cap, "resumable");
    return true;
}

const yv *ckptfmt_weights(yv_doc *doc, const yv *root, const char **which) {
    static const char *const keys[] = {CKPTFMT_KEY_EMA, CKPTFMT_KEY_MODEL};
    if (which) *which = "";
    if (!root || root->kind != YV_DICT) return NULL;
    for (int i = 0; i < 2; i++) {
        const yv *v = yv_dict_get(root, keys[i]);
        if (!has_weights(v)) continue;
        if (which) *which = keys[i];
        return yv_state_dict(doc, v);
    }
    if (is_tensor_dict(root)) return root;
    return NULL;
}

/* ---- conversions ---- */

static bool is_floating(yv_dtype dt) {
    return dt == YDT_F32 || dt == YDT_F16 || dt == YDT_BF16 || dt == YDT_F64;
}

/* IEEE binary32 -> binary16 with round-to-nearest-even, as torch's .half() does. */
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        unsigned shift = (unsigned)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    /* A carry out of the mantissa correctly bumps the exponent, up to infinity. */
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

yolo_status ckptfmt_convert_tensor(yv_doc *doc, yv *t, yv_dtype dt, yv **out) {
    if (!is_floating(t->tensor.dtype)) {
        *out = t;
        return YOLO_OK;
    }
    if (!t->tensor.storage || !t->tensor.storage->data)
        return yolo_error(YOLO_ERR_USAGE, "tensor data was not loaded");
    int64_t n = yv_tensor_numel(&t->tensor);
    yv *r = yv_new_tensor(doc, dt, t->tensor.ndim, t->tensor.shape);
    if (!r) return yolo_nomem();
    yolo_status st;
    if (dt == YDT_F32) {
        if ((st = yv_tensor_to_f32(&t->tensor, yv_tensor_data(&r->tensor)))) return st;
    } else {
        float *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
        if (!tmp) return yolo_nomem();
        if ((st = yv_tensor_to_f32(&t->tensor, tmp))) {
            free(tmp);
            return st;
        }
        uint16_t *h = yv_tensor_data(&r->tensor);
        for (int64_t i = 0; i < n; i++)
            h[i] = f32_to_f16(tmp[i]);
        free(tmp);
    }
    *out = r;
    return YOLO_OK;
}

/* A new plain dict name -> tensor with every floating tensor converted to dt. */
static yolo_status convert_state_dict(yv_doc *doc, const yv *sd, yv_dtype dt, yv **out) {
    yv *d = yv_new_dict(doc);
    if (!d) return yolo_nomem();
    yolo_status st;
    for (size_t i = 0; i < sd->dict.n; i++) {
        yv *t = sd->dict.vals[i], *c;
        if (t->kind != YV_TENSOR) continue;
        if ((st = ckptfmt_convert_tensor(doc, t, dt, &c))) return st;
        if ((st = yv_dict_put(doc, d, sd->dict.keys[i], c))) return st;
    }
    *out = d;
    return YOLO_OK;
}

/* Copies v into values torch.load reads without any class of ours: numpy scalars become floats,
 * pickled modules become state dicts, other records become their state (or None). Tensors and scalars
 * are shared, not copied. NULL on out-of-memory. */
static yv *plain_rec(yv_doc *doc, const yv *v, int depth, size_t *budget) {
    if (!v) return yv_new_none(doc);
    if (depth > PLAIN_MAX_DEPTH) return yv_new_none(doc);
    if (*budget == 0) return NULL;
    --*budget;
    switch (v->kind) {
    case YV_NONE:
    case YV_BOOL:
    case YV_INT:
    case YV_BIGINT:
    case YV_FLOAT:
    case YV_STR:
    case YV_BYTES:
    case YV_TENSOR:
        return (yv *)v;
    case YV_GLOBAL:
        return yv_new_str(doc, v->str.s);
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET: {
        yv *s = v->kind == YV_TUPLE ? yv_new_tuple(doc) : yv_new_list(doc);
        if (!s) return NULL;
        for (size_t i = 0; i < v->seq.n; i++) {
            yv *it = plain_rec(doc, v->seq.items[i], depth + 1, budget);
            if (!it || yv_seq_push(doc, s, it)) return NULL;
        }
        return s;
    }
    case YV_DICT: {
        yv *d = yv_new_dict(doc);
        if (!d) return NULL;
        d->dict.ordered = v->dict.ordered;
        for (size_t i = 0; i < v->dict.n; i++) {
            yv *k = plain_rec(doc, v->dict.keys[i], depth + 1, budget),
               *val = plain_rec(doc, v->dict.vals[i], depth + 1, budget);
            if (!k || !val || yv_dict_put(doc, d, k, val)) return NULL;
        }
        return d;
    }
    case YV_OBJECT: {
        double x;
        if (yv_as_double(v, &x)) return yv_new_float(doc, x);
        if (is_module_record(v)) {
            yv *sd = yv_state_dict(doc, v);
            return sd ? sd : yv_new_none(doc);
        }
        const yv *st = v->obj.state;
        if (st && st->kind == YV_TUPLE && st->seq.n == 2 && st->seq.items[0]->kind == YV_DICT)
            st = st->seq.items[0];
        if (st && st->kind == YV_DICT) return plain_rec(doc, st, depth + 1, budget);
        return yv_new_none(doc);
    }
    }
    return yv_new_none(doc);
}

static _Thread_local yolo_status plain_failure;

static yv *plain(yv_doc *doc, const yv *v, int depth) {
    size_t budget = WALK_MAX_NODES;
    yv *r = plain_rec(doc, v, depth, &budget);
    if (!r)
        plain_failure =
            budget == 0
                ? yolo_error(YOLO_ERR_LIMIT, "values nest or repeat too much (over %d nodes)", WALK_MAX_NODES)
                : yolo_nomem();
    return r;
}

/* The status of the last plain() that returned NULL (and forgets it). */
static yolo_status plain_error(void) {
    yolo_status st = plain_failure ? plain_failure : yolo_nomem();
    plain_failure = YOLO_OK;
    return st;
}

yolo_status ckptfmt_plain(yv_doc *doc, const yv *v, yv **out) {
    *out = plain(doc, v, 0);
    return *out ? YOLO_OK : plain_error();
}

static yolo_status put(yv_doc *doc, yv *d, const char *key, yv *val) {
    if (!val) return plain_error();
    return yv_dict_set(doc, d, key, val);
}

static yolo_status put_plain(yv_doc *doc, yv *d, const char *key, const yv *src) {
    return put(doc, d, key, plain(doc, src, 0));
}

/* ---- optimizer state: integer parameter ids -> parameter names ---- */

typedef struct {
    const char **names;
    const yv **tensors;
    size_t n, cap;
} name_list;

static yolo_status name_list_push(yv_doc *doc, name_list *l, const char *name, const yv *t) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        const char **nn = yv_doc_alloc(doc, cap * sizeof *nn);
        const yv **nt = yv_doc_alloc(doc, cap * sizeof *nt);
        if (!nn || !nt) return yolo_nomem();
        if (l->n) {
            memcpy(nn, l->names, l->n * sizeof *nn);
            memcpy(nt, l->tensors, l->n * sizeof *nt);
        }
        l->names = nn, l->tensors = nt, l->cap = cap;
    }
    l->names[l->n] = name;
    l->tensors[l->n] = t;
    l->n++;
    return YOLO_OK;
}

/* prefix + the string key + tail, in the doc's memory (it lives as long as the names that point into
 * the doc). */
static char *doc_concat(yv_doc *doc, const char *prefix, const yv *key, const char *tail) {
    size_t len = strlen(prefix) + key->str.len + strlen(tail) + 1;
    char *s = yv_doc_alloc(doc, len);
    if (s) snprintf(s, len, "%s%s%s", prefix, key->str.s, tail);
    return s;
}

/* Ultralytics' optimizer groups, in the order its trainer builds them: every parameter of every module
 * (named_modules order) goes to "bias" if its full name contains "bias", else to "bn" if the module is
 * a batch norm (or the name contains logit_scale), else to "weight". Parameter ids count through the
 * groups in order, so this recovers the name of every id. */
static yolo_status group_params(yv_doc *doc, const yv *m, const char *prefix, name_list g[3], int depth,
                                size_t *budget) {
    if (depth > 64) return yolo_error(YOLO_ERR_LIMIT, "modules nested too deeply");
    if (*budget == 0) return yolo_error(YOLO_ERR_LIMIT, "too many modules (over %d)", WALK_MAX_NODES);
    --*budget;
    const yv *params = yv_dict_get(m, "_parameters"), *mods = yv_dict_get(m, "_modules");
    bool bn = m->kind == YV_OBJECT && m->obj.cls && strstr(m->obj.cls, "BatchNorm");
    yolo_status st;
    if (params && params->kind == YV_DICT) {
        for (size_t i = 0; i < params->dict.n; i++) {
            const yv *k = params->dict.keys[i], *t = params->dict.vals[i];
            if (k->kind != YV_STR || t->kind != YV_TENSOR) continue;
            char *full = doc_concat(doc, prefix, k, "");
            if (!full) return yolo_nomem();
            int gi = strstr(full, "bias") ? 2 : (bn || strstr(full, "logit_scale")) ? 1 : 0;
            if ((st = name_list_push(doc, &g[gi], full, t))) return st;
        }
    }
    if (mods && mods->kind == YV_DICT) {
        for (size_t i = 0; i < mods->dict.n; i++) {
            const yv *k = mods->dict.keys[i], *c = mods->dict.vals[i];
            if (k->kind != YV_STR || !is_module_record(c)) continue;
            char *sub = doc_concat(doc, prefix, k, ".");
            if (!sub) return yolo_nomem();
            if ((st = group_params(doc, c, sub, g, depth + 1, budget))) return st;
        }
    }
    return YOLO_OK;
}

static bool same_shape(const yv_tensor *a, const yv_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* Name of parameter id pid, or NULL when the groups do not line up with the model. */
static const char *param_name(const yv *groups, name_list g[3], int64_t pid, const yv **ref) {
    for (size_t gi = 0; gi < groups->seq.n; gi++) {
        const yv *grp = groups->seq.items[gi], *ids = yv_dict_get(grp, "params");
        if (!ids || (ids->kind != YV_LIST && ids->kind != YV_TUPLE)) return NULL;
        const char *label = yv_as_str(yv_dict_get(grp, "param_group"));
        int li = gi < 3 ? (int)gi : -1;
        if (label)
            li = !strcmp(label, "weight") ? 0 : !strcmp(label, "bn") ? 1 : !strcmp(label, "bias") ? 2 : -1;
        for (size_t j = 0; j < ids->seq.n; j++) {
            int64_t id;
            if (!yv_as_int(ids->seq.items[j], &id) || id != pid) continue;
            if (li < 0 || g[li].n != ids->seq.n) return NULL;
            *ref = g[li].tensors[j];
            return g[li].names[j];
        }
    }
    return NULL;
}

static yolo_status convert_optimizer(yv_doc *doc, const yv *opt, const yv *model, const char *hint,
                                     yv **out) {
    const yv *state = yv_dict_get(opt, "state"), *groups = yv_dict_get(opt, "param_groups");
    if (!state || state->kind != YV_DICT || !groups || groups->kind != YV_LIST)
        return yolo_error(YOLO_ERR_FORMAT, "optimizer state is not a torch optimizer state_dict");
    name_list g[3] = {{0}, {0}, {0}};
    yolo_status st;
    size_t budget = WALK_MAX_NODES;
    if (is_module_record(model) && (st = group_params(doc, model, "", g, 0, &budget))) return st;

    /* Names are used only if every state entry finds a parameter of the same shape; otherwise the ids
     * are kept as "param.<id>" so nothing is silently mislabelled. */
    bool by_name = is_module_record(model);
    for (size_t i = 0; by_name && i < state->dict.n; i++) {
        int64_t pid;
        const yv *ref = NULL, *ps = state->dict.vals[i];
        if (!yv_as_int(state->dict.keys[i], &pid) || !param_name(groups, g, pid, &ref)) {
            by_name = false;
            break;
        }
        for (size_t j = 0; ps->kind == YV_DICT && j < ps->dict.n; j++) {
            const yv *t = ps->dict.vals[j];
            if (t->kind == YV_TENSOR && t->tensor.ndim > 0 && !same_shape(&t->tensor, &ref->tensor))
                by_name = false;
        }
    }

    yv *o = yv_new_dict(doc);
    if (!o) return yolo_nomem();
    const char *name = hint;
    if (!name || !*name || !strcmp(name, "auto")) {
        name = "SGD";
        for (size_t i = 0; i < state->dict.n; i++)
            if (yv_dict_get(state->dict.vals[i], "exp_avg")) name = "AdamW";
    }
    if ((st = put(doc, o, "name", yv_new_str(doc, name)))) return st;
    if ((st = put(doc, o, "keyed_by", yv_new_str(doc, by_name ? "name" : "id")))) return st;

    yv *ngroups = yv_new_list(doc);
    if (!ngroups) return yolo_nomem();
    for (size_t gi = 0; gi < groups->seq.n; gi++) {
        const yv *grp = groups->seq.items[gi];
        yv *ng = plain(doc, grp, 0);
        if (!ng) return plain_error();
        if (ng->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "optimizer param_group is not a dict");
        const yv *ids = yv_dict_get(grp, "params");
        yv *names = yv_new_list(doc);
        if (!names) return yolo_nomem();
        for (size_t j = 0; ids && (ids->kind == YV_LIST || ids->kind == YV_TUPLE) && j < ids->seq.n; j++) {
            int64_t pid = -1;
            const yv *ref;
            yv_as_int(ids->seq.items[j], &pid);
            const char *pn = by_name ? param_name(groups, g, pid, &ref) : NULL;
            char buf[40];
            if (!pn) snprintf(buf, sizeof buf, "param.%" PRId64, pid), pn = buf;
            if ((st = yv_seq_push(doc, names, yv_new_str(doc, pn)))) return st;
        }
        if ((st = put(doc, ng, "params", names))) return st;
        if ((st = yv_seq_push(doc, ngroups, ng))) return st;
    }

    yv *nstate = yv_new_dict(doc);
    if (!nstate) return yolo_nomem();
    for (size_t i = 0; i < state->dict.n; i++) {
        int64_t pid = -1;
        const yv *ref, *ps = state->dict.vals[i];
        yv_as_int(state->dict.keys[i], &pid);
        const char *pn = by_name ? param_name(groups, g, pid, &ref) : NULL;
        char buf[40];
        if (!pn) snprintf(buf, sizeof buf, "param.%" PRId64, pid), pn = buf;
        yv *ns = yv_new_dict(doc);
        if (!ns) return yolo_nomem();
        for (size_t j = 0; ps->kind == YV_DICT && j < ps->dict.n; j++) {
            yv *v = ps->dict.vals[j], *c;
            if (v->kind == YV_TENSOR) {
                if ((st = ckptfmt_convert_tensor(doc, v, YDT_F32, &c))) return st;
            } else if (!(c = plain(doc, v, 0))) {
                return plain_error();
            }
            if ((st = yv_dict_put(doc, ns, ps->dict.keys[j], c))) return st;
        }
        if ((st = put(doc, nstate, pn, ns))) return st;
    }
    if ((st = put(doc, o, "param_groups", ngroups))) return st;
    if ((st = put(doc, o, "state", nstate))) return st;
    *out = o;
    return YOLO_OK;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The last layer of a pickled model (its head), or NULL. */
static const yv *head_record(const yv *net) {
    const yv *layers = yv_path(net, "_modules.model._modules");
    return layers && layers->kind == YV_DICT && layers->dict.n ? layers->dict.vals[layers->dict.n - 1] : NULL;
}

/* What Ultralytics' file holds beyond our layout, so that export --format ultralytics gives the same
 * file back: its git record, the run folder in model.args, and the input shape the detection head
 * last saw (its anchors follow from that shape). */
static yolo_status keep_for_export(yv_doc *doc, const yv *root, const yv *net, yv *from) {
    yolo_status st;
    const yv *git = yv_dict_get(root, "git");
    if (git && (st = put_plain(doc, from, "git", git))) return st;
    const char *save_dir = net ? yv_as_str(yv_path(net, "args.save_dir")) : NULL;
    if (save_dir && (st = put(doc, from, "save_dir", yv_new_str(doc, save_dir)))) return st;
    const yv *shape = net ? yv_dict_get(head_record(net), "shape") : NULL;
    if (shape && (shape->kind == YV_TUPLE || shape->kind == YV_LIST) &&
        (st = put_plain(doc, from, "head_shape", shape)))
        return st;
    return YOLO_OK;
}

yolo_status ckptfmt_import(yv_doc *doc, const yv *root, const char *file_name, yv **out) {
    ckptfmt_kind_t kind = ckptfmt_kind(root);
    if (kind == CKPTFMT_OURS_TRAINING || kind == CKPTFMT_OURS_STRIPPED)
        return yolo_error(YOLO_ERR_FORMAT, "already in yolo-tools layout (nothing to import)");
    if (kind != CKPTFMT_ULTRA_TRAINING && kind != CKPTFMT_ULTRA_STRIPPED)
        return yolo_error(YOLO_ERR_FORMAT, "not an Ultralytics checkpoint (kind: %s)",
                          ckptfmt_kind_name(kind));

    const yv *ema = yv_dict_get(root, CKPTFMT_KEY_EMA), *model = yv_dict_get(root, CKPTFMT_KEY_MODEL);
    const yv *net = is_module_record(ema) ? ema : is_module_record(model) ? model : NULL;
    yv *d = NULL;
    yolo_status st = ckptfmt_new_root(doc, &d);
    if (st) return st;
    /* the date the file was written, not the import's */
    if ((st = put_plain(doc, d, CKPTFMT_KEY_DATE, yv_dict_get(root, CKPTFMT_KEY_DATE)))) return st;
    if ((st = put_plain(doc, d, CKPTFMT_KEY_VERSION, yv_dict_get(root, CKPTFMT_KEY_VERSION)))) return st;

    int64_t epoch = -1;
    get_int(root, CKPTFMT_KEY_EPOCH, &epoch);
    if (kind == CKPTFMT_ULTRA_STRIPPED) epoch = -1;
    if ((st = put(doc, d, CKPTFMT_KEY_EPOCH, yv_new_int(doc, epoch)))) return st;
    if ((st = put_plain(doc, d, CKPTFMT_KEY_BEST_FITNESS, yv_dict_get(root, CKPTFMT_KEY_BEST_FITNESS))))
        return st;

    /* Ultralytics resumes from the EMA weights (it stores no raw weights since 8.1), so the EMA is also
     * our raw model: resuming the imported file starts where Ultralytics' own resume would. */
    const yv *wsd = ckptfmt_weights(doc, root, NULL);
    if (!wsd) return yolo_error(YOLO_ERR_FORMAT, "the checkpoint holds no weights (model and ema are empty)");
    /* Ultralytics 8.0 also stored the raw weights (fp16) next to the EMA: keep them where present. */
    const yv *msd = has_weights(ema) && has_weights(model) ? yv_state_dict(doc, model) : wsd;
    if (!msd) return yolo_error(YOLO_ERR_FORMAT, "the model entry holds no readable weights");
    yv *m32, *e32 = NULL;
    if ((st = convert_state_dict(doc, msd, YDT_F32, &m32))) return st;
    if (kind == CKPTFMT_ULTRA_TRAINING && (st = convert_state_dict(doc, wsd, YDT_F32, &e32))) return st;
    if ((st = put(doc, d, CKPTFMT_KEY_MODEL, m32))) return st;
    if ((st = put(doc, d, CKPTFMT_KEY_EMA, e32 ? e32 : yv_new_none(doc)))) return st;
    const yv *updates = yv_dict_get(root, CKPTFMT_KEY_UPDATES);
    if ((st = put_plain(doc, d, CKPTFMT_KEY_UPDATES, kind == CKPTFMT_ULTRA_TRAINING ? updates : NULL)))
        return st;

    const yv *opt = yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER);
    yv *nopt = NULL;
    if (kind == CKPTFMT_ULTRA_TRAINING && !is_none(opt) &&
        (st = convert_optimizer(doc, opt, net, yv_as_str(yv_path(root, "train_args.optimizer")), &nopt)))
        return yolo_error_prefix(st, "optimizer");
    if ((st = put(doc, d, CKPTFMT_KEY_OPTIMIZER, nopt ? nopt : yv_new_none(doc)))) return st;

    yv *args = plain(doc, yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS), 0);
    if (!args) return plain_error();
    if (args->kind == YV_DICT) {
        /* Our files carry no pickled architecture: a model given as a .pt is rebuilt from its YAML. */
        const char *mname = yv_as_str(yv_dict_get(args, "model"));
        const char *yfile = net ? yv_as_str(yv_path(net, "yaml.yaml_file")) : NULL;
        if (mname && text_ends_with(mname, ".pt") && yfile &&
            (st = put(doc, args, "model", yv_new_str(doc, yfile))))
            return st;
        /* The run folder is wherever the file lives now; the old machine's absolute save_dir would
         * send a resume elsewhere. */
        yv_dict_del(args, "save_dir");
        if (yv_dict_get(args, "resume") && (st = put(doc, args, "resume", yv_new_bool(doc, false))))
            return st;
    }
    if ((st = put(doc, d, CKPTFMT_KEY_TRAIN_ARGS, args))) return st;
    if ((st = put_plain(doc, d, CKPTFMT_KEY_TRAIN_METRICS, yv_dict_get(root, CKPTFMT_KEY_TRAIN_METRICS))))
        return st;
    if ((st = put_plain(doc, d, CKPTFMT_KEY_TRAIN_RESULTS, yv_dict_get(root, CKPTFMT_KEY_TRAIN_RESULTS))))
        return st;

    const char *task = yv_as_str(yv_path(root, "train_args.task"));
    if (!task && net) task = yv_as_str(yv_dict_get(net, "task"));
    if ((st = put(doc, d, CKPTFMT_KEY_TASK, task ? yv_new_str(doc, task) : yv_new_none(doc)))) return st;
    if (net) {
        if ((st = put_plain(doc, d, CKPTFMT_KEY_YAML, yv_dict_get(net, "yaml")))) return st;
        if ((st = put_plain(doc, d, CKPTFMT_KEY_NC, yv_dict_get(net, "nc")))) return st;
        if ((st = put_plain(doc, d, CKPTFMT_KEY_NAMES, yv_dict_get(net, "names")))) return st;
        const yv *stride = yv_dict_get(net, "stride");
        yv *sl = yv_new_list(doc);
        if (!sl) return yolo_nomem();
        if (stride && stride->kind == YV_TENSOR && yv_tensor_data(&stride->tensor)) {
            int64_t n = yv_tensor_numel(&stride->tensor);
            double tmp[16];
            if (n <= 16 && !yv_tensor_to_f64(&stride->tensor, tmp))
                for (int64_t i = 0; i < n; i++)
                    if ((st = yv_seq_push(doc, sl, yv_new_float(doc, tmp[i])))) return st;
        }
        if ((st = put(doc, d, CKPTFMT_KEY_STRIDE, sl))) return st;
    }
    yv *from = yv_new_dict(doc);
    if (!from) return yolo_nomem();
    if ((st = put(doc, from, "kind", yv_new_str(doc, ckptfmt_kind_name(kind))))) return st;
    if ((st = put_plain(doc, from, "version", yv_dict_get(root, CKPTFMT_KEY_VERSION)))) return st;
    if ((st = put(doc, from, "file", file_name ? yv_new_str(doc, base_name(file_name)) : yv_new_none(doc))))
        return st;
    if ((st = keep_for_export(doc, root, net, from))) return st;
    if ((st = put(doc, d, CKPTFMT_KEY_IMPORTED, from))) return st;
    static const char *const extra[] = {"license", "docs"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        if (yv_dict_get(root, extra[i]) && (st = put_plain(doc, d, extra[i], yv_dict_get(root, extra[i]))))
            return st;
    *out = d;
    return YOLO_OK;
}

yolo_status ckptfmt_strip(yv_doc *doc, const yv *root, yv **out) {
    ckptfmt_kind_t kind = ckptfmt_kind(root);
    yolo_status st = check_format(root);
    if (st) return st;
    if (kind == CKPTFMT_ULTRA_TRAINING || kind == CKPTFMT_ULTRA_STRIPPED) {
        yv *ours;
        if ((st = ckptfmt_import(doc, root, NULL, &ours))) return st;
        root = ours;
    } else if (kind != CKPTFMT_OURS_TRAINING && kind != CKPTFMT_OURS_STRIPPED) {
        return yolo_error(YOLO_ERR_FORMAT, "not a checkpoint with weights and training state (kind: %s)",
                          ckptfmt_kind_name(kind));
    }
    const yv *w = ckptfmt_weights(doc, root, NULL);
    if (!w) return yolo_error(YOLO_ERR_FORMAT, "the checkpoint holds no weights (model and ema are empty)");
    yv *half;
    if ((st = convert_state_dict(doc, w, YDT_F16, &half))) return st;

    /* Keep every key (metadata first, as Ultralytics' stripped files do), replacing the training state. */
    yv *d = yv_new_dict(doc);
    if (!d) return yolo_nomem();
    static const char *const front[] = {CKPTFMT_KEY_FORMAT, CKPTFMT_KEY_WRITER, CKPTFMT_KEY_DATE,
                                        CKPTFMT_KEY_VERSION};
    for (size_t i = 0; i < sizeof front / sizeof *front; i++) {
        const yv *v = yv_dict_get(root, front[i]);
        if (v && (st = put(doc, d, front[i], (yv *)v))) return st;
    }
    if ((st = put(doc, d, CKPTFMT_KEY_EPOCH, yv_new_int(doc, -1)))) return st;
    if ((st = put(doc, d, CKPTFMT_KEY_BEST_FITNESS, yv_new_none(doc)))) return st;
    if ((st = put(doc, d, CKPTFMT_KEY_MODEL, half))) return st;
    static const char *const cleared[] = {CKPTFMT_KEY_EMA, CKPTFMT_KEY_UPDATES, CKPTFMT_KEY_OPTIMIZER};
    for (size_t i = 0; i < sizeof cleared / sizeof *cleared; i++)
        if ((st = put(doc, d, cleared[i], yv_new_none(doc)))) return st;
    /* Resume state means nothing once the optimizer is gone. */
    static const char *const dropped[] = {CKPTFMT_KEY_RNG,       CKPTFMT_KEY_POSITION,
                                          CKPTFMT_KEY_STOPPER,   CKPTFMT_KEY_ACCUMULATE,
                                          CKPTFMT_KEY_SCHEDULER, CKPTFMT_KEY_MICRO_BATCH};
    for (size_t i = 0; i < root->dict.n; i++) {
        const yv *k = root->dict.keys[i];
        const char *ks = yv_as_str(k);
        if (ks && yv_dict_get(d, ks)) continue;
        bool drop = false;
        for (size_t j = 0; ks && j < sizeof dropped / sizeof *dropped; j++)
            drop |= !strcmp(ks, dropped[j]);
        if (drop) continue;
        if ((st = yv_dict_put(doc, d, (yv *)k, root->dict.vals[i]))) return st;
    }
    yv *args = yv_dict_get(d, CKPTFMT_KEY_TRAIN_ARGS);
    if (args && args->kind == YV_DICT) yv_dict_del(args, "save_dir");
    *out = d;
    return YOLO_OK;
}

yolo_status ckptfmt_export(yv_doc *doc, const yv *root, yv **out) {
    const yv *w = ckptfmt_weights(doc, root, NULL);
    if (!w) return yolo_error(YOLO_ERR_FORMAT, "holds no weights (no model, ema or tensor dict)");
    return convert_state_dict(doc, w, YDT_F32, out);
}

/* ---- key=value like Ultralytics' CLI ---- */

static bool parse_number(const char *s, yv_doc *doc, yv **out) {
    size_t n = strlen(s);
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", s[i])) return false;
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*end == 0 && errno == 0) {
        *out = yv_new_int(doc, i);
        return true;
    }
    errno = 0;
    double d = strtod(s, &end);
    if (*end == 0 && errno != ERANGE) {
        *out = yv_new_float(doc, d);
        return true;
    }
    return false;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static yv *parse_scalar(yv_doc *doc, char *s) {
    s = trim(s);
    size_t n = strlen(s);
    if (!strcasecmp(s, "none")) return yv_new_none(doc);
    if (!strcasecmp(s, "true")) return yv_new_bool(doc, true);
    if (!strcasecmp(s, "false")) return yv_new_bool(doc, false);
    yv *num;
    if (parse_number(s, doc, &num)) return num;
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) return yv_new_strn(doc, s + 1, n - 2);
    return yv_new_str(doc, s);
}

yv *ckptfmt_parse_value(yv_doc *doc, const char *text) {
    size_t n = strlen(text);
    char *s = yv_doc_strdup(doc, text, n);
    if (!s) return NULL;
    char *t = trim(s);
    n = strlen(t);
    /* Flat lists and tuples, as in "classes=[0,2]"; nested brackets stay a string. */
    if (n >= 2 && ((t[0] == '[' && t[n - 1] == ']') || (t[0] == '(' && t[n - 1] == ')')) &&
        strcspn(t + 1, "[]()") == n - 2) {
        bool tuple = t[0] == '(';
        t[n - 1] = 0;
        yv *seq = tuple ? yv_new_tuple(doc) : yv_new_list(doc);
        if (!seq) return NULL;
        char *body = trim(t + 1);
        if (!*body) return seq;
        for (char *tok = body;;) {
            char *comma = strchr(tok, ',');
            if (comma) *comma = 0;
            if (*trim(tok) || comma) {
                if (!*trim(tok)) return yv_new_str(doc, text); /* "[1,,2]": not a literal */
                yv *it = parse_scalar(doc, tok);
                if (!it || yv_seq_push(doc, seq, it)) return NULL;
            }
            if (!comma) break;
            tok = comma + 1;
            if (!*trim(tok)) break; /* trailing comma */
        }
        return seq;
    }
    return parse_scalar(doc, t);
}

yolo_status ckptfmt_set_arg(yv_doc *doc, yv *root, const char *key, const char *value) {
    yolo_status st = check_format(root);
    if (st) return st;
    yv *args = yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS);
    if (!args || args->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "has no train_args to edit");
    if (!yv_dict_get(args, key))
        return yolo_error(YOLO_ERR_USAGE, "'%s' is not a train_args key (see yolo-ckpt inspect --json)", key);
    /* a key of the table takes what the yolo command takes; others keep their value as written */
    const arg_spec *spec = args_find(key);
    yv *v = NULL;
    if (spec) {
        yolo_status pst = args_parse_value(spec, value, doc, &v, NULL, 0);
        if (pst != YOLO_OK) return pst;
    } else if (!(v = ckptfmt_parse_value(doc, value))) {
        return yolo_nomem();
    }
    return yv_dict_set(doc, args, key, v);
}
