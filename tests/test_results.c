/* results.csv kept in the checkpoint: Ultralytics' columns, Python's round(x, 5), "%.6g" fields,
 * re-adding an epoch's row replaces it (and drops later rows) instead of duplicating it, and the
 * run-folder helpers of the lock module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/lock.h"
#include "yolo/results.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

int main(void) {
    int n = 0;
    const char *const *c = results_columns("detect", &n);
    CHECK(c && n == 15 && !strcmp(c[0], "epoch") && !strcmp(c[1], "time") && !strcmp(c[14], "lr/pg2"),
          "detect has 15 columns, epoch,time ... lr/pg2");
    c = results_columns("segment", &n);
    CHECK(c && n == 21 && !strcmp(c[3], "train/seg_loss") && !strcmp(c[13], "metrics/mAP50-95(M)"),
          "segment columns");
    c = results_columns("classify", &n);
    CHECK(c && n == 9 && !strcmp(c[3], "metrics/accuracy_top1") && !strcmp(c[5], "val/loss"),
          "classify columns");
    CHECK(!results_columns("pose", &n), "unknown task has no columns");

    /* Python: round(0.123455, 5) == 0.12345 (the double is just below the tie), round(2.675, 2) style */
    CHECK(results_round5(0.123455) == 0.12345, "round5 follows the exact binary value (0.123455 -> 0.12345)");
    CHECK(results_round5(1.000005) == 1.00001, "round5(1.000005) == 1.00001 as Python");
    CHECK(results_round5(6.264381234) == 6.26438, "round5 of a loss");

    yv_doc *doc = yv_doc_new();
    yv *tr = yv_new_dict(doc);
    double r1[9] = {1, 1.5, 2.25849, 0.125, 0.5, 2.30326, 2.142e-05, 2.142e-05, 2.142e-05};
    double r2[9] = {2, 3.0, 2.1, 0.25, 0.625, 2.2, 4e-05, 4e-05, 4e-05};
    CHECK(results_add_row(doc, tr, "classify", r1, 9) == YOLO_OK, "add row 1");
    CHECK(results_add_row(doc, tr, "classify", r2, 9) == YOLO_OK, "add row 2");
    CHECK(results_row_count(tr) == 2, "two rows");
    r2[2] = 1.9;
    CHECK(results_add_row(doc, tr, "classify", r2, 9) == YOLO_OK && results_row_count(tr) == 2,
          "re-adding epoch 2 replaces its row");
    CHECK(results_add_row(doc, tr, "classify", r1, 9) == YOLO_OK && results_row_count(tr) == 1,
          "re-adding epoch 1 drops the later row");
    CHECK(results_add_row(doc, tr, "classify", r2, 8) == YOLO_ERR_USAGE, "a short row is refused");
    CHECK(results_add_row(doc, tr, "classify", r2, 9) == YOLO_OK, "add row 2 again");

    char dir[] = "/tmp/test_results.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temp folder");
    char path[256];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    CHECK(results_write_csv(path, tr) == YOLO_OK, "write results.csv");
    const char *want =
        "epoch,time,train/loss,metrics/accuracy_top1,metrics/accuracy_top5,val/loss,lr/pg0,lr/pg1,lr/pg2\n"
        "1,1.5,2.25849,0.125,0.5,2.30326,2.142e-05,2.142e-05,2.142e-05\n"
        "2,3,1.9,0.25,0.625,2.2,4e-05,4e-05,4e-05\n";
    const char *got = slurp(path);
    CHECK(got && !strcmp(got, want), "results.csv is Ultralytics' format (%%.6g, no padding)");
    if (got && strcmp(got, want)) printf("# got:\n%s", got);
    unlink(path);

    /* the run folder of a checkpoint is the real path of RUN in RUN/weights/X.pt (else the file's
     * folder): every alias of a run names it, so that they share one lock and one results.csv */
    char rd[4096], wantd[4200], cwd[2048];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "working folder");
    lock_run_dir("runs/detect/train/weights/last.pt", rd, sizeof rd);
    snprintf(wantd, sizeof wantd, "%s/runs/detect/train", cwd);
    CHECK(!strcmp(rd, wantd), "run folder of RUN/weights/last.pt (not made yet): %s", rd);
    lock_run_dir("weights/last.pt", rd, sizeof rd);
    CHECK(!strcmp(rd, cwd), "run folder of weights/last.pt is the working folder: %s", rd);
    lock_run_dir("last.pt", rd, sizeof rd);
    CHECK(!strcmp(rd, cwd), "run folder of a bare file is the working folder: %s", rd);
    char *real = realpath(dir, NULL);
    CHECK(real && strlen(real) < 2048, "real path of the temp folder");
    char run[4200], alias[4300];
    snprintf(run, sizeof run, "%s/R", dir);
    snprintf(alias, sizeof alias, "%s/R/weights", dir);
    CHECK(mkdir(run, 0755) == 0 && mkdir(alias, 0755) == 0, "R/weights made");
    snprintf(alias, sizeof alias, "%s/L", dir);
    char target[4300];
    snprintf(target, sizeof target, "%s/R/weights", dir);
    CHECK(symlink(target, alias) == 0, "L -> R/weights");
    snprintf(wantd, sizeof wantd, "%s/R", real);
    const char *aliases[] = {"R/weights/last.pt",   "R/weights//last.pt",     "R/weights/./last.pt",
                             "R/./weights/last.pt", "R/../R/weights/last.pt", "L/last.pt"};
    bool all = true;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        snprintf(alias, sizeof alias, "%s/%s", dir, aliases[i]);
        lock_run_dir(alias, rd, sizeof rd);
        if (strcmp(rd, wantd)) {
            printf("# %s -> %s\n", aliases[i], rd);
            all = false;
        }
    }
    CHECK(all,
          "R/weights/last.pt, R/weights//last.pt, R/weights/./last.pt, ..., and a symlink to R/weights all "
          "name %s",
          wantd);
    snprintf(alias, sizeof alias, "%s/x/last.pt", dir);
    snprintf(wantd, sizeof wantd, "%s/x", real);
    lock_run_dir(alias, rd, sizeof rd);
    CHECK(!strcmp(rd, wantd), "run folder of a checkpoint outside weights/ is its folder: %s", rd);
    free(real);
    snprintf(alias, sizeof alias, "%s/L", dir);
    unlink(alias);
    rmdir(target);
    rmdir(run);

    run_lock *l1 = NULL, *l2 = NULL;
    CHECK(lock_acquire(dir, &l1) == YOLO_OK, "first lock");
    /* flock is per open file: a second open in the same process conflicts like another process */
    yolo_status st = lock_acquire(dir, &l2);
    CHECK(st == YOLO_ERR_LOCKED && strstr(yolo_last_error(), "another trainer (pid "),
          "second lock refused: %s", yolo_last_error());
    lock_release(l1);
    CHECK(lock_acquire(dir, &l2) == YOLO_OK, "lock again after release");
    lock_release(l2);
    snprintf(path, sizeof path, "%s/.lock", dir);
    unlink(path);
    rmdir(dir);
    yv_doc_free(doc);
    TAP_DONE();
}
