#include "yolo/dataset.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "yolo/labels.h"
#include "yolo/text.h"
#include "labelcache.h"

/* Ultralytics' image extensions: the ones we cannot decode still get listed, so that they show up in the
 * report as corrupt with a reason instead of vanishing silently. */
static const char *const IMG_EXT[] = {"bmp", "dng",  "jpeg", "jpg", "mpo", "png",
                                      "tif", "tiff", "webp", "pfm", "heic"};

#define MAX_YAML_BYTES (1 << 24)
#define MAX_ARCHIVE_BYTES ((size_t)1 << 34)

typedef struct {
    char *name;
    uint8_t *data;
    size_t len;
    int64_t mtime;
} member;

struct dataset {
    char *path;      /* as given */
    char *yaml_name; /* for messages: the data.yaml (or archive!member) */
    member *mem;     /* archive members sorted by name, or NULL for the file system */
    size_t n_mem;
    bool archive;
    char *archive_path;
    bool classify;
    int nc;
    char **names;
    char *root;        /* dataset root: a folder on disk, or a prefix inside the archive ("" = top) */
    bool yaml_on_disk; /* opened from a data.yaml on disk: root is where its path: led */
    char *note;        /* which of two candidate roots was taken, or NULL */
    bool download;     /* the YAML has a download: key (which we never run) */
    char **split_src[3];
    int split_n[3];
    bool split_given[3];
    bool single_cls; /* every label is class 0, "item"; labels are still checked against nc */
};

static const char *const SPLITS[3] = {"train", "val", "test"};

static int split_index(const char *s) {
    for (int k = 0; k < 3; k++)
        if (strcmp(s, SPLITS[k]) == 0) return k;
    return -1;
}

/* ---- small helpers ---- */

static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* Normalises a relative or absolute path: drops "." parts and folds "x/.." (lexically). */
static char *path_clean(const char *p) {
    size_t n = strlen(p);
    char *out = malloc(n + 2);
    if (!out) return NULL;
    size_t o = 0;
    bool abs = p[0] == '/';
    if (abs) out[o++] = '/';
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - s);
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            /* fold a previous real component; keep leading ".." of relative paths */
            size_t base = abs ? 1 : 0;
            size_t q = o;
            while (q > base && out[q - 1] != '/')
                q--;
            bool prev_dotdot = o - q == 2 && out[q] == '.' && out[q + 1] == '.';
            if (o > base && !prev_dotdot) {
                o = q > base ? q - 1 : base;
            } else if (!abs) {
                if (o > base) out[o++] = '/';
                out[o++] = '.', out[o++] = '.';
            }
        } else {
            if (o > (abs ? 1u : 0u)) out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        s = e;
    }
    if (o == 0) out[o++] = '.';
    out[o] = 0;
    return out;
}

static char *path_join(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0) return path_clean(rel);
    char *j = fmt_alloc("%s/%s", dir, rel);
    if (!j) return NULL;
    char *c = path_clean(j);
    free(j);
    return c;
}

static char *path_dir(const char *p) {
    const char *s = strrchr(p, '/');
    if (!s) return strdup(".");
    if (s == p) return strdup("/");
    return strndup(p, (size_t)(s - p));
}

bool dataset_is_image_name(const char *p) {
    const char *dot = strrchr(p, '.');
    const char *slash = strrchr(p, '/');
    if (!dot || (slash && dot < slash)) return false;
    for (size_t k = 0; k < sizeof IMG_EXT / sizeof *IMG_EXT; k++)
        if (strcasecmp(dot + 1, IMG_EXT[k]) == 0) return true;
    return false;
}

static yolo_status read_disk(const char *path, uint8_t **buf, size_t *len, size_t limit) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return yolo_error(errno == ENOENT ? YOLO_ERR_NOTFOUND : YOLO_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return yolo_error(YOLO_ERR_IO, "%s: not a regular file", path);
    }
    if ((size_t)sb.st_size > limit) {
        fclose(f);
        return yolo_error(YOLO_ERR_LIMIT, "%s: file too large (%lld bytes)", path, (long long)sb.st_size);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return yolo_error(YOLO_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(b, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(b);
        return yolo_error(YOLO_ERR_IO, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return YOLO_OK;
}

/* ---- string lists ---- */

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_push(strlist *l, char *s) {
    if (!s) return -1;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return -1;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return 0;
}

static void strlist_free(strlist *l) {
    for (size_t k = 0; k < l->n; k++)
        free(l->v[k]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the file view: disk or archive members ---- */

static int cmp_member(const void *a, const void *b) {
    return strcmp(((const member *)a)->name, ((const member *)b)->name);
}

static const member *find_member(const dataset *ds, const char *name) {
    member key = {.name = (char *)name};
    return bsearch(&key, ds->mem, ds->n_mem, sizeof *ds->mem, cmp_member);
}

/* First member whose name starts with prefix (members are sorted), or n_mem. */
static size_t member_lower_bound(const dataset *ds, const char *prefix) {
    size_t lo = 0, hi = ds->n_mem;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(ds->mem[mid].name, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* 0: absent, 1: file, 2: folder */
static int vfs_kind(const dataset *ds, const char *path, int64_t *size, int64_t *mtime) {
    if (!ds->archive) {
        struct stat sb;
        if (stat(path, &sb) != 0) return 0;
        if (size) *size = sb.st_size;
        if (mtime) *mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        return S_ISDIR(sb.st_mode) ? 2 : S_ISREG(sb.st_mode) ? 1 : 0;
    }
    if (strcmp(path, ".") == 0) return 2;
    const member *m = find_member(ds, path);
    if (m) {
        if (size) *size = (int64_t)m->len;
        if (mtime) *mtime = m->mtime;
        return 1;
    }
    char *pre = fmt_alloc("%s/", path);
    if (!pre) return 0;
    size_t k = member_lower_bound(ds, pre);
    int r = k < ds->n_mem && strncmp(ds->mem[k].name, pre, strlen(pre)) == 0 ? 2 : 0;
    free(pre);
    return r;
}

static yolo_status vfs_read(const dataset *ds, const char *path, uint8_t **buf, size_t *len) {
    if (!ds->archive) return read_disk(path, buf, len, (size_t)1 << 31);
    const member *m = find_member(ds, path);
    if (!m) return yolo_error(YOLO_ERR_NOTFOUND, "%s: %s: no such member", ds->archive_path, path);
    *buf = malloc(m->len + 1);
    if (!*buf) return yolo_nomem();
    memcpy(*buf, m->data, m->len);
    (*buf)[m->len] = 0;
    *len = m->len;
    return YOLO_OK;
}

/* A name below a listed folder with a part that starts with '.' (macOS's ._x.jpg, .DS_Store,
 * .ipynb_checkpoints/): Ultralytics' glob of the folder never sees it, so it is no image here either. */
static bool is_hidden(const char *rel) {
    for (const char *p = rel; p; p = strchr(p, '/'))
        if (*(p += *p == '/') == '.') return true;
    return false;
}

/* The folders from the listed one down to the one being read, to find a symlink loop: Ultralytics' glob
 * follows links, so a loop (images/train/up -> ..) lists the same images again at every turn until the
 * system refuses the path; here it is an error naming the link. */
#define LIST_MAX_DEPTH 64
typedef struct {
    dev_t dev;
    ino_t ino;
    const char *path;
    bool link; /* entered through a symlink */
} walk_frame;

/* The folder at path (frame n) is frames[k]'s again: one line naming the first link on the way back. */
static yolo_status walk_loop(const walk_frame *frames, int k, int n) {
    int l = k + 1;
    while (l < n && !frames[l].link)
        l++;
    return yolo_error(
        YOLO_ERR_LIMIT,
        "%s: a symlink loop: following it leads back to %s (remove the link or point it elsewhere)",
        frames[l].path, frames[k].path);
}

static yolo_status list_disk(walk_frame *frames, int depth, strlist *out) {
    const char *dir = frames[depth].path;
    if (depth > LIST_MAX_DEPTH)
        return yolo_error(YOLO_ERR_LIMIT, "%s: folders nested more than %d deep", dir, LIST_MAX_DEPTH);
    for (int k = 0; k < depth; k++)
        if (frames[k].dev == frames[depth].dev && frames[k].ino == frames[depth].ino)
            return walk_loop(frames, k, depth);
    DIR *d = opendir(dir);
    if (!d) return yolo_error(YOLO_ERR_IO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    yolo_status st = YOLO_OK;
    while (!st && (e = readdir(d))) {
        if (is_hidden(e->d_name)) continue;
        char *p = fmt_alloc("%s/%s", dir, e->d_name);
        if (!p) {
            st = yolo_nomem();
            break;
        }
        struct stat sb;
        int kind = e->d_type == DT_DIR ? 2 : e->d_type == DT_REG ? 1 : 0;
        if (kind == 2 || e->d_type == DT_UNKNOWN || e->d_type == DT_LNK)
            kind = stat(p, &sb) == 0 ? (S_ISDIR(sb.st_mode) ? 2 : S_ISREG(sb.st_mode) ? 1 : 0) : 0;
        if (kind == 2) {
            struct stat lb; /* (d_type says it, unless the file system leaves it unknown) */
            bool link =
                e->d_type == DT_LNK || (e->d_type == DT_UNKNOWN && lstat(p, &lb) == 0 && S_ISLNK(lb.st_mode));
            frames[depth + 1] = (walk_frame){sb.st_dev, sb.st_ino, p, link};
            st = list_disk(frames, depth + 1, out);
            free(p);
        } else if (kind == 1) {
            if (strlist_push(out, p)) st = yolo_nomem();
        } else
            free(p);
    }
    closedir(d);
    return st;
}

static yolo_status list_disk_tree(const char *dir, strlist *out) {
    walk_frame frames[LIST_MAX_DEPTH + 2] = {{.path = dir}};
    struct stat sb;
    if (stat(dir, &sb) != 0) return yolo_error(YOLO_ERR_IO, "%s: %s", dir, strerror(errno));
    frames[0].dev = sb.st_dev, frames[0].ino = sb.st_ino;
    return list_disk(frames, 0, out);
}

/* Every file under dir (recursively). */
static yolo_status vfs_list(const dataset *ds, const char *dir, strlist *out) {
    if (!ds->archive) return list_disk_tree(dir, out);
    bool top = strcmp(dir, ".") == 0;
    char *pre = top ? strdup("") : fmt_alloc("%s/", dir);
    if (!pre) return yolo_nomem();
    size_t pl = strlen(pre);
    for (size_t k = member_lower_bound(ds, pre); k < ds->n_mem && strncmp(ds->mem[k].name, pre, pl) == 0; k++)
        if (!is_hidden(ds->mem[k].name + pl) && strlist_push(out, strdup(ds->mem[k].name))) {
            free(pre);
            return yolo_nomem();
        }
    free(pre);
    return YOLO_OK;
}

static yolo_status load_archive(dataset *ds, const char *path) {
    struct archive *a = archive_read_new();
    if (!a) return yolo_nomem();
    archive_read_support_filter_all(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    yolo_status st = YOLO_OK;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: cannot open archive (%s)", path, archive_error_string(a));
        archive_read_free(a);
        return st;
    }
    size_t cap = 0, total = 0;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *nm = archive_entry_pathname(e);
        if (!nm) continue;
        int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        size_t bcap = sz >= 0 ? (size_t)sz : 1 << 16, blen = 0;
        uint8_t *b = malloc(bcap + 1);
        char *name = path_clean(nm);
        if (!b || !name) {
            free(b);
            free(name);
            st = yolo_nomem();
            break;
        }
        for (;;) {
            if (blen == bcap) {
                uint8_t *nb = bcap < MAX_ARCHIVE_BYTES ? realloc(b, bcap * 2 + 1) : NULL;
                if (!nb) {
                    st = yolo_error(YOLO_ERR_NOMEM, "%s: out of memory reading %s", path, name);
                    break;
                }
                b = nb;
                bcap *= 2;
            }
            la_ssize_t got = archive_read_data(a, b + blen, bcap - blen);
            if (got < 0) {
                st = yolo_error(YOLO_ERR_FORMAT, "%s: %s: damaged archive (%s)", path, name,
                                archive_error_string(a));
                break;
            }
            if (got == 0) break;
            blen += (size_t)got;
        }
        total += blen;
        if (!st && total > MAX_ARCHIVE_BYTES) st = yolo_error(YOLO_ERR_LIMIT, "%s: archive too large", path);
        if (st) {
            free(b);
            free(name);
            break;
        }
        if (ds->n_mem == cap) {
            cap = cap ? cap * 2 : 256;
            member *nm2 = realloc(ds->mem, cap * sizeof *nm2);
            if (!nm2) {
                free(b);
                free(name);
                st = yolo_nomem();
                break;
            }
            ds->mem = nm2;
        }
        b[blen] = 0;
        ds->mem[ds->n_mem++] = (member){
            name, b, blen, (int64_t)archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e)};
    }
    if (!st && r != ARCHIVE_EOF)
        st = yolo_error(YOLO_ERR_FORMAT, "%s: damaged archive (%s)", path, archive_error_string(a));
    archive_read_free(a);
    if (!st) qsort(ds->mem, ds->n_mem, sizeof *ds->mem, cmp_member);
    return st;
}

/* ---- data.yaml ---- */

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yolo_status yaml_split_sources(dataset *ds, yaml_document_t *doc, yaml_node_t *v, const char *key,
                                      int k) {
    strlist l = {0};
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = scalar(v);
        if (!s[0] || strcmp(s, "null") == 0 || strcmp(s, "~") == 0) {
            if (k == 2) return YOLO_OK; /* test: null means no test split */
            return yolo_error(YOLO_ERR_FORMAT, "%s: '%s' is empty (give a folder or a list file)",
                              ds->yaml_name, key);
        }
        if (strlist_push(&l, strdup(s))) return yolo_nomem();
    } else if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            const char *s = scalar(yaml_document_get_node(doc, *it));
            if (!s) {
                strlist_free(&l);
                return yolo_error(YOLO_ERR_FORMAT, "%s: '%s' has an entry that is not a path", ds->yaml_name,
                                  key);
            }
            if (strlist_push(&l, strdup(s))) return yolo_nomem();
        }
        if (l.n == 0)
            return yolo_error(YOLO_ERR_FORMAT, "%s: '%s' is an empty list (give a folder or a list file)",
                              ds->yaml_name, key);
    } else
        return yolo_error(YOLO_ERR_FORMAT, "%s: '%s' must be a path or a list of paths", ds->yaml_name, key);
    for (int j = 0; j < ds->split_n[k]; j++)
        free(ds->split_src[k][j]);
    free(ds->split_src[k]);
    ds->split_src[k] = l.v;
    ds->split_n[k] = (int)l.n;
    ds->split_given[k] = true;
    return YOLO_OK;
}

static bool parse_int(const char *s, long *out) {
    if (!s || !*s) return false;
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (*e || errno) return false;
    *out = v;
    return true;
}

static yolo_status resolve_root(dataset *ds, const char *path, const char *yaml_dir);

/* given_root: NULL to find the root from path: (see resolve_root; archives and YAML text join it to
 * yaml_dir), else the root to use whatever path: says. */
static yolo_status parse_yaml(dataset *ds, const uint8_t *text, size_t len, const char *yaml_dir,
                              const char *given_root) {
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return yolo_nomem();
    yaml_parser_set_input_string(&p, text, len);
    if (!yaml_parser_load(&p, &doc)) {
        yolo_status st =
            yolo_error(YOLO_ERR_FORMAT, "%s: bad YAML at line %lu: %s", ds->yaml_name,
                       (unsigned long)p.problem_mark.line + 1, p.problem ? p.problem : "syntax error");
        yaml_parser_delete(&p);
        return st;
    }
    yaml_parser_delete(&p);
    yolo_status st = YOLO_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    long nc = -1;
    const char *path = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: not a YAML mapping (expected keys path, train, val, names)",
                        ds->yaml_name);
        goto done;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top && !st;
         pr++) {
        const char *key = scalar(yaml_document_get_node(&doc, pr->key));
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        if (!key || !v) continue;
        if (strcmp(key, "path") == 0) {
            path = scalar(v);
            if (!path)
                st = yolo_error(YOLO_ERR_FORMAT, "%s: 'path' must be a folder name", ds->yaml_name);
            else if (!path[0] || !strcmp(path, "null") || !strcmp(path, "~"))
                path = NULL; /* as if absent */
        } else if (strcmp(key, "download") == 0) {
            ds->download = true;
        } else if (strcmp(key, "train") == 0)
            st = yaml_split_sources(ds, &doc, v, key, 0);
        else if (strcmp(key, "val") == 0 || strcmp(key, "validation") == 0)
            st = yaml_split_sources(ds, &doc, v, key, 1);
        else if (strcmp(key, "test") == 0)
            st = yaml_split_sources(ds, &doc, v, key, 2);
        else if (strcmp(key, "nc") == 0) {
            if (!parse_int(scalar(v), &nc) || nc < 1 || nc > 100000)
                st = yolo_error(YOLO_ERR_FORMAT, "%s: 'nc' must be a positive whole number", ds->yaml_name);
        } else if (strcmp(key, "names") == 0) {
            if (ds->names) {
                st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' is given twice", ds->yaml_name);
                break;
            }
            if (v->type == YAML_SEQUENCE_NODE) {
                int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
                ds->names = calloc((size_t)n + 1, sizeof *ds->names);
                if (!ds->names) {
                    st = yolo_nomem();
                    break;
                }
                for (int k = 0; k < n && !st; k++) {
                    const char *s = scalar(yaml_document_get_node(&doc, v->data.sequence.items.start[k]));
                    if (!s)
                        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' entry %d is not a name", ds->yaml_name,
                                        k);
                    else if (!(ds->names[k] = strdup(s)))
                        st = yolo_nomem();
                }
                ds->nc = n;
            } else if (v->type == YAML_MAPPING_NODE) {
                int n = (int)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
                ds->names = calloc((size_t)n + 1, sizeof *ds->names);
                if (!ds->names) {
                    st = yolo_nomem();
                    break;
                }
                ds->nc = n;
                for (int k = 0; k < n && !st; k++) {
                    yaml_node_pair_t *q = v->data.mapping.pairs.start + k;
                    long id;
                    const char *ks = scalar(yaml_document_get_node(&doc, q->key));
                    const char *s = scalar(yaml_document_get_node(&doc, q->value));
                    if (!parse_int(ks, &id) || id < 0 || id >= n)
                        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' key '%s' is not a class id 0-%d",
                                        ds->yaml_name, ks ? ks : "?", n - 1);
                    else if (!s)
                        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' entry %ld is not a name", ds->yaml_name,
                                        id);
                    else if (ds->names[id])
                        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' has class id %ld twice", ds->yaml_name,
                                        id);
                    else if (!(ds->names[id] = strdup(s)))
                        st = yolo_nomem();
                }
            } else
                st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' must be a list or a map of class names",
                                ds->yaml_name);
        }
    }
    if (st) goto done;
    if (!ds->split_given[0]) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'train' is missing (data.yaml needs train and val)",
                        ds->yaml_name);
        goto done;
    }
    if (!ds->split_given[1]) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'val' is missing (data.yaml needs train and val)",
                        ds->yaml_name);
        goto done;
    }
    if (!ds->names && nc < 0) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' is missing (give the class names as a list or a map)",
                        ds->yaml_name);
        goto done;
    }
    if (ds->names && nc >= 0 && nc != ds->nc) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' has %d entries but 'nc' is %ld (make them agree)",
                        ds->yaml_name, ds->nc, nc);
        goto done;
    }
    if (!ds->names) {
        ds->names = calloc((size_t)nc + 1, sizeof *ds->names);
        if (!ds->names) {
            st = yolo_nomem();
            goto done;
        }
        ds->nc = (int)nc;
        for (int k = 0; k < nc && !st; k++)
            if (!(ds->names[k] = fmt_alloc("class_%d", k))) st = yolo_nomem();
    }
    if (ds->nc < 1) {
        st = yolo_error(YOLO_ERR_FORMAT, "%s: 'names' is empty (a dataset needs at least one class)",
                        ds->yaml_name);
        goto done;
    }
    if (given_root)
        ds->root = strdup(given_root);
    else if (ds->yaml_on_disk && path && path[0] != '/')
        st = resolve_root(ds, path, yaml_dir);
    else
        ds->root = path ? path_join(yaml_dir, path) : strdup(yaml_dir);
    if (!st && !ds->root) st = yolo_nomem();
done:
    yaml_document_delete(&doc);
    return st;
}

/* ---- where datasets are: Ultralytics' datasets_dir ---- */

/* The string value of "key" in a JSON object's text (the first one; escapes \" \\ \/ \n \t \uXXXX
 * below 0x80 undone), malloc'ed, or NULL. Enough for Ultralytics' settings.json. */
static char *json_string_value(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(text, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != ':') return NULL;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != '"') return NULL;
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out) return NULL;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        unsigned u;
        if (*p == 'n')
            *o++ = '\n';
        else if (*p == 't')
            *o++ = '\t';
        else if (*p == 'u' && sscanf(p + 1, "%4x", &u) == 1 && u > 0 && u < 0x80)
            *o++ = (char)u, p += 4;
        else if (*p)
            *o++ = *p;
        else
            break;
    }
    *o = 0;
    if (*p != '"') {
        free(out);
        return NULL;
    }
    return out;
}

yolo_status dataset_datasets_dir(char *dir, size_t cap, char *from, size_t fcap) {
    const char *env = getenv(DATASET_DIR_ENV);
    if (env && *env) {
        snprintf(dir, cap, "%s", env);
        snprintf(from, fcap, "$%s", DATASET_DIR_ENV);
        return YOLO_OK;
    }
    char settings[4096];
    const char *cfg = getenv("YOLO_CONFIG_DIR"), *home = getenv("HOME");
    if (cfg && *cfg)
        snprintf(settings, sizeof settings, "%s/settings.json", cfg);
    else
        snprintf(settings, sizeof settings, "%s/.config/Ultralytics/settings.json",
                 home && *home ? home : "");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_disk(settings, &buf, &len, 1 << 20) == YOLO_OK) {
        char *text = realloc(buf, len + 1);
        if (text) {
            text[len] = 0;
            char *v = json_string_value(text, "datasets_dir");
            free(text);
            if (v && *v) {
                snprintf(dir, cap, "%s", v);
                snprintf(from, fcap, "%s", settings);
                free(v);
                return YOLO_OK;
            }
            free(v);
        } else
            free(buf);
    }
    /* as Ultralytics' first start writes it: datasets/ under the working folder */
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return yolo_error(YOLO_ERR_IO, "cannot read the working folder: %s", strerror(errno));
    snprintf(dir, cap, "%s/datasets", cwd);
    snprintf(from, fcap, "the default: no $%s, no %s", DATASET_DIR_ENV, settings);
    return YOLO_OK;
}

/* Whether root holds the dataset: its first train source is there (with Ultralytics' "../" leniency). */
static bool holds_train(const dataset *ds, const char *root) {
    if (!ds->split_n[0]) return false;
    const char *src = ds->split_src[0][0];
    char *p = path_join(root, src);
    bool there = p && vfs_kind(ds, p, NULL, NULL);
    free(p);
    if (!there && !strncmp(src, "../", 3)) {
        p = path_join(root, src + 3);
        there = p && vfs_kind(ds, p, NULL, NULL);
        free(p);
    }
    return there;
}

/* A relative path: of a data.yaml on disk, found as Ultralytics finds it (ultralytics/data/utils.py,
 * check_det_dataset): against the working folder, then against the datasets folder; then, our own
 * convenience, against the YAML's folder. The first that holds the train split is taken; when another
 * one holds it too, ds->note says which was taken. None: one line naming every place tried. */
static yolo_status resolve_root(dataset *ds, const char *path, const char *yaml_dir) {
    char dsdir[4096], from[4200];
    yolo_status st = dataset_datasets_dir(dsdir, sizeof dsdir, from, sizeof from);
    if (st) return st;
    char *cand[3] = {path_clean(path), path_join(dsdir, path), path_join(yaml_dir, path)};
    const char *what[3] = {"the working folder", "the datasets folder", "the YAML's folder"};
    int take = -1;
    for (int k = 0; k < 3; k++) {
        if (!cand[k])
            st = yolo_nomem();
        else if (take < 0 && holds_train(ds, cand[k]))
            take = k;
    }
    if (!st && take >= 0) {
        ds->root = cand[take];
        cand[take] = NULL;
        for (int k = take + 1; k < 3; k++) {
            char *a = realpath(ds->root, NULL), *b = cand[k] ? realpath(cand[k], NULL) : NULL;
            if (b && a && strcmp(a, b) && holds_train(ds, cand[k]) && !ds->note)
                ds->note = fmt_alloc("%s: path '%s' taken as %s (%s), not %s (%s)", ds->yaml_name, path,
                                     ds->root, what[take], cand[k], what[k]);
            free(a);
            free(b);
        }
    } else if (!st) {
        st = yolo_error(
            YOLO_ERR_USAGE,
            "%s: path '%s' holds no '%s' (%s) in any of: %s (%s), %s (%s, datasets_dir from %s), %s (%s)%s%s",
            ds->yaml_name, path, SPLITS[0], ds->split_src[0][0], cand[0], what[0], cand[1], what[1], from,
            cand[2], what[2],
            ds->download ? "; the YAML has a download: script, which yolo-tools never runs: put the "
                           "data in "
                         : " (put the data in one of them, or set datasets_dir)",
            ds->download ? cand[1] : "");
    }
    for (int k = 0; k < 3; k++)
        free(cand[k]);
    return st;
}

/* ---- opening ---- */

static yolo_status open_imagefolder(dataset *ds, const char *root) {
    ds->classify = true;
    ds->root = strdup(root);
    char *train = path_join(root, "train");
    if (!ds->root || !train) {
        free(train);
        return yolo_nomem();
    }
    if (vfs_kind(ds, train, NULL, NULL) != 2) {
        free(train);
        return yolo_error(YOLO_ERR_NOTFOUND, "%s: no data.yaml and no train/ folder (not a dataset)",
                          ds->path);
    }
    strlist files = {0};
    yolo_status st = vfs_list(ds, train, &files);
    strlist cls = {0};
    size_t tl = strlen(train) + 1;
    if (!ds->archive && !st) {
        /* Class folders are the immediate subfolders, even empty ones. */
        strlist_free(&files);
        DIR *d = opendir(train);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *p = fmt_alloc("%s/%s", train, e->d_name);
            if (p && vfs_kind(ds, p, NULL, NULL) == 2) strlist_push(&cls, strdup(e->d_name));
            free(p);
        }
        if (d) closedir(d);
    } else if (!st) {
        for (size_t k = 0; k < files.n; k++) {
            const char *rest = files.v[k] + (strcmp(train, ".") == 0 ? 0 : tl);
            const char *sl = strchr(rest, '/');
            if (!sl) continue;
            char *c = strndup(rest, (size_t)(sl - rest));
            if (!c) continue;
            if (cls.n && strcmp(cls.v[cls.n - 1], c) == 0)
                free(c);
            else
                strlist_push(&cls, c);
        }
    }
    strlist_free(&files);
    free(train);
    if (st) {
        strlist_free(&cls);
        return st;
    }
    qsort(cls.v, cls.n, sizeof *cls.v, cmp_str);
    if (cls.n == 0)
        return yolo_error(YOLO_ERR_FORMAT,
                          "%s: train/ has no class folders (ImageFolder layout: train/<class>/*.jpg)",
                          ds->path);
    ds->names = cls.v;
    ds->nc = (int)cls.n;
    return YOLO_OK;
}

/* In an archive: a data.yaml at the top or one folder down, else ImageFolder at the top or one down. */
static yolo_status open_in_archive(dataset *ds) {
    const char *yaml = NULL;
    for (size_t k = 0; k < ds->n_mem && !yaml; k++) {
        const char *n = ds->mem[k].name;
        const char *sl = strchr(n, '/');
        bool shallow = !sl || !strchr(sl + 1, '/');
        const char *base = strrchr(n, '/') ? strrchr(n, '/') + 1 : n;
        if (shallow && (strcmp(base, "data.yaml") == 0 || strcmp(base, "data.yml") == 0)) yaml = n;
    }
    if (yaml) {
        free(ds->yaml_name);
        ds->yaml_name = fmt_alloc("%s:%s", ds->archive_path, yaml);
        const member *m = find_member(ds, yaml);
        char *dir = path_dir(yaml);
        if (!ds->yaml_name || !dir) {
            free(dir);
            return yolo_nomem();
        }
        yolo_status st = parse_yaml(ds, m->data, m->len, dir, NULL);
        free(dir);
        if (!st && ds->root[0] == '/')
            st = yolo_error(YOLO_ERR_FORMAT, "%s: 'path' is absolute inside an archive (make it relative)",
                            ds->yaml_name);
        return st;
    }
    if (vfs_kind(ds, "train", NULL, NULL) == 2) return open_imagefolder(ds, ".");
    for (size_t k = 0; k < ds->n_mem; k++) {
        const char *sl = strchr(ds->mem[k].name, '/');
        if (!sl) continue;
        char *top = strndup(ds->mem[k].name, (size_t)(sl - ds->mem[k].name));
        char *tr = top ? fmt_alloc("%s/train", top) : NULL;
        bool ok = tr && vfs_kind(ds, tr, NULL, NULL) == 2;
        free(tr);
        if (ok) {
            yolo_status st = open_imagefolder(ds, top);
            free(top);
            return st;
        }
        free(top);
    }
    return yolo_error(YOLO_ERR_FORMAT, "%s: archive holds no data.yaml and no train/ folder (not a dataset)",
                      ds->path);
}

yolo_status dataset_open(const char *path, dataset **out) {
    return dataset_open_at(path, NULL, out);
}

yolo_status dataset_open_at(const char *path, const char *root, dataset **out) {
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = strdup(path)) || !(ds->yaml_name = strdup(path))) {
        if (ds) free(ds->path);
        free(ds);
        return yolo_nomem();
    }
    yolo_status st;
    struct stat sb;
    bool is_archive = text_ends_with(path, ".zip") || text_ends_with(path, ".tar") ||
                      text_ends_with(path, ".tar.gz") || text_ends_with(path, ".tgz") ||
                      text_ends_with(path, ".tar.zst") || text_ends_with(path, ".tar.xz") ||
                      text_ends_with(path, ".tar.bz2");
    if (stat(path, &sb) != 0) {
        st = yolo_error(YOLO_ERR_NOTFOUND, "%s: %s", path, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        char *y = path_join(path, "data.yaml");
        struct stat yb;
        if (y && stat(y, &yb) == 0) {
            uint8_t *buf;
            size_t len;
            free(ds->yaml_name);
            ds->yaml_name = y;
            y = NULL;
            st = read_disk(ds->yaml_name, &buf, &len, MAX_YAML_BYTES);
            if (!st) {
                ds->yaml_on_disk = true;
                st = parse_yaml(ds, buf, len, path, root);
                free(buf);
            }
        } else
            st = open_imagefolder(ds, path);
        free(y);
    } else if (is_archive) {
        ds->archive = true;
        ds->archive_path = strdup(path);
        st = ds->archive_path ? load_archive(ds, path) : yolo_nomem();
        if (!st) st = open_in_archive(ds);
    } else {
        uint8_t *buf;
        size_t len;
        st = read_disk(path, &buf, &len, MAX_YAML_BYTES);
        if (!st) {
            char *dir = path_dir(path);
            ds->yaml_on_disk = true;
            st = dir ? parse_yaml(ds, buf, len, dir, root) : yolo_nomem();
            free(dir);
            free(buf);
        }
    }
    if (st) {
        dataset_free(ds);
        return st;
    }
    *out = ds;
    return YOLO_OK;
}

yolo_status dataset_open_yaml_text(const void *text, size_t len, const char *name, const char *dir,
                                   dataset **out) {
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = strdup(name)) || !(ds->yaml_name = strdup(name))) {
        if (ds) free(ds->path);
        free(ds);
        return yolo_nomem();
    }
    yolo_status st = parse_yaml(ds, text, len, dir && dir[0] ? dir : ".", NULL);
    if (st) {
        dataset_free(ds);
        return st;
    }
    *out = ds;
    return YOLO_OK;
}

void dataset_free(dataset *ds) {
    if (!ds) return;
    for (size_t k = 0; k < ds->n_mem; k++) {
        free(ds->mem[k].name);
        free(ds->mem[k].data);
    }
    free(ds->mem);
    for (int k = 0; ds->names && k < ds->nc; k++)
        free(ds->names[k]);
    free(ds->names);
    for (int s = 0; s < 3; s++) {
        for (int j = 0; j < ds->split_n[s]; j++)
            free(ds->split_src[s][j]);
        free(ds->split_src[s]);
    }
    free(ds->root);
    free(ds->note);
    free(ds->path);
    free(ds->yaml_name);
    free(ds->archive_path);
    free(ds);
}

int dataset_nc(const dataset *ds) {
    return ds->single_cls ? 1 : ds->nc;
}
const char *const *dataset_names(const dataset *ds) {
    static const char *const item[1] = {"item"};
    return ds->single_cls ? item : (const char *const *)ds->names;
}
void dataset_set_single_cls(dataset *ds) {
    ds->single_cls = !ds->classify; /* as Ultralytics: classification datasets keep their classes */
}
bool dataset_is_classify(const dataset *ds) {
    return ds->classify;
}
const char *dataset_path(const dataset *ds) {
    return ds->path;
}
const char *dataset_yaml_root(const dataset *ds) {
    return ds->yaml_on_disk ? ds->root : NULL;
}
const char *dataset_note(const dataset *ds) {
    return ds->note;
}

yolo_status dataset_find(const char *data, char *out, size_t cap) {
    struct stat sb;
    if (stat(data, &sb) == 0) {
        snprintf(out, cap, "%s", data);
        return YOLO_OK;
    }
    if (strchr(data, '/') || !*data)
        return yolo_error(YOLO_ERR_USAGE,
                          "data=%s: no such file or folder (give a data.yaml, an image folder, a list file "
                          "or an archive)",
                          data);
    /* a bare name, such as one of the datasets Ultralytics knows (coco8.yaml): the datasets folder */
    char dsdir[4096], from[4200], stem[256];
    yolo_status st = dataset_datasets_dir(dsdir, sizeof dsdir, from, sizeof from);
    if (st) return st;
    snprintf(stem, sizeof stem, "%s", data);
    char *dot = strrchr(stem, '.');
    if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))) *dot = 0;
    char *cand[3] = {fmt_alloc("%s/%s", dsdir, data), fmt_alloc("%s/%s/%s", dsdir, stem, data),
                     fmt_alloc("%s/%s/data.yaml", dsdir, stem)};
    for (int k = 0; k < 3 && !st; k++) {
        if (!cand[k])
            st = yolo_nomem();
        else if (stat(cand[k], &sb) == 0 && S_ISREG(sb.st_mode)) {
            snprintf(out, cap, "%s", cand[k]);
            for (int j = 0; j < 3; j++)
                free(cand[j]);
            return YOLO_OK;
        }
    }
    if (!st) {
        char *folder = fmt_alloc("%s/%s", dsdir, stem);
        bool has_folder = folder && stat(folder, &sb) == 0 && S_ISDIR(sb.st_mode);
        st = yolo_error(
            YOLO_ERR_USAGE,
            "data=%s: not found (tried ./%s, %s, %s, %s; datasets_dir from %s); Ultralytics downloads the "
            "datasets it knows, yolo-tools never downloads: %s%s%s, or give data=PATH/TO/data.yaml",
            data, data, cand[0], cand[1], cand[2], from,
            has_folder ? "the data is in " : "put the data and its YAML in ", has_folder ? folder : dsdir,
            has_folder ? " but no YAML is: put the YAML beside it" : "");
        free(folder);
    }
    for (int k = 0; k < 3; k++)
        free(cand[k]);
    return st;
}
const char *dataset_root(const dataset *ds) {
    return ds->root ? ds->root : "";
}

static char *classify_split_dir(const dataset *ds, const char *split) {
    const char *alts[2] = {split, strcmp(split, "val") == 0 ? "validation" : NULL};
    for (int k = 0; k < 2 && alts[k]; k++) {
        char *p = path_join(ds->root, alts[k]);
        if (p && vfs_kind(ds, p, NULL, NULL) == 2) return p;
        free(p);
    }
    return NULL;
}

bool dataset_has_split(const dataset *ds, const char *split) {
    if (ds->classify) {
        char *p = classify_split_dir(ds, split);
        free(p);
        return p != NULL;
    }
    int k = split_index(split);
    return k >= 0 && ds->split_given[k] && ds->split_n[k] > 0;
}

/* ---- splits ---- */

typedef struct {
    char *file;
    char *label_file; /* NULL for classification */
    int h, w;
    labels_verdict verdict;
    bool missing; /* no label file */
    bool corrupt;
    char *msg; /* warning or reason, or NULL */
    sample lab;
    int64_t size, mtime, lsize, lmtime;
} item;

struct dataset_split {
    const dataset *ds;
    char split[16];
    item *items; /* every listed image */
    int64_t n_items;
    int64_t *good; /* indices of usable items */
    int64_t n_good;
    dataset_report rep;
    bool segments;
};

static void item_free(item *it) {
    free(it->file);
    free(it->label_file);
    free(it->msg);
    sample_free(&it->lab);
}

static yolo_status list_split(const dataset *ds, int k, strlist *files) {
    for (int j = 0; j < ds->split_n[k]; j++) {
        const char *src = ds->split_src[k][j];
        char *p = path_join(ds->root, src);
        if (!p) return yolo_nomem();
        int kind = vfs_kind(ds, p, NULL, NULL);
        char *alt = NULL; /* Ultralytics' second place for a "../" path: without the "../" */
        if (!kind && strncmp(src, "../", 3) == 0) {
            if (!(alt = path_join(ds->root, src + 3))) {
                free(p);
                return yolo_nomem();
            }
            if ((kind = vfs_kind(ds, alt, NULL, NULL))) {
                free(p);
                p = alt, alt = NULL;
            }
        }
        yolo_status st = YOLO_OK;
        if (!kind && alt)
            st = yolo_error(YOLO_ERR_NOTFOUND,
                            "%s: '%s': neither %s nor %s exists (check the path; relative paths start at %s)",
                            ds->yaml_name, SPLITS[k], p, alt, ds->root);
        else if (!kind)
            st = yolo_error(YOLO_ERR_NOTFOUND,
                            "%s: '%s': %s does not exist (check the path; relative paths start at %s)",
                            ds->yaml_name, SPLITS[k], p, ds->root);
        else if (kind == 2) {
            strlist all = {0};
            st = vfs_list(ds, p, &all);
            for (size_t q = 0; q < all.n && !st; q++) {
                if (dataset_is_image_name(all.v[q])) {
                    if (strlist_push(files, all.v[q])) st = yolo_nomem();
                    all.v[q] = NULL;
                }
            }
            strlist_free(&all);
        } else {
            uint8_t *buf = NULL;
            size_t len;
            st = vfs_read(ds, p, &buf, &len);
            char *dir = st ? NULL : path_dir(p);
            char *save = NULL;
            for (char *line = st ? NULL : strtok_r((char *)buf, "\r\n", &save); line && !st;
                 line = strtok_r(NULL, "\r\n", &save)) {
                while (*line == ' ' || *line == '\t')
                    line++;
                size_t l = strlen(line);
                while (l && (line[l - 1] == ' ' || line[l - 1] == '\t'))
                    line[--l] = 0;
                if (!l || !dataset_is_image_name(line)) continue;
                char *f;
                /* "./x" is relative to the list's folder; inside an archive every path is. */
                if (strncmp(line, "./", 2) == 0 || (ds->archive && line[0] != '/'))
                    f = path_join(dir, line);
                else
                    f = strdup(line);
                if (strlist_push(files, f)) st = yolo_nomem();
            }
            free(buf);
            free(dir);
        }
        free(p);
        free(alt);
        if (st) return st;
    }
    qsort(files->v, files->n, sizeof *files->v, cmp_str);
    return YOLO_OK;
}

/* ---- checking ---- */

typedef struct {
    dataset_split *sp;
    atomic_long next;
} scan_job;

static void check_item(dataset_split *sp, item *it) {
    const dataset *ds = sp->ds;
    uint8_t *buf = NULL;
    size_t len = 0;
    char reason[512];
    reason[0] = 0;
    yolo_status st = vfs_read(ds, it->file, &buf, &len);
    image im = {0};
    if (!st) st = image_decode(buf, len, it->file, &im);
    free(buf);
    if (st) {
        /* the decoder's message starts with the file name; keep only the reason */
        const char *e = yolo_last_error();
        size_t fl = strlen(it->file);
        if (strncmp(e, it->file, fl) == 0 && e[fl] == ':') e += fl + 2;
        snprintf(reason, sizeof reason, "%s", e);
        goto corrupt;
    }
    it->h = im.h, it->w = im.w;
    image_free(&im);
    if (it->h < 10 || it->w < 10) {
        snprintf(reason, sizeof reason, "image size (%d, %d) <10 pixels", it->h, it->w);
        goto corrupt;
    }
    if (!it->label_file) return;
    if (vfs_kind(ds, it->label_file, NULL, NULL) != 1) {
        it->missing = true;
        it->verdict = LABELS_EMPTY;
        return;
    }
    if (vfs_read(ds, it->label_file, &buf, &len)) {
        snprintf(reason, sizeof reason, "%s", yolo_last_error());
        goto corrupt;
    }
    char msg[400];
    st = labels_parse((const char *)buf, len, ds->nc, &it->lab, &it->verdict, msg, sizeof msg);
    free(buf);
    if (st) {
        snprintf(reason, sizeof reason, "%s", yolo_last_error());
        goto corrupt;
    }
    if (it->verdict == LABELS_CORRUPT) {
        snprintf(reason, sizeof reason, "%s", msg);
        goto corrupt;
    }
    if (msg[0]) it->msg = fmt_alloc("%s: %s", it->file, msg);
    return;
corrupt:
    it->corrupt = true;
    it->verdict = LABELS_CORRUPT;
    sample_clear_labels(&it->lab);
    free(it->msg);
    it->msg = fmt_alloc("%s: ignoring corrupt image/label: %s", it->file, reason);
}

static void *scan_worker(void *arg) {
    scan_job *job = arg;
    for (;;) {
        long i = atomic_fetch_add(&job->next, 1);
        if (i >= job->sp->n_items) break;
        check_item(job->sp, &job->sp->items[i]);
    }
    return NULL;
}

static void scan_all(dataset_split *sp, int workers) {
    if (workers <= 0) workers = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1) workers = 1;
    if (workers > 64) workers = 64;
    if ((int64_t)workers > sp->n_items) workers = (int)(sp->n_items ? sp->n_items : 1);
    scan_job job = {.sp = sp};
    atomic_init(&job.next, 0);
    pthread_t th[64];
    int started = 0;
    for (int k = 1; k < workers; k++)
        if (pthread_create(&th[started], NULL, scan_worker, &job) == 0) started++;
    scan_worker(&job);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
}

/* FNV-1a, 64-bit: the cache key only has to notice changes, not resist attacks. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t k = 0; k < n; k++)
        h = (h ^ b[k]) * 0x100000001b3ULL;
    return h;
}

static uint64_t split_hash(const dataset_split *sp) {
    const dataset *ds = sp->ds;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, LABELCACHE_VERSION, strlen(LABELCACHE_VERSION) + 1);
    h = fnv(h, &ds->nc, sizeof ds->nc);
    for (int k = 0; k < ds->nc; k++)
        h = fnv(h, ds->names[k], strlen(ds->names[k]) + 1);
    for (int64_t i = 0; i < sp->n_items; i++) {
        const item *it = &sp->items[i];
        h = fnv(h, it->file, strlen(it->file) + 1);
        h = fnv(h, &it->size, sizeof it->size);
        h = fnv(h, &it->mtime, sizeof it->mtime);
        if (it->label_file) {
            h = fnv(h, it->label_file, strlen(it->label_file) + 1);
            h = fnv(h, &it->lsize, sizeof it->lsize);
            h = fnv(h, &it->lmtime, sizeof it->lmtime);
        }
    }
    return h;
}

static char *cache_path_for(const dataset_split *sp) {
    const dataset *ds = sp->ds;
    if (ds->archive) return fmt_alloc("%s.%s.yolo.cache", ds->archive_path, sp->split);
    if (ds->classify) {
        char *d = classify_split_dir(ds, sp->split);
        char *p = d ? fmt_alloc("%s.yolo.cache", d) : NULL;
        free(d);
        return p;
    }
    if (sp->n_items == 0) return NULL;
    char *d = path_dir(sp->items[0].label_file);
    char *p = d ? fmt_alloc("%s.yolo.cache", d) : NULL;
    free(d);
    return p;
}

/* Adds a warning to the report; it takes m (NULL: out of memory). */
static yolo_status report_note(dataset_report *rep, char *m) {
    char **nm = m ? realloc(rep->msgs, sizeof *nm * (size_t)(rep->n_msgs + 1)) : NULL;
    if (!nm) {
        free(m);
        return yolo_nomem();
    }
    rep->msgs = nm;
    rep->msgs[rep->n_msgs++] = m;
    return YOLO_OK;
}

/* Class folders of a classification split that train/ does not have: their images have no class id,
 * so they are not used, and one warning per folder says so (Ultralytics reports the class count
 * mismatch). */
static yolo_status note_unknown_classes(dataset_split *sp, const char *dir) {
    const dataset *ds = sp->ds;
    strlist sub = {0};
    yolo_status st = vfs_list(ds, dir, &sub);
    if (!st) qsort(sub.v, sub.n, sizeof *sub.v, cmp_str);
    size_t skip = strcmp(dir, ".") == 0 ? 0 : strlen(dir) + 1, n = 0;
    for (size_t q = 0; q < sub.n && !st; q++) {
        const char *rest = sub.v[q] + skip, *sl = strchr(rest, '/');
        size_t len = sl ? (size_t)(sl - rest) : 0;
        int c = 0;
        while (sl && c < ds->nc && (strncmp(ds->names[c], rest, len) || ds->names[c][len]))
            c++;
        if (sl && c == ds->nc && dataset_is_image_name(rest)) n++;
        /* at the folder's last file: one warning for the folder */
        if (n && (q + 1 == sub.n || strncmp(sub.v[q + 1] + skip, rest, len + 1))) {
            st = report_note(&sp->rep, fmt_alloc("%s/%.*s: %zu images in a class folder that train/ does not "
                                                 "have: not used (add the class to train/)",
                                                 dir, (int)len, rest, n));
            n = 0;
        }
    }
    strlist_free(&sub);
    return st;
}

static yolo_status finish_split(dataset_split *sp) {
    const dataset *ds = sp->ds;
    dataset_report *rep = &sp->rep;
    /* Ultralytics drops every polygon when some label files have boxes only. */
    int64_t nbox = 0, nseg = 0;
    for (int64_t i = 0; i < sp->n_items; i++) {
        const item *it = &sp->items[i];
        if (it->corrupt) continue;
        nbox += it->lab.n;
        if (it->lab.seg_start) nseg += it->lab.n;
    }
    sp->segments = nseg > 0 && !ds->classify;
    if (nseg > 0 && nseg != nbox) {
        sp->segments = false;
        rep->segments_dropped = true;
        char *m =
            fmt_alloc("%s: box and segment counts should be equal, but got %lld segments and %lld boxes; "
                      "only boxes will be used and all segments removed",
                      sp->split, (long long)nseg, (long long)nbox);
        yolo_status st = report_note(rep, m);
        if (st) return st;
    }
    rep->per_class = calloc((size_t)ds->nc + 1, sizeof *rep->per_class);
    sp->good = malloc(sizeof *sp->good * (size_t)(sp->n_items + 1));
    if (!rep->per_class || !sp->good) return yolo_nomem();
    rep->listed = sp->n_items;
    for (int64_t i = 0; i < sp->n_items; i++) {
        item *it = &sp->items[i];
        if (it->msg) {
            yolo_status st = report_note(rep, strdup(it->msg));
            if (st) return st;
        }
        if (it->corrupt) {
            rep->corrupt++;
            continue;
        }
        if (!sp->segments && it->lab.seg_start) {
            /* Keep the boxes, drop the polygons. */
            sample tmp;
            sample_init(&tmp);
            for (int k = 0; k < it->lab.n; k++)
                if (sample_add(&tmp, it->lab.cls[k], it->lab.boxes + 4 * k, NULL, 0)) {
                    sample_free(&tmp);
                    return yolo_nomem();
                }
            sample_move(&it->lab, &tmp);
        }
        if (sp->segments && !it->lab.seg_start) {
            /* A background in a segmentation dataset still "has polygons" (none). */
            it->lab.seg_start = calloc(1, sizeof *it->lab.seg_start);
            if (!it->lab.seg_start) return yolo_nomem();
        }
        if (ds->classify) {
            rep->per_class[it->lab.label]++;
            rep->instances++;
        } else {
            if (it->missing)
                rep->missing++;
            else if (it->verdict == LABELS_EMPTY)
                rep->empty++, rep->found++;
            else
                rep->found++;
            for (int k = 0; k < it->lab.n; k++)
                rep->per_class[it->lab.cls[k]]++;
            rep->instances += it->lab.n;
        }
        sp->good[sp->n_good++] = i;
    }
    rep->images = sp->n_good;
    rep->segments = sp->segments;
    return YOLO_OK;
}

/* Stats of thousands of files in a few folders: resolving each full path again is most of a warm start,
 * so keep the folder open and stat names relative to it. */
typedef struct {
    int fd;
    char *dir;
    size_t len;
} dircache;

static void dircache_close(dircache *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->dir);
    c->fd = -1, c->dir = NULL, c->len = 0;
}

static void stat_near(dircache *c, const char *path, int64_t *size, int64_t *mtime) {
    const char *sl = strrchr(path, '/');
    size_t dl = sl ? (size_t)(sl - path) : 0;
    if (!c->dir || c->len != dl || strncmp(c->dir, path, dl) != 0) {
        dircache_close(c);
        c->dir = sl ? strndup(path, dl ? dl : 1) : strdup(".");
        if (!c->dir) return;
        c->len = dl;
        c->fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    struct stat sb;
    int r = c->fd >= 0 ? fstatat(c->fd, sl ? sl + 1 : path, &sb, 0) : stat(path, &sb);
    if (r == 0 && S_ISREG(sb.st_mode)) {
        *size = sb.st_size;
        *mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    }
}

yolo_status dataset_split_load(dataset *ds, const char *split, const dataset_load_opts *opts,
                               dataset_split **out) {
    dataset_load_opts dflt = {0};
    if (!opts) opts = &dflt;
    dataset_split *sp = calloc(1, sizeof *sp);
    if (!sp) return yolo_nomem();
    sp->ds = ds;
    snprintf(sp->split, sizeof sp->split, "%s", split);
    strlist files = {0};
    int *labels = NULL;
    yolo_status st = YOLO_OK;
    int k = split_index(split);
    if (k < 0) {
        st = yolo_error(YOLO_ERR_USAGE, "unknown split '%s' (use train, val or test)", split);
        goto fail;
    }
    if (ds->classify) {
        char *dir = classify_split_dir(ds, split);
        if (!dir) {
            st = yolo_error(YOLO_ERR_NOTFOUND, "%s: no %s/ folder (ImageFolder layout: %s/<class>/*.jpg)",
                            ds->path, split, split);
            goto fail;
        }
        for (int c = 0; c < ds->nc && !st; c++) {
            char *cd = path_join(dir, ds->names[c]);
            if (!cd) {
                st = yolo_nomem();
                break;
            }
            if (vfs_kind(ds, cd, NULL, NULL) == 2) {
                size_t before = files.n;
                st = vfs_list(ds, cd, &files);
                /* keep only images, sorted within the class */
                size_t w = before;
                for (size_t q = before; q < files.n; q++) {
                    if (dataset_is_image_name(files.v[q]))
                        files.v[w++] = files.v[q];
                    else
                        free(files.v[q]);
                }
                files.n = w;
                qsort(files.v + before, files.n - before, sizeof *files.v, cmp_str);
                int *nl = realloc(labels, sizeof *nl * (files.n + 1));
                if (!nl) {
                    st = yolo_nomem();
                    free(cd);
                    break;
                }
                labels = nl;
                for (size_t q = before; q < files.n; q++)
                    labels[q] = c;
            }
            free(cd);
        }
        if (!st) st = note_unknown_classes(sp, dir);
        free(dir);
        if (st) goto fail;
    } else {
        if (!ds->split_given[k] || ds->split_n[k] == 0) {
            st = yolo_error(YOLO_ERR_NOTFOUND, "%s: no '%s' split in this dataset", ds->yaml_name, split);
            goto fail;
        }
        if ((st = list_split(ds, k, &files))) goto fail;
    }
    if (files.n == 0) {
        st = yolo_error(YOLO_ERR_NOTFOUND, "%s: '%s' has no images (looked for %s files)", ds->yaml_name,
                        split, "jpg/png/...");
        goto fail;
    }
    if (opts->fraction > 0 && opts->fraction < 1) {
        /* Python's round(): halves go to even, as nearbyint does in the default rounding mode */
        size_t keep = (size_t)nearbyint((double)files.n * opts->fraction);
        if (keep == 0) {
            st = yolo_error(YOLO_ERR_USAGE,
                            "%s: fraction=%g of %zu '%s' images keeps none (use a larger fraction)",
                            ds->yaml_name, opts->fraction, files.n, split);
            goto fail;
        }
        for (size_t q = keep; q < files.n; q++)
            free(files.v[q]);
        files.n = keep;
    }
    dircache dc[2] = {{-1, NULL, 0}, {-1, NULL, 0}};
    sp->items = calloc(files.n, sizeof *sp->items);
    if (!sp->items) {
        st = yolo_nomem();
        goto fail;
    }
    sp->n_items = (int64_t)files.n;
    for (size_t q = 0; q < files.n; q++) {
        item *it = &sp->items[q];
        sample_init(&it->lab);
        it->file = files.v[q];
        files.v[q] = NULL;
        if (ds->classify)
            it->lab.label = labels[q];
        else if (!(it->label_file = labels_path_for_image(it->file))) {
            st = yolo_nomem();
            goto fail;
        }
        it->size = it->mtime = it->lsize = it->lmtime = -1;
        if (ds->archive) {
            vfs_kind(ds, it->file, &it->size, &it->mtime);
            if (it->label_file) vfs_kind(ds, it->label_file, &it->lsize, &it->lmtime);
        } else {
            stat_near(&dc[0], it->file, &it->size, &it->mtime);
            if (it->label_file) stat_near(&dc[1], it->label_file, &it->lsize, &it->lmtime);
        }
    }
    for (int q = 0; q < 2; q++)
        dircache_close(&dc[q]);
    uint64_t hash = split_hash(sp);
    /* YOLO_LABEL_CACHE=off lets tests and read-only datasets skip the cache without a flag on every tool. */
    const char *env = getenv("YOLO_LABEL_CACHE");
    bool no_cache = opts->no_cache || (env && !strcmp(env, "off"));
    char *cpath = no_cache ? NULL : cache_path_for(sp);
    sp->rep.cache_path = cpath;
    bool loaded = false;
    if (cpath) {
        labelcache_entry *ents = NULL;
        char note[256] = "";
        if (labelcache_read(cpath, hash, sp->n_items, &ents, note, sizeof note) == YOLO_OK && ents) {
            for (int64_t i = 0; i < sp->n_items; i++) {
                item *it = &sp->items[i];
                labelcache_entry *e = &ents[i];
                it->h = e->h, it->w = e->w;
                it->corrupt = e->code == LABELCACHE_CORRUPT;
                it->missing = e->code == LABELCACHE_MISSING;
                it->verdict = e->code == LABELCACHE_OK        ? LABELS_OK
                              : e->code == LABELCACHE_CORRUPT ? LABELS_CORRUPT
                                                              : LABELS_EMPTY;
                it->msg = e->msg, e->msg = NULL;
                int label = it->lab.label;
                sample_move(&it->lab, &e->lab);
                it->lab.label = label;
            }
            loaded = true;
            sp->rep.from_cache = true;
        } else if (note[0])
            sp->rep.cache_note = strdup(note);
        labelcache_entries_free(ents, sp->n_items);
    }
    if (!loaded) {
        scan_all(sp, opts->workers);
        if (cpath) {
            labelcache_entry *ents = calloc((size_t)sp->n_items, sizeof *ents);
            if (!ents) {
                st = yolo_nomem();
                goto fail;
            }
            for (int64_t i = 0; i < sp->n_items; i++) {
                item *it = &sp->items[i];
                ents[i].h = it->h, ents[i].w = it->w;
                ents[i].code = it->corrupt                   ? LABELCACHE_CORRUPT
                               : it->missing                 ? LABELCACHE_MISSING
                               : it->verdict == LABELS_EMPTY ? LABELCACHE_EMPTY
                                                             : LABELCACHE_OK;
                ents[i].msg = it->msg;
                ents[i].lab = it->lab; /* borrowed */
            }
            if (labelcache_write(cpath, hash, ents, sp->n_items) != YOLO_OK) {
                free(sp->rep.cache_note);
                sp->rep.cache_note = fmt_alloc("cache not saved: %s", yolo_last_error());
            }
            free(ents);
        }
    }
    if ((st = finish_split(sp))) goto fail;
    for (int64_t i = 0; ds->single_cls && i < sp->n_items; i++)
        for (int q = 0; q < sp->items[i].lab.n; q++)
            sp->items[i].lab.cls[q] = 0;
    strlist_free(&files);
    free(labels);
    *out = sp;
    return YOLO_OK;
fail:
    strlist_free(&files);
    free(labels);
    dataset_split_free(sp);
    return st;
}

void dataset_split_free(dataset_split *sp) {
    if (!sp) return;
    for (int64_t i = 0; i < sp->n_items; i++)
        item_free(&sp->items[i]);
    free(sp->items);
    free(sp->good);
    for (int k = 0; k < sp->rep.n_msgs; k++)
        free(sp->rep.msgs[k]);
    free(sp->rep.msgs);
    free(sp->rep.per_class);
    free(sp->rep.cache_path);
    free(sp->rep.cache_note);
    free(sp);
}

const dataset_report *dataset_split_report(const dataset_split *sp) {
    return &sp->rep;
}
bool dataset_report_known(const dataset_report *r) {
    return r->from_cache;
}
void dataset_report_warn(const dataset_report *r, FILE *f, const char *who, const char *split) {
    for (int k = 0; k < r->n_msgs; k++)
        fprintf(f, "%s: warning: %s\n", who, r->msgs[k]);
    if (r->corrupt)
        fprintf(f, "%s: %s: %" PRId64 " images, %" PRId64 " corrupt skipped\n", who, split, r->listed,
                r->corrupt);
}
int64_t dataset_split_count(const dataset_split *sp) {
    return sp->n_good;
}
const char *dataset_split_file(const dataset_split *sp, int64_t i) {
    return sp->items[sp->good[i]].file;
}
void dataset_split_shape(const dataset_split *sp, int64_t i, int *h, int *w) {
    *h = sp->items[sp->good[i]].h;
    *w = sp->items[sp->good[i]].w;
}
const sample *dataset_split_labels(const dataset_split *sp, int64_t i) {
    return &sp->items[sp->good[i]].lab;
}
bool dataset_split_has_segments(const dataset_split *sp) {
    return sp->segments;
}

yolo_status dataset_split_read(const dataset_split *sp, int64_t i, uint8_t **buf, size_t *len) {
    if (i < 0 || i >= sp->n_good)
        return yolo_error(YOLO_ERR_USAGE, "image index %lld out of range", (long long)i);
    return vfs_read(sp->ds, sp->items[sp->good[i]].file, buf, len);
}

yolo_status dataset_split_image(const dataset_split *sp, int64_t i, image *out) {
    uint8_t *buf;
    size_t len;
    yolo_status st = dataset_split_read(sp, i, &buf, &len);
    if (st) return st;
    st = image_decode(buf, len, sp->items[sp->good[i]].file, out);
    free(buf);
    return st;
}
