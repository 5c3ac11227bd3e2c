/* golden-check DIR: checks every golden file in DIR against our implementation.
 * One line per file and tensor group with the largest absolute difference. Exit 1 if any failed. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    {"det_forward.pt", golden_det_forward},
    {"seg_forward_loss.pt", golden_seg_forward},
    {"seg_forward_loss.pt", golden_seg_loss},
    {"cls_forward_loss.pt", golden_cls_forward},
    {"cls_forward_loss.pt", golden_cls_loss},
    {"cls_forward_loss.pt", golden_cls_topk},
    {"det_loss.pt", golden_det_loss},
    {"det_assigner.pt", golden_det_assigner},
    {"det_optim.pt", golden_det_optim},
    {"det_nms_metrics.pt", golden_det_nms_metrics},
    {"letterbox.pt", golden_letterbox},
};
#define N_CHECKERS (sizeof checkers / sizeof checkers[0])

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: golden-check DIR\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "golden-check: %s: cannot open folder\n", argv[1]);
        return 1;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".pt")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int have = 0;
        for (size_t k = 0; k < N_CHECKERS; k++)
            have += !strcmp(checkers[k].file, names[i]) && checkers[k].fn;
        if (!have) {
            printf("skip - %s: no checker yet\n", names[i]);
            free(names[i]);
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        yv_doc *doc = NULL;
        yv *root = NULL;
        yolo_status st = ckpt_read(path, NULL, &doc, &root);
        if (st != YOLO_OK) {
            printf("not ok - %s: %s\n", names[i], yolo_last_error());
            failed++;
        } else {
            for (size_t k = 0; k < N_CHECKERS; k++)
                if (!strcmp(checkers[k].file, names[i]) && checkers[k].fn)
                    failed += checkers[k].fn(path, root) ? 1 : 0;
        }
        yv_doc_free(doc);
        free(names[i]);
    }
    return failed ? 1 : 0;
}
