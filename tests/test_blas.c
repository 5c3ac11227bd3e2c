/* lib/blas.c's sgemm_ against the reference BLAS (Debian's libblas3, the one libtorch-dev brings),
 * bit for bit: every transpose pair, in both letter cases, alpha and beta at 0, 1 and other values,
 * sizes on both sides of the 16-row blocks, the 6-column tiles and the 8-by-8 transposes, leading
 * dimensions larger than the matrices (whose padding must stay as it was), zeros of both signs, and
 * infinities and NaNs (a NaN only has to be a NaN). A C that beta 0 must not read holds NaNs. Then
 * that a program linking libtorch hands libtorch's calls to it: a 1x1 convolution of 2 images at one
 * thread, which libtorch runs as one product per image, equals the reference's products. Last, an
 * invalid argument. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/blas.h"
#include "yolo/torch.h"

typedef void gemm_fn(const char *, const char *, const int *, const int *, const int *, const float *,
                     const float *, const int *, const float *, const int *, const float *, float *,
                     const int *);

/* Debian's reference BLAS; libblas.so.3 itself may point to another (alternatives). */
#define REFERENCE "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"

/* Equal bits, or both NaN. */
static bool same(const float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(x + i, y + i, sizeof *x) && !(isnan(x[i]) && isnan(y[i]))) return false;
    return true;
}

typedef struct {
    char ta, tb;
    int m, n, k;
    float alpha, beta;
    bool specials;
} call;

/* One call to both, on the same inputs; true when C (padding included) comes out the same. */
static bool agree(gemm_fn *ref, call c) {
    int ra = c.ta == 'N' || c.ta == 'n' ? c.m : c.k, ca = c.ta == 'N' || c.ta == 'n' ? c.k : c.m;
    int rb = c.tb == 'N' || c.tb == 'n' ? c.k : c.n, cb = c.tb == 'N' || c.tb == 'n' ? c.n : c.k;
    int lda = (ra > 1 ? ra : 1) + (int)(tap_unit() * 3), ldb = (rb > 1 ? rb : 1) + (int)(tap_unit() * 3),
        ldc = (c.m > 1 ? c.m : 1) + (int)(tap_unit() * 3);
    size_t na = (size_t)lda * (ca ? ca : 1), nb = (size_t)ldb * (cb ? cb : 1),
           nc = (size_t)ldc * (c.n ? c.n : 1);
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
    float *c1 = malloc(sizeof(float) * nc), *c2 = malloc(sizeof(float) * nc);
    tap_fill(a, na, 1, c.specials), tap_fill(b, nb, 1, c.specials), tap_fill(c1, nc, 1, false);
    if (c.beta == 0.0f)
        for (size_t i = 0; i < nc; i += 2)
            c1[i] = NAN;
    memcpy(c2, c1, sizeof(float) * nc);
    const char ta[2] = {c.ta, 0}, tb[2] = {c.tb, 0};
    ref(ta, tb, &c.m, &c.n, &c.k, &c.alpha, a, &lda, b, &ldb, &c.beta, c1, &ldc);
    sgemm_(ta, tb, &c.m, &c.n, &c.k, &c.alpha, a, &lda, b, &ldb, &c.beta, c2, &ldc);
    bool ok = same(c1, c2, nc);
    free(a), free(b), free(c1), free(c2);
    return ok;
}

static const int sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64};
#define NSIZES ((int)(sizeof sizes / sizeof *sizes))
static const char *pairs[] = {"NN", "NT", "TN", "TT", "nt", "tn", "CN", "NC"};
static const float alphas[] = {1.0f, 0.0f, -0.5f, 2.5f}, betas[] = {0.0f, 1.0f, 0.75f, -1.0f};

int main(void) {
    void *h = dlopen(REFERENCE, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "the reference BLAS opens: %s (Debian package libblas3)", h ? REFERENCE : dlerror());
    if (!h) TAP_DONE();
    gemm_fn *ref = (gemm_fn *)dlsym(h, "sgemm_");
    CHECK(ref != NULL && ref != sgemm_, "the reference has its own sgemm_");
    if (!ref) TAP_DONE();

    for (int p = 0; p < 8; p++) {
        int calls = 0, bad = 0;
        for (int i = 0; i < NSIZES; i++)
            for (int j = 0; j < NSIZES; j++)
                for (int l = 0; l < NSIZES; l += 1 + (i + j) % 3) {
                    call c = {pairs[p][0],
                              pairs[p][1],
                              sizes[i],
                              sizes[j],
                              sizes[l],
                              alphas[(i + l) % 4],
                              betas[(j + l + p) % 4],
                              false};
                    calls++;
                    if (!agree(ref, c)) {
                        if (!bad++)
                            printf("# first difference: %c%c m=%d n=%d k=%d alpha=%g beta=%g\n", c.ta, c.tb,
                                   c.m, c.n, c.k, c.alpha, c.beta);
                    }
                }
        CHECK(bad == 0,
              "%s: the reference's bits in %d of %d calls (sizes 0-64, alpha and beta 0, 1 and others)",
              pairs[p], calls - bad, calls);
    }

    /* the shapes of libtorch's 1x1 convolutions (output pixels x channels, forward and both backwards),
     * and infinities and NaNs among the values */
    static const call big[] = {
        {'N', 'N', 1024, 48, 32, 1, 0, false},  {'N', 'T', 256, 96, 64, 1, 0, false},
        {'T', 'N', 64, 128, 1024, 1, 1, false}, {'N', 'N', 16, 256, 384, 1, 1, false},
        {'T', 'N', 384, 256, 16, 1, 1, false},  {'T', 'T', 37, 29, 300, -1.5f, 0.5f, false},
        {'N', 'N', 45, 23, 40, 1, 0, true},     {'T', 'N', 45, 23, 40, 1, 1, true},
        {'N', 'T', 45, 23, 40, 2, 0.5f, true},  {'T', 'T', 45, 23, 40, 1, 0, true},
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        CHECK(agree(ref, big[i]), "%c%c m=%d n=%d k=%d alpha=%g beta=%g%s: the reference's bits", big[i].ta,
              big[i].tb, big[i].m, big[i].n, big[i].k, big[i].alpha, big[i].beta,
              big[i].specials ? " (infinities and NaNs)" : "");

    /* libtorch's calls: the lookup the dynamic linker does for libtorch finds this program's */
    CHECK(dlsym(RTLD_DEFAULT, "sgemm_") == (void *)sgemm_,
          "the program's sgemm_ is the one its libraries get");

    /* libtorch's native convolution: output[img] (HW x Cout, column-major) = x[img] (HW x Cin) * w' */
    enum { IMGS = 2, CIN = 24, COUT = 40, HW = 10 * 10 };
    static float x[IMGS * CIN * HW], w[COUT * CIN], y[IMGS * COUT * HW], want[IMGS * COUT * HW];
    tap_fill(x, IMGS * CIN * HW, 1, false), tap_fill(w, COUT * CIN, 1, false);
    torch_tensor *tx = NULL, *tw = NULL, *ty = NULL;
    int64_t xs[4] = {IMGS, CIN, 10, 10}, ws[4] = {COUT, CIN, 1, 1};
    yolo_status st = torch_set_threads(1);
    if (st == YOLO_OK) st = torch_from_data(x, TORCH_F32, 4, xs, &tx);
    if (st == YOLO_OK) st = torch_from_data(w, TORCH_F32, 4, ws, &tw);
    if (st == YOLO_OK) st = torch_conv2d(tx, tw, NULL, 1, 0, 1, 1, &ty);
    if (st == YOLO_OK) st = torch_copy_out(ty, TORCH_F32, y, IMGS * COUT * HW);
    CHECK(st == YOLO_OK, "libtorch's 1x1 convolution of %d images at one thread runs: %s", IMGS,
          st == YOLO_OK ? "yes" : yolo_last_error());
    int hw = HW, cin = CIN, cout = COUT;
    float one_ = 1, zero_ = 0;
    for (int i = 0; i < IMGS; i++)
        ref("N", "N", &hw, &cout, &cin, &one_, x + i * CIN * HW, &hw, w, &cin, &zero_, want + i * COUT * HW,
            &hw);
    CHECK(st == YOLO_OK && !memcmp(y, want, sizeof y),
          "its output is the reference BLAS's products, to the bit");
    torch_free(tx), torch_free(tw), torch_free(ty);

    /* an invalid argument: C stays as it was */
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 1, 1, 1}, cc[4] = {7, 7, 7, 7}, one = 1, zero = 0;
    int m = 2, n = 2, k = 2, small = 1;
    sgemm_("N", "N", &m, &n, &k, &one, a, &small, b, &k, &zero, cc, &m);
    CHECK(cc[0] == 7 && cc[3] == 7, "lda below m: C unchanged");
    sgemm_("X", "N", &m, &n, &k, &one, a, &m, b, &k, &zero, cc, &m);
    CHECK(cc[0] == 7 && cc[3] == 7, "an unknown transpose letter: C unchanged");
    TAP_DONE();
}
