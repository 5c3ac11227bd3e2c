/* The golden checker: compares our computations with numbers from the real Ultralytics.
 * Each golden file has one checker function (in tests/golden/<file>.c, defined by the module that can
 * reproduce it). A checker prints one TAP line per tensor group via golden_report(). */
#ifndef YOLO_GOLDEN_H
#define YOLO_GOLDEN_H

#include <stdbool.h>

#include "yolo/value.h"

/* Checker signature: path of the .pt file and its loaded root dict. Returns the number of failed groups. */
typedef int (*golden_checker)(const char *path, const yv *root);

/* Prints "ok - FILE GROUP max_abs=X" (or "not ok - ...") and returns 1 when it failed, 0 otherwise. */
int golden_report(const char *file, const char *group, double max_abs, bool pass);

/* Max absolute difference between ours (n floats, row-major) and a stored tensor of any dtype.
 * Returns INFINITY if the shapes' element counts differ or the tensor is missing. */
double golden_max_abs_diff(const float *ours, long n, const yv *stored);

/* Max relative difference |a-b| / max(|b|, floor). */
double golden_max_rel_diff(const float *ours, long n, const yv *stored, double floor);

/* Compares and reports in one call: passes when max_abs <= tol. Returns 1 on failure. */
int golden_check_tensor(const char *file, const char *group, const float *ours, long n, const yv *stored,
                        double tol);

/* Checkers, defined weakly elsewhere; a NULL one means "not implemented yet" and is skipped. */
/* A file may have several checkers, each from the module that reproduces that part. */
int golden_det_forward(const char *path, const yv *root) __attribute__((weak));
int golden_seg_forward(const char *path, const yv *root) __attribute__((weak)); /* seg_forward_loss.pt */
int golden_seg_loss(const char *path, const yv *root) __attribute__((weak));    /* seg_forward_loss.pt */
int golden_cls_forward(const char *path, const yv *root) __attribute__((weak)); /* cls_forward_loss.pt */
int golden_cls_loss(const char *path, const yv *root) __attribute__((weak));    /* cls_forward_loss.pt */
int golden_cls_topk(const char *path, const yv *root) __attribute__((weak));    /* cls_forward_loss.pt */
int golden_det_loss(const char *path, const yv *root) __attribute__((weak));
int golden_det_assigner(const char *path, const yv *root) __attribute__((weak));
int golden_det_optim(const char *path, const yv *root) __attribute__((weak));
int golden_det_nms_metrics(const char *path, const yv *root) __attribute__((weak));
int golden_letterbox(const char *path, const yv *root) __attribute__((weak));

#endif
