/* sgemm_ with the reference BLAS's arithmetic (include/yolo/blas.h says why it exists).
 *
 * The reference (LAPACK 3.11's sgemm.f, as Debian builds it: a float multiply, then a float add, no
 * fused multiply-add) computes each element of C in one of two ways:
 * - op(A) = A ("axpy form"): C(i,j) is first cleared (beta 0) or scaled by beta (beta not 1), then
 *   for l = 0..k-1 in turn C(i,j) = C(i,j) + t * A(i,l), where t = alpha * op(B)(l,j);
 * - op(A) = A' ("dot form"): s = 0, then for l = 0..k-1 in turn s = s + A(l,i) * op(B)(l,j), and
 *   C(i,j) = alpha * s (beta 0) or alpha * s + beta * C(i,j).
 * There is no skipping of zero terms (an infinity times a zero gives NaN, as there). Whatever the
 * blocking, each element goes through exactly these roundings, so the kernels below hold a tile of
 * C in registers and walk l in order: 16 rows (two 8-float vectors) by up to 6 columns, the rows past
 * m masked off. */
#include "yolo/blas.h"

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { MR = 16, NR = 6 };

typedef struct {
    bool trans_a, trans_b;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm;

/* op(B)(l, j) */
static inline float op_b(const gemm *g, int l, int j) {
    return g->trans_b ? g->b[j + (int64_t)l * g->ldb] : g->b[l + (int64_t)j * g->ldb];
}

static inline float *c_at(const gemm *g, int i, int j) {
    return g->c + i + (int64_t)j * g->ldc;
}

/* ---- the reference's loops, for machines without AVX2 (or when the packing buffer is not had) ---- */

static void axpy_plain(const gemm *g) {
    for (int j = 0; j < g->n; j++) {
        float *c = c_at(g, 0, j);
        for (int i = 0; i < g->m; i++)
            c[i] = g->beta == 0.0f ? 0.0f : g->beta != 1.0f ? g->beta * c[i] : c[i];
        for (int l = 0; l < g->k; l++) {
            float t = g->alpha * op_b(g, l, j);
            const float *a = g->a + (int64_t)l * g->lda;
            for (int i = 0; i < g->m; i++)
                c[i] = c[i] + t * a[i];
        }
    }
}

static void dot_plain(const gemm *g) {
    for (int j = 0; j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            const float *a = g->a + (int64_t)i * g->lda;
            float s = 0.0f;
            for (int l = 0; l < g->k; l++)
                s = s + a[l] * op_b(g, l, j);
            float *c = c_at(g, i, j);
            *c = g->beta == 0.0f ? g->alpha * s : g->alpha * s + g->beta * *c;
        }
}

/* ---- AVX2 tiles: rows i0..i0+15 (mask: the rows that exist), columns j0..j0+nr-1 ----
 * A row block's 16 rows of op(A) are first copied into k rows of 16 floats (pa), whichever the
 * form: the loads are then whole vectors, and the block stays in the first-level cache across its
 * tiles (A's own columns are often 4 KiB apart, where that cache holds only 8 of them). */

#define AVX2 __attribute__((target("avx2"), always_inline)) static inline

/* Row lanes 0..7 and 8..15 that are below m. */
AVX2 void row_masks(int rows, __m256i mask[2]) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    mask[0] = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), lane);
    mask[1] = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows - 8), lane);
}

/* The k terms of a tile, in order: acc[j] = acc[j] + t * pa[l] with t = op(B)(l, j0 + j), times alpha
 * in the axpy form (scale_b). The dot form's A(l,i) * B(l,j) is the same product (multiplication
 * commutes, to the bit). nr and scale_b are constants at each call, so that the tile stays in
 * registers and the branches go. */
AVX2 void tile_terms(const gemm *g, const float *pa, int j0, int nr, bool scale_b, __m256 acc[NR][2]) {
    const int64_t sl = g->trans_b ? g->ldb : 1, sj = g->trans_b ? 1 : g->ldb;
    const float *b = g->b + j0 * sj;
    const __m256 alpha = _mm256_set1_ps(g->alpha);
    for (int l = 0; l < g->k; l++, b += sl, pa += MR) {
        __m256 a0 = _mm256_loadu_ps(pa), a1 = _mm256_loadu_ps(pa + 8);
        for (int j = 0; j < nr; j++) {
            __m256 t = _mm256_set1_ps(b[j * sj]);
            if (scale_b) t = _mm256_mul_ps(alpha, t);
            acc[j][0] = _mm256_add_ps(acc[j][0], _mm256_mul_ps(t, a0));
            acc[j][1] = _mm256_add_ps(acc[j][1], _mm256_mul_ps(t, a1));
        }
    }
}

/* The axpy form: C cleared or scaled by beta, the terms added, C stored. */
AVX2 void axpy_tile(const gemm *g, const float *pa, int i0, int j0, int nr, bool scale_b,
                    const __m256i mask[2]) {
    __m256 acc[NR][2];
    const __m256 beta = _mm256_set1_ps(g->beta);
    for (int j = 0; j < nr; j++)
        for (int h = 0; h < 2; h++) {
            acc[j][h] = _mm256_setzero_ps();
            if (g->beta == 0.0f) continue;
            acc[j][h] = _mm256_maskload_ps(c_at(g, i0 + 8 * h, j0 + j), mask[h]);
            if (g->beta != 1.0f) acc[j][h] = _mm256_mul_ps(beta, acc[j][h]);
        }
    tile_terms(g, pa, j0, nr, scale_b, acc);
    for (int j = 0; j < nr; j++)
        for (int h = 0; h < 2; h++)
            _mm256_maskstore_ps(c_at(g, i0 + 8 * h, j0 + j), mask[h], acc[j][h]);
}

/* The dot form: the sums from zero, then C = alpha * sum (+ beta * C). */
AVX2 void dot_tile(const gemm *g, const float *pa, int i0, int j0, int nr, const __m256i mask[2]) {
    __m256 acc[NR][2];
    for (int j = 0; j < nr; j++)
        acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    tile_terms(g, pa, j0, nr, false, acc);
    const __m256 alpha = _mm256_set1_ps(g->alpha), beta = _mm256_set1_ps(g->beta);
    for (int j = 0; j < nr; j++)
        for (int h = 0; h < 2; h++) {
            float *c = c_at(g, i0 + 8 * h, j0 + j);
            __m256 v = _mm256_mul_ps(alpha, acc[j][h]);
            if (g->beta != 0.0f) v = _mm256_add_ps(v, _mm256_mul_ps(beta, _mm256_maskload_ps(c, mask[h])));
            _mm256_maskstore_ps(c, mask[h], v);
        }
}

/* Eight rows of 8 floats (at p[0], p[ld], ...) transposed into q[0], q[MR], ... */
AVX2 void transpose8(const float *p, int64_t ld, float *q) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(p + i * ld);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            r[i + h] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0x44);
            r[i + h + 2] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0xee);
        }
    /* r: 0 = rows 0-3 of columns 0,4; 2 = of 1,5; 1 = of 2,6; 3 = of 3,7 (and 4-7 for rows 4-7) */
    static const int col[4] = {0, 2, 1, 3};
    for (int c = 0; c < 4; c++) {
        _mm256_storeu_ps(q + c * MR, _mm256_permute2f128_ps(r[col[c]], r[col[c] + 4], 0x20));
        _mm256_storeu_ps(q + (c + 4) * MR, _mm256_permute2f128_ps(r[col[c]], r[col[c] + 4], 0x31));
    }
}

/* op(A)'s rows i0..i0+rows-1 as k rows of 16 floats (zeros below m). */
__attribute__((target("avx2"))) static void pack_rows(const gemm *g, float *pa, int i0, int rows) {
    if (!g->trans_a) { /* rows of op(A) are A's rows: 16 consecutive floats of each column */
        for (int l = 0; l < g->k; l++, pa += MR) {
            const float *src = g->a + i0 + (int64_t)l * g->lda;
            for (int r = 0; r < MR; r++)
                pa[r] = r < rows ? src[r] : 0.0f;
        }
        return;
    }
    /* rows of op(A) are A's columns: transposed 8 by 8 */
    int l8 = rows == MR ? g->k / 8 * 8 : 0;
    for (int l = 0; l < l8; l += 8)
        for (int h = 0; h < MR; h += 8)
            transpose8(g->a + l + (int64_t)(i0 + h) * g->lda, g->lda, pa + (int64_t)l * MR + h);
    for (int l = l8; l < g->k; l++)
        for (int r = 0; r < MR; r++)
            pa[(int64_t)l * MR + r] = r < rows ? g->a[l + (int64_t)(i0 + r) * g->lda] : 0.0f;
}

/* One block of 16 rows (or fewer), all columns, in tiles of NR columns (the last one narrower). */
__attribute__((target("avx2"))) static void block_rows(const gemm *g, float *pa, int i0) {
    int rows = g->m - i0 < MR ? g->m - i0 : MR;
    pack_rows(g, pa, i0, rows);
    __m256i mask[2];
    row_masks(rows, mask);
    bool scale_b = g->alpha != 1.0f;
    for (int j0 = 0; j0 < g->n; j0 += NR) {
        int nr = g->n - j0 < NR ? g->n - j0 : NR;
#define TILE(w)                                                                                              \
    case w:                                                                                                  \
        if (g->trans_a)                                                                                      \
            dot_tile(g, pa, i0, j0, w, mask);                                                                \
        else if (scale_b)                                                                                    \
            axpy_tile(g, pa, i0, j0, w, true, mask);                                                         \
        else                                                                                                 \
            axpy_tile(g, pa, i0, j0, w, false, mask);                                                        \
        break;
        switch (nr) {
            TILE(6)
            TILE(5)
            TILE(4)
            TILE(3)
            TILE(2)
            TILE(1)
        }
#undef TILE
    }
}

static bool have_avx2(void) {
    __builtin_cpu_init(); /* (a call from a constructor may come before libgcc's own) */
    return __builtin_cpu_supports("avx2");
}

static void gemm_run(const gemm *g) {
    if (!have_avx2()) {
        (g->trans_a ? dot_plain : axpy_plain)(g);
        return;
    }
    float *pa = malloc(sizeof(float) * MR * (size_t)(g->k ? g->k : 1));
    if (!pa) { /* the plain loops need no memory */
        (g->trans_a ? dot_plain : axpy_plain)(g);
        return;
    }
    for (int i0 = 0; i0 < g->m; i0 += MR)
        block_rows(g, pa, i0);
    free(pa);
}

/* ---- the entry point: the reference's argument checks and early returns ---- */

static int letter(const char *t) {
    char ch = (char)(*t | 0x20); /* LSAME: either case */
    return ch == 'n' ? 0 : ch == 't' || ch == 'c' ? 1 : -1;
}

static int at_least_1(int v) {
    return v > 1 ? v : 1;
}

void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc) {
    int ta = letter(transa), tb = letter(transb);
    gemm g = {ta == 1, tb == 1, *m, *n, *k, *lda, *ldb, *ldc, *alpha, *beta, a, b, c};
    int bad = ta < 0                                      ? 1
              : tb < 0                                    ? 2
              : g.m < 0                                   ? 3
              : g.n < 0                                   ? 4
              : g.k < 0                                   ? 5
              : g.lda < at_least_1(g.trans_a ? g.k : g.m) ? 8
              : g.ldb < at_least_1(g.trans_b ? g.n : g.k) ? 10
              : g.ldc < at_least_1(g.m)                   ? 13
                                                          : 0;
    if (bad) {
        fprintf(stderr, "Parameter %d to routine SGEMM  was incorrect\n", bad);
        return;
    }
    if (g.m == 0 || g.n == 0 || ((g.alpha == 0.0f || g.k == 0) && g.beta == 1.0f)) return;
    if (g.alpha == 0.0f) {
        for (int j = 0; j < g.n; j++)
            for (int i = 0; i < g.m; i++) {
                float *e = c_at(&g, i, j);
                *e = g.beta == 0.0f ? 0.0f : g.beta * *e;
            }
        return;
    }
    gemm_run(&g);
}
