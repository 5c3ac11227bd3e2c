/* Validation of a model over a split, as Ultralytics' validator does it: batches of equal-sized
 * letterboxed images (rect batches), the forward pass in eval mode, NMS, matching in the letterboxed
 * space, box and mask mAP or top-1/top-5, the table. The one path behind the trainer's validation
 * after each epoch and yolo-eval model=. */
#ifndef YOLO_VAL_H
#define YOLO_VAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/confusion.h"
#include "yolo/metrics.h"
#include "yolo/model.h"
#include "yolo/nms.h"
#include "yolo/pipeline.h"
#include "yolo/status.h"
#include "yolo/stream.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct val val;

/* Called for each batch after the forward pass (the trainer adds its validation loss here). */
typedef yolo_status (*val_batch_fn)(void *ctx, stream_sample *v, int n, const model_output *mo);

typedef struct {
    const char *task; /* detect, segment or classify */
    int nc;
    const char *const *names; /* nc class names for the table */
    torch_device dev;
    nms_opts nms; /* conf, iou, max_det */
    const char
        *save_txt;  /* a folder for one label file per image with detections (detect, segment), or NULL */
    bool save_conf; /* save_txt files end each line with the confidence */
    val_batch_fn on_batch;
    void *on_batch_ctx;
    confusion *confusion;       /* counts every image into this matrix (plots), or NULL */
    FILE *progress;             /* a "\r label N/M images" line while it runs, or NULL */
    const char *progress_label; /* e.g. "yolo-eval: val" */
} val_opts;

/* Defaults: Ultralytics' val settings (conf 0.001, iou 0.7, max_det 300), CPU, no extras (save_conf on). */
void val_opts_default(val_opts *o);

yolo_status val_new(const val_opts *o, val **out);
void val_free(val *v);

/* Where the samples come from: a pipeline (samples 0..total-1) or a stream reader. */
typedef struct {
    pipeline *p;
    stream_reader *r;
    int64_t next;
} val_source;

/* Runs m (in eval mode, gradients off) over total samples of src, in batches of at most bs images of
 * one size (a change of size ends a batch, as rect batches do), accumulating the metrics. */
yolo_status val_run(val *v, model *m, val_source *src, int64_t total, int bs);

/* What val_run has scored so far as bytes (malloc'd into *out), and the same added to another validator
 * of the same task and classes after what it has scored: ranks that each validate a share of the batches,
 * merged in batch order, give the results of one validator over all of them. */
yolo_status val_pack(const val *v, unsigned char **out, size_t *len);
yolo_status val_merge(val *v, const unsigned char *pack, size_t len);

/* The results with Ultralytics' keys (metrics/mAP50(B), ..., or metrics/accuracy_top1/top5), rounded
 * as results.csv has them, and the fitness. Valid until val_free. */
typedef struct {
    int n;
    const char *keys[12];
    double vals[12];
    double fitness;
} val_metrics;
yolo_status val_finish(val *v, val_metrics *out);

/* The box and mask results behind the table (after val_finish; the mask's only for segment), with the
 * P/R/F1/PR curves the pictures draw; NULL otherwise. */
const metrics_ap *val_box_ap(const val *v);
const metrics_ap *val_mask_ap(const val *v);

/* Ultralytics' table (after val_finish): all, and per class when verbose. */
void val_print_table(const val *v, FILE *f, bool verbose);
/* The metrics as JSON (after val_finish). */
yolo_status val_write_json(const val *v, FILE *f);
/* Images seen, and the mean milliseconds per image of preprocessing, inference and postprocessing. */
int64_t val_speed(const val *v, double ms[3]);

/* A batch's eval-mode outputs on the host, kept and grown from batch to batch: pred is n x rows x anchors
 * floats (detect, segment: what nms_run takes) or n x nc probabilities (classify); proto (segment) is
 * n x nm x mh x mw prototypes. */
typedef struct {
    float *pred, *proto;
    size_t pred_cap, proto_cap;
    int rows, anchors;
    int nm, mh, mw;
} val_host;
void val_host_free(val_host *h);
/* Copies a forward pass's outputs to h. */
yolo_status val_host_copy(const model_output *mo, val_host *h);

/* The model (in eval mode, gradients off) on n samples of one size, its outputs copied to h: the forward
 * pass of validation, which yolo predict runs on its images. */
yolo_status val_predict(model *m, const stream_sample *v, int n, torch_device dev, val_host *h);

/* Samples' images (HxWx3 uint8, all one size) as a (n, 3, H, W) float32 tensor in [0, 1] on dev,
 * divided by 255 as the reference does. Shared with the training batches. */
yolo_status val_image_batch(const stream_sample *v, int n, torch_device dev, torch_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
