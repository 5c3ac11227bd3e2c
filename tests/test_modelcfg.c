/* Model YAML: Ultralytics' summary lines, channel tables, scale resolution and bad input. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "tap.h"
#include "yolo/modelcfg.h"

static void summary_is(const char *name, int nc, const char *want) {
    modelcfg *cfg = NULL;
    char line[256] = "";
    yolo_status st = modelcfg_load(name, nc, &cfg);
    if (st == YOLO_OK) st = modelcfg_summary_line(cfg, line, sizeof line);
    CHECK(st == YOLO_OK && !strcmp(line, want), "%s summary: got '%s'%s%s", name, line, st ? " error: " : "",
          st ? yolo_last_error() : "");
    modelcfg_free(cfg);
}

int main(void) {
    /* Ultralytics 8.4.52's lines (nc = 80 unless given). Parameters and GFLOPs are the printed 8.3
     * figures (spec 1.9); the layer count is one more than 8.3 printed for models with an SPPF,
     * because 8.4.52's SPPF cv1 carries an Identity instead of the shared SiLU (the golden
     * det_forward layer 9 output and the reference checkpoint's pickled modules show it). */
    summary_is("yolov8n.yaml", 0,
               "YOLOv8n summary: 130 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs");
    summary_is("yolov8s.yaml", 0,
               "YOLOv8s summary: 130 layers, 11,166,560 parameters, 11,166,544 gradients, 28.8 GFLOPs");
    summary_is("yolov8m.yaml", 0,
               "YOLOv8m summary: 170 layers, 25,902,640 parameters, 25,902,624 gradients, 79.3 GFLOPs");
    summary_is("yolov8l.yaml", 0,
               "YOLOv8l summary: 210 layers, 43,691,520 parameters, 43,691,504 gradients, 165.7 GFLOPs");
    summary_is("yolov8x.yaml", 0,
               "YOLOv8x summary: 210 layers, 68,229,648 parameters, 68,229,632 gradients, 258.5 GFLOPs");
    summary_is("yolov8n-seg.yaml", 0,
               "YOLOv8n-seg summary: 152 layers, 3,409,968 parameters, 3,409,952 gradients, 12.8 GFLOPs");
    summary_is("yolov8n-cls.yaml", 0,
               "YOLOv8n-cls summary: 56 layers, 2,719,288 parameters, 2,719,288 gradients, 4.4 GFLOPs");

    /* Channel widths per scale (spec 1.2) and C2f repeats. */
    static const char *names[] = {"yolov8n.yaml", "yolov8s.yaml", "yolov8m.yaml", "yolov8l.yaml",
                                  "yolov8x.yaml"};
    static const int c7[] = {256, 512, 576, 512, 640}, c11[] = {384, 768, 960, 1024, 1280};
    static const int rep4[] = {2, 2, 4, 6, 6}, rep2[] = {1, 1, 2, 3, 3};
    for (int s = 0; s < 5; s++) {
        modelcfg *cfg = NULL;
        yolo_status st = modelcfg_load(names[s], 0, &cfg);
        CHECK(st == YOLO_OK, "load %s", names[s]);
        if (st) continue;
        CHECK(modelcfg_scale(cfg) == "nsmlx"[s] && !strcmp(modelcfg_task(cfg), "detect") &&
                  modelcfg_nc(cfg) == 80 && modelcfg_layer_count(cfg) == 23,
              "%s: scale, task, nc, 23 layers", names[s]);
        const modelcfg_layer *l7 = modelcfg_layer_at(cfg, 7), *l11 = modelcfg_layer_at(cfg, 11);
        const modelcfg_layer *l4 = modelcfg_layer_at(cfg, 4), *l2 = modelcfg_layer_at(cfg, 2);
        const modelcfg_layer *l22 = modelcfg_layer_at(cfg, 22);
        CHECK(l7->c2 == c7[s] && l11->c2 == c11[s] && l4->repeats == rep4[s] && l2->repeats == rep2[s] &&
                  l2->shortcut && !modelcfg_layer_at(cfg, 12)->shortcut,
              "%s: widths %d/%d, repeats %d/%d", names[s], l7->c2, l11->c2, l4->repeats, l2->repeats);
        CHECK(l22->kind == MODELCFG_DETECT && l22->nl == 3 && l22->from[0] == 15 && l22->from[1] == 18 &&
                  l22->from[2] == 21 && l22->c_box == (s == 4 ? 80 : 64),
              "%s: Detect on 15/18/21, box width %d", names[s], l22->c_box);
        modelcfg_free(cfg);
    }

    /* Segment's prototype width is scaled; nc override; classify widths at max_channels 1024. */
    modelcfg *cfg = NULL;
    yolo_status st = modelcfg_load("yolov8s-seg.yaml", 3, &cfg);
    CHECK(st == YOLO_OK && modelcfg_nc(cfg) == 3 && !strcmp(modelcfg_task(cfg), "segment") &&
              modelcfg_layer_at(cfg, 22)->npr == 128 && modelcfg_layer_at(cfg, 22)->c_mask == 32 &&
              modelcfg_layer_at(cfg, 22)->c_cls == 128,
          "yolov8s-seg nc=3: npr 128, c4 32, c3 128");
    modelcfg_free(cfg);
    cfg = NULL;
    st = modelcfg_load("yolov8x-cls.yaml", 10, &cfg);
    CHECK(st == YOLO_OK && modelcfg_layer_at(cfg, 8)->c2 == 1280 &&
              modelcfg_layer_at(cfg, 9)->kind == MODELCFG_CLASSIFY && modelcfg_layer_at(cfg, 9)->nc == 10,
          "yolov8x-cls nc=10: layer 8 has 1280 channels");
    modelcfg_free(cfg);
    cfg = NULL;
    /* Without a scale letter the first scale listed is used. */
    st = modelcfg_load("yolov8.yaml", 0, &cfg);
    CHECK(st == YOLO_OK && modelcfg_scale(cfg) == 'n', "yolov8.yaml: first scale (n)");
    modelcfg_free(cfg);
    cfg = NULL;

    /* A user's own file, by path; errors name the file. */
    char dir[] = "/tmp/modelcfg.XXXXXX";
    if (mkdtemp(dir)) {
        char path[256];
        snprintf(path, sizeof path, "%s/tiny-yolov8s.yaml", dir);
        FILE *f = fopen(path, "w");
        fputs("nc: 2\nscales:\n  n: [0.33, 0.25, 1024]\n  s: [0.33, 0.5, 1024]\nbackbone:\n"
              "  - [-1, 1, Conv, [32, 3, 2]]\n  - [-1, 3, C2f, [64, True]]\nhead:\n  - [-1, 1, Classify, "
              "[nc]]\n",
              f);
        fclose(f);
        st = modelcfg_load(path, 0, &cfg);
        CHECK(st == YOLO_OK && modelcfg_scale(cfg) == 's' && modelcfg_layer_at(cfg, 0)->c2 == 16 &&
                  modelcfg_layer_at(cfg, 1)->repeats == 1 && !strcmp(modelcfg_task(cfg), "classify") &&
                  !strcmp(modelcfg_display_name(cfg), "tiny-YOLOv8s"),
              "user YAML by path, scale s from its name");
        modelcfg_free(cfg);
        cfg = NULL;
        f = fopen(path, "w");
        fputs("nc: 2\nbackbone:\n  - [-1, 1, Conv, [32, 3, 2]]\n  - [-1, 1, Fancy, [1]]\n", f);
        fclose(f);
        st = modelcfg_load(path, 0, &cfg);
        CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "layer 1: unsupported module 'Fancy'") &&
                  strstr(yolo_last_error(), path),
              "unknown module: %s", yolo_last_error());
        f = fopen(path, "w");
        fputs("nc: [2\nbackbone: {\n", f);
        fclose(f);
        st = modelcfg_load(path, 0, &cfg);
        CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), path), "broken YAML: %s", yolo_last_error());
        remove(path);
        remove(dir);
    }
    /* From text (a checkpoint's yaml): the name gives scale and messages; absurd sizes are refused. */
    static const char tiny[] = "nc: 4\nscales:\n  n: [0.33, 0.25, 1024]\n  m: [0.67, 0.75, 768]\nbackbone:\n"
                               "  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n  - [-1, 1, Classify, [nc]]\n";
    st = modelcfg_load_text(tiny, sizeof tiny - 1, "ckpt-yolov8m.yaml", 0, &cfg);
    CHECK(st == YOLO_OK && modelcfg_scale(cfg) == 'm' && modelcfg_layer_at(cfg, 0)->c2 == 48 &&
              !strcmp(modelcfg_display_name(cfg), "ckpt-YOLOv8m"),
          "from text: scale m from the name, 64 -> 48 channels");
    modelcfg_free(cfg);
    cfg = NULL;
    static const char wide[] =
        "nc: 4\nbackbone:\n  - [-1, 1, Conv, [100000000, 3, 2]]\nhead:\n  - [-1, 1, Classify, [nc]]\n";
    st = modelcfg_load_text(wide, sizeof wide - 1, "wide.yaml", 0, &cfg);
    CHECK(st == YOLO_ERR_FORMAT &&
              strstr(yolo_last_error(), "wide.yaml: layer 0: output channels out of range"),
          "absurd width refused: %s", yolo_last_error());
    static const char up[] =
        "nc: 4\nbackbone:\n  - [-1, 1, Conv, [8, 3, 1]]\n  - [-1, 1, nn.Upsample, [None, 8, nearest]]\n"
        "  - [-1, 1, nn.Upsample, [None, 8, nearest]]\n  - [-1, 1, nn.Upsample, [None, 8, nearest]]\nhead:\n "
        " - [-1, 1, Classify, [nc]]\n";
    st = modelcfg_load_text(up, sizeof up - 1, "up.yaml", 0, &cfg);
    CHECK(st == YOLO_ERR_FORMAT && strstr(yolo_last_error(), "up.yaml: layer 3: feature maps grow"),
          "exploding upsampling refused: %s", yolo_last_error());

    /* The YAML as Ultralytics reads it: PyYAML's YAML 1.1 scalars. */
    static const char y11[] =
        "nc: 4\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n  - [-1, 1, Classify, [nc]]\n"
        "v: [None, ~, null, '', True, yes, Off, 'True', \"None\", 010, 0x1f, 0b101, 1_000, -7, 1:30,\n"
        "    0.50, 1.5e+3, 1e3, .5, -.inf, 1:30.5, nearest, nn.Upsample]\non: 1\n";
    static const char *const want[] = {"'None'", "None",   "None",   "''",        "True",         "True",
                                       "False",  "'True'", "'None'", "8",         "31",           "5",
                                       "1000",   "-7",     "90",     "0.5",       "1500",         "'1e3'",
                                       "0.5",    "-inf",   "90.5",   "'nearest'", "'nn.Upsample'"};
    /* and the kinds: s str, n None, b bool, i int, f float */
    static const char kinds[] = "snnsbbbssiiiiiiffsfffss";
    st = modelcfg_load_text(y11, sizeof y11 - 1, "y11.yaml", 0, &cfg);
    yv_doc *doc = yv_doc_new();
    yv *y = NULL;
    if (st == YOLO_OK) st = modelcfg_yaml_value(cfg, doc, &y);
    const yv *v = y ? yv_dict_get(y, "v") : NULL;
    bool all = v && v->kind == YV_LIST && v->seq.n == sizeof want / sizeof *want;
    for (size_t i = 0; all && i < v->seq.n; i++) {
        char got[64];
        yv_repr(v->seq.items[i], got, sizeof got);
        yv_kind k = v->seq.items[i]->kind;
        char kc = k == YV_STR     ? 's'
                  : k == YV_NONE  ? 'n'
                  : k == YV_BOOL  ? 'b'
                  : k == YV_INT   ? 'i'
                  : k == YV_FLOAT ? 'f'
                                  : '?';
        if (strcmp(got, want[i]) || kc != kinds[i]) {
            printf("# item %zu: %s (%c), want %s (%c)\n", i, got, kc, want[i], kinds[i]);
            all = false;
        }
    }
    /* keys resolve too: 'on' is True */
    CHECK(all && y->dict.n == 5 && y->dict.keys[4]->kind == YV_BOOL && y->dict.keys[4]->b,
          "modelcfg_yaml_value: None, True, numbers and keys as PyYAML's safe_load reads them %s",
          st ? yolo_last_error() : "");
    yv_doc_free(doc);
    modelcfg_free(cfg);
    cfg = NULL;

    st = modelcfg_load("yolov9q.yaml", 0, &cfg);
    CHECK(st == YOLO_ERR_NOTFOUND && cfg == NULL &&
              strstr(yolo_last_error(), "yolov9q.yaml: no such model YAML"),
          "missing file: %s", yolo_last_error());

    TAP_DONE();
}
