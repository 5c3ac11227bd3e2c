/* A tiny streaming JSON writer for the tools' --json output.
 *
 * The writer tracks nesting so callers never place commas or colons themselves. Strings are escaped
 * per RFC 8259; numbers that JSON cannot hold (NaN, infinities) are written as null. Errors of the
 * underlying stream are remembered and reported once by json_finish. */
#ifndef YOLO_JSON_H
#define YOLO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JSON_MAX_DEPTH 64

typedef struct {
    FILE *f;
    int depth;
    bool pretty; /* newlines and two-space indentation */
    bool need_comma[JSON_MAX_DEPTH];
    bool after_key; /* the next value completes a "key": pair */
    bool failed;    /* nesting misuse or too deep */
} json_writer;

void json_init(json_writer *w, FILE *f, bool pretty);

void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);

/* Inside an object: the key of the next value. */
void json_write_key(json_writer *w, const char *key);

void json_write_str(json_writer *w, const char *s); /* NULL writes null */
void json_write_strn(json_writer *w, const char *s, size_t len);
void json_write_int(json_writer *w, int64_t v);
void json_write_double(json_writer *w, double v); /* shortest form that reads back exactly */
void json_write_bool(json_writer *w, bool v);
void json_write_null(json_writer *w);

/* A plain value (dict, list, tuple, set, scalars). Tensors become {"dtype": ..., "shape": [...]};
 * dict keys that are not strings are written in their Python repr; inert records become their class
 * name, or their number for numpy scalars. Depth beyond max_depth, and anything past a million nodes
 * (shared sub-values can make a small file describe a huge tree), is written as null. */
void json_write_value(json_writer *w, const yv *v, int max_depth);

/* Ends the document (a newline) and flushes. YOLO_ERR_IO if the stream failed, YOLO_ERR_USAGE if the
 * nesting was unbalanced. */
yolo_status json_finish(json_writer *w);

#ifdef __cplusplus
}
#endif
#endif
