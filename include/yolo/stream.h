/* The sample stream: what yolo-data writes and yolo-train-epoch / yolo-eval read (man 5 yolo-stream).
 *
 * A stream is a sequence of msgpack maps: one header, one map per sample, one trailer. Each sample ends
 * with the CRC-32 of its own bytes, checked before the sample is handed out, so nothing trains on (or
 * checkpoints) a damaged sample; the trailer holds the number of samples and the CRC-32 of the bytes
 * of all sample maps, so a reader can tell a complete stream from a truncated one. The reader below
 * checks the trailer before it hands out the last sample, so a consumer that reads whole batches never
 * trains on half a batch of a broken stream.
 *
 * A sample's encoding depends only on the sample, never on the shard or on neighbours: shards merged in
 * index order give exactly the bytes of the unsharded stream (stream_merge). */
#ifndef YOLO_STREAM_H
#define YOLO_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/sample.h"
#include "yolo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STREAM_VERSION 2
/* The last key of each sample map: the CRC-32 of the map's bytes before it (version 2). */
#define SAMPLE_CRC_KEY "crc32"
#define STREAM_MAX_NAMES 100000

typedef struct {
    int version;    /* STREAM_VERSION */
    char task[16];  /* "detect", "segment" or "classify" */
    char split[16]; /* "train", "val", "test" */
    int imgsz;
    int nc;
    char **names; /* nc class names (owned by the header) */
    uint64_t seed;
    int epoch;     /* 0-based */
    int epochs;    /* total epochs of the run (close_mosaic uses it); 0 if unknown */
    int64_t total; /* samples in the whole epoch of this split (the dataset's image count) */
    int64_t count; /* samples in this stream (after --shard and --from) */
    int64_t from;  /* first index of the epoch covered (--from) */
    int shard_k,
        shard_n;         /* this stream holds the indices of shard k of n (0/1: all): see stream_shard_next */
    int64_t shard_block; /* ... dealt out in blocks of this many consecutive samples (1: one by one) */
    bool augment;        /* train transform (true) or validation transform (false) */
    bool mosaic;         /* mosaic was active in this epoch */
    bool rect;           /* validation rect batches */
    int batch;           /* rect batch size (0 when not rect) */
    int stride;          /* 32 */
    int mask_ratio;      /* segment: masks are (h / mask_ratio) x (w / mask_ratio) */
    bool overlap;        /* segment: masks in overlap mode (one map, value k+1 = instance k) */
} stream_header;

typedef struct {
    int64_t i;      /* position in the epoch (0..total-1); the stream is in increasing i */
    sample s;       /* s.img: h x w x 3 RGB; s.index: dataset index of the main image;
                       ori/res/ratio/pad; boxes normalised xywh; polygons (segment); label (classify) */
    char *file;     /* image file, as the dataset names it (owned) */
    uint16_t *mask; /* segment: mask_h x mask_w overlap map (instances are in mask order), or NULL */
    int mask_h, mask_w;
} stream_sample;

void stream_header_init(stream_header *h);

/* Shards: shard k of n holds the samples i with (i / block) % n == k, blocks of `block` consecutive
 * samples dealt out in turn (block 1: i % n == k). Data-parallel ranks read shards whose blocks are their
 * micro-batches. The first index >= i that the shard holds: */
int64_t stream_shard_next(int k, int n, int64_t block, int64_t i);
/* The j-th index (j = 0, 1, ...) of the shard at or after from. */
int64_t stream_shard_index(int k, int n, int64_t block, int64_t from, int64_t j);
/* How many of the indices from .. total-1 the shard holds. */
int64_t stream_shard_count(int k, int n, int64_t block, int64_t from, int64_t total);
/* Frees names and re-initialises. */
void stream_header_free(stream_header *h);
/* Deep copy of names; dst is initialised first. */
yolo_status stream_header_copy(stream_header *dst, const stream_header *src);

void stream_sample_init(stream_sample *s);
void stream_sample_free(stream_sample *s);

/* ---- writing ---- */

typedef struct stream_writer stream_writer;

/* Writes the header map to f (not closed by the writer). name is for messages ("stdout"). */
yolo_status stream_writer_open(FILE *f, const char *name, const stream_header *h, stream_writer **out);
/* Packs a sample's polygons (s->seg_start set) as msgpack: one array per instance of x, y, x, y, ...
 * normalised floats. The stream's "seg" and the label cache share this encoding. */
struct msgpack_packer;
void stream_pack_polygons(struct msgpack_packer *pk, const sample *s);
/* Encodes one sample map into a new malloc'ed buffer. Pure: workers encode in parallel. */
yolo_status stream_encode_sample(const stream_sample *s, uint8_t **buf, size_t *len);
/* Appends an encoded sample (from stream_encode_sample or a shard being merged). */
yolo_status stream_writer_put_raw(stream_writer *w, const uint8_t *buf, size_t len);
yolo_status stream_writer_put(stream_writer *w, const stream_sample *s);
/* Writes the trailer and flushes. Fails if the number of samples differs from the header's count. */
yolo_status stream_writer_finish(stream_writer *w);
void stream_writer_free(stream_writer *w);

/* ---- reading ---- */

typedef struct stream_reader stream_reader;

/* Reads and checks the header. name is for messages. f is not closed by the reader. */
yolo_status stream_reader_open(FILE *f, const char *name, stream_reader **out);
const stream_header *stream_reader_header(const stream_reader *r);
/* Reads the next sample into s (freed and re-filled). *got = 1 for a sample, 0 at the end. Each sample
 * is returned only after its own CRC is checked, the last one only after the trailer has been read and
 * its count and CRC checked; a truncated, reordered or damaged stream is an error (YOLO_ERR_FORMAT or
 * YOLO_ERR_CRC) naming the stream. The
 * sample's encoded bytes stay available through stream_reader_raw (used by merge). */
yolo_status stream_reader_next(stream_reader *r, stream_sample *s, int *got);
/* The encoded bytes of the sample last returned by stream_reader_next (valid until the next call). */
void stream_reader_raw(const stream_reader *r, const uint8_t **buf, size_t *len);
/* Up to max samples into v[0..max-1] (each initialised by the caller); *got is how many. All or error:
 * a batch is returned only when every sample in it (and, for the final batch, the trailer) is good. */
yolo_status stream_reader_batch(stream_reader *r, stream_sample *v, int max, int *got);
void stream_reader_free(stream_reader *r);

/* Merges shard streams (any order of files) into one stream in index order on out. The shards must come
 * from the same arguments apart from --shard (same task, split, seed, epoch, imgsz, from, total) and
 * together cover every index once. The result is byte-identical to the unsharded stream. */
yolo_status stream_merge(FILE **in, const char *const *names, int n, FILE *out, const char *out_name);

#ifdef __cplusplus
}
#endif
#endif
