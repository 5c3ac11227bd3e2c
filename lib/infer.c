#include "yolo/infer.h"

#include <stdlib.h>
#include <string.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/model.h"
#include "yolo/modelcfg.h"
#include "yolo/torch.h"

struct infer {
    yv_doc *doc;
    yv *root; /* our layout (Ultralytics' files imported) */
    const char *task;
    int nc, train_imgsz;
    const char **names;
    torch_device dev;
    model *net;
};

/* Class names of a checkpoint (dict int -> str) into an array of nc borrowed strings. */
static yolo_status ckpt_names(const yv *names, int nc, const char ***out) {
    *out = NULL;
    if (!names || names->kind != YV_DICT)
        return yolo_error(YOLO_ERR_FORMAT, "no class names in the checkpoint");
    const char **v = calloc(nc ? nc : 1, sizeof *v);
    if (!v) return yolo_nomem();
    for (size_t k = 0; k < names->dict.n; k++) {
        int64_t id;
        const char *s = yv_as_str(names->dict.vals[k]);
        if (yv_as_int(names->dict.keys[k], &id) && id >= 0 && id < nc && s) v[id] = s;
    }
    for (int c = 0; c < nc; c++)
        if (!v[c]) {
            free(v);
            return yolo_error(YOLO_ERR_FORMAT, "the checkpoint has no name for class %d", c);
        }
    *out = v;
    return YOLO_OK;
}

static yolo_status load(infer *m, const char *path) {
    yolo_status st = ckpt_read(path, NULL, &m->doc, &m->root);
    if (st != YOLO_OK) return st;
    ckptfmt_kind_t kind = ckptfmt_kind(m->root);
    yv *ours = m->root;
    if (kind == CKPTFMT_ULTRA_TRAINING || kind == CKPTFMT_ULTRA_STRIPPED) {
        if ((st = ckptfmt_import(m->doc, m->root, path, &ours)) != YOLO_OK)
            return yolo_error_prefix(st, path);
    } else if (kind != CKPTFMT_OURS_TRAINING && kind != CKPTFMT_OURS_STRIPPED) {
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: %s, not a model checkpoint (give last.pt, best.pt or an Ultralytics .pt)",
                          path, ckptfmt_kind_describe(kind));
    }
    m->root = ours;
    m->task = yv_as_str(yv_dict_get(ours, CKPTFMT_KEY_TASK));
    if (!m->task) return yolo_error(YOLO_ERR_FORMAT, "%s: no task in the checkpoint", path);
    if (strcmp(m->task, "detect") && strcmp(m->task, "segment") && strcmp(m->task, "classify"))
        return yolo_error(YOLO_ERR_FORMAT, "%s: unknown task '%s' in the checkpoint", path, m->task);
    int64_t nc = 0, imgsz = 0;
    if (!yv_as_int(yv_dict_get(ours, CKPTFMT_KEY_NC), &nc) || nc < 1 || nc > 100000)
        return yolo_error(YOLO_ERR_FORMAT, "%s: no class count in the checkpoint", path);
    m->nc = (int)nc;
    if (yv_as_int(yv_path(ours, "train_args.imgsz"), &imgsz) && imgsz >= 32 && imgsz <= 8192)
        m->train_imgsz = (int)imgsz;
    if ((st = ckpt_names(yv_dict_get(ours, CKPTFMT_KEY_NAMES), m->nc, &m->names)) != YOLO_OK)
        return yolo_error_prefix(st, path);
    const yv *yaml = yv_dict_get(ours, CKPTFMT_KEY_YAML);
    const char *yaml_file = yv_as_str(yv_dict_get(yaml, "yaml_file"));
    if (!yaml_file)
        return yolo_error(YOLO_ERR_FORMAT, "%s: the checkpoint does not name its model YAML", path);
    modelcfg *cfg = NULL;
    if ((st = modelcfg_load_stored(yaml, m->nc, &cfg)) != YOLO_OK) return yolo_error_prefix(st, path);
    /* no random initialisation: every weight is loaded next */
    st = model_build_blank(cfg, m->dev, &m->net);
    modelcfg_free(cfg);
    if (st != YOLO_OK) return st;
    const char *which = NULL;
    const yv *sd = ckptfmt_weights(m->doc, ours, &which);
    if (!sd) return yolo_error(YOLO_ERR_FORMAT, "%s: the checkpoint holds no weights", path);
    int got = 0;
    if ((st = model_load_state_dict(m->net, sd, &got, NULL, 0)) != YOLO_OK)
        return yolo_error_prefix(st, path);
    if (got != model_param_count(m->net))
        return yolo_error(YOLO_ERR_FORMAT, "%s: only %d of %d weights fit a %s model with %d classes", path,
                          got, model_param_count(m->net), yaml_file, m->nc);
    model_set_training(m->net, false);
    return YOLO_OK;
}

yolo_status infer_open(const char *path, const char *device, int threads, infer **out) {
    *out = NULL;
    infer *m = calloc(1, sizeof *m);
    if (!m) return yolo_nomem();
    yolo_status st = torch_device_parse(device ? device : "cpu", &m->dev);
    if (st == YOLO_OK && threads > 0) st = torch_set_threads(threads);
    torch_set_grad_enabled(false);
    if (st == YOLO_OK) st = load(m, path);
    if (st != YOLO_OK) {
        infer_free(m);
        return st;
    }
    *out = m;
    return YOLO_OK;
}

void infer_free(infer *m) {
    if (!m) return;
    model_free(m->net);
    free(m->names);
    yv_doc_free(m->doc);
    free(m);
}

model *infer_model(infer *m) {
    return m->net;
}
torch_device infer_device(const infer *m) {
    return m->dev;
}
const char *infer_task(const infer *m) {
    return m->task;
}
int infer_nc(const infer *m) {
    return m->nc;
}
const char *const *infer_names(const infer *m) {
    return m->names;
}
int infer_train_imgsz(const infer *m) {
    return m->train_imgsz;
}
