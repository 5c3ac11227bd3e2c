/* Tiny TAP-style helpers for C tests: each CHECK prints "ok - ..." or "not ok - ...". */
#ifndef YOLO_TESTS_TAP_H
#define YOLO_TESTS_TAP_H
#include <stdio.h>
#include <stdlib.h>

static int tap_failures;

#define CHECK(cond, ...)                                                                               \
    do {                                                                                               \
        int tap_ok_ = (cond) ? 1 : 0; /* evaluated once: conditions may have side effects */           \
        printf(tap_ok_ ? "ok - " : "not ok - ");                                                       \
        if (!tap_ok_) tap_failures++;                                                                  \
        printf(__VA_ARGS__);                                                                           \
        if (!tap_ok_) printf("  [%s:%d: %s]", __FILE__, __LINE__, #cond);                              \
        printf("\n");                                                                                  \
        fflush(stdout);                                                                                \
    } while (0)

/* Path of the shared reference folder (../shared from the repo, or $SHARED). */
static inline const char *tap_shared(void) {
    const char *s = getenv("SHARED");
    return s ? s : "../shared";
}

#define TAP_DONE() return tap_failures ? 1 : 0
#endif
