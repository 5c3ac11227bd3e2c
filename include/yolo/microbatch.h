/* Micro-batches: the fixed unit of data-parallel work, and the fixed tree that sums over them.
 *
 * A run fixes its micro-batch size when it starts (batch / world size). Each batch of the epoch splits
 * into M = batch / micro micro-batches, in sample order (the last batch of an epoch may be short: its
 * micro-batches fill in order, and those past its end are empty). Each rank of a world of W trains the
 * contiguous block of M / W micro-batches numbered rank * M / W onwards.
 *
 * Sums over the micro-batches of a batch (the gradients) go through one binary tree over the indices
 * 0 .. M-1, the same whatever the world size: a node [lo, hi) is the sum of its halves [lo, mid) and
 * [mid, hi), mid = lo + (hi - lo) / 2, a leaf [m, m+1) is micro-batch m's own value, and a node whose
 * right half holds only empty micro-batches is its left half. Each rank sums the largest subtrees that
 * lie inside its block on its own; the ranks exchange those partial sums; every rank finishes the tree
 * from them. Floating-point addition is not associative, but every addition here has the same two
 * operands whatever W is, so the result is the same to the bit on 1, 2, 4 ... ranks. */
#ifndef YOLO_MICROBATCH_H
#define YOLO_MICROBATCH_H

#include <stdint.h>

#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sum over micro-batches lo .. hi-1. */
typedef struct {
    int lo, hi;
} mb_node;

/* Non-empty micro-batches in a batch of n samples (the last may be short). */
int mb_count(int64_t n, int micro);
/* The halves of a node of two or more leaves. */
void mb_split(mb_node n, mb_node *left, mb_node *right);
/* The subtrees that rank sums on its own, left to right: the largest nodes of the tree over [0, M)
 * that lie inside its block (M divisible by world). Returns their count; writes up to cap of them. */
int mb_rank_nodes(int M, int world, int rank, mb_node *out, int cap);
/* The most nodes any rank has (mb_rank_nodes), so that every rank can send the same amount. */
int mb_max_nodes(int M, int world);

/* Where node values come from: a tensor for a node that is known as a whole (a leaf, or a partial sum
 * received from a rank), NULL for one to be summed from its halves. */
typedef const torch_tensor *(*mb_value_fn)(void *ctx, mb_node n);
/* The sum of node n over its first `present` leaves (micro-batches 0 .. present-1 are non-empty;
 * n.lo < present), by the fixed tree: *out receives a new handle (it may share the memory of a value
 * from `value`). YOLO_ERR_USAGE when a leaf has no value. */
yolo_status mb_tree_sum(mb_node n, int present, mb_value_fn value, void *ctx, torch_tensor **out);

/* A table of known node values (leaves, partial sums received): mb_values_get is its mb_value_fn. The
 * table owns its handles; mb_values_free releases them and empties it. */
typedef struct {
    int n;
    mb_node node[64];
    torch_tensor *val[64];
} mb_values;
const torch_tensor *mb_values_get(void *ctx, mb_node n);
void mb_values_free(mb_values *tb);

#ifdef __cplusplus
}
#endif
#endif
