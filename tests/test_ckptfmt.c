/* Our checkpoint layout: kinds, resumability reasons, strip's fp16 rounding, export, and
 * Ultralytics-style key=value parsing, on values built in memory. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "yolo/ckptfmt.h"

static yv *weights(yv_doc *doc, const float *vals, int64_t n) {
    yv *sd = yv_new_dict(doc);
    yv *t = yv_new_tensor(doc, YDT_F32, 1, &n);
    memcpy(yv_tensor_data(&t->tensor), vals, (size_t)n * sizeof *vals);
    yv_dict_set(doc, sd, "model.0.conv.weight", t);
    int64_t one = 1;
    yv *cnt = yv_new_tensor(doc, YDT_I64, 0, &one);
    *(int64_t *)yv_tensor_data(&cnt->tensor) = 7;
    yv_dict_set(doc, sd, "model.0.bn.num_batches_tracked", cnt);
    return sd;
}

/* An in-memory training checkpoint in our layout: epoch (0-based) of epochs. */
static yv *ours(yv_doc *doc, int64_t epoch, int64_t epochs, const float *vals, int64_t n) {
    yv *root = yv_new_dict(doc), *args = yv_new_dict(doc), *opt = yv_new_dict(doc);
    yv_dict_set(doc, root, CKPTFMT_KEY_FORMAT, yv_new_int(doc, CKPTFMT_FORMAT_VERSION));
    yv_dict_set(doc, root, "epoch", yv_new_int(doc, epoch));
    yv_dict_set(doc, root, "model", weights(doc, vals, n));
    yv_dict_set(doc, root, "ema", weights(doc, vals, n));
    yv_dict_set(doc, opt, "name", yv_new_str(doc, "SGD"));
    yv_dict_set(doc, root, "optimizer", opt);
    yv_dict_set(doc, args, "epochs", yv_new_int(doc, epochs));
    yv_dict_set(doc, args, "lr0", yv_new_float(doc, 0.01));
    yv_dict_set(doc, args, "cos_lr", yv_new_bool(doc, false));
    yv_dict_set(doc, args, "name", yv_new_str(doc, "train"));
    yv_dict_set(doc, root, "train_args", args);
    return root;
}

int main(void) {
    yv_doc *doc = yv_doc_new();
    float one = 1.0f;
    char why[200];

    yv *fresh = NULL;
    CHECK(ckptfmt_new_root(doc, &fresh) == YOLO_OK && fresh, "new root");
    const char *date = fresh ? yv_as_str(yv_dict_get(fresh, "date")) : NULL;
    int64_t fv = 0;
    CHECK(fresh && yv_as_int(yv_dict_get(fresh, CKPTFMT_KEY_FORMAT), &fv) && fv == CKPTFMT_FORMAT_VERSION,
          "new root carries the format marker");
    CHECK(date && strlen(date) == 26 && date[4] == '-' && date[10] == 'T' && date[19] == '.',
          "date like Python's isoformat(): %s", date ? date : "(none)");

    yv *r = ours(doc, 2, 10, &one, 1);
    CHECK(ckptfmt_kind(r) == CKPTFMT_OURS_TRAINING, "ours with optimizer: training kind");
    CHECK(ckptfmt_resumable(r, why, sizeof why), "epoch 3 of 10: resumable (%s)", why);

    r = ours(doc, 9, 10, &one, 1);
    CHECK(!ckptfmt_resumable(r, why, sizeof why) && !strcmp(why, "training finished (10 of 10 epochs done)"),
          "epoch 10 of 10: finished: %s", why);

    r = ours(doc, 2, 10, &one, 1);
    yv_dict_set(doc, r, "optimizer", yv_new_none(doc));
    CHECK(ckptfmt_kind(r) == CKPTFMT_OURS_TRAINING, "ema without optimizer: still a training file");
    CHECK(!ckptfmt_resumable(r, why, sizeof why) && !strcmp(why, "no optimizer state"), "no optimizer: %s",
          why);

    r = ours(doc, 4, 100, &one, 1);
    yv *stopper = yv_new_dict(doc);
    yv_dict_set(doc, stopper, "stopped", yv_new_bool(doc, true));
    yv_dict_set(doc, stopper, "best_epoch", yv_new_int(doc, 1));
    yv_dict_set(doc, stopper, "patience", yv_new_int(doc, 3));
    yv_dict_set(doc, r, CKPTFMT_KEY_STOPPER, stopper);
    CHECK(!ckptfmt_resumable(r, why, sizeof why) && strstr(why, "stopped early after epoch 5"),
          "early stop: %s", why);

    r = ours(doc, -1, 10, &one, 1);
    yv_dict_set(doc, r, "optimizer", yv_new_none(doc));
    CHECK(ckptfmt_kind(r) == CKPTFMT_OURS_STRIPPED, "epoch -1 without optimizer: stripped kind");
    CHECK(!ckptfmt_resumable(r, why, sizeof why) && strstr(why, "stripped"), "stripped: %s", why);

    /* a save in the middle of the first epoch: epoch -1, but optimizer state and a position */
    r = ours(doc, -1, 10, &one, 1);
    yv_dict_set(doc, r, CKPTFMT_KEY_POSITION, yv_new_dict(doc));
    CHECK(ckptfmt_kind(r) == CKPTFMT_OURS_TRAINING, "epoch -1 with optimizer state: training kind");
    CHECK(ckptfmt_resumable(r, why, sizeof why), "mid-first-epoch save is resumable: %s", why);

    r = ours(doc, 2, 10, &one, 1);
    yv_dict_set(doc, r, CKPTFMT_KEY_FORMAT, yv_new_int(doc, CKPTFMT_FORMAT_VERSION + 1));
    CHECK(!ckptfmt_resumable(r, why, sizeof why) && strstr(why, "newer"), "newer layout: %s", why);
    yv *tmp;
    CHECK(ckptfmt_strip(doc, r, &tmp) == YOLO_ERR_FORMAT, "strip refuses a newer layout: %s",
          yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, r, "epochs", "5") == YOLO_ERR_FORMAT, "set refuses a newer layout");

    yv *plain = weights(doc, &one, 1);
    CHECK(ckptfmt_kind(plain) == CKPTFMT_PLAIN_TENSORS, "name->tensor dict: tensor-dict kind");
    CHECK(!ckptfmt_resumable(plain, why, sizeof why) && !strcmp(why, "not a training checkpoint"), "%s", why);
    CHECK(ckptfmt_kind(yv_new_list(doc)) == CKPTFMT_UNKNOWN, "a list: unknown kind");
    CHECK(ckptfmt_kind(yv_new_dict(doc)) == CKPTFMT_UNKNOWN, "an empty dict: unknown kind");

    /* strip: binary32 -> binary16 with round-to-nearest-even, as torch's .half(). */
    const float in[] = {1.0f,
                        65504.0f,
                        65519.99f,
                        65520.0f,
                        0x1p-24f,
                        0x1p-25f,
                        0x1.8p-25f,
                        0x3p-25f,
                        -0.0f,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        1.0f + 0x1p-11f,
                        1.0f + 0x3p-11f,
                        0x1p-14f,
                        0x1p-14f - 0x1p-25f,
                        -2.5f,
                        1e-10f};
    const uint16_t want[] = {0x3c00, 0x7bff, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0001, 0x0002, 0x8000,
                             0x7c00, 0xfc00, 0x7e00, 0x3c00, 0x3c02, 0x0400, 0x0400, 0xc100, 0x0000};
    const int64_t n = (int64_t)(sizeof in / sizeof *in);
    r = ours(doc, 3, 10, in, n);
    yv *s = NULL;
    CHECK(ckptfmt_strip(doc, r, &s) == YOLO_OK, "strip: %s", yolo_last_error());
    if (s) {
        CHECK(ckptfmt_kind(s) == CKPTFMT_OURS_STRIPPED, "stripped result is ours-stripped");
        CHECK(!ckptfmt_resumable(s, why, sizeof why), "stripped result is not resumable");
        const yv *t = yv_path(s, "model");
        t = t ? yv_dict_get(t, "model.0.conv.weight") : NULL;
        CHECK(t && t->kind == YV_TENSOR && t->tensor.dtype == YDT_F16, "stripped weights are fp16");
        const uint16_t *h = t ? yv_tensor_data(&t->tensor) : NULL;
        for (int64_t i = 0; h && i < n; i++)
            CHECK(h[i] == want[i], "fp16 of %a is 0x%04x (got 0x%04x)", (double)in[i], want[i], h[i]);
        const yv *c = yv_dict_get(yv_dict_get(s, "model"), "model.0.bn.num_batches_tracked");
        CHECK(c && c->tensor.dtype == YDT_I64 && *(int64_t *)yv_tensor_data(&c->tensor) == 7,
              "integer buffers stay int64");
        CHECK(yv_path(s, "ema")->kind == YV_NONE && yv_path(s, "optimizer")->kind == YV_NONE,
              "ema, optimizer None");
    }

    /* export: fp32 from any float dtype. */
    yv *e = NULL;
    CHECK(ckptfmt_export(doc, s, &e) == YOLO_OK && e && e->dict.n == 2, "export of the stripped file");
    const yv *et = e ? yv_dict_get(e, "model.0.conv.weight") : NULL;
    CHECK(et && et->tensor.dtype == YDT_F32 && ((float *)yv_tensor_data(&et->tensor))[1] == 65504.0f,
          "export widens fp16 to fp32");

    /* key=value like Ultralytics' CLI. */
    yv *v = ckptfmt_parse_value(doc, "None");
    CHECK(v->kind == YV_NONE, "none");
    v = ckptfmt_parse_value(doc, "TRUE");
    CHECK(v->kind == YV_BOOL && v->b, "TRUE is a bool");
    v = ckptfmt_parse_value(doc, "150");
    CHECK(v->kind == YV_INT && v->i == 150, "150 is an int");
    v = ckptfmt_parse_value(doc, "-1e-3");
    CHECK(v->kind == YV_FLOAT && v->f == -1e-3, "-1e-3 is a float");
    v = ckptfmt_parse_value(doc, "3.");
    CHECK(v->kind == YV_FLOAT && v->f == 3.0, "3. is a float");
    v = ckptfmt_parse_value(doc, "inf");
    CHECK(v->kind == YV_STR && !strcmp(v->str.s, "inf"), "inf stays a string, as Python's eval leaves it");
    v = ckptfmt_parse_value(doc, "data/coco8.yaml");
    CHECK(v->kind == YV_STR && !strcmp(v->str.s, "data/coco8.yaml"), "a path is a string");
    v = ckptfmt_parse_value(doc, "'quoted'");
    CHECK(v->kind == YV_STR && !strcmp(v->str.s, "quoted"), "quotes are removed");
    v = ckptfmt_parse_value(doc, "[0, 2,5]");
    CHECK(v->kind == YV_LIST && v->seq.n == 3 && v->seq.items[2]->i == 5, "a list of ints");
    v = ckptfmt_parse_value(doc, "(640,480)");
    CHECK(v->kind == YV_TUPLE && v->seq.n == 2, "a tuple");
    v = ckptfmt_parse_value(doc, "[]");
    CHECK(v->kind == YV_LIST && v->seq.n == 0, "an empty list");

    r = ours(doc, 2, 10, &one, 1);
    CHECK(ckptfmt_set_arg(doc, r, "epochs", "150") == YOLO_OK && yv_path(r, "train_args.epochs")->i == 150,
          "set epochs=150");
    CHECK(ckptfmt_set_arg(doc, r, "epochs", "1.5") == YOLO_ERR_USAGE, "epochs=1.5 rejected: %s",
          yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, r, "lr0", "1.5") == YOLO_ERR_USAGE, "lr0=1.5 rejected: %s", yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, r, "lr0", "0") == YOLO_OK, "lr0=0 accepted");
    CHECK(ckptfmt_set_arg(doc, r, "cos_lr", "1") == YOLO_ERR_USAGE, "cos_lr=1 rejected: %s",
          yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, r, "cos_lr", "True") == YOLO_OK && yv_path(r, "train_args.cos_lr")->b,
          "cos_lr=True");
    CHECK(ckptfmt_set_arg(doc, r, "epochs", "none") == YOLO_ERR_USAGE, "epochs=none rejected: %s",
          yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, r, "name", "none") == YOLO_OK, "name=none (its default) accepted");
    CHECK(ckptfmt_set_arg(doc, r, "nope", "1") == YOLO_ERR_USAGE, "unknown key rejected: %s",
          yolo_last_error());
    CHECK(ckptfmt_set_arg(doc, plain, "epochs", "1") == YOLO_ERR_FORMAT,
          "a file without train_args is refused");

    CHECK(ckptfmt_import(doc, ours(doc, 1, 2, &one, 1), NULL, &e) == YOLO_ERR_FORMAT,
          "import of ours is refused");
    yv_doc_free(doc);
    TAP_DONE();
}
