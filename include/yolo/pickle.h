/* A pickle reader that never executes anything, and the writer torch.save-compatible files need.
 *
 * Reading interprets the opcodes of protocols 0-5 into plain values (value.h). Class and function
 * references become YV_GLOBAL values; calling one (REDUCE, NEWOBJ) builds a plain value only for the
 * few globals torch.save emits (tensor rebuilds, OrderedDict, set, torch.Size, _codecs.encode, ...);
 * anything else becomes an inert YV_OBJECT record. Work and memory are linear in the input and bounded:
 * a hostile pickle fails with YOLO_ERR_FORMAT or YOLO_ERR_LIMIT. */
#ifndef YOLO_PICKLE_H
#define YOLO_PICKLE_H

#include <stddef.h>

#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t max_bytes; /* cap on the doc's memory for values (0: 1 GiB) */
    /* Storages are created with their data (zero-filled) instead of described only. */
    bool storage_data;
} pickle_opts;

/* Unpickles data into doc. Tensor storages (BINPERSID ('storage', <Type>Storage, key, device, numel))
 * become yv_storage records in the doc, one per key, shared by every tensor that names the key; a
 * storage on its own is returned as a 1-D tensor over it. Errors: "unknown pickle opcode 0x.. at offset N".
 */
yolo_status pickle_load(yv_doc *doc, const void *data, size_t len, const pickle_opts *opts, yv **out);

/* Pickles v with protocol 2, as torch.save would: tensors as _rebuild_tensor_v2 over BINPERSID storage
 * tuples (nn.Parameter wrapped in _rebuild_parameter), OrderedDict and set by REDUCE, bytes through
 * _codecs.encode, object records by NEWOBJ/REDUCE + BUILD. Values referenced twice are written once
 * (memo), so shared and self-containing lists/dicts survive; nesting deeper than 200 is refused.
 * Storages are named by key_of(storage, ctx), which returns a stable key string ("0", "1", ...) per
 * storage (NULL key_of: the storage's own key). The result is malloc'd: *out, *out_len. */
typedef const char *(*pickle_storage_key_fn)(yv_storage *st, void *ctx);
yolo_status pickle_dump(const yv *v, pickle_storage_key_fn key_of, void *ctx, unsigned char **out,
                        size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
