/* LR schedule, warmup and accumulation (see include/yolo/schedule.h). All arithmetic is in double,
 * in the reference's order, so the values equal Python's to the last bit. */
#include "yolo/schedule.h"

#include "yolo/args.h"

#include <math.h>

void sched_cfg_default(sched_cfg *cfg, int epochs, int batch) {
    cfg->epochs = epochs;
    cfg->lrf = args_default_num("lrf");
    cfg->cos_lr = args_default_num("cos_lr") != 0;
    cfg->momentum = args_default_num("momentum");
    cfg->warmup_epochs = args_default_num("warmup_epochs");
    cfg->warmup_momentum = args_default_num("warmup_momentum");
    cfg->warmup_bias_lr = args_default_num("warmup_bias_lr");
    cfg->nbs = (int)args_default_num("nbs");
    cfg->batch = batch;
}

double sched_lf(const sched_cfg *cfg, double e) {
    if (cfg->cos_lr) {
        double c = (1 - cos(e * M_PI / cfg->epochs)) / 2;
        return fmax(c, 0) * (cfg->lrf - 1) + 1;
    }
    return fmax(1 - e / cfg->epochs, 0) * (1.0 - cfg->lrf) + cfg->lrf;
}

int sched_accumulate(int nbs, int batch) {
    /* nearbyint rounds half to even in the default rounding mode, like Python's round */
    double r = nearbyint((double)nbs / batch);
    return r < 1 ? 1 : (int)r;
}

int64_t sched_warmup_iters(double warmup_epochs, int64_t nb) {
    if (!(warmup_epochs > 0)) return -1;
    double r = nearbyint(warmup_epochs * (double)nb);
    return r > 100 ? (int64_t)r : 100;
}

double sched_interp(double x, double x0, double x1, double y0, double y1) {
    if (x <= x0) return y0; /* numpy returns the endpoint itself at x == x0 */
    if (x >= x1) return y1;
    double slope = (y1 - y0) / (x1 - x0);
    return slope * (x - x0) + y0;
}

int64_t sched_auto_iterations(int64_t n_images, int batch, int nbs, int epochs) {
    int64_t d = batch > nbs ? batch : nbs;
    return (int64_t)ceil((double)n_images / (double)d) * epochs;
}

double sched_epoch_lr(const sched_cfg *cfg, double initial_lr, int epoch) {
    return initial_lr * sched_lf(cfg, epoch);
}

bool sched_warmup_accumulate(const sched_cfg *cfg, int64_t ni, int64_t nw, int *accumulate) {
    if (nw < 0 || ni > nw) return false;
    double a = nearbyint(sched_interp((double)ni, 0, (double)nw, 1, (double)cfg->nbs / cfg->batch));
    *accumulate = a < 1 ? 1 : (int)a;
    return true;
}

bool sched_warmup_lr(const sched_cfg *cfg, int64_t ni, int64_t nw, int epoch, double initial_lr, bool is_bias,
                     double *lr) {
    if (nw < 0 || ni > nw) return false;
    *lr = sched_interp((double)ni, 0, (double)nw, is_bias ? cfg->warmup_bias_lr : 0.0,
                       initial_lr * sched_lf(cfg, epoch));
    return true;
}

bool sched_warmup_momentum(const sched_cfg *cfg, int64_t ni, int64_t nw, double *momentum) {
    if (nw < 0 || ni > nw) return false;
    *momentum = sched_interp((double)ni, 0, (double)nw, cfg->warmup_momentum, cfg->momentum);
    return true;
}

bool sched_should_step(int64_t ni, int64_t last_opt_step, int accumulate) {
    return ni - last_opt_step >= accumulate;
}
