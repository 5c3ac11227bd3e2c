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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct modelcfg modelcfg;

/* nc_override > 0 replaces the YAML's nc. */
yolo_status modelcfg_load(const char *name_or_path, int nc_override, modelcfg **out);
void modelcfg_free(modelcfg *cfg);

const char *modelcfg_task(const modelcfg *cfg); /* "detect", "segment" or "classify" */
char modelcfg_scale(const modelcfg *cfg);       /* 'n', 's', 'm', 'l', 'x' */
int modelcfg_nc(const modelcfg *cfg);
/* Ultralytics' line: "YOLOv8n summary: 129 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs" */
yolo_status modelcfg_summary_line(const modelcfg *cfg, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
