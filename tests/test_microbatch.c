/* The micro-batch tree (include/yolo/microbatch.h): which subtrees each rank sums, and that summing
 * through them gives the same bits on every world size that divides the micro-batches, including a
 * short last batch; while a plain left-to-right sum of the same values gives other bits (so the check
 * can tell orders apart). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "yolo/microbatch.h"
#include "yolo/torch.h"

#define P 4096
#define MAXM 12

/* Values that do not add associatively: magnitudes over 2^-20 .. 2^20, both signs. */
static float value_at(int leaf, int i) {
    uint32_t h = (uint32_t)(leaf * 2654435761u) ^ (uint32_t)(i * 40503u + 17u);
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    float m = (float)(h & 0xffff) / 65536.0f + 0.5f;
    int e = (int)((h >> 16) % 41) - 20;
    return ((h >> 31) ? -1.0f : 1.0f) * ldexpf(m, e);
}

/* The tree sum over M micro-batches (present of them non-empty) as world ranks compute it: each its
 * own subtrees from its leaves, then every node they sent, finished into the root. */
static yolo_status world_sum(torch_tensor *const *leaves, int M, int present, int world, float *out) {
    mb_values gathered = {.n = 0};
    yolo_status st = YOLO_OK;
    for (int r = 0; r < world && st == YOLO_OK; r++) {
        mb_node mine[16];
        int k = mb_rank_nodes(M, world, r, mine, 16);
        mb_values local = {.n = 0};
        for (int m = 0; m < M; m++) {
            if (m < r * (M / world) || m >= (r + 1) * (M / world) || m >= present) continue;
            local.node[local.n] = (mb_node){m, m + 1};
            torch_alias(leaves[m], &local.val[local.n++]);
        }
        for (int j = 0; j < k && st == YOLO_OK; j++) {
            if (mine[j].lo >= present) continue; /* nothing to send for empty micro-batches */
            torch_tensor *v = NULL;
            st = mb_tree_sum(mine[j], present, mb_values_get, &local, &v);
            gathered.node[gathered.n] = mine[j];
            gathered.val[gathered.n++] = v;
        }
        mb_values_free(&local);
    }
    torch_tensor *root = NULL;
    if (st == YOLO_OK) st = mb_tree_sum((mb_node){0, M}, present, mb_values_get, &gathered, &root);
    if (st == YOLO_OK) st = torch_copy_out(root, TORCH_F32, out, P);
    torch_free(root);
    mb_values_free(&gathered);
    return st;
}

int main(void) {
    CHECK(mb_count(16, 8) == 2 && mb_count(10, 8) == 2 && mb_count(6, 8) == 1 && mb_count(0, 8) == 0 &&
              mb_count(16, 16) == 1,
          "micro-batches in a batch: 16/8 -> 2, 10/8 -> 2, 6/8 -> 1, 0 -> 0");

    mb_node n[16];
    int k = mb_rank_nodes(8, 2, 1, n, 16);
    CHECK(k == 1 && n[0].lo == 4 && n[0].hi == 8, "M 8, world 2: rank 1 sums [4, 8) itself");
    k = mb_rank_nodes(8, 4, 1, n, 16);
    CHECK(k == 1 && n[0].lo == 2 && n[0].hi == 4, "M 8, world 4: rank 1 sums [2, 4)");
    k = mb_rank_nodes(6, 3, 1, n, 16);
    CHECK(k == 2 && n[0].lo == 2 && n[0].hi == 3 && n[1].lo == 3 && n[1].hi == 4,
          "M 6, world 3: rank 1's block [2, 4) straddles two subtrees: [2, 3) and [3, 4)");
    CHECK(mb_max_nodes(6, 3) == 2 && mb_max_nodes(8, 2) == 1 && mb_max_nodes(6, 2) == 1,
          "the most nodes a rank sends: M 6 world 3 -> 2, M 8 world 2 -> 1, M 6 world 2 -> 1");
    CHECK(mb_rank_nodes(6, 4, 0, n, 16) == 0, "a world that does not divide the micro-batches gets no nodes");

    static const struct {
        int M, present;
        int worlds[5];
    } cases[] = {
        {8, 8, {1, 2, 4, 8, 0}}, {8, 5, {1, 2, 4, 8, 0}}, {6, 6, {1, 2, 3, 6, 0}}, {12, 7, {1, 2, 3, 4, 6}}};
    static float ref[P], got[P], fold[P];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int M = cases[c].M, present = cases[c].present;
        torch_tensor *leaves[MAXM] = {0};
        static float buf[P];
        int64_t shape[1] = {P};
        for (int m = 0; m < M; m++) {
            for (int i = 0; i < P; i++)
                buf[i] = value_at(m, i);
            torch_from_data(buf, TORCH_F32, 1, shape, &leaves[m]);
        }
        yolo_status st = world_sum(leaves, M, present, 1, ref);
        CHECK(st == YOLO_OK, "M %d (%d non-empty): the sum on one rank (%s)", M, present,
              st ? yolo_last_error() : "ok");
        for (int w = 1; w < 5 && cases[c].worlds[w]; w++) {
            int W = cases[c].worlds[w];
            st = world_sum(leaves, M, present, W, got);
            CHECK(st == YOLO_OK && !memcmp(got, ref, sizeof ref),
                  "M %d (%d non-empty): world %d gives the same bits", M, present, W);
        }
        /* the same values summed left to right: other bits */
        memset(fold, 0, sizeof fold);
        for (int i = 0; i < P; i++) {
            float s = value_at(0, i);
            for (int m = 1; m < present; m++)
                s += value_at(m, i);
            fold[i] = s;
        }
        int differ = 0;
        for (int i = 0; i < P; i++)
            differ += fold[i] != ref[i];
        CHECK(present < 3 || differ > 0,
              "M %d (%d non-empty): a left-to-right sum differs in %d of %d values", M, present, differ, P);
        for (int m = 0; m < M; m++)
            torch_free(leaves[m]);
    }
    TAP_DONE();
}
