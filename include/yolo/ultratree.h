/* Weights in the layout of Ultralytics' own final files: what YOLO("model.pt") opens.
 *
 * Ultralytics 8.4.52 keeps a model in its .pt files as a pickled nn.Module tree, not as a state dict:
 * ultralytics.nn.tasks.DetectionModel (SegmentationModel, ClassificationModel) holding a
 * torch.nn.Sequential of its layers (Conv, C2f, SPPF, nn.Upsample, Concat, Detect, Segment, Classify
 * and their parts), each with the attributes its Python object carries: torch.nn.Module's bookkeeping
 * (training flag, _parameters, _buffers, _modules, the hook dicts), the module's own settings (stride,
 * nc, reg_max, ...), and the layer index i, input f, type and parameter count np that Ultralytics'
 * model parser adds. Its final files (a stripped best.pt) hold that tree in fp16 under "model", next to
 * epoch -1, train_args, train_metrics, train_results, date, version and git.
 *
 * This module builds the tree as object records (value.h) from the model YAML and the weights; the
 * pickle writer emits them with the GLOBAL / NEWOBJ / BUILD opcodes Python's pickler uses. No
 * Ultralytics code is run or needed. Which attributes were checked against real 8.4.52 files is said in
 * ultratree.c. */
#ifndef YOLO_ULTRATREE_H
#define YOLO_ULTRATREE_H

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The final-weights file Ultralytics writes, from any checkpoint with weights (ours, training or
 * stripped, or Ultralytics' own): the EMA weights (else the model's) in fp16 as a pickled module tree.
 * file is the input's path: a file in RUN/weights/ records RUN as the run folder (model.args.save_dir),
 * as Ultralytics does. An imported Ultralytics file gives back what it held (its git record, run folder
 * and the detection head's last input shape). Errors say what does not fit: weights that lack a tensor
 * the model YAML needs or have one it has no place for, shapes that differ, no task or class count. */
yolo_status ultratree_export(yv_doc *doc, const yv *root, const char *file, yv **out);

#ifdef __cplusplus
}
#endif
#endif
