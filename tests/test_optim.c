/* Optimizer, EMA and schedule: what the golden files do not cover. Saved optimizer state must continue
 * bit-identically after a round trip through a checkpoint file; grouping, decay, clipping, auto rules
 * and the schedule's edge cases (rounding, endpoints, minimum warmup). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/ema.h"
#include "yolo/optim.h"
#include "yolo/schedule.h"
#include "yolo/torch.h"
#include "yolo/torch_train.h"

#define NP 4
static const char *names[NP] = {"model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias",
                                "model.22.dfl.conv.weight"};
static const int64_t sizes[NP] = {12, 4, 4, 16};

/* Deterministic parameter and gradient values. */
static float value(int p, int64_t i, int salt) {
    return (float)sin(1.7 * p + 0.37 * (double)i + 0.91 * salt);
}

static torch_tensor *make(int p, int salt) {
    float buf[16];
    for (int64_t i = 0; i < sizes[p]; i++)
        buf[i] = value(p, i, salt);
    torch_tensor *t = NULL;
    torch_from_data(buf, TORCH_F32, 1, &sizes[p], &t);
    return t;
}

static void set_grads(torch_tensor **t, int salt) {
    for (int p = 0; p < NP - 1; p++) { /* the DFL weight never gets a gradient */
        torch_tensor *g = make(p, 100 + salt);
        tt_set_grad(t[p], g);
        torch_free(g);
    }
}

static bool same_bits(torch_tensor *a, torch_tensor *b) {
    float x[16], y[16];
    int64_t n = torch_numel(a);
    if (n != torch_numel(b) || torch_copy_out(a, TORCH_F32, x, n) || torch_copy_out(b, TORCH_F32, y, n))
        return false;
    return !memcmp(x, y, sizeof(float) * (size_t)n);
}

static void params_of(torch_tensor **t, optim_param *p) {
    for (int i = 0; i < NP; i++)
        p[i] = (optim_param){names[i], t[i], optim_name_is_norm(names[i])};
}

static bool all_same_bits(torch_tensor **a, torch_tensor **b) {
    bool same = true;
    for (int i = 0; i < NP; i++)
        same = same && same_bits(a[i], b[i]);
    return same;
}

/* Fresh parameter tensors from a dict name -> tensor read back from a file (zeros where one is
 * missing, so that a broken file fails the checks instead of crashing). */
static void params_from(const yv *dict, torch_tensor **b) {
    for (int i = 0; i < NP; i++) {
        const yv *t = dict ? yv_dict_get(dict, names[i]) : NULL;
        b[i] = NULL;
        torch_from_data(t ? yv_tensor_data(&t->tensor) : (float[16]){0}, TORCH_F32, 1, &sizes[i], &b[i]);
    }
}

/* Writes root to a new temporary file named from tmpl (mkstemp's XXXXXX), as a trainer would. */
static yolo_status write_temp(char *tmpl, const yv *root) {
    int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    return ckpt_write(tmpl, root);
}

static void round_trip(optim_kind kind) {
    const char *kn = optim_kind_name(kind);
    torch_tensor *a[NP], *b[NP];
    optim_param pa[NP], pb[NP];
    for (int i = 0; i < NP; i++)
        a[i] = make(i, 0);
    params_of(a, pa);
    optim *o1 = NULL, *o2 = NULL;
    yolo_status s = optim_new(kind, 0.01, kind == OPTIM_SGD ? 0.937 : 0.9, 5e-4, pa, NP, &o1);
    CHECK(s == YOLO_OK, "%s: new", kn);
    for (int s = 0; s < 2; s++) {
        set_grads(a, s);
        optim_set_lr(o1, OPTIM_GROUP_BIAS, 0.05); /* a warmup-style change that must be saved too */
        optim_set_momentum(o1, OPTIM_GROUP_WEIGHT, 0.85);
        optim_step(o1);
        optim_zero_grad(o1);
    }
    /* save state and weights to a checkpoint file, as a trainer would */
    yv_doc *doc = yv_doc_new();
    yv *root = yv_new_dict(doc), *st = NULL;
    s = optim_state_save(o1, doc, NULL, NULL, &st);
    if (s == YOLO_OK) s = yv_dict_set(doc, root, "optimizer", st);
    CHECK(s == YOLO_OK, "%s: state saved", kn);
    for (int i = 0; i < NP; i++) {
        yv *t = yv_new_tensor(doc, YDT_F32, 1, &sizes[i]);
        torch_copy_out(a[i], TORCH_F32, yv_tensor_data(&t->tensor), sizes[i]);
        yv_dict_set(doc, root, names[i], t);
    }
    char path[] = "/tmp/yolo-test-optim-XXXXXX";
    s = write_temp(path, root);
    CHECK(s == YOLO_OK, "%s: checkpoint written", kn);
    yv_doc_free(doc);
    /* run on: the original optimizer takes a third step */
    set_grads(a, 7);
    optim_step(o1);
    /* resume: fresh tensors and optimizer from the file, same third step */
    yv_doc *rd = NULL;
    yv *rr = NULL;
    s = ckpt_read(path, NULL, &rd, &rr);
    CHECK(s == YOLO_OK, "%s: checkpoint read", kn);
    unlink(path);
    params_from(rr, b);
    params_of(b, pb);
    optim_new(kind, 0.01, kind == OPTIM_SGD ? 0.937 : 0.9, 5e-4, pb, NP, &o2);
    yolo_status ls = optim_state_load(o2, yv_dict_get(rr, "optimizer"));
    CHECK(ls == YOLO_OK, "%s: state loaded%s%s", kn, ls ? ": " : "", ls ? yolo_last_error() : "");
    CHECK(optim_get_lr(o2, OPTIM_GROUP_BIAS) == 0.05, "%s: group lr restored", kn);
    set_grads(b, 7);
    optim_step(o2);
    CHECK(all_same_bits(a, b), "%s: resumed step is bit-identical to the uninterrupted one", kn);
    torch_tensor *orig = make(3, 0);
    CHECK(same_bits(a[3], orig), "%s: the frozen parameter (no gradient) never moves", kn);
    torch_free(orig);
    /* a state for another optimizer kind is refused with a clear message */
    optim *o3 = NULL;
    optim_new(kind == OPTIM_SGD ? OPTIM_ADAMW : OPTIM_SGD, 0.01, 0.9, 0, pb, NP, &o3);
    yolo_status s3 = optim_state_load(o3, yv_dict_get(rr, "optimizer"));
    CHECK(s3 == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "optimizer state is for"),
          "%s: wrong kind refused: %s", kn, yolo_last_error());
    optim_free(o3);
    yv_doc_free(rd);
    optim_free(o1);
    optim_free(o2);
    for (int i = 0; i < NP; i++) {
        torch_free(a[i]);
        torch_free(b[i]);
    }
}

/* torch's state_dict form: round trip through a file, a bit-identical continued step in torch.optim
 * itself (when Python with torch is there), and the names/ids layout. */
/* torch.optim reads our layout once the parameter names in it become torch's ids (their position
 * over the groups). */
static const char *py_check =
    "import sys\n"
    "try:\n"
    "    import torch\n"
    "except ImportError:\n"
    "    print('skip'); sys.exit(0)\n"
    "torch.set_num_threads(1)\n"
    "for f in sys.argv[1:]:\n"
    "  d = torch.load(f)\n"
    "  P = {n: t.clone().requires_grad_(True) for n, t in d['params'].items()}\n"
    "  ours = d['optimizer']\n"
    "  assert ours['keyed_by'] == 'name' and ours['name'] == d['kind']\n"
    "  ids = {n: i for i, n in enumerate(n for g in ours['param_groups'] for n in g['params'])}\n"
    "  sd = {'state': {ids[n]: s for n, s in ours['state'].items()},\n"
    "        'param_groups': [dict(g, params=[ids[n] for n in g['params']]) for g in ours['param_groups']]}\n"
    "  groups = [{'params': [P[n] for n in g['params']]} for g in ours['param_groups']]\n"
    "  cls = {'SGD': torch.optim.SGD, 'Adam': torch.optim.Adam, 'AdamW': torch.optim.AdamW}[d['kind']]\n"
    "  kw = {'momentum': 0.5, 'nesterov': True} if d['kind'] == 'SGD' else {}\n"
    "  opt = cls(groups, lr=0.5, **kw)\n"
    "  opt.load_state_dict(sd)\n"
    "  for n, g in d['grads'].items(): P[n].grad = g.clone()\n"
    "  opt.step()\n"
    "  bad = [n for n in P if not torch.equal(P[n].detach(), d['expected'][n])]\n"
    "  print('same' if not bad else 'differ: ' + ' '.join(bad))\n";

static yv *tensor_value(yv_doc *doc, torch_tensor *t) {
    int64_t shape[8];
    int nd = torch_shape(t, shape, 8);
    yv *v = yv_new_tensor(doc, YDT_F32, nd, shape);
    torch_copy_out(t, TORCH_F32, yv_tensor_data(&v->tensor), torch_numel(t));
    return v;
}

static char py_files[3][64];
static const char *py_kinds[3];
static int n_py_files;

static void torch_form(optim_kind kind) {
    const char *kn = optim_kind_name(kind);
    torch_tensor *a[NP], *b[NP];
    optim_param pa[NP], pb[NP];
    for (int i = 0; i < NP; i++)
        a[i] = make(i, 1);
    params_of(a, pa);
    optim *o1 = NULL, *o2 = NULL;
    optim_new(kind, 0.02, kind == OPTIM_SGD ? 0.9 : 0.85, 1e-3, pa, NP, &o1);
    for (int s = 0; s < 2; s++) {
        set_grads(a, 10 + s);
        optim_set_lr(o1, OPTIM_GROUP_BN, 0.03);
        optim_step(o1);
        optim_zero_grad(o1);
    }
    yv_doc *doc = yv_doc_new();
    yv *root = yv_new_dict(doc), *st = NULL, *params = yv_new_dict(doc), *grads = yv_new_dict(doc);
    yv *expected = yv_new_dict(doc);
    yolo_status s = optim_state_save(o1, doc, NULL, NULL, &st);
    CHECK(s == YOLO_OK, "%s torch.optim form: saved", kn);
    yv_dict_set(doc, root, "optimizer", st);
    yv_dict_set(doc, root, "kind", yv_new_str(doc, kn));
    for (int i = 0; i < NP; i++)
        yv_dict_set(doc, params, names[i], tensor_value(doc, a[i]));
    set_grads(a, 20);
    for (int i = 0; i < NP - 1; i++) {
        torch_tensor *g = NULL;
        torch_grad(a[i], &g);
        yv_dict_set(doc, grads, names[i], tensor_value(doc, g));
        torch_free(g);
    }
    optim_step(o1);
    for (int i = 0; i < NP; i++)
        yv_dict_set(doc, expected, names[i], tensor_value(doc, a[i]));
    yv_dict_set(doc, root, "params", params);
    yv_dict_set(doc, root, "grads", grads);
    yv_dict_set(doc, root, "expected", expected);
    char path[] = "/tmp/yolo-test-optim-torch-XXXXXX";
    s = write_temp(path, root);
    CHECK(s == YOLO_OK, "%s torch.optim form: written", kn);
    yv_doc_free(doc);

    /* ours again, from the file */
    yv_doc *rd = NULL;
    yv *rr = NULL;
    s = ckpt_read(path, NULL, &rd, &rr);
    params_from(rr ? yv_path(rr, "params") : NULL, b);
    params_of(b, pb);
    optim_new(kind, 0.5, 0.5, 0, pb, NP, &o2);
    s = s == YOLO_OK ? optim_state_load(o2, yv_dict_get(rr, "optimizer")) : s;
    CHECK(s == YOLO_OK, "%s torch.optim form: loaded%s%s", kn, s ? ": " : "", s ? yolo_last_error() : "");
    CHECK(optim_get_lr(o2, OPTIM_GROUP_BN) == 0.03 && optim_get_initial_lr(o2, OPTIM_GROUP_BN) == 0.02 &&
              optim_get_weight_decay(o2, OPTIM_GROUP_WEIGHT) == 1e-3,
          "%s torch.optim form: group settings restored", kn);
    set_grads(b, 20);
    optim_step(o2);
    CHECK(all_same_bits(a, b), "%s torch.optim form: resumed step is bit-identical", kn);
    yv_doc_free(rd);

    /* kept for the one Python run that checks all kinds (see python_check) */
    py_kinds[n_py_files] = kn;
    snprintf(py_files[n_py_files++], sizeof py_files[0], "%s", path);
    optim_free(o1);
    optim_free(o2);
    for (int i = 0; i < NP; i++) {
        torch_free(a[i]);
        torch_free(b[i]);
    }
}

/* torch.optim loads each saved state and takes the same third step, to the bit. One Python start for
 * all optimizer kinds (starting Python with torch is the slow part). */
static void python_check(void) {
    const char *py = getenv("PYTHON");
    char cmd[1024], spath[] = "/tmp/yolo-test-optim-py-XXXXXX";
    int sfd = py ? mkstemp(spath) : -1;
    if (sfd < 0 || write(sfd, py_check, strlen(py_check)) != (ssize_t)strlen(py_check)) {
        printf("skip - torch.optim cross-check: $PYTHON not set\n");
    } else {
        int len = snprintf(cmd, sizeof cmd, "'%s' '%s'", py, spath);
        for (int i = 0; i < n_py_files; i++)
            len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s'", py_files[i]);
        snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>&1");
        FILE *pp = popen(cmd, "r");
        char line[512];
        for (int i = 0; pp && i < n_py_files; i++) {
            if (!fgets(line, sizeof line, pp)) strcpy(line, "no output");
            line[strcspn(line, "\n")] = 0;
            if (!strcmp(line, "skip")) {
                printf("skip - torch.optim cross-check: no torch for %s\n", py);
                break;
            }
            CHECK(!strcmp(line, "same"),
                  "%s torch.optim form: torch.optim's step from our state is bit-identical (%s)", py_kinds[i],
                  line);
        }
        if (pp) pclose(pp);
    }
    if (sfd >= 0) {
        close(sfd);
        unlink(spath);
    }
    for (int i = 0; i < n_py_files; i++)
        unlink(py_files[i]);
}

/* An Ultralytics mid-training last.pt: its AdamW state (fp16 first moments) loads by group. */
static void ultralytics_state(void) {
    char path[4096];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion-mid.pt")) return;
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status s = ckpt_read(path, NULL, &doc, &root);
    yv *sd = s == YOLO_OK ? yv_state_dict(doc, yv_dict_get(root, "ema")) : NULL;
    CHECK(sd != NULL, "ultralytics: EMA state dict of the mid checkpoint");
    if (!sd) {
        yv_doc_free(doc);
        return;
    }
    int n = 0;
    optim_param *p = calloc(sd->dict.n, sizeof *p);
    torch_tensor **t = calloc(sd->dict.n, sizeof *t);
    for (size_t i = 0; i < sd->dict.n; i++) {
        const char *k = yv_as_str(sd->dict.keys[i]);
        if (!k || strstr(k, "running_") || strstr(k, "num_batches")) continue;
        const yv_tensor *v = &sd->dict.vals[i]->tensor;
        torch_zeros(v->ndim, v->shape, TORCH_F32, TORCH_CPU, &t[n]);
        p[n] = (optim_param){k, t[n], optim_name_is_norm(k)};
        n++;
    }
    optim *o = NULL;
    optim_new(OPTIM_ADAMW, 0.001, 0.9, 5e-4, p, n, &o);
    CHECK(n == 184 && optim_group_size(o, 0) == 64 && optim_group_size(o, 1) == 57 &&
              optim_group_size(o, 2) == 63,
          "ultralytics: 184 parameters in groups of 64/57/63");
    /* torch's id-keyed state_dict, translated by the import into our layout */
    yv *imported = NULL;
    s = ckptfmt_import(doc, root, "yolov8n-fashion-mid.pt", &imported);
    const yv *ostate = s == YOLO_OK ? yv_dict_get(imported, "optimizer") : NULL;
    s = s == YOLO_OK ? optim_state_load(o, ostate) : s;
    CHECK(s == YOLO_OK, "ultralytics: AdamW state loads after import%s%s", s ? ": " : "",
          s ? yolo_last_error() : "");
    yv_doc *d2 = yv_doc_new();
    yv *ours = NULL;
    optim_state_save(o, d2, NULL, NULL, &ours);
    const yv *e = yv_dict_get(yv_dict_get(ours, "state"), "model.0.conv.weight");
    double step = 0;
    yv_as_double(yv_dict_get(e, "step"), &step);
    int64_t updates = 0;
    yv_as_int(yv_dict_get(root, "updates"), &updates);
    CHECK(e && step == (double)updates && fabs(optim_get_lr(o, 0) - 3.760995e-05) < 1e-12,
          "ultralytics: step %g = the checkpoint's updates, lr %.7g", step, optim_get_lr(o, 0));
    optim *sgd = NULL;
    optim_new(OPTIM_SGD, 0.01, 0.9, 0, p, n, &sgd);
    s = optim_state_load(sgd, ostate);
    CHECK(s == YOLO_ERR_FORMAT, "ultralytics: Adam state refused by SGD: %s", yolo_last_error());
    optim_free(sgd);
    yv_doc_free(d2);
    optim_free(o);
    for (int i = 0; i < n; i++)
        torch_free(t[i]);
    free(t);
    free(p);
    yv_doc_free(doc);
}

static void groups_and_decay(void) {
    torch_tensor *t[NP];
    optim_param p[NP];
    for (int i = 0; i < NP; i++)
        t[i] = make(i, 0);
    params_of(t, p);
    optim *o = NULL;
    optim_new(OPTIM_SGD, 0.1, 0.9, 0.01, p, NP, &o);
    CHECK(optim_group_size(o, OPTIM_GROUP_WEIGHT) == 2 && optim_group_size(o, OPTIM_GROUP_BN) == 1 &&
              optim_group_size(o, OPTIM_GROUP_BIAS) == 1,
          "groups: weight (conv + frozen dfl), bn, bias");
    CHECK(optim_group_member(o, OPTIM_GROUP_WEIGHT, 1) == 3, "groups: the DFL weight is in the weight group");
    CHECK(optim_get_weight_decay(o, OPTIM_GROUP_BN) == 0 &&
              optim_get_weight_decay(o, OPTIM_GROUP_BIAS) == 0 &&
              optim_get_weight_decay(o, OPTIM_GROUP_WEIGHT) == 0.01,
          "groups: decay only on the weight group");
    /* zero gradients: only decayed weights move, by lr*(1+m)*wd*p on the first Nesterov step */
    int64_t z = 0;
    for (int i = 0; i < NP - 1; i++) {
        torch_tensor *g = NULL;
        torch_zeros(1, &sizes[i], TORCH_F32, TORCH_CPU, &g);
        tt_set_grad(t[i], g);
        torch_free(g);
    }
    (void)z;
    optim_step(o);
    float w[12], bn[4];
    torch_copy_out(t[0], TORCH_F32, w, 12);
    torch_copy_out(t[1], TORCH_F32, bn, 4);
    double worst = 0;
    for (int i = 0; i < 12; i++) {
        double p0 = value(0, i, 0);
        worst = fmax(worst, fabs(w[i] - (p0 - 0.1 * 1.9 * 0.01 * p0)));
    }
    bool bn_same = true;
    for (int i = 0; i < 4; i++)
        bn_same = bn_same && bn[i] == value(1, i, 0);
    CHECK(worst < 1e-7 && bn_same, "sgd: weight decay moves only the weight group (err %.2g)", worst);
    optim_free(o);
    for (int i = 0; i < NP; i++)
        torch_free(t[i]);
}

static void clipping(void) {
    float v[2] = {3, 4};
    int64_t two = 2;
    torch_tensor *t = NULL, *g = NULL;
    torch_zeros(1, &two, TORCH_F32, TORCH_CPU, &t);
    torch_from_data(v, TORCH_F32, 1, &two, &g);
    tt_set_grad(t, g);
    optim_param p = {"w", t, false};
    optim *o = NULL;
    optim_new(OPTIM_SGD, 0.1, 0.9, 0, &p, 1, &o);
    double norm = 0;
    optim_clip_grad_norm(o, 10, &norm);
    torch_tensor *gr = NULL;
    float out[2];
    torch_grad(t, &gr);
    torch_copy_out(gr, TORCH_F32, out, 2);
    CHECK(norm == 5 && out[0] == 3 && out[1] == 4, "clip: norm 5 under max 10 leaves the gradient as is");
    optim_clip_grad_norm(o, 1, &norm);
    torch_copy_out(gr, TORCH_F32, out, 2);
    CHECK(fabs(out[0] - 0.6) < 1e-6 && fabs(out[1] - 0.8) < 1e-6, "clip: max 1 scales to unit norm (%g, %g)",
          (double)out[0], (double)out[1]);
    optim_zero_grad(o);
    torch_copy_out(gr, TORCH_F32, out, 2);
    CHECK(torch_has_grad(t) && out[0] == 0 && out[1] == 0, "zero_grad keeps the gradient allocated, zeroed");
    torch_free(gr);
    torch_free(g);
    torch_free(t);
    optim_free(o);
}

static void auto_and_parse(void) {
    optim_kind k;
    double lr, m;
    optim_resolve_auto(2, 1000, &k, &lr, &m);
    CHECK(k == OPTIM_ADAMW && lr == 0.001667 && m == 0.9, "auto: nc 2 -> AdamW lr 0.001667 (%g)", lr);
    optim_resolve_auto(80, 10000, &k, &lr, &m);
    CHECK(k == OPTIM_ADAMW && lr == 0.000119, "auto: nc 80, 10000 iterations -> AdamW lr 0.000119 (%g)", lr);
    optim_resolve_auto(80, 10001, &k, &lr, &m);
    CHECK(k == OPTIM_SGD && lr == 0.01 && m == 0.9, "auto: > 10000 iterations -> SGD lr 0.01 momentum 0.9");
    CHECK(optim_parse_kind("adamw", &k) == YOLO_OK && k == OPTIM_ADAMW, "parse: adamw (any case)");
    CHECK(optim_parse_kind("RMSProp", &k) == YOLO_ERR_USAGE && strstr(yolo_last_error(), "RMSProp"),
          "parse: unsupported optimizer named in the error: %s", yolo_last_error());
    CHECK(optim_scaled_weight_decay(5e-4, 16, 4, 64) == 5e-4 &&
              optim_scaled_weight_decay(5e-4, 8, 8, 64) == 5e-4 &&
              optim_scaled_weight_decay(5e-4, 128, 1, 64) == 1e-3,
          "weight decay scales with batch*accumulate/nbs");
}

static void schedule(void) {
    CHECK(sched_accumulate(64, 16) == 4 && sched_accumulate(64, 128) == 1 && sched_accumulate(64, 24) == 3 &&
              sched_accumulate(100, 40) == 2 && sched_accumulate(64, 64) == 1,
          "accumulate: max(round-half-even(nbs/batch), 1)");
    CHECK(sched_warmup_iters(3, 4) == 100 && sched_warmup_iters(3, 50) == 150 &&
              sched_warmup_iters(2.5, 41) == 102 && sched_warmup_iters(0, 50) == -1,
          "warmup iterations: at least 100, half-even rounding, -1 when off");
    CHECK(sched_interp(0, 0, 100, 0.8, 0.937) == 0.8 && sched_interp(100, 0, 100, 0.8, 0.937) == 0.937 &&
              sched_interp(-3, 0, 100, 1, 2) == 1 && sched_interp(150, 0, 100, 1, 2) == 2 &&
              sched_interp(50, 0, 100, 1, 2) == 1.5,
          "interp: exact endpoints, flat outside");
    sched_cfg c;
    sched_cfg_default(&c, 10, 16);
    CHECK(sched_lf(&c, 0) == 1 && fabs(sched_lf(&c, 10) - 0.01) < 1e-15 &&
              fabs(sched_lf(&c, 1) - 0.901) < 1e-15,
          "linear lf: 1 -> lrf");
    c.cos_lr = true;
    CHECK(sched_lf(&c, 0) == 1 && fabs(sched_lf(&c, 10) - 0.01) < 1e-15 &&
              fabs(sched_lf(&c, 5) - 0.505) < 1e-12,
          "cosine lf: 1 -> lrf, half way at the middle");
    /* the spec's check: nc 2, AdamW lr 0.001667, nb 3, epochs 3, warmup_bias_lr 0 */
    sched_cfg_default(&c, 3, 16);
    c.warmup_bias_lr = 0;
    int64_t nw = sched_warmup_iters(c.warmup_epochs, 3);
    double lr1 = 0, lr2 = 0;
    sched_warmup_lr(&c, 2, nw, 0, 0.001667, false, &lr1);
    sched_warmup_lr(&c, 5, nw, 1, 0.001667, true, &lr2);
    CHECK(fabs(lr1 - 3.334e-5) < 1e-15 && fabs(lr2 - 5.58445e-5) < 1e-15,
          "warmup lr after epochs 1, 2: %.6g %.6g", lr1, lr2);
    double x = -1;
    int a = -1;
    CHECK(!sched_warmup_lr(&c, 101, 100, 0, 0.01, false, &x) && !sched_warmup_momentum(&c, 101, 100, &x) &&
              !sched_warmup_accumulate(&c, 101, 100, &a) && x == -1 && a == -1,
          "past nw the warmup functions leave values alone");
    CHECK(sched_should_step(0, -1, 1) && !sched_should_step(2, 0, 4) && sched_should_step(4, 0, 4),
          "optimizer steps when ni - last_opt_step >= accumulate");
    CHECK(sched_auto_iterations(64, 16, 64, 10) == 10 && sched_auto_iterations(1000, 16, 64, 30) == 480,
          "auto iterations = ceil(n / max(batch, nbs)) * epochs");
}

/* Ultralytics' logged lr/pg0..2 of a real 30-epoch run (256 images, batch 16, optimizer=auto -> AdamW
 * lr 0.000714, warmup over 100 iterations) against our schedule through the optimizer helpers. */
static void results_csv_lr(void) {
    char path[4096], line[4096];
    if (!tap_data_path(path, sizeof path, "ultralytics/yolov8n-fashion256-e30.results.csv")) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    int col[3] = {-1, -1, -1}, rows = 0;
    double worst = 0;
    torch_tensor *t = NULL;
    int64_t one = 1;
    torch_zeros(1, &one, TORCH_F32, TORCH_CPU, &t);
    optim_param p[3] = {{"a.weight", t, false}, {"a.bn.weight", t, true}, {"a.bias", t, false}};
    optim_kind kind;
    double lr, mom;
    sched_cfg c;
    sched_cfg_default(&c, 30, 16);
    optim_resolve_auto(10, sched_auto_iterations(256, 16, 64, 30), &kind, &lr, &mom);
    c.warmup_bias_lr = 0; /* optimizer=auto */
    optim *o = NULL;
    optim_new(kind, lr, mom, 5e-4, p, 3, &o);
    int64_t nb = 16, nw = sched_warmup_iters(c.warmup_epochs, nb);
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *tok = strtok_r(line, ",\n", &save);
        double v[64];
        int n = 0;
        if (col[0] < 0) {
            for (; tok && n < 64; tok = strtok_r(NULL, ",\n", &save), n++)
                for (int g = 0; g < 3; g++) {
                    char want[16];
                    snprintf(want, sizeof want, "lr/pg%d", g);
                    if (!strcmp(tok, want)) col[g] = n;
                }
            continue;
        }
        for (; tok && n < 64; tok = strtok_r(NULL, ",\n", &save))
            v[n++] = strtod(tok, NULL);
        int e = (int)v[0] - 1;
        optim_apply_epoch_lr(o, &c, e);
        for (int64_t i = 0; i < nb; i++)
            optim_apply_warmup(o, &c, i + nb * e, nw, e);
        for (int g = 0; g < 3; g++)
            if (col[g] >= 0 && col[g] < n)
                worst = fmax(worst, fabs(optim_get_lr(o, g) - v[col[g]]) / v[col[g]]);
        rows++;
    }
    fclose(f);
    /* SGD: momentum warms up too, and the bias lr falls (det_optim.pt's first rows) */
    optim *s = NULL;
    sched_cfg_default(&c, 10, 16);
    optim_new(OPTIM_SGD, 0.01, 0.937, 5e-4, p, 3, &s);
    optim_apply_epoch_lr(s, &c, 0);
    bool in = optim_apply_warmup(s, &c, 1, 100, 0);
    CHECK(in && optim_get_lr(s, OPTIM_GROUP_BIAS) == 0.09910000000000001 &&
              optim_get_lr(s, OPTIM_GROUP_BN) == 0.0001 &&
              optim_get_momentum(s, OPTIM_GROUP_WEIGHT) == 0.80137,
          "SGD warmup at ni 1: bias lr %.17g, bn lr %g, momentum %.17g", optim_get_lr(s, OPTIM_GROUP_BIAS),
          optim_get_lr(s, OPTIM_GROUP_BN), optim_get_momentum(s, OPTIM_GROUP_WEIGHT));
    in = optim_apply_warmup(s, &c, 101, 100, 1);
    CHECK(!in && optim_get_momentum(s, OPTIM_GROUP_WEIGHT) == 0.80137, "after warmup nothing changes");
    optim_free(s);
    CHECK(kind == OPTIM_ADAMW && lr == 0.000714 && rows == 30 && col[2] >= 0 && worst < 1e-5,
          "schedule reproduces Ultralytics' logged lr/pg0..2 over 30 epochs (worst rel %.2g, %d rows)", worst,
          rows);
    optim_free(o);
    torch_free(t);
}

static void ema_tests(void) {
    CHECK(ema_decay_at(0) == 0 && fabs(ema_decay_at(1) - 0.000499825033328626) < 1e-18 &&
              fabs(ema_decay_at(1000000) - 0.9999) < 1e-12,
          "ema decay ramps from 0 to 0.9999");
    int64_t one = 1;
    float f1 = 1, f3 = 3;
    int64_t i5 = 5, i9 = 9;
    torch_tensor *m[2] = {0}, *u[2] = {0};
    torch_from_data(&f1, TORCH_F32, 1, &one, &m[0]);
    torch_from_data(&i5, TORCH_I64, 0, NULL, &m[1]);
    const char *n[2] = {"w", "bn.num_batches_tracked"};
    ema *e = NULL;
    yolo_status s = ema_new(n, (const torch_tensor *const *)m, 2, &e);
    CHECK(s == YOLO_OK, "ema: new");
    torch_from_data(&f3, TORCH_F32, 1, &one, &u[0]);
    torch_from_data(&i9, TORCH_I64, 0, NULL, &u[1]);
    ema_update(e, (const torch_tensor *const *)u, 2);
    ema_update(e, (const torch_tensor *const *)u, 2);
    float w;
    double c;
    torch_copy_out(ema_tensor(e, 0), TORCH_F32, &w, 1);
    torch_item(ema_tensor(e, 1), &c);
    float d1 = (float)ema_decay_at(1), d2 = (float)ema_decay_at(2);
    float want = 1 * d1 + (float)(1 - ema_decay_at(1)) * 3;
    want = want * d2 + (float)(1 - ema_decay_at(2)) * 3;
    CHECK(ema_updates(e) == 2 && fabs(w - want) < 1e-6 && c == 5,
          "ema: float entries averaged (%g vs %g), integer counts kept", (double)w, (double)want);
    s = ema_update(e, (const torch_tensor *const *)u, 1);
    CHECK(s == YOLO_ERR_USAGE && ema_updates(e) == 2, "ema: wrong entry count refused");
    ema_free(e);
    for (int i = 0; i < 2; i++) {
        torch_free(m[i]);
        torch_free(u[i]);
    }
}

int main(void) {
    torch_set_threads(1);
    round_trip(OPTIM_SGD);
    round_trip(OPTIM_ADAM);
    round_trip(OPTIM_ADAMW);
    torch_form(OPTIM_SGD);
    torch_form(OPTIM_ADAM);
    torch_form(OPTIM_ADAMW);
    python_check();
    ultralytics_state();
    groups_and_decay();
    clipping();
    auto_and_parse();
    schedule();
    ema_tests();
    results_csv_lr();
    TAP_DONE();
}
