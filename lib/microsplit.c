/* A run's micro-batch and the world sizes that share it out (see include/yolo/microsplit.h). */
#include "yolo/microsplit.h"

#include <stddef.h>
#include <stdio.h>

/* "1, 2 or 4": the world sizes that split M micro-batches evenly. */
static void divisors(int M, char *out, size_t cap) {
    int d[64], n = 0;
    for (int k = 1; k <= M && n < 64; k++)
        if (M % k == 0) d[n++] = k;
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%d",
                                 i == 0       ? ""
                                 : i == n - 1 ? " or "
                                              : ", ",
                                 d[i]);
}

yolo_status microsplit_resolve(int batch, int world, int micro, int batch_before, const char *what,
                               int *out) {
    if (batch < 1 || world < 1)
        return yolo_error(YOLO_ERR_USAGE, "%s: batch=%d and world=%d must be positive", what, batch, world);
    if (micro <= 0) {
        /* a new run: its world size splits each batch */
        if (batch % world)
            return yolo_error(
                YOLO_ERR_USAGE,
                "batch=%d cannot be split evenly over world=%d ranks (give a batch that %d divides)", batch,
                world, world);
        micro = batch / world;
    } else if (micro == batch_before) {
        micro = batch; /* whole batches stay whole when batch= changes */
    }
    if (batch % micro)
        return yolo_error(
            YOLO_ERR_USAGE,
            "%s: batch=%d is not a whole number of the run's micro-batches of %d (give a multiple of "
            "%d)",
            what, batch, micro, micro);
    int M = batch / micro;
    if (M % world) {
        char ok[256];
        divisors(M, ok, sizeof ok);
        return yolo_error(
            YOLO_ERR_USAGE,
            "%s: world=%d cannot split the run's %d micro-batch%s of %d (batch %d) evenly (use world=%s%s)",
            what, world, M, M == 1 ? "" : "es", micro, batch, ok,
            M == 1 ? "; the run trains whole batches: start a new run with world=N, or micro_batch=" : "");
    }
    *out = micro;
    return YOLO_OK;
}
