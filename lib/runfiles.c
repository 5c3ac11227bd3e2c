/* args.yaml and results.csv beside the checkpoints (see include/yolo/runfiles.h). */
#include "yolo/runfiles.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/args.h"
#include "yolo/ckpt.h"
#include "yolo/results.h"

/* Whether the file at path holds exactly these bytes. */
static bool same_text(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool same = true;
    char buf[4096];
    size_t at = 0, got;
    while (same && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        same = at + got <= n && !memcmp(buf, s + at, got);
        at += got;
    }
    same = same && !ferror(f) && at == n;
    fclose(f);
    return same;
}

static yolo_status write_if_changed(const char *path, const char *s, size_t n) {
    return same_text(path, s, n) ? YOLO_OK : ckpt_write_file_atomic(path, s, n);
}

yolo_status runfiles_write(const char *run_dir, const yv *train_args, const yv *train_results) {
    char path[4200];
    char *s = NULL;
    size_t n = 0;
    yolo_status st = args_yaml_text(train_args, run_dir, &s, &n);
    if (st == YOLO_OK) {
        snprintf(path, sizeof path, "%s/%s", run_dir, RUNFILES_ARGS);
        st = write_if_changed(path, s, n);
    }
    free(s);
    if (st != YOLO_OK) return st;
    snprintf(path, sizeof path, "%s/%s", run_dir, RUNFILES_RESULTS);
    if (results_row_count(train_results) == 0) {
        /* nothing finished yet (or a new run in an old run's folder): no rows, no file */
        if (unlink(path) != 0 && errno != ENOENT)
            return yolo_error(YOLO_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return YOLO_OK;
    }
    if ((st = results_csv_text(train_results, &s, &n)) != YOLO_OK) return st;
    st = write_if_changed(path, s, n);
    free(s);
    return st;
}
