/* Checkpoint files in torch.save's format: a stored (uncompressed) zip holding <root>/data.pkl
 * (pickle protocol 2), <root>/data/<key> (raw little-endian storages) and <root>/version.
 *
 * Reading never executes anything (see pickle.h). Every zip entry's CRC-32 is checked.
 * Writing is atomic: a temporary file in the same folder, fsync, rename, fsync of the folder. */
#ifndef YOLO_CKPT_H
#define YOLO_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    bool skip_tensor_data; /* true: storages are described but not read (inspect); data stays NULL */
    size_t max_bytes;      /* bound on memory for the pickle's values (0: a default of 1 GiB) */
} ckpt_read_opts;

/* Reads a checkpoint into a new doc; *root is the unpickled top-level value.
 * Errors name the file: "last.pt: not a checkpoint (no data.pkl)". */
yolo_status ckpt_read(const char *path, const ckpt_read_opts *opts, yv_doc **doc, yv **root);

/* Checks zip structure, every entry's CRC, that data.pkl parses, and that every storage the pickle
 * refers to is present with enough bytes. */
yolo_status ckpt_verify(const char *path);

/* Writes root (plain containers, scalars, tensors) atomically to path. The archive's root folder
 * name is derived from the file name, as torch.save does ("last.pt" -> "last/"). */
yolo_status ckpt_write(const char *path, const yv *root);

/* Writes bytes to path atomically (temp file in the same folder, fsync, rename, fsync folder).
 * On any failure the previous file at path is untouched and the temp file is removed. */
yolo_status ckpt_write_file_atomic(const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
