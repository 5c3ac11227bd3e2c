/* train_args: Ultralytics' args.yaml read into values, the defaults filled in, and the settings the
 * engine reads from them (with this process' batch, device and threads). */
#include "train_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "yolo/ckptfmt.h"

static yv *yaml_scalar(yv_doc *doc, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
        n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
        return yv_new_str(doc, s);
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return yv_new_none(doc);
    return ckptfmt_parse_value(doc, s);
}

static yv *yaml_value(yv_doc *doc, yaml_document_t *d, yaml_node_t *n, int depth) {
    if (!n || depth > 16) return yv_new_none(doc);
    if (n->type == YAML_SCALAR_NODE) return yaml_scalar(doc, n);
    if (n->type == YAML_SEQUENCE_NODE) {
        yv *l = yv_new_list(doc);
        for (yaml_node_item_t *it = n->data.sequence.items.start; l && it < n->data.sequence.items.top;
             it++) {
            yv *c = yaml_value(doc, d, yaml_document_get_node(d, *it), depth + 1);
            if (!c || yv_seq_push(doc, l, c) != YOLO_OK) return NULL;
        }
        return l;
    }
    yv *m = yv_new_dict(doc);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; m && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) continue;
        yv *c = yaml_value(doc, d, yaml_document_get_node(d, p->value), depth + 1);
        if (!c || yv_dict_set(doc, m, (const char *)k->data.scalar.value, c) != YOLO_OK) return NULL;
    }
    return m;
}

yolo_status train_args_read_yaml(yv_doc *doc, const char *path, yv **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return yolo_error(YOLO_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    yolo_status st = YOLO_OK;
    if (!yaml_parser_load(&p, &d)) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s:%zu: not valid YAML (%s)", path, p.problem_mark.line + 1,
                        p.problem ? p.problem : "parse error");
        yaml_parser_delete(&p);
        fclose(f);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not a mapping of training arguments (key: value lines)", path);
    } else {
        *out = yaml_value(doc, &d, root, 0);
        if (!*out) st = yolo_nomem();
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return st;
}

/* Fills the arguments this engine reads with Ultralytics' defaults where args.yaml lacks them, so that
 * the checkpoint states every value the run used. */
yolo_status train_args_defaults(yv_doc *doc, yv *args) {
    static const struct {
        const char *k;
        const char *v;
    } defs[] = {{"task", "detect"},
                {"epochs", "100"},
                {"patience", "100"},
                {"batch", "16"},
                {"imgsz", "640"},
                {"save_period", "-1"},
                {"seed", "0"},
                {"optimizer", "auto"},
                {"lr0", "0.01"},
                {"lrf", "0.01"},
                {"momentum", "0.937"},
                {"weight_decay", "0.0005"},
                {"warmup_epochs", "3.0"},
                {"warmup_momentum", "0.8"},
                {"warmup_bias_lr", "0.1"},
                {"box", "7.5"},
                {"cls", "0.5"},
                {"dfl", "1.5"},
                {"nbs", "64"},
                {"cos_lr", "false"},
                {"close_mosaic", "10"},
                {"val", "true"},
                {"overlap_mask", "true"},
                {"mask_ratio", "4"},
                {"dropout", "0.0"},
                {"device", "cpu"}};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        const yv *v = yv_dict_get(args, defs[i].k);
        /* an explicit None is kept, except device: None (Ultralytics' "pick one") means the CPU here */
        if (v && (v->kind != YV_NONE || strcmp(defs[i].k, "device"))) continue;
        yolo_status st = yv_dict_set_new(doc, args, defs[i].k, ckptfmt_parse_value(doc, defs[i].v));
        if (st != YOLO_OK) return st;
    }
    return YOLO_OK;
}

/* Reads the settings the engine uses from train_args, checking them. */
yolo_status train_load_settings(trainer *t) {
    yv *a = t->args;
    int64_t v;
    if (!yv_get_int(a, "epochs", &v) || v < 1 || v > 1000000)
        return yolo_error(YOLO_ERR_USAGE, "epochs must be a positive integer");
    t->epochs = (int)v;
    if (!yv_get_int(a, "batch", &v) || v < 1 || v > 65536)
        return yolo_error(YOLO_ERR_USAGE,
                          "batch must be a positive integer (AutoBatch, batch=-1, is not supported)");
    t->batch = (int)v;
    if (!yv_get_int(a, "imgsz", &v) || v < 32 || v > 8192)
        return yolo_error(YOLO_ERR_USAGE, "imgsz must be an integer >= 32");
    t->imgsz = (int)((v + 31) / 32 * 32);
    if (!yv_get_int(a, "nbs", &v) || v < 1)
        return yolo_error(YOLO_ERR_USAGE, "nbs must be a positive integer");
    t->nbs = (int)v;
    t->patience = yv_get_int(a, "patience", &v) ? (int)v : 100;
    t->save_period = yv_get_int(a, "save_period", &v) ? (int)v : -1;
    t->close_mosaic = yv_get_int(a, "close_mosaic", &v) ? (int)v : 10;
    t->seed = yv_get_int(a, "seed", &v) ? (uint64_t)v : 0;
    t->val = yv_is_truthy(yv_dict_get(a, "val"));
    t->box = yv_get_num(a, "box", 7.5), t->cls = yv_get_num(a, "cls", 0.5),
    t->dfl = yv_get_num(a, "dfl", 1.5);
    sched_cfg_default(&t->sc, t->epochs, t->batch);
    t->sc.lrf = yv_get_num(a, "lrf", 0.01);
    t->sc.cos_lr = yv_is_truthy(yv_dict_get(a, "cos_lr"));
    t->sc.momentum = yv_get_num(a, "momentum", 0.937);
    t->sc.warmup_epochs = yv_get_num(a, "warmup_epochs", 3.0);
    t->sc.warmup_momentum = yv_get_num(a, "warmup_momentum", 0.8);
    t->sc.warmup_bias_lr = yv_get_num(a, "warmup_bias_lr", 0.1);
    t->sc.nbs = t->nbs;
    const char *opt = yv_get_str(a, "optimizer");
    if (opt && !strcasecmp(opt, "auto")) t->sc.warmup_bias_lr = 0.0;
    const char *data = yv_get_str(a, "data");
    if (!data) return yolo_error(YOLO_ERR_USAGE, "train_args has no data= (the dataset)");
    /* a run folder that moved keeps working: a relative dataset path is also tried from the run folder */
    struct stat sb;
    if (data[0] != '/' && stat(data, &sb) != 0 && t->run_dir[0]) {
        char alt[sizeof t->data];
        if (snprintf(alt, sizeof alt, "%s/%s", t->run_dir, data) < (int)sizeof alt && stat(alt, &sb) == 0)
            memcpy(t->data, alt, sizeof alt);
        else
            snprintf(t->data, sizeof t->data, "%s", data);
    } else {
        snprintf(t->data, sizeof t->data, "%s", data);
    }
    return YOLO_OK;
}

int train_all_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

yolo_status train_apply_process_opts(trainer *t) {
    yolo_status st;
    if (t->o.batch > 0) {
        t->batch = t->o.batch;
        t->sc.batch = t->batch;
        if ((st = yv_dict_set_new(t->doc, t->args, "batch", yv_new_int(t->doc, t->batch)))) return st;
    }
    if (t->o.device && (st = yv_dict_set_new(t->doc, t->args, "device", yv_new_str(t->doc, t->o.device))))
        return st;
    if (t->o.threads > 0) t->threads = t->o.threads;
    if (t->threads <= 0) t->threads = train_all_cores();
    if ((st = torch_set_threads(t->threads)) != YOLO_OK) return st;
    const char *dev = yv_get_str(t->args, "device");
    t->dev = TORCH_CPU;
    if (dev && *dev && (st = torch_device_parse(dev, &t->dev)) != YOLO_OK) return st;
    return YOLO_OK;
}
