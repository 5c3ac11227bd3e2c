/* The training arguments: one table of every key of Ultralytics 8.4.52's cfg/default.yaml and ours,
 * with its type, default, range or choices, whether a resume may change it, what becomes of it here
 * (it works, it is refused, or it only changes what is displayed) and where it lives in the training
 * state. Everything that knows about an argument asks this table: the yolo command (through
 * yolo-args), args.yaml, the checkpoint's train_args and their checks, yolo cfg and the man page. */
#ifndef YOLO_ARGS_H
#define YOLO_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "yolo/status.h"
#include "yolo/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The validator's confidence threshold when conf is None (Ultralytics' BaseValidator). */
#define VAL_CONF 0.001

typedef enum {
    ARG_STR,      /* any text */
    ARG_INT,      /* an integer in [lo, hi] */
    ARG_FLOAT,    /* a number in [lo, hi] */
    ARG_BOOL,     /* True or False (any case on the command line; 1 and 0 are numbers, as in Ultralytics) */
    ARG_CHOICE,   /* one of choices (case-insensitive) */
    ARG_INT_LIST, /* an integer in [lo, hi] or a list of them (freeze) */
    ARG_BOOL_STR, /* True, False or a text (pretrained=path.pt, cache=ram) */
} arg_type;

typedef enum {
    ARG_WORKS,   /* does what it does in Ultralytics 8.4.52 */
    ARG_REFUSED, /* any value other than the default is refused with one line saying why */
    ARG_DISPLAY, /* accepted and kept in args; changes nothing here (only what Ultralytics displays) */
} arg_fate;

/* Where a key's value lives once a run has started. */
typedef enum {
    ARG_AT_TRAIN_ARGS, /* the checkpoint's train_args (and args.yaml); read by the trainer */
    ARG_AT_STREAM,     /* train_args, and given to yolo-data for every epoch (augmentation, data) */
    ARG_AT_PROCESS,    /* train_args, and given to each epoch's process; a resume may change it */
    ARG_AT_COMMAND,    /* the yolo command only: the run folder, the mode, the val run */
} arg_place;

typedef struct {
    const char *key;
    arg_type type;
    const char *def; /* the default as default.yaml writes it; NULL: None */
    double lo, hi;   /* range of numbers */
    const char *choices;
    bool resume; /* may change on resume (8.4.52's check_resume list, and ours) */
    arg_fate fate;
    arg_place place;
    const char *note; /* refused: why; display-only and others: what it does here */
} arg_spec;

/* The table, in default.yaml's order with our keys last, and its length. */
const arg_spec *args_table(size_t *n);
const arg_spec *args_find(const char *key);
/* The key nearest to an unknown one (edit distance), for "did you mean". */
const char *args_nearest(const char *key);

/* Parses a command-line value for spec into a value of doc (None for none/null), checks type and range,
 * and applies Ultralytics' adjustments (imgsz rounded up to a multiple of 32, with *warning set).
 * Usage errors are one line: "'batch=-1' is not valid: ...". */
yolo_status args_parse_value(const arg_spec *s, const char *text, yv_doc *doc, yv **out, char *warning,
                             size_t warning_cap);
/* Checks a stored value (from args.yaml or train_args) against spec. */
yolo_status args_check_value(const arg_spec *s, const yv *v);
/* Whether v is the key's default (None for a NULL default). */
bool args_is_default(const arg_spec *s, const yv *v);
/* The default as a value of doc. */
yv *args_default(const arg_spec *s, yv_doc *doc);
/* The default of a numeric key (0 for None), for the modules whose settings start from it. */
double args_default_num(const char *key);
/* The same as float, read from the default's text (float32 settings: the nearest float to the text). */
float args_default_f32(const char *key);

/* Fills in every key missing from args with its default (keys of ours a file may lack included). */
yolo_status args_fill_defaults(yv_doc *doc, yv *args);
/* Writes args as args.yaml (every key, in table order, then any other keys; None as null), atomically. */
yolo_status args_write_yaml(const char *path, const yv *args);
/* The text of that args.yaml, malloc'ed; save_dir, when not NULL, is written as save_dir's value (the
 * trainer's train_args leave it out: the run folder is wherever the checkpoint is). */
yolo_status args_yaml_text(const yv *args, const char *save_dir, char **text, size_t *len);
/* Reads an args.yaml (from data, len bytes, when not NULL, else from the file at path; path names it in
 * messages) into a dict of doc: "args.yaml:3: not valid YAML (...)", or not a mapping. */
yolo_status args_read_yaml(yv_doc *doc, const char *path, const void *data, size_t len, yv **out);
/* A value as args.yaml writes it (null, True/False, numbers, plain or quoted text). */
void args_format_value(const yv *v, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
