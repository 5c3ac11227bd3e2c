/* Deterministic, counter-based random numbers.
 *
 * A generator is a key (a hash of seed, epoch, index and stream id) plus a counter: the k-th draw is a
 * pure function of (key, k), computed with 64-bit integer arithmetic only. So sample i of epoch e gets the
 * same numbers on any machine, in any process, in any order of work, which is what exact resume and
 * sharding rely on. Floating-point draws are built from integers by exact conversions; rng_normal and
 * rng_gamma use libm (log, sqrt, cos), which glibc computes identically everywhere we run.
 *
 * Not for cryptography. */
#ifndef YOLO_RNG_H
#define YOLO_RNG_H

#include <stdint.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stream ids: independent generators for the different uses of one (seed, epoch, index). */
enum {
    RNG_STREAM_SHUFFLE = 1, /* the per-epoch permutation of the dataset */
    RNG_STREAM_AUGMENT = 2, /* the training transform chain of one sample */
    RNG_STREAM_MIXUP = 3,   /* the partner chain of MixUp */
    RNG_STREAM_CLASSIFY = 4,
    RNG_STREAM_TRAIN = 5,  /* trainer-side randomness (dropout etc.), if any */
    RNG_STREAM_USER = 100, /* first id free for other uses */
};

typedef struct {
    uint64_t key;
    uint64_t counter;
} rng;

/* Seeds r from (seed, epoch, index, stream). Distinct tuples give unrelated streams. */
void rng_init(rng *r, uint64_t seed, uint64_t epoch, uint64_t index, uint64_t stream);
/* A child generator for a sub-task (e.g. a mosaic partner), derived from r's key and tag; r is unchanged. */
void rng_fork(const rng *r, uint64_t tag, rng *child);

uint64_t rng_u64(rng *r);
uint32_t rng_u32(rng *r);
/* Uniform in [0, 1): 53 random bits (double) or 24 random bits (float). */
double rng_double(rng *r);
float rng_float(rng *r);
/* Uniform in [lo, hi) (lo + (hi-lo)*u, as numpy's uniform). */
double rng_uniform(rng *r, double lo, double hi);
/* Uniform integer in [lo, hi] inclusive, unbiased (rejection). hi < lo returns lo. */
int64_t rng_int(rng *r, int64_t lo, int64_t hi);
/* True with probability p (u < p, so p <= 0 never and p >= 1 always). */
int rng_bernoulli(rng *r, double p);
/* Standard normal (Box-Muller, one value per call; uses two draws). */
double rng_normal(rng *r);
/* Gamma(shape, 1) (Marsaglia-Tsang) and Beta(a, b) = X/(X+Y). Draw counts vary (rejection). */
double rng_gamma(rng *r, double shape);
double rng_beta(rng *r, double a, double b);

/* Fisher-Yates permutation of 0..n-1 into perm, drawn from (seed, epoch, RNG_STREAM_SHUFFLE). */
yolo_status rng_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm);
/* In-place Fisher-Yates shuffle of n int64 values with r. */
void rng_shuffle(rng *r, int64_t *v, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
