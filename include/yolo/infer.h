/* A checkpoint's model, ready to run: ours or Ultralytics' (full or stripped), its weights (the EMA's
 * where there is one) in a model built from the model YAML it names, in eval mode, with its task,
 * classes and training size. yolo-eval model= validates it (val.h), yolo predict runs it on images
 * (val_predict). */
#ifndef YOLO_INFER_H
#define YOLO_INFER_H

#include "yolo/model.h"
#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct infer infer;

/* device: "cpu", "cuda:0", ... (torch_device_parse; a bad one is a usage error); threads 0 leaves
 * libtorch's default. */
yolo_status infer_open(const char *path, const char *device, int threads, infer **out);
void infer_free(infer *m);

model *infer_model(infer *m);
torch_device infer_device(const infer *m);
const char *infer_task(const infer *m); /* "detect", "segment" or "classify" */
int infer_nc(const infer *m);
const char *const *infer_names(const infer *m); /* nc class names */
int infer_train_imgsz(const infer *m);          /* the imgsz the model was trained at, 0 when unknown */

#ifdef __cplusplus
}
#endif
#endif
