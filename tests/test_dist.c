/* Process groups (include/yolo/dist.h) between real processes: each scenario forks its ranks, which
 * meet at a TCPStore on 127.0.0.1 (a free port) or at a FileStore in a temporary folder, run
 * collectives and check what they get; and the failures: a killed peer, a stopped peer, a rank that
 * never comes, a port already taken, bad options. Each rank's checks print their own TAP lines; the
 * parent checks how each rank ended and how long it took. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "yolo/dist.h"
#include "yolo/torch.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A port nobody listens on right now (the kernel's pick for port 0). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

typedef struct {
    const char *name;
    int world;
    int port;         /* TCPStore on 127.0.0.1:port, or */
    const char *file; /* a FileStore */
    double timeout_s;
    int skip_rank; /* this rank is never started (-1: all are) */
} scenario;

static void opts_for(const scenario *sc, int rank, dist_opts *o) {
    dist_opts_default(o);
    o->rank = rank, o->world = sc->world, o->timeout_s = sc->timeout_s;
    if (sc->file)
        o->file = sc->file;
    else if (sc->port)
        o->addr = "127.0.0.1", o->port = sc->port;
}

/* Forks the ranks of sc, each running body(sc, rank) as its whole life (its exit status: 0 when its
 * checks passed). status[r] receives what waitpid says; secs[r] when the rank ended. */
static void run_ranks(const scenario *sc, int (*body)(const scenario *, int), int *status, double *secs) {
    pid_t pid[8];
    double t0 = now_s();
    fflush(stdout);
    for (int r = 0; r < sc->world; r++) {
        pid[r] = -1;
        if (r == sc->skip_rank) continue;
        pid[r] = fork();
        if (pid[r] == 0) {
            tap_failures = 0;
            int rc = body(sc, r);
            fflush(stdout);
            _exit(rc);
        }
    }
    for (int r = 0; r < sc->world; r++) {
        status[r] = -1, secs[r] = 0;
        if (pid[r] <= 0) continue;
        waitpid(pid[r], &status[r], 0);
        secs[r] = now_s() - t0;
    }
}

static bool exited_ok(int status) {
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- the collectives ---- */

static int body_collectives(const scenario *sc, int rank) {
    dist_opts o;
    opts_for(sc, rank, &o);
    dist_group *g = NULL;
    yolo_status st = dist_init(&o, &g);
    CHECK(st == YOLO_OK, "%s: rank %d joined (%s)", sc->name, rank, st ? yolo_last_error() : "ok");
    if (st) return 1;
    CHECK(dist_rank(g) == rank && dist_world(g) == sc->world, "%s: rank %d knows its rank and the world",
          sc->name, rank);
    CHECK(dist_local_world(g) == sc->world, "%s: rank %d finds all %d ranks on this machine (%d)", sc->name,
          rank, sc->world, dist_local_world(g));
    int W = sc->world;
    /* allgather: each rank sends three values that name it */
    float mine[3] = {(float)rank, 10.0f + rank, -0.5f * rank}, all[3 * 8];
    int64_t s3[1] = {3}, sall[1] = {3 * W};
    torch_tensor *in = NULL, *out = NULL, *sum = NULL, *bc = NULL;
    st = torch_from_data(mine, TORCH_F32, 1, s3, &in);
    if (!st) st = torch_zeros(1, sall, TORCH_F32, TORCH_CPU, &out);
    if (!st) st = dist_allgather(g, in, out);
    if (!st) st = torch_copy_out(out, TORCH_F32, all, 3 * W);
    bool ok = st == YOLO_OK;
    for (int r = 0; ok && r < W; r++)
        ok = all[3 * r] == r && all[3 * r + 1] == 10.0f + r && all[3 * r + 2] == -0.5f * r;
    CHECK(ok, "%s: rank %d gathered every rank's values in rank order (%s)", sc->name, rank,
          st ? yolo_last_error() : "ok");
    /* two allgathers started before either is waited for, with work between: each ends with its own
     * values, in rank order */
    {
        torch_tensor *in2 = NULL, *out2 = NULL, *big = NULL;
        dist_work *w1 = NULL, *w2 = NULL;
        float two[3] = {100.0f + rank, 200.0f + rank, 300.0f + rank}, got1[3 * 8], got2[3 * 8];
        int64_t sb[1] = {1 << 20};
        st = torch_from_data(two, TORCH_F32, 1, s3, &in2);
        if (!st) st = torch_zeros(1, sall, TORCH_F32, TORCH_CPU, &out2);
        torch_free(out); /* the first allgather's, checked above */
        out = NULL;
        if (!st) st = torch_zeros(1, sall, TORCH_F32, TORCH_CPU, &out);
        if (!st) st = dist_allgather_start(g, in, out, &w1);
        if (!st) st = dist_allgather_start(g, in2, out2, &w2);
        if (!st) st = torch_ones(1, sb, TORCH_F32, TORCH_CPU, &big); /* the caller computes meanwhile */
        yolo_status s1st = dist_wait(w1), s2st = dist_wait(w2);
        if (!st) st = s1st ? s1st : s2st;
        if (!st) st = torch_copy_out(out, TORCH_F32, got1, 3 * W);
        if (!st) st = torch_copy_out(out2, TORCH_F32, got2, 3 * W);
        ok = st == YOLO_OK;
        for (int r = 0; ok && r < W; r++)
            ok = got1[3 * r] == r && got1[3 * r + 2] == -0.5f * r && got2[3 * r] == 100.0f + r &&
                 got2[3 * r + 2] == 300.0f + r;
        CHECK(ok, "%s: rank %d: two allgathers under way at once each gathered their own values (%s)",
              sc->name, rank, st ? yolo_last_error() : "ok");
        CHECK(dist_wait(NULL) == YOLO_OK, "%s: rank %d: waiting for nothing is fine", sc->name, rank);
        torch_free(in2), torch_free(out2), torch_free(big);
    }
    /* a wrong output size is the caller's mistake, not the group's */
    torch_tensor *small = NULL;
    int64_t s_short[1] = {3 * W - 1};
    st = torch_zeros(1, s_short, TORCH_F32, TORCH_CPU, &small);
    yolo_status bad = st ? st : dist_allgather(g, in, small);
    CHECK(bad == YOLO_ERR_USAGE && strstr(yolo_last_error(), "world x input"),
          "%s: rank %d: a short output is refused (%s)", sc->name, rank, yolo_last_error());
    dist_work *none = NULL;
    bad = st ? st : dist_allgather_start(g, in, small, &none);
    CHECK(bad == YOLO_ERR_USAGE && !none && strstr(yolo_last_error(), "world x input"),
          "%s: rank %d: a short output is refused when started too (%s)", sc->name, rank, yolo_last_error());
    torch_free(small);
    /* allreduce: 1 + 2 + ... */
    double v = 0;
    int64_t s1[1] = {1};
    float one = (float)(rank + 1);
    st = torch_from_data(&one, TORCH_F32, 1, s1, &sum);
    if (!st) st = dist_allreduce_sum(g, sum);
    if (!st) st = torch_item(sum, &v);
    CHECK(st == YOLO_OK && v == W * (W + 1) / 2.0, "%s: rank %d: allreduce sums to %g (%s)", sc->name, rank,
          v, st ? yolo_last_error() : "ok");
    /* broadcast from the last rank */
    int64_t payload = rank == W - 1 ? 424242 : -1;
    st = torch_from_data(&payload, TORCH_I64, 1, s1, &bc);
    if (!st) st = dist_broadcast(g, bc, W - 1);
    if (!st) st = torch_item(bc, &v);
    CHECK(st == YOLO_OK && v == 424242, "%s: rank %d: broadcast from rank %d arrived (%g)", sc->name, rank,
          W - 1, v);
    st = dist_barrier(g);
    CHECK(st == YOLO_OK, "%s: rank %d passed the barrier", sc->name, rank);
    CHECK(dist_seconds(g) > 0, "%s: rank %d: time in collectives is counted (%.4f s)", sc->name, rank,
          dist_seconds(g));
    torch_free(in), torch_free(out), torch_free(sum), torch_free(bc);
    dist_free(g);
    return tap_failures ? 1 : 0;
}

/* ---- faults ---- */

/* The rank's group, or NULL after a "not ok" line. */
static dist_group *join(const scenario *sc, int rank) {
    dist_opts o;
    opts_for(sc, rank, &o);
    dist_group *g = NULL;
    if (dist_init(&o, &g) != YOLO_OK)
        printf("not ok - %s: rank %d could not join: %s\n", sc->name, rank, yolo_last_error());
    return g;
}

/* A one-element input and the two-element output an allgather of two ranks fills. */
static yolo_status one_and_two(torch_tensor **in, torch_tensor **out) {
    int64_t s1[1] = {1}, s2[1] = {2};
    yolo_status st = torch_ones(1, s1, TORCH_F32, TORCH_CPU, in);
    return st ? st : torch_zeros(1, s2, TORCH_F32, TORCH_CPU, out);
}

/* Rank 1 dies by SIGKILL after the first allgather; rank 0's next one must fail at once, saying why,
 * and every later call must fail the same way. */
static int body_killed_peer(const scenario *sc, int rank) {
    dist_group *g = join(sc, rank);
    if (!g) return 1;
    torch_tensor *in = NULL, *out = NULL;
    yolo_status st = one_and_two(&in, &out);
    if (!st) st = dist_allgather(g, in, out);
    if (rank == 1) raise(SIGKILL);
    CHECK(st == YOLO_OK, "%s: the first allgather worked", sc->name);
    double t0 = now_s();
    st = dist_allgather(g, in, out);
    double took = now_s() - t0;
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "allgather: a rank went away"),
          "%s: rank 0's allgather fails when rank 1 is killed: %s", sc->name, yolo_last_error());
    CHECK(took < 5, "%s: ... in %.2f s, not after the %g s timeout", sc->name, took, sc->timeout_s);
    char first[300];
    snprintf(first, sizeof first, "%s", yolo_last_error());
    st = dist_barrier(g);
    CHECK(st == YOLO_ERR_IO && !strcmp(first, yolo_last_error()), "%s: a broken group stays broken: %s",
          sc->name, yolo_last_error());
    torch_free(in), torch_free(out);
    dist_free(g);
    return tap_failures ? 1 : 0;
}

/* Rank 1 stops (SIGSTOP, as a hung host would) after joining; rank 0's barrier gives up after the
 * group's timeout. */
static int body_stopped_peer(const scenario *sc, int rank) {
    dist_group *g = join(sc, rank);
    if (!g) return 1;
    if (rank == 1) raise(SIGSTOP);
    dist_set_timeout(g, 1.5);
    torch_tensor *in = NULL, *out = NULL;
    yolo_status st = one_and_two(&in, &out);
    double t0 = now_s();
    if (!st) st = dist_allgather(g, in, out);
    double took = now_s() - t0;
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "no answer from the other ranks within 1.5 s"),
          "%s: an allgather with a stopped rank fails: %s", sc->name, yolo_last_error());
    CHECK(took > 1.2 && took < 10, "%s: ... after the 1.5 s timeout (%.2f s)", sc->name, took);
    torch_free(in), torch_free(out);
    dist_free(g);
    return tap_failures ? 1 : 0;
}

/* Only rank 0 comes: the rendezvous gives up after the timeout, naming the address. */
static int body_alone(const scenario *sc, int rank) {
    dist_opts o;
    opts_for(sc, rank, &o);
    dist_group *g = NULL;
    double t0 = now_s();
    yolo_status st = dist_init(&o, &g);
    double took = now_s() - t0;
    CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "rendezvous") &&
              strchr(yolo_last_error(), '\n') == NULL,
          "%s: rank %d alone: the rendezvous fails in one line: %s", sc->name, rank, yolo_last_error());
    CHECK(took < 15, "%s: ... within %.2f s (timeout %g s)", sc->name, took, sc->timeout_s);
    dist_free(g);
    return tap_failures ? 1 : 0;
}

static void check_ranks(const scenario *sc, const int *status, const double *secs) {
    for (int r = 0; r < sc->world; r++) {
        if (r == sc->skip_rank) continue;
        CHECK(exited_ok(status[r]), "%s: rank %d ended well (status 0x%x, %.2f s)", sc->name, r, status[r],
              secs[r]);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/test_dist.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("not ok - mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char store_file[64];
    int status[8];
    double secs[8];

    /* usage errors need no peers */
    {
        dist_opts o;
        dist_opts_default(&o);
        dist_group *g = NULL;
        o.rank = 2, o.world = 2, o.addr = "127.0.0.1", o.port = 29500;
        CHECK(dist_init(&o, &g) == YOLO_ERR_USAGE && strstr(yolo_last_error(), "0..world-1"),
              "rank 2 of 2 is refused: %s", yolo_last_error());
        o.rank = 0, o.addr = NULL;
        CHECK(dist_init(&o, &g) == YOLO_ERR_USAGE && strstr(yolo_last_error(), "MASTER_ADDR"),
              "world 2 without a rendezvous is refused: %s", yolo_last_error());
        o.addr = "127.0.0.1", o.port = 70000;
        CHECK(dist_init(&o, &g) == YOLO_ERR_USAGE && strstr(yolo_last_error(), "port"),
              "port 70000 is refused: %s", yolo_last_error());
        CHECK(g == NULL, "no group after a refusal");
    }

    snprintf(store_file, sizeof store_file, "%s/store2", dir);
    scenario file2 = {"FileStore world 2", 2, 0, store_file, 30, -1};
    run_ranks(&file2, body_collectives, status, secs);
    check_ranks(&file2, status, secs);

    scenario tcp3 = {"TCPStore world 3", 3, free_port(), NULL, 30, -1};
    run_ranks(&tcp3, body_collectives, status, secs);
    check_ranks(&tcp3, status, secs);

    scenario one = {"world 1", 1, 0, NULL, 30, -1};
    run_ranks(&one, body_collectives, status, secs);
    check_ranks(&one, status, secs);

    scenario kill2 = {"killed peer", 2, free_port(), NULL, 30, -1};
    run_ranks(&kill2, body_killed_peer, status, secs);
    CHECK(exited_ok(status[0]), "%s: rank 0 ended well (%.2f s)", kill2.name, secs[0]);
    CHECK(WIFSIGNALED(status[1]) && WTERMSIG(status[1]) == SIGKILL, "%s: rank 1 was killed", kill2.name);

    scenario stop2 = {"stopped peer", 2, free_port(), NULL, 30, -1};
    {
        /* rank 0 gives up on its own; then the stopped rank is ended */
        fflush(stdout);
        pid_t p[2];
        for (int r = 0; r < 2; r++)
            if ((p[r] = fork()) == 0) {
                tap_failures = 0;
                _exit(body_stopped_peer(&stop2, r));
            }
        int s0 = -1, s1 = -1;
        waitpid(p[0], &s0, 0);
        kill(p[1], SIGKILL);
        waitpid(p[1], &s1, 0);
        CHECK(exited_ok(s0), "%s: rank 0 ended well", stop2.name);
    }

    scenario alone = {"rank 1 never comes", 2, free_port(), NULL, 2, 1};
    run_ranks(&alone, body_alone, status, secs);
    check_ranks(&alone, status, secs);

    /* the rendezvous port is taken: rank 0 cannot serve it */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
        socklen_t len = sizeof a;
        int port = -1;
        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
            port = ntohs(a.sin_port);
        scenario taken = {"port taken", 2, port, NULL, 2, 1};
        pid_t p = fork();
        if (p == 0) {
            tap_failures = 0;
            dist_opts o;
            opts_for(&taken, 0, &o);
            dist_group *g = NULL;
            yolo_status st = dist_init(&o, &g);
            CHECK(st == YOLO_ERR_IO && strstr(yolo_last_error(), "MASTER_PORT"),
                  "%s: rank 0 says the port is in use: %s", taken.name, yolo_last_error());
            fflush(stdout);
            _exit(tap_failures ? 1 : 0);
        }
        int s = -1;
        waitpid(p, &s, 0);
        CHECK(exited_ok(s), "%s: rank 0 ended well", taken.name);
        if (fd >= 0) close(fd);
    }

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    TAP_DONE();
}
