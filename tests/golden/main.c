/* golden-check DIR: checks every golden file in DIR against our implementation.
 * One line per file and tensor group with the largest absolute difference. Exit 1 if any failed. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "yolo/ckpt.h"

int golden_report(const char *file, const char *group, double max_abs, bool pass) {
    printf("%s - %s %s max_abs=%.3g\n", pass ? "ok" : "not ok", file, group, max_abs);
    fflush(stdout);
    return pass ? 0 : 1;
}

static double max_diff(const float *ours, long n, const yv *stored, bool relative, double floor) {
    if (!stored || stored->kind != YV_TENSOR || yv_tensor_numel(&stored->tensor) != n) return INFINITY;
    double *ref = malloc(sizeof(double) * (n ? n : 1));
    if (!ref || yv_tensor_to_f64(&stored->tensor, ref) != YOLO_OK) {
        free(ref);
        return INFINITY;
    }
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - ref[i]);
        if (relative) d /= fmax(fabs(ref[i]), floor);
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    free(ref);
    return worst;
}

double golden_max_abs_diff(const float *ours, long n, const yv *stored) {
    return max_diff(ours, n, stored, false, 0);
}

double golden_max_rel_diff(const float *ours, long n, const yv *stored, double floor) {
    return max_diff(ours, n, stored, true, floor);
}

int golden_check_tensor(const char *file, const char *group, const float *ours, long n, const yv *stored,
                        double tol) {
    double d = golden_max_abs_diff(ours, n, stored);
    return golden_report(file, group, d, d <= tol);
}

/* Which checkers look at which golden file (several per file are allowed). */
static const struct {
    const char *file;
    golden_checker fn;
} checkers[] = {
    {"det_forward.pt", golden_det_forward},   {"seg_forward_loss.pt", golden_seg_forward},
    {"seg_forward_loss.pt", golden_seg_loss}, {"cls_forward_loss.pt", golden_cls_forward},
    {"cls_forward_loss.pt", golden_cls_loss}, {"cls_forward_loss.pt", golden_cls_topk},
    {"det_loss.pt", golden_det_loss},         {"det_assigner.pt", golden_det_assigner},
    {"det_optim.pt", golden_det_optim},       {"det_nms_metrics.pt", golden_det_nms_metrics},
    {"letterbox.pt", golden_letterbox},
};
#define N_CHECKERS (sizeof checkers / sizeof checkers[0])

/* Every file the checkers expect must be there: a missing one fails, naming it (an empty or missing
 * folder fails too). Files no checker knows are listed as skipped. */
int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: golden-check DIR\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        printf("not ok - missing: %s (cannot open the folder)\n", argv[1]);
        return 1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name), k = 0;
        if (len <= 3 || strcmp(e->d_name + len - 3, ".pt")) continue;
        while (k < N_CHECKERS && strcmp(checkers[k].file, e->d_name))
            k++;
        if (k == N_CHECKERS) printf("skip - %s: no checker for this file\n", e->d_name);
    }
    closedir(d);
    int failed = 0;
    for (size_t i = 0; i < N_CHECKERS; i++) {
        if (i > 0 && !strcmp(checkers[i - 1].file, checkers[i].file)) continue; /* read each file once */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], checkers[i].file);
        yv_doc *doc = NULL;
        yv *root = NULL;
        if (access(path, R_OK) != 0) {
            printf("not ok - missing: %s\n", path);
            failed++;
        } else if (ckpt_read(path, NULL, &doc, &root) != YOLO_OK) {
            printf("not ok - %s: %s\n", checkers[i].file, yolo_last_error());
            failed++;
        } else {
            for (size_t k = i; k < N_CHECKERS && !strcmp(checkers[k].file, checkers[i].file); k++)
                failed += checkers[k].fn(path, root) ? 1 : 0;
        }
        yv_doc_free(doc);
    }
    return failed ? 1 : 0;
}
