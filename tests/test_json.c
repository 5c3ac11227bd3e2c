/* The JSON writer: exact output for nesting, escaping, numbers and values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "yolo/json.h"

static char *render(void (*fn)(json_writer *), bool pretty, yolo_status *st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_writer w;
    json_init(&w, f, pretty);
    fn(&w);
    *st = json_finish(&w);
    fclose(f);
    return buf;
}

/* render() takes no arguments for the document: the value a one-number document writes. */
static double one_double;
static void doc_one_double(json_writer *w) {
    json_write_double(w, one_double);
}

static void doc_nested(json_writer *w) {
    json_begin_object(w);
    json_write_key(w, "a");
    json_write_int(w, -42);
    json_write_key(w, "list");
    json_begin_array(w);
    json_write_double(w, 0.1);
    json_write_double(w, 3.0);
    json_write_double(w, 1e300);
    json_write_double(w, NAN);
    json_write_bool(w, true);
    json_write_null(w);
    json_begin_object(w);
    json_end_object(w);
    json_begin_array(w);
    json_end_array(w);
    json_end_array(w);
    json_write_key(w, "s\"k");
    json_write_str(w, "tab\there \"q\" back\\slash nl\n ctl\x01 utf8 \xc3\xa9");
    json_write_key(w, "none");
    json_write_str(w, NULL);
    json_end_object(w);
}

static void doc_pretty(json_writer *w) {
    json_begin_object(w);
    json_write_key(w, "x");
    json_begin_array(w);
    json_write_int(w, 1);
    json_write_int(w, 2);
    json_end_array(w);
    json_write_key(w, "y");
    json_write_str(w, "z");
    json_end_object(w);
}

static void doc_unbalanced(json_writer *w) {
    json_begin_object(w);
    json_write_key(w, "x");
}

static void doc_value(json_writer *w) {
    yv_doc *doc = yv_doc_new();
    yv *d = yv_new_dict(doc), *names = yv_new_dict(doc), *l = yv_new_tuple(doc);
    yv_dict_put(doc, names, yv_new_int(doc, 0), yv_new_str(doc, "cat"));
    yv_dict_put(doc, names, yv_new_int(doc, 7), yv_new_str(doc, "dog"));
    yv_dict_set(doc, d, "names", names);
    yv_seq_push(doc, l, yv_new_float(doc, 0.5));
    yv_seq_push(doc, l, yv_new_bool(doc, false));
    yv_seq_push(doc, l, yv_new_none(doc));
    yv_dict_set(doc, d, "t", l);
    int64_t shape[2] = {2, 3};
    yv_dict_set(doc, d, "w", yv_new_tensor(doc, YDT_F16, 2, shape));
    json_write_value(w, d, 8);
    yv_doc_free(doc);
}

int main(void) {
    yolo_status st;
    char *s = render(doc_nested, false, &st);
    CHECK(st == YOLO_OK, "compact document finishes");
    const char *want =
        "{\"a\":-42,\"list\":[0.1,3.0,1e+300,null,true,null,{},[]],\"s\\\"k\":"
        "\"tab\\there \\\"q\\\" back\\\\slash nl\\n ctl\\u0001 utf8 \xc3\xa9\",\"none\":null}\n";
    CHECK(strcmp(s, want) == 0, "compact output exact");
    free(s);

    s = render(doc_pretty, true, &st);
    CHECK(st == YOLO_OK && strcmp(s, "{\n  \"x\": [\n    1,\n    2\n  ],\n  \"y\": \"z\"\n}\n") == 0,
          "pretty output exact");
    free(s);

    s = render(doc_unbalanced, false, &st);
    CHECK(st == YOLO_ERR_USAGE, "unbalanced nesting is reported");
    free(s);

    s = render(doc_value, false, &st);
    CHECK(st == YOLO_OK && strcmp(s, "{\"names\":{\"0\":\"cat\",\"7\":\"dog\"},\"t\":[0.5,false,null],"
                                     "\"w\":{\"dtype\":\"float16\",\"shape\":[2,3]}}\n") == 0,
          "values: int keys as strings, tuples as arrays, tensors as dtype+shape");
    free(s);

    /* Shortest round-trip doubles. */
    double vals[] = {0.1, 1.0 / 3.0, 3.760995e-05, -2.5e-320, 123456789012345678.0};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        one_double = vals[i];
        char *buf = render(doc_one_double, false, &st);
        buf[strcspn(buf, "\n")] = 0;
        CHECK(strtod(buf, NULL) == vals[i], "double %.17g reads back exactly from %s", vals[i], buf);
        free(buf);
    }
    TAP_DONE();
}
