/* Model definitions from Ultralytics-format model YAML (yolov8.yaml, yolov8-seg.yaml, yolov8-cls.yaml),
 * without libtorch: layers, channels, parameter counts and FLOPs. model.c builds the network from this.
 *
 * A bare name such as "yolov8s.yaml" resolves to the shipped file cfg/models/yolov8.yaml with scale s
 * (the scale letter comes from the file name, as in Ultralytics). A path to a user's file works too. */
#ifndef YOLO_MODELCFG_H
#define YOLO_MODELCFG_H

#include <stddef.h>
#include <stdint.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct modelcfg modelcfg;

/* nc_override > 0 replaces the YAML's nc. */
yolo_status modelcfg_load(const char *name_or_path, int nc_override, modelcfg **out);
/* The model of a checkpoint's "yaml" entry: from the YAML text it keeps ("text", which our checkpoints
 * carry so that a run from a YAML of one's own resumes wherever it is), else from the file its
 * yaml_file names. */
yolo_status modelcfg_load_stored(const yv *yaml, int nc_override, modelcfg **out);
void modelcfg_free(modelcfg *cfg);
/* The same from YAML text in memory (e.g. the yaml a checkpoint carries); name stands for the file
 * name: it gives the scale letter, the summary's model name and the prefix of error messages. */
yolo_status modelcfg_load_text(const void *text, size_t len, const char *name, int nc_override,
                               modelcfg **out);

const char *modelcfg_task(const modelcfg *cfg); /* "detect", "segment" or "classify" */
char modelcfg_scale(const modelcfg *cfg);       /* 'n', 's', 'm', 'l', 'x' */
/* The scale letter Ultralytics reads from a model file's stem (yolo(e-)?v?<digits><letter>), or 0
 * when the name has none (modelcfg_scale is then the YAML's first scale). */
char modelcfg_name_scale(const char *name);
int modelcfg_nc(const modelcfg *cfg);
/* Ultralytics' line: "YOLOv8n summary: 129 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs" */
yolo_status modelcfg_summary_line(const modelcfg *cfg, char *buf, size_t cap);

/* ---- the resolved layer table (for model.c and summaries) ---- */
typedef enum {
    MODELCFG_CONV,
    MODELCFG_C2F,
    MODELCFG_SPPF,
    MODELCFG_UPSAMPLE,
    MODELCFG_CONCAT,
    MODELCFG_DETECT,
    MODELCFG_SEGMENT,
    MODELCFG_CLASSIFY,
} modelcfg_kind;

#define MODELCFG_MAX_FROM 8

typedef struct {
    modelcfg_kind kind;
    int n_from;
    int from[MODELCFG_MAX_FROM]; /* absolute layer indices; -1 is the network input */
    int repeats;                 /* after depth scaling: C2f's bottleneck count */
    int c1;                      /* input channels (of from[0]) */
    int c2;                      /* output channels */
    int k, s;                    /* Conv kernel and stride; SPPF pool kernel in k */
    int shortcut;                /* C2f: residual bottlenecks */
    int scale;                   /* Upsample factor */
    int dim;                     /* Concat dimension */
    /* Detect / Segment / Classify */
    int nc, nm, npr;           /* classes, mask coefficients, prototype width (scaled) */
    int nl;                    /* head input levels */
    int ch[MODELCFG_MAX_FROM]; /* head input channels per level */
    int c_box, c_cls, c_mask;  /* hidden widths of the cv2 / cv3 / cv4 branches */
} modelcfg_layer;

int modelcfg_layer_count(const modelcfg *cfg);
const modelcfg_layer *modelcfg_layer_at(const modelcfg *cfg, int i);
/* The YAML file actually read, and the model name Ultralytics prints ("YOLOv8n", "YOLOv8n-seg"). */
const char *modelcfg_path(const modelcfg *cfg);
/* The YAML's text as read (NUL-terminated). */
const char *modelcfg_text(const modelcfg *cfg);
const char *modelcfg_display_name(const modelcfg *cfg);
/* Ultralytics' counts: leaf modules, parameter elements, trainable elements, GFLOPs at imgsz 640. */
int modelcfg_leaf_layers(const modelcfg *cfg);
int64_t modelcfg_param_count(const modelcfg *cfg);
int64_t modelcfg_gradient_count(const modelcfg *cfg);
double modelcfg_gflops(const modelcfg *cfg);
/* The YAML as Ultralytics reads it (PyYAML's safe_load, YAML 1.1: plain None is the string "None",
 * True/yes/on are booleans, quoted scalars are strings), as plain values in doc. */
yolo_status modelcfg_yaml_value(const modelcfg *cfg, yv_doc *doc, yv **out);
/* The folder of the shipped model YAMLs ($YOLO_MODELS, next to the executable, or installed). */
const char *modelcfg_models_dir(void);

#ifdef __cplusplus
}
#endif
#endif
