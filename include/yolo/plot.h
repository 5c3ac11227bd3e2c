/* The charts of a run folder as Ultralytics 8.4.52 draws them with matplotlib (same file names, sizes
 * and panels): results.png, labels.jpg, the confusion matrices and the P/R/F1/PR curves. Drawn with
 * canvas.h; each writes its file atomically. */
#ifndef YOLO_PLOT_H
#define YOLO_PLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/confusion.h"
#include "yolo/metrics.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* results.png from results.csv: one panel per loss and metric column (train losses and the first half
 * of the metrics on top, validation losses and the rest below), each the values with dots and a
 * Gaussian-smoothed (sigma 3) dotted line. */
yolo_status plot_results(const char *csv_path, const char *out_path);

/* labels.jpg: the class histogram, the box outlines centred (the first 500), and 50x50 histograms of
 * the box centres (x, y) and sizes (width, height). n boxes as normalised xywh with their classes. */
yolo_status plot_labels(const float *xywhn, const int *cls, int64_t n, const char *const *names, int nc,
                        const char *out_path);

/* confusion_matrix.png (counts) or confusion_matrix_normalized.png (each true class's column sums to
 * 1), in dir. names: cm->nc class names. */
yolo_status plot_confusion(const confusion *cm, const char *const *names, bool normalize, const char *dir);

/* PREFIX{PR,F1,P,R}_curve.png in dir (prefix "Box" or "Mask"): precision against recall at IoU 0.5
 * with each class's AP50, and F1, precision and recall against the confidence threshold. names: the
 * nc class names (ap->class_index picks the classes with labels). */
yolo_status plot_curves(const metrics_ap *ap, const char *const *names, const char *prefix, const char *dir);

/* scipy's gaussian_filter1d (mode reflect, truncate 4): results.png's smoothed line. */
void plot_gaussian_filter(const double *y, int n, double sigma, double *out);

#ifdef __cplusplus
}
#endif
#endif
