/* Plain values: what a checkpoint's pickle decodes to, and what we build to write one.
 *
 * Every value belongs to a yv_doc (an arena). Values are freed all at once with yv_doc_free, which
 * makes shared references (pickle memo) and even cycles safe. Tensor storages are reference-counted
 * inside the doc, so several tensors can view one storage, as torch.save writes them.
 *
 * Pickled Python objects whose class we do not know (Ultralytics modules, numpy scalars, ...) become
 * inert YV_OBJECT records: class name, constructor arguments and BUILD state. Nothing is executed. */
#ifndef YOLO_VALUE_H
#define YOLO_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    YV_NONE,
    YV_BOOL,
    YV_INT,    /* fits int64 */
    YV_BIGINT, /* larger ints: little-endian two's complement bytes in .str */
    YV_FLOAT,  /* double */
    YV_STR,    /* UTF-8, in .str (NUL-terminated, len excludes the NUL) */
    YV_BYTES,  /* in .str */
    YV_LIST,   /* .seq */
    YV_TUPLE,  /* .seq */
    YV_SET,    /* .seq (also frozenset) */
    YV_DICT,   /* .dict; .dict.ordered for collections.OrderedDict */
    YV_TENSOR, /* .tensor */
    YV_OBJECT, /* .obj: an inert record of a Python object we did not construct */
    YV_GLOBAL, /* .str = "module.name": a class or function reference */
} yv_kind;

typedef enum {
    YDT_F32,
    YDT_F16,
    YDT_BF16,
    YDT_F64,
    YDT_I64,
    YDT_I32,
    YDT_I16,
    YDT_I8,
    YDT_U8,
    YDT_BOOL,
    YDT_COUNT_
} yv_dtype;

/* Size in bytes of one element; name as torch prints it ("float32"); torch storage class ("FloatStorage"). */
size_t yv_dtype_size(yv_dtype dt);
const char *yv_dtype_name(yv_dtype dt);
const char *yv_dtype_storage_class(yv_dtype dt);
/* Parses "FloatStorage" (with or without "torch."), returns false if unknown. */
bool yv_dtype_from_storage_class(const char *name, yv_dtype *out);

#define YV_MAX_DIMS 8

typedef struct yv_storage {
    int refs;
    char *key; /* entry name under <root>/data/ in the file ("0", "1", ...) */
    yv_dtype dtype;
    int64_t numel; /* elements as declared in the pickle */
    void *data;    /* numel * dtype size bytes, or NULL when the file was read without tensor data */
    char *device;  /* "cpu", as in the pickle */
} yv_storage;

typedef struct {
    yv_dtype dtype;
    int ndim;
    int64_t shape[YV_MAX_DIMS];
    int64_t stride[YV_MAX_DIMS]; /* in elements */
    int64_t offset;              /* storage offset in elements */
    yv_storage *storage;
    bool requires_grad;
    bool is_parameter; /* came from / is written as torch.nn.Parameter */
} yv_tensor;

typedef struct yv yv;
typedef struct yv_doc yv_doc;

struct yv {
    yv_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *s;
            size_t len;
        } str;
        struct {
            yv **items;
            size_t n, cap;
        } seq;
        struct {
            yv **keys;
            yv **vals;
            size_t n, cap;
            bool ordered;
            /* Hash index over keys (slot -> position+1, 0 = empty), built once a dict grows past a few
             * entries so that loading a hostile pickle with a huge dict stays linear. Internal. */
            uint32_t *index;
            size_t index_cap;
        } dict;
        yv_tensor tensor;
        struct {
            char *cls;   /* "module.ClassName" */
            yv *args;    /* constructor args (tuple) or NULL */
            yv *state;   /* BUILD state (usually a dict) or NULL */
            yv *items;   /* list of APPENDed/SETITEMed things for list/dict subclasses, or NULL */
            bool newobj; /* made by NEWOBJ (cls.__new__(cls, *args)), not by calling cls(*args) */
        } obj;
    };
};

/* ---- documents ---- */
yv_doc *yv_doc_new(void);
void yv_doc_free(yv_doc *doc);
/* Bytes allocated by this doc so far (values and tensor data); used to bound hostile inputs. */
size_t yv_doc_bytes(const yv_doc *doc);
/* Allocation from the doc's arena (freed with the doc). Returns NULL on failure. */
void *yv_doc_alloc(yv_doc *doc, size_t n);
char *yv_doc_strdup(yv_doc *doc, const char *s, size_t len);
/* Caps yv_doc_bytes(): allocations beyond it fail (0: no cap). */
void yv_doc_set_limit(yv_doc *doc, size_t max_bytes);
/* True when the last failed allocation was refused by the cap (not by malloc). */
bool yv_doc_over_limit(const yv_doc *doc);
/* Every storage created in this doc, in creation order (a reader fills their data from these). */
size_t yv_doc_storage_count(const yv_doc *doc);
yv_storage *yv_doc_storage(const yv_doc *doc, size_t i);
/* Gives st the buffer data (malloc'd, at least numel * dtype size bytes); the doc frees it. */
void yv_storage_adopt(yv_doc *doc, yv_storage *st, void *data);

/* ---- constructors (NULL on out-of-memory) ---- */
yv *yv_new_none(yv_doc *doc);
yv *yv_new_bool(yv_doc *doc, bool b);
yv *yv_new_int(yv_doc *doc, int64_t i);
yv *yv_new_float(yv_doc *doc, double f);
yv *yv_new_str(yv_doc *doc, const char *s);
yv *yv_new_strn(yv_doc *doc, const char *s, size_t len);
yv *yv_new_bytes(yv_doc *doc, const void *p, size_t len);
yv *yv_new_list(yv_doc *doc);
yv *yv_new_tuple(yv_doc *doc);
yv *yv_new_dict(yv_doc *doc);
yv *yv_new_set(yv_doc *doc);
yv *yv_new_bigint(yv_doc *doc, const void *le_bytes, size_t len); /* normalised to YV_INT if it fits */
yv *yv_new_global(yv_doc *doc, const char *dotted);
yv *yv_new_object(yv_doc *doc, const char *cls, yv *args);
/* A new contiguous tensor with its own zero-filled storage (key assigned at write time). */
yv *yv_new_tensor(yv_doc *doc, yv_dtype dt, int ndim, const int64_t *shape);
/* A tensor viewing an existing storage (storage refcount is incremented). */
yv *yv_new_tensor_view(yv_doc *doc, yv_storage *st, yv_dtype dt, int ndim, const int64_t *shape,
                       const int64_t *stride, int64_t offset);
yv_storage *yv_new_storage(yv_doc *doc, yv_dtype dt, int64_t numel, bool with_data);

/* ---- containers ---- */
yolo_status yv_seq_push(yv_doc *doc, yv *seq, yv *item);                  /* list, tuple, set */
yolo_status yv_dict_put(yv_doc *doc, yv *dict, yv *key, yv *val);         /* replaces an equal key */
yolo_status yv_dict_set(yv_doc *doc, yv *dict, const char *key, yv *val); /* string key */
/* String key; NULL if absent. An object record whose BUILD state is a dict (IterableSimpleNamespace,
 * nn.Module records) is looked into like a dict. Hashed once a dict has more than 8 entries. */
yv *yv_dict_get(const yv *dict, const char *key);
/* Follows a dotted path of string keys: yv_path(root, "train_args.epochs"). NULL if absent. */
yv *yv_path(const yv *root, const char *dotted);
bool yv_dict_del(yv *dict, const char *key);
/* yv_dict_set of a value just made: NULL (its allocation failed) is YOLO_ERR_NOMEM. */
yolo_status yv_dict_set_new(yv_doc *doc, yv *dict, const char *key, yv *val);
/* A deep copy of a plain value (no tensors: they become None) into doc; NULL when out of memory. */
yv *yv_copy_plain(yv_doc *doc, const yv *v);

/* ---- scalar access (false if the value is not of a compatible kind) ---- */
bool yv_as_int(const yv *v, int64_t *out); /* int, bool; float or numpy scalar record if integral */
bool yv_as_double(const yv *v,
                  double *out);     /* float, int, big int, bool, numpy scalar record, 1-element tensor */
const char *yv_as_str(const yv *v); /* str; NULL otherwise */
bool yv_is_truthy(const yv *v);
/* dict[key] as a number (ints truncate floats), a default, or a string; absent or None is false/def/NULL. */
bool yv_get_int(const yv *dict, const char *key, int64_t *out);
double yv_get_num(const yv *dict, const char *key, double def);
const char *yv_get_str(const yv *dict, const char *key);

/* ---- tensors ---- */
int64_t yv_tensor_numel(const yv_tensor *t);
bool yv_tensor_is_contiguous(const yv_tensor *t);
/* Pointer to element 0 (storage data + offset), NULL if data was not loaded. */
void *yv_tensor_data(const yv_tensor *t);
/* Copies the tensor's elements (any layout, any dtype) into out as float32 / float64, row-major. */
yolo_status yv_tensor_to_f32(const yv_tensor *t, float *out);
yolo_status yv_tensor_to_f64(const yv_tensor *t, double *out);

/* ---- state dicts ---- */
/* Flattens a state dict: a dict of name -> tensor is returned as is; a pickled nn.Module record
 * (YV_OBJECT with _modules/_parameters/_buffers in its state) is walked into a new ordered dict
 * "model.0.conv.weight" -> tensor, in the module's registration order. NULL if v is neither. */
yv *yv_state_dict(yv_doc *doc, const yv *v);
/* Number of parameter elements in a state dict (sum of numel over tensors). */
int64_t yv_state_dict_numel(const yv *sd);

/* Debug/inspect: writes a short Python-like rendering of v (depth- and length-limited) to buf. */
void yv_repr(const yv *v, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
