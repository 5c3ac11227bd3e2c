/* YOLO label files, read and checked as Ultralytics' verify_image_label does (spec §4.1).
 *
 *   detect:  one line per object, "cls cx cy w h", normalised to [0, 1];
 *   segment: "cls x1 y1 x2 y2 ... xn yn", a normalised polygon; once any line of a file has more than six
 *            columns, every line of that file is read as a polygon and its box is the polygon's min/max.
 *
 * Verdicts, per file (same rules and wording as Ultralytics):
 *   - a missing file or a file without lines: background image (no instances);
 *   - wrong number of columns, a value that is not a number, a coordinate above 1, a negative value,
 *     a class id >= nc: the file is corrupt and its image is skipped (LABELS_CORRUPT, with the reason);
 *   - duplicate rows: removed with a warning; the rows then come in sorted order, as numpy's unique
 *     leaves them. */
#ifndef YOLO_LABELS_H
#define YOLO_LABELS_H

#include <stddef.h>

#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LABELS_OK = 0,  /* instances read */
    LABELS_EMPTY,   /* the file has no label lines: a background image */
    LABELS_CORRUPT, /* reason in msg; the image must be skipped */
} labels_verdict;

/* Parses the text of one label file into out's instances (out's labels are cleared first; its image is
 * untouched). nc is the number of classes. msg receives the reason for LABELS_CORRUPT, or a warning
 * ("2 duplicate labels removed") for LABELS_OK, or "" — without the file name, which the caller adds.
 * The return value is YOLO_OK unless memory ran out; the verdict is in *verdict. */
yolo_status labels_parse(const char *text, size_t len, int nc, sample *out, labels_verdict *verdict,
                         char *msg, size_t msg_cap);

/* Ultralytics' label path for an image path: the last "/images/" becomes "/labels/" and the extension
 * becomes ".txt" ("d/images/train/a.jpg" -> "d/labels/train/a.txt"). Returns a malloc'ed string. */
char *labels_path_for_image(const char *image_path);

/* Resamples every polygon of s to max(n, longest + 1) points, each closed and evenly spaced in point
 * index, as Ultralytics' resample_segments (n = 1000 when datasets are read). Boxes are untouched. */
yolo_status labels_resample_segments(sample *s, int n);

#ifdef __cplusplus
}
#endif
#endif
