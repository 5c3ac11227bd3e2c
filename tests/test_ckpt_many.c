/* ckpt_write_many: one file written and synced once, the other paths hard links to it (a copy on
 * another file system), byte-identical to what ckpt_write gives for the last name, and a failing
 * path leaving every file in place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/value.h"

static char dir[256];

static const char *at(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static bool same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    unsigned char *x = tap_slurp(a, &la), *y = tap_slurp(b, &lb);
    bool same = x && y && la == lb && la > 0 && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* A small checkpoint-like tree: two tensors sharing nothing, one viewing another's storage. */
static yv *make_root(yv_doc *doc) {
    yv *d = yv_new_dict(doc);
    int64_t shape[2] = {3, 5};
    yv *a = yv_new_tensor(doc, YDT_F32, 2, shape), *b = yv_new_tensor(doc, YDT_I64, 1, shape);
    float *pa = yv_tensor_data(&a->tensor);
    int64_t *pb = yv_tensor_data(&b->tensor);
    for (int i = 0; i < 15; i++)
        pa[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 3; i++)
        pb[i] = 1000 + i;
    int64_t row[1] = {5}, stride[1] = {1};
    yv *view = yv_new_tensor_view(doc, a->tensor.storage, YDT_F32, 1, row, stride, 5);
    yv_dict_set(doc, d, "epoch", yv_new_int(doc, 3));
    yv_dict_set(doc, d, "weights", a);
    yv_dict_set(doc, d, "counts", b);
    yv_dict_set(doc, d, "row1", view);
    yv_dict_set(doc, d, "name", yv_new_str(doc, "yolov8n"));
    return d;
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_ckpt_many.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("not ok - cannot make a temporary folder\n");
        return 1;
    }
    yv_doc *doc = yv_doc_new();
    yv *root = make_root(doc);

    char p0[512], p1[512], p2[512];
    snprintf(p0, sizeof p0, "%s", at("best.pt"));
    snprintf(p1, sizeof p1, "%s", at("epoch7.pt"));
    snprintf(p2, sizeof p2, "%s", at("last.pt"));
    const char *paths[3] = {p0, p1, p2};
    CHECK(ckpt_write_many(paths, 3, root) == YOLO_OK, "write_many to best.pt, epoch7.pt, last.pt");
    mkdir(at("single"), 0755);
    CHECK(ckpt_write(at("single/last.pt"), root) == YOLO_OK && same_file(at("single/last.pt"), p2),
          "last.pt from write_many is byte-identical to ckpt_write's");
    struct stat s0, s1, s2;
    CHECK(stat(p0, &s0) == 0 && stat(p1, &s1) == 0 && stat(p2, &s2) == 0 && s0.st_ino == s2.st_ino &&
              s1.st_ino == s2.st_ino && s2.st_nlink == 3,
          "best.pt and epoch7.pt are hard links to last.pt (written once)");
    const char *names[3] = {"best.pt", "epoch7.pt", "last.pt"};
    for (int i = 0; i < 3; i++) {
        yv_doc *d2 = NULL;
        yv *r2 = NULL;
        bool ok = ckpt_read(paths[i], NULL, &d2, &r2) == YOLO_OK;
        const yv *w = ok ? yv_dict_get(r2, "weights") : NULL, *v = ok ? yv_dict_get(r2, "row1") : NULL;
        const float *pw = w ? yv_tensor_data(&w->tensor) : NULL, *pv = v ? yv_tensor_data(&v->tensor) : NULL;
        const yv *c = ok ? yv_dict_get(r2, "counts") : NULL;
        const int64_t *pc = c ? yv_tensor_data(&c->tensor) : NULL;
        CHECK(pw && pv && pc && pw[14] == 2.5f && pv[0] == 0.25f && pc[2] == 1002 &&
                  w->tensor.storage == v->tensor.storage,
              "%s reads back: values, int64 data and the shared storage", names[i]);
        yv_doc_free(d2);
    }
    CHECK(ckpt_verify(paths[1]) == YOLO_OK, "epoch7.pt verifies (every CRC)");
    size_t n = 0;
    unsigned char *b = tap_slurp(paths[0], &n);
    CHECK(b && n > 40 && memcmp(b + 30, "last/data.pkl", 13) == 0,
          "best.pt's archive folder is last/ (the file written)");
    free(b);

    /* Another file system: no link, a full copy named after its own file. */
    struct stat shm;
    char other[512];
    snprintf(other, sizeof other, "/dev/shm/test_ckpt_many.%d.pt", (int)getpid());
    if (stat("/dev/shm", &shm) == 0 && shm.st_dev != s2.st_dev && access("/dev/shm", W_OK) == 0) {
        const char *cross[2] = {other, at("cross.pt")};
        CHECK(ckpt_write_many(cross, 2, root) == YOLO_OK, "write_many across file systems");
        b = tap_slurp(other, &n);
        CHECK(b && n > 40 && memcmp(b + 30, "test_ckpt_many.", 15) == 0 && ckpt_verify(other) == YOLO_OK,
              "the copy on the other file system is whole and named after itself");
        free(b);
        unlink(other);
        unlink(at("cross.pt"));
    } else {
        printf("skip - /dev/shm is not another writable file system here\n");
    }

    /* The second path cannot be written: nothing was renamed yet, so every file keeps its old contents. */
    yv_dict_set(doc, root, "epoch", yv_new_int(doc, 4));
    char missing[512];
    snprintf(missing, sizeof missing, "%s", at("missing/epoch8.pt"));
    const char *bad[3] = {p0, missing, p2};
    size_t before = 0;
    unsigned char *old = tap_slurp(at("last.pt"), &before);
    yolo_status st = ckpt_write_many(bad, 3, root);
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "missing/epoch8.pt"),
          "a missing folder fails naming the file: %s", yolo_last_error());
    size_t after = 0;
    unsigned char *now = tap_slurp(at("last.pt"), &after);
    CHECK(old && now && before == after && memcmp(old, now, before) == 0,
          "last.pt after the failing path is unchanged");
    free(old);
    free(now);
    yv_doc *d3 = NULL;
    yv *r3 = NULL;
    int64_t ep = 0;
    CHECK(ckpt_read(at("last.pt"), NULL, &d3, &r3) == YOLO_OK && yv_as_int(yv_dict_get(r3, "epoch"), &ep) &&
              ep == 3,
          "last.pt still holds epoch 3");
    yv_doc_free(d3);
    d3 = NULL;
    ep = 0;
    CHECK(ckpt_read(at("best.pt"), NULL, &d3, &r3) == YOLO_OK && yv_as_int(yv_dict_get(r3, "epoch"), &ep) &&
              ep == 3,
          "best.pt (before the failing path) still holds epoch 3");
    yv_doc_free(d3);
    /* Files were synced and renamed only after all were written: no temporary is left behind. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^\\.' > /dev/null", dir);
    CHECK(system(cmd) != 0, "no temporary files left in the folder");

    CHECK(ckpt_write_many(NULL, 0, root) == YOLO_OK, "no paths: nothing to do");
    yv_doc_free(doc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    TAP_DONE();
}
