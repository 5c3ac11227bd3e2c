/* yolo-data: datasets to sample streams (man 1 yolo-data, man 5 yolo-stream). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "yolo/cli.h"
#include "yolo/dataset.h"
#include "yolo/args.h"
#include "yolo/fashion.h"
#include "yolo/pipeline.h"
#include "yolo/status.h"
#include "yolo/stream.h"

#define TOOL "yolo-data"

static const char USAGE[] =
    "usage: yolo-data DATA --split train|val|test [--epoch E] [--seed S] [--imgsz N] [options] > stream\n"
    "       yolo-data check DATA [--workers N] [--no-cache] [--root DIR]\n"
    "       yolo-data list DATA [--split S] [fraction=F] [--workers N] [--no-cache] [--root DIR]\n"
    "       yolo-data resolve DATA\n"
    "       yolo-data show DATA -o grid.jpg [--split S] [--epoch E] [--n 16] [--seed S] [--imgsz N]\n"
    "       yolo-data fashion --task detect|segment|classify --out DIR [--train N] [--val N] [--imgsz S] "
    "[--seed N] [--jpeg]\n"
    "       yolo-data merge SHARD... [-o OUT]\n"
    "       yolo-data dump [STREAM]\n"
    "DATA is a data.yaml, a classification folder (train/CLASS/...) or a .zip/.tar(.gz|.zst) of either;\n"
    "a bare name (coco8.yaml) not found here is looked for in the datasets folder. data.yaml's path: is\n"
    "found as Ultralytics finds it: against the working folder, then the datasets folder "
    "($YOLO_DATASETS_DIR,\n"
    "else datasets_dir of Ultralytics' settings.json), then the YAML's folder. Nothing is downloaded.\n"
    "resolve prints where DATA is, the root its path: led to (absolute) and the class names, one a line,\n"
    "or fails naming every place tried.\n"
    "Stream options:\n"
    "  --split S         train (augmented, shuffled), val or test (letterboxed, in order)\n"
    "  --epoch E         0-based epoch (default 0); --epochs N: run length, for close_mosaic\n"
    "  --seed S          random seed (default 0)\n"
    "  --imgsz N         training size, a multiple of 32 (default 640)\n"
    "  --task T          detect, segment or classify (default: from the dataset)\n"
    "  --shard k/n       only samples i with i % n == k\n"
    "  --shard-block B   ... in blocks of B: samples i with (i / B) % n == k (a data-parallel rank's share)\n"
    "  --from I          start at sample I of the epoch (resume)\n"
    "  --count N         at most N samples (the first batches, for yolo-plot grid)\n"
    "  --workers N       threads (default: all cores); the bytes do not depend on it\n"
    "  --cache-mb N      memory for decoded images reused by mosaic (default 512, 0: none)\n"
    "  --rect --batch B  rect batches of B images (as rect=true; validation: pad 0.5; train: pad 0, no\n"
    "                    shuffle, mosaic or mixup)\n"
    "  --augment | --no-augment   force the train or the validation transform\n"
    "  --no-cache        neither read nor write the label cache\n"
    "  --root DIR        the dataset root, whatever data.yaml's path: says (what a run recorded)\n"
    "  -o FILE           write to FILE instead of stdout\n"
    "  -q, --quiet       no warnings about bad files on stderr\n"
    "  --quiet-known     none about bad files the label cache already held (unchanged since an earlier\n"
    "                    epoch named them: the yolo loop's epochs after its first), nor the caching note\n"
    "  KEY=VALUE         augmentation hyper-parameters with Ultralytics' names (mosaic=0 fliplr=0.5 ...)\n"
    "  fraction=F        train only: the first round(F * images) files of the sorted list (0 < F <= 1)\n"
    "list prints the usable images of a split (default train), one a line, relative to the dataset root\n"
    "(data.yaml's path:, or the classification folder) where they lie under it.\n";

static int usage_error(const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    fprintf(stderr, "%s: %s (see yolo-data --help)\n", TOOL, msg);
    return YOLO_EXIT_USAGE;
}

/* The library has set the message; exit 1 unless it was a usage problem. */
static int fail(yolo_status st) {
    return yolo_report(TOOL, st);
}

static bool parse_i64(const char *s, int64_t *out, int64_t lo, int64_t hi) {
    if (!s || !*s) return false;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (*e || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return false;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || errno) return false;
    *out = v;
    return true;
}

static bool parse_f(const char *s, float *out) {
    if (!s || !*s) return false;
    char *e;
    float v = strtof(s, &e);
    if (*e) return false;
    *out = v;
    return true;
}

/* fraction=F (Ultralytics: 0 < F <= 1, the share of the train split's files). Returns 0, or the usage exit
 * code. */
static int parse_fraction(const char *kv, double *out) {
    char *e;
    const char *v = kv + strlen("fraction=");
    double f = strtod(v, &e);
    if (!*v || *e || !(f > 0 && f <= 1)) return usage_error("bad '%s' (a number with 0 < fraction <= 1)", kv);
    *out = f;
    return 0;
}

/* Ultralytics' hyper-parameter names. */
static int set_hyp(augment_cfg *c, const char *kv) {
    const char *eq = strchr(kv, '=');
    char key[64];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key) return usage_error("unknown setting '%s'", kv);
    memcpy(key, kv, kl);
    key[kl] = 0;
    const char *v = eq + 1;
    float *f = augment_cfg_float(c, key);
    if (f) return parse_f(v, f) ? 0 : usage_error("bad number in '%s'", kv);
    int64_t x;
    if (strcmp(key, "close_mosaic") == 0 || strcmp(key, "mask_ratio") == 0 || strcmp(key, "imgsz") == 0) {
        if (!parse_i64(v, &x, 0, 1 << 16)) return usage_error("bad whole number in '%s'", kv);
        if (key[0] == 'c')
            c->close_mosaic = (int)x;
        else if (key[0] == 'm')
            c->mask_ratio = (int)x;
        else
            c->imgsz = (int)x;
        return 0;
    }
    if (strcmp(key, "overlap_mask") == 0) {
        bool b = strcmp(v, "True") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        if (!b && strcmp(v, "False") && strcmp(v, "false") && strcmp(v, "0"))
            return usage_error("bad boolean in '%s'", kv);
        c->overlap_mask = b;
        return 0;
    }
    if (strcmp(key, "copy_paste_mode") == 0) {
        /* only the flip mode is implemented; refuse the other rather than train differently */
        if (strcmp(v, "flip")) return usage_error("'%s' is not supported (copy_paste_mode=flip is)", kv);
        return 0;
    }
    if (strcmp(key, "auto_augment") == 0) {
        if (!strcmp(v, "randaugment"))
            c->auto_augment = AUGMENT_AUTO_RANDAUGMENT;
        else if (!strcmp(v, "autoaugment"))
            c->auto_augment = AUGMENT_AUTO_AUTOAUGMENT;
        else if (!strcmp(v, "augmix"))
            c->auto_augment = AUGMENT_AUTO_AUGMIX;
        else if (!strcmp(v, "None") || !strcmp(v, "none") || !*v)
            c->auto_augment = AUGMENT_AUTO_NONE;
        else
            return usage_error("bad auto_augment in '%s'", kv);
        return 0;
    }
    return usage_error("unknown setting '%s'", kv);
}

/* What stream and show both read: a dataset, a split and the transform of one epoch. */
typedef struct {
    pipeline_opts o;
    const char *data, *out, *root;
    int aug; /* 1 --augment, 0 --no-augment, -1 the split decides */
    bool no_cache;
    bool single_cls;   /* single_cls=true */
    const char *cache; /* cache=ram|disk|true|false (decoded images) */
} source_args;

/* single_cls=, cache= and rect=, checked as the yolo command checks them (the args table). */
static int set_data_key(source_args *s, const char *kv) {
    char key[16];
    size_t kl = (size_t)(strchr(kv, '=') - kv);
    snprintf(key, sizeof key, "%.*s", (int)kl, kv);
    yv_doc *doc = yv_doc_new();
    yv *v = NULL;
    yolo_status st = doc ? args_parse_value(args_find(key), kv + kl + 1, doc, &v, NULL, 0) : yolo_nomem();
    if (st == YOLO_OK && key[0] == 's') s->single_cls = yv_is_truthy(v);
    if (st == YOLO_OK && key[0] == 'r') s->o.rect = yv_is_truthy(v);
    if (st == YOLO_OK && key[0] == 'c')
        s->cache = v->kind == YV_STR ? (!strcmp(v->str.s, "disk") ? "disk" : "ram") : v->b ? "ram" : NULL;
    yv_doc_free(doc);
    return st == YOLO_OK ? 0 : usage_error("%s", yolo_last_error());
}

/* Takes argv[*k] (and the value after it) when it is an option both commands have: 0 when taken,
 * -1 when it is not one of them, else the usage exit status after the error line. */
static int parse_source_arg(int argc, char **argv, int *k, source_args *s) {
    const char *a = argv[*k], *v = *k + 1 < argc ? argv[*k + 1] : NULL;
    pipeline_opts *o = &s->o;
    int64_t x;
    if (!strcmp(a, "--augment"))
        s->aug = 1;
    else if (!strcmp(a, "--no-augment"))
        s->aug = 0;
    else if (!strcmp(a, "--no-cache"))
        s->no_cache = true;
    else if (!strncmp(a, "single_cls=", 11) || !strncmp(a, "cache=", 6) || !strncmp(a, "rect=", 5))
        return set_data_key(s, a);
    else if (a[0] != '-' && strchr(a, '='))
        return set_hyp(&o->aug, a);
    else if (a[0] != '-' && !s->data)
        s->data = a;
    else if (!v)
        return -1;
    /* the options below take a value */
    else if (!strcmp(a, "-o"))
        s->out = v, ++*k;
    else if (!strcmp(a, "--root"))
        s->root = v, ++*k;
    else if (!strcmp(a, "--split"))
        o->split = v, ++*k;
    else if (!strcmp(a, "--task"))
        o->task = v, ++*k;
    else if (!strcmp(a, "--epoch")) {
        if (!parse_i64(v, &x, 0, 1 << 30)) return usage_error("bad --epoch '%s'", v);
        o->epoch = (int)x, ++*k;
    } else if (!strcmp(a, "--epochs")) {
        if (!parse_i64(v, &x, 0, 1 << 30)) return usage_error("bad --epochs '%s'", v);
        o->epochs = (int)x, ++*k;
    } else if (!strcmp(a, "--seed")) {
        if (!parse_u64(v, &o->seed)) return usage_error("bad --seed '%s'", v);
        ++*k;
    } else if (!strcmp(a, "--imgsz")) {
        if (!parse_i64(v, &x, 32, 8192)) return usage_error("bad --imgsz '%s'", v);
        o->aug.imgsz = (int)x, ++*k;
    } else if (!strcmp(a, "--workers")) {
        if (!parse_i64(v, &x, 0, 256)) return usage_error("bad --workers '%s'", v);
        o->workers = (int)x, ++*k;
    } else
        return -1;
    return 0;
}

/* Opens the dataset that data= names (a bare name is also looked for in the datasets folder), with its
 * root when a run gives one; otherwise says which root was taken when two would do. */
static yolo_status open_data(const char *data, const char *root, dataset **ds) {
    char found[4096];
    yolo_status st = dataset_find(data, found, sizeof found);
    if (!st) st = dataset_open_at(found, root, ds);
    if (!st && dataset_note(*ds)) fprintf(stderr, "%s: %s\n", TOOL, dataset_note(*ds));
    return st;
}

static void print_warnings(FILE *f, const dataset_report *r, const char *prefix) {
    for (int k = 0; k < r->n_msgs; k++)
        fprintf(f, "%s%s\n", prefix, r->msgs[k]);
}

/* ---- stream ---- */

static int cmd_stream(int argc, char **argv) {
    source_args src = {.aug = -1};
    pipeline_opts_default(&src.o);
    src.o.split = NULL;
    pipeline_opts *so = &src.o;
    bool quiet = false, quiet_known = false;
    double fraction = 1;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        int64_t x;
        if (!strncmp(a, "fraction=", 9)) {
            int r = parse_fraction(a, &fraction);
            if (r) return r;
            continue;
        }
        int r = parse_source_arg(argc, argv, &k, &src);
        if (r >= 0) {
            if (r) return r;
        } else if (!strcmp(a, "--shard") && v) {
            int sk, sn, used = 0;
            if (sscanf(v, "%d/%d%n", &sk, &sn, &used) != 2 || v[used] || sn < 1 || sk < 0 || sk >= sn)
                return usage_error("bad --shard '%s' (k/n with 0 <= k < n)", v);
            so->shard_k = sk, so->shard_n = sn, k++;
        } else if (!strcmp(a, "--shard-block") && v) {
            if (!parse_i64(v, &x, 1, 1 << 30))
                return usage_error("bad --shard-block '%s' (a number of samples >= 1)", v);
            so->shard_block = x, k++;
        } else if (!strcmp(a, "--from") && v) {
            if (!parse_i64(v, &x, 0, INT64_MAX / 4)) return usage_error("bad --from '%s'", v);
            so->from = x, k++;
        } else if (!strcmp(a, "--count") && v) {
            if (!parse_i64(v, &x, 1, INT64_MAX / 4))
                return usage_error("bad --count '%s' (a positive number)", v);
            so->limit = x, k++;
        } else if (!strcmp(a, "--batch") && v) {
            if (!parse_i64(v, &x, 1, 1 << 20)) return usage_error("bad --batch '%s'", v);
            so->batch = (int)x, k++;
        } else if (!strcmp(a, "--cache-mb") && v) {
            if (!parse_i64(v, &x, 0, 1 << 22)) return usage_error("bad --cache-mb '%s'", v);
            so->cache_mb = (int)x, k++;
        } else if (!strcmp(a, "--rect"))
            so->rect = true;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q"))
            quiet = true;
        else if (!strcmp(a, "--quiet-known"))
            quiet_known = true;
        else
            return usage_error("unexpected argument '%s'", a);
    }
    pipeline_opts o = src.o;
    const char *data = src.data, *out = src.out;
    bool no_cache = src.no_cache;
    if (!data) return usage_error("%s", "no dataset given");
    if (!o.split) return usage_error("%s", "no --split given (train, val or test)");
    o.augment = src.aug >= 0 ? src.aug == 1 : strcmp(o.split, "train") == 0;
    if (!out && isatty(STDOUT_FILENO))
        return usage_error("%s", "refusing to write a binary stream to a terminal (pipe it or use -o FILE)");
    dataset *ds;
    yolo_status st = open_data(data, src.root, &ds);
    if (st) return fail(st);
    if (src.single_cls) dataset_set_single_cls(ds);
    if (src.cache) {
        o.cache_disk = !strcmp(src.cache, "disk");
        if (!o.cache_disk) o.cache_mb = -1; /* every image, for the whole epoch */
    }
    dataset_split *sp;
    /* as Ultralytics, fraction applies to the train split only */
    dataset_load_opts lo = {
        .workers = o.workers, .no_cache = no_cache, .fraction = strcmp(o.split, "train") == 0 ? fraction : 1};
    st = dataset_split_load(ds, o.split, &lo, &sp);
    if (st) {
        dataset_free(ds);
        return fail(st);
    }
    const dataset_report *rep = dataset_split_report(sp);
    if (!quiet && !(quiet_known && dataset_report_known(rep)))
        dataset_report_warn(rep, stderr, TOOL, o.split);
    pipeline *p = NULL;
    st = pipeline_open(ds, sp, &o, &p);
    if (!st && o.cache_disk && dataset_split_count(sp) && access(dataset_split_file(sp, 0), W_OK | R_OK))
        st = yolo_error(YOLO_ERR_USAGE,
                        "cache=disk keeps decoded images beside the image files, and %s's are not "
                        "files that can be written beside (an archive, or read-only); use cache=ram",
                        data);
    if (!st && src.cache && !quiet && !quiet_known)
        fprintf(stderr, "%s: caching the %s images (%.1f MB %s)\n", TOOL, o.split,
                (double)pipeline_cache_bytes(p) / 1e6, o.cache_disk ? "on disk" : "of RAM");
    FILE *f = stdout;
    if (!st && out && !(f = fopen(out, "wb"))) st = yolo_error(YOLO_ERR_IO, "%s: %s", out, strerror(errno));
    if (!st) st = pipeline_write(p, f, out ? out : "stdout");
    if (f && f != stdout && fclose(f) != 0 && !st) st = yolo_error(YOLO_ERR_IO, "%s: write failed", out);
    if (!st && !out && fflush(stdout) != 0) st = yolo_error(YOLO_ERR_IO, "stdout: write failed");
    int rc = yolo_report(TOOL, st);
    pipeline_free(p);
    dataset_split_free(sp);
    dataset_free(ds);
    return rc;
}

/* ---- check ---- */

static int cmd_check(int argc, char **argv) {
    const char *data = NULL, *root = NULL;
    dataset_load_opts lo = {0};
    for (int k = 1; k < argc; k++) {
        int64_t x;
        if (!strcmp(argv[k], "--workers") && k + 1 < argc) {
            if (!parse_i64(argv[k + 1], &x, 0, 256)) return usage_error("bad --workers '%s'", argv[k + 1]);
            lo.workers = (int)x, k++;
        } else if (!strcmp(argv[k], "--no-cache"))
            lo.no_cache = true;
        else if (!strcmp(argv[k], "--root") && k + 1 < argc)
            root = argv[++k];
        else if (argv[k][0] != '-' && !data)
            data = argv[k];
        else
            return usage_error("unexpected argument '%s'", argv[k]);
    }
    if (!data) return usage_error("%s", "no dataset given");
    dataset *ds;
    yolo_status st = open_data(data, root, &ds);
    if (st) return fail(st);
    const char *splits[3] = {"train", "val", "test"};
    int64_t tot_img = 0, tot_bg = 0, tot_bad = 0, tot_inst = 0;
    int nc = dataset_nc(ds);
    const char *const *names = dataset_names(ds);
    int rc = 0;
    printf("dataset %s: %d classes, %s\n", data, nc,
           dataset_is_classify(ds) ? "classify (ImageFolder)" : "detect/segment");
    for (int s = 0; s < 3; s++) {
        if (!dataset_has_split(ds, splits[s])) continue;
        dataset_split *sp;
        yolo_status sst = dataset_split_load(ds, splits[s], &lo, &sp);
        if (sst == YOLO_ERR_NOTFOUND && s == 2) {
            /* Ultralytics trains on train and val only and never looks at test (Roboflow exports name a
             * test folder they do not have): a warning; yolo val split=test still fails on it */
            printf("test: warning: %s; not used for training\n", yolo_last_error());
            continue;
        }
        if (sst) {
            printf("%s: error: %s\n", splits[s], yolo_last_error());
            fprintf(stderr, "%s: %s\n", TOOL, yolo_last_error());
            rc = YOLO_EXIT_FAIL;
            continue;
        }
        const dataset_report *r = dataset_split_report(sp);
        int64_t bg = r->missing + r->empty;
        printf("%s: %" PRId64 " images, %" PRId64 " backgrounds, %" PRId64 " corrupt, %" PRId64
               " instances%s\n",
               splits[s], r->images, bg, r->corrupt, r->instances,
               dataset_is_classify(ds) ? ""
               : r->segments           ? " (segments)"
                                       : " (boxes)");
        if (!dataset_is_classify(ds))
            printf("  labels: %" PRId64 " found, %" PRId64 " missing, %" PRId64 " empty\n", r->found,
                   r->missing, r->empty);
        if (r->cache_path)
            printf("  cache: %s (%s)\n", r->cache_path,
                   r->from_cache   ? "used"
                   : r->cache_note ? r->cache_note
                                   : "new");
        print_warnings(stdout, r, "  warning: ");
        printf("  %-20s %s\n", "class", dataset_is_classify(ds) ? "images" : "instances");
        for (int c = 0; c < nc; c++)
            printf("  %-20s %" PRId64 "\n", names[c], r->per_class[c]);
        tot_img += r->images, tot_bg += bg, tot_bad += r->corrupt, tot_inst += r->instances;
        dataset_split_free(sp);
    }
    printf("summary: %" PRId64 " images, %" PRId64 " backgrounds, %" PRId64 " corrupt, %" PRId64
           " instances\n",
           tot_img, tot_bg, tot_bad, tot_inst);
    dataset_free(ds);
    return rc;
}

/* ---- list ---- */

/* The images training would use, so that a script can tell which files are new since the last time
 * (the yolo loop logs a dataset that grew). Paths are relative to the dataset's folder when they lie
 * under it, so a run folder moved with its dataset still compares equal. */
static int cmd_list(int argc, char **argv) {
    const char *data = NULL, *split = "train", *root = NULL;
    dataset_load_opts lo = {0};
    double fraction = 1;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int64_t x;
        if (!strcmp(a, "--workers") && v) {
            if (!parse_i64(v, &x, 0, 256)) return usage_error("bad --workers '%s'", v);
            lo.workers = (int)x, k++;
        } else if (!strcmp(a, "--split") && v)
            split = v, k++;
        else if (!strcmp(a, "--root") && v)
            root = v, k++;
        else if (!strcmp(a, "--no-cache"))
            lo.no_cache = true;
        else if (!strncmp(a, "fraction=", 9)) {
            int r = parse_fraction(a, &fraction);
            if (r) return r;
        } else if (a[0] != '-' && !data)
            data = a;
        else
            return usage_error("unexpected argument '%s'", a);
    }
    if (!data) return usage_error("%s", "no dataset given");
    lo.fraction = strcmp(split, "train") == 0 ? fraction : 1;
    dataset *ds;
    yolo_status st = open_data(data, root, &ds);
    if (st) return fail(st);
    dataset_split *sp = NULL;
    st = dataset_split_load(ds, split, &lo, &sp);
    if (!st) {
        const char *path = dataset_root(ds);
        size_t base = strlen(path);
        while (base > 1 && path[base - 1] == '/')
            base--;
        for (int64_t i = 0; i < dataset_split_count(sp); i++) {
            const char *f = dataset_split_file(sp, i);
            if (base && !strncmp(f, path, base) && f[base] == '/') f += base + 1;
            puts(f);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) st = yolo_error(YOLO_ERR_IO, "stdout: write failed");
    }
    dataset_split_free(sp);
    dataset_free(ds);
    return yolo_report(TOOL, st);
}

/* ---- show ---- */

/* The first n samples as a stream into `yolo-plot grid`, which draws them: the pictures of training
 * batches and this one come from one drawing code, and this tool never loads the drawing libraries. */
static int cmd_show(int argc, char **argv) {
    source_args src = {.aug = -1};
    pipeline_opts_default(&src.o);
    int n = 16;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int64_t x;
        int r = parse_source_arg(argc, argv, &k, &src);
        if (r >= 0) {
            if (r) return r;
        } else if (!strcmp(a, "--n") && v) {
            if (!parse_i64(v, &x, 1, 256)) return usage_error("bad --n '%s' (1..256)", v);
            n = (int)x, k++;
        } else
            return usage_error("unexpected argument '%s'", a);
    }
    pipeline_opts o = src.o;
    const char *data = src.data, *out = src.out;
    if (!data) return usage_error("%s", "no dataset given");
    if (!out) return usage_error("%s", "no output file (-o grid.jpg)");
    o.augment = src.aug >= 0 ? src.aug == 1 : strcmp(o.split, "train") == 0;
    o.limit = n;
    dataset *ds;
    yolo_status st = open_data(data, src.root, &ds);
    if (st) return fail(st);
    dataset_split *sp = NULL;
    dataset_load_opts lo = {.workers = o.workers, .no_cache = src.no_cache};
    pipeline *p = NULL;
    if (!st) st = dataset_split_load(ds, o.split, &lo, &sp);
    if (!st) st = pipeline_open(ds, sp, &o, &p);
    if (!st && pipeline_total(p) == 0) st = yolo_error(YOLO_ERR_NOTFOUND, "%s: no samples to show", data);
    int fds[2] = {-1, -1};
    pid_t pid = -1;
    if (!st && pipe(fds) != 0) st = yolo_error(YOLO_ERR_IO, "cannot make a pipe (%s)", strerror(errno));
    if (!st && (pid = fork()) < 0)
        st = yolo_error(YOLO_ERR_IO, "cannot start yolo-plot (%s)", strerror(errno));
    if (!st && pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]), close(fds[1]);
        char *args[] = {"yolo-plot", "grid", "-o", (char *)out, NULL};
        int err = cli_exec_tool("yolo-plot", args);
        fprintf(stderr, "%s: show: cannot run yolo-plot (%s; install it next to yolo-data)\n", TOOL,
                strerror(err));
        _exit(YOLO_EXIT_FAIL);
    }
    int rc = YOLO_EXIT_OK;
    if (!st) {
        close(fds[0]);
        signal(SIGPIPE, SIG_IGN); /* a yolo-plot that stops early says why itself */
        FILE *f = fdopen(fds[1], "wb");
        if (!f)
            st = yolo_nomem();
        else {
            st = pipeline_write(p, f, "yolo-plot");
            fclose(f);
        }
        int ws = 0;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        int child = WIFEXITED(ws) ? WEXITSTATUS(ws) : YOLO_EXIT_FAIL;
        /* the drawing side's error is the one to show; ours then is only the broken pipe */
        rc = child ? child : yolo_report(TOOL, st);
    } else {
        rc = yolo_report(TOOL, st);
    }
    pipeline_free(p);
    dataset_split_free(sp);
    dataset_free(ds);
    return rc;
}

/* ---- fashion ---- */

static int cmd_fashion(int argc, char **argv) {
    fashion_opts o = {.task = "detect", .n_train = 64, .n_val = 16, .imgsz = 0};
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int64_t x;
        if (!strcmp(a, "--jpeg")) {
            o.jpeg = true;
            continue;
        }
        if (!v) return usage_error("unexpected argument '%s'", a);
        if (!strcmp(a, "--task"))
            o.task = v;
        else if (!strcmp(a, "--out"))
            o.out_dir = v;
        else if (!strcmp(a, "--src"))
            o.src_dir = v;
        else if (!strcmp(a, "--seed")) {
            if (!parse_u64(v, &o.seed)) return usage_error("bad --seed '%s'", v);
        } else if (!strcmp(a, "--train") || !strcmp(a, "--val") || !strcmp(a, "--imgsz")) {
            if (!parse_i64(v, &x, 0, 1000000)) return usage_error("bad number '%s'", v);
            if (a[2] == 't')
                o.n_train = (int)x;
            else if (a[2] == 'v')
                o.n_val = (int)x;
            else
                o.imgsz = (int)x;
        } else
            return usage_error("unexpected argument '%s'", a);
        k++;
    }
    if (!o.out_dir) return usage_error("%s", "no --out DIR given");
    if (!o.imgsz) o.imgsz = strcmp(o.task, "classify") == 0 ? 64 : 128;
    yolo_status st = fashion_write(&o);
    if (st) return yolo_report(TOOL, st);
    fprintf(stderr, "%s: wrote a %s dataset of %d train + %d val images to %s\n", TOOL, o.task, o.n_train,
            o.n_val, o.out_dir);
    return 0;
}

/* ---- merge ---- */

static int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    FILE **in = calloc((size_t)argc + 1, sizeof *in);
    int n = 0, rc = 0;
    if (!names || !in) {
        free(names), free(in);
        return yolo_report(TOOL, yolo_nomem());
    }
    for (int k = 1; k < argc && !rc; k++) {
        if (!strcmp(argv[k], "-o") && k + 1 < argc)
            out = argv[++k];
        else if (argv[k][0] == '-' && argv[k][1])
            rc = usage_error("unexpected argument '%s'", argv[k]);
        else
            names[n++] = argv[k];
    }
    if (!rc && n == 0) rc = usage_error("%s", "no shard streams given");
    if (!rc && !out && isatty(STDOUT_FILENO))
        rc = usage_error("%s", "refusing to write a binary stream to a terminal (pipe it or use -o FILE)");
    for (int k = 0; k < n && !rc; k++)
        if (!(in[k] = fopen(names[k], "rb")))
            rc = yolo_report(TOOL, yolo_error(YOLO_ERR_IO, "%s: %s", names[k], strerror(errno)));
    FILE *f = stdout;
    if (!rc && out && !(f = fopen(out, "wb")))
        rc = yolo_report(TOOL, yolo_error(YOLO_ERR_IO, "%s: %s", out, strerror(errno)));
    if (!rc) {
        yolo_status st = stream_merge(in, names, n, f, out ? out : "stdout");
        if (f != stdout && fclose(f) != 0 && !st) st = yolo_error(YOLO_ERR_IO, "%s: write failed", out);
        rc = yolo_report(TOOL, st);
    }
    for (int k = 0; k < n; k++)
        if (in[k]) fclose(in[k]);
    free(names), free(in);
    return rc;
}

/* ---- dump ---- */

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int cmd_dump(int argc, char **argv) {
    const char *path = NULL;
    for (int k = 1; k < argc; k++) {
        if (argv[k][0] != '-' && !path)
            path = argv[k];
        else
            return usage_error("unexpected argument '%s'", argv[k]);
    }
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (!f) return yolo_report(TOOL, yolo_error(YOLO_ERR_IO, "%s: %s", path, strerror(errno)));
    stream_reader *r;
    yolo_status st = stream_reader_open(f, path ? path : "stdin", &r);
    if (st) {
        if (path) fclose(f);
        return yolo_report(TOOL, st);
    }
    const stream_header *h = stream_reader_header(r);
    printf("{\"header\":{\"task\":");
    json_str(h->task);
    printf(",\"split\":");
    json_str(h->split);
    printf(",\"imgsz\":%d,\"nc\":%d,\"names\":[", h->imgsz, h->nc);
    for (int k = 0; k < h->nc; k++) {
        if (k) putchar(',');
        json_str(h->names[k]);
    }
    char block[32] = ""; /* the stream's own form: [k, n], or [k, n, block] */
    if (h->shard_block > 1) snprintf(block, sizeof block, ",%" PRId64, h->shard_block);
    printf("],\"seed\":%" PRIu64 ",\"epoch\":%d,\"epochs\":%d,\"total\":%" PRId64 ",\"count\":%" PRId64
           ",\"from\":%" PRId64
           ",\"shard\":[%d,%d%s],\"augment\":%s,\"mosaic\":%s,\"rect\":%s,\"batch\":%d}}\n",
           h->seed, h->epoch, h->epochs, h->total, h->count, h->from, h->shard_k, h->shard_n, block,
           h->augment ? "true" : "false", h->mosaic ? "true" : "false", h->rect ? "true" : "false", h->batch);
    stream_sample s;
    stream_sample_init(&s);
    int got;
    int64_t n = 0;
    while (!(st = stream_reader_next(r, &s, &got)) && got) {
        const sample *x = &s.s;
        uLong crc = crc32_z(crc32(0L, Z_NULL, 0), x->img.px, (size_t)x->img.h * x->img.w * 3);
        printf("{\"i\":%" PRId64 ",\"src\":%" PRId64 ",\"file\":", s.i, x->index);
        json_str(s.file ? s.file : "");
        printf(",\"h\":%d,\"w\":%d,\"img_crc32\":%lu,\"ori\":[%d,%d],\"res\":[%d,%d],\"ratio_pad\":[[%.9g,%."
               "9g],[%.9g,%.9g]]",
               x->img.h, x->img.w, crc, x->ori_h, x->ori_w, x->res_h, x->res_w, x->ratio_h, x->ratio_w,
               x->pad_left, x->pad_top);
        if (x->label >= 0) printf(",\"label\":%d", x->label);
        printf(",\"cls\":[");
        for (int k = 0; k < x->n; k++)
            printf(k ? ",%d" : "%d", x->cls[k]);
        printf("],\"boxes\":[");
        for (int k = 0; k < x->n * 4; k++)
            printf(k ? ",%.7g" : "%.7g", (double)x->boxes[k]);
        printf("]");
        if (s.mask) {
            uint16_t mx = 0;
            for (size_t k = 0; k < (size_t)s.mask_h * s.mask_w; k++)
                if (s.mask[k] > mx) mx = s.mask[k];
            printf(",\"mask\":[%d,%d],\"mask_max\":%u", s.mask_h, s.mask_w, mx);
        }
        printf("}\n");
        n++;
    }
    stream_sample_free(&s);
    if (!st) printf("{\"trailer\":{\"count\":%" PRId64 ",\"ok\":true}}\n", n);
    stream_reader_free(r);
    if (path) fclose(f);
    return yolo_report(TOOL, st);
}

/* ---- resolve ---- */

/* Where DATA is, as training will read it: the dataset's absolute path, on a second line the absolute
 * root its data.yaml's path: led to (empty for other datasets), then its class names, one a line. What
 * yolo records in a run before anything of the run is written; a dataset not found is a usage error
 * naming every place tried. */
static int cmd_resolve(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') return usage_error("%s", "resolve takes one DATA");
    dataset *ds = NULL;
    yolo_status st = open_data(argv[1], NULL, &ds);
    char *data = NULL, *root = NULL;
    if (!st) {
        char found[4096];
        dataset_find(argv[1], found, sizeof found);
        data = realpath(found, NULL);
        root = dataset_yaml_root(ds) ? realpath(dataset_yaml_root(ds), NULL) : NULL;
        if (!data || (dataset_yaml_root(ds) && !root))
            st = yolo_error(YOLO_ERR_IO, "%s: %s", found, strerror(errno));
    }
    if (!st) {
        printf("%s\n%s\n", data, root ? root : "");
        for (int k = 0; k < dataset_nc(ds); k++)
            printf("%s\n", dataset_names(ds)[k]);
        if (fflush(stdout) != 0) st = yolo_error(YOLO_ERR_IO, "stdout: write failed");
    }
    free(data);
    free(root);
    dataset_free(ds);
    return yolo_report(TOOL, st);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return YOLO_EXIT_USAGE;
    }
    for (int k = 1; k < argc; k++)
        if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        }
    const char *c = argv[1];
    if (!strcmp(c, "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(c, "show")) return cmd_show(argc - 1, argv + 1);
    if (!strcmp(c, "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(c, "resolve")) return cmd_resolve(argc - 1, argv + 1);
    if (!strcmp(c, "fashion")) return cmd_fashion(argc - 1, argv + 1);
    if (!strcmp(c, "merge")) return cmd_merge(argc - 1, argv + 1);
    if (!strcmp(c, "dump") || !strcmp(c, "cat")) return cmd_dump(argc - 1, argv + 1);
    return cmd_stream(argc, argv);
}
