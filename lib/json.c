#include "yolo/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void json_init(json_writer *w, FILE *f, bool pretty) {
    memset(w, 0, sizeof *w);
    w->f = f;
    w->pretty = pretty;
}

static void newline_indent(json_writer *w) {
    if (!w->pretty) return;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Everything that starts a value goes through here: it places the comma (or nothing after a key). */
static void before_value(json_writer *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth]) fputc(',', w->f);
        newline_indent(w);
    }
    w->need_comma[w->depth] = true;
}

static void open_container(json_writer *w, char c) {
    before_value(w);
    fputc(c, w->f);
    if (w->depth + 1 >= JSON_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_container(json_writer *w, char c) {
    if (w->depth == 0 || w->after_key) {
        w->failed = true;
        return;
    }
    bool had_items = w->need_comma[w->depth];
    w->depth--;
    if (had_items) newline_indent(w);
    fputc(c, w->f);
}

void json_begin_object(json_writer *w) {
    open_container(w, '{');
}
void json_end_object(json_writer *w) {
    close_container(w, '}');
}
void json_begin_array(json_writer *w) {
    open_container(w, '[');
}
void json_end_array(json_writer *w) {
    close_container(w, ']');
}

static void put_escaped(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void json_write_key(json_writer *w, const char *key) {
    before_value(w);
    put_escaped(w->f, key, strlen(key));
    fputs(w->pretty ? ": " : ":", w->f);
    w->after_key = true;
}

void json_write_strn(json_writer *w, const char *s, size_t len) {
    before_value(w);
    put_escaped(w->f, s, len);
}

void json_write_str(json_writer *w, const char *s) {
    if (!s) {
        json_write_null(w);
        return;
    }
    json_write_strn(w, s, strlen(s));
}

void json_write_int(json_writer *w, int64_t v) {
    before_value(w);
    fprintf(w->f, "%" PRId64, v);
}

void json_write_double(json_writer *w, double v) {
    if (!isfinite(v)) {
        json_write_null(w);
        return;
    }
    before_value(w);
    /* Shortest of the usual precisions that still reads back to the same double, so 0.1 stays 0.1. */
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* JSON has no "inf"/"nan" and needs a digit after a leading sign, both already guaranteed; make
     * integral doubles still look like floats so readers keep the type. */
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
    fputs(buf, w->f);
}

void json_write_bool(json_writer *w, bool v) {
    before_value(w);
    fputs(v ? "true" : "false", w->f);
}

void json_write_null(json_writer *w) {
    before_value(w);
    fputs("null", w->f);
}

static void write_key_value(json_writer *w, const yv *k) {
    char buf[256];
    const char *s = yv_as_str(k);
    if (s) {
        json_write_key(w, s);
        return;
    }
    int64_t i;
    if (k && (k->kind == YV_INT || k->kind == YV_BOOL) && yv_as_int(k, &i))
        snprintf(buf, sizeof buf, "%" PRId64, i);
    else
        yv_repr(k, buf, sizeof buf);
    json_write_key(w, buf);
}

/* Shared sub-values can make a small pickle describe a huge tree; past this many nodes the rest of a
 * value is written as null. */
#define JSON_MAX_NODES 1000000

static void write_value(json_writer *w, const yv *v, int max_depth, size_t *budget) {
    if (!v || max_depth < 0 || *budget == 0) {
        json_write_null(w);
        return;
    }
    --*budget;
    switch (v->kind) {
    case YV_NONE:
        json_write_null(w);
        return;
    case YV_BOOL:
        json_write_bool(w, v->b);
        return;
    case YV_INT:
        json_write_int(w, v->i);
        return;
    case YV_FLOAT:
        json_write_double(w, v->f);
        return;
    case YV_STR:
        json_write_strn(w, v->str.s, v->str.len);
        return;
    case YV_GLOBAL:
        json_write_str(w, v->str.s);
        return;
    case YV_BIGINT:
    case YV_BYTES: {
        char buf[128];
        yv_repr(v, buf, sizeof buf);
        json_write_str(w, buf);
        return;
    }
    case YV_LIST:
    case YV_TUPLE:
    case YV_SET:
        json_begin_array(w);
        for (size_t i = 0; i < v->seq.n; i++)
            write_value(w, v->seq.items[i], max_depth - 1, budget);
        json_end_array(w);
        return;
    case YV_DICT:
        json_begin_object(w);
        for (size_t i = 0; i < v->dict.n; i++) {
            write_key_value(w, v->dict.keys[i]);
            write_value(w, v->dict.vals[i], max_depth - 1, budget);
        }
        json_end_object(w);
        return;
    case YV_TENSOR:
        json_begin_object(w);
        json_write_key(w, "dtype");
        json_write_str(w, yv_dtype_name(v->tensor.dtype));
        json_write_key(w, "shape");
        json_begin_array(w);
        for (int d = 0; d < v->tensor.ndim; d++)
            json_write_int(w, v->tensor.shape[d]);
        json_end_array(w);
        json_end_object(w);
        return;
    case YV_OBJECT: {
        double d;
        if (yv_as_double(v, &d))
            json_write_double(w, d);
        else
            json_write_str(w, v->obj.cls);
        return;
    }
    }
    json_write_null(w);
}

void json_write_value(json_writer *w, const yv *v, int max_depth) {
    size_t budget = JSON_MAX_NODES;
    write_value(w, v, max_depth, &budget);
}

yolo_status json_finish(json_writer *w) {
    fputc('\n', w->f);
    if (fflush(w->f) != 0 || ferror(w->f)) return yolo_error(YOLO_ERR_IO, "cannot write output");
    if (w->failed || w->depth != 0 || w->after_key)
        return yolo_error(YOLO_ERR_USAGE, "internal error: unbalanced JSON output");
    return YOLO_OK;
}
