/* train_args: Ultralytics' args.yaml read into values, the defaults filled in, and the settings the
 * engine reads from them (with this process' batch, device and threads). */
#include "train_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "yolo/args.h"
#include "yolo/ckptfmt.h"

/* Fills the arguments this engine reads with Ultralytics' defaults where args.yaml lacks them, so that
 * the checkpoint states every value the run used. */
yolo_status train_args_defaults(yv_doc *doc, yv *args) {
    /* device: None (Ultralytics' "pick one") means the CPU here */
    const yv *dev = yv_dict_get(args, "device");
    if (!dev || dev->kind == YV_NONE) {
        yolo_status st = yv_dict_set_new(doc, args, "device", yv_new_str(doc, "cpu"));
        if (st != YOLO_OK) return st;
    }
    return args_fill_defaults(doc, args);
}

/* Reads the settings the engine uses from train_args, checking them. */
/* A numeric setting of args, or the table's default. */
static double setting(const yv *args, const char *key) {
    return yv_get_num(args, key, args_default_num(key));
}

yolo_status train_load_settings(trainer *t) {
    yv *a = t->args;
    /* every value of the table's keys as the table allows it (a hand-edited args.yaml or train_args) */
    size_t n;
    const arg_spec *tab = args_table(&n);
    for (size_t i = 0; i < n; i++) {
        const yv *v = yv_dict_get(a, tab[i].key);
        yolo_status st = v ? args_check_value(&tab[i], v) : YOLO_OK;
        if (st != YOLO_OK) return yolo_error_prefix(st, "train_args");
    }
    int64_t v;
    t->epochs = yv_get_int(a, "epochs", &v) ? (int)v : (int)args_default_num("epochs");
    t->batch = yv_get_int(a, "batch", &v) ? (int)v : (int)args_default_num("batch");
    /* Ultralytics' check_imgsz: up to a multiple of the largest stride (yolo says so when it does) */
    v = yv_get_int(a, "imgsz", &v) ? v : (int64_t)args_default_num("imgsz");
    t->imgsz = (int)((v + 31) / 32 * 32);
    t->nbs = yv_get_int(a, "nbs", &v) ? (int)v : (int)args_default_num("nbs");
    t->patience = yv_get_int(a, "patience", &v) ? (int)v : (int)args_default_num("patience");
    t->save_period = yv_get_int(a, "save_period", &v) ? (int)v : (int)args_default_num("save_period");
    t->close_mosaic = yv_get_int(a, "close_mosaic", &v) ? (int)v : (int)args_default_num("close_mosaic");
    t->seed = yv_get_int(a, "seed", &v) ? (uint64_t)v : 0;
    t->val = yv_is_truthy(yv_dict_get(a, "val"));
    t->rect = yv_is_truthy(yv_dict_get(a, "rect"));
    t->box = setting(a, "box"), t->cls = setting(a, "cls"), t->dfl = setting(a, "dfl");
    sched_cfg_default(&t->sc, t->epochs, t->batch);
    t->sc.lrf = setting(a, "lrf");
    t->sc.cos_lr = yv_is_truthy(yv_dict_get(a, "cos_lr"));
    t->sc.momentum = setting(a, "momentum");
    t->sc.warmup_epochs = setting(a, "warmup_epochs");
    t->sc.warmup_momentum = setting(a, "warmup_momentum");
    t->sc.warmup_bias_lr = setting(a, "warmup_bias_lr");
    t->sc.nbs = t->nbs;
    const char *opt = yv_get_str(a, "optimizer");
    if (opt && !strcasecmp(opt, "auto")) t->sc.warmup_bias_lr = 0.0;
    const char *data = yv_get_str(a, "data");
    if (!data) return yolo_error(YOLO_ERR_USAGE, "train_args has no data= (the dataset)");
    /* as given; a resume finds it again (rundata.h) */
    snprintf(t->data, sizeof t->data, "%s", data);
    return YOLO_OK;
}

yolo_status train_set_data(trainer *t, const char *data, const dataset *ds) {
    char *abs = realpath(data, NULL);
    snprintf(t->data, sizeof t->data, "%s", abs ? abs : data);
    free(abs);
    const char *root = dataset_yaml_root(ds);
    char *rabs = root ? realpath(root, NULL) : NULL;
    snprintf(t->data_root, sizeof t->data_root, "%s", rabs ? rabs : "");
    free(rabs);
    return yv_dict_set_new(t->doc, t->args, "data", yv_new_str(t->doc, t->data));
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
