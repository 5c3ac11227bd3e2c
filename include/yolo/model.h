/* YOLOv8 networks (detect, segment, classify) on libtorch, built from a modelcfg.
 *
 * The model owns its tensors as one flat, ordered list with Ultralytics' state_dict names, shapes and
 * order ("model.0.conv.weight", ..., "model.22.dfl.conv.weight"): parameters and BN buffers
 * (running_mean, running_var, int64 num_batches_tracked) interleaved exactly as torch's state_dict()
 * lists them. Optimizers, EMA and checkpoints iterate this list by index.
 *
 * Forward runs block by block in plain C (Conv, C2f, SPPF, Upsample, Concat, Detect/Segment/Classify),
 * in train mode (BN batch statistics, running stats updated) or eval mode (running stats, decoded
 * predictions). */
#ifndef YOLO_MODEL_H
#define YOLO_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/modelcfg.h"
#include "yolo/status.h"
#include "yolo/torch.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct model model;

/* Builds a freshly initialised network as Ultralytics 8.4.52 does: conv/linear weights from
 * libtorch's default generator in construction order (seed it first with torch_manual_seed), BN
 * weight 1 / bias 0 / mean 0 / var 1 / count 0 (eps 1e-3 momentum 0.03 for detect and segment, 1e-5
 * and 0.1 for classify), Detect bias init (box 2.0, class ln(5/nc/(640/stride)^2)), DFL weight 0..15
 * frozen. The model starts in train mode. cfg may be freed afterwards. */
yolo_status model_build(const modelcfg *cfg, torch_device dev, model **out);
/* model_build for weights about to be loaded (a resume, a copy of the EMA): the conv and linear
 * weights are left at zero instead of drawn, which saves the draw (20 ms for yolov8n) and leaves
 * libtorch's generator untouched. */
yolo_status model_build_blank(const modelcfg *cfg, torch_device dev, model **out);
void model_free(model *m);

const char *model_task(const model *m); /* "detect", "segment", "classify" */
int model_nc(const model *m);
torch_device model_device(const model *m);
/* Detection strides per head level (8, 16, 32); *n receives the level count (0 for classify). */
const double *model_strides(const model *m, int *n);

/* ---- the state list ---- */
int model_param_count(const model *m); /* entries, parameters and buffers (355 for yolov8n nc=80) */
const char *model_param_name(const model *m, int i);
torch_tensor *model_tensor(const model *m, int i);
bool model_param_is_buffer(const model *m, int i); /* BN running stats and counts */
/* Trainable: a parameter other than the frozen DFL weight (Ultralytics also freezes any ".dfl"). */
bool model_param_requires_grad(const model *m, int i);
/* Freezes (on = false) or unfreezes parameter i, e.g. for Ultralytics' freeze= argument; the flag and
 * the tensor's requires_grad change together. Buffers cannot be made trainable. */
yolo_status model_set_trainable(model *m, int i, bool on);
/* Index of a name, or -1. */
int model_param_find(const model *m, const char *name);
/* Sum of elements over parameters (not buffers); and over trainable parameters only. */
int64_t model_param_elements(const model *m);
int64_t model_trainable_elements(const model *m);

/* ---- modes ---- */
void model_set_training(model *m, bool training);
bool model_training(const model *m);
/* Lays the convolution weights out channels-last (NHWC order in memory) and converts the input of
 * each forward, so convolutions, BatchNorm and the activations between them all run in that order;
 * off restores row-major weights. Values are unchanged (state dicts, torch_copy_out and checkpoints
 * see the same numbers either way) but other oneDNN and BatchNorm kernels run: about 1e-6 relative
 * per layer, which train-mode BatchNorm grows to ~1e-3 in the head outputs, so golden parity with
 * Ultralytics' row-major run (1e-5) does not hold; hence off by default. Deterministic for a fixed
 * thread count either way. model_build applies model_channels_last_default(dev).
 * The parameters are re-laid in place (same handles), and so are their gradients; optimizer and
 * EMA state made from them afterwards by clone/empty_like follows. Switch before building those. */
yolo_status model_set_channels_last(model *m, bool on);
bool model_channels_last(const model *m);
/* The environment's YOLO_CHANNELS_LAST (0 off, anything else on) or else the built-in default
 * for the device. */
bool model_channels_last_default(torch_device dev);
/* Activations in oneDNN's blocked layout (see torch.h): the same values as the plain NCHW forward and
 * backward, to the bit, without libtorch's layout conversions around each convolution. model_build
 * turns it on where torch_blocked_available() and every layer's channels come in blocks of 16 (all
 * yolov8 scales); on fails with YOLO_ERR_USAGE elsewhere. Off for channels-last. */
yolo_status model_set_blocked(model *m, bool on);
bool model_blocked(const model *m);
/* on: folds every BatchNorm into its conv, as Ultralytics' model.fuse() does before standalone
 * validation and prediction, and eval forwards use the folded weights (train forwards never do).
 * The folding is a snapshot of the current weights: call again after changing them. off: drops it. */
yolo_status model_fuse(model *m, bool on);
/* Classify's dropout before the final Linear (train mode only), p in [0, 1); default 0. */
yolo_status model_set_dropout(model *m, double p);
/* Keeps every layer's output after a forward (for tests); off by default to save memory. */
void model_keep_layer_outputs(model *m, bool keep);
/* Output of layer i from the last forward (only with keep on), else NULL. Owned by the model. */
const torch_tensor *model_layer_output(const model *m, int i);

/* ---- forward ---- */
/* Output handles are owned by the struct and reused by later forwards (free with model_output_free).
 * Zero-initialise the struct before the first use. */
typedef struct {
    /* detect / segment, both modes: raw head outputs over all anchors (P3, P4, P5 concatenated) */
    torch_tensor *boxes;  /* (B, 64, A): 4 sides x 16 bins */
    torch_tensor *scores; /* (B, nc, A): class logits */
    /* segment, both modes */
    torch_tensor *mask_coeffs; /* (B, nm, A) */
    torch_tensor *proto;       /* (B, nm, H/4, W/4) */
    /* classify, both modes */
    torch_tensor *logits; /* (B, nc) */
    /* eval mode only: detect (B, 4+nc, A) cx,cy,w,h px + sigmoid scores; segment adds the nm
     * coefficients (B, 4+nc+nm, A); classify softmax (B, nc) */
    torch_tensor *pred;
    /* anchor layout of the last forward (detect / segment) */
    int nl;
    int64_t level_hw[4][2];
    int64_t anchors;
} model_output;

/* images: (B, 3, H, W) float32 on the model's device, H and W multiples of the largest stride.
 * In eval mode the forward runs without recording gradients. */
yolo_status model_forward(model *m, const torch_tensor *images, model_output *out);
void model_output_free(model_output *out);

/* Anchor centres (A, 2) in grid units (x + 0.5, y + 0.5) and strides (A, 1), float32, from the
 * level sizes of the last forward. */
yolo_status model_anchors(const model *m, const model_output *out, torch_tensor **anchors,
                          torch_tensor **strides);

/* ---- BatchNorm statistics per micro-batch (data-parallel training) ----
 * A batch trained as several micro-batches (on one process or several) keeps BatchNorm's running
 * averages independent of which process ran which: with a capture buffer set, train forwards leave the
 * running statistics and counts alone and write each BatchNorm's batch statistics into the buffer
 * instead, the mean then the unbiased variance (float32, C values each), layer after layer
 * (model_bn_stats_size floats in all). model_bn_update applies the statistics of several micro-batches
 * to the running averages, one after another, with libtorch's arithmetic. */
int64_t model_bn_stats_size(const model *m);
/* buf: a contiguous float32 vector of model_bn_stats_size elements (the model holds a reference), or
 * NULL to update the running statistics in the forward again. */
yolo_status model_bn_capture(model *m, torch_tensor *buf);
/* stats: count micro-batches' statistics, model_bn_stats_size floats each, in order; the counts
 * (num_batches_tracked) go up by count. */
yolo_status model_bn_update(model *m, const float *stats, int count);

/* ---- weights ---- */
/* Copies every entry of sd (a dict name -> tensor, e.g. from yv_state_dict) whose name and shape
 * match into the model; others keep their values. *transferred receives the count, and the message
 * "Transferred 349/355 items from pretrained weights" is written to msg if given. A fused model
 * (model_fuse) refolds its BatchNorms from the loaded weights. */
yolo_status model_load_state_dict(model *m, const yv *sd, int *transferred, char *msg, size_t msg_cap);
/* A new ordered dict name -> tensor in doc (float32; num_batches_tracked int64), in state order. */
yolo_status model_export_state_dict(const model *m, yv_doc *doc, yv **out);

#ifdef __cplusplus
}
#endif
#endif
