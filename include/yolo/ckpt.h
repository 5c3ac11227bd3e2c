/* Checkpoint files in torch.save's format: a stored (uncompressed) zip holding <root>/data.pkl
 * (pickle protocol 2), <root>/data/<key> (raw little-endian storages) and <root>/version.
 *
 * Reading never executes anything (see pickle.h). Every zip entry's CRC-32 is checked when its bytes
 * are read (with skip_tensor_data only data.pkl is read; ckpt_verify checks them all).
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
    /* Every byte through libarchive, CRCs by zlib (for tests). By default libarchive reads the zip's
     * structure and data.pkl, and the storages are copied from the mapped file with a CRC-32 at
     * memory speed; anything unusual (compressed entries, zip64, pipes) goes to libarchive anyway. */
    bool libarchive_only;
} ckpt_read_opts;

/* Reads a checkpoint into a new doc; *root is the unpickled top-level value. Regular files are
 * mapped (the zip's central directory is used, storages are skipped for free); pipes are streamed.
 * Errors name the file: "last.pt: not a checkpoint (no data.pkl)", "last.pt: not a zip archive ...",
 * "last.pt: truncated ...", "last.pt: damaged: CRC mismatch in entry last/data/3 (...)" (YOLO_ERR_CRC),
 * "last.pt: damaged: missing storage entry ...", "last.pt: last/data.pkl: unknown pickle opcode ...",
 * "last.pt: is a directory ..." (YOLO_ERR_USAGE), "last.pt: no such file" (YOLO_ERR_NOTFOUND). */
yolo_status ckpt_read(const char *path, const ckpt_read_opts *opts, yv_doc **doc, yv **root);

/* The same from a checkpoint already in memory; label names it in messages. */
yolo_status ckpt_read_memory(const char *label, const void *data, size_t len, const ckpt_read_opts *opts,
                             yv_doc **doc, yv **root);

/* Checks zip structure, every entry's CRC, that data.pkl parses, and that every storage the pickle
 * refers to is present with enough bytes. */
yolo_status ckpt_verify(const char *path);

/* Writes root (plain containers, scalars, tensors, object records) atomically to path. The archive's
 * root folder name is derived from the file name, as torch.save does ("last.pt" -> "last/"). Storages
 * are numbered "0", "1", ... in the order the pickle meets them; a value referenced twice is written
 * once (pickle memo). The bytes depend only on the values and the file name (fixed timestamps), so
 * equal contents give identical files. Tensors must have their data loaded. */
yolo_status ckpt_write(const char *path, const yv *root);

/* ckpt_write of one root to several files (best.pt, epochN.pt, last.pt), written once. The bytes go
 * from the tensors' memory straight to a temporary for the last path (no copy of the archive in
 * memory), which is synced; the other paths get hard links to it (a full copy where no link can be
 * made: another file system, a pipe). Only then is each renamed into place, in the order given, so a
 * crash leaves every file either old or new, and a later one new only when the earlier ones are. On
 * failure, files not yet in place keep their old contents. The files share one inode until one is
 * replaced (every writer here replaces, never rewrites in place), and the archive folder inside is
 * the last path's name (torch.load does not care). */
yolo_status ckpt_write_many(const char *const *paths, size_t n, const yv *root);

/* Writes bytes to path atomically (temp file ".NAME.XXXXXX" in the same folder, fsync, rename, fsync
 * folder). The file keeps the old file's mode, else 0666 & ~umask. On any failure the previous file at
 * path is untouched, the temp file is removed, and the error names path, the errno text and a hint:
 * "last.pt: cannot write: No space left on device (free some disk space)". */
yolo_status ckpt_write_file_atomic(const char *path, const void *data, size_t len);

/* Creates a folder and the folders above it that are missing (mkdir -p); an existing one is fine. */
yolo_status ckpt_mkdirs(const char *path);

/* Removes the temporaries that writers killed mid-write left in the folder of the file beside (where
 * its own would go): ".NAME.XXXXXX" where NAME ends in ".pt" or is results.csv or args.yaml (a killed save
 * leaves up to a whole checkpoint behind). Only for a caller that holds the run's lock, so that no writer of
 * this run is at work. Returns how many went. */
int ckpt_remove_stale_temporaries(const char *beside);

#ifdef __cplusplus
}
#endif
#endif
