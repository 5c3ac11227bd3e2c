/* Shared pieces of the raw-memory float kernels (lib/optim.c, lib/ema.c) that repeat libtorch's
 * elementwise arithmetic bit for bit: where a value must be rounded, which tensors they may walk, how
 * they are split across libtorch's threads, and the bitwise comparison their start-up probes use. */
#ifndef YOLO_FUSED_H
#define YOLO_FUSED_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/torch.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FUSED_X86 1
/* Rounds the vector where it stands: no multiply is contracted into a following add (an fma). */
#define KEEP_PS(v) __asm__("" : "+x"(v))
#endif

/* The same for one float. */
#define KEEP_F(v) fused_keep(&(v))
static inline void fused_keep(float *v) {
#if defined(FUSED_X86)
    __asm__("" : "+x"(*v));
#else
    volatile float t = *v;
    *v = t;
#endif
}

/* Elements per parallel chunk: ATen's grain, below which threads cost more than they save. */
#define FUSED_GRAIN 32768

/* A float32 CPU tensor whose memory the kernels may walk in index order; NULL otherwise. */
static inline float *fused_raw_f32(const torch_tensor *t) {
    return t && torch_dtype_of(t) == TORCH_F32 ? (float *)torch_data_ptr(t) : NULL;
}

/* Whether two tensors (or two NULLs) hold the same float32 bits. */
static inline bool fused_same_bits(const torch_tensor *a, const torch_tensor *b) {
    if (!a || !b) return !a && !b;
    int64_t n = torch_numel(a);
    if (n != torch_numel(b)) return false;
    float *x = malloc(sizeof(float) * (size_t)(n ? 2 * n : 1));
    bool same = x && !torch_copy_out(a, TORCH_F32, x, n) && !torch_copy_out(b, TORCH_F32, x + n, n) &&
                !memcmp(x, x + n, sizeof(float) * (size_t)n);
    free(x);
    return same;
}

#endif
