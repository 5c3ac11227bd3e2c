/* Micro-batches and ranks: a batch trained as micro-batches of a size fixed when the run started, on
 * one process or spread over the ranks of a process group, with the same bits either way.
 *
 * Each rank trains its block of each batch's micro-batches (include/yolo/microbatch.h): for each, a
 * forward in which BatchNorm hands its batch statistics over instead of updating its running averages
 * (model_bn_capture), the loss of that micro-batch alone (normalised per micro-batch, as Ultralytics'
 * DDP normalises per rank) and its gradients. The rank sums the subtrees of the fixed tree inside its
 * block, and allgathers bring every rank the others' partial sums, BatchNorm statistics, loss items
 * and interrupt flags. Every rank then finishes the tree, updates the running averages in micro-batch
 * order and steps the optimizer on the same numbers, so the weights stay the same on all ranks without
 * ever being sent, and a run does not depend on how many ranks it had.
 *
 * The partial sums go in buckets of whole parameters, each as soon as the backward pass of the rank's
 * last micro-batch has all its gradients (the head's come first, the stem's last; tt_grads_each), so
 * that the exchange overlaps the rest of the pass; the buckets go last to first on every rank. The
 * sums are elementwise, so summing bucket by bucket gives the bits of summing the whole vector. That
 * overlap pays where the exchange waits for a network or has a core of its own. Where every rank is on
 * this machine and their threads take all its cores, the exchange is CPU work (copies through the
 * loopback) that can only slow the pass it overlaps: the buckets then go after the pass. Measured on 2
 * cores, world=2 with one thread each, an epoch of fashion_det256 at 128 px took 2.61 s with the
 * buckets after the pass and 2.75 s during it (medians of 5); across two network namespaces joined
 * by a 1 Gbit/s link, 3.85 s during the pass and 4.61 s after it.
 *
 * What a rank sends in a step, as float32: for each bucket, the partial sums of its subtrees over that
 * bucket's part of the parameters (padded to the most subtrees any rank has); then the head: [interrupt
 * flag] [per micro-batch: 5 loss items, instances] [per micro-batch: BatchNorm statistics]. */
#include "train_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yolo/dist.h"
#include "yolo/microbatch.h"
#include "yolo/torch_train.h"

enum { ITEMS = 5, LEAF_HEAD = ITEMS + 1 };
/* A bucket closes at the first parameter that takes it to this many floats or more: yolov8n's 3.2
 * million parameters go in 6 buckets, the first ready a fifth into the backward pass. */
enum { BUCKET_FLOATS = 1 << 19 };

struct train_micro {
    int M, K; /* micro-batches per batch, per rank */
    int nparams;
    torch_tensor **params; /* the trainable parameters (the model's handles) */
    int64_t *param_off;    /* where each one's gradient starts in a flat vector */
    int *param_bucket;
    int64_t P, S; /* the parameters' elements; BatchNorm statistics per micro-batch */
    int nodes_max;
    int nb;                      /* buckets */
    int64_t *b_off, *b_len;      /* each one's part of the flat vector */
    int *b_params;               /* its parameters */
    int *b_left;                 /* this step: its parameters still without the last micro-batch's gradient */
    int b_next;                  /* this step: the next bucket to send (they go last to first) */
    dist_work **work;            /* this step: each bucket's exchange under way */
    bool overlap;                /* buckets go while the backward pass runs (else after it) */
    int64_t off_stats, head_len; /* where the statistics start in the head, and its length */
    torch_tensor *stats;         /* the model's capture buffer */
    torch_tensor *grads;         /* every trainable parameter's gradient, as views of one vector */
    torch_tensor **leaf;         /* this rank's micro-batch gradients (none when in_place) */
    bool in_place;               /* one micro-batch a step on each of several ranks: its gradients are
                                  * written straight into this rank's place in recv, which it sends */
    torch_tensor *send, *recv;   /* partial sums, bucket after bucket: one rank's nodes_max x P (world 1),
                                  * every rank's world x that (this rank's part is what it sends) */
    torch_tensor *hsend, *hrecv; /* the head: head_len, world x head_len */
    float *head;                 /* host copy of every rank's flags, items and statistics */
    double step_max;             /* the longest step of this process, for the patience */
    bool long_wait;
};

/* Waits for the exchanges of the step still under way (after a failure: their outcome no longer
 * matters, but their buffers must not be reused before they end). */
static yolo_status micro_wait_all(train_micro *mb) {
    yolo_status st = YOLO_OK;
    for (int b = 0; mb->work && b < mb->nb; b++) {
        yolo_status w = dist_wait(mb->work[b]);
        mb->work[b] = NULL;
        if (st == YOLO_OK) st = w;
    }
    return st;
}

void train_micro_free(train_micro *mb) {
    if (!mb) return;
    micro_wait_all(mb);
    for (int k = 0; mb->leaf && k < mb->K; k++)
        torch_free(mb->leaf[k]);
    free(mb->leaf);
    free(mb->params);
    free(mb->param_off), free(mb->param_bucket);
    free(mb->b_off), free(mb->b_len), free(mb->b_params), free(mb->b_left);
    free(mb->work);
    torch_free(mb->stats);
    torch_free(mb->grads);
    torch_free(mb->send), torch_free(mb->recv);
    torch_free(mb->hsend), torch_free(mb->hrecv);
    free(mb->head);
    free(mb);
}

/* ------------------------------------------------------------------ each rank's share */

void train_batch_share(const trainer *t, int64_t i, int64_t total, int *all, int *mine) {
    int64_t left = total - i * t->batch;
    *all = (int)(left < t->batch ? left : t->batch);
    int64_t per = t->batch / t->world, own = *all - (int64_t)t->rank * per;
    *mine = (int)(own < 0 ? 0 : own > per ? per : own);
}

bool train_dist_overlaps(const trainer *t) {
    return t->mb && t->mb->overlap;
}

/* ------------------------------------------------------------------ patience */

void train_dist_patience(trainer *t, bool long_wait) {
    if (t->mb) t->mb->long_wait = long_wait;
    if (!t->o.group) return;
    double base = t->o.dist_timeout > 0 ? t->o.dist_timeout : 30;
    /* the first step waits for every rank's start, data included, and a step after a save for rank 0's
     * writing: ten minutes; steady steps wait the base plus a few of the longest step so far */
    double step = t->mb ? t->mb->step_max : 0;
    dist_set_timeout(t->o.group, long_wait ? (base > 600 ? base : 600) : base + 4 * step);
}

/* ------------------------------------------------------------------ sharing a file */

yolo_status train_dist_share_file(trainer *t, const char *path, void **data, size_t *len) {
    *data = NULL, *len = 0;
    dist_group *g = t->o.group;
    int64_t size = -1, one[1] = {1};
    yolo_status st = YOLO_OK, read_st = YOLO_OK;
    char why[600] = "";
    unsigned char *buf = NULL;
    if (dist_rank(g) == 0) {
        FILE *f = fopen(path, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
            read_st = YOLO_OK;
        } else {
            read_st = yolo_error(YOLO_ERR_IO, "%s: cannot read (%s)", path, strerror(errno ? errno : EIO));
            snprintf(why, sizeof why, "%s", yolo_last_error());
            size = -1;
        }
        if (f) fclose(f);
    }
    /* the size first (-1: rank 0 could not read it), then the bytes */
    torch_tensor *n = NULL, *bytes = NULL;
    train_dist_patience(t, true);
    st = torch_from_data(&size, TORCH_I64, 1, one, &n);
    if (st == YOLO_OK) st = dist_broadcast(g, n, 0);
    double d = -1;
    if (st == YOLO_OK) st = torch_item(n, &d);
    torch_free(n);
    if (st == YOLO_OK && d < 0)
        st = dist_rank(g) == 0 ? yolo_error(read_st, "%s", why)
                               : yolo_error(YOLO_ERR_IO, "rank 0 could not read %s (it says why)", path);
    if (st == YOLO_OK && dist_rank(g) != 0 && !(buf = malloc((size_t)d + 1))) st = yolo_nomem();
    int64_t shape[1] = {(int64_t)d};
    if (st == YOLO_OK && d > 0) {
        st = torch_empty(1, shape, TORCH_U8, TORCH_CPU, &bytes);
        if (st == YOLO_OK && dist_rank(g) == 0) st = torch_copy_in(bytes, buf, TORCH_U8, (int64_t)d);
        if (st == YOLO_OK) st = dist_broadcast(g, bytes, 0);
        if (st == YOLO_OK) st = torch_copy_out(bytes, TORCH_U8, buf, (int64_t)d);
        torch_free(bytes);
    }
    if (st != YOLO_OK) {
        free(buf);
        return st;
    }
    buf[(size_t)d] = 0; /* text files read as strings */
    *data = buf, *len = (size_t)d;
    return YOLO_OK;
}

/* ------------------------------------------------------------------ gathering bytes */

/* The lengths first, then every rank's bytes padded to the longest (one allgather each). */
yolo_status train_dist_gather(trainer *t, const void *mine, int64_t len, unsigned char ***all,
                              int64_t **lens) {
    *all = NULL, *lens = NULL;
    dist_group *g = t->o.group;
    int W = t->world;
    int64_t one[1] = {1}, shape[1] = {W};
    torch_tensor *in = NULL, *out = NULL;
    int64_t *l = calloc((size_t)W, sizeof *l);
    unsigned char **bufs = calloc((size_t)W, sizeof *bufs), *gathered = NULL;
    yolo_status st = l && bufs ? YOLO_OK : yolo_nomem();
    train_dist_patience(t, true);
    if (st == YOLO_OK) st = torch_from_data(&len, TORCH_I64, 1, one, &in);
    if (st == YOLO_OK) st = torch_empty(1, shape, TORCH_I64, TORCH_CPU, &out);
    if (st == YOLO_OK) st = dist_allgather(g, in, out);
    if (st == YOLO_OK) st = torch_copy_out(out, TORCH_I64, l, W);
    torch_free(in), torch_free(out);
    in = out = NULL;
    int64_t most = 0;
    for (int r = 0; r < W && st == YOLO_OK; r++) {
        if (l[r] < 0)
            st = len < 0 ? yolo_error(YOLO_ERR_IO, "%s", yolo_last_error())
                         : yolo_error(YOLO_ERR_IO, "rank %d failed (it says why)", r);
        else if (l[r] > most)
            most = l[r];
    }
    int64_t padded[1] = {most}, whole[1] = {most * W};
    if (st == YOLO_OK && most > 0) {
        unsigned char *pad = calloc((size_t)most, 1);
        gathered = malloc((size_t)(most * W));
        if (!pad || !gathered) st = yolo_nomem();
        if (st == YOLO_OK && len > 0) memcpy(pad, mine, (size_t)len);
        if (st == YOLO_OK) st = torch_from_data(pad, TORCH_U8, 1, padded, &in);
        if (st == YOLO_OK) st = torch_empty(1, whole, TORCH_U8, TORCH_CPU, &out);
        if (st == YOLO_OK) st = dist_allgather(g, in, out);
        if (st == YOLO_OK) st = torch_copy_out(out, TORCH_U8, gathered, most * W);
        torch_free(in), torch_free(out);
        free(pad);
    }
    for (int r = 0; r < W && st == YOLO_OK; r++) {
        if (!(bufs[r] = malloc((size_t)l[r] + 1)))
            st = yolo_nomem();
        else if (l[r])
            memcpy(bufs[r], gathered + (size_t)(r * most), (size_t)l[r]);
    }
    free(gathered);
    if (st != YOLO_OK) {
        for (int r = 0; bufs && r < W; r++)
            free(bufs[r]);
        free(bufs), free(l);
        return st;
    }
    *all = bufs, *lens = l;
    return YOLO_OK;
}

/* ------------------------------------------------------------------ the step */

/* The parameters' places in the flat vector, and the buckets over it. */
static yolo_status micro_buckets(train_micro *mb) {
    int n = mb->nparams;
    mb->param_off = malloc(sizeof(int64_t) * (size_t)n);
    mb->param_bucket = malloc(sizeof(int) * (size_t)n);
    mb->b_off = malloc(sizeof(int64_t) * (size_t)n), mb->b_len = malloc(sizeof(int64_t) * (size_t)n);
    mb->b_params = calloc((size_t)n, sizeof(int)), mb->b_left = calloc((size_t)n, sizeof(int));
    mb->work = calloc((size_t)n, sizeof *mb->work);
    if (!mb->param_off || !mb->param_bucket || !mb->b_off || !mb->b_len || !mb->b_params || !mb->b_left ||
        !mb->work)
        return yolo_nomem();
    int64_t off = 0;
    mb->nb = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || mb->b_len[mb->nb - 1] >= BUCKET_FLOATS) {
            mb->b_off[mb->nb] = off, mb->b_len[mb->nb] = 0;
            mb->nb++;
        }
        int64_t e = torch_numel(mb->params[i]);
        mb->param_off[i] = off, mb->param_bucket[i] = mb->nb - 1;
        mb->b_len[mb->nb - 1] += e, mb->b_params[mb->nb - 1]++;
        off += e;
    }
    return YOLO_OK;
}

/* The CPUs this process may run on. */
static int cpus_here(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static yolo_status micro_init(trainer *t, train_micro **out) {
    train_micro *mb = calloc(1, sizeof *mb);
    if (!mb) return yolo_nomem();
    int W = t->world, local = dist_local_world(t->o.group);
    mb->overlap = W > 1 && (local < W || local * t->threads < cpus_here());
    mb->M = t->batch / t->micro, mb->K = mb->M / W;
    int n = model_param_count(t->m);
    mb->params = calloc((size_t)n, sizeof *mb->params);
    mb->leaf = calloc((size_t)mb->K, sizeof *mb->leaf);
    yolo_status st = mb->params && mb->leaf ? YOLO_OK : yolo_nomem();
    for (int i = 0; st == YOLO_OK && i < n; i++)
        if (!model_param_is_buffer(t->m, i) && torch_requires_grad(model_tensor(t->m, i))) {
            mb->params[mb->nparams++] = model_tensor(t->m, i);
            mb->P += torch_numel(model_tensor(t->m, i));
        }
    if (st == YOLO_OK && mb->nparams == 0) st = yolo_error(YOLO_ERR_USAGE, "the model has nothing to train");
    if (st == YOLO_OK) st = micro_buckets(mb);
    mb->S = model_bn_stats_size(t->m);
    mb->nodes_max = mb_max_nodes(mb->M, W);
    mb->off_stats = 1 + (int64_t)mb->K * LEAF_HEAD;
    mb->head_len = mb->off_stats + (int64_t)mb->K * mb->S;
    int64_t s1[1] = {mb->S}, sp[1] = {mb->P}, ss[1] = {mb->nodes_max * mb->P}, sr[1] = {W * ss[0]},
            sh[1] = {mb->head_len}, shr[1] = {W * mb->head_len};
    if (st == YOLO_OK) st = torch_zeros(1, s1, TORCH_F32, t->dev, &mb->stats);
    if (st == YOLO_OK) st = torch_zeros(1, sp, TORCH_F32, t->dev, &mb->grads);
    mb->in_place = W > 1 && mb->K == 1;
    for (int k = 0; st == YOLO_OK && !mb->in_place && k < mb->K; k++)
        st = torch_zeros(1, sp, TORCH_F32, t->dev, &mb->leaf[k]);
    if (st == YOLO_OK && W == 1) st = torch_zeros(1, ss, TORCH_F32, t->dev, &mb->send);
    if (st == YOLO_OK) st = torch_zeros(1, sh, TORCH_F32, t->dev, &mb->hsend);
    if (st == YOLO_OK && W > 1) st = torch_zeros(1, sr, TORCH_F32, t->dev, &mb->recv);
    if (st == YOLO_OK && W > 1) st = torch_zeros(1, shr, TORCH_F32, t->dev, &mb->hrecv);
    if (st == YOLO_OK && !(mb->head = malloc(sizeof(float) * (size_t)mb->head_len * (size_t)W)))
        st = yolo_nomem();
    if (st == YOLO_OK) st = model_bn_capture(t->m, mb->stats);
    if (st != YOLO_OK) {
        train_micro_free(mb);
        return st;
    }
    mb->long_wait = true;
    *out = mb;
    return YOLO_OK;
}

/* part [off, off + n) of a message, as a view */
static yolo_status part(const torch_tensor *msg, int64_t off, int64_t n, torch_tensor **out) {
    return torch_narrow(msg, 0, off, n, out);
}

/* Where bucket b starts in the partial sums of `ranks` ranks (the send buffer: 1; received: world). */
static int64_t bucket_at(const train_micro *mb, int ranks, int b) {
    return (int64_t)ranks * mb->nodes_max * mb->b_off[b];
}

/* Part [off, off + n) of this rank's partial sums of bucket b: its own place among every rank's, from
 * where it is sent (nothing is copied), or a lone rank's buffer. */
static yolo_status own_part(const trainer *t, const train_micro *mb, int b, int64_t off, int64_t n,
                            torch_tensor **out) {
    if (t->world == 1) return part(mb->send, bucket_at(mb, 1, b) + off, n, out);
    int64_t len = mb->nodes_max * mb->b_len[b];
    return part(mb->recv, bucket_at(mb, t->world, b) + (int64_t)t->rank * len + off, n, out);
}

/* The partial sums of this rank's subtrees over bucket b, into its message. */
static yolo_status micro_send_nodes(const trainer *t, train_micro *mb, int present, int b) {
    if (mb->in_place) return YOLO_OK; /* the one leaf is the one node, already there */
    mb_values local = {0};
    mb_node mine[64];
    int nn = mb_rank_nodes(mb->M, t->world, t->rank, mine, 64);
    int64_t off = mb->b_off[b], len = mb->b_len[b];
    yolo_status st = YOLO_OK;
    for (int k = 0; st == YOLO_OK && k < mb->K; k++) {
        int m = t->rank * mb->K + k;
        if (m >= present) break;
        local.node[local.n] = (mb_node){m, m + 1};
        st = part(mb->leaf[k], off, len, &local.val[local.n++]);
    }
    for (int j = 0; st == YOLO_OK && j < nn; j++) {
        if (mine[j].lo >= present) continue;
        torch_tensor *sum = NULL, *dst = NULL;
        st = mb_tree_sum(mine[j], present, mb_values_get, &local, &sum);
        if (st == YOLO_OK) st = own_part(t, mb, b, (int64_t)j * len, len, &dst);
        if (st == YOLO_OK) st = torch_copy_(dst, sum);
        torch_free(sum), torch_free(dst);
    }
    mb_values_free(&local);
    return st;
}

/* Sends the buckets whose partial sums are complete, last to first (all: every one left). */
static yolo_status micro_send_ready(const trainer *t, train_micro *mb, int present, bool all) {
    yolo_status st = YOLO_OK;
    while (st == YOLO_OK && mb->b_next >= 0 && (all || mb->b_left[mb->b_next] == 0)) {
        int b = mb->b_next--;
        st = micro_send_nodes(t, mb, present, b);
        if (st != YOLO_OK || t->world == 1) continue;
        torch_tensor *in = NULL, *out = NULL;
        int64_t len = mb->nodes_max * mb->b_len[b];
        st = own_part(t, mb, b, 0, len, &in);
        if (st == YOLO_OK) st = part(mb->recv, bucket_at(mb, t->world, b), t->world * len, &out);
        if (st == YOLO_OK) st = dist_allgather_start(t->o.group, in, out, &mb->work[b]);
        torch_free(in), torch_free(out);
    }
    return st;
}

/* Where micro-batch k's gradient of parameter i goes (n elements). */
static yolo_status leaf_part(const trainer *t, const train_micro *mb, int k, int i, int64_t n,
                             torch_tensor **out) {
    if (!mb->in_place) return part(mb->leaf[k], mb->param_off[i], n, out);
    int b = mb->param_bucket[i];
    return own_part(t, mb, b, mb->param_off[i] - mb->b_off[b], n, out);
}

/* Where a micro-batch's gradients go as its backward pass hands them over (tt_grads_each). */
typedef struct {
    const trainer *t;
    train_micro *mb;
    int k;       /* the rank's micro-batch */
    bool last;   /* its last one of the step: the buckets go as they fill */
    int present; /* micro-batches in the batch */
} leaf_sink;

static yolo_status micro_grad_ready(void *ctx, int i, const torch_tensor *grad) {
    leaf_sink *s = ctx;
    train_micro *mb = s->mb;
    torch_tensor *dst = NULL;
    yolo_status st = leaf_part(s->t, mb, s->k, i, torch_numel(grad), &dst);
    if (st == YOLO_OK) st = torch_copy_(dst, grad);
    torch_free(dst);
    if (st != YOLO_OK || !s->last || !mb->overlap) return st;
    mb->b_left[mb->param_bucket[i]]--;
    return micro_send_ready(s->t, mb, s->present, false);
}

/* Forward, loss and gradients of this rank's micro-batch k (n samples from v), into its leaf and its
 * part of the head; the last one of the step sends the buckets as they fill. */
static yolo_status micro_leaf(trainer *t, train_micro *mb, int k, bool last, int present, stream_sample *v,
                              int n, int epoch, int64_t ni, float *head, batch_t *shown) {
    batch_t b;
    memset(&b, 0, sizeof b);
    model_output mo;
    memset(&mo, 0, sizeof mo);
    loss_output lo;
    memset(&lo, 0, sizeof lo);
    torch_tensor *dst = NULL;
    double c0 = train_clock();
    yolo_status st = train_make_batch(t, v, n, &b);
    /* a dropout mask is drawn per micro-batch, wherever it runs */
    int m = t->rank * mb->K + k;
    if (st == YOLO_OK) st = torch_manual_seed(t->seed ^ ((uint64_t)ni * 0x9E3779B97F4A7C15ull + (uint64_t)m));
    double c1 = train_clock();
    if (st == YOLO_OK) st = model_forward(t->m, b.img, &mo);
    double c2 = train_clock();
    if (st == YOLO_OK) st = train_output_loss(t, &b, &mo, &lo);
    double c3 = train_clock();
    int nitems = 0;
    float items[ITEMS] = {0};
    if (st == YOLO_OK) st = train_loss_items(t, &lo, epoch, ni, items, &nitems);
    for (int q = 0; q < ITEMS; q++)
        head[q] = q < nitems ? items[q] : 0;
    head[ITEMS] = (float)b.n_inst;
    shown->w = b.w, shown->h = b.h;
    if (st == YOLO_OK) st = part(mb->hsend, mb->off_stats + (int64_t)k * mb->S, mb->S, &dst);
    if (st == YOLO_OK) st = torch_copy_(dst, mb->stats);
    leaf_sink sink = {t, mb, k, last, present};
    if (st == YOLO_OK) st = tt_grads_each(lo.total, mb->params, mb->nparams, micro_grad_ready, &sink);
    t->prof[PROF_DATA] += c1 - c0;
    t->prof[PROF_FORWARD] += c2 - c1;
    t->prof[PROF_LOSS] += c3 - c2;
    t->prof[PROF_BACKWARD] += train_clock() - c3;
    torch_free(dst);
    loss_output_free(&lo);
    model_output_free(&mo);
    batch_free(&b);
    return st;
}

/* The batch's gradient from every rank's partial sums (all: the received ones, or this rank's own on
 * one rank), added to the accumulated gradients, bucket by bucket. */
static yolo_status micro_add_gradient(const trainer *t, train_micro *mb, const torch_tensor *all,
                                      int present) {
    yolo_status st = YOLO_OK;
    /* the gradients are views of one vector (restored ones copied in): one addition reaches them all */
    if (!tt_grads_are_flat(mb->params, mb->nparams, mb->grads))
        st = tt_grads_alias_flat(mb->params, mb->nparams, mb->grads);
    for (int b = 0; st == YOLO_OK && b < mb->nb; b++) {
        mb_values got = {0};
        int64_t len = mb->b_len[b];
        for (int r = 0; st == YOLO_OK && r < t->world; r++) {
            mb_node nodes[64];
            int nn = mb_rank_nodes(mb->M, t->world, r, nodes, 64);
            for (int j = 0; st == YOLO_OK && j < nn && got.n < 64; j++) {
                if (nodes[j].lo >= present) continue;
                got.node[got.n] = nodes[j];
                st = part(all, bucket_at(mb, t->world, b) + ((int64_t)r * mb->nodes_max + j) * len, len,
                          &got.val[got.n++]);
            }
        }
        torch_tensor *g = NULL, *dst = NULL;
        if (st == YOLO_OK) st = mb_tree_sum((mb_node){0, mb->M}, present, mb_values_get, &got, &g);
        if (st == YOLO_OK) st = part(mb->grads, mb->b_off[b], len, &dst);
        if (st == YOLO_OK) st = torch_add_(dst, g, 1.0);
        torch_free(g), torch_free(dst);
        mb_values_free(&got);
    }
    return st;
}

yolo_status train_step_micro(trainer *t, stream_sample *v, int n, int n_all, int epoch, int64_t ni,
                             int64_t nw, float *items, int *nitems, batch_t *shown, bool *stop) {
    yolo_status st;
    if (!t->mb && (st = micro_init(t, &t->mb)) != YOLO_OK) return st;
    train_micro *mb = t->mb;
    double s0 = train_clock();
    train_warmup(t, epoch, ni, nw);
    model_set_training(t->m, true);
    int present = mb_count(n_all, t->micro);
    float *head = malloc(sizeof(float) * (size_t)mb->off_stats);
    if (!head) return yolo_nomem();
    memset(head, 0, sizeof(float) * (size_t)mb->off_stats);
    head[0] = t->o.interrupt && *t->o.interrupt ? 1.0f : 0.0f;
    st = YOLO_OK;
    /* the buckets start while the last micro-batch's backward pass runs: the patience first */
    if (t->world > 1) train_dist_patience(t, mb->long_wait);
    mb->b_next = mb->nb - 1;
    memcpy(mb->b_left, mb->b_params, sizeof(int) * (size_t)mb->nb);
    int leaves = (n + t->micro - 1) / t->micro;
    /* libtorch would send the 1x1 convolutions of micro-batches under 16 images at one thread to its
     * slow native kernels: a micro-batch runs on oneDNN, whatever its size */
    bool onednn_was = torch_set_conv_onednn(true);
    for (int k = 0; st == YOLO_OK && k < leaves; k++) {
        int nk = n - k * t->micro < t->micro ? n - k * t->micro : t->micro;
        st = micro_leaf(t, mb, k, k == leaves - 1, present, v + (size_t)k * t->micro, nk, epoch, ni,
                        head + 1 + k * LEAF_HEAD, shown);
    }
    torch_set_conv_onednn(onednn_was);
    double c0 = train_clock();
    if (st == YOLO_OK) st = micro_send_ready(t, mb, present, true);
    torch_tensor *dst = NULL;
    if (st == YOLO_OK) st = part(mb->hsend, 0, mb->off_stats, &dst);
    if (st == YOLO_OK) st = torch_copy_in(dst, head, TORCH_F32, mb->off_stats);
    torch_free(dst);
    free(head);
    double c1 = train_clock();
    if (st == YOLO_OK && t->world > 1) {
        if (!mb->long_wait && c0 - s0 > mb->step_max) mb->step_max = c0 - s0;
        st = dist_allgather(t->o.group, mb->hsend, mb->hrecv);
        mb->long_wait = false;
    }
    yolo_status waited = micro_wait_all(mb);
    if (st == YOLO_OK) st = waited;
    t->prof[PROF_BACKWARD] += c1 - c0;
    t->prof[PROF_COMM] += train_clock() - c1;
    if (st != YOLO_OK) return st;
    const torch_tensor *all = t->world > 1 ? mb->hrecv : mb->hsend;
    /* every rank's flags, items and statistics, in rank order: micro-batches in order */
    st = torch_copy_out(all, TORCH_F32, mb->head, mb->head_len * t->world);
    if (st != YOLO_OK) return st;
    double c2 = train_clock();
    float *stats = malloc(sizeof(float) * (size_t)(present ? present : 1) * (size_t)mb->S);
    if (!stats) return yolo_nomem();
    float sum[ITEMS] = {0};
    shown->n_inst = 0;
    *stop = false;
    for (int m = 0; m < mb->M; m++) {
        const float *rank_head = mb->head + (size_t)(m / mb->K) * mb->head_len;
        if (m % mb->K == 0 && rank_head[0] != 0) *stop = true;
        if (m >= present) continue;
        const float *leaf = rank_head + 1 + (m % mb->K) * LEAF_HEAD;
        for (int q = 0; q < ITEMS; q++)
            sum[q] += leaf[q];
        shown->n_inst += (int)leaf[ITEMS];
        memcpy(stats + (size_t)m * mb->S, rank_head + mb->off_stats + (size_t)(m % mb->K) * mb->S,
               sizeof(float) * (size_t)mb->S);
    }
    *nitems = train_n_losses(t);
    for (int q = 0; q < ITEMS; q++)
        items[q] = sum[q] / (float)present;
    st = model_bn_update(t->m, stats, present);
    free(stats);
    if (st == YOLO_OK) st = micro_add_gradient(t, mb, t->world > 1 ? mb->recv : mb->send, present);
    t->prof[PROF_BACKWARD] += train_clock() - c2;
    if (st != YOLO_OK) return st;
    return train_optimizer_step(t, ni, train_clock());
}
