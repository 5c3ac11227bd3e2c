/* results.csv with Ultralytics 8.4.52's columns (spec §3.6), kept inside the checkpoint.
 *
 * The rows live in the checkpoint's train_results ({column: list}), which is written atomically with
 * the weights; results.csv is regenerated from it after each save. A crash therefore can neither lose a
 * row (the checkpoint that has it is the one a resume starts from) nor duplicate one (adding the row of
 * epoch E first drops any row for epoch >= E). */
#ifndef YOLO_RESULTS_H
#define YOLO_RESULTS_H

#include <stdbool.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RESULTS_MAX_COLUMNS 24

/* The column names of a task ("detect", "segment", "classify"), in order; *n receives the count.
 * NULL for an unknown task. */
const char *const *results_columns(const char *task, int *n);

/* Rounds x to 5 decimals as Python's round(x, 5) does for the losses and metrics Ultralytics logs. */
double results_round5(double x);

/* Adds the row of (1-based) epoch values[0] to train_results (a dict column -> list, created empty if
 * needed): values holds one number per column of the task, in column order. Rows of this epoch or
 * later epochs already present are dropped first. */
yolo_status results_add_row(yv_doc *doc, yv *train_results, const char *task, const double *values, int n);

/* Number of rows in train_results (the length of its epoch column; 0 if none). */
int results_row_count(const yv *train_results);

/* train_results as the text of results.csv (malloc'ed into *text, *len bytes; see results_write_csv). */
yolo_status results_csv_text(const yv *train_results, char **text, size_t *len);

/* Writes train_results as CSV to path, atomically: the header, then every row with "%.6g" numbers,
 * as Ultralytics writes them. Columns follow train_results' order. */
yolo_status results_write_csv(const char *path, const yv *train_results);

#ifdef __cplusplus
}
#endif
#endif
