/* ModelEMA (see include/yolo/ema.h). The update is written as Ultralytics writes it,
 * v *= d; v += (1 - d) * model, two roundings per element that a fused form would not reproduce. */
#include "yolo/ema.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "yolo/torch_train.h"

struct ema {
    int n;
    char **names;
    torch_tensor **t;
    int64_t updates;
    double max_decay, tau;
};

static bool is_floating(torch_dtype dt) {
    return dt == TORCH_F32 || dt == TORCH_F16 || dt == TORCH_BF16 || dt == TORCH_F64;
}

yolo_status ema_new(const char *const *names, const torch_tensor *const *state, int n, ema **out) {
    if (!out || n < 0 || (n && (!names || !state))) return yolo_error(YOLO_ERR_USAGE, "ema: bad arguments");
    ema *e = calloc(1, sizeof *e);
    if (!e) return yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
    e->max_decay = 0.9999;
    e->tau = 2000;
    e->names = calloc((size_t)(n ? n : 1), sizeof *e->names);
    e->t = calloc((size_t)(n ? n : 1), sizeof *e->t);
    if (!e->names || !e->t) {
        ema_free(e);
        return yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
    }
    e->n = n;
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    for (int i = 0; i < n && st == YOLO_OK; i++) {
        if (!(e->names[i] = strdup(names[i] ? names[i] : "")))
            st = yolo_error(YOLO_ERR_NOMEM, "ema: out of memory");
        if (st == YOLO_OK) st = torch_detach(state[i], &e->t[i]);
        if (st == YOLO_OK) st = torch_clone(e->t[i], &e->t[i]);
    }
    torch_set_grad_enabled(was);
    if (st != YOLO_OK) {
        ema_free(e);
        return st;
    }
    *out = e;
    return YOLO_OK;
}

void ema_free(ema *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) {
        if (e->names) free(e->names[i]);
        if (e->t) torch_free(e->t[i]);
    }
    free(e->names);
    free(e->t);
    free(e);
}

double ema_decay_with(double max_decay, double tau, int64_t updates) {
    return max_decay * (1 - exp(-(double)updates / tau));
}

double ema_decay_at(int64_t updates) {
    return ema_decay_with(0.9999, 2000, updates);
}

void ema_set_params(ema *e, double max_decay, double tau) {
    e->max_decay = max_decay;
    e->tau = tau;
}

yolo_status ema_update(ema *e, const torch_tensor *const *state, int n) {
    if (n != e->n) return yolo_error(YOLO_ERR_USAGE, "ema: %d state entries, the EMA holds %d", n, e->n);
    e->updates++;
    double d = ema_decay_with(e->max_decay, e->tau, e->updates);
    bool was = torch_set_grad_enabled(false);
    yolo_status st = YOLO_OK;
    torch_tensor *tmp = NULL, *m = NULL;
    for (int i = 0; i < n && st == YOLO_OK; i++) {
        if (!is_floating(torch_dtype_of(e->t[i]))) continue;
        if (torch_numel(state[i]) != torch_numel(e->t[i])) {
            st = yolo_error(YOLO_ERR_USAGE, "ema: %s changed size", e->names[i]);
            break;
        }
        st = torch_detach(state[i], &m);
        if (st == YOLO_OK) st = torch_mul_scalar_(e->t[i], d);
        if (st == YOLO_OK) st = torch_mul_scalar(m, 1 - d, &tmp);
        if (st == YOLO_OK) st = torch_add_(e->t[i], tmp, 1.0);
    }
    torch_free(tmp);
    torch_free(m);
    torch_set_grad_enabled(was);
    return st;
}

int64_t ema_updates(const ema *e) {
    return e->updates;
}
void ema_set_updates(ema *e, int64_t updates) {
    e->updates = updates;
}
int ema_count(const ema *e) {
    return e->n;
}
const char *ema_name(const ema *e, int i) {
    return i >= 0 && i < e->n ? e->names[i] : NULL;
}
torch_tensor *ema_tensor(const ema *e, int i) {
    return i >= 0 && i < e->n ? e->t[i] : NULL;
}
