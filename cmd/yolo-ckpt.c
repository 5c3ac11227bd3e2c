/* yolo-ckpt: inspect, check and convert checkpoint files without libtorch. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/json.h"
#include "yolo/modelcfg.h"
#include "yolo/lock.h"
#include "yolo/results.h"
#include "yolo/rundata.h"
#include "yolo/runfiles.h"
#include "yolo/status.h"
#include "yolo/ultratree.h"
#include "yolo/value.h"

static const char *const TOOL = "yolo-ckpt";

static const char *const USAGE =
    "usage: yolo-ckpt COMMAND [ARGS]\n"
    "\n"
    "Inspect, check and convert checkpoint files (torch.save format) without libtorch.\n"
    "\n"
    "commands:\n"
    "  inspect FILE [--json] [--tensors]  what the file is, where training stands, resumable or not\n"
    "  verify FILE                        check the zip structure, every CRC and every storage\n"
    "  strip FILE [-o OUT] [--format F]   deployment weights: EMA as fp16 model, no optimizer\n"
    "  import ULTRALYTICS.pt -o OUT.pt    convert an Ultralytics checkpoint to our layout\n"
    "  export FILE -o OUT.pt [--format F] {name: fp32 tensor} dict, or Ultralytics' own layout\n"
    "  set FILE key=value...              edit train_args in place, atomically\n"
    "  diff A B [--all]                   compare every tensor; exit 0 only if all are bit-identical\n"
    "  summary MODEL.yaml [nc=N]          Ultralytics' model summary line, from the YAML alone\n"
    "  get FILE KEY...                    print values by dotted key (train_args.epochs), for scripts\n"
    "  sync RUN/weights/last.pt           rewrite RUN/args.yaml and RUN/results.csv from the checkpoint\n"
    "\n"
    "'yolo-ckpt COMMAND --help' describes one command. Exit status: 0 ok, 1 failed, damaged or\n"
    "different, 2 usage error. See yolo-ckpt(1) and yolo-checkpoint(5).\n";

typedef struct {
    const char *name;
    const char *usage;
    int (*run)(int argc, char **argv);
} command;

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    fprintf(stderr, "%s: %s%s%s (see 'yolo-ckpt %s --help')\n", TOOL, cmd ? cmd : "", cmd ? ": " : "", msg,
            cmd ? cmd : "");
    return YOLO_EXIT_USAGE;
}

static int fail(yolo_status st, const char *file) {
    if (file) yolo_error_prefix(st, file);
    return yolo_report(TOOL, st);
}

/* A file error names the file once: the reader's messages already start with it. */
static int fail_read(yolo_status st, const char *file) {
    const char *msg = yolo_last_error();
    size_t n = strlen(file);
    if (strncmp(msg, file, n) == 0 && msg[n] == ':') return yolo_report(TOOL, st);
    return fail(st, file);
}

static bool is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* Rejects directories and missing files with a clear line before the reader tries them. */
static yolo_status check_input(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return yolo_error(YOLO_ERR_IO, "%s: cannot open (no such file)", path);
    if (S_ISDIR(sb.st_mode)) return yolo_error(YOLO_ERR_IO, "%s: is a directory (give a .pt file)", path);
    return YOLO_OK;
}

/* On failure *doc is freed and NULL, so callers only report. */
static yolo_status read_file(const char *path, bool data, yv_doc **doc, yv **root) {
    yolo_status st = check_input(path);
    if (st) return st;
    ckpt_read_opts o = {.skip_tensor_data = !data, .max_bytes = 0};
    if ((st = ckpt_read(path, &o, doc, root))) {
        yv_doc_free(*doc);
        *doc = NULL;
    }
    return st;
}

static void group_digits(int64_t v, char *buf, size_t cap) {
    char raw[32];
    snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v);
    size_t n = strlen(raw), o = 0;
    if (v < 0 && o + 1 < cap) buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = 0;
}

/* ---------------------------------------------------------------- inspect */

typedef struct {
    const char *path;
    int64_t size;
    ckptfmt_kind_t kind;
    const char *task;
    const char *yaml_file;
    char scale[8];
    int64_t nc;
    const yv *names;
    int64_t epoch, epochs;
    bool has_epoch, has_epochs;
    bool resumable;
    char why[160];
    const yv *best_fitness;
    const yv *metrics;
    const char *optimizer;
    const char *optimizer_arg;
    double lr;
    bool has_lr;
    const yv *data, *imgsz, *batch;
    const yv *micro_batch; /* samples per micro-batch (data-parallel runs split batches into these) */
    const yv *position;
    const yv *train_args, *results;
    const yv *root;
    const char *date, *version;
    const char *weights_key;
    const yv *weights;
    int64_t ntensors, nparams;
    const char *dtype;
} info;

static const yv *model_record(const yv *root) {
    const yv *v = yv_dict_get(root, CKPTFMT_KEY_EMA);
    if (v && v->kind == YV_OBJECT) return v;
    v = yv_dict_get(root, CKPTFMT_KEY_MODEL);
    return v && v->kind == YV_OBJECT ? v : NULL;
}

static const char *optimizer_name(const yv *root, const char **arg) {
    const yv *opt = yv_dict_get(root, CKPTFMT_KEY_OPTIMIZER);
    *arg = yv_as_str(yv_path(root, "train_args.optimizer"));
    if (!opt || opt->kind != YV_DICT) return NULL;
    const char *n = yv_as_str(yv_dict_get(opt, "name"));
    if (n) return n;
    if (*arg && strcmp(*arg, "auto") != 0) return *arg;
    /* Ultralytics' "auto" picks AdamW or SGD; the state tells which. */
    const yv *state = yv_dict_get(opt, "state");
    if (state && state->kind == YV_DICT && state->dict.n > 0)
        return yv_dict_get(state->dict.vals[0], "exp_avg") ? "AdamW" : "SGD";
    return "unknown";
}

static void gather(yv_doc *doc, const char *path, const yv *root, info *in) {
    memset(in, 0, sizeof *in);
    in->path = path;
    struct stat sb;
    in->size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
    in->kind = ckptfmt_kind(root);
    const yv *net = model_record(root);
    const yv *yaml = yv_dict_get(root, CKPTFMT_KEY_YAML);
    if (!yaml && net) yaml = yv_dict_get(net, "yaml");

    in->task = ckptfmt_task(root);

    in->yaml_file = yaml ? yv_as_str(yv_dict_get(yaml, "yaml_file")) : NULL;
    if (!in->yaml_file) in->yaml_file = yv_as_str(yv_path(root, "train_args.model"));
    const char *sc = yaml ? yv_as_str(yv_dict_get(yaml, "scale")) : NULL;
    if (sc) snprintf(in->scale, sizeof in->scale, "%s", sc);

    in->nc = -1;
    if (!yv_as_int(yv_dict_get(root, CKPTFMT_KEY_NC), &in->nc) &&
        !(net && yv_as_int(yv_dict_get(net, "nc"), &in->nc)) &&
        !(yaml && yv_as_int(yv_dict_get(yaml, "nc"), &in->nc)))
        in->nc = -1;
    in->names = yv_dict_get(root, CKPTFMT_KEY_NAMES);
    if (!in->names && net) in->names = yv_dict_get(net, "names");

    in->has_epoch = yv_as_int(yv_dict_get(root, CKPTFMT_KEY_EPOCH), &in->epoch);
    in->has_epochs = yv_as_int(yv_path(root, "train_args.epochs"), &in->epochs);
    in->resumable = ckptfmt_resumable(root, in->why, sizeof in->why);
    in->best_fitness = yv_dict_get(root, CKPTFMT_KEY_BEST_FITNESS);
    in->metrics = yv_dict_get(root, CKPTFMT_KEY_TRAIN_METRICS);
    in->optimizer = optimizer_name(root, &in->optimizer_arg);
    const yv *groups = yv_path(root, "optimizer.param_groups");
    if (groups && (groups->kind == YV_LIST || groups->kind == YV_TUPLE) && groups->seq.n > 0)
        in->has_lr = yv_as_double(yv_dict_get(groups->seq.items[0], "lr"), &in->lr);
    in->data = yv_path(root, "train_args.data");
    in->imgsz = yv_path(root, "train_args.imgsz");
    in->batch = yv_path(root, "train_args.batch");
    in->micro_batch = yv_dict_get(root, CKPTFMT_KEY_MICRO_BATCH);
    in->position = yv_dict_get(root, CKPTFMT_KEY_POSITION);
    if (in->position && in->position->kind != YV_DICT) in->position = NULL;
    in->root = root;
    in->train_args = yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS);
    if (in->train_args && in->train_args->kind != YV_DICT) in->train_args = NULL;
    in->results = yv_dict_get(root, CKPTFMT_KEY_TRAIN_RESULTS);
    in->date = yv_as_str(yv_dict_get(root, CKPTFMT_KEY_DATE));
    in->version = yv_as_str(yv_dict_get(root, CKPTFMT_KEY_VERSION));

    in->weights = ckptfmt_weights(doc, root, &in->weights_key);
    if (in->weights) {
        for (size_t i = 0; i < in->weights->dict.n; i++) {
            const yv *t = in->weights->dict.vals[i];
            if (t->kind != YV_TENSOR) continue;
            in->ntensors++;
            /* The dtype of the weights is that of the first floating tensor (BN counters are int64). */
            yv_dtype dt = t->tensor.dtype;
            if (!in->dtype && (dt == YDT_F32 || dt == YDT_F16 || dt == YDT_BF16 || dt == YDT_F64))
                in->dtype = yv_dtype_name(dt);
        }
        in->nparams = yv_state_dict_numel(in->weights);
    }
}

static void repr_short(const yv *v, char *buf, size_t cap) {
    double d;
    if (!v || v->kind == YV_NONE)
        snprintf(buf, cap, "None");
    else if (yv_as_str(v))
        snprintf(buf, cap, "%s", yv_as_str(v));
    else if (v->kind == YV_OBJECT && yv_as_double(v, &d))
        snprintf(buf, cap, "%.6g", d);
    else if (v->kind == YV_FLOAT)
        snprintf(buf, cap, "%.6g", v->f);
    else
        yv_repr(v, buf, cap);
}

static void print_names(const yv *names, FILE *f) {
    if (!names) return;
    const size_t limit = 20;
    size_t n = names->kind == YV_DICT                                ? names->dict.n
               : (names->kind == YV_LIST || names->kind == YV_TUPLE) ? names->seq.n
                                                                     : 0;
    fputs(" (", f);
    for (size_t i = 0; i < n && i < limit; i++) {
        const yv *v = names->kind == YV_DICT ? names->dict.vals[i] : names->seq.items[i];
        const char *s = yv_as_str(v);
        fprintf(f, "%s%s", i ? ", " : "", s ? s : "?");
    }
    if (n > limit) fprintf(f, ", ... %zu more", n - limit);
    fputs(")", f);
}

/* Epoch indices count from 0 and are shown as counts; a file may hold any int64, and INT64_MAX + 1
 * must not overflow. */
static const char *plus_one(int64_t e, char buf[24]) {
    if (e == INT64_MAX)
        snprintf(buf, 24, "%" PRIu64, (uint64_t)e + 1);
    else
        snprintf(buf, 24, "%" PRId64, e + 1);
    return buf;
}

static void print_text(const info *in, bool tensors) {
    char b1[64], b2[256];
    group_digits(in->size, b1, sizeof b1);
    printf("file:         %s (%s bytes)\n", in->path, b1);
    printf("kind:         %s\n", ckptfmt_kind_describe(in->kind));
    if (in->task) printf("task:         %s\n", in->task);
    if (in->yaml_file) {
        printf("model:        %s", in->yaml_file);
        if (in->scale[0]) printf(" (scale %s)", in->scale);
        printf("\n");
    }
    if (in->nc >= 0 || in->names) {
        printf("classes:      ");
        if (in->nc >= 0)
            printf("%" PRId64, in->nc);
        else
            printf("?");
        print_names(in->names, stdout);
        printf("\n");
    }
    char done[24];
    if (in->has_epoch) {
        if (in->epoch < 0 && in->position)
            printf("epoch:        none done yet (saved inside epoch 1)\n");
        else if (in->epoch < 0)
            printf("epoch:        -1 (stripped: final weights)\n");
        else if (in->has_epochs)
            printf("epoch:        epoch %s of %" PRId64 " done\n", plus_one(in->epoch, done), in->epochs);
        else
            printf("epoch:        epoch %s done\n", plus_one(in->epoch, done));
    }
    if (in->position) {
        int64_t b = -1, nb = -1, e = -1;
        yv_as_int(yv_dict_get(in->position, "batch"), &b);
        yv_as_int(yv_dict_get(in->position, "nb"), &nb);
        yv_as_int(yv_dict_get(in->position, "epoch"), &e);
        printf("position:     saved mid-epoch: %" PRId64 " of %" PRId64 " batches of epoch %s done\n", b, nb,
               plus_one(e, done));
    }
    if (in->resumable)
        printf("resumable:    yes\n");
    else
        printf("resumable:    no: %s\n", in->why);
    if (in->best_fitness) {
        repr_short(in->best_fitness, b2, sizeof b2);
        printf("best fitness: %s\n", b2);
    }
    if (in->metrics && in->metrics->kind == YV_DICT && in->metrics->dict.n > 0) {
        printf("metrics:     ");
        for (size_t i = 0; i < in->metrics->dict.n; i++) {
            const char *k = yv_as_str(in->metrics->dict.keys[i]);
            repr_short(in->metrics->dict.vals[i], b2, sizeof b2);
            printf(" %s=%s", k ? k : "?", b2);
        }
        printf("\n");
    }
    if (in->optimizer) {
        printf("optimizer:    %s", in->optimizer);
        if (in->optimizer_arg && !strcmp(in->optimizer_arg, "auto")) printf(" (optimizer=auto)");
        if (in->has_lr) printf(", lr %.7g", in->lr);
        printf("\n");
    } else {
        printf("optimizer:    none\n");
    }
    if (in->data) {
        repr_short(in->data, b2, sizeof b2);
        printf("data:         %s\n", b2);
    }
    if (in->imgsz) {
        repr_short(in->imgsz, b2, sizeof b2);
        printf("imgsz:        %s\n", b2);
    }
    if (in->batch) {
        repr_short(in->batch, b2, sizeof b2);
        int64_t b, m;
        if (yv_as_int(in->batch, &b) && yv_as_int(in->micro_batch, &m) && m > 0 && m < b)
            printf("batch:        %s, in micro-batches of %" PRId64
                   " (resumable on world sizes dividing %" PRId64 ")\n",
                   b2, m, b / m);
        else
            printf("batch:        %s\n", b2);
    }
    if (in->date) printf("date:         %s\n", in->date);
    if (in->version) printf("version:      %s\n", in->version);
    if (in->weights) {
        group_digits(in->nparams, b1, sizeof b1);
        printf("weights:      %s%s%" PRId64 " tensor%s (%s), %s parameters\n", in->weights_key,
               in->weights_key[0] ? ": " : "", in->ntensors, in->ntensors == 1 ? "" : "s",
               in->dtype ? in->dtype : "-", b1);
    } else {
        printf("weights:      none\n");
    }
    if (tensors && in->weights) {
        printf("\n");
        for (size_t i = 0; i < in->weights->dict.n; i++) {
            const yv *t = in->weights->dict.vals[i];
            const char *k = yv_as_str(in->weights->dict.keys[i]);
            if (t->kind != YV_TENSOR) continue;
            printf("%s\t%s\t[", k ? k : "?", yv_dtype_name(t->tensor.dtype));
            for (int d = 0; d < t->tensor.ndim; d++)
                printf("%s%" PRId64, d ? ", " : "", t->tensor.shape[d]);
            printf("]\n");
        }
    }
}

static void json_opt_value(json_writer *w, const char *key, const yv *v) {
    json_write_key(w, key);
    json_write_value(w, v, 8);
}

/* An integer that the checkpoint may not hold: null when absent. */
static void json_opt_int(json_writer *w, const char *key, bool have, int64_t v) {
    json_write_key(w, key);
    if (have)
        json_write_int(w, v);
    else
        json_write_null(w);
}

static yolo_status print_json(const info *in, bool tensors) {
    json_writer w;
    json_init(&w, stdout, true);
    json_begin_object(&w);
    json_write_key(&w, "file");
    json_write_str(&w, in->path);
    json_write_key(&w, "size");
    json_write_int(&w, in->size);
    json_write_key(&w, "kind");
    json_write_str(&w, ckptfmt_kind_name(in->kind));
    json_write_key(&w, "description");
    json_write_str(&w, ckptfmt_kind_describe(in->kind));
    json_write_key(&w, "task");
    json_write_str(&w, in->task);
    json_write_key(&w, "model");
    json_write_str(&w, in->yaml_file);
    json_write_key(&w, "scale");
    json_write_str(&w, in->scale[0] ? in->scale : NULL);
    json_opt_int(&w, "nc", in->nc >= 0, in->nc);
    json_opt_value(&w, "names", in->names);
    json_opt_int(&w, "epoch", in->has_epoch, in->epoch);
    json_opt_int(&w, "epochs", in->has_epochs, in->epochs);
    /* null where the count does not fit an int64, and for stripped weights (epoch -1 without a position
     * inside the first epoch) */
    bool done =
        in->has_epoch && (in->epoch >= 0 || (in->epoch == -1 && in->position)) && in->epoch < INT64_MAX;
    json_opt_int(&w, "epochs_done", done, done ? in->epoch + 1 : 0);
    json_opt_value(&w, "position", in->position);
    json_write_key(&w, "resumable");
    json_write_bool(&w, in->resumable);
    json_write_key(&w, "why_not");
    json_write_str(&w, in->resumable ? NULL : in->why);
    json_opt_value(&w, "best_fitness", in->best_fitness);
    json_opt_value(&w, "metrics", in->metrics);
    json_write_key(&w, "optimizer");
    json_write_str(&w, in->optimizer);
    json_write_key(&w, "lr");
    if (in->has_lr)
        json_write_double(&w, in->lr);
    else
        json_write_null(&w);
    json_opt_value(&w, "data", in->data);
    /* where the run's dataset is now (rundata.h): what a resume would train on */
    char found[4096] = "", droot[4096] = "", run[4096];
    lock_run_dir(in->path, run, sizeof run);
    bool have = in->data && rundata_find(in->root, run, found, sizeof found, droot, sizeof droot) == YOLO_OK;
    json_write_key(&w, "data_found");
    json_write_str(&w, have ? found : NULL);
    json_write_key(&w, "data_root");
    json_write_str(&w, have && droot[0] ? droot : NULL);
    json_write_key(&w, "data_missing");
    json_write_str(&w, in->data && !have ? yolo_last_error() : NULL);
    json_write_key(&w, "results_rows");
    json_write_int(&w, results_row_count(in->results));
    json_opt_value(&w, "train_args", in->train_args);
    json_opt_value(&w, "imgsz", in->imgsz);
    json_opt_value(&w, "batch", in->batch);
    json_opt_value(&w, "micro_batch", in->micro_batch);
    json_write_key(&w, "date");
    json_write_str(&w, in->date);
    json_write_key(&w, "version");
    json_write_str(&w, in->version);
    json_write_key(&w, "weights");
    json_write_str(&w, in->weights ? in->weights_key : NULL);
    json_write_key(&w, "num_tensors");
    json_write_int(&w, in->ntensors);
    json_write_key(&w, "parameters");
    json_write_int(&w, in->nparams);
    json_write_key(&w, "dtype");
    json_write_str(&w, in->dtype);
    if (tensors) {
        json_write_key(&w, "tensors");
        json_begin_array(&w);
        for (size_t i = 0; in->weights && i < in->weights->dict.n; i++) {
            const yv *t = in->weights->dict.vals[i];
            if (t->kind != YV_TENSOR) continue;
            json_begin_object(&w);
            json_write_key(&w, "name");
            json_write_str(&w, yv_as_str(in->weights->dict.keys[i]));
            json_write_key(&w, "dtype");
            json_write_str(&w, yv_dtype_name(t->tensor.dtype));
            json_write_key(&w, "shape");
            json_begin_array(&w);
            for (int d = 0; d < t->tensor.ndim; d++)
                json_write_int(&w, t->tensor.shape[d]);
            json_end_array(&w);
            json_end_object(&w);
        }
        json_end_array(&w);
    }
    json_end_object(&w);
    return json_finish(&w);
}

static int cmd_inspect(int argc, char **argv) {
    const char *file = NULL;
    bool json = false, tensors = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--tensors"))
            tensors = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("inspect", "unknown option '%s'", argv[i]);
        else if (file)
            return usage_error("inspect", "one FILE only, got also '%s'", argv[i]);
        else
            file = argv[i];
    }
    if (!file) return usage_error("inspect", "missing FILE%s", NULL);
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st = read_file(file, false, &doc, &root);
    if (st) return fail_read(st, file);
    info in;
    gather(doc, file, root, &in);
    if (json)
        st = print_json(&in, tensors);
    else {
        print_text(&in, tensors);
        if (fflush(stdout) != 0) st = yolo_error(YOLO_ERR_IO, "cannot write output");
    }
    yv_doc_free(doc);
    return st ? yolo_report(TOOL, st) : YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- verify */

static int cmd_verify(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') return usage_error("verify", "expects exactly one FILE%s", NULL);
    const char *file = argv[1];
    yolo_status st = check_input(file);
    if (!st) st = ckpt_verify(file);
    if (st) return fail_read(st, file);
    printf("%s: ok\n", file);
    return YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- strip / import / export */

/* The writer expands shared sub-values; a hostile file whose values repeat exponentially is refused
 * before writing instead of filling the disk. */
static bool tree_fits(const yv *v, size_t *budget, int depth) {
    if (!v) return true;
    if (*budget == 0 || depth > 200) return false;
    --*budget;
    switch (v->kind) {
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET:
        for (size_t i = 0; i < v->seq.n; i++)
            if (!tree_fits(v->seq.items[i], budget, depth + 1)) return false;
        return true;
    case YV_DICT:
        for (size_t i = 0; i < v->dict.n; i++)
            if (!tree_fits(v->dict.keys[i], budget, depth + 1) ||
                !tree_fits(v->dict.vals[i], budget, depth + 1))
                return false;
        return true;
    case YV_OBJECT:
        return tree_fits(v->obj.args, budget, depth + 1) && tree_fits(v->obj.state, budget, depth + 1) &&
               tree_fits(v->obj.items, budget, depth + 1);
    default:
        return true;
    }
}

static yolo_status write_checked(const char *path, const yv *root) {
    size_t budget = 4000000;
    if (!tree_fits(root, &budget, 0))
        return yolo_error(YOLO_ERR_LIMIT, "%s: values nest or repeat too much to write (over 4000000 values)",
                          path);
    return ckpt_write(path, root);
}

typedef yolo_status (*transform_fn)(yv_doc *doc, const yv *root, const char *file, yv **out);

static yolo_status do_strip(yv_doc *doc, const yv *root, const char *file, yv **out) {
    (void)file;
    return ckptfmt_strip(doc, root, out);
}
static yolo_status do_import(yv_doc *doc, const yv *root, const char *file, yv **out) {
    return ckptfmt_import(doc, root, file, out);
}
static yolo_status do_export(yv_doc *doc, const yv *root, const char *file, yv **out) {
    (void)file;
    return ckptfmt_export(doc, root, out);
}

/* An output layout a command can write (--format NAME); a command's first one is its default. */
typedef struct {
    const char *name;
    transform_fn fn;
} out_format;

static const out_format STRIP_FORMATS[] = {
    {"ours", do_strip}, {"ultralytics", ultratree_export}, {NULL, NULL}};
static const out_format IMPORT_FORMATS[] = {{"ours", do_import}, {NULL, NULL}};
static const out_format EXPORT_FORMATS[] = {
    {"state-dict", do_export}, {"ultralytics", ultratree_export}, {NULL, NULL}};

/* The run folder's lock, for a command that rewrites a checkpoint or its run's files, as trainers take
 * it: a trainer saving the same run meanwhile would lose one side's writes. Under the yolo loop it is the
 * loop's own lock (YOLO_LOCK_FD). A file outside a run (not in a weights folder, no lock file beside)
 * is written without one, leaving no lock file behind. */
static yolo_status lock_run_of(const char *file, run_lock **out) {
    char run[4096], lock[4200];
    *out = NULL;
    lock_run_dir(file, run, sizeof run);
    snprintf(lock, sizeof lock, "%s/%s", run, LOCK_FILE_NAME);
    const char *slash = strrchr(file, '/');
    bool in_weights = slash && slash - file >= 7 && !strncmp(slash - 7, "weights", 7) &&
                      (slash - file == 7 || slash[-8] == '/');
    /* a missing file is not locked: reading it says what is wrong */
    if (access(file, F_OK) != 0 || (!in_weights && access(lock, F_OK) != 0)) return YOLO_OK;
    return lock_acquire(run, out);
}

/* Whether OUT names the file IN is (the same path, or another name of it). */
static bool same_file(const char *in, const char *out) {
    struct stat a, b;
    if (!strcmp(in, out)) return true;
    return stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A training checkpoint is not replaced by its weights: its training state (resume, more epochs) would be
 * gone for good. best.pt is the exception (Ultralytics strips it in place): nothing resumes from it. */
static bool would_lose_training(const char *in, const char *out, const yv *root) {
    ckptfmt_kind_t kind = ckptfmt_kind(root);
    if (kind != CKPTFMT_OURS_TRAINING && kind != CKPTFMT_ULTRA_TRAINING) return false;
    const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
    return strncmp(base, "best", 4) != 0 && same_file(in, out);
}

static int transform_file(const char *cmd, const char *in, const char *out, transform_fn fn,
                          bool keeps_state);

/* keeps_state: the result holds the input's training state (import), so it may replace the input. */
static int transform(const char *cmd, int argc, char **argv, bool need_out, bool keeps_state,
                     const out_format *formats) {
    const char *in = NULL, *out = NULL;
    transform_fn fn = formats[0].fn;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (++i >= argc) return usage_error(cmd, "-o needs a file name%s", NULL);
            out = argv[i];
        } else if (!strcmp(argv[i], "--format") && formats[1].name) {
            if (++i >= argc) return usage_error(cmd, "--format needs a layout name%s", NULL);
            const out_format *f = formats;
            while (f->name && strcmp(f->name, argv[i]))
                f++;
            if (!f->name) {
                char msg[160];
                snprintf(msg, sizeof msg, "unknown --format '%%s' (%s or %s)", formats[0].name,
                         formats[1].name);
                return usage_error(cmd, msg, argv[i]);
            }
            fn = f->fn;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (in) {
            return usage_error(cmd, "one input file only, got also '%s'", argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (!in) return usage_error(cmd, "missing input FILE%s", NULL);
    if (!out && need_out) return usage_error(cmd, "missing -o OUT.pt%s", NULL);
    if (!out) out = in;
    run_lock *lock = NULL;
    yolo_status st = same_file(in, out) ? lock_run_of(in, &lock) : YOLO_OK;
    if (st) return yolo_report(TOOL, st);
    int rc = transform_file(cmd, in, out, fn, keeps_state);
    lock_release(lock);
    return rc;
}

static int transform_file(const char *cmd, const char *in, const char *out, transform_fn fn,
                          bool keeps_state) {
    yv_doc *doc = NULL;
    yv *root = NULL, *res = NULL;
    yolo_status st = read_file(in, true, &doc, &root);
    if (st) return fail_read(st, in);
    if (!keeps_state && would_lose_training(in, out, root)) {
        yv_doc_free(doc);
        yolo_error(YOLO_ERR_USAGE,
                   "%s: a training checkpoint: writing its %s weights over it would lose the training state "
                   "(resume, more epochs) for good; give -o OUT.pt for them",
                   in, !strcmp(cmd, "strip") ? "stripped" : "exported");
        return yolo_report(TOOL, YOLO_ERR_USAGE);
    }
    if ((st = fn(doc, root, in, &res))) {
        yv_doc_free(doc);
        return fail(st, in);
    }
    if ((st = write_checked(out, res))) {
        yv_doc_free(doc);
        return fail_read(st, out);
    }
    yv_doc_free(doc);
    return YOLO_EXIT_OK;
}

static int cmd_strip(int argc, char **argv) {
    return transform("strip", argc, argv, false, false, STRIP_FORMATS);
}
static int cmd_import(int argc, char **argv) {
    return transform("import", argc, argv, true, true, IMPORT_FORMATS);
}
static int cmd_export(int argc, char **argv) {
    return transform("export", argc, argv, true, false, EXPORT_FORMATS);
}

/* ---------------------------------------------------------------- set */

static int set_file(int argc, char **argv);

static int cmd_set(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') return usage_error("set", "missing FILE%s", NULL);
    run_lock *lock = NULL;
    yolo_status st = lock_run_of(argv[1], &lock);
    if (st) return yolo_report(TOOL, st);
    int rc = set_file(argc, argv);
    lock_release(lock);
    return rc;
}

static int set_file(int argc, char **argv) {
    if (argc < 3) return usage_error("set", "missing key=value%s", NULL);
    const char *file = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) return usage_error("set", "'%s' is not key=value", argv[i]);
    }
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st = read_file(file, true, &doc, &root);
    if (st) return fail_read(st, file);
    ckptfmt_kind_t kind = ckptfmt_kind(root);
    if (kind == CKPTFMT_ULTRA_TRAINING || kind == CKPTFMT_ULTRA_STRIPPED) {
        yv_doc_free(doc);
        yolo_error(YOLO_ERR_USAGE,
                   "%s: holds pickled Ultralytics objects, which yolo-ckpt does not write "
                   "(convert it first: yolo-ckpt import %s -o OUT.pt)",
                   file, file);
        return yolo_report(TOOL, YOLO_ERR_FORMAT);
    }
    for (int i = 2; i < argc; i++) {
        char key[256];
        const char *eq = strchr(argv[i], '=');
        size_t kl = (size_t)(eq - argv[i]);
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, argv[i], kl);
        key[kl] = 0;
        if ((st = ckptfmt_set_arg(doc, root, key, eq + 1))) {
            yv_doc_free(doc);
            fail(st, file);
            return st == YOLO_ERR_USAGE ? YOLO_EXIT_USAGE : YOLO_EXIT_FAIL;
        }
    }
    if ((st = write_checked(file, root))) {
        yv_doc_free(doc);
        return fail_read(st, file);
    }
    for (int i = 2; i < argc; i++)
        printf("%s: %s\n", file, argv[i]);
    yv_doc_free(doc);
    return YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- diff */

typedef struct {
    char *name;
    const yv *t;
} named_tensor;

typedef struct {
    named_tensor *v;
    size_t n, cap;
} tensor_set;

static yolo_status ts_push(tensor_set *s, const char *name, const yv *t) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        named_tensor *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return yolo_nomem();
        s->v = nv, s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return yolo_nomem();
    s->v[s->n].name = copy;
    s->v[s->n].t = t;
    s->n++;
    return YOLO_OK;
}

static void ts_free(tensor_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].name);
    free(s->v);
}

static void key_text(const yv *k, char *buf, size_t cap) {
    int64_t i;
    const char *s = yv_as_str(k);
    if (s)
        snprintf(buf, cap, "%s", s);
    else if (k->kind == YV_INT && yv_as_int(k, &i))
        snprintf(buf, cap, "%" PRId64, i);
    else
        yv_repr(k, buf, cap);
}

/* Every tensor reachable from v, named by its path of keys; pickled modules by their state_dict names. */
static yolo_status collect(yv_doc *doc, const yv *v, const char *prefix, tensor_set *s, int depth,
                           size_t *budget) {
    if (!v || depth > 64) return YOLO_OK;
    /* Shared sub-values can make a small file describe a huge tree. */
    if (*budget == 0) return yolo_error(YOLO_ERR_LIMIT, "too many values to compare (over 4000000)");
    --*budget;
    char name[1024], key[256];
    yolo_status st;
    switch (v->kind) {
    case YV_TENSOR:
        return ts_push(s, *prefix ? prefix : "(root)", v);
    case YV_DICT:
        for (size_t i = 0; i < v->dict.n; i++) {
            key_text(v->dict.keys[i], key, sizeof key);
            snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
            if ((st = collect(doc, v->dict.vals[i], name, s, depth + 1, budget))) return st;
        }
        return YOLO_OK;
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET:
        for (size_t i = 0; i < v->seq.n; i++) {
            snprintf(name, sizeof name, "%s%s%zu", prefix, *prefix ? "." : "", i);
            if ((st = collect(doc, v->seq.items[i], name, s, depth + 1, budget))) return st;
        }
        return YOLO_OK;
    case YV_OBJECT: {
        const yv *sd = yv_state_dict(doc, v);
        if (sd) return collect(doc, sd, prefix, s, depth + 1, budget);
        return collect(doc, v->obj.state, prefix, s, depth + 1, budget);
    }
    default:
        return YOLO_OK;
    }
}

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const named_tensor *)a)->name, ((const named_tensor *)b)->name);
}

static bool same_shape_dims(const yv_tensor *a, const yv_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* 0 identical, 1 different values (max abs diff in *maxdiff), 2 different dtype or shape. */
static int compare_tensors(const yv_tensor *a, const yv_tensor *b, double *maxdiff, yolo_status *st) {
    *maxdiff = 0;
    *st = YOLO_OK;
    if (!same_shape_dims(a, b)) return 2;
    int64_t n = yv_tensor_numel(a);
    bool same_dtype = a->dtype == b->dtype;
    if (same_dtype && yv_tensor_is_contiguous(a) && yv_tensor_is_contiguous(b)) {
        const void *pa = yv_tensor_data(a), *pb = yv_tensor_data(b);
        if (n == 0 || (pa && pb && memcmp(pa, pb, (size_t)n * yv_dtype_size(a->dtype)) == 0)) return 0;
    }
    double *da = malloc((size_t)(n ? n : 1) * sizeof *da), *db = malloc((size_t)(n ? n : 1) * sizeof *db);
    if (!da || !db) {
        free(da), free(db);
        *st = yolo_nomem();
        return 1;
    }
    if ((*st = yv_tensor_to_f64(a, da)) || (*st = yv_tensor_to_f64(b, db))) {
        free(da), free(db);
        return 1;
    }
    bool identical = same_dtype;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&da[i], &db[i], sizeof(double)) != 0) identical = false;
        double d = fabs(da[i] - db[i]);
        if (isnan(d)) {
            if (isnan(da[i]) != isnan(db[i])) *maxdiff = INFINITY;
        } else if (d > *maxdiff) {
            *maxdiff = d;
        }
    }
    free(da), free(db);
    return identical ? 0 : 1;
}

static void shape_text(const yv_tensor *t, char *buf, size_t cap) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "%s[", yv_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static int cmd_diff(int argc, char **argv) {
    const char *fa = NULL, *fb = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all"))
            all = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("diff", "unknown option '%s'", argv[i]);
        else if (!fa)
            fa = argv[i];
        else if (!fb)
            fb = argv[i];
        else
            return usage_error("diff", "two files only, got also '%s'", argv[i]);
    }
    if (!fb) return usage_error("diff", "needs two files A and B%s", NULL);
    yv_doc *da = NULL, *db = NULL;
    yv *ra = NULL, *rb = NULL;
    tensor_set sa = {0}, sb = {0};
    int rc = YOLO_EXIT_FAIL;
    yolo_status st = read_file(fa, true, &da, &ra);
    if (st) {
        rc = fail_read(st, fa);
        goto done;
    }
    if ((st = read_file(fb, true, &db, &rb))) {
        rc = fail_read(st, fb);
        goto done;
    }
    size_t budget_a = 4000000, budget_b = 4000000;
    if ((st = collect(da, ra, "", &sa, 0, &budget_a))) {
        rc = fail(st, fa);
        goto done;
    }
    if ((st = collect(db, rb, "", &sb, 0, &budget_b))) {
        rc = fail(st, fb);
        goto done;
    }
    qsort(sb.v, sb.n, sizeof *sb.v, cmp_named);
    size_t identical = 0, different = 0, only_a = 0, only_b = 0;
    char *seen = calloc(sb.n ? sb.n : 1, 1);
    if (!seen) {
        rc = yolo_report(TOOL, yolo_nomem());
        goto done;
    }
    for (size_t i = 0; i < sa.n; i++) {
        named_tensor *m = bsearch(&sa.v[i], sb.v, sb.n, sizeof *sb.v, cmp_named);
        if (!m) {
            printf("only in A  %s\n", sa.v[i].name);
            only_a++;
            continue;
        }
        seen[m - sb.v] = 1;
        double maxdiff;
        const yv_tensor *ta = &sa.v[i].t->tensor, *tb = &m->t->tensor;
        int r = compare_tensors(ta, tb, &maxdiff, &st);
        if (st) {
            free(seen);
            rc = fail(st, sa.v[i].name);
            goto done;
        }
        if (r == 0) {
            identical++;
            if (all) printf("identical  %s\n", sa.v[i].name);
            continue;
        }
        different++;
        if (r == 2) {
            char s1[128], s2[128];
            shape_text(ta, s1, sizeof s1);
            shape_text(tb, s2, sizeof s2);
            printf("differs    %s  shape %s vs %s\n", sa.v[i].name, s1, s2);
        } else if (ta->dtype != tb->dtype) {
            printf("differs    %s  dtype %s vs %s, max abs diff %.9g\n", sa.v[i].name,
                   yv_dtype_name(ta->dtype), yv_dtype_name(tb->dtype), maxdiff);
        } else {
            printf("differs    %s  max abs diff %.9g\n", sa.v[i].name, maxdiff);
        }
    }
    for (size_t j = 0; j < sb.n; j++)
        if (!seen[j]) {
            printf("only in B  %s\n", sb.v[j].name);
            only_b++;
        }
    free(seen);
    printf("%zu tensors in A, %zu in B: %zu identical, %zu different, %zu only in A, %zu only in B\n", sa.n,
           sb.n, identical, different, only_a, only_b);
    rc = (different || only_a || only_b) ? YOLO_EXIT_FAIL : YOLO_EXIT_OK;
done:
    ts_free(&sa);
    ts_free(&sb);
    yv_doc_free(da);
    yv_doc_free(db);
    return rc;
}

/* ---------------------------------------------------------------- summary */

static int cmd_summary(int argc, char **argv) {
    const char *model = NULL;
    long nc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "nc=", 3)) {
            char *end;
            nc = strtol(argv[i] + 3, &end, 10);
            if (*end || end == argv[i] + 3 || nc <= 0 || nc > 1000000)
                return usage_error("summary", "'%s' is not a positive class count", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error("summary", "unknown option '%s'", argv[i]);
        } else if (model) {
            return usage_error("summary", "one MODEL.yaml only, got also '%s'", argv[i]);
        } else {
            model = argv[i];
        }
    }
    if (!model) return usage_error("summary", "missing MODEL.yaml%s", NULL);
    modelcfg *cfg = NULL;
    yolo_status st = modelcfg_load(model, (int)nc, &cfg);
    if (st) return fail_read(st, model);
    char line[256];
    st = modelcfg_summary_line(cfg, line, sizeof line);
    modelcfg_free(cfg);
    if (st) return fail_read(st, model);
    printf("%s\n", line);
    return YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- get */

/* One line per key, in a form a shell script can use directly: numbers as Python prints them, true or
 * false, an empty line for None, strings raw, containers in the short repr. */
static void print_scalar(const yv *v) {
    char buf[4096];
    switch (v->kind) {
    case YV_NONE:
        break;
    case YV_BOOL:
        fputs(v->b ? "true" : "false", stdout);
        break;
    case YV_INT:
        printf("%lld", (long long)v->i);
        break;
    case YV_FLOAT:
        printf("%.17g", v->f);
        break;
    case YV_STR:
        fwrite(v->str.s, 1, v->str.len, stdout);
        break;
    default:
        yv_repr(v, buf, sizeof buf);
        fputs(buf, stdout);
    }
    putchar('\n');
}

static int cmd_get(int argc, char **argv) {
    if (argc < 3) return usage_error("get", "expects FILE KEY...%s", NULL);
    const char *file = argv[1];
    yv_doc *doc = NULL;
    yv *root = NULL;
    yolo_status st = read_file(file, false, &doc, &root);
    if (st) return fail_read(st, file);
    for (int i = 2; i < argc; i++) {
        const yv *v = yv_path(root, argv[i]);
        if (!v) {
            yv_doc_free(doc);
            return fail(
                yolo_error(YOLO_ERR_NOTFOUND, "no key '%s' (see 'yolo-ckpt inspect --json')", argv[i]), file);
        }
        print_scalar(v);
    }
    yv_doc_free(doc);
    if (fflush(stdout) != 0) return yolo_report(TOOL, yolo_error(YOLO_ERR_IO, "cannot write output"));
    return YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- sync */

static int cmd_sync(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') return usage_error("sync", "expects exactly one FILE%s", NULL);
    const char *file = argv[1];
    run_lock *lock = NULL;
    yolo_status st = lock_run_of(file, &lock);
    if (st) return yolo_report(TOOL, st);
    yv_doc *doc = NULL;
    yv *root = NULL;
    st = read_file(file, false, &doc, &root);
    if (st) {
        lock_release(lock);
        return fail_read(st, file);
    }
    const yv *args = yv_dict_get(root, CKPTFMT_KEY_TRAIN_ARGS);
    if (!args || args->kind != YV_DICT)
        st = yolo_error(YOLO_ERR_FORMAT, "%s: no train_args (not a training checkpoint)", file);
    char run[4096];
    lock_run_dir(file, run, sizeof run);
    if (!st) st = runfiles_write(run, args, yv_dict_get(root, CKPTFMT_KEY_TRAIN_RESULTS));
    yv_doc_free(doc);
    lock_release(lock);
    return st ? yolo_report(TOOL, st) : YOLO_EXIT_OK;
}

/* ---------------------------------------------------------------- main */

static const command COMMANDS[] = {
    {"inspect",
     "usage: yolo-ckpt inspect FILE [--json] [--tensors]\n"
     "Describes a checkpoint without reading its tensor data: kind, task, model, classes,\n"
     "epoch, whether training can resume (and why not), metrics, optimizer, data, weights.\n"
     "  --json     one JSON object on stdout\n"
     "  --tensors  also list every weight tensor: name, dtype, shape\n",
     cmd_inspect},
    {"verify",
     "usage: yolo-ckpt verify FILE\n"
     "Checks the zip structure, every entry's CRC-32, that data.pkl parses and that every storage\n"
     "it refers to is present. Exit 0 if good, 1 if damaged (the reason on stderr).\n",
     cmd_verify},
    {"strip",
     "usage: yolo-ckpt strip FILE [-o OUT] [--format ours|ultralytics]\n"
     "Writes deployment weights: the EMA (or model) as an fp16 state dict under 'model', no\n"
     "optimizer, ema None, epoch -1; the result is not resumable. Without -o, FILE is replaced\n"
     "(atomically), unless it is a training checkpoint other than best*.pt (its training state\n"
     "would be lost: exit 2, give -o). Ultralytics files are converted to our layout on the way.\n"
     "  --format ultralytics  Ultralytics' own layout instead (as export --format ultralytics)\n",
     cmd_strip},
    {"import",
     "usage: yolo-ckpt import ULTRALYTICS.pt -o OUT.pt\n"
     "Converts an Ultralytics checkpoint (mid-training last.pt or stripped best.pt) into our\n"
     "layout: fp32 state dicts, optimizer state keyed by parameter name, train_args kept, epoch\n"
     "kept. Nothing in the file is executed.\n",
     cmd_import},
    {"export",
     "usage: yolo-ckpt export FILE -o OUT.pt [--format state-dict|ultralytics]\n"
     "Writes the weights (the EMA if present, else the model) for use elsewhere:\n"
     "  --format state-dict   (default) a plain {name: float32 tensor} dict, which Python loads\n"
     "                        with model.load_state_dict(torch.load(f))\n"
     "  --format ultralytics  the layout of Ultralytics 8.4.52's final weights: the pickled\n"
     "                        DetectionModel, SegmentationModel or ClassificationModel in fp16,\n"
     "                        which Ultralytics' YOLO(\"OUT.pt\") opens (to export to ONNX, ...)\n"
     "OUT may not be FILE itself when FILE is a training checkpoint other than best*.pt.\n",
     cmd_export},
    {"set",
     "usage: yolo-ckpt set FILE key=value...\n"
     "Edits train_args of one of our checkpoints in place, atomically. Values are parsed like\n"
     "Ultralytics' command line: none, true/false, int, float, [lists], else a string; the key must\n"
     "exist and pass Ultralytics' type checks. Example: yolo-ckpt set last.pt epochs=150\n"
     "In a run folder it holds the run's lock: refused (exit 1) while a training runs there.\n",
     cmd_set},
    {"diff",
     "usage: yolo-ckpt diff A B [--all]\n"
     "Compares every tensor of two files by name (optimizer state included) and prints each that\n"
     "differs with its largest absolute difference, then a summary. Exit 0 only if the names match\n"
     "and every tensor is bit-identical (same dtype, shape and bytes).\n"
     "  --all  also list the identical tensors\n",
     cmd_diff},
    {"summary",
     "usage: yolo-ckpt summary MODEL.yaml [nc=N]\n"
     "Prints Ultralytics' summary line (layers, parameters, gradients, GFLOPs) computed from the\n"
     "model YAML alone. A bare name such as yolov8s.yaml resolves to the shipped file with the\n"
     "scale taken from the name.\n",
     cmd_summary},
    {"get",
     "usage: yolo-ckpt get FILE KEY...\n"
     "Prints one line per KEY, a dotted path into the checkpoint's top-level dict (epoch,\n"
     "train_args.epochs, best_fitness): numbers and strings as they are, true/false, an empty line\n"
     "for None. Reads no tensor data. A missing key is an error (exit 1).\n",
     cmd_get},
    {"sync",
     "usage: yolo-ckpt sync RUN/weights/last.pt\n"
     "Brings the run folder's args.yaml and results.csv into line with the checkpoint: args.yaml\n"
     "from its train_args, results.csv from its train_results (one row per finished epoch), each\n"
     "written atomically and only when it differs, holding the run's lock (refused, exit 1, while a\n"
     "training runs there). The yolo command runs it, under its own lock, before anything else.\n",
     cmd_sync},
};

int main(int argc, char **argv) {
    signal(SIGXFSZ, SIG_IGN); /* past ulimit -f: a failed write and one line, not a kill */
    if (argc < 2) {
        fprintf(stderr, "%s: missing COMMAND (see 'yolo-ckpt --help')\n", TOOL);
        return YOLO_EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        fputs(USAGE, stdout);
        return YOLO_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) != 0) continue;
        for (int j = 2; j < argc; j++)
            if (is_help(argv[j])) {
                fputs(COMMANDS[i].usage, stdout);
                return YOLO_EXIT_OK;
            }
        return COMMANDS[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command '%s' (see 'yolo-ckpt --help')\n", TOOL, argv[1]);
    return YOLO_EXIT_USAGE;
}
