/* yolo-args: the yolo command's argument table (include/yolo/args.h) for the shell script that is the
 * yolo command, so that its defaults and checks are the trainer's. The script runs it once per
 * command: `parse` checks a whole command line before anything is written and prints it as bash
 * assignments; `split` checks the world size against the batch (once the script knows how many ranks
 * hosts= makes); `yaml` writes args.yaml; `cfg` and `keys` list the table. See yolo-args(1). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/args.h"
#include "yolo/ckpt.h"
#include "yolo/ckptfmt.h"
#include "yolo/cli.h"
#include "yolo/dataset.h"
#include "yolo/microsplit.h"
#include "yolo/modelcfg.h"
#include "yolo/status.h"
#include "yolo/text.h"

static const char *const USAGE =
    "usage: yolo-args parse [YOLO ARGUMENTS...]   check a yolo command line; print it as bash assignments\n"
    "       yolo-args yaml OUT [key=value...]     write args.yaml: every key, defaults where not given\n"
    "       yolo-args split BATCH WORLD [MICRO BATCH_BEFORE [WHAT]]\n"
    "                                             can WORLD ranks share a run's batches? (print its\n"
    "                                             micro-batch; MICRO, BATCH_BEFORE: a resumed run's)\n"
    "       yolo-args cfg                         every key with its default (yolo cfg)\n"
    "       yolo-args keys [--man]                the table: key, type, default, fate, resume, place, note\n"
    "                                             (--man: as yolo(1)'s KEYS section)\n";

/* While the keys of a cfg= file are read, its name, so that their errors say where they come from. */
static const char *cfg_origin;

/* Usage errors of the yolo command line are the yolo command's: "yolo: ..." and exit 2. */
static int usage(void) {
    if (cfg_origin)
        fprintf(stderr, "yolo: cfg=%s: %s\n", cfg_origin, yolo_last_error());
    else
        fprintf(stderr, "yolo: %s\n", yolo_last_error());
    return YOLO_EXIT_USAGE;
}

__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "yolo: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A word for bash: single-quoted unless plain. */
static void put_shell(FILE *f, const char *s) {
    if (*s &&
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/+-=@%") == strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

typedef struct {
    const char *task, *mode;
    bool json; /* --json (predict, val) */
    yv_doc *doc;
    yv *given;               /* key -> parsed value, in command-line order */
    const char *resume_from; /* resume=PATH: the checkpoint, as model= would name it */
    bool task_given;         /* a task word or task= (else detect, until the model says otherwise) */
    const char *cfg;         /* cfg=FILE */
    bool cfg_task, cfg_mode; /* task: and mode: came from it (a word on the command line wins) */
} cmdline;

/* The value as the command line (and args.yaml) writes it. */
static void value_text(const yv *v, char *buf, size_t cap) {
    args_format_value(v, buf, cap);
    size_t n = strlen(buf);
    if (v && v->kind == YV_STR && n >= 2 && buf[0] == '\'') { /* the script wants the text itself */
        snprintf(buf, cap, "%s", v->str.s);
    }
    if (!strcmp(buf, "null")) snprintf(buf, cap, "none");
}

static int set_key(cmdline *c, const char *k, const char *v) {
    const arg_spec *s = args_find(k);
    if (!s) {
        yolo_error(YOLO_ERR_USAGE, "'%s' is not a valid key. Similar: '%s'. See 'yolo cfg' for all keys.", k,
                   args_nearest(k));
        return usage();
    }
    yv *val = NULL;
    char warning[256];
    if (!strcmp(k, "resume") && text_ends_with(v, ".pt")) {
        /* Ultralytics' trainer takes resume=PATH too: resume, from that checkpoint */
        yv *path = yv_new_str(c->doc, v); /* (v is freed with the words) */
        if (!path) return yolo_report("yolo", yolo_nomem());
        c->resume_from = path->str.s;
        v = "true";
    }
    if (args_parse_value(s, v, c->doc, &val, warning, sizeof warning) != YOLO_OK) return usage();
    if (*warning) fprintf(stderr, "yolo: %s\n", warning);
    if (yv_dict_set_new(c->doc, c->given, k, val) != YOLO_OK) return usage();
    return 0;
}

static int word(cmdline *c, const char *t) {
    static const char *const tasks[] = {"detect", "segment", "classify"}, *const modes[] = {"train", "val",
                                                                                            "predict"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(t, tasks[i])) {
            if (c->task) return yolo_error(YOLO_ERR_USAGE, "two tasks given (%s, %s)", c->task, t), usage();
            c->task = tasks[i];
            return 0;
        }
    for (int i = 0; i < 3; i++)
        if (!strcmp(t, modes[i])) {
            if (c->mode) return yolo_error(YOLO_ERR_USAGE, "two modes given (%s, %s)", c->mode, t), usage();
            c->mode = modes[i];
            return 0;
        }
    if (!strcmp(t, "pose") || !strcmp(t, "obb"))
        return yolo_error(YOLO_ERR_USAGE, "task '%s' is not supported (detect, segment and classify are)", t),
               usage();
    if (!strcmp(t, "export"))
        return yolo_error(YOLO_ERR_USAGE,
                          "mode 'export' is not supported (train, val and predict are; yolo-ckpt export "
                          "MODEL.pt -o OUT.pt writes weights that PyTorch and Ultralytics open, and "
                          "Ultralytics exports those to ONNX and its other formats)"),
               usage();
    if (!strcmp(t, "track") || !strcmp(t, "benchmark"))
        return yolo_error(YOLO_ERR_USAGE, "mode '%s' is not supported (train, val and predict are)", t),
               usage();
    const arg_spec *s = args_find(t);
    if (s && s->type == ARG_BOOL) return set_key(c, t, "true");
    if (s)
        return yolo_error(YOLO_ERR_USAGE, "'%s' needs a value: missing '=' (e.g. %s=%s)", t, t,
                          s->def ? s->def : "..."),
               usage();
    return yolo_error(YOLO_ERR_USAGE,
                      "'%s' is not a valid key, task or mode. Similar: '%s'. See 'yolo help'.", t,
                      args_nearest(t)),
           usage();
}

/* cfg=FILE (or --cfg=FILE), a word of the command line. */
static bool is_cfg(const char *t) {
    return !strncmp(t, "cfg=", 4) || !strncmp(t, "--cfg=", 6);
}

static int take_cfg(cmdline *c, const char *t) {
    if (!is_cfg(t)) return 0;
    const char *path = strchr(t, '=') + 1;
    if (!*path) return yolo_error(YOLO_ERR_USAGE, "cfg= needs a file: cfg=FILE.yaml"), usage();
    if (c->cfg) return yolo_error(YOLO_ERR_USAGE, "two cfg= files given (%s, %s)", c->cfg, path), usage();
    yv *copy = yv_new_str(c->doc, path); /* (the words are freed once parsed) */
    if (!copy) return yolo_report("yolo", yolo_nomem());
    c->cfg = copy->str.s;
    return 0;
}

/* Ultralytics' cfg=FILE: the keys of a YAML (its default.yaml, or a copy edited) as if given before the
 * command line, whose keys and words then win. (Ultralytics lets the file replace the keys written
 * before cfg= and the later ones override it; here the order of the words does not matter.) A key at
 * its default or null is a key not given (a whole default.yaml changes nothing but its task: and mode:),
 * and the file's own cfg: is ignored, as in Ultralytics. */
static int read_cfg(cmdline *c, const char *path) {
    yv *keys = NULL;
    if (args_read_yaml(c->doc, path, NULL, 0, &keys) != YOLO_OK) return usage();
    cfg_origin = path;
    int rc = 0;
    for (size_t i = 0; i < keys->dict.n && !rc; i++) {
        const char *k = yv_as_str(keys->dict.keys[i]);
        const yv *v = keys->dict.vals[i];
        const arg_spec *spec = k ? args_find(k) : NULL;
        bool word = k && (!strcmp(k, "task") || !strcmp(k, "mode")); /* they say which command it is */
        if (!k || !strcmp(k, "cfg") || !v || v->kind == YV_NONE ||
            (spec && !word && args_is_default(spec, v)))
            continue;
        char text[4096];
        value_text(v, text, sizeof text);
        rc = set_key(c, k, text);
        c->cfg_task |= !strcmp(k, "task"), c->cfg_mode |= !strcmp(k, "mode");
    }
    cfg_origin = NULL;
    return rc;
}

/* Ultralytics' grammar: TASK, MODE, key=value and bare bool keys; "k = v" is one argument. */
static int parse_words(cmdline *c, int argc, char **argv) {
    char **toks = calloc((size_t)argc + 1, sizeof *toks);
    int n = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (n && (a[0] == '=' || (strlen(toks[n - 1]) && toks[n - 1][strlen(toks[n - 1]) - 1] == '='))) {
            char *j = malloc(strlen(toks[n - 1]) + strlen(a) + 1);
            strcpy(j, toks[n - 1]), strcat(j, a);
            free(toks[n - 1]);
            toks[n - 1] = j;
        } else {
            toks[n++] = strdup(a);
        }
    }
    for (int i = 0; i < n && !rc; i++)
        rc = take_cfg(c, toks[i]);
    if (!rc && c->cfg) rc = read_cfg(c, c->cfg);
    for (int i = 0; i < n && !rc; i++) {
        char *t = toks[i];
        if (is_cfg(t)) continue;
        if (!strcmp(t, "--json")) { /* predict: a line of JSON per image; val: the metrics */
            c->json = true;
            continue;
        }
        if (!strncmp(t, "--", 2)) t += 2;
        size_t len = strlen(t);
        if (len && t[len - 1] == ',') t[len - 1] = 0;
        char *eq = strchr(t, '=');
        if (eq) {
            *eq = 0;
            rc = set_key(c, t, eq + 1);
            c->cfg_task &= strcmp(t, "task") != 0, c->cfg_mode &= strcmp(t, "mode") != 0;
        } else {
            rc = word(c, t);
        }
    }
    for (int i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
    return rc;
}

static bool given(const cmdline *c, const char *k) {
    const yv *v = yv_dict_get(c->given, k);
    return v && v->kind != YV_NONE;
}

/* A resume takes everything from the checkpoint but the keys 8.4.52 lets change (and ours). */
static int check_resume(const cmdline *c) {
    for (size_t i = 0; i < c->given->dict.n; i++) {
        const char *k = yv_as_str(c->given->dict.keys[i]);
        const arg_spec *s = args_find(k);
        if (s->resume) continue;
        char allowed[1024] = "";
        size_t n, len = 0;
        const arg_spec *t = args_table(&n);
        for (size_t j = 0; j < n; j++)
            if (t[j].resume && t[j].fate == ARG_WORKS && strcmp(t[j].key, "resume") &&
                strcmp(t[j].key, "model"))
                len +=
                    (size_t)snprintf(allowed + len, sizeof allowed - len, "%s%s", len ? ", " : "", t[j].key);
        yolo_error(
            YOLO_ERR_USAGE,
            "resume: %s= cannot be changed on resume: the dataset and the other settings come from the "
            "checkpoint (start a new run to change them; these may change: %s)",
            k, allowed);
        return usage();
    }
    return 0;
}

/* resume=PATH is resume model=PATH; a model= naming another file is a contradiction. */
static int resume_from(cmdline *c) {
    const char *model = yv_get_str(c->given, "model");
    if (model && strcmp(model, c->resume_from))
        return yolo_error(YOLO_ERR_USAGE, "resume=%s and model=%s name two checkpoints (give one)",
                          c->resume_from, model),
               usage();
    yv *v = yv_new_str(c->doc, c->resume_from);
    if (!v || yv_dict_set_new(c->doc, c->given, "model", v) != YOLO_OK)
        return yolo_report("yolo", yolo_nomem());
    return 0;
}

/* A model=FILE.pt that is not there: a bare name is most likely Ultralytics' pretrained weights, which it
 * downloads on first use and yolo-tools never does. */
static yolo_status check_checkpoint(const char *model) {
    if (access(model, R_OK) == 0) return YOLO_OK;
    if (strchr(model, '/')) return yolo_error(YOLO_ERR_USAGE, "model=%s: no such checkpoint", model);
    return yolo_error(YOLO_ERR_USAGE,
                      "model=%s: no such checkpoint here (Ultralytics downloads its pretrained weights; "
                      "yolo-tools never downloads: put %s in this folder, or train from scratch with a "
                      "model YAML such as model=yolov8n.yaml)",
                      model, model);
}

/* As in Ultralytics, the model's task wins: a task word that says otherwise is overridden, with a
 * warning; none given, the model's is taken (yolo train model=yolov8n-cls.yaml trains in runs/classify). */
static void take_model_task(cmdline *c, const char *mtask) {
    static const char *const tasks[] = {"detect", "segment", "classify"};
    for (int i = 0; mtask && i < 3; i++) {
        if (strcmp(mtask, tasks[i]) || !strcmp(c->task, tasks[i])) continue;
        if (c->task_given)
            warn("task=%s conflicts with the model's task (%s): %s task=%s, as the model is", c->task,
                 tasks[i],
                 !strcmp(c->mode, "val")       ? "validating"
                 : !strcmp(c->mode, "predict") ? "predicting"
                                               : "training",
                 tasks[i]);
        c->task = tasks[i];
        if (given(c, "task")) yv_dict_set_new(c->doc, c->given, "task", yv_new_str(c->doc, tasks[i]));
    }
}

/* The task of the checkpoint at model, taken as take_model_task says. */
static yolo_status checkpoint_task(cmdline *c, const char *model) {
    yv_doc *doc = NULL;
    yv *root = NULL;
    ckpt_read_opts ro = {.skip_tensor_data = true};
    yolo_status st = ckpt_read(model, &ro, &doc, &root);
    if (st == YOLO_OK) take_model_task(c, ckptfmt_task(root));
    yv_doc_free(doc);
    return st;
}

/* What must hold before a new run folder is made: a readable dataset, a known model, a device. */
static int check_new_run(cmdline *c) {
    if (!given(c, "data"))
        return yolo_error(YOLO_ERR_USAGE, "data= is required for training, e.g. data=data.yaml"), usage();
    /* found as Ultralytics finds it: a bare name in the datasets folder, data.yaml's path: against the
     * working folder, the datasets folder, the YAML's folder; not found is one line naming every place */
    char found[4096];
    if (dataset_find(yv_get_str(c->given, "data"), found, sizeof found) != YOLO_OK) return usage();
    dataset *ds = NULL;
    if (dataset_open(found, &ds) != YOLO_OK) return usage();
    bool folders = dataset_is_classify(ds);
    dataset_free(ds);
    const char *model = yv_get_str(c->given, "model");
    if (text_ends_with(model, ".pt")) {
        if (check_checkpoint(model)) return usage();
        if (checkpoint_task(c, model) != YOLO_OK) return yolo_error_prefix(YOLO_ERR_USAGE, "model"), usage();
    } else {
        modelcfg *cfg = NULL;
        if (modelcfg_load(model, 1, &cfg) != YOLO_OK)
            return yolo_error_prefix(YOLO_ERR_USAGE, "model"), usage();
        take_model_task(c, modelcfg_task(cfg));
        modelcfg_free(cfg);
    }
    const char *data = yv_get_str(c->given, "data");
    if (folders && strcmp(c->task, "classify"))
        return yolo_error(
                   YOLO_ERR_USAGE,
                   "data=%s: a classification dataset (class folders); a %s model trains on a data.yaml "
                   "with label files",
                   data, c->task),
               usage();
    if (!folders && !strcmp(c->task, "classify"))
        return yolo_error(YOLO_ERR_USAGE,
                          "data=%s: a detect or segment dataset (a data.yaml with label files); a classify "
                          "model trains on a folder of class folders (train/CLASS/*.jpg)",
                          data),
               usage();
    const char *dev = yv_get_str(c->given, "device");
    if (dev && !strncasecmp(dev, "mps", 3))
        return yolo_error(YOLO_ERR_USAGE,
                          "device=%s: Apple's Metal (MPS) is not supported; use device=cpu, or CUDA GPUs "
                          "(device=0)",
                          dev),
               usage();
    if (dev && strcasecmp(dev, "cpu") && access("/proc/driver/nvidia/version", F_OK) != 0)
        return yolo_error(YOLO_ERR_USAGE,
                          "device=%s: this machine has no NVIDIA driver (no CUDA device); use "
                          "device=cpu",
                          dev),
               usage();
    /* Ultralytics' trainer turns shuffling off for rect batches, with this warning */
    if (yv_is_truthy(yv_dict_get(c->given, "rect")))
        warn("'rect=True' is incompatible with DataLoader shuffle, setting shuffle=False");
    const char *opt = yv_get_str(c->given, "optimizer");
    bool lr = given(c, "lr0"), mom = given(c, "momentum");
    if ((!opt || !strcasecmp(opt, "auto")) && (lr || mom))
        warn("optimizer=auto ignores %s%s: it picks the optimizer, lr0 and momentum itself (give "
             "optimizer=SGD, "
             "Adam or AdamW to set them)",
             lr && mom ? "lr0 and momentum"
             : lr      ? "lr0"
                       : "momentum",
             "");
    return 0;
}

static void print_keys_of(const char *name, arg_place place, const char *except) {
    size_t n;
    const arg_spec *t = args_table(&n);
    printf("%s='", name);
    for (size_t i = 0, k = 0; i < n; i++) {
        char pat[40];
        snprintf(pat, sizeof pat, " %s ", t[i].key);
        if (t[i].place == place && t[i].fate == ARG_WORKS && !strstr(except, pat))
            printf("%s%s", k++ ? " " : "", t[i].key);
    }
    printf("'\n");
}

/* mode=val is the mode, as the word val is: Ultralytics reads both (here it was ignored, and a new run
 * trained). */
static int mode_key(cmdline *c) {
    if (!given(c, "mode")) return 0;
    const char *m = yv_get_str(c->given, "mode");
    if (c->mode && strcmp(c->mode, m))
        return yolo_error(YOLO_ERR_USAGE, "two modes given (%s, mode=%s)", c->mode, m), usage();
    c->mode = m;
    return 0;
}

static int cmd_parse(int argc, char **argv) {
    cmdline c = {.doc = yv_doc_new()};
    c.given = c.doc ? yv_new_dict(c.doc) : NULL;
    if (!c.given) return yolo_report("yolo", yolo_nomem());
    int rc = parse_words(&c, argc, argv);
    /* a task or mode word wins over the cfg= file's task: and mode: */
    if (c.task && c.cfg_task) yv_dict_del(c.given, "task");
    if (c.mode && c.cfg_mode) yv_dict_del(c.given, "mode");
    if (!rc) rc = mode_key(&c);
    if (!rc && !c.mode) {
        fprintf(stderr, "yolo: no mode given, using 'train'\n");
        c.mode = "train";
    }
    c.task_given = c.task || given(&c, "task");
    if (!rc && !c.task) c.task = given(&c, "task") ? yv_get_str(c.given, "task") : "detect";
    if (!rc && c.json && !strcmp(c.mode, "train"))
        rc = (yolo_error(YOLO_ERR_USAGE, "--json is for val and predict (a run's metrics: yolo-ckpt inspect "
                                         "--json RUN/weights/best.pt, and RUN/results.csv)"),
              usage());
    if (!rc && c.resume_from) rc = resume_from(&c);
    /* val and predict read a checkpoint too, and their task is the model's, as in training (one that
     * does not read is named by the val or the predict itself) */
    const char *pt = given(&c, "model") ? yv_get_str(c.given, "model") : NULL;
    if (!rc && strcmp(c.mode, "train") && pt && text_ends_with(pt, ".pt")) {
        if (check_checkpoint(pt))
            rc = usage();
        else
            (void)checkpoint_task(&c, pt);
    }
    bool resume = yv_is_truthy(yv_dict_get(c.given, "resume"));
    if (!rc && resume && c.cfg)
        rc = (yolo_error(
                  YOLO_ERR_USAGE,
                  "resume: cfg=%s: a resume takes the run's settings from its checkpoint (cfg= is for a "
                  "new run; the keys that may change on resume are given alone)",
                  c.cfg),
              usage());
    if (!rc && !strcmp(c.mode, "train") && resume) rc = check_resume(&c);
    if (!rc && !strcmp(c.mode, "train") && !resume) {
        if (!given(&c, "model")) {
            const char *m = !strcmp(c.task, "segment")    ? "yolov8n-seg.yaml"
                            : !strcmp(c.task, "classify") ? "yolov8n-cls.yaml"
                                                          : "yolov8n.yaml";
            yv_dict_set_new(c.doc, c.given, "model", yv_new_str(c.doc, m));
        }
        rc = check_new_run(&c);
    }
    if (!rc && !strcmp(c.mode, "train") && given(&c, "classes"))
        rc = (yolo_error(YOLO_ERR_USAGE,
                         "classes= is not supported for train: it keeps classes in predict (filtering "
                         "the training labels is not implemented)"),
              usage());
    if (!rc && !strcmp(c.mode, "val") && !given(&c, "model"))
        rc = (yolo_error(YOLO_ERR_USAGE,
                         "model= is required for val, e.g. model=runs/%s/train/weights/best.pt", c.task),
              usage());
    if (!rc) {
        char buf[4200];
        printf("TASK=%s\nMODE=%s\nJSON=%s\n", c.task, c.mode, c.json ? "--json" : "");
        for (size_t i = 0; i < c.given->dict.n; i++) {
            value_text(c.given->dict.vals[i], buf, sizeof buf);
            printf("ARGS[%s]=", yv_as_str(c.given->dict.keys[i]));
            put_shell(stdout, buf);
            putchar('\n');
        }
        size_t n;
        const arg_spec *t = args_table(&n);
        for (size_t i = 0; i < n; i++) {
            printf("DEF[%s]=", t[i].key);
            put_shell(stdout, t[i].def ? t[i].def : "none");
            putchar('\n');
        }
        print_keys_of("STREAM_KEYS", ARG_AT_STREAM, " data imgsz seed ");
        print_keys_of("PROCESS_KEYS", ARG_AT_PROCESS, "");
    }
    yv_doc_free(c.doc);
    return rc;
}

static int cmd_yaml(int argc, char **argv) {
    if (argc < 1) return fprintf(stderr, "%s", USAGE), YOLO_EXIT_USAGE;
    yv_doc *doc = yv_doc_new();
    yv *args = doc ? yv_new_dict(doc) : NULL;
    yolo_status st = args ? YOLO_OK : yolo_nomem();
    for (int i = 1; st == YOLO_OK && i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        const arg_spec *s = NULL;
        if (eq) {
            *eq = 0;
            s = args_find(argv[i]);
        }
        yv *v = NULL;
        if (!s)
            st = yolo_error(YOLO_ERR_USAGE, "'%s' is not a key=value of the table", argv[i]);
        else if ((st = args_parse_value(s, eq + 1, doc, &v, NULL, 0)) == YOLO_OK)
            st = yv_dict_set_new(doc, args, s->key, v);
    }
    if (st == YOLO_OK) st = args_fill_defaults(doc, args);
    if (st == YOLO_OK) st = args_write_yaml(argv[0], args);
    yv_doc_free(doc);
    return yolo_report("yolo-args", st);
}

/* The trainer's rule for micro-batches and ranks (lib/microsplit.c), before any run folder exists. */
static int cmd_split(int argc, char **argv) {
    int n[4] = {0, 0, 0, 0}, micro;
    if (argc < 2 || argc == 3 || argc > 5) return fprintf(stderr, "%s", USAGE), YOLO_EXIT_USAGE;
    for (int i = 0; i < argc && i < 4; i++)
        if (!cli_parse_int(argv[i], i < 2 ? 1 : 0, 100000000, &n[i]))
            return fprintf(stderr, "yolo-args: split: '%s' is not a count\n", argv[i]), YOLO_EXIT_USAGE;
    if (microsplit_resolve(n[0], n[1], n[2], n[3], argc > 4 ? argv[4] : "train", &micro) != YOLO_OK)
        return usage();
    printf("%d\n", micro);
    return 0;
}

static const char *const TYPES[] = {"str", "int", "float", "bool", "choice", "int-list", "bool-or-str"};
static const char *const FATES[] = {"works", "refused", "display-only"};
static const char *const PLACES[] = {"train_args", "train_args, yolo-data", "train_args, each epoch", "yolo"};

/* roff for yolo(1)'s KEYS section (between its BEGIN KEYS and END KEYS comments). */
static void put_roff(const char *t) {
    for (; *t; t++) {
        if (*t == '\\')
            fputs("\\e", stdout);
        else if (*t == '-')
            fputs("\\-", stdout);
        else
            putchar(*t);
    }
}

static int cmd_man(void) {
    size_t n;
    const arg_spec *t = args_table(&n);
    for (size_t i = 0; i < n; i++) {
        printf(".TP\n.BR %s \" (", t[i].key);
        put_roff(t[i].choices ? t[i].choices : TYPES[t[i].type]);
        printf("; ");
        put_roff(t[i].def ? t[i].def : "none");
        printf("%s)\"\n%s", t[i].resume && t[i].fate == ARG_WORKS ? "; resume" : "", FATES[t[i].fate]);
        if (t[i].note) {
            printf(": ");
            put_roff(t[i].note);
        }
        putchar('\n');
    }
    return 0;
}

static int cmd_list(bool cfg) {
    size_t n;
    const arg_spec *t = args_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (cfg) {
            printf("%s: %s\n", t[i].key, t[i].def ? t[i].def : "null");
            continue;
        }
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t[i].key, t[i].choices ? t[i].choices : TYPES[t[i].type],
               t[i].def ? t[i].def : "null", FATES[t[i].fate], t[i].resume ? "resume" : "-",
               PLACES[t[i].place], t[i].note ? t[i].note : "");
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? YOLO_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "parse")) return cmd_parse(argc - 2, argv + 2);
    if (!strcmp(argv[1], "yaml")) return cmd_yaml(argc - 2, argv + 2);
    if (!strcmp(argv[1], "split")) return cmd_split(argc - 2, argv + 2);
    if (!strcmp(argv[1], "cfg")) return cmd_list(true);
    if (!strcmp(argv[1], "keys")) return argc > 2 && !strcmp(argv[2], "--man") ? cmd_man() : cmd_list(false);
    fprintf(stderr, "yolo-args: '%s' is not a command\n%s", argv[1], USAGE);
    return YOLO_EXIT_USAGE;
}
