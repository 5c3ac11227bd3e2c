/* Our checkpoint layout on top of plain values (see man/man5/yolo-checkpoint.5 for every key).
 *
 * A checkpoint is a dict. Keys shared with Ultralytics keep its meaning (epoch is the 0-based index of
 * the last finished epoch, -1 in stripped files); model and ema are plain fp32 state dicts with
 * Ultralytics' names instead of pickled modules; keys named CKPTFMT_KEY_* below are ours and carry what
 * an exact resume needs. The format marker CKPTFMT_KEY_FORMAT tells our files from Ultralytics' ones.
 *
 * Functions that build values allocate them in the given doc; they may share tensors and values with
 * the source root when both live in the same doc. */
#ifndef YOLO_CKPTFMT_H
#define YOLO_CKPTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- format marker ---- */
#define CKPTFMT_KEY_FORMAT "yolo_tools_format" /* int: layout version */
#define CKPTFMT_FORMAT_VERSION 1
#define CKPTFMT_KEY_WRITER "yolo_tools_version" /* str: version of the program that wrote the file */
#define CKPTFMT_WRITER_VERSION "0.1.0"

/* ---- keys shared with Ultralytics ---- */
#define CKPTFMT_KEY_EPOCH "epoch"               /* int: last finished epoch, 0-based; -1 stripped */
#define CKPTFMT_KEY_BEST_FITNESS "best_fitness" /* float or None */
#define CKPTFMT_KEY_MODEL "model"     /* state dict: raw training weights (fp32); fp16 EMA when stripped */
#define CKPTFMT_KEY_EMA "ema"         /* state dict: EMA weights (fp32) or None */
#define CKPTFMT_KEY_UPDATES "updates" /* int: EMA update counter or None */
#define CKPTFMT_KEY_OPTIMIZER "optimizer"         /* dict (see below) or None */
#define CKPTFMT_KEY_TRAIN_ARGS "train_args"       /* dict: Ultralytics' argument names and values */
#define CKPTFMT_KEY_TRAIN_METRICS "train_metrics" /* dict: last validation metrics plus fitness */
#define CKPTFMT_KEY_TRAIN_RESULTS "train_results" /* dict: results.csv as {column: list} */
#define CKPTFMT_KEY_DATE "date"                   /* str: ISO 8601 time of the save */
#define CKPTFMT_KEY_VERSION "version"             /* str: version of the trainer that made the weights */

/* ---- our keys: the model ---- */
#define CKPTFMT_KEY_TASK "task"     /* str: detect, segment, classify */
#define CKPTFMT_KEY_YAML "yaml"     /* dict: yaml_file, scale, nc, text (the model YAML as read) */
#define CKPTFMT_KEY_NC "nc"         /* int */
#define CKPTFMT_KEY_NAMES "names"   /* dict int -> str */
#define CKPTFMT_KEY_STRIDE "stride" /* list of float: detection strides */
#define CKPTFMT_KEY_IMPORTED                                                                                 \
    "imported_from" /* dict: kind, version, file, and what the original held                                 \
                     * that export --format ultralytics gives back (git,                                     \
                     * save_dir, head_shape); absent in native files */

/* ---- our keys: exact resume (written by the trainer; readers tolerate their absence) ---- */
#define CKPTFMT_KEY_RNG "rng"               /* dict: seed (int), torch_cpu (uint8 tensor), cuda (list) */
#define CKPTFMT_KEY_POSITION "position"     /* dict or None: mid-epoch position, see yolo-checkpoint(5) */
#define CKPTFMT_KEY_STOPPER "stopper"       /* dict: early stopping (best_epoch, best_fitness, patience...) */
#define CKPTFMT_KEY_ACCUMULATE "accumulate" /* dict: accumulate, last_opt_step, iteration, grads */
#define CKPTFMT_KEY_THREADS "threads"       /* int: torch intra-op threads used (bitwise determinism) */
#define CKPTFMT_KEY_VAL_TABLE "val_table"   /* str: per-class validation table of train_metrics */
#define CKPTFMT_KEY_SCHEDULER "scheduler"   /* dict: last_epoch */
#define CKPTFMT_KEY_DATASET                                                                                  \
    "dataset" /* dict: where the dataset is (root, data_from_run, root_from_run; rundata.h) */
/* int: samples per micro-batch, batch / world size when the run started (data-parallel ranks) */
#define CKPTFMT_KEY_MICRO_BATCH "micro_batch"

typedef enum {
    CKPTFMT_UNKNOWN = 0,
    CKPTFMT_OURS_TRAINING,
    CKPTFMT_OURS_STRIPPED,
    CKPTFMT_ULTRA_TRAINING,
    CKPTFMT_ULTRA_STRIPPED,
    CKPTFMT_PLAIN_TENSORS,
} ckptfmt_kind_t;

/* A new root dict for a file of ours: the format marker, the writer version and date (local time in
 * ISO 8601 with microseconds, as Ultralytics' datetime.now().isoformat()): how every checkpoint of ours
 * begins (the trainer's and the import's). */
yolo_status ckptfmt_new_root(yv_doc *doc, yv **out);

/* Classifies a loaded root. Works on files read without tensor data. */
ckptfmt_kind_t ckptfmt_kind(const yv *root);
/* "ours-training", "ours-stripped", "ultralytics-training", "ultralytics-stripped", "tensor-dict", "unknown"
 */
const char *ckptfmt_kind_name(ckptfmt_kind_t kind);
/* The task a checkpoint is for ("detect", "segment", "classify"; NULL when it does not say): its
 * train_args' task, else its own task key, else the pickled model's (Ultralytics' files). */
const char *ckptfmt_task(const yv *root);
/* A phrase for people: "yolo-tools training checkpoint", "Ultralytics stripped weights", ... */
const char *ckptfmt_kind_describe(ckptfmt_kind_t kind);

/* True when training can continue from root. Otherwise why (if not NULL) receives the reason:
 * "stripped weights", "training finished (4 of 4 epochs)", "no optimizer state", "stopped early at
 * epoch 57 (patience 50)", "not a training checkpoint". */
bool ckptfmt_resumable(const yv *root, char *why, size_t cap);

/* The weights a user of the file gets: ema if present, else model, as a flat state dict (name ->
 * tensor), or the root itself for a tensor dict. Built in doc when the source is a pickled module.
 * which (if not NULL) receives "ema", "model" or "" (the root). NULL if the file holds no weights. */
const yv *ckptfmt_weights(yv_doc *doc, const yv *root, const char **which);

/* Converts an Ultralytics checkpoint (training or stripped) into our layout, in doc (which must be
 * root's doc). file_name (may be NULL) is recorded in imported_from. Needs tensor data. */
yolo_status ckptfmt_import(yv_doc *doc, const yv *root, const char *file_name, yv **out);

/* Deployment weights from any checkpoint kind: model = EMA (or model) as fp16, no optimizer, ema and
 * updates None, epoch -1. The result is not resumable. Needs tensor data. */
yolo_status ckptfmt_strip(yv_doc *doc, const yv *root, yv **out);

/* A plain {name: fp32 tensor} dict of ckptfmt_weights(), for model.load_state_dict(torch.load(f)). */
yolo_status ckptfmt_export(yv_doc *doc, const yv *root, yv **out);

/* A new contiguous tensor holding t converted to dt (YDT_F32 or YDT_F16, round to nearest even as
 * torch does); non-floating tensors are returned as they are. Needs tensor data. */
yolo_status ckptfmt_convert_tensor(yv_doc *doc, yv *t, yv_dtype dt, yv **out);

/* A copy of v that torch.load reads without any class of ours: new containers, shared scalars and
 * tensors; numpy scalars become floats, pickled modules state dicts, other records their state. */
yolo_status ckptfmt_plain(yv_doc *doc, const yv *v, yv **out);

/* Parses a command-line value as Ultralytics does: none, true/false (any case), int, float, a list
 * of such in brackets, else the string itself. */
yv *ckptfmt_parse_value(yv_doc *doc, const char *text);

/* Sets train_args[key] = value text (parsed as above) after Ultralytics' type checks. The key must
 * already exist in train_args. YOLO_ERR_USAGE with a one-line reason otherwise. */
yolo_status ckptfmt_set_arg(yv_doc *doc, yv *root, const char *key, const char *value);

#ifdef __cplusplus
}
#endif
#endif
