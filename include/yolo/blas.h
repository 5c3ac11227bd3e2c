/* The BLAS matrix product libtorch's own kernels call, with the reference BLAS's values and speed
 * to spare (lib/blas.c).
 *
 * libtorch runs some of its work through the BLAS's sgemm_: the 1x1 convolutions of fewer than 16
 * images at one thread (its ConvParams::use_mkldnn keeps those from oneDNN), and its linear layers.
 * Debian's libtorch links the reference BLAS (LAPACK's), whose sgemm_ is a plain triple loop: a
 * 640 px image predicted at one thread spent 80% of its time there. This sgemm_ gives every element
 * of C the reference's operations in the reference's order, so its values are the reference's to the
 * bit (tests/test_blas.c compares them), and they do not depend on which BLAS the machine's
 * libblas.so.3 points to (OpenBLAS, say, rounds differently). Every program that links libtorch
 * defines it (lib/torch.cpp refers to it), and the dynamic linker then hands it libtorch's calls,
 * because it looks a symbol up in the program before the program's libraries. */
#ifndef YOLO_BLAS_H
#define YOLO_BLAS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Fortran's calling convention: every argument by address, column-major matrices.
 * C := alpha * op(A) * op(B) + beta * C, where op(X) is X ('N') or its transpose ('T' or 'C'), op(A)
 * m x k, op(B) k x n and C m x n. An invalid argument is named on stderr and C is left as it was,
 * as Debian's reference BLAS does. */
void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

#ifdef __cplusplus
}
#endif

#endif
