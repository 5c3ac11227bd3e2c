/* Helpers shared by the forward checkers (det_forward.c, seg_forward.c, cls_forward.c). */
#ifndef YOLO_GOLDEN_GMODEL_H
#define YOLO_GOLDEN_GMODEL_H

#include "golden.h"
#include "yolo/model.h"
#include "yolo/torch.h"

/* The seed the golden set was made with (args.seed); gm_build seeds libtorch with it. */
extern long gm_seed;
/* The file's base name, for report lines. */
const char *gm_base(const char *path);
/* Integer value of root[key] (int or 0-dim tensor); def if absent. */
long gm_int(const yv *root, const char *key, long def);
/* A float32 CPU tensor from a stored tensor (any dtype), optionally divided by div (1 for none). */
yolo_status gm_tensor(const yv *stored, double div, torch_tensor **out);
/* Builds "yolov8<scale><suffix>.yaml" for nc, the scale read from the first conv's width in sd. */
yolo_status gm_build(const yv *sd, const char *suffix, int nc, model **out);
/* Reports whether names and order of the model's state equal the stored key list / dict. */
int gm_check_names(const char *file, const model *m, const yv *keys_or_dict);
/* Compares a tensor with a stored one (element count must match). Returns 1 on failure. */
int gm_check(const char *file, const char *group, const torch_tensor *t, const yv *stored, double tol);
/* Checks every entry of a fresh_init_deterministic dict against a freshly built model. */
int gm_check_fresh(const char *file, const yv *sd, const char *suffix, int nc, const yv *fresh);
/* Builds the file's model (suffix "", "-seg" or "-cls"), loads root's state_dict and reports the state
 * names (against root[names_key]), the transfer and param_count, one line each. *m is NULL when the
 * model could not be built or loaded (reported as one failure). Returns the number of failed lines. */
int gm_setup(const char *file, const yv *root, const char *suffix, const char *names_key, model **m);
/* Every BN buffer named in bn_after, against the model after one train forward. */
int gm_check_bn_after(const char *file, const model *m, const yv *bn_after);
#endif
