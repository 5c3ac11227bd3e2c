/* The dataset of a run (see include/yolo/rundata.h). */
#include "yolo/rundata.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yolo/ckptfmt.h"

void rundata_relative(const char *from, const char *to, char *out, size_t cap) {
    /* the common leading components, then ".." for each of from's others, then the rest of to */
    size_t i = 0, last = 0;
    while (from[i] && from[i] == to[i]) {
        if (from[i] == '/') last = i;
        i++;
    }
    if (!from[i] && (to[i] == '/' || !to[i]))
        last = i;
    else if (from[i] == '/' && !to[i])
        last = i;
    size_t n = 0;
    out[0] = 0;
    for (const char *p = from + last; *p; p++)
        if (*p == '/' && p[1]) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s..", n ? "/" : "");
    const char *rest = to + last;
    while (*rest == '/')
        rest++;
    if (*rest)
        snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "/" : "", rest);
    else if (!n)
        snprintf(out, cap, ".");
}

static bool exists(const char *p) {
    struct stat sb;
    return p && *p && stat(p, &sb) == 0;
}

/* path made absolute (its real path when it exists), into out; false when it cannot be. */
static bool absolute(const char *path, char *out, size_t cap) {
    char *r = realpath(path, NULL);
    if (r) {
        snprintf(out, cap, "%s", r);
        free(r);
        return true;
    }
    return false;
}

yolo_status rundata_put(yv_doc *doc, yv *ckpt, const char *run_dir, const char *data, const char *root) {
    char abs[4096], rel[8192];
    yv *d = yv_new_dict(doc);
    if (!d) return yolo_nomem();
    yolo_status st = YOLO_OK;
    if (absolute(data, abs, sizeof abs)) {
        rundata_relative(run_dir, abs, rel, sizeof rel);
        st = yv_dict_set_new(doc, d, "data_from_run", yv_new_str(doc, rel));
    }
    if (!st && root && *root && absolute(root, abs, sizeof abs)) {
        rundata_relative(run_dir, abs, rel, sizeof rel);
        st = yv_dict_set_new(doc, d, "root", yv_new_str(doc, abs));
        if (!st) st = yv_dict_set_new(doc, d, "root_from_run", yv_new_str(doc, rel));
    }
    if (!st) st = yv_dict_set_new(doc, ckpt, CKPTFMT_KEY_DATASET, d);
    return st;
}

/* a path relative to the run folder, joined; "" when rel is absent */
static void beside(const char *run_dir, const char *rel, char *out, size_t cap) {
    if (!rel)
        out[0] = 0;
    else if (rel[0] == '/')
        snprintf(out, cap, "%s", rel);
    else if (snprintf(out, cap, "%s/%s", run_dir, rel) >= (int)cap)
        out[0] = 0;
}

yolo_status rundata_find(const yv *ckpt, const char *run_dir, char *data, size_t dcap, char *root,
                         size_t rcap) {
    const char *given = yv_as_str(yv_path(ckpt, "train_args.data"));
    const yv *rec = yv_dict_get(ckpt, CKPTFMT_KEY_DATASET);
    if (rec && rec->kind != YV_DICT) rec = NULL;
    if (!given) return yolo_error(YOLO_ERR_FORMAT, "the checkpoint names no dataset (train_args.data)");
    /* before the record existed, a relative path was also tried from the run folder */
    const char *rel = rec ? yv_get_str(rec, "data_from_run") : (given[0] != '/' ? given : NULL);
    char near[4200];
    beside(run_dir, rel, near, sizeof near);
    const char *found = exists(given) ? given : exists(near) ? near : NULL;
    if (!found)
        return yolo_error(
            YOLO_ERR_NOTFOUND,
            "the run's dataset is neither at %s nor beside the run folder at %s (resume with data=PATH "
            "to point the run at it: accepted when the dataset has the same class names)",
            given, near[0] ? near : "(not recorded)");
    /* real paths: a root met through "run/../.." would not prefix the file names listed under it */
    if (!absolute(found, data, dcap)) snprintf(data, dcap, "%s", found);
    root[0] = 0;
    const char *r = rec ? yv_get_str(rec, "root") : NULL;
    beside(run_dir, rec ? yv_get_str(rec, "root_from_run") : NULL, near, sizeof near);
    /* the root that goes with the dataset found: beside the run folder when the dataset was */
    const char *pick = found == given ? (exists(r)      ? r
                                         : exists(near) ? near
                                                        : NULL)
                                      : (exists(near) ? near
                                         : exists(r)  ? r
                                                      : NULL);
    if (pick) {
        if (!absolute(pick, root, rcap)) snprintf(root, rcap, "%s", pick);
    } else if (r || near[0])
        return yolo_error(
            YOLO_ERR_NOTFOUND,
            "the run's dataset root is neither at %s nor beside the run folder at %s (its data.yaml is "
            "%s; resume with data=PATH to point the run at it: accepted when the dataset has the same "
            "class names)",
            r ? r : "(not recorded)", near[0] ? near : "(not recorded)", found);
    return YOLO_OK;
}
