#include "yolo/rng.h"

#include <math.h>

/* splitmix64's finaliser: a bijective mix with good avalanche, so mix(key + k * gamma) is a usable
 * counter-based generator (it is exactly how splitmix64 produces its k-th output). */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

/* Absorbs one word into a key. Mixing after every word keeps (a, b) and (b, a) apart. */
static uint64_t absorb(uint64_t key, uint64_t word) {
    return mix64(key ^ mix64(word + GOLDEN_GAMMA));
}

void rng_init(rng *r, uint64_t seed, uint64_t epoch, uint64_t index, uint64_t stream) {
    uint64_t k = 0x6a09e667f3bcc909ULL; /* arbitrary nonzero start */
    k = absorb(k, seed);
    k = absorb(k, epoch);
    k = absorb(k, index);
    k = absorb(k, stream);
    r->key = k;
    r->counter = 0;
}

void rng_fork(const rng *r, uint64_t tag, rng *child) {
    child->key = absorb(absorb(r->key, 0xf0f0f0f0ULL), tag);
    child->counter = 0;
}

uint64_t rng_u64(rng *r) {
    uint64_t c = r->counter++;
    return mix64(r->key + (c + 1) * GOLDEN_GAMMA);
}

uint32_t rng_u32(rng *r) {
    return (uint32_t)(rng_u64(r) >> 32);
}

double rng_double(rng *r) {
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

float rng_float(rng *r) {
    return (float)(rng_u64(r) >> 40) * 0x1.0p-24f;
}

double rng_uniform(rng *r, double lo, double hi) {
    return lo + (hi - lo) * rng_double(r);
}

int64_t rng_int(rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* number of values - 1 */
    if (span == UINT64_MAX) return (int64_t)rng_u64(r);
    uint64_t n = span + 1;
    /* Reject the top partial block so every value is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
    uint64_t x;
    do
        x = rng_u64(r);
    while (x > limit);
    return (int64_t)((uint64_t)lo + x % n);
}

int rng_bernoulli(rng *r, double p) {
    return rng_double(r) < p;
}

double rng_normal(rng *r) {
    /* 1 - u is in (0, 1], so the log is finite. */
    double u1 = 1.0 - rng_double(r);
    double u2 = rng_double(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double rng_gamma(rng *r, double shape) {
    if (shape <= 0) return 0;
    if (shape < 1) {
        /* Boost: Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u = 1.0 - rng_double(r);
        return rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = 1.0 - rng_double(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double rng_beta(rng *r, double a, double b) {
    double x = rng_gamma(r, a), y = rng_gamma(r, b);
    return x + y > 0 ? x / (x + y) : 0.5;
}

void rng_shuffle(rng *r, int64_t *v, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rng_int(r, 0, i);
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

yolo_status rng_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm) {
    if (n < 0) return yolo_error(YOLO_ERR_USAGE, "rng: negative permutation size %lld", (long long)n);
    if (n > 0 && !perm) return yolo_error(YOLO_ERR_USAGE, "rng: no output for the permutation");
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    rng r;
    rng_init(&r, seed, epoch, 0, RNG_STREAM_SHUFFLE);
    rng_shuffle(&r, perm, n);
    return YOLO_OK;
}
