/* YOLOv8 networks in plain C over the libtorch wrapper: one forward function per block.
 *
 * Numerical parity with Ultralytics comes from issuing the same libtorch kernels, on tensors of the
 * same shapes, in the same order as its Python modules do; so each block below mirrors the
 * corresponding module's forward step by step (chunk views in C2f, DFL as a 1x1 conv, ...). */
#include "yolo/model.h"
#include "yolo/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_MAX 16
#define MAX_LEVELS 4

typedef struct {
    torch_tensor *w, *bw, *bb, *rm, *rv, *nbt;
    int k, s;
    bool linear;           /* no activation (Identity) */
    torch_tensor *fw, *fb; /* BN folded into the conv (model_fuse), eval only */
    torch_tensor *cm, *cv; /* where train forwards put the batch mean and variance (model_bn_capture) */
} conv_p;                  /* Conv2d(no bias) + BatchNorm2d + SiLU */

typedef struct {
    torch_tensor *w, *b;
} plain_p; /* Conv2d / ConvTranspose2d / Linear with bias */

typedef struct {
    conv_p cv1, cv2;
    bool add;
} bottleneck_p;

typedef struct {
    modelcfg_layer cfg;
    conv_p cv1, cv2; /* Conv uses cv1; C2f and SPPF use both */
    bottleneck_p *m; /* C2f */
    /* heads */
    conv_p box[MAX_LEVELS][2], cls[MAX_LEVELS][2], msk[MAX_LEVELS][2];
    plain_p box_out[MAX_LEVELS], cls_out[MAX_LEVELS], msk_out[MAX_LEVELS];
    torch_tensor *dfl;
    conv_p p_cv1, p_cv2, p_cv3; /* Proto */
    plain_p p_up;
    plain_p linear; /* Classify (its Conv is cv1) */
} layer;

typedef struct {
    char *name;
    torch_tensor *t;
    bool buffer, trainable;
    bool kernel; /* a convolution weight: follows the model's memory layout */
} entry;

struct model {
    char task[16];
    int nc;
    torch_device dev;
    bool training, keep_outputs, channels_last, fused;
    bool blocked; /* activations in oneDNN's blocked layout (torch.h): no conversions around convolutions */
    bool blank;   /* built for weights about to be loaded: no random initial weights drawn */
    double bn_eps, bn_momentum;
    double dropout; /* Classify's dropout probability (Ultralytics' dropout= argument) */
    int n_layers;
    layer *layers;
    torch_tensor **outs;
    int n_entries, cap_entries;
    entry *entries;
    int nl;
    double strides[MAX_LEVELS];
    torch_tensor *anchor_cache, *stride_cache; /* eval decode: (1, 2, A) and (1, A) */
    int64_t cache_hw[MAX_LEVELS][2];
    /* BatchNorm statistics per micro-batch (model_bn_capture): the buffer, and the walk over the
     * convolutions that lays it out or applies statistics to the running averages */
    torch_tensor *bn_cap;
    int64_t bn_off, bn_cap_stride;
    const float *bn_src;
    int bn_count;
};

/* Whether CPU models start in channels-last layout when YOLO_CHANNELS_LAST does not say. */
#define CHANNELS_LAST_DEFAULT 0

typedef yolo_status (*conv_fn)(model *m, conv_p *c);
static yolo_status each_conv(model *m, conv_fn fn);
static yolo_status unfuse_one(model *m, conv_p *c);

/* ---- construction ---- */

static yolo_status add_entry(model *m, const char *name, int ndim, const int64_t *shape, torch_dtype dt,
                             bool buffer, bool trainable, torch_tensor **out) {
    if (m->n_entries == m->cap_entries) {
        int cap = m->cap_entries ? 2 * m->cap_entries : 256;
        entry *e = realloc(m->entries, sizeof *e * cap);
        if (!e) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
        m->entries = e, m->cap_entries = cap;
    }
    entry *e = &m->entries[m->n_entries];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
    yolo_status st = torch_zeros(ndim, shape, dt, m->dev, &e->t);
    if (st != YOLO_OK) {
        free(e->name);
        return st;
    }
    e->buffer = buffer, e->trainable = trainable;
    m->n_entries++;
    *out = e->t;
    return YOLO_OK;
}

/* torch.nn's default init: kaiming_uniform_(a=sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the
 * bias, with the bound computed in the same double arithmetic as torch.nn.init. */
static yolo_status init_kaiming(const model *m, torch_tensor *w, int64_t fan_in) {
    if (m->blank) return YOLO_OK;
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1 + pow(a, 2)));
    double std = gain / sqrt((double)fan_in);
    double bound = sqrt(3.0) * std;
    return torch_uniform_(w, -bound, bound);
}

static yolo_status init_bias(const model *m, torch_tensor *b, int64_t fan_in) {
    if (m->blank) return YOLO_OK;
    double bound = fan_in > 0 ? 1 / sqrt((double)fan_in) : 0;
    return torch_uniform_(b, -bound, bound);
}

static yolo_status reg_conv(model *m, const char *prefix, int c1, int c2, int k, int s, conv_p *c) {
    yolo_status st = YOLO_OK;
    char name[256];
    int64_t wshape[4] = {c2, c1, k, k}, vshape[1] = {c2};
    c->k = k, c->s = s;
    snprintf(name, sizeof name, "%s.conv.weight", prefix);
    YOLO_TRY(add_entry(m, name, 4, wshape, TORCH_F32, false, true, &c->w));
    m->entries[m->n_entries - 1].kernel = true;
    YOLO_TRY(init_kaiming(m, c->w, (int64_t)c1 * k * k));
    snprintf(name, sizeof name, "%s.bn.weight", prefix);
    YOLO_TRY(add_entry(m, name, 1, vshape, TORCH_F32, false, true, &c->bw));
    YOLO_TRY(torch_fill_(c->bw, 1));
    snprintf(name, sizeof name, "%s.bn.bias", prefix);
    YOLO_TRY(add_entry(m, name, 1, vshape, TORCH_F32, false, true, &c->bb));
    snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
    YOLO_TRY(add_entry(m, name, 1, vshape, TORCH_F32, true, false, &c->rm));
    snprintf(name, sizeof name, "%s.bn.running_var", prefix);
    YOLO_TRY(add_entry(m, name, 1, vshape, TORCH_F32, true, false, &c->rv));
    YOLO_TRY(torch_fill_(c->rv, 1));
    snprintf(name, sizeof name, "%s.bn.num_batches_tracked", prefix);
    YOLO_TRY(add_entry(m, name, 0, NULL, TORCH_I64, true, false, &c->nbt));
    return YOLO_OK;
done:
    return st;
}

/* A Conv2d with bias (k x k), or with transposed=true a ConvTranspose2d (c1 -> c2, k x k). */
static yolo_status reg_plain(model *m, const char *prefix, int c1, int c2, int k, bool transposed,
                             plain_p *p) {
    yolo_status st = YOLO_OK;
    char name[256];
    int64_t wshape[4] = {transposed ? c1 : c2, transposed ? c2 : c1, k, k}, bshape[1] = {c2};
    /* torch computes fan_in from weight.size(1) times the kernel area, for both conv kinds */
    int64_t fan_in = wshape[1] * k * k;
    snprintf(name, sizeof name, "%s.weight", prefix);
    YOLO_TRY(add_entry(m, name, 4, wshape, TORCH_F32, false, true, &p->w));
    m->entries[m->n_entries - 1].kernel = true;
    YOLO_TRY(init_kaiming(m, p->w, fan_in));
    snprintf(name, sizeof name, "%s.bias", prefix);
    YOLO_TRY(add_entry(m, name, 1, bshape, TORCH_F32, false, true, &p->b));
    YOLO_TRY(init_bias(m, p->b, fan_in));
    return YOLO_OK;
done:
    return st;
}

static yolo_status reg_head_branch(model *m, const char *prefix, int l, int cin, int c, int cout,
                                   conv_p conv[2], plain_p *out) {
    char name[256];
    yolo_status st;
    snprintf(name, sizeof name, "%s.%d.0", prefix, l);
    YOLO_TRY(reg_conv(m, name, cin, c, 3, 1, &conv[0]));
    snprintf(name, sizeof name, "%s.%d.1", prefix, l);
    YOLO_TRY(reg_conv(m, name, c, c, 3, 1, &conv[1]));
    snprintf(name, sizeof name, "%s.%d.2", prefix, l);
    return reg_plain(m, name, c, cout, 1, false, out);
done:
    return st;
}

/* Spatial size after layer i for an input of size h (for the stride probe). */
static void probe_sizes(const model *m, int in, int *hw) {
    hw[0] = in;
    for (int i = 0; i < m->n_layers; i++) {
        const modelcfg_layer *L = &m->layers[i].cfg;
        int h = hw[L->from[0] + 1];
        if (L->kind == MODELCFG_CONV)
            h = (h + 2 * (L->k / 2) - L->k) / L->s + 1;
        else if (L->kind == MODELCFG_UPSAMPLE)
            h *= L->scale;
        hw[i + 1] = h;
    }
}

static yolo_status check_blocked_channels(model *m, conv_p *c) {
    (void)m;
    return torch_size(c->w, 0) % 16 ? YOLO_ERR_USAGE : YOLO_OK;
}

/* The blocked layout holds channels in blocks of 16: every Conv's output and every C2f half must be
 * a whole number of blocks (true of every yolov8 scale: widths are multiples of 16). */
static bool blocked_fits(model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].cfg.kind == MODELCFG_C2F && (m->layers[i].cfg.c2 / 2) % 16) return false;
    return each_conv(m, check_blocked_channels) == YOLO_OK;
}

static yolo_status build_layers(model *m) {
    yolo_status st = YOLO_OK;
    char prefix[128], name[256];
    for (int i = 0; i < m->n_layers; i++) {
        layer *ly = &m->layers[i];
        const modelcfg_layer *L = &ly->cfg;
        snprintf(prefix, sizeof prefix, "model.%d", i);
        switch (L->kind) {
        case MODELCFG_CONV:
            YOLO_TRY(reg_conv(m, prefix, L->c1, L->c2, L->k, L->s, &ly->cv1));
            break;
        case MODELCFG_C2F: {
            int c = L->c2 / 2;
            snprintf(name, sizeof name, "%s.cv1", prefix);
            YOLO_TRY(reg_conv(m, name, L->c1, 2 * c, 1, 1, &ly->cv1));
            snprintf(name, sizeof name, "%s.cv2", prefix);
            YOLO_TRY(reg_conv(m, name, (2 + L->repeats) * c, L->c2, 1, 1, &ly->cv2));
            ly->m = calloc((size_t)L->repeats, sizeof *ly->m);
            if (!ly->m) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
            for (int r = 0; r < L->repeats; r++) {
                snprintf(name, sizeof name, "%s.m.%d.cv1", prefix, r);
                YOLO_TRY(reg_conv(m, name, c, c, 3, 1, &ly->m[r].cv1));
                snprintf(name, sizeof name, "%s.m.%d.cv2", prefix, r);
                YOLO_TRY(reg_conv(m, name, c, c, 3, 1, &ly->m[r].cv2));
                ly->m[r].add = L->shortcut; /* c1 == c2 always holds inside C2f */
            }
            break;
        }
        case MODELCFG_SPPF: {
            int c = L->c1 / 2;
            snprintf(name, sizeof name, "%s.cv1", prefix);
            YOLO_TRY(reg_conv(m, name, L->c1, c, 1, 1, &ly->cv1));
            ly->cv1.linear = true; /* 8.4.52: SPPF's first conv has no activation */
            snprintf(name, sizeof name, "%s.cv2", prefix);
            YOLO_TRY(reg_conv(m, name, 4 * c, L->c2, 1, 1, &ly->cv2));
            break;
        }
        case MODELCFG_UPSAMPLE:
        case MODELCFG_CONCAT:
            break;
        case MODELCFG_DETECT:
        case MODELCFG_SEGMENT: {
            if (L->nl > MAX_LEVELS)
                return yolo_error(YOLO_ERR_USAGE, "model: at most %d head levels", MAX_LEVELS);
            for (int l = 0; l < L->nl; l++) {
                snprintf(name, sizeof name, "%s.cv2", prefix);
                YOLO_TRY(reg_head_branch(m, name, l, L->ch[l], L->c_box, 4 * REG_MAX, ly->box[l],
                                         &ly->box_out[l]));
            }
            for (int l = 0; l < L->nl; l++) {
                snprintf(name, sizeof name, "%s.cv3", prefix);
                YOLO_TRY(reg_head_branch(m, name, l, L->ch[l], L->c_cls, L->nc, ly->cls[l], &ly->cls_out[l]));
            }
            /* DFL: a 1x1 conv whose weights are the bin values; frozen. Drawn first like any conv so
             * the generator advances as in Python. */
            int64_t dshape[4] = {1, REG_MAX, 1, 1};
            snprintf(name, sizeof name, "%s.dfl.conv.weight", prefix);
            YOLO_TRY(add_entry(m, name, 4, dshape, TORCH_F32, false, false, &ly->dfl));
            YOLO_TRY(init_kaiming(m, ly->dfl, REG_MAX));
            float bins[REG_MAX];
            for (int b = 0; b < REG_MAX; b++)
                bins[b] = (float)b;
            YOLO_TRY(torch_copy_in(ly->dfl, bins, TORCH_F32, REG_MAX));
            if (L->kind == MODELCFG_SEGMENT) {
                snprintf(name, sizeof name, "%s.proto.cv1", prefix);
                YOLO_TRY(reg_conv(m, name, L->ch[0], L->npr, 3, 1, &ly->p_cv1));
                snprintf(name, sizeof name, "%s.proto.upsample", prefix);
                YOLO_TRY(reg_plain(m, name, L->npr, L->npr, 2, true, &ly->p_up));
                snprintf(name, sizeof name, "%s.proto.cv2", prefix);
                YOLO_TRY(reg_conv(m, name, L->npr, L->npr, 3, 1, &ly->p_cv2));
                snprintf(name, sizeof name, "%s.proto.cv3", prefix);
                YOLO_TRY(reg_conv(m, name, L->npr, L->nm, 1, 1, &ly->p_cv3));
                for (int l = 0; l < L->nl; l++) {
                    snprintf(name, sizeof name, "%s.cv4", prefix);
                    YOLO_TRY(
                        reg_head_branch(m, name, l, L->ch[l], L->c_mask, L->nm, ly->msk[l], &ly->msk_out[l]));
                }
            }
            /* Strides from a 256 x 256 probe, as Ultralytics measures them. */
            int hw[1024 + 1];
            probe_sizes(m, 256, hw);
            m->nl = L->nl;
            for (int l = 0; l < L->nl; l++)
                m->strides[l] = 256.0 / hw[L->from[l] + 1];
            /* bias_init: box branch 2.0; class branch log(5 / nc / (640 / s)^2), evaluated like Python
             * does with a float32 stride tensor: (5 / nc) * reciprocal((640 / s)^2) in float32, then log. */
            for (int l = 0; l < L->nl; l++) {
                YOLO_TRY(torch_fill_(ly->box_out[l].b, 2.0));
                float q = (float)640 / (float)m->strides[l];
                q = q * q;
                float v = (1.0f / q) * (float)(5.0 / L->nc);
                YOLO_TRY(torch_fill_(ly->cls_out[l].b, log((double)v)));
            }
            break;
        }
        case MODELCFG_CLASSIFY:
            snprintf(name, sizeof name, "%s.conv", prefix);
            YOLO_TRY(reg_conv(m, name, L->c1, 1280, 1, 1, &ly->cv1));
            {
                int64_t wshape[2] = {L->nc, 1280}, bshape[1] = {L->nc};
                snprintf(name, sizeof name, "%s.linear.weight", prefix);
                YOLO_TRY(add_entry(m, name, 2, wshape, TORCH_F32, false, true, &ly->linear.w));
                YOLO_TRY(init_kaiming(m, ly->linear.w, 1280));
                snprintf(name, sizeof name, "%s.linear.bias", prefix);
                YOLO_TRY(add_entry(m, name, 1, bshape, TORCH_F32, false, true, &ly->linear.b));
                YOLO_TRY(init_bias(m, ly->linear.b, 1280));
            }
            break;
        }
    }
    return YOLO_OK;
done:
    return st;
}

static yolo_status build(const modelcfg *cfg, torch_device dev, bool blank, model **out);

yolo_status model_build(const modelcfg *cfg, torch_device dev, model **out) {
    return build(cfg, dev, false, out);
}

yolo_status model_build_blank(const modelcfg *cfg, torch_device dev, model **out) {
    return build(cfg, dev, true, out);
}

static yolo_status build(const modelcfg *cfg, torch_device dev, bool blank, model **out) {
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
    snprintf(m->task, sizeof m->task, "%s", modelcfg_task(cfg));
    m->nc = modelcfg_nc(cfg);
    m->dev = dev;
    m->training = true;
    m->blank = blank;
    bool cls = !strcmp(m->task, "classify");
    m->bn_eps = cls ? 1e-5 : 1e-3;
    m->bn_momentum = cls ? 0.1 : 0.03;
    m->n_layers = modelcfg_layer_count(cfg);
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->outs = calloc((size_t)m->n_layers, sizeof *m->outs);
    if (!m->layers || !m->outs) {
        model_free(m);
        return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
    }
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i].cfg = *modelcfg_layer_at(cfg, i);
    /* Construction draws random weights; recording gradients for that would only cost memory. */
    bool was = torch_set_grad_enabled(false);
    yolo_status st = build_layers(m);
    torch_set_grad_enabled(was);
    for (int i = 0; st == YOLO_OK && i < m->n_entries; i++)
        if (m->entries[i].trainable) st = torch_set_requires_grad(m->entries[i].t, true);
    /* After the weights are drawn: uniform_ fills memory in storage order, so drawing into
     * channels-last tensors would give other values than Python's row-major init. */
    if (st == YOLO_OK && model_channels_last_default(dev)) st = model_set_channels_last(m, true);
    if (st == YOLO_OK && !m->channels_last) m->blocked = torch_blocked_available(dev) && blocked_fits(m);
    if (st != YOLO_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return YOLO_OK;
}

void model_free(model *m) {
    if (!m) return;
    model_bn_capture(m, NULL);
    for (int i = 0; i < m->n_entries; i++) {
        free(m->entries[i].name);
        torch_free(m->entries[i].t);
    }
    free(m->entries);
    if (m->layers) {
        each_conv(m, unfuse_one);
        for (int i = 0; i < m->n_layers; i++)
            free(m->layers[i].m);
    }
    if (m->outs)
        for (int i = 0; i < m->n_layers; i++)
            torch_free(m->outs[i]);
    free(m->layers);
    free(m->outs);
    torch_free(m->anchor_cache);
    torch_free(m->stride_cache);
    free(m);
}

const char *model_task(const model *m) {
    return m->task;
}
int model_nc(const model *m) {
    return m->nc;
}
torch_device model_device(const model *m) {
    return m->dev;
}
const double *model_strides(const model *m, int *n) {
    if (n) *n = m->nl;
    return m->strides;
}

int model_param_count(const model *m) {
    return m->n_entries;
}
const char *model_param_name(const model *m, int i) {
    return i >= 0 && i < m->n_entries ? m->entries[i].name : NULL;
}
torch_tensor *model_tensor(const model *m, int i) {
    return i >= 0 && i < m->n_entries ? m->entries[i].t : NULL;
}
bool model_param_is_buffer(const model *m, int i) {
    return i >= 0 && i < m->n_entries && m->entries[i].buffer;
}
bool model_param_requires_grad(const model *m, int i) {
    return i >= 0 && i < m->n_entries && m->entries[i].trainable;
}

yolo_status model_set_trainable(model *m, int i, bool on) {
    yolo_status st = YOLO_OK;
    if (i < 0 || i >= m->n_entries) return yolo_error(YOLO_ERR_USAGE, "model: no state entry %d", i);
    entry *e = &m->entries[i];
    if (e->buffer && on) return yolo_error(YOLO_ERR_USAGE, "model: %s is a buffer, not a parameter", e->name);
    if (e->buffer) return YOLO_OK;
    YOLO_TRY(torch_set_requires_grad(e->t, on));
    e->trainable = on;
    return YOLO_OK;
done:
    return st;
}

int model_param_find(const model *m, const char *name) {
    for (int i = 0; i < m->n_entries; i++)
        if (!strcmp(m->entries[i].name, name)) return i;
    return -1;
}

int64_t model_param_elements(const model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (!m->entries[i].buffer) n += torch_numel(m->entries[i].t);
    return n;
}

int64_t model_trainable_elements(const model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (m->entries[i].trainable) n += torch_numel(m->entries[i].t);
    return n;
}

void model_set_training(model *m, bool training) {
    m->training = training;
}

yolo_status model_set_channels_last(model *m, bool on) {
    yolo_status st;
    for (int i = 0; i < m->n_entries; i++) {
        if (!m->entries[i].kernel) continue;
        st = torch_set_channels_last_(m->entries[i].t, on);
        if (st != YOLO_OK) return yolo_error_prefix(st, m->entries[i].name);
    }
    m->channels_last = on;
    if (on) m->blocked = false;                  /* one layout or the other */
    if (m->fused) YOLO_TRY(model_fuse(m, true)); /* the folded weights take the new layout too */
    return YOLO_OK;
done:
    return st;
}

bool model_channels_last(const model *m) {
    return m->channels_last;
}

yolo_status model_set_blocked(model *m, bool on) {
    if (on && (m->channels_last || !torch_blocked_available(m->dev) || !blocked_fits(m)))
        return yolo_error(YOLO_ERR_USAGE, "model: the blocked layout is not available for this model or CPU");
    m->blocked = on;
    return YOLO_OK;
}

bool model_blocked(const model *m) {
    return m->blocked;
}

bool model_channels_last_default(torch_device dev) {
    const char *e = getenv("YOLO_CHANNELS_LAST");
    if (e && *e) return strcmp(e, "0") != 0;
    return dev == TORCH_CPU && CHANNELS_LAST_DEFAULT;
}

yolo_status model_set_dropout(model *m, double p) {
    if (!(p >= 0 && p < 1)) return yolo_error(YOLO_ERR_USAGE, "dropout=%g: must be in [0, 1)", p);
    m->dropout = p;
    return YOLO_OK;
}
bool model_training(const model *m) {
    return m->training;
}
void model_keep_layer_outputs(model *m, bool keep) {
    m->keep_outputs = keep;
}
const torch_tensor *model_layer_output(const model *m, int i) {
    return i >= 0 && i < m->n_layers ? m->outs[i] : NULL;
}

/* ---- Conv+BN folding (what Ultralytics' model.fuse() does for standalone val and predict) ---- */

static yolo_status each_conv(model *m, conv_fn fn) {
    yolo_status st = YOLO_OK;
    for (int i = 0; i < m->n_layers; i++) {
        layer *ly = &m->layers[i];
        const modelcfg_layer *L = &ly->cfg;
        switch (L->kind) {
        case MODELCFG_CONV:
        case MODELCFG_CLASSIFY:
            YOLO_TRY(fn(m, &ly->cv1));
            break;
        case MODELCFG_SPPF:
            YOLO_TRY(fn(m, &ly->cv1));
            YOLO_TRY(fn(m, &ly->cv2));
            break;
        case MODELCFG_C2F:
            YOLO_TRY(fn(m, &ly->cv1));
            YOLO_TRY(fn(m, &ly->cv2));
            for (int r = 0; r < L->repeats; r++) {
                YOLO_TRY(fn(m, &ly->m[r].cv1));
                YOLO_TRY(fn(m, &ly->m[r].cv2));
            }
            break;
        case MODELCFG_SEGMENT:
            YOLO_TRY(fn(m, &ly->p_cv1));
            YOLO_TRY(fn(m, &ly->p_cv2));
            YOLO_TRY(fn(m, &ly->p_cv3));
            for (int l = 0; l < L->nl; l++)
                for (int j = 0; j < 2; j++)
                    YOLO_TRY(fn(m, &ly->msk[l][j]));
            break;
        case MODELCFG_DETECT:
            break;
        case MODELCFG_UPSAMPLE:
        case MODELCFG_CONCAT:
            break;
        }
        if (L->kind == MODELCFG_DETECT || L->kind == MODELCFG_SEGMENT)
            for (int l = 0; l < L->nl; l++)
                for (int j = 0; j < 2; j++) {
                    YOLO_TRY(fn(m, &ly->box[l][j]));
                    YOLO_TRY(fn(m, &ly->cls[l][j]));
                }
    }
    return YOLO_OK;
done:
    return st;
}

/* Ultralytics' fuse_conv_and_bn, op for op: s = gamma / sqrt(eps + var); w' = diag(s) @ w, which is an
 * exact per-row product; b' = 0 + (beta - gamma * mean / sqrt(var + eps)). */
static yolo_status fuse_one(model *m, conv_p *c) {
    yolo_status st = YOLO_OK;
    torch_tensor *den = NULL, *scale = NULL, *gm = NULL;
    int64_t col[4] = {torch_size(c->w, 0), 1, 1, 1};
    YOLO_TRY(torch_add_scalar(c->rv, m->bn_eps, &den));
    YOLO_TRY(torch_sqrt(den, &den));
    YOLO_TRY(torch_div(c->bw, den, &scale));
    YOLO_TRY(torch_view(scale, 4, col, &scale));
    YOLO_TRY(torch_mul(c->w, scale, &c->fw));
    YOLO_TRY(torch_mul(c->bw, c->rm, &gm));
    YOLO_TRY(torch_div(gm, den, &gm));
    YOLO_TRY(torch_sub(c->bb, gm, &c->fb));
done:
    torch_free(den), torch_free(scale), torch_free(gm);
    return st;
}

static yolo_status unfuse_one(model *m, conv_p *c) {
    (void)m;
    torch_freep(&c->fw);
    torch_freep(&c->fb);
    return YOLO_OK;
}

/* ---- BatchNorm statistics per micro-batch ---- */

static yolo_status bn_count_one(model *m, conv_p *c) {
    m->bn_off += 2 * torch_numel(c->rm);
    return YOLO_OK;
}

int64_t model_bn_stats_size(const model *m) {
    model *mm = (model *)m; /* the walk only adds up sizes in the model's scratch field */
    mm->bn_off = 0;
    each_conv(mm, bn_count_one);
    return mm->bn_off;
}

static yolo_status bn_view_one(model *m, conv_p *c) {
    int64_t n = torch_numel(c->rm);
    yolo_status st = YOLO_OK;
    torch_freep(&c->cm), torch_freep(&c->cv);
    if (m->bn_cap) {
        YOLO_TRY(torch_narrow(m->bn_cap, 0, m->bn_off, n, &c->cm));
        YOLO_TRY(torch_narrow(m->bn_cap, 0, m->bn_off + n, n, &c->cv));
    }
    m->bn_off += 2 * n;
done:
    return st;
}

yolo_status model_bn_capture(model *m, torch_tensor *buf) {
    torch_freep(&m->bn_cap);
    yolo_status st = YOLO_OK;
    if (buf) {
        int64_t need = model_bn_stats_size(m);
        if (torch_ndim(buf) != 1 || torch_numel(buf) != need || torch_dtype_of(buf) != TORCH_F32 ||
            !torch_is_contiguous(buf))
            return yolo_error(YOLO_ERR_USAGE, "model: the BatchNorm statistics need a float32 vector of %lld",
                              (long long)need);
        st = torch_alias(buf, &m->bn_cap);
    }
    m->bn_off = 0;
    if (st == YOLO_OK && m->layers) st = each_conv(m, bn_view_one);
    if (st != YOLO_OK) {
        torch_freep(&m->bn_cap);
        m->bn_off = 0;
        each_conv(m, bn_view_one);
    }
    return st;
}

/* libtorch 1.13's update of the running averages (as lib/bnorm.c): the momentum as a float; the
 * variance mixes the double unbiased variance with a float (1 - momentum) * old. On the tensors' own
 * memory (CPU), else through copies. */
static void bn_mix(const model *m, int64_t n, float *rm, float *rv) {
    float mo = (float)m->bn_momentum;
    for (int k = 0; k < m->bn_count; k++) {
        const float *mean = m->bn_src + (size_t)k * (size_t)m->bn_cap_stride + m->bn_off, *var = mean + n;
        for (int64_t i = 0; i < n; i++) {
            rm[i] = mo * mean[i] + (1 - mo) * rm[i];
            rv[i] = (float)((double)mo * (double)var[i] + (double)((1 - mo) * rv[i]));
        }
    }
}

static yolo_status bn_update_one(model *m, conv_p *c) {
    int64_t n = torch_numel(c->rm);
    float *rm = torch_data_ptr(c->rm), *rv = torch_data_ptr(c->rv);
    int64_t *count = torch_data_ptr(c->nbt);
    yolo_status st = YOLO_OK;
    if (rm && rv && count && torch_dtype_of(c->rm) == TORCH_F32 && torch_dtype_of(c->rv) == TORCH_F32 &&
        torch_dtype_of(c->nbt) == TORCH_I64) {
        bn_mix(m, n, rm, rv);
        *count += m->bn_count;
    } else {
        float *buf = malloc(sizeof(float) * 2 * (size_t)n);
        if (!buf) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
        st = torch_copy_out(c->rm, TORCH_F32, buf, n);
        if (st == YOLO_OK) st = torch_copy_out(c->rv, TORCH_F32, buf + n, n);
        if (st == YOLO_OK) bn_mix(m, n, buf, buf + n);
        if (st == YOLO_OK) st = torch_copy_in(c->rm, buf, TORCH_F32, n);
        if (st == YOLO_OK) st = torch_copy_in(c->rv, buf + n, TORCH_F32, n);
        if (st == YOLO_OK) {
            bool was = torch_set_grad_enabled(false);
            st = torch_add_scalar_(c->nbt, m->bn_count);
            torch_set_grad_enabled(was);
        }
        free(buf);
    }
    m->bn_off += 2 * n;
    return st;
}

yolo_status model_bn_update(model *m, const float *stats, int count) {
    if (count < 0 || (count && !stats)) return yolo_error(YOLO_ERR_USAGE, "model: no BatchNorm statistics");
    m->bn_cap_stride = model_bn_stats_size(m);
    m->bn_src = stats, m->bn_count = count, m->bn_off = 0;
    yolo_status st = count ? each_conv(m, bn_update_one) : YOLO_OK;
    m->bn_src = NULL, m->bn_count = 0;
    return st;
}

yolo_status model_fuse(model *m, bool on) {
    bool was = torch_set_grad_enabled(false);
    yolo_status st = each_conv(m, on ? fuse_one : unfuse_one);
    torch_set_grad_enabled(was);
    if (st != YOLO_OK) {
        each_conv(m, unfuse_one);
        m->fused = false;
        return st;
    }
    m->fused = on;
    return YOLO_OK;
}

/* ---- forward, one function per block ---- */

/* A convolution in the model's layout: blocked output, or plain for a head's last conv (plain_out). */
static yolo_status layer_conv(const model *m, const torch_tensor *x, const torch_tensor *w,
                              const torch_tensor *b, int stride, int pad, bool plain_out,
                              torch_tensor **out) {
    if (m->blocked) return torch_conv2d_blocked(x, w, b, stride, pad, plain_out, out);
    return torch_conv2d(x, w, b, stride, pad, 1, 1, out);
}

static yolo_status conv_fwd(model *m, const conv_p *c, const torch_tensor *x, torch_tensor **out) {
    bool fused = m->fused && !m->training;
    yolo_status st;
    YOLO_TRY(layer_conv(m, x, fused ? c->fw : c->w, fused ? c->fb : NULL, c->s, c->k / 2, false, out));
    if (fused) return c->linear ? YOLO_OK : torch_silu_(*out);
    /* micro-batch steps (c->cm): momentum 1 over zeros makes the captured statistics the batch's own mean
     * and unbiased variance; the running averages are updated later, in micro-batch order */
    bool capture = m->training && c->cm;
    torch_tensor *rm = capture ? c->cm : c->rm, *rv = capture ? c->cv : c->rv;
    double mo = capture ? 1.0 : m->bn_momentum;
    if (m->training && !capture) {
        bool was = torch_set_grad_enabled(false);
        st = torch_add_scalar_(c->nbt, 1);
        torch_set_grad_enabled(was);
        if (st != YOLO_OK) return st;
    }
    if (c->linear) return torch_batch_norm(*out, c->bw, c->bb, rm, rv, m->training, mo, m->bn_eps, out);
    return torch_batch_norm_silu(*out, c->bw, c->bb, rm, rv, m->training, mo, m->bn_eps, out);
done:
    return st;
}

static yolo_status c2f_fwd(model *m, const layer *ly, const torch_tensor *x, torch_tensor **out) {
    int n = ly->cfg.repeats, c = ly->cfg.c2 / 2;
    if (m->blocked) c /= 16; /* narrow counts blocks */
    yolo_status st = YOLO_OK;
    torch_tensor *y = NULL, *tmp = NULL;
    torch_tensor *parts[2 + 100] = {0};
    YOLO_TRY(conv_fwd(m, &ly->cv1, x, &y));
    YOLO_TRY(torch_narrow(y, 1, 0, c, &parts[0]));
    YOLO_TRY(torch_narrow(y, 1, c, c, &parts[1]));
    for (int r = 0; r < n; r++) {
        const bottleneck_p *b = &ly->m[r];
        YOLO_TRY(conv_fwd(m, &b->cv1, parts[1 + r], &tmp));
        YOLO_TRY(conv_fwd(m, &b->cv2, tmp, &parts[2 + r]));
        if (b->add) YOLO_TRY(torch_add(parts[1 + r], parts[2 + r], &parts[2 + r]));
    }
    YOLO_TRY(torch_cat((const torch_tensor *const *)parts, 2 + n, 1, &tmp));
    YOLO_TRY(conv_fwd(m, &ly->cv2, tmp, out));
done:
    torch_free(y);
    torch_free(tmp);
    for (int i = 0; i < 2 + n; i++)
        torch_free(parts[i]);
    return st;
}

static yolo_status sppf_fwd(model *m, const layer *ly, const torch_tensor *x, torch_tensor **out) {
    yolo_status st = YOLO_OK;
    torch_tensor *y[4] = {0}, *cat = NULL;
    int k = ly->cfg.k;
    YOLO_TRY(conv_fwd(m, &ly->cv1, x, &y[0]));
    for (int i = 1; i < 4; i++)
        YOLO_TRY(torch_max_pool2d(y[i - 1], k, 1, k / 2, &y[i]));
    YOLO_TRY(torch_cat((const torch_tensor *const *)y, 4, 1, &cat));
    YOLO_TRY(conv_fwd(m, &ly->cv2, cat, out));
done:
    for (int i = 0; i < 4; i++)
        torch_free(y[i]);
    torch_free(cat);
    return st;
}

/* Conv, Conv, Conv2d(bias) on one level, flattened to (B, C, H*W). */
static yolo_status branch_fwd(model *m, const conv_p conv[2], const plain_p *p, const torch_tensor *x,
                              torch_tensor **out) {
    yolo_status st;
    YOLO_TRY(conv_fwd(m, &conv[0], x, out));
    YOLO_TRY(conv_fwd(m, &conv[1], *out, out));
    YOLO_TRY(layer_conv(m, *out, p->w, p->b, 1, 0, true, out));
    int64_t shape[3] = {torch_size(*out, 0), torch_size(*out, 1), -1};
    return torch_view(*out, 3, shape, out);
done:
    return st;
}

/* The three branches of one kind over all levels, concatenated along anchors. */
static yolo_status head_cat(model *m, const layer *ly, int which, torch_tensor *const *xs,
                            torch_tensor **out) {
    yolo_status st = YOLO_OK;
    int nl = ly->cfg.nl;
    torch_tensor *lv[MAX_LEVELS] = {0};
    for (int l = 0; l < nl; l++) {
        const conv_p *c = which == 0 ? ly->box[l] : which == 1 ? ly->cls[l] : ly->msk[l];
        const plain_p *p = which == 0 ? &ly->box_out[l] : which == 1 ? &ly->cls_out[l] : &ly->msk_out[l];
        YOLO_TRY(branch_fwd(m, c, p, xs[l], &lv[l]));
    }
    YOLO_TRY(torch_cat((const torch_tensor *const *)lv, nl, 2, out));
done:
    for (int l = 0; l < nl; l++)
        torch_free(lv[l]);
    return st;
}

static yolo_status anchors_for(model *m, const model_output *o) {
    bool same = m->anchor_cache != NULL;
    for (int l = 0; same && l < o->nl; l++)
        same = m->cache_hw[l][0] == o->level_hw[l][0] && m->cache_hw[l][1] == o->level_hw[l][1];
    if (same) return YOLO_OK;
    float *a = malloc(sizeof(float) * 3 * (size_t)o->anchors);
    if (!a) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
    float *ax = a, *ay = a + o->anchors, *sv = a + 2 * o->anchors;
    int64_t k = 0;
    for (int l = 0; l < o->nl; l++) {
        for (int64_t y = 0; y < o->level_hw[l][0]; y++)
            for (int64_t x = 0; x < o->level_hw[l][1]; x++, k++) {
                ax[k] = (float)x + 0.5f, ay[k] = (float)y + 0.5f;
                sv[k] = (float)m->strides[l];
            }
        m->cache_hw[l][0] = o->level_hw[l][0], m->cache_hw[l][1] = o->level_hw[l][1];
    }
    int64_t ashape[3] = {1, 2, o->anchors}, sshape[2] = {1, o->anchors};
    torch_tensor *at = NULL, *stt = NULL;
    yolo_status st = torch_from_data(a, TORCH_F32, 3, ashape, &at);
    if (st == YOLO_OK) st = torch_from_data(sv, TORCH_F32, 2, sshape, &stt);
    free(a);
    if (st == YOLO_OK && m->dev != TORCH_CPU) st = torch_to(at, TORCH_F32, m->dev, &at);
    if (st == YOLO_OK && m->dev != TORCH_CPU) st = torch_to(stt, TORCH_F32, m->dev, &stt);
    if (st != YOLO_OK) {
        torch_free(at);
        torch_free(stt);
        return st;
    }
    torch_free(m->anchor_cache);
    torch_free(m->stride_cache);
    m->anchor_cache = at, m->stride_cache = stt;
    return YOLO_OK;
}

/* DFL expectation and distance-to-box decode, in pixels: (B, 4, A) cx, cy, w, h. */
static yolo_status decode_boxes(model *m, const model_output *o, torch_tensor **out) {
    yolo_status st = YOLO_OK;
    torch_tensor *d = NULL, *lt = NULL, *rb = NULL, *x1 = NULL, *x2 = NULL, *c = NULL, *wh = NULL;
    int64_t B = torch_size(o->boxes, 0), A = o->anchors;
    YOLO_TRY(anchors_for(m, o));
    int64_t s4[4] = {B, 4, REG_MAX, A};
    YOLO_TRY(torch_view(o->boxes, 4, s4, &d));
    YOLO_TRY(torch_transpose(d, 2, 1, &d));
    YOLO_TRY(torch_softmax(d, 1, &d));
    YOLO_TRY(torch_conv2d(d, m->layers[m->n_layers - 1].dfl, NULL, 1, 0, 1, 1, &d));
    int64_t s3[3] = {B, 4, A};
    YOLO_TRY(torch_view(d, 3, s3, &d));
    YOLO_TRY(torch_narrow(d, 1, 0, 2, &lt));
    YOLO_TRY(torch_narrow(d, 1, 2, 2, &rb));
    YOLO_TRY(torch_sub(m->anchor_cache, lt, &x1));
    YOLO_TRY(torch_add(m->anchor_cache, rb, &x2));
    YOLO_TRY(torch_add(x1, x2, &c));
    YOLO_TRY(torch_mul_scalar(c, 0.5, &c)); /* exact, like Python's / 2 */
    YOLO_TRY(torch_sub(x2, x1, &wh));
    const torch_tensor *parts[2] = {c, wh};
    YOLO_TRY(torch_cat(parts, 2, 1, &d));
    YOLO_TRY(torch_mul(d, m->stride_cache, out));
done:
    torch_free(d), torch_free(lt), torch_free(rb), torch_free(x1), torch_free(x2), torch_free(c),
        torch_free(wh);
    return st;
}

static yolo_status detect_fwd(model *m, const layer *ly, torch_tensor *const *xs, model_output *o) {
    yolo_status st = YOLO_OK;
    torch_tensor *dbox = NULL, *sig = NULL, *p0 = NULL, *up = NULL;
    const modelcfg_layer *L = &ly->cfg;
    o->nl = L->nl;
    o->anchors = 0;
    for (int l = 0; l < L->nl; l++) {
        o->level_hw[l][0] = torch_size(xs[l], 2);
        o->level_hw[l][1] = torch_size(xs[l], 3);
        o->anchors += o->level_hw[l][0] * o->level_hw[l][1];
    }
    YOLO_TRY(head_cat(m, ly, 0, xs, &o->boxes));
    YOLO_TRY(head_cat(m, ly, 1, xs, &o->scores));
    if (L->kind == MODELCFG_SEGMENT) {
        YOLO_TRY(conv_fwd(m, &ly->p_cv1, xs[0], &p0));
        if (m->blocked) YOLO_TRY(torch_to_plain(p0, &p0)); /* libtorch's transposed convolution is plain */
        YOLO_TRY(torch_conv_transpose2d(p0, ly->p_up.w, ly->p_up.b, 2, 0, &up));
        YOLO_TRY(conv_fwd(m, &ly->p_cv2, up, &up));
        YOLO_TRY(conv_fwd(m, &ly->p_cv3, up, &o->proto));
        if (m->blocked) YOLO_TRY(torch_to_plain(o->proto, &o->proto));
        YOLO_TRY(head_cat(m, ly, 2, xs, &o->mask_coeffs));
    }
    if (!m->training) {
        YOLO_TRY(decode_boxes(m, o, &dbox));
        YOLO_TRY(torch_sigmoid(o->scores, &sig));
        const torch_tensor *parts[3] = {dbox, sig, o->mask_coeffs};
        YOLO_TRY(torch_cat(parts, L->kind == MODELCFG_SEGMENT ? 3 : 2, 1, &o->pred));
    }
done:
    torch_free(dbox), torch_free(sig), torch_free(p0), torch_free(up);
    return st;
}

/* Classify's dropout in training. The mask comes from our counter-based generator keyed by the head
 * BN's batch counter, which advances once per training forward and is saved with the weights: a run
 * resumed mid-epoch draws the masks an uninterrupted one draws. torch's process-wide generator would
 * not (it is neither saved nor reseeded per batch). Kept elements are scaled by 1/(1-p) as torch does. */
static yolo_status dropout_fwd(const model *m, const conv_p *head, torch_tensor **t) {
    double count = 0;
    yolo_status st = torch_item(head->nbt, &count);
    if (st != YOLO_OK) return st;
    int64_t n = torch_numel(*t), shape[2] = {torch_size(*t, 0), torch_size(*t, 1)};
    float *keep = malloc((size_t)n * sizeof *keep);
    if (!keep) return yolo_error(YOLO_ERR_NOMEM, "out of memory (dropout mask of %lld values)", (long long)n);
    rng r;
    rng_init(&r, (uint64_t)count, 0, 0, RNG_STREAM_TRAIN);
    float scale = (float)(1 / (1 - m->dropout));
    for (int64_t i = 0; i < n; i++)
        keep[i] = rng_double(&r) < m->dropout ? 0.0f : scale;
    torch_tensor *mask = NULL;
    st = torch_from_data(keep, TORCH_F32, 2, shape, &mask);
    free(keep);
    if (st == YOLO_OK) st = torch_to(mask, torch_dtype_of(*t), torch_device_of(*t), &mask);
    if (st == YOLO_OK) st = torch_mul(*t, mask, t);
    torch_free(mask);
    return st;
}

static yolo_status classify_fwd(model *m, const layer *ly, const torch_tensor *x, model_output *o) {
    yolo_status st = YOLO_OK;
    torch_tensor *t = NULL;
    YOLO_TRY(conv_fwd(m, &ly->cv1, x, &t));
    if (m->blocked) YOLO_TRY(torch_to_plain(t, &t));
    YOLO_TRY(torch_adaptive_avg_pool2d(t, 1, 1, &t));
    YOLO_TRY(torch_flatten(t, 1, -1, &t));
    if (m->dropout > 0 && m->training) YOLO_TRY(dropout_fwd(m, &ly->cv1, &t));
    YOLO_TRY(torch_linear(t, ly->linear.w, ly->linear.b, &o->logits));
    if (!m->training) YOLO_TRY(torch_softmax(o->logits, 1, &o->pred));
done:
    torch_free(t);
    return st;
}

yolo_status model_forward(model *m, const torch_tensor *images, model_output *out) {
    if (torch_ndim(images) != 4 || torch_size(images, 1) != 3)
        return yolo_error(YOLO_ERR_USAGE, "model: input must be (B, 3, H, W)");
    int64_t h = torch_size(images, 2), w = torch_size(images, 3);
    int smax = m->nl ? (int)m->strides[m->nl - 1] : 1;
    if (h % smax || w % smax || h < smax || w < smax)
        return yolo_error(YOLO_ERR_USAGE, "model: image size %lldx%lld is not a multiple of the stride %d",
                          (long long)h, (long long)w, smax);
    yolo_status st = YOLO_OK;
    torch_tensor *nhwc = NULL;
    if (m->channels_last && m->training)
        for (int i = 0; i < m->n_entries; i++)
            if (m->entries[i].kernel) YOLO_TRY(torch_grad_conform(m->entries[i].t));
    if (m->channels_last && !torch_is_channels_last(images)) {
        YOLO_TRY(torch_channels_last(images, &nhwc));
        images = nhwc;
    }
    if (m->training && m->bn_cap) YOLO_TRY(torch_zero_(m->bn_cap));
    /* Eval outputs never need gradients; recording them would only hold activations in memory. */
    bool grad_was = m->training ? torch_grad_enabled() : torch_set_grad_enabled(false);
    for (int i = 0; i < m->n_layers && st == YOLO_OK; i++) {
        layer *ly = &m->layers[i];
        const modelcfg_layer *L = &ly->cfg;
        const torch_tensor *x = L->from[0] < 0 ? images : m->outs[L->from[0]];
        switch (L->kind) {
        case MODELCFG_CONV:
            st = conv_fwd(m, &ly->cv1, x, &m->outs[i]);
            break;
        case MODELCFG_C2F:
            st = c2f_fwd(m, ly, x, &m->outs[i]);
            break;
        case MODELCFG_SPPF:
            st = sppf_fwd(m, ly, x, &m->outs[i]);
            break;
        case MODELCFG_UPSAMPLE:
            st = torch_upsample_nearest2d(x, L->scale, &m->outs[i]);
            break;
        case MODELCFG_CONCAT: {
            const torch_tensor *xs[MODELCFG_MAX_FROM];
            for (int k = 0; k < L->n_from; k++)
                xs[k] = m->outs[L->from[k]];
            st = torch_cat(xs, L->n_from, 1, &m->outs[i]);
            break;
        }
        case MODELCFG_DETECT:
        case MODELCFG_SEGMENT: {
            torch_tensor *xs[MAX_LEVELS];
            for (int k = 0; k < L->nl; k++)
                xs[k] = m->outs[L->from[k]];
            st = detect_fwd(m, ly, xs, out);
            break;
        }
        case MODELCFG_CLASSIFY:
            st = classify_fwd(m, ly, x, out);
            break;
        }
    }
    if (!m->training) torch_set_grad_enabled(grad_was);
    torch_free(nhwc);
    if (!m->keep_outputs || st != YOLO_OK)
        for (int i = 0; i < m->n_layers; i++)
            torch_freep(&m->outs[i]);
    /* kept outputs are for comparisons with Python: in its layout */
    for (int i = 0; i < m->n_layers && st == YOLO_OK; i++)
        if (m->outs[i] && torch_is_blocked(m->outs[i])) st = torch_to_plain(m->outs[i], &m->outs[i]);
    if (st == YOLO_OK && m->training) torch_freep(&out->pred);
done:
    return st;
}

void model_output_free(model_output *o) {
    if (!o) return;
    torch_freep(&o->boxes);
    torch_freep(&o->scores);
    torch_freep(&o->mask_coeffs);
    torch_freep(&o->proto);
    torch_freep(&o->logits);
    torch_freep(&o->pred);
}

yolo_status model_anchors(const model *m, const model_output *o, torch_tensor **anchors,
                          torch_tensor **strides) {
    if (o->anchors <= 0) return yolo_error(YOLO_ERR_USAGE, "model: no forward yet (no anchor layout)");
    float *a = malloc(sizeof(float) * 3 * (size_t)o->anchors);
    if (!a) return yolo_error(YOLO_ERR_NOMEM, "model: out of memory");
    int64_t k = 0;
    for (int l = 0; l < o->nl; l++)
        for (int64_t y = 0; y < o->level_hw[l][0]; y++)
            for (int64_t x = 0; x < o->level_hw[l][1]; x++, k++) {
                a[2 * k] = (float)x + 0.5f, a[2 * k + 1] = (float)y + 0.5f;
                a[2 * o->anchors + k] = (float)m->strides[l];
            }
    int64_t ashape[2] = {o->anchors, 2}, sshape[2] = {o->anchors, 1};
    yolo_status st = torch_from_data(a, TORCH_F32, 2, ashape, anchors);
    if (st == YOLO_OK) st = torch_from_data(a + 2 * o->anchors, TORCH_F32, 2, sshape, strides);
    free(a);
    if (st == YOLO_OK && m->dev != TORCH_CPU) st = torch_to(*anchors, TORCH_F32, m->dev, anchors);
    if (st == YOLO_OK && m->dev != TORCH_CPU) st = torch_to(*strides, TORCH_F32, m->dev, strides);
    return st;
}

/* ---- weights ---- */

yolo_status model_load_state_dict(model *m, const yv *sd, int *transferred, char *msg, size_t msg_cap) {
    if (!sd || sd->kind != YV_DICT) return yolo_error(YOLO_ERR_FORMAT, "state dict: not a dict of tensors");
    yolo_status st = YOLO_OK;
    int n = 0;
    for (int i = 0; i < m->n_entries; i++) {
        entry *e = &m->entries[i];
        const yv *v = yv_dict_get(sd, e->name);
        if (!v || v->kind != YV_TENSOR) continue;
        const yv_tensor *t = &v->tensor;
        int64_t shape[YV_MAX_DIMS];
        int nd = torch_shape(e->t, shape, YV_MAX_DIMS);
        bool same = nd == t->ndim;
        for (int d = 0; same && d < nd; d++)
            same = shape[d] == t->shape[d];
        if (!same) continue;
        int64_t count = yv_tensor_numel(t);
        if (torch_dtype_of(e->t) == TORCH_I64) {
            double *buf = malloc(sizeof(double) * (size_t)(count ? count : 1));
            int64_t *ibuf = malloc(sizeof(int64_t) * (size_t)(count ? count : 1));
            st = buf && ibuf ? yv_tensor_to_f64(t, buf) : yolo_nomem();
            for (int64_t k = 0; st == YOLO_OK && k < count; k++)
                ibuf[k] = (int64_t)buf[k];
            if (st == YOLO_OK) st = torch_copy_in(e->t, ibuf, TORCH_I64, count);
            free(buf);
            free(ibuf);
        } else if (t->dtype == YDT_F32 && yv_tensor_is_contiguous(t) && yv_tensor_data(t)) {
            st = torch_copy_in(e->t, yv_tensor_data(t), TORCH_F32, count);
        } else {
            float *buf = malloc(sizeof(float) * (size_t)(count ? count : 1));
            st = buf ? yv_tensor_to_f32(t, buf) : yolo_nomem();
            if (st == YOLO_OK) st = torch_copy_in(e->t, buf, TORCH_F32, count);
            free(buf);
        }
        if (st != YOLO_OK) return yolo_error_prefix(st, e->name);
        n++;
    }
    if (m->fused) YOLO_TRY(model_fuse(m, true)); /* the folded copies must follow the new weights */
    if (transferred) *transferred = n;
    if (msg && msg_cap)
        snprintf(msg, msg_cap, "Transferred %d/%d items from pretrained weights", n, m->n_entries);
done:
    return st;
}

yolo_status model_export_state_dict(const model *m, yv_doc *doc, yv **out) {
    yolo_status st = YOLO_OK;
    yv *d = yv_new_dict(doc);
    if (!d) return yolo_error(YOLO_ERR_NOMEM, "state dict: out of memory");
    d->dict.ordered = true;
    for (int i = 0; i < m->n_entries; i++) {
        const entry *e = &m->entries[i];
        int64_t shape[YV_MAX_DIMS];
        int nd = torch_shape(e->t, shape, YV_MAX_DIMS);
        bool i64 = torch_dtype_of(e->t) == TORCH_I64;
        yv *t = yv_new_tensor(doc, i64 ? YDT_I64 : YDT_F32, nd, shape);
        if (!t) return yolo_error(YOLO_ERR_NOMEM, "state dict: out of memory");
        t->tensor.requires_grad = false;
        t->tensor.is_parameter = false;
        YOLO_TRY(
            torch_copy_out(e->t, i64 ? TORCH_I64 : TORCH_F32, yv_tensor_data(&t->tensor), torch_numel(e->t)));
        YOLO_TRY(yv_dict_set(doc, d, e->name, t));
    }
    *out = d;
    return YOLO_OK;
done:
    return st;
}
