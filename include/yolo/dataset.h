/* Datasets as Ultralytics users have them (spec §4.1, §4.8).
 *
 * A dataset is opened from
 *   - a data.yaml (path, train, val, test, names as a list or a map, nc); `path` is found as Ultralytics
 *     finds it (absolute as it is; relative against the working folder, then against the datasets folder,
 *     its datasets_dir setting), and then against the YAML file's folder; no `path`: the YAML's folder;
 *     split paths are relative to `path`; a split is a folder of images (searched
 *     recursively), a .txt file listing images ("./x" lines are relative to the list's folder), or a list of
 *     either; labels are found by the images/ -> labels/ rule;
 *   - a classification folder in ImageFolder layout (root/train/CLASS/IMAGE, root/val/CLASS/IMAGE), class
 *     ids being the sorted folder names of train/;
 *   - a .zip, .tar, .tar.gz, .tgz or .tar.zst archive holding either of the above (a data.yaml at its top
 *     level or one folder down, or train/<class>/ folders). It is read in place with libarchive: the members
 *     are read once into memory, nothing is extracted.
 *
 * Loading a split checks every image and label file (labels.h) and keeps a label cache next to the labels
 * ("<labels folder>.yolo.cache", for a classification split "<root>/<split>.yolo.cache", for an archive
 * "<archive>.<split>.yolo.cache"). The cache key is a hash of the class names and of every image and label
 * file's path, size and modification time, so a changed or added file is picked up; a stale or damaged
 * cache is rebuilt; it is written atomically. */
#ifndef YOLO_DATASET_H
#define YOLO_DATASET_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "yolo/image.h"
#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dataset dataset;
typedef struct dataset_split dataset_split;

/* Errors are one line naming the file and, for a broken data.yaml, the key:
 * "data.yaml: names has 3 entries but nc is 4 (make them agree)". */
yolo_status dataset_open(const char *path, dataset **out);
/* The same, with root (when not NULL) as the dataset root of a data.yaml on disk whatever its path:
 * says: a run found its root once and keeps it, whatever the working folder later. */
yolo_status dataset_open_at(const char *path, const char *root, dataset **out);

/* The environment variable that sets the datasets folder, before Ultralytics' settings file. */
#define DATASET_DIR_ENV "YOLO_DATASETS_DIR"
/* The datasets folder into dir, and where it came from into from: $YOLO_DATASETS_DIR, else datasets_dir
 * of Ultralytics' settings file ($YOLO_CONFIG_DIR/settings.json, else ~/.config/Ultralytics/settings.json),
 * else datasets/ under the working folder (what Ultralytics' first start writes there). */
yolo_status dataset_datasets_dir(char *dir, size_t cap, char *from, size_t fcap);
/* Whether a file name has one of Ultralytics' image extensions (bmp, jpg, png, webp, ..., any case). */
bool dataset_is_image_name(const char *path);
/* The dataset that data= names: the path itself when it exists, else for a bare name (coco8.yaml) the
 * datasets folder's NAME, STEM/NAME or STEM/data.yaml. Not found: YOLO_ERR_USAGE with one line naming every
 * place tried, and that nothing is ever downloaded. */
yolo_status dataset_find(const char *data, char *out, size_t cap);
void dataset_free(dataset *ds);
/* A dataset from data.yaml text (tests and the fuzz harness): name is used in messages, dir stands for
 * the YAML file's folder. Nothing is read from disk until a split is loaded. */
yolo_status dataset_open_yaml_text(const void *text, size_t len, const char *name, const char *dir,
                                   dataset **out);

int dataset_nc(const dataset *ds);
/* Ultralytics' single_cls: from now on the dataset has one class, "item", and every label is class 0
 * (labels are still checked against the data.yaml's classes). No effect on classification datasets. */
void dataset_set_single_cls(dataset *ds);
const char *const *dataset_names(const dataset *ds);
bool dataset_is_classify(const dataset *ds);
/* The file the dataset was opened from, as given. */
const char *dataset_path(const dataset *ds);
/* The dataset root that split paths are relative to (a folder, or a prefix inside an archive). */
const char *dataset_root(const dataset *ds);
/* For a data.yaml on disk, the root its path: led to (what dataset_open_at takes back); else NULL. */
const char *dataset_yaml_root(const dataset *ds);
/* When two candidate roots of a relative path: both hold the dataset: one line saying which was taken
 * (the first in Ultralytics' order); else NULL. */
const char *dataset_note(const dataset *ds);
/* Whether data.yaml names this split (train, val, test) or, for ImageFolder, the folder exists
 * ("val" also finds "validation"). */
bool dataset_has_split(const dataset *ds, const char *split);

typedef struct {
    int workers;     /* threads for checking images when there is no cache (0: all cores) */
    bool no_cache;   /* neither read nor write the label cache */
    double fraction; /* 0 < f < 1 keeps the first round(f * listed) files (Ultralytics' fraction=, given for
                        train only); 0 or 1: all */
} dataset_load_opts;

typedef struct {
    int64_t listed;     /* image files found for the split */
    int64_t images;     /* usable images (listed - corrupt) */
    int64_t found;      /* label files found (detect/segment) */
    int64_t missing;    /* images without a label file: backgrounds */
    int64_t empty;      /* label files without labels: backgrounds */
    int64_t corrupt;    /* images skipped (unreadable image or bad label file) */
    int64_t instances;  /* labels over all usable images */
    int64_t *per_class; /* nc counts of instances (classify: images per class) */
    int n_msgs;
    char **msgs;           /* one warning per file, "file: reason" */
    bool from_cache;       /* the label cache was valid and used */
    bool segments;         /* polygons are present (a segmentation dataset) */
    bool segments_dropped; /* mixed box-only and polygon labels: polygons dropped, as Ultralytics does */
    char *cache_path;      /* where the cache is (NULL when no_cache) */
    char *cache_note;      /* why the cache was rebuilt or could not be written, or NULL */
} dataset_report;

/* Whether the report's warnings were already shown by an earlier epoch of the same run: they came from
 * the label cache (written by that epoch's scan), so no file changed since. The yolo loop's epochs after
 * its first pass --quiet-known; a file that changed is scanned again and named again. */
bool dataset_report_known(const dataset_report *r);

/* Lists, checks and caches one split. Corrupt files are reported, not errors; errors are for a split that
 * is missing or empty of images, or I/O failures. */
yolo_status dataset_split_load(dataset *ds, const char *split, const dataset_load_opts *opts,
                               dataset_split **out);
void dataset_split_free(dataset_split *sp);

const dataset_report *dataset_split_report(const dataset_split *sp);
/* The report's warnings, one line each ("WHO: warning: FILE: why"), then, when files were skipped,
 * "WHO: SPLIT: N images, K corrupt skipped": what a reader of a split tells its user. */
void dataset_report_warn(const dataset_report *r, FILE *f, const char *who, const char *split);
/* Usable images, in dataset order (sorted paths; ImageFolder: class by class, sorted). */
int64_t dataset_split_count(const dataset_split *sp);
const char *dataset_split_file(const dataset_split *sp, int64_t i);
/* Original size after EXIF orientation. */
void dataset_split_shape(const dataset_split *sp, int64_t i, int *h, int *w);
/* Labels of image i (normalised to the original image; polygons as in the file; label = class for
 * classification, -1 otherwise). The image of the returned sample is empty. */
const sample *dataset_split_labels(const dataset_split *sp, int64_t i);
/* The file's bytes (from disk or from the archive). *buf is malloc'ed. */
yolo_status dataset_split_read(const dataset_split *sp, int64_t i, uint8_t **buf, size_t *len);
/* Decoded RGB image i. */
yolo_status dataset_split_image(const dataset_split *sp, int64_t i, image *out);
/* Whether the split's labels have polygons (after the mixed-labels rule). */
bool dataset_split_has_segments(const dataset_split *sp);

#ifdef __cplusplus
}
#endif
#endif
