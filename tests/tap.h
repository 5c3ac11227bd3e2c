/* Tiny TAP-style helpers for C tests: each CHECK prints "ok - ..." or "not ok - ...". */
#ifndef YOLO_TESTS_TAP_H
#define YOLO_TESTS_TAP_H
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        int tap_ok_ = (cond) ? 1 : 0; /* evaluated once: conditions may have side effects */                 \
        printf(tap_ok_ ? "ok - " : "not ok - ");                                                             \
        if (!tap_ok_) tap_failures++;                                                                        \
        printf(__VA_ARGS__);                                                                                 \
        if (!tap_ok_) printf("  [%s:%d: %s]", __FILE__, __LINE__, #cond);                                    \
        printf("\n");                                                                                        \
        fflush(stdout);                                                                                      \
    } while (0)

/* The project's test data (tests/data; tests/run exports it as $DATA). */
static inline const char *tap_data(void) {
    const char *s = getenv("DATA");
    return s ? s : "tests/data";
}

/* PATH = tap_data()/REL. Missing or unreadable test data is a failure, never a skip:
 * prints "not ok - missing: PATH" and returns 0. */
static inline int tap_data_path(char *path, size_t cap, const char *rel) {
    snprintf(path, cap, "%s/%s", tap_data(), rel);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return 1;
    }
    printf("not ok - missing: %s\n", path);
    tap_failures++;
    return 0;
}

#define TAP_DONE() return tap_failures ? 1 : 0

/* A fixed xorshift sequence of doubles in [0,1): every run of a test draws the same values. */
static uint64_t tap_rng = 88172645463325252ull;
static inline double tap_unit(void) {
    tap_rng ^= tap_rng << 13, tap_rng ^= tap_rng >> 7, tap_rng ^= tap_rng << 17;
    return (double)(tap_rng >> 11) / 9007199254740992.0;
}

/* n floats of mixed magnitude (scale times e^-1.5 to e^1.5, either sign), 4% of them 0 and 2% -0; with
 * specials, 1% infinities of either sign and 1% NaNs besides. */
static inline void tap_fill(float *v, size_t n, double scale, bool specials) {
    for (size_t i = 0; i < n; i++) {
        double u = tap_unit();
        v[i] = u < 0.04               ? 0.0f
               : u < 0.06             ? -0.0f
               : specials && u < 0.07 ? (tap_unit() < 0.5 ? INFINITY : -INFINITY)
               : specials && u < 0.08 ? NAN
                                      : (float)(scale * (2 * tap_unit() - 1) * exp(3 * tap_unit() - 1.5));
    }
}
/* The whole file, NUL-terminated (so text can be read as a string); NULL when it cannot be read. */
static inline unsigned char *tap_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) == (size_t)n) {
        p[n] = 0;
        *len = (size_t)n;
    } else {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

#endif
