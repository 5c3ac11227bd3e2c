/* yolo-predict: a trained model on images, as Ultralytics' `yolo predict` (man 1 yolo-predict).
 *
 * Three threads keep both cores busy: one reads and letterboxes the next images, the main thread runs
 * the network (libtorch's own threads) and NMS, one draws and writes the results, in order. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "yolo/augment.h"
#include "yolo/canvas.h"
#include "yolo/ckpt.h"
#include "yolo/cli.h"
#include "yolo/dataset.h"
#include "yolo/draw.h"
#include "yolo/infer.h"
#include "yolo/interrupt.h"
#include "yolo/json.h"
#include "yolo/letterbox.h"
#include "yolo/masks.h"
#include "yolo/metrics.h"
#include "yolo/nms.h"
#include "yolo/status.h"
#include "yolo/val.h"

#define TOOL "yolo-predict"
#define STRIDE 32
#define JPEG_QUALITY 95 /* cv2.imwrite's */

static const char USAGE[] =
    "usage: yolo-predict model=W source=S [save_dir=DIR] [imgsz=N] [conf=0.25] [iou=0.7] [max_det=300]\n"
    "                    [classes=0,2] [agnostic_nms=false] [batch=16] [device=cpu] [threads=CORES]\n"
    "                    [save=true] [save_txt=false] [save_conf=false] [save_crop=false]\n"
    "                    [line_width=N] [show_labels=true] [show_conf=true] [show_boxes=true] [--json]\n"
    "\n"
    "Runs a checkpoint (yolo-tools' or Ultralytics', full or stripped) on images and writes them annotated\n"
    "to save_dir, as Ultralytics' predict does. S is an image, a folder, a glob ('imgs/*.jpg') or a .txt\n"
    "list of them; JPEG and PNG images (videos are refused). save_txt writes save_dir/labels/NAME.txt\n"
    "('cls cx cy w h [conf]' normalised; segment: the mask's outline; classify: the top 5), save_crop\n"
    "save_dir/crops/CLASS/NAME.jpg. --json prints one line per image on stdout (boxes in pixels, conf,\n"
    "cls, or the top 5 classes). The per-image and speed lines go to stderr. An image that cannot be\n"
    "read is named in a warning and skipped; the others are predicted. Ctrl+C stops after the image\n"
    "being written.\n"
    "\n"
    "Exit status: 0 ok, 1 failed or some images unreadable, 2 usage error, 130 interrupted. See\n"
    "yolo-predict(1).\n";

typedef struct {
    const char *model, *source, *save_dir, *device, *classes;
    int imgsz, max_det, batch, threads, line_width;
    double conf, iou;
    bool agnostic, save, save_txt, save_conf, save_crop, show_labels, show_conf, show_boxes, json;
} pargs;

static int parse_args(int argc, char **argv, pargs *a) {
    *a = (pargs){.device = "cpu",
                 .max_det = 300,
                 .batch = 16,
                 .conf = 0.25,
                 .iou = 0.7,
                 .save = true,
                 .show_labels = true,
                 .show_conf = true,
                 .show_boxes = true};
    const char *b[8] = {0};
    const cli_setting settings[] = {
        CLI_TEXT("model", &a->model),
        CLI_TEXT("source", &a->source),
        CLI_TEXT("save_dir", &a->save_dir),
        CLI_INT_IN("imgsz", &a->imgsz, 32, 8192, "an integer 32..8192"),
        CLI_DOUBLE_IN("conf", &a->conf, 0, 1, "a number between 0 and 1"),
        CLI_DOUBLE_IN("iou", &a->iou, 0, 1, "a number between 0 and 1"),
        CLI_INT_IN("max_det", &a->max_det, 1, 1000000, "a positive integer"),
        CLI_TEXT("classes", &a->classes),
        CLI_INT_IN("batch", &a->batch, 1, 256, "an integer 1..256"),
        CLI_TEXT("device", &a->device),
        CLI_INT_IN("threads", &a->threads, 1, 1024, "a positive integer"),
        CLI_INT_IN("line_width", &a->line_width, 1, 1000, "a positive integer (pixels)"),
        CLI_TEXT("agnostic_nms", &b[0]),
        CLI_TEXT("save", &b[1]),
        CLI_TEXT("save_txt", &b[2]),
        CLI_TEXT("save_conf", &b[3]),
        CLI_TEXT("save_crop", &b[4]),
        CLI_TEXT("show_labels", &b[5]),
        CLI_TEXT("show_conf", &b[6]),
        CLI_TEXT("show_boxes", &b[7]),
    };
    const cli_flag flags[] = {{"--json", &a->json}};
    int rc = cli_parse_settings(TOOL, USAGE, settings, (int)(sizeof settings / sizeof *settings), flags, 1,
                                argc, argv);
    if (rc) return rc;
    bool *dst[8] = {&a->agnostic,  &a->save,        &a->save_txt,  &a->save_conf,
                    &a->save_crop, &a->show_labels, &a->show_conf, &a->show_boxes};
    for (int k = 0; k < 8; k++)
        if (b[k] && !cli_parse_bool(b[k], dst[k]))
            return cli_usage_error(TOOL, "%s must be true or false, not '%s'", settings[12 + k].key, b[k]);
    if (!a->model) return cli_usage_error(TOOL, "model=W is required (a .pt file)");
    if (!a->source)
        return cli_usage_error(TOOL, "source=S is required (an image, a folder, a glob or a .txt list)");
    if ((a->save || a->save_txt || a->save_crop) && !a->save_dir)
        return cli_usage_error(TOOL, "save_dir=DIR is required to save (or give save=false)");
    return 0;
}

/* snprintf into a path buffer; a path that does not fit is an error, never a truncated name. */
static yolo_status pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static yolo_status pathf(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) return yolo_error(YOLO_ERR_LIMIT, "%.200s...: path too long", out);
    return YOLO_OK;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ sources */

typedef struct {
    char **v;
    int n, cap;
} paths;

static void paths_free(paths *p) {
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    memset(p, 0, sizeof *p);
}

static yolo_status paths_add(paths *p, const char *s) {
    if (p->n == p->cap) {
        int c = p->cap ? 2 * p->cap : 64;
        char **v = realloc(p->v, sizeof *v * c);
        if (!v) return yolo_nomem();
        p->v = v, p->cap = c;
    }
    if (!(p->v[p->n] = strdup(s))) return yolo_nomem();
    p->n++;
    return YOLO_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *suffix(const char *f) {
    const char *s = strrchr(f, '/'), *d = strrchr(s ? s : f, '.');
    return d ? d + 1 : "";
}

/* Ultralytics' video formats (its image formats: dataset_is_image_name) */
static bool is_video_name(const char *f) {
    static const char *const ext[] = {"asf", "avi",  "gif", "m4v", "mkv", "mov",
                                      "mp4", "mpeg", "mpg", "ts",  "wmv", "webm"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(suffix(f), ext[i])) return true;
    return false;
}

/* An absolute path as Path.absolute() gives it (the working folder prefixed, nothing resolved). */
static yolo_status absolute(const char *p, char *out, size_t cap) {
    char cwd[PATH_MAX];
    if (p[0] == '/' || !getcwd(cwd, sizeof cwd)) return pathf(out, cap, "%s", p);
    return pathf(out, cap, "%s/%s", cwd, p[0] == '.' && p[1] == '/' ? p + 2 : p);
}

/* One entry of a source: a glob, a folder (its files, sorted), or a file; from a list file (list),
 * relative entries may also be relative to the list's folder. */
static yolo_status source_entry(const char *entry, const char *list, paths *files) {
    char a[PATH_MAX];
    yolo_status st = absolute(entry, a, sizeof a);
    if (st != YOLO_OK) return st;
    struct stat sb;
    if (strchr(a, '*') || strchr(a, '?')) {
        glob_t g;
        int r = glob(a, 0, NULL, &g);
        for (size_t i = 0; r == 0 && i < g.gl_pathc && st == YOLO_OK; i++)
            st = paths_add(files, g.gl_pathv[i]);
        if (r == 0) globfree(&g);
        return st;
    }
    if (stat(a, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(a);
        if (!d) return yolo_error(YOLO_ERR_IO, "%s: %s", entry, strerror(errno));
        int first = files->n;
        struct dirent *e;
        while (st == YOLO_OK && (e = readdir(d))) {
            if (!strchr(e->d_name, '.') || e->d_name[0] == '.') continue; /* glob's *.* */
            char f[PATH_MAX];
            if ((st = pathf(f, sizeof f, "%s/%s", a, e->d_name)) == YOLO_OK) st = paths_add(files, f);
        }
        closedir(d);
        /* an empty folder leaves the list unallocated: qsort may not be given NULL */
        if (files->n > first) qsort(files->v + first, (size_t)(files->n - first), sizeof *files->v, cmp_str);
        return st;
    }
    if (stat(a, &sb) == 0) return paths_add(files, a);
    if (list && entry[0] != '/') {
        char b[PATH_MAX];
        const char *sl = strrchr(list, '/');
        if (pathf(b, sizeof b, "%.*s/%s", sl ? (int)(sl - list) : 1, sl ? list : ".", entry) == YOLO_OK &&
            absolute(b, a, sizeof a) == YOLO_OK && stat(a, &sb) == 0)
            return paths_add(files, a);
    }
    if (list) return yolo_error(YOLO_ERR_NOTFOUND, "source=%s: %s: no such file or folder", list, entry);
    return yolo_error(YOLO_ERR_NOTFOUND, "source=%s: no such file or folder", entry);
}

static yolo_status list_source(const char *src, paths *images) {
    paths files = {0};
    yolo_status st = YOLO_OK;
    if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8) || !strncmp(src, "rtsp://", 7) ||
        !strcmp(src, "screen") || (src[0] >= '0' && src[0] <= '9' && !src[strspn(src, "0123456789")]))
        return yolo_error(YOLO_ERR_USAGE,
                          "source=%s: streams, cameras and URLs are not supported (give images: a file, a "
                          "folder, a glob or a .txt list)",
                          src);
    if (!strcasecmp(suffix(src), "txt") && access(src, R_OK) == 0) {
        FILE *f = fopen(src, "r");
        if (!f) return yolo_error(YOLO_ERR_IO, "%s: %s", src, strerror(errno));
        paths lines = {0};
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (st == YOLO_OK && (len = getline(&line, &cap, f)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len) st = paths_add(&lines, line);
        }
        free(line);
        fclose(f);
        qsort(lines.v, (size_t)lines.n, sizeof *lines.v, cmp_str); /* Ultralytics sorts the list */
        for (int i = 0; i < lines.n && st == YOLO_OK; i++)
            st = source_entry(lines.v[i], src, &files);
        paths_free(&lines);
    } else {
        st = source_entry(src, NULL, &files);
    }
    int videos = 0;
    for (int i = 0; i < files.n && st == YOLO_OK; i++) {
        if (dataset_is_image_name(files.v[i]))
            st = paths_add(images, files.v[i]);
        else
            videos += is_video_name(files.v[i]);
    }
    paths_free(&files);
    if (st == YOLO_OK && videos)
        st = yolo_error(YOLO_ERR_USAGE,
                        "source=%s: videos are not supported (%d found; give images: a file, a folder, a "
                        "glob or a .txt list)",
                        src, videos);
    if (st == YOLO_OK && images->n == 0)
        st = yolo_error(YOLO_ERR_NOTFOUND,
                        "source=%s: no images found (files named .jpg, .jpeg, .png or another image "
                        "extension Ultralytics lists; JPEG and PNG are read)",
                        src);
    return st;
}

/* ------------------------------------------------------------------ jobs */

enum { FREE, LOADED, PREDICTED };

typedef struct {
    int state;
    int idx;
    image orig, in;
    nms_geom g;
    double t_pre, t_inf, t_post;
    nms_dets d;   /* detections, network-input pixels until written */
    float *proto; /* segment: this image's prototypes */
    int top[5], ntop;
    float topp[5];
    char *unreadable; /* why the image could not be read: it is skipped */
} job;

typedef struct {
    const pargs *a;
    const paths *images;
    infer *m;
    const char *task;
    int imgsz;
    job *jobs;
    int window; /* images between reading and writing: two batches and a spare */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool failed;
    yolo_status err;
    char err_msg[1024];
    val_host host;  /* the network's outputs, reused from batch to batch */
    int nm, mh, mw; /* segment prototypes */
    double t_pre, t_inf, t_post;
    int last_shape[2];
    int labels_written;
    int skipped; /* images that could not be read */
    int written; /* images whose results are out */
} run;

/* Stops every stage at its next image: st says why (YOLO_OK: an interrupt, not an error). */
static void fail(run *r, yolo_status st) {
    pthread_mutex_lock(&r->mu);
    if (!r->failed) {
        r->failed = true;
        r->err = st;
        if (st != YOLO_OK) snprintf(r->err_msg, sizeof r->err_msg, "%s", yolo_last_error());
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits until job i is in state want; false when the run failed meanwhile. */
static bool wait_state(run *r, int i, int want) {
    job *j = &r->jobs[i % r->window];
    pthread_mutex_lock(&r->mu);
    while (!r->failed && !(j->state == want && (want == FREE || j->idx == i)))
        pthread_cond_wait(&r->cv, &r->mu);
    bool ok = !r->failed;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void set_state(run *r, job *j, int state) {
    pthread_mutex_lock(&r->mu);
    j->state = state;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void job_clear(job *j) {
    image_free(&j->orig);
    image_free(&j->in);
    nms_dets_free(&j->d);
    free(j->proto);
    j->proto = NULL;
    free(j->unreadable);
    j->unreadable = NULL;
}

/* Reads and letterboxes image i. */
static yolo_status load_job(run *r, int i, job *j) {
    double t0 = now();
    j->idx = i;
    const char *path = r->images->v[i];
    yolo_status st = image_load(path, &j->orig);
    /* one damaged file among many costs its own result only (Ultralytics, too, warns and goes on) */
    if (st != YOLO_OK && st != YOLO_ERR_NOMEM) {
        j->unreadable = strdup(yolo_last_error());
        return j->unreadable ? YOLO_OK : yolo_nomem();
    }
    if (st != YOLO_OK) return st;
    if (!strcmp(r->task, "classify")) {
        augment_cfg cfg;
        augment_cfg_default(&cfg);
        cfg.imgsz = r->imgsz;
        st = augment_classify_val(&cfg, &j->orig, &j->in);
    } else {
        letterbox_plan p;
        letterbox_plan_auto(j->orig.h, j->orig.w, r->imgsz, STRIDE, &p);
        st = letterbox_apply(&j->orig, &p, &j->in);
        nms_geom_letterbox(&j->g, j->in.h, j->in.w, j->orig.h, j->orig.w);
    }
    j->t_pre = now() - t0;
    return st;
}

/* A stage of the pipeline: each image in turn, once its job is in state from, is worked on and passed on
 * in state to; a failure stops every stage. */
static void stage(run *r, int from, int to, yolo_status (*work)(run *, int, job *)) {
    for (int i = 0; i < r->images->n; i++) {
        if (interrupt_signal) {
            fail(r, YOLO_OK);
            break;
        }
        if (!wait_state(r, i, from)) break;
        job *j = &r->jobs[i % r->window];
        yolo_status st = work(r, i, j);
        if (st != YOLO_OK) {
            fail(r, st);
            break;
        }
        set_state(r, j, to);
    }
}

static void *loader(void *arg) {
    stage(arg, FREE, LOADED, load_job);
    return NULL;
}

/* The network on up to batch consecutive loaded images of one size, then NMS or the top 5. */
static yolo_status predict_jobs(run *r, job **js, int n, const nms_opts *no) {
    /* validation's forward pass on samples that borrow the jobs' images */
    stream_sample *v = calloc((size_t)n, sizeof *v);
    if (!v) return yolo_nomem();
    for (int k = 0; k < n; k++)
        v[k].i = js[k]->idx, v[k].s.img = js[k]->in;
    double t0 = now();
    val_host *o = &r->host;
    yolo_status st = val_predict(infer_model(r->m), v, n, infer_device(r->m), o);
    free(v);
    double t1 = now();
    int nc = infer_nc(r->m);
    for (int k = 0; k < n && st == YOLO_OK; k++) {
        job *j = js[k];
        j->t_inf = (t1 - t0) / n;
        if (!strcmp(r->task, "classify")) {
            int32_t top[5];
            metrics_topk(o->pred + (size_t)k * nc, 1, nc, top);
            j->ntop = nc < 5 ? nc : 5;
            for (int q = 0; q < j->ntop; q++)
                j->top[q] = top[q], j->topp[q] = o->pred[(size_t)k * nc + top[q]];
        } else {
            int nm = o->rows - 4 - nc;
            st = nms_run(o->pred + (size_t)k * o->rows * o->anchors, nc, nm, o->anchors, no, &j->d);
            if (st == YOLO_OK && o->proto) {
                /* the writer makes the masks from this image's prototypes */
                size_t pn = (size_t)o->nm * o->mh * o->mw;
                r->nm = o->nm, r->mh = o->mh, r->mw = o->mw;
                if (!(j->proto = malloc(sizeof *j->proto * pn)))
                    st = yolo_nomem();
                else
                    memcpy(j->proto, o->proto + pn * k, sizeof *j->proto * pn);
            }
        }
        j->t_post = now() - t1;
    }
    r->last_shape[0] = js[0]->in.h, r->last_shape[1] = js[0]->in.w;
    return st;
}

/* ------------------------------------------------------------------ writing */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* save_one_box: the box grown by 2% and 10 px, clipped, as NAME.jpg, NAME2.jpg, ... in its class folder. */
static yolo_status save_crop(run *r, const job *j, const float *row) {
    char num[32], dir[PATH_MAX], path[PATH_MAX];
    const char *name = draw_class_name(infer_names(r->m), infer_nc(r->m), (int)row[5], num, sizeof num);
    yolo_status st = pathf(dir, sizeof dir, "%s/crops/%s", r->a->save_dir, name);
    if (st == YOLO_OK) st = ckpt_mkdirs(dir);
    if (st != YOLO_OK) return st;
    float cx = (row[0] + row[2]) / 2, cy = (row[1] + row[3]) / 2;
    float w = (row[2] - row[0]) * 1.02f + 10, h = (row[3] - row[1]) * 1.02f + 10;
    long x1 = (long)(cx - w / 2), y1 = (long)(cy - h / 2), x2 = (long)(cx + w / 2), y2 = (long)(cy + h / 2);
    x1 = x1 < 0 ? 0 : x1 > j->orig.w ? j->orig.w : x1, x2 = x2 < 0 ? 0 : x2 > j->orig.w ? j->orig.w : x2;
    y1 = y1 < 0 ? 0 : y1 > j->orig.h ? j->orig.h : y1, y2 = y2 < 0 ? 0 : y2 > j->orig.h ? j->orig.h : y2;
    if (x2 <= x1 || y2 <= y1) return YOLO_OK;
    image crop = {0};
    if ((st = image_alloc_unfilled(&crop, (int)(y2 - y1), (int)(x2 - x1), 3)) != YOLO_OK) return st;
    for (long y = y1; y < y2; y++)
        memcpy(crop.px + (size_t)(y - y1) * crop.w * 3, j->orig.px + ((size_t)y * j->orig.w + x1) * 3,
               (size_t)crop.w * 3);
    char stem[256];
    const char *b = base_name(r->images->v[j->idx]), *dot = strrchr(b, '.');
    snprintf(stem, sizeof stem, "%.*s", dot ? (int)(dot - b) : (int)strlen(b), b);
    st = pathf(path, sizeof path, "%s/%s.jpg", dir, stem);
    for (int k = 2; st == YOLO_OK && access(path, F_OK) == 0; k++)
        st = pathf(path, sizeof path, "%s/%s%d.jpg", dir, stem, k);
    if (st == YOLO_OK) st = canvas_save_image(&crop, path, JPEG_QUALITY);
    image_free(&crop);
    return st;
}

/* The labels file: boxes (or outlines) normalised to the original image, or the top 5. */
static yolo_status write_txt(run *r, const job *j, const uint8_t *masks) {
    if (!j->d.n && !j->ntop) return YOLO_OK; /* as Ultralytics: nothing, no file */
    char dir[PATH_MAX], path[PATH_MAX + 300];
    yolo_status st = pathf(dir, sizeof dir, "%s/labels", r->a->save_dir);
    if (st == YOLO_OK) st = ckpt_mkdirs(dir);
    if (st != YOLO_OK) return st;
    nms_txt_path(dir, r->images->v[j->idx], path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return yolo_nomem();
    const char *const *names = infer_names(r->m);
    if (j->ntop) {
        for (int q = 0; q < j->ntop; q++)
            fprintf(f, "%.2f %s\n", (double)j->topp[q], names[j->top[q]]);
    } else if (masks) {
        size_t npix = (size_t)j->in.h * j->in.w;
        for (int k = 0; k < j->d.n && st == YOLO_OK; k++) {
            const float *row = j->d.rows + (size_t)k * j->d.cols;
            float *xy = NULL;
            int np = 0;
            st = masks_outline(masks + npix * k, j->in.h, j->in.w, &xy, &np);
            fprintf(f, "%d", (int)row[5]);
            /* scale_coords: into the original image, clipped, normalised */
            for (int q = 0; q < np; q++) {
                float x = ((float)xy[2 * q] - (float)j->g.pad_x) / (float)j->g.gain;
                float y = ((float)xy[2 * q + 1] - (float)j->g.pad_y) / (float)j->g.gain;
                x = x < 0 ? 0 : x > j->orig.w ? (float)j->orig.w : x;
                y = y < 0 ? 0 : y > j->orig.h ? (float)j->orig.h : y;
                fprintf(f, " %g %g", (double)(x / (float)j->orig.w), (double)(y / (float)j->orig.h));
            }
            if (r->a->save_conf) fprintf(f, " %g", (double)row[4]);
            fputc('\n', f);
            free(xy);
        }
    } else {
        st = nms_write_txt(f, &j->d, j->orig.w, j->orig.h, r->a->save_conf);
    }
    if (fclose(f) != 0 && st == YOLO_OK) st = yolo_nomem();
    if (st == YOLO_OK) st = ckpt_write_file_atomic(path, text, len);
    free(text);
    if (st == YOLO_OK) r->labels_written++;
    return st;
}

/* "2 Bags, 1 Coat, " as Results.verbose() counts the classes present, in class order. */
static void summary(const run *r, const job *j, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    const char *const *names = infer_names(r->m);
    if (j->ntop) {
        for (int q = 0; q < j->ntop; q++)
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s %.2f", q ? ", " : "",
                                  names[j->top[q]], (double)j->topp[q]);
        snprintf(out + n, n < cap ? cap - n : 0, ", ");
        return;
    }
    if (!j->d.n) {
        snprintf(out, cap, "(no detections), ");
        return;
    }
    int nc = infer_nc(r->m);
    for (int c = 0; c < nc; c++) {
        int k = 0;
        for (int i = 0; i < j->d.n; i++)
            k += (int)j->d.rows[(size_t)i * j->d.cols + 5] == c;
        if (k)
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%d %s%s, ", k, names[c], k > 1 ? "s" : "");
    }
}

static void write_json(const run *r, const job *j) {
    json_writer w;
    json_init(&w, stdout, false);
    json_begin_object(&w);
    json_write_key(&w, "image");
    json_write_str(&w, r->images->v[j->idx]);
    json_write_key(&w, "orig_shape");
    json_begin_array(&w);
    json_write_int(&w, j->orig.h);
    json_write_int(&w, j->orig.w);
    json_end_array(&w);
    if (j->ntop) {
        json_write_key(&w, "top5");
        json_begin_array(&w);
        for (int q = 0; q < j->ntop; q++)
            json_write_int(&w, j->top[q]);
        json_end_array(&w);
        json_write_key(&w, "top5conf");
        json_begin_array(&w);
        for (int q = 0; q < j->ntop; q++)
            json_write_double(&w, j->topp[q]);
        json_end_array(&w);
    } else {
        const char *keys[3] = {"boxes", "conf", "cls"};
        for (int f = 0; f < 3; f++) {
            json_write_key(&w, keys[f]);
            json_begin_array(&w);
            for (int i = 0; i < j->d.n; i++) {
                const float *row = j->d.rows + (size_t)i * j->d.cols;
                if (f == 0) {
                    json_begin_array(&w);
                    for (int q = 0; q < 4; q++)
                        json_write_double(&w, row[q]);
                    json_end_array(&w);
                } else if (f == 1)
                    json_write_double(&w, row[4]);
                else
                    json_write_int(&w, (int)row[5]);
            }
            json_end_array(&w);
        }
    }
    json_end_object(&w);
    json_finish(&w);
}

/* Everything of one image: masks, boxes back to the original, the picture, labels, crops, the line. */
static yolo_status write_job(run *r, job *j) {
    const pargs *a = r->a;
    if (j->unreadable) {
        fprintf(stderr, "%s: warning: image %d/%d skipped: %s\n", TOOL, j->idx + 1, r->images->n,
                j->unreadable);
        r->skipped++;
        return YOLO_OK;
    }
    double t0 = now();
    uint8_t *masks = NULL;
    yolo_status st = YOLO_OK;
    if (j->proto && j->d.n) {
        masks = malloc((size_t)j->d.n * j->in.h * j->in.w);
        if (!masks) return yolo_error(YOLO_ERR_NOMEM, "out of memory for masks");
        st = metrics_process_mask_upsample(j->proto, r->nm, r->mh, r->mw, j->d.rows + 6, j->d.cols, j->d.rows,
                                           j->d.cols, j->d.n, j->in.h, j->in.w, masks);
    }
    if (st == YOLO_OK && j->d.n) nms_scale_boxes(j->d.rows, j->d.n, j->d.cols, &j->g);
    j->t_post += now() - t0;
    if (st == YOLO_OK && a->save) {
        canvas *c = NULL;
        st = canvas_from_image(&j->orig, &c);
        draw_style s = {.line_width = a->line_width,
                        .boxes = a->show_boxes,
                        .labels = a->show_labels,
                        .conf = a->show_conf};
        if (st == YOLO_OK && j->ntop)
            draw_top_classes(c, j->top, j->topp, j->ntop, infer_names(r->m), infer_nc(r->m), &s);
        else if (st == YOLO_OK)
            draw_detections(c, j->d.n, j->d.rows, j->d.cols, masks, j->in.h, j->in.w, -j->g.pad_x / j->g.gain,
                            -j->g.pad_y / j->g.gain, j->in.w / j->g.gain, j->in.h / j->g.gain,
                            infer_names(r->m), infer_nc(r->m), &s);
        char path[PATH_MAX];
        /* the image's own name, as in Ultralytics; one of another format (a PNG named .webp, say) gets
         * .jpg after it, as only PNG and JPEG are written */
        const char *b = base_name(r->images->v[j->idx]);
        if (st == YOLO_OK)
            st = pathf(path, sizeof path, "%s/%s%s", a->save_dir, b, canvas_saves_name(b) ? "" : ".jpg");
        if (st == YOLO_OK) {
            image im = {0};
            st = canvas_to_image(c, &im);
            if (st == YOLO_OK) st = canvas_save_image(&im, path, JPEG_QUALITY);
            image_free(&im);
        }
        canvas_free(c);
    }
    if (st == YOLO_OK && a->save_txt) st = write_txt(r, j, masks);
    for (int k = 0; st == YOLO_OK && a->save_crop && k < j->d.n; k++)
        st = save_crop(r, j, j->d.rows + (size_t)k * j->d.cols);
    free(masks);
    if (st != YOLO_OK) return st;
    char what[4096];
    summary(r, j, what, sizeof what);
    fprintf(stderr, "image %d/%d %s: %dx%d %s%.1fms\n", j->idx + 1, r->images->n, r->images->v[j->idx],
            j->in.h, j->in.w, what, j->t_inf * 1e3);
    if (a->json) write_json(r, j);
    r->t_pre += j->t_pre, r->t_inf += j->t_inf, r->t_post += j->t_post;
    r->written++;
    return YOLO_OK;
}

static yolo_status write_and_clear(run *r, int i, job *j) {
    (void)i;
    yolo_status st = write_job(r, j);
    job_clear(j);
    return st;
}

static void *writer(void *arg) {
    stage(arg, PREDICTED, FREE, write_and_clear);
    return NULL;
}

/* classes=0,2 or [0, 2]: the flags of the classes to keep. */
static yolo_status parse_classes(const char *s, int nc, bool *keep) {
    memset(keep, 0, sizeof *keep * nc);
    const char *p = s;
    bool any = false;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']')
            p++;
        if (!*p) break;
        char *e;
        long c = strtol(p, &e, 10);
        if (e == p || c < 0 || c >= nc)
            return yolo_error(YOLO_ERR_USAGE, "classes=%s: class ids are 0..%d for this model", s, nc - 1);
        keep[c] = any = true;
        p = e;
    }
    if (!any) return yolo_error(YOLO_ERR_USAGE, "classes=%s: no class ids (e.g. classes=0,2)", s);
    return YOLO_OK;
}

static int predict(const pargs *a) {
    paths images = {0};
    run r = {.a = a, .images = &images};
    bool *keep = NULL;
    yolo_status st = list_source(a->source, &images);
    /* every core by default: libtorch's own default is the physical cores, one on a 2-vCPU machine */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = a->threads ? a->threads : cores > 0 ? (int)cores : 1;
    if (st == YOLO_OK) st = infer_open(a->model, a->device, threads, &r.m);
    if (st != YOLO_OK) {
        paths_free(&images);
        return yolo_report(TOOL, st);
    }
    r.task = infer_task(r.m);
    int nc = infer_nc(r.m);
    /* Ultralytics: the model's training size unless imgsz= is given, rounded up to the stride */
    r.imgsz = a->imgsz ? a->imgsz : infer_train_imgsz(r.m) ? infer_train_imgsz(r.m) : 640;
    if (r.imgsz % STRIDE) {
        int up = (r.imgsz + STRIDE - 1) / STRIDE * STRIDE;
        fprintf(stderr, "%s: warning: imgsz=%d must be multiple of max stride %d, updating to %d\n", TOOL,
                r.imgsz, STRIDE, up);
        r.imgsz = up;
    }
    nms_opts no;
    nms_opts_default(&no);
    no.conf_thres = a->conf;
    no.iou_thres = a->iou;
    no.max_det = a->max_det;
    no.multi_label = false; /* prediction keeps each box's best class */
    no.agnostic = a->agnostic;
    if (a->classes) {
        if (!(keep = malloc(sizeof *keep * nc)))
            st = yolo_nomem();
        else
            st = parse_classes(a->classes, nc, keep);
        no.keep_class = keep;
    }
    if (st == YOLO_OK && a->save_dir) st = ckpt_mkdirs(a->save_dir);
    char labels[PATH_MAX];
    if (st == YOLO_OK && a->save_txt &&
        (st = pathf(labels, sizeof labels, "%s/labels", a->save_dir)) == YOLO_OK)
        st = ckpt_mkdirs(labels);
    if (st != YOLO_OK) {
        free(keep);
        infer_free(r.m);
        paths_free(&images);
        return yolo_report(TOOL, st);
    }
    r.window = 2 * a->batch + 2;
    job **js = calloc((size_t)a->batch, sizeof *js);
    if (!(r.jobs = calloc((size_t)r.window, sizeof *r.jobs)) || !js) {
        free(js), free(r.jobs), free(keep);
        infer_free(r.m);
        paths_free(&images);
        return yolo_report(TOOL, yolo_nomem());
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t tl, tw;
    bool have_l = pthread_create(&tl, NULL, loader, &r) == 0,
         have_w = have_l && pthread_create(&tw, NULL, writer, &r) == 0;
    if (!have_l || !have_w) fail(&r, yolo_error(YOLO_ERR_NOMEM, "cannot start threads"));
    for (int i = 0; i < images.n && have_w;) {
        if (interrupt_signal) {
            fail(&r, YOLO_OK);
            break;
        }
        /* up to batch loaded images of the first one's size */
        int n = 0;
        if (!wait_state(&r, i, LOADED)) break;
        if (r.jobs[i % r.window].unreadable) { /* straight on to the writer, which names it */
            set_state(&r, &r.jobs[i % r.window], PREDICTED);
            i++;
            continue;
        }
        js[n++] = &r.jobs[i % r.window];
        while (n < a->batch && i + n < images.n && wait_state(&r, i + n, LOADED) &&
               !r.jobs[(i + n) % r.window].unreadable && r.jobs[(i + n) % r.window].in.h == js[0]->in.h &&
               r.jobs[(i + n) % r.window].in.w == js[0]->in.w)
            js[n] = &r.jobs[(i + n) % r.window], n++;
        st = predict_jobs(&r, js, n, &no);
        if (st != YOLO_OK) {
            fail(&r, st);
            break;
        }
        for (int k = 0; k < n; k++)
            set_state(&r, js[k], PREDICTED);
        i += n;
    }
    if (have_l) pthread_join(tl, NULL);
    if (have_w) pthread_join(tw, NULL);
    for (int k = 0; k < r.window; k++)
        job_clear(&r.jobs[k]);
    free(r.jobs), free(js);
    val_host_free(&r.host);
    int read = images.n - r.skipped;
    if (interrupt_signal && !r.err) {
        fprintf(stderr, "%s: interrupted after %d of %d images%s%s\n", TOOL, r.written, images.n,
                a->save_dir ? "; their results are in " : "", a->save_dir ? a->save_dir : "");
        fflush(stdout);
        st = YOLO_OK;
    } else if (r.failed)
        st = yolo_error(r.err, "%s", r.err_msg);
    else {
        double per = read ? 1e3 / read : 0;
        if (read)
            fprintf(stderr,
                    "Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image at shape (%d, "
                    "3, %d, %d)\n",
                    r.t_pre * per, r.t_inf * per, r.t_post * per, a->batch < read ? a->batch : read,
                    r.last_shape[0], r.last_shape[1]);
        if (read && (a->save || a->save_txt || a->save_crop)) {
            fprintf(stderr, "Results saved to %s\n", a->save_dir);
            if (a->save_txt)
                fprintf(stderr, "%d label%s saved to %s/labels\n", r.labels_written,
                        r.labels_written > 1 ? "s" : "", a->save_dir);
        }
        if (fflush(stdout) != 0) st = yolo_error(YOLO_ERR_IO, "stdout: write failed");
        if (st == YOLO_OK && r.skipped)
            st = yolo_error(YOLO_ERR_FORMAT, "%d of %d image%s could not be read (each named above)%s",
                            r.skipped, images.n, images.n > 1 ? "s" : "",
                            read ? "; the others were predicted" : "");
    }
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    free(keep);
    infer_free(r.m);
    paths_free(&images);
    if (st == YOLO_OK && interrupt_signal) return 128 + interrupt_signal;
    return yolo_report(TOOL, st);
}

int main(int argc, char **argv) {
    pargs a;
    int rc = parse_args(argc, argv, &a);
    if (rc < 0) return YOLO_EXIT_OK;
    if (rc) return rc;
    (void)torch_memory_reuse(-1); /* batch after batch, the same tensors: without the pool, only slower */
    interrupt_catch();            /* Ctrl+C: the image being written is finished, the rest left */
    return predict(&a);
}
