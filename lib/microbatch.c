/* Micro-batches and their fixed summation tree (see include/yolo/microbatch.h). */
#include "yolo/microbatch.h"

#include <stdbool.h>

int mb_count(int64_t n, int micro) {
    return n <= 0 || micro <= 0 ? 0 : (int)((n + micro - 1) / micro);
}

void mb_split(mb_node n, mb_node *left, mb_node *right) {
    int mid = n.lo + (n.hi - n.lo) / 2;
    *left = (mb_node){n.lo, mid};
    *right = (mb_node){mid, n.hi};
}

/* The largest nodes under n inside [a, b), left to right. */
static void cover(mb_node n, int a, int b, mb_node *out, int cap, int *k) {
    if (n.hi <= a || n.lo >= b) return;
    if (n.lo >= a && n.hi <= b) {
        if (*k < cap) out[*k] = n;
        (*k)++;
        return;
    }
    mb_node l, r;
    mb_split(n, &l, &r);
    cover(l, a, b, out, cap, k);
    cover(r, a, b, out, cap, k);
}

int mb_rank_nodes(int M, int world, int rank, mb_node *out, int cap) {
    if (M < 1 || world < 1 || M % world || rank < 0 || rank >= world) return 0;
    int per = M / world, k = 0;
    cover((mb_node){0, M}, rank * per, (rank + 1) * per, out, cap, &k);
    return k;
}

int mb_max_nodes(int M, int world) {
    int most = 0;
    for (int r = 0; r < world; r++) {
        int k = mb_rank_nodes(M, world, r, NULL, 0);
        if (k > most) most = k;
    }
    return most;
}

yolo_status mb_tree_sum(mb_node n, int present, mb_value_fn value, void *ctx, torch_tensor **out) {
    if (n.lo >= present || n.hi <= n.lo)
        return yolo_error(YOLO_ERR_USAGE, "micro-batch sum: node [%d, %d) holds no micro-batch", n.lo, n.hi);
    const torch_tensor *v = value(ctx, n);
    if (v) return torch_alias(v, out);
    if (n.hi - n.lo == 1)
        return yolo_error(YOLO_ERR_USAGE, "micro-batch sum: no value for micro-batch %d", n.lo);
    mb_node l, r;
    mb_split(n, &l, &r);
    if (r.lo >= present) return mb_tree_sum(l, present, value, ctx, out);
    torch_tensor *a = NULL, *b = NULL;
    yolo_status st = mb_tree_sum(l, present, value, ctx, &a);
    if (st == YOLO_OK) st = mb_tree_sum(r, present, value, ctx, &b);
    if (st == YOLO_OK) st = torch_add(a, b, out);
    torch_free(a);
    torch_free(b);
    return st;
}

const torch_tensor *mb_values_get(void *ctx, mb_node n) {
    const mb_values *tb = ctx;
    for (int i = 0; i < tb->n; i++)
        if (tb->node[i].lo == n.lo && tb->node[i].hi == n.hi) return tb->val[i];
    return NULL;
}

void mb_values_free(mb_values *tb) {
    for (int i = 0; i < tb->n; i++)
        torch_free(tb->val[i]);
    tb->n = 0;
}
