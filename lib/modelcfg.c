/* Model YAML (Ultralytics layout) to a resolved layer table, with Ultralytics' size figures.
 * No libtorch here: yolo-ckpt summary uses this and must start in milliseconds. */
#include "yolo/modelcfg.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_LAYERS 512
#define MAX_ARGS 8
#define MAX_YAML_BYTES (1 << 20)

struct modelcfg {
    char *text; /* the YAML as read, for modelcfg_yaml_value */
    size_t text_len;
    char path[PATH_MAX];
    char display[256];
    char task[16];
    char scale;
    int nc;
    double depth, width, max_channels;
    int n_layers;
    modelcfg_layer layers[MAX_LAYERS];
};

/* ---- locating the file ---- */

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *modelcfg_models_dir(void) {
    static _Thread_local char dir[PATH_MAX];
    const char *env = getenv("YOLO_MODELS");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        /* build/bin/tool and build/tests/test both sit two levels below the source tree. */
        static const char *rel[] = {"../../cfg/models", "../share/yolo-tools/models", "../cfg/models"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            if (strlen(exe) + strlen(rel[i]) + 2 > sizeof dir) continue;
            strcpy(dir, exe);
            strcat(dir, "/");
            strcat(dir, rel[i]);
            if (is_dir(dir)) return dir;
        }
    }
    snprintf(dir, sizeof dir, "cfg/models");
    return dir;
}

char modelcfg_name_scale(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = 0;
    regex_t re;
    if (regcomp(&re, "yolo(e-)?v?[0-9]+([nslmx])", REG_EXTENDED)) return 0;
    regmatch_t m[3];
    char s = 0;
    if (regexec(&re, stem, 3, m, 0) == 0 && m[2].rm_so >= 0) s = stem[m[2].rm_so];
    regfree(&re);
    return s;
}

/* "yolov8n-seg.yaml" -> "yolov8-seg.yaml": drop the scale letter after the last run of digits
 * (Ultralytics' unified name), applied to the whole path string. */
static void unified_name(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", path);
    regex_t re;
    if (regcomp(&re, "([0-9]+)([nslmx])([^/]*)$", REG_EXTENDED)) return;
    regmatch_t m[4];
    if (regexec(&re, path, 4, m, 0) == 0) {
        size_t pre = (size_t)m[2].rm_so;
        snprintf(out, cap, "%.*s%s", (int)pre, path, path + m[2].rm_eo);
    }
    regfree(&re);
}

/* Tries name as given, then its base name in the shipped folder. */
static bool find_file(const char *name, char *out, size_t cap) {
    if (is_file(name)) {
        snprintf(out, cap, "%s", name);
        return true;
    }
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    snprintf(out, cap, "%s/%s", modelcfg_models_dir(), base);
    return is_file(out);
}

/* ---- YAML helpers ---- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int seq_len(yaml_node_t *n) {
    return n && n->type == YAML_SEQUENCE_NODE
               ? (int)(n->data.sequence.items.top - n->data.sequence.items.start)
               : -1;
}

static yaml_node_t *seq_at(yaml_document_t *doc, yaml_node_t *n, int i) {
    return yaml_document_get_node(doc, n->data.sequence.items.start[i]);
}

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool scalar_double(yaml_node_t *n, double *out) {
    const char *s = scalar(n);
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno) return false;
    *out = v;
    return true;
}

static bool scalar_int(yaml_node_t *n, long *out) {
    const char *s = scalar(n);
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

/* One argument of a layer row: a number, nc, a bool, None or a string. */
typedef struct {
    enum { ARG_NONE, ARG_NUM, ARG_BOOL, ARG_STR } kind;
    double num;
    bool b;
    char str[32];
} arg;

static void parse_arg(yaml_node_t *n, int nc, arg *a) {
    memset(a, 0, sizeof *a);
    const char *s = scalar(n);
    if (!s) {
        a->kind = ARG_STR;
        snprintf(a->str, sizeof a->str, "<non-scalar>");
        return;
    }
    bool quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                  n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    double v;
    if (!strcmp(s, "nc")) {
        a->kind = ARG_NUM;
        a->num = nc;
    } else if (!quoted && (!strcmp(s, "None") || !strcmp(s, "null") || !strcmp(s, "~") || !*s)) {
        a->kind = ARG_NONE;
    } else if (!quoted && (!strcmp(s, "True") || !strcmp(s, "true"))) {
        a->kind = ARG_BOOL;
        a->b = true;
    } else if (!quoted && (!strcmp(s, "False") || !strcmp(s, "false"))) {
        a->kind = ARG_BOOL;
    } else if (!quoted && scalar_double(n, &v)) {
        a->kind = ARG_NUM;
        a->num = v;
    } else {
        a->kind = ARG_STR;
        snprintf(a->str, sizeof a->str, "%s", s);
    }
}

#define MAX_CHANNELS 65536

/* Python's math.ceil(x / 8) * 8 on min(c, max_channels) * width; -1 beyond MAX_CHANNELS. */
static int scale_width(double c, const struct modelcfg *m) {
    double x = (c < m->max_channels ? c : m->max_channels) * m->width;
    x = ceil(x / 8) * 8;
    return x >= 1 && x <= MAX_CHANNELS ? (int)x : -1;
}

static bool arg_int(const arg *a, int *out) {
    if (a->kind == ARG_BOOL) {
        *out = a->b;
        return true;
    }
    if (a->kind != ARG_NUM || a->num != floor(a->num) || fabs(a->num) > 1e9) return false;
    *out = (int)a->num;
    return true;
}

/* ---- building the table ---- */

static yolo_status bad_row(const char *path, int i, const char *what) {
    return yolo_error(YOLO_ERR_FORMAT, "%s: layer %d: %s", path, i, what);
}

static yolo_status add_layer(struct modelcfg *m, yaml_document_t *doc, yaml_node_t *row, int i, int *ch) {
    const char *path = m->path;
    if (seq_len(row) != 4) return bad_row(path, i, "expected [from, repeats, module, args]");
    modelcfg_layer *L = &m->layers[i];
    memset(L, 0, sizeof *L);

    yaml_node_t *fn = seq_at(doc, row, 0);
    long f;
    if (scalar_int(fn, &f)) {
        L->n_from = 1;
        L->from[0] = (int)(f < 0 ? i + f : f);
    } else if (seq_len(fn) >= 1 && seq_len(fn) <= MODELCFG_MAX_FROM) {
        L->n_from = seq_len(fn);
        for (int k = 0; k < L->n_from; k++) {
            if (!scalar_int(seq_at(doc, fn, k), &f)) return bad_row(path, i, "'from' must be integers");
            L->from[k] = (int)(f < 0 ? i + f : f);
        }
    } else {
        return bad_row(path, i, "'from' must be an integer or a list of up to 8");
    }
    for (int k = 0; k < L->n_from; k++)
        if (L->from[k] >= i || L->from[k] < (i == 0 ? -1 : 0))
            return bad_row(path, i, "'from' refers to a layer that does not come before it");

    long n;
    if (!scalar_int(seq_at(doc, row, 1), &n) || n < 1 || n > 100)
        return bad_row(path, i, "repeats must be 1..100");
    if (n > 1) { /* Python's round (half to even) of n * depth, at least 1 */
        long r = (long)nearbyint(n * m->depth);
        n = r > 1 ? r : 1;
    }
    L->repeats = (int)n;

    const char *mod = scalar(seq_at(doc, row, 2));
    if (!mod) return bad_row(path, i, "module name must be a string");
    const char *short_mod = !strncmp(mod, "nn.", 3) ? mod + 3 : !strncmp(mod, "torch.nn.", 9) ? mod + 9 : mod;

    yaml_node_t *an = seq_at(doc, row, 3);
    int na = seq_len(an);
    if (na < 0 || na > MAX_ARGS) return bad_row(path, i, "args must be a list of up to 8 values");
    arg a[MAX_ARGS];
    for (int k = 0; k < na; k++)
        parse_arg(seq_at(doc, an, k), m->nc, &a[k]);

    int c1 = ch[L->from[0] + 1]; /* ch[0] is the input image's 3 channels */
    L->c1 = c1;
    int v;
    if (!strcmp(short_mod, "Conv") || !strcmp(short_mod, "C2f") || !strcmp(short_mod, "SPPF") ||
        !strcmp(short_mod, "Classify")) {
        if (L->n_from != 1) return bad_row(path, i, "this module takes one input");
        if (na < 1 || !arg_int(&a[0], &v) || v < 1)
            return bad_row(path, i, "first arg must be the output channels");
        /* Ultralytics leaves a width equal to nc unscaled (that is how Classify keeps nc). */
        L->c2 = v != m->nc ? scale_width(v, m) : v;
        if (L->c2 < 1 || L->c2 > MAX_CHANNELS)
            return bad_row(path, i, "output channels out of range (1..65536)");
        if (!strcmp(short_mod, "Conv")) {
            L->kind = MODELCFG_CONV;
            L->k = 1, L->s = 1;
            if (na > 1 && (!arg_int(&a[1], &L->k) || L->k < 1 || L->k > 15))
                return bad_row(path, i, "bad kernel");
            if (na > 2 && (!arg_int(&a[2], &L->s) || L->s < 1 || L->s > 8))
                return bad_row(path, i, "bad stride");
            if (na > 3) return bad_row(path, i, "Conv padding/groups/dilation args are not supported");
        } else if (!strcmp(short_mod, "C2f")) {
            L->kind = MODELCFG_C2F;
            if (na > 1 && (a[1].kind != ARG_BOOL && a[1].kind != ARG_NUM))
                return bad_row(path, i, "bad shortcut");
            L->shortcut = na > 1 && (a[1].kind == ARG_BOOL ? a[1].b : a[1].num != 0);
            if (na > 2) return bad_row(path, i, "C2f groups/expansion args are not supported");
        } else if (!strcmp(short_mod, "SPPF")) {
            L->kind = MODELCFG_SPPF;
            L->k = 5;
            if (na > 1 && (!arg_int(&a[1], &L->k) || L->k < 1 || L->k % 2 == 0 || L->k > 15))
                return bad_row(path, i, "bad SPPF kernel");
        } else {
            L->kind = MODELCFG_CLASSIFY;
            L->nc = L->c2;
            if (na > 1) return bad_row(path, i, "Classify kernel/stride args are not supported");
        }
        if (L->kind != MODELCFG_C2F && L->repeats != 1)
            return bad_row(path, i, "repeats > 1 is only supported for C2f");
    } else if (!strcmp(short_mod, "Upsample")) {
        L->kind = MODELCFG_UPSAMPLE;
        L->c2 = c1;
        L->scale = 2;
        if (na > 1 && (!arg_int(&a[1], &L->scale) || L->scale < 1 || L->scale > 8))
            return bad_row(path, i, "bad upsampling factor");
        if (na > 2 && (a[2].kind != ARG_STR || strcmp(a[2].str, "nearest")))
            return bad_row(path, i, "only nearest upsampling is supported");
        if (L->n_from != 1 || L->repeats != 1)
            return bad_row(path, i, "Upsample takes one input, no repeats");
    } else if (!strcmp(short_mod, "Concat")) {
        L->kind = MODELCFG_CONCAT;
        L->dim = 1;
        if (na > 0 && (!arg_int(&a[0], &L->dim) || L->dim != 1))
            return bad_row(path, i, "only Concat along dim 1");
        L->c2 = 0;
        for (int k = 0; k < L->n_from; k++)
            L->c2 += ch[L->from[k] + 1];
        if (L->c2 > MAX_CHANNELS) return bad_row(path, i, "concatenation wider than 65536 channels");
        if (L->repeats != 1) return bad_row(path, i, "Concat takes no repeats");
    } else if (!strcmp(short_mod, "Detect") || !strcmp(short_mod, "Segment")) {
        bool seg = !strcmp(short_mod, "Segment");
        L->kind = seg ? MODELCFG_SEGMENT : MODELCFG_DETECT;
        if (na < 1 || !arg_int(&a[0], &L->nc) || L->nc < 1) return bad_row(path, i, "first arg must be nc");
        L->nl = L->n_from;
        for (int k = 0; k < L->nl; k++)
            L->ch[k] = ch[L->from[k] + 1];
        int c0 = L->ch[0];
        L->c_box = c0 / 4 > 64 ? c0 / 4 : 64; /* max(16, c0 // 4, 4 * reg_max) */
        L->c_cls = c0 > (L->nc < 100 ? L->nc : 100) ? c0 : (L->nc < 100 ? L->nc : 100);
        if (seg) {
            L->nm = 32, L->npr = 256;
            if (na > 1 && (!arg_int(&a[1], &L->nm) || L->nm < 1)) return bad_row(path, i, "bad mask count");
            if (na > 2 && (!arg_int(&a[2], &L->npr) || L->npr < 1))
                return bad_row(path, i, "bad prototype width");
            L->npr = scale_width(L->npr, m);
            if (L->npr < 1 || L->nm > 1024) return bad_row(path, i, "mask or prototype width out of range");
            L->c_mask = c0 / 4 > L->nm ? c0 / 4 : L->nm;
        }
        L->c2 = c1;
        if (L->repeats != 1) return bad_row(path, i, "heads take no repeats");
    } else {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "unsupported module '%s' (Conv, C2f, SPPF, nn.Upsample, Concat, Detect, Segment, Classify)",
                 mod);
        return bad_row(path, i, msg);
    }
    ch[i + 1] = L->c2;
    return YOLO_OK;
}

static yolo_status parse_doc(struct modelcfg *m, yaml_document_t *doc, int nc_override) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return yolo_error(YOLO_ERR_FORMAT, "%s: not a YAML mapping", m->path);
    long nc = 80;
    yaml_node_t *ncn = map_get(doc, root, "nc");
    if (ncn && (!scalar_int(ncn, &nc) || nc < 1 || nc > 100000))
        return yolo_error(YOLO_ERR_FORMAT, "%s: nc must be a positive integer", m->path);
    m->nc = nc_override > 0 ? nc_override : (int)nc;

    yaml_node_t *scales = map_get(doc, root, "scales");
    m->depth = 1, m->width = 1, m->max_channels = INFINITY;
    if (scales && scales->type == YAML_MAPPING_NODE &&
        scales->data.mapping.pairs.top > scales->data.mapping.pairs.start) {
        char want = modelcfg_name_scale(m->display); /* display holds the name as given for now */
        yaml_node_pair_t *pick = NULL;
        for (yaml_node_pair_t *p = scales->data.mapping.pairs.start; p < scales->data.mapping.pairs.top;
             p++) {
            const char *k = scalar(yaml_document_get_node(doc, p->key));
            if (k && want && k[0] == want && !k[1]) pick = p;
        }
        /* Without a letter in the name Ultralytics takes the first scale listed. */
        if (!pick) pick = scales->data.mapping.pairs.start;
        const char *k = scalar(yaml_document_get_node(doc, pick->key));
        yaml_node_t *v = yaml_document_get_node(doc, pick->value);
        if (!k || seq_len(v) != 3 || !scalar_double(seq_at(doc, v, 0), &m->depth) ||
            !scalar_double(seq_at(doc, v, 1), &m->width) ||
            !scalar_double(seq_at(doc, v, 2), &m->max_channels) || !(m->depth > 0 && m->depth <= 16) ||
            !(m->width > 0 && m->width <= 16) || !(m->max_channels >= 1))
            return yolo_error(YOLO_ERR_FORMAT, "%s: scales entries must be [depth, width, max_channels]",
                              m->path);
        m->scale = k[0];
    } else {
        double d;
        if (scalar_double(map_get(doc, root, "depth_multiple"), &d)) m->depth = d;
        if (scalar_double(map_get(doc, root, "width_multiple"), &d)) m->width = d;
        if (!(m->depth > 0 && m->depth <= 16) || !(m->width > 0 && m->width <= 16))
            return yolo_error(YOLO_ERR_FORMAT, "%s: depth_multiple and width_multiple must be in (0, 16]",
                              m->path);
        m->scale = 0;
    }

    yaml_node_t *bb = map_get(doc, root, "backbone"), *hd = map_get(doc, root, "head");
    int nb = seq_len(bb), nh = hd ? seq_len(hd) : 0;
    if (nb < 1 || nh < 0)
        return yolo_error(YOLO_ERR_FORMAT, "%s: needs a 'backbone' list (and optionally 'head')", m->path);
    if (nb + nh > MAX_LAYERS)
        return yolo_error(YOLO_ERR_LIMIT, "%s: more than %d layers", m->path, MAX_LAYERS);
    int ch[MAX_LAYERS + 1];
    ch[0] = 3;
    for (int i = 0; i < nb + nh; i++) {
        yaml_node_t *row = i < nb ? seq_at(doc, bb, i) : seq_at(doc, hd, i - nb);
        yolo_status st = add_layer(m, doc, row, i, ch);
        if (st != YOLO_OK) return st;
        m->n_layers = i + 1;
        modelcfg_kind k = m->layers[i].kind;
        bool head = k == MODELCFG_DETECT || k == MODELCFG_SEGMENT || k == MODELCFG_CLASSIFY;
        if (head && i != nb + nh - 1) return bad_row(m->path, i, "a head must be the last layer");
        if (head && m->layers[i].nc != m->nc && k != MODELCFG_CLASSIFY)
            return bad_row(m->path, i, "head class count differs from nc");
    }
    /* Sizes at 640 must stay sane (a chain of upsamplings could overflow any counter). */
    int64_t hw[MAX_LAYERS + 1];
    hw[0] = 640;
    for (int i = 0; i < m->n_layers; i++) {
        const modelcfg_layer *L = &m->layers[i];
        int64_t h = hw[L->from[0] + 1];
        if (L->kind == MODELCFG_CONV)
            h = (h + 2 * (L->k / 2) - L->k) / L->s + 1;
        else if (L->kind == MODELCFG_UPSAMPLE)
            h *= L->scale;
        if (h > 65536) return bad_row(m->path, i, "feature maps grow beyond 65536 pixels at imgsz 640");
        hw[i + 1] = h;
    }
    modelcfg_kind last = m->layers[m->n_layers - 1].kind;
    const char *task = last == MODELCFG_DETECT     ? "detect"
                       : last == MODELCFG_SEGMENT  ? "segment"
                       : last == MODELCFG_CLASSIFY ? "classify"
                                                   : NULL;
    if (!task)
        return yolo_error(YOLO_ERR_FORMAT, "%s: the last layer must be Detect, Segment or Classify", m->path);
    snprintf(m->task, sizeof m->task, "%s", task);
    return YOLO_OK;
}

/* Parses YAML text into m; m->path (for messages) and m->display (the name given) are set. */
static yolo_status parse_text(struct modelcfg *m, const unsigned char *text, size_t len, int nc_override) {
    if (len > MAX_YAML_BYTES) return yolo_error(YOLO_ERR_LIMIT, "%s: model YAML larger than 1 MiB", m->path);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", m->path);
    yaml_parser_set_input_string(&parser, text, len);
    yolo_status st;
    if (!yaml_parser_load(&parser, &doc)) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s:%zu: %s", m->path, parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "YAML syntax error");
    } else {
        st = parse_doc(m, &doc, nc_override);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (st != YOLO_OK) return st;
    /* Ultralytics prints the stem of the name it was given, with "yolo" capitalised. */
    char name[sizeof m->display];
    snprintf(name, sizeof name, "%s", m->display);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    size_t o = 0;
    for (const char *p = stem; *p && o + 1 < sizeof m->display;) {
        if (!strncmp(p, "yolo", 4) && o + 5 < sizeof m->display) {
            memcpy(m->display + o, "YOLO", 4);
            o += 4, p += 4;
        } else {
            m->display[o++] = *p++;
        }
    }
    m->display[o] = 0;
    return YOLO_OK;
}

yolo_status modelcfg_load_text(const void *text, size_t len, const char *name, int nc_override,
                               modelcfg **out) {
    *out = NULL;
    if (!name || !*name) name = "model.yaml";
    struct modelcfg *m = calloc(1, sizeof *m);
    if (!m) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", name);
    snprintf(m->path, sizeof m->path, "%s", name);
    snprintf(m->display, sizeof m->display, "%s", name);
    yolo_status st = parse_text(m, text, len, nc_override);
    if (st == YOLO_OK && !(m->text = malloc(len + 1)))
        st = yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", name);
    if (st != YOLO_OK) {
        free(m);
        return st;
    }
    memcpy(m->text, text, len);
    m->text[len] = 0;
    m->text_len = len;
    *out = m;
    return YOLO_OK;
}

yolo_status modelcfg_load(const char *name_or_path, int nc_override, modelcfg **out) {
    *out = NULL;
    if (!name_or_path || !*name_or_path) return yolo_error(YOLO_ERR_USAGE, "model: empty model name");
    struct modelcfg *m = calloc(1, sizeof *m);
    if (!m) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", name_or_path);
    char unified[PATH_MAX];
    unified_name(name_or_path, unified, sizeof unified);
    if (!find_file(unified, m->path, sizeof m->path) && !find_file(name_or_path, m->path, sizeof m->path)) {
        free(m);
        return yolo_error(YOLO_ERR_NOTFOUND,
                          "%s: no such model YAML (looked here and in %s; shipped: yolov8{n,s,m,l,x}.yaml, "
                          "yolov8*-seg.yaml, yolov8*-cls.yaml)",
                          name_or_path, modelcfg_models_dir());
    }
    snprintf(m->display, sizeof m->display, "%s", name_or_path);
    FILE *f = fopen(m->path, "rb");
    if (!f) {
        yolo_status st = yolo_error(YOLO_ERR_IO, "%s: %s", m->path, strerror(errno));
        free(m);
        return st;
    }
    unsigned char *buf = malloc(MAX_YAML_BYTES + 1);
    size_t len = buf ? fread(buf, 1, MAX_YAML_BYTES + 1, f) : 0;
    bool read_err = ferror(f);
    fclose(f);
    yolo_status st;
    if (!buf)
        st = yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", m->path);
    else if (read_err)
        st = yolo_error(YOLO_ERR_IO, "%s: read error", m->path);
    else
        st = parse_text(m, buf, len, nc_override);
    if (st != YOLO_OK) {
        free(buf);
        free(m);
        return st;
    }
    buf[len] = 0;
    m->text = (char *)buf;
    m->text_len = len;
    *out = m;
    return YOLO_OK;
}

void modelcfg_free(modelcfg *cfg) {
    if (cfg) free(cfg->text);
    free(cfg);
}

const char *modelcfg_task(const modelcfg *cfg) {
    return cfg->task;
}
char modelcfg_scale(const modelcfg *cfg) {
    return cfg->scale;
}
int modelcfg_nc(const modelcfg *cfg) {
    return cfg->nc;
}
int modelcfg_layer_count(const modelcfg *cfg) {
    return cfg->n_layers;
}
const modelcfg_layer *modelcfg_layer_at(const modelcfg *cfg, int i) {
    return i >= 0 && i < cfg->n_layers ? &cfg->layers[i] : NULL;
}
const char *modelcfg_path(const modelcfg *cfg) {
    return cfg->path;
}
const char *modelcfg_display_name(const modelcfg *cfg) {
    return cfg->display;
}

/* ---- counting: parameters, leaf modules and thop-style FLOPs ---- */

typedef struct {
    int64_t params, frozen;
    int leaves;
    bool has_act; /* Conv's SiLU is one module shared by every Conv: it counts once */
    double ops;   /* thop multiply-accumulates at the probe size */
} tally;

/* Conv = Conv2d (no bias) + BN + SiLU on an h x w output. */
static void t_conv(tally *t, int c1, int c2, int k, int oh, int ow) {
    t->params += (int64_t)c1 * c2 * k * k + 2 * (int64_t)c2;
    t->leaves += 2;
    t->has_act = true;
    double out = (double)c2 * oh * ow;
    t->ops += out * c1 * k * k + 4 * out; /* thop: conv ignores bias; affine BN is 4 per element */
}

/* Plain Conv2d with bias (head output layers). */
static void t_conv2d(tally *t, int c1, int c2, int k, int oh, int ow) {
    t->params += (int64_t)c1 * c2 * k * k + c2;
    t->leaves += 1;
    t->ops += (double)c2 * oh * ow * c1 * k * k;
}

static int conv_out(int h, int k, int s) {
    return (h + 2 * (k / 2) - k) / s + 1;
}

static void count_all(const struct modelcfg *m, int probe, tally *t) {
    memset(t, 0, sizeof *t);
    int hw[MAX_LAYERS + 1][2];
    hw[0][0] = hw[0][1] = probe;
    for (int i = 0; i < m->n_layers; i++) {
        const modelcfg_layer *L = &m->layers[i];
        int ih = hw[L->from[0] + 1][0], iw = hw[L->from[0] + 1][1];
        int oh = ih, ow = iw;
        switch (L->kind) {
        case MODELCFG_CONV:
            oh = conv_out(ih, L->k, L->s), ow = conv_out(iw, L->k, L->s);
            t_conv(t, L->c1, L->c2, L->k, oh, ow);
            break;
        case MODELCFG_C2F: {
            int c = L->c2 / 2;
            t_conv(t, L->c1, 2 * c, 1, oh, ow);
            for (int r = 0; r < L->repeats; r++) {
                t_conv(t, c, c, 3, oh, ow);
                t_conv(t, c, c, 3, oh, ow);
            }
            t_conv(t, (2 + L->repeats) * c, L->c2, 1, oh, ow);
            break;
        }
        case MODELCFG_SPPF: {
            int c = L->c1 / 2;
            t_conv(t, L->c1, c, 1, oh, ow);
            t_conv(t, 4 * c, L->c2, 1, oh, ow);
            /* the max pool (no thop count), and in 8.4.52 the Identity that replaces cv1's activation */
            t->leaves += 2;
            break;
        }
        case MODELCFG_UPSAMPLE:
            oh = ih * L->scale, ow = iw * L->scale;
            t->leaves += 1;
            t->ops += (double)L->c2 * oh * ow; /* thop: one op per output element for nearest */
            break;
        case MODELCFG_CONCAT:
            t->leaves += 1;
            break;
        case MODELCFG_DETECT:
        case MODELCFG_SEGMENT:
            for (int l = 0; l < L->nl; l++) {
                int lh = hw[L->from[l] + 1][0], lw = hw[L->from[l] + 1][1];
                t_conv(t, L->ch[l], L->c_box, 3, lh, lw);
                t_conv(t, L->c_box, L->c_box, 3, lh, lw);
                t_conv2d(t, L->c_box, 64, 1, lh, lw);
            }
            for (int l = 0; l < L->nl; l++) {
                int lh = hw[L->from[l] + 1][0], lw = hw[L->from[l] + 1][1];
                t_conv(t, L->ch[l], L->c_cls, 3, lh, lw);
                t_conv(t, L->c_cls, L->c_cls, 3, lh, lw);
                t_conv2d(t, L->c_cls, L->nc, 1, lh, lw);
            }
            /* DFL: 16 frozen weights; the summary probe runs the head in train mode, so no FLOPs. */
            t->params += 16, t->frozen += 16, t->leaves += 1;
            if (L->kind == MODELCFG_SEGMENT) {
                int ph = hw[L->from[0] + 1][0], pw = hw[L->from[0] + 1][1];
                t_conv(t, L->ch[0], L->npr, 3, ph, pw);
                /* ConvTranspose2d(npr, npr, 2, 2) with bias, counted per output element */
                t->params += (int64_t)L->npr * L->npr * 4 + L->npr;
                t->leaves += 1;
                t->ops += (double)L->npr * (2 * ph) * (2 * pw) * L->npr * 4;
                t_conv(t, L->npr, L->npr, 3, 2 * ph, 2 * pw);
                t_conv(t, L->npr, L->nm, 1, 2 * ph, 2 * pw);
                for (int l = 0; l < L->nl; l++) {
                    int lh = hw[L->from[l] + 1][0], lw = hw[L->from[l] + 1][1];
                    t_conv(t, L->ch[l], L->c_mask, 3, lh, lw);
                    t_conv(t, L->c_mask, L->c_mask, 3, lh, lw);
                    t_conv2d(t, L->c_mask, L->nm, 1, lh, lw);
                }
            }
            break;
        case MODELCFG_CLASSIFY:
            t_conv(t, L->c1, 1280, 1, oh, ow);
            /* adaptive average pool to 1x1: (h*w adds + 1 divide) per output */
            t->ops += (double)1280 * ((double)oh * ow + 1);
            t->params += (int64_t)1280 * L->nc + L->nc; /* Linear */
            t->ops += (double)1280 * L->nc;
            t->leaves += 3; /* pool, dropout, linear */
            oh = ow = 1;
            break;
        }
        hw[i + 1][0] = oh, hw[i + 1][1] = ow;
    }
    if (t->has_act) t->leaves += 1;
}

int modelcfg_leaf_layers(const modelcfg *cfg) {
    tally t;
    count_all(cfg, 32, &t);
    return t.leaves;
}

int64_t modelcfg_param_count(const modelcfg *cfg) {
    tally t;
    count_all(cfg, 32, &t);
    return t.params;
}

int64_t modelcfg_gradient_count(const modelcfg *cfg) {
    tally t;
    count_all(cfg, 32, &t);
    return t.params - t.frozen;
}

/* Ultralytics probes at max(model stride, 32) and scales to 640 x 640; every v8 model here has stride 32. */
double modelcfg_gflops(const modelcfg *cfg) {
    tally t;
    const int probe = 32;
    count_all(cfg, probe, &t);
    double flops = t.ops / 1e9 * 2;
    return flops * 640 / probe * 640 / probe;
}

static void thousands(int64_t v, char *buf, size_t cap) {
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0 && raw[0] != '-') buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = 0;
}

yolo_status modelcfg_summary_line(const modelcfg *cfg, char *buf, size_t cap) {
    tally t;
    count_all(cfg, 32, &t);
    char p[32], g[32];
    thousands(t.params, p, sizeof p);
    thousands(t.params - t.frozen, g, sizeof g);
    int n = snprintf(buf, cap, "%s summary: %d layers, %s parameters, %s gradients, %.1f GFLOPs",
                     cfg->display, t.leaves, p, g, modelcfg_gflops(cfg));
    if (n < 0 || (size_t)n >= cap)
        return yolo_error(YOLO_ERR_LIMIT, "summary line longer than %zu bytes", cap);
    return YOLO_OK;
}

/* ---- the YAML as Ultralytics reads it ---- */

#define TRY(x)                                                                                               \
    do {                                                                                                     \
        yolo_status try_st_ = (x);                                                                           \
        if (try_st_ != YOLO_OK) return try_st_;                                                              \
    } while (0)

/* PyYAML's YAML 1.1 resolvers for plain scalars (quoted scalars are always strings). */
static const char *const RE_BOOL =
    "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$";
static const char *const RE_INT = "^([-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|"
                                  "[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$";
static const char *const RE_FLOAT =
    "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9_]+([eE][-+][0-9]+)?|"
    "[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$";

static bool matches(const char *re, const char *s) {
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB)) return false;
    bool m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

/* s without underscores and sign; *neg receives the sign. */
static void digits_only(const char *s, char *out, size_t cap, bool *neg) {
    *neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    size_t o = 0;
    for (; *s && o + 1 < cap; s++)
        if (*s != '_') out[o++] = *s;
    out[o] = 0;
}

/* Base-60 "1:30" (int part) -> 90, as PyYAML reads it; the fraction after the last colon is left in *rest. */
static double sexagesimal(const char *d, const char **rest) {
    double v = 0;
    for (const char *p = d;;) {
        char *end;
        double part = strtod(p, &end);
        v = v * 60 + part;
        if (*end != ':') {
            *rest = end;
            return v;
        }
        p = end + 1;
    }
}

static yv *yaml_int(yv_doc *doc, const char *s) {
    char d[128];
    bool neg;
    digits_only(s, d, sizeof d, &neg);
    int64_t v = 0;
    if (strchr(d, ':')) {
        const char *rest;
        v = (int64_t)sexagesimal(d, &rest);
    } else {
        int base = !strncmp(d, "0b", 2) ? 2 : !strncmp(d, "0x", 2) ? 16 : d[0] == '0' && d[1] ? 8 : 10;
        const char *p = base == 2 || base == 16 ? d + 2 : d;
        char *end;
        errno = 0;
        unsigned long long u = strtoull(p, &end, base);
        /* Python's ints have no limit; past 64 bits the text stays a string. */
        if (errno || *end || u > (unsigned long long)INT64_MAX) return yv_new_str(doc, s);
        v = (int64_t)u;
    }
    return yv_new_int(doc, neg ? -v : v);
}

static yv *yaml_float(yv_doc *doc, const char *s) {
    char d[128];
    bool neg;
    digits_only(s, d, sizeof d, &neg);
    double v;
    if (!strcasecmp(d, ".inf"))
        v = INFINITY;
    else if (!strcasecmp(d, ".nan"))
        v = NAN;
    else if (strchr(d, ':')) {
        const char *rest;
        v = sexagesimal(d, &rest);
        v += strtod(rest, NULL);
    } else
        v = strtod(d, NULL);
    return yv_new_float(doc, neg ? -v : v);
}

static yv *yaml_scalar_value(yv_doc *doc, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return yv_new_str(doc, s);
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return yv_new_none(doc);
    if (matches(RE_BOOL, s)) return yv_new_bool(doc, strchr("yYtToO", s[0]) && strcasecmp(s, "off"));
    if (matches(RE_INT, s)) return yaml_int(doc, s);
    if (matches(RE_FLOAT, s)) return yaml_float(doc, s);
    return yv_new_str(doc, s);
}

static yolo_status yaml_node_value(const modelcfg *cfg, yv_doc *doc, yaml_document_t *d, yaml_node_t *n,
                                   int depth, yv **out) {
    if (depth > 64) return yolo_error(YOLO_ERR_LIMIT, "%s: YAML nested more than 64 deep", cfg->path);
    yv *v = NULL;
    if (!n)
        v = yv_new_none(doc);
    else if (n->type == YAML_SCALAR_NODE)
        v = yaml_scalar_value(doc, n);
    else if (n->type == YAML_SEQUENCE_NODE) {
        if (!(v = yv_new_list(doc))) return yolo_nomem();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yv *c;
            TRY(yaml_node_value(cfg, doc, d, yaml_document_get_node(d, *it), depth + 1, &c));
            TRY(yv_seq_push(doc, v, c));
        }
    } else {
        if (!(v = yv_new_dict(doc))) return yolo_nomem();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yv *k, *c;
            TRY(yaml_node_value(cfg, doc, d, yaml_document_get_node(d, p->key), depth + 1, &k));
            TRY(yaml_node_value(cfg, doc, d, yaml_document_get_node(d, p->value), depth + 1, &c));
            TRY(yv_dict_put(doc, v, k, c));
        }
    }
    if (!v) return yolo_nomem();
    *out = v;
    return YOLO_OK;
}

yolo_status modelcfg_load_stored(const yv *yaml, int nc_override, modelcfg **out) {
    *out = NULL;
    const char *name = yv_as_str(yv_dict_get(yaml, "yaml_file"));
    const yv *text = yv_dict_get(yaml, "text");
    if (text && text->kind == YV_STR)
        return modelcfg_load_text(text->str.s, text->str.len, name, nc_override, out);
    if (!name) return yolo_error(YOLO_ERR_FORMAT, "the checkpoint does not name its model YAML");
    return modelcfg_load(name, nc_override, out);
}

const char *modelcfg_text(const modelcfg *cfg) {
    return cfg->text;
}

yolo_status modelcfg_yaml_value(const modelcfg *cfg, yv_doc *doc, yv **out) {
    yaml_parser_t parser;
    yaml_document_t d;
    if (!yaml_parser_initialize(&parser)) return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", cfg->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)cfg->text, cfg->text_len);
    yolo_status st;
    if (!yaml_parser_load(&parser, &d)) {
        st =
            yolo_error(YOLO_ERR_FORMAT, "%s: YAML syntax error", cfg->path); /* parse_text accepted it once */
    } else {
        st = yaml_node_value(cfg, doc, &d, yaml_document_get_root_node(&d), 0, out);
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&parser);
    return st;
}
