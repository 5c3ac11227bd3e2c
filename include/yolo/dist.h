/* Process groups for data-parallel training: a thin C API over libtorch's c10d (torch.distributed's
 * engine). Gloo carries the collectives between CPU processes, on one machine or several; in a CUDA
 * build that has it, NCCL carries them between GPUs. The rendezvous is a c10d store: a TCPStore served
 * by rank 0 (MASTER_ADDR:MASTER_PORT, as torchrun), or a FileStore on a file system all ranks share.
 *
 * Failure: a collective that cannot complete fails instead of hanging. A peer that dies (killed, out
 * of memory) closes its sockets and the collective fails at once; a peer that stops answering (a lost
 * host, a stopped process) fails it after the timeout. The message is one line ("allgather: rank 1 went
 * away (...)"), the status YOLO_ERR_IO; a group that failed once fails every later call.
 *
 * Every call of a group must be made by every rank, in the same order, with tensors of the same size
 * (c10d's rule). The functions are not thread-safe: one thread per group. */
#ifndef YOLO_DIST_H
#define YOLO_DIST_H

#include <stdbool.h>

#include "yolo/status.h"
#include "yolo/torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dist_group dist_group;

typedef struct {
    int rank;         /* 0 .. world-1 */
    int world;        /* number of ranks, >= 1 */
    const char *addr; /* rendezvous host: rank 0 serves the store at addr:port, the others connect */
    int port;         /* 1..65535 */
    const char *file; /* instead of addr:port, a FileStore at this path (a file system every rank sees) */
    double timeout_s; /* waiting for the others: at the rendezvous and in each collective (> 0) */
    torch_device dev; /* TORCH_CPU: Gloo; a CUDA device: NCCL (a CUDA build with NCCL only) */
} dist_opts;

/* rank 0, world 1, no rendezvous, 30 s, CPU. */
void dist_opts_default(dist_opts *o);

/* Joins the group: waits for all world ranks at the rendezvous (up to timeout_s), then connects them.
 * YOLO_ERR_USAGE for bad options; YOLO_ERR_IO when the rendezvous fails (one line naming addr:port or
 * the file and what went wrong: nobody answered, the port is taken, ...). Each rank binds Gloo to the
 * address it reaches the rendezvous host from (GLOO_SOCKET_IFNAME names an interface instead). */
yolo_status dist_init(const dist_opts *o, dist_group **out);
/* Leaves the group (NULL is fine). */
void dist_free(dist_group *g);

int dist_rank(const dist_group *g);
int dist_world(const dist_group *g);
/* The ranks on this rank's machine, itself included: those at the same address (network namespaces
 * count as machines of their own), found through the store when the group was made. */
int dist_local_world(const dist_group *g);
/* The timeout of the collectives from now on (seconds > 0). */
void dist_set_timeout(dist_group *g, double timeout_s);
/* Seconds spent waiting in collectives since dist_init (wall time of the calls). */
double dist_seconds(const dist_group *g);

/* Every rank's `in` (contiguous, the same dtype and element count on every rank) into `out`, rank after
 * rank: out must be contiguous, of in's dtype, with world x numel(in) elements. `in` may be this rank's
 * own place in `out` (nothing is copied then). */
yolo_status dist_allgather(dist_group *g, const torch_tensor *in, torch_tensor *out);
/* A collective under way (dist_allgather_start), until dist_wait. */
typedef struct dist_work dist_work;
/* dist_allgather, started: returns at once with *w, and the exchange goes on in the backend's threads
 * while the caller computes. in and out must stay untouched until dist_wait(*w). Collectives run in
 * the order they were started, which must be the same on every rank. */
yolo_status dist_allgather_start(dist_group *g, const torch_tensor *in, torch_tensor *out, dist_work **w);
/* Waits for a started collective to end (with the group's timeout) and frees w (NULL is fine). */
yolo_status dist_wait(dist_work *w);
/* t = the sum of every rank's t, in place (the summation order is the backend's own). */
yolo_status dist_allreduce_sum(dist_group *g, torch_tensor *t);
/* root's t into every rank's t (same dtype and numel everywhere). */
yolo_status dist_broadcast(dist_group *g, torch_tensor *t, int root);
/* Returns when every rank has called it. */
yolo_status dist_barrier(dist_group *g);

#ifdef __cplusplus
}
#endif
#endif
