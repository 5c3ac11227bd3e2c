/* Trainer server and its client (see include/yolo/serve.h). */
#include "yolo/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum {
    REQUEST_MAGIC = 0x31455459, /* "YTE1" */
    REQUEST_MAX = 16 << 20,     /* bytes: argv and environment together */
    MAX_FDS = 4,                /* 0, 1, 2 and YOLO_LOCK_FD */
    HIGH_FD = 100,              /* where received descriptors wait before going to their numbers */
    CONNECT_WAIT_S = 120,       /* how long a client waits for a server that is still starting */
    RECEIVE_TIMEOUT_S = 10,     /* a client that connects and stalls does not block the server */
};
enum { REPLY_PID = 'P', REPLY_REFUSED = 'R', REPLY_EXIT = 'X' };

/* The limits a served process takes over from its client (ulimit -v and -f matter to the tests of
 * out-of-memory and full-disk handling; the others so that nothing differs from an exec). */
static const struct {
    int resource;
    const char *name;
} LIMITS[] = {{RLIMIT_AS, "address space (ulimit -v)"},
              {RLIMIT_CORE, "core size"},
              {RLIMIT_CPU, "CPU time"},
              {RLIMIT_DATA, "data size"},
              {RLIMIT_FSIZE, "file size (ulimit -f)"},
              {RLIMIT_NOFILE, "open files"},
              {RLIMIT_STACK, "stack size"},
              {RLIMIT_MEMLOCK, "locked memory"}};
enum { NLIMITS = sizeof LIMITS / sizeof LIMITS[0] };

typedef struct {
    uint32_t kind;
    int32_t value;
    char text[248];
} reply;

/* ---- encoding ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    bool failed;
} wbuf;

static void put(wbuf *b, const void *d, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *q = cap <= REQUEST_MAX ? realloc(b->p, cap) : NULL;
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u64(wbuf *b, uint64_t v) {
    put(b, &v, sizeof v);
}
/* strings keep their NUL, so that the receiver can use them in place */
static void put_str(wbuf *b, const char *s) {
    size_t n = strlen(s) + 1;
    put_u64(b, n);
    put(b, s, n);
}

typedef struct {
    unsigned char *p;
    size_t n, at;
    bool bad;
} rbuf;

static const void *take(rbuf *r, size_t n) {
    if (r->bad || n > r->n - r->at) {
        r->bad = true;
        return NULL;
    }
    const void *q = r->p + r->at;
    r->at += n;
    return q;
}
static uint64_t take_u64(rbuf *r) {
    const void *q = take(r, sizeof(uint64_t));
    uint64_t v = 0;
    if (q) memcpy(&v, q, sizeof v);
    return v;
}
static char *take_str(rbuf *r) {
    uint64_t n = take_u64(r);
    char *s = n ? (char *)take(r, n) : NULL;
    if (!s || s[n - 1]) {
        r->bad = true;
        return NULL;
    }
    return s;
}

static bool write_all(int fd, const void *p, size_t n) {
    const unsigned char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w, n -= (size_t)w;
    }
    return true;
}

/* Reads exactly n bytes; false on end of file or error (EINTR, from a forwarded signal, is retried). */
static bool read_all(int fd, void *p, size_t n) {
    unsigned char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r, n -= (size_t)r;
    }
    return true;
}

/* The environment variables that are read once, when libraries load (libgomp's OMP_*, glibc's
 * tunables, the sanitizers' options, ...): a served process inherits the server's reading of them, so
 * the client's must be the same. */
static bool read_at_load(const char *kv) {
    static const char *const prefixes[] = {
        "OMP_",    "GOMP_",  "KMP_",     "MKL_",  "DNNL_",  "ONEDNN_", "OPENBLAS_", "LD_", "GLIBC_TUNABLES=",
        "MALLOC_", "TORCH_", "PYTORCH_", "ASAN_", "UBSAN_", "LSAN_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(kv, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Those variables of env, sorted, one per line (malloc'd; NULL when out of memory). */
static char *load_time_env(char **env, size_t n) {
    size_t k = 0, len = 1;
    const char **v = malloc((n + 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++)
        if (read_at_load(env[i])) v[k++] = env[i], len += strlen(env[i]) + 1;
    qsort(v, k, sizeof *v, cmp_str);
    char *s = malloc(len), *p = s;
    if (s) {
        for (size_t i = 0; i < k; i++)
            p += sprintf(p, "%s\n", v[i]);
        *p = 0;
    }
    free(v);
    return s;
}

/* ---- the request ---- */

typedef struct {
    int fds[MAX_FDS], targets[MAX_FDS], nfds;
    mode_t umask;
    pid_t pgid;
    int nice;
    struct rlimit limits[NLIMITS];
    uint64_t ignored, blocked; /* bit s-1: signal s */
    cpu_set_t cpus;
    bool have_cpus;
    char *cwd, **argv, **env;
    int argc, envc;
    rbuf body;
} request;

static void request_free(request *q) {
    for (int i = 0; i < q->nfds; i++)
        if (q->fds[i] >= 0) close(q->fds[i]);
    free(q->argv);
    free(q->env);
    free(q->body.p);
    memset(q, 0, sizeof *q);
}

static uint64_t sigbits_ignored(void) {
    uint64_t m = 0;
    for (int s = 1; s < 64 && s < NSIG; s++) {
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) m |= (uint64_t)1 << (s - 1);
    }
    return m;
}

static uint64_t sigbits_blocked(void) {
    sigset_t set;
    uint64_t m = 0;
    if (sigprocmask(SIG_BLOCK, NULL, &set) != 0) return 0;
    for (int s = 1; s < 64 && s < NSIG; s++)
        if (sigismember(&set, s) == 1) m |= (uint64_t)1 << (s - 1);
    return m;
}

/* The client's side: this process's invocation. */
static void encode_request(wbuf *b, int argc, char **argv, const int *targets, int nfds) {
    put_u64(b, (uint64_t)nfds);
    for (int i = 0; i < nfds; i++)
        put_u64(b, (uint64_t)targets[i]);
    mode_t um = umask(022);
    umask(um);
    put_u64(b, um);
    put_u64(b, (uint64_t)getpgrp());
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    put_u64(b, (uint64_t)(int64_t)(errno ? 0 : prio));
    for (int i = 0; i < NLIMITS; i++) {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        getrlimit(LIMITS[i].resource, &rl);
        put_u64(b, rl.rlim_cur);
        put_u64(b, rl.rlim_max);
    }
    put_u64(b, sigbits_ignored());
    put_u64(b, sigbits_blocked());
    cpu_set_t cpus;
    bool have = sched_getaffinity(0, sizeof cpus, &cpus) == 0;
    put_u64(b, have);
    put(b, &cpus, sizeof cpus);
    char cwd[4096];
    put_str(b, getcwd(cwd, sizeof cwd) ? cwd : "");
    put_u64(b, (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        put_str(b, argv[i]);
    size_t envc = 0;
    while (environ && environ[envc])
        envc++;
    put_u64(b, envc);
    for (size_t i = 0; i < envc; i++)
        put_str(b, environ[i]);
}

static bool decode_request(request *q) {
    rbuf *r = &q->body;
    uint64_t nf = take_u64(r);
    if (nf != (uint64_t)q->nfds) return false;
    for (int i = 0; i < q->nfds; i++) {
        uint64_t t = take_u64(r);
        if (t > 65535) return false;
        q->targets[i] = (int)t;
    }
    q->umask = (mode_t)take_u64(r) & 0777;
    q->pgid = (pid_t)take_u64(r);
    q->nice = (int)(int64_t)take_u64(r);
    for (int i = 0; i < NLIMITS; i++) {
        q->limits[i].rlim_cur = take_u64(r);
        q->limits[i].rlim_max = take_u64(r);
    }
    q->ignored = take_u64(r);
    q->blocked = take_u64(r);
    q->have_cpus = take_u64(r) != 0;
    const void *c = take(r, sizeof q->cpus);
    if (c) memcpy(&q->cpus, c, sizeof q->cpus);
    q->cwd = take_str(r);
    uint64_t argc = take_u64(r);
    if (r->bad || argc < 1 || argc > 100000) return false;
    q->argc = (int)argc;
    q->argv = calloc(argc + 1, sizeof *q->argv);
    if (!q->argv) return false;
    for (int i = 0; i < q->argc; i++)
        q->argv[i] = take_str(r);
    uint64_t envc = take_u64(r);
    if (r->bad || envc > 1000000) return false;
    q->envc = (int)envc;
    q->env = calloc(envc + 1, sizeof *q->env);
    if (!q->env) return false;
    for (int i = 0; i < q->envc; i++)
        q->env[i] = take_str(r);
    return !r->bad && r->at == r->n;
}

/* The header (magic, body length) comes with the descriptors attached; the body follows. */
static bool receive_request(int conn, request *q) {
    memset(q, 0, sizeof *q);
    uint32_t head[2];
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {head, sizeof head};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t n;
    do
        n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (q->nfds < MAX_FDS)
                q->fds[q->nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n != (ssize_t)sizeof head || (m.msg_flags & MSG_CTRUNC) || head[0] != REQUEST_MAGIC ||
        head[1] > REQUEST_MAX)
        return false;
    q->body.n = head[1];
    q->body.p = malloc(head[1] ? head[1] : 1);
    return q->body.p && read_all(conn, q->body.p, q->body.n) && decode_request(q);
}

/* ---- the server ---- */

static void send_reply(int conn, uint32_t kind, int32_t value, const char *text) {
    reply r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.value = value;
    if (text) snprintf(r.text, sizeof r.text, "%s", text);
    (void)write_all(conn, &r, sizeof r);
}

/* Why the server cannot run q exactly as an exec would (NULL: it can). */
static const char *refusal(const request *q, const char *server_env, char *why, size_t cap) {
    for (int i = 0; i < NLIMITS; i++) {
        struct rlimit own;
        if (getrlimit(LIMITS[i].resource, &own) != 0) continue;
        if (own.rlim_max != RLIM_INFINITY &&
            (q->limits[i].rlim_max == RLIM_INFINITY || q->limits[i].rlim_max > own.rlim_max)) {
            snprintf(why, cap, "the client's %s limit is above the server's", LIMITS[i].name);
            return why;
        }
    }
    char *client_env = load_time_env(q->env, (size_t)q->envc);
    bool same = client_env && !strcmp(client_env, server_env);
    free(client_env);
    if (!same) {
        snprintf(why, cap,
                 "the environment differs from the server's in variables read when libraries load (OMP_*, "
                 "GLIBC_TUNABLES, ...)");
        return why;
    }
    return NULL;
}

static void *watch_client(void *arg) {
    struct pollfd p = {(int)(intptr_t)arg, POLLRDHUP, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    /* the client is gone (killed, perhaps with SIGKILL): so is its trainer, as if it had been exec'd */
    kill(getpid(), SIGKILL);
    return NULL;
}

static bool served;

void serve_ready_for_signals(void) {
    if (!served) return;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SERVE_SOFT_SIGNAL);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
}

static volatile sig_atomic_t direct_interrupts, forwarded_interrupts;

int serve_count_interrupt(int sig, const siginfo_t *info, int *as) {
    if (sig == SERVE_SOFT_SIGNAL) {
        forwarded_interrupts++;
        int fwd = info && info->si_code == SI_QUEUE ? info->si_value.sival_int : 0;
        *as = fwd == SIGTERM ? SIGTERM : SIGINT;
    } else {
        direct_interrupts++;
        *as = sig;
    }
    return direct_interrupts > forwarded_interrupts ? direct_interrupts : forwarded_interrupts;
}

/* The lowest descriptor number above every number the received descriptors go to (and HIGH_FD). */
static int above_targets(const request *q) {
    int base = HIGH_FD;
    for (int i = 0; i < q->nfds; i++)
        if (q->targets[i] >= base) base = q->targets[i] + 1;
    return base;
}

/* Moves the received descriptors to their numbers without one clobbering another: first all above
 * every target, then each to its number. */
static bool place_fds(request *q, int *conn) {
    int high[MAX_FDS], base = above_targets(q);
    for (int i = 0; i < q->nfds; i++) {
        high[i] = fcntl(q->fds[i], F_DUPFD_CLOEXEC, base);
        if (high[i] < 0) return false;
        close(q->fds[i]);
        q->fds[i] = -1;
    }
    int c = fcntl(*conn, F_DUPFD_CLOEXEC, base);
    if (c < 0) return false;
    close(*conn);
    *conn = c;
    for (int t = 0; t <= 2; t++) {
        bool given = false;
        for (int i = 0; i < q->nfds; i++)
            given |= q->targets[i] == t;
        if (!given) {
            int z = open("/dev/null", O_RDWR);
            if (z >= 0 && z != t) dup2(z, t), close(z);
        }
    }
    for (int i = 0; i < q->nfds; i++) {
        if (dup2(high[i], q->targets[i]) < 0) return false;
        close(high[i]);
    }
    return true;
}

/* The trainers running, each with its client's connection: several at once when the ranks of one
 * machine (yolo world=N) are its clients. */
enum { MAX_SERVED = 256 };
typedef struct {
    pid_t pid[MAX_SERVED];
    int conn[MAX_SERVED];
    int n;
} served_set;
static served_set running;

/* ---- memory kept for the next trainer ----
 * Each epoch is a new process, and its first training step faults its whole working set in: at 640 px,
 * 600,000 pages that the kernel zeroes, about a second of system time, in every epoch. The server
 * keeps those pages for the next epoch instead. Each trainer is lent a memory file (memfd), sparse and
 * as large as the machine's memory, from which its allocator takes its large blocks (serve_memory_fd,
 * torch_memory_reuse). When the trainer ends, its pages stay in the file, and the next trainer maps
 * them: 0.2 s instead of 1.1 s for 2.4 GiB at 640 px. The first epoch pays more (the kernel makes new
 * file pages 1.5-2x as slowly as new private ones), every later one less. A file serves one trainer at a time
 * (ranks running at once get one each) and is free again once its trainer has answered its client, after
 * which it touches no memory, or has ended. What a trainer finds in the pages is whatever the last one left
 * there; its allocator hands memory out uninitialised in any case. The server itself never maps them. */
static struct {
    int fd;
    pid_t user; /* 0: free */
} memory[MAX_SERVED];
static int nmemory;
/* A trainer about to answer writes its pid here: its memory is free from then on. */
static int memory_done[2] = {-1, -1};
static int lent_memory = -1;

int serve_memory_fd(void) {
    return lent_memory;
}

static void memory_give_back(pid_t pid) {
    for (int i = 0; i < nmemory; i++)
        if (memory[i].user == pid) memory[i].user = 0;
}

/* A free memory file for the next trainer (a new one when all are lent), or -1 (then the trainer
 * takes its memory from the kernel as an exec'd one does). */
static int memory_take(void) {
    pid_t done[64];
    ssize_t n;
    while (memory_done[0] >= 0 && (n = read(memory_done[0], done, sizeof done)) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof *done; i++)
            memory_give_back(done[i]);
    for (int i = 0; i < nmemory; i++)
        if (!memory[i].user) return i;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (nmemory == MAX_SERVED || memory_done[0] < 0 || pages <= 0 || page <= 0) return -1;
    int fd = memfd_create("yolo-trainer-memory", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)pages * page) != 0) { /* (EFBIG under ulimit -f: SIGXFSZ is ignored) */
        close(fd);
        return -1;
    }
    memory[nmemory].fd = fd, memory[nmemory].user = 0;
    return nmemory++;
}

/* The server's SIGCHLD pipe: the handler writes a byte, the server's poll wakes. */
static int child_ended[2] = {-1, -1};

static void note_child_ended(int sig) {
    (void)sig;
    int e = errno;
    (void)!write(child_ended[1], "", 1);
    errno = e;
}

static bool answer_at_exit;

void serve_answer_at_exit(void) {
    answer_at_exit = true;
}

/* A trainer that succeeded answers its client itself, before it exits: the kernel takes 50 ms and more
 * to free a trainer's memory at its exit (gigabytes at 640 px), and the next epoch need not wait for
 * that. Every other file is closed first, so that nothing the epoch held (the run folder's lock, the
 * output pipes a script reads to their end) outlives the answer. The server's own answer at the exit
 * finds the connection closed. A failed trainer, and one on a GPU (serve_answer_at_exit), is answered by
 * the server from its exit. */
static void answer_before_exit(int conn) {
    if (lent_memory >= 0) {
        pid_t me = getpid();
        (void)!write(memory_done[1], &me, sizeof me);
    }
    if (conn > 0) close_range(0, (unsigned)conn - 1, 0);
    close_range((unsigned)conn + 1, ~0u, 0);
    send_reply(conn, REPLY_EXIT, 0, NULL);
}

static _Noreturn void run_child(const char *tool, request *q, int conn, int listener, int slot,
                                serve_entry entry) {
    close(listener);
    /* out of the way of the client's descriptors, which take their numbers below (YOLO_LOCK_FD can be
     * any number, the memory file's among them) */
    lent_memory = slot >= 0 ? fcntl(memory[slot].fd, F_DUPFD_CLOEXEC, above_targets(q)) : -1;
    close(child_ended[0]), close(child_ended[1]);
    for (int i = 0; i < running.n; i++) /* the other trainers' clients */
        close(running.conn[i]);
    for (int i = 0; i < nmemory; i++) /* the server's memory files (this trainer's has its copy above) */
        close(memory[i].fd);
    close(memory_done[0]);                  /* (the write end stays: answer_before_exit) */
    prctl(PR_SET_NAME, "yolo-train-epoch"); /* ps -e tells the epoch from its server (truncated to 15) */
    if (setpgid(0, q->pgid) != 0) {         /* another session: stay in the server's group */
    }
    for (int s = 1; s < 64 && s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        signal(s, q->ignored >> (s - 1) & 1 ? SIG_IGN : SIG_DFL);
    }
    sigset_t mask;
    sigemptyset(&mask);
    for (int s = 1; s < 64 && s < NSIG; s++)
        if (q->blocked >> (s - 1) & 1) sigaddset(&mask, s);
    sigaddset(&mask, SERVE_SOFT_SIGNAL);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (!place_fds(q, &conn)) _exit(126);
    umask(q->umask);
    setpriority(PRIO_PROCESS, 0, q->nice); /* a nicer client gets a nicer trainer; raising may be refused */
    for (int i = 0; i < NLIMITS; i++)
        setrlimit(LIMITS[i].resource, &q->limits[i]);
    if (q->have_cpus) sched_setaffinity(0, sizeof q->cpus, &q->cpus);
    if (chdir(q->cwd) != 0) {
        fprintf(stderr, "%s: cannot enter the folder %s: %s\n", tool, q->cwd, strerror(errno));
        _exit(1);
    }
    clearenv();
    for (int i = 0; i < q->envc; i++)
        putenv(q->env[i]);
    pthread_t th;
    if (pthread_create(&th, NULL, watch_client, (void *)(intptr_t)conn) != 0) _exit(126);
    pthread_detach(th);
    served = true;
    int rc = entry(q->argc, q->argv);
    /* Everything the tool wrote is closed or flushed by now; skipping the static destructors of the
     * 292 libraries that libtorch loads saves tens of milliseconds per epoch. */
    fflush(NULL);
    if (rc == 0 && !answer_at_exit) answer_before_exit(conn);
    _exit(rc);
}

/* Starts the trainer for the request on conn: its pid, or -1 when the request was refused (the reply
 * says why). The server answers the exit status when the trainer ends (serve_reap). */
static pid_t serve_one(const char *tool, int conn, int listener, const char *server_env, serve_entry entry) {
    struct timeval tv = {RECEIVE_TIMEOUT_S, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* the socket's folder decides who may connect; this is the second lock on the door */
    struct ucred peer;
    socklen_t pl = sizeof peer;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &pl) != 0 || peer.uid != getuid()) {
        send_reply(conn, REPLY_REFUSED, 0, "another user's client");
        return -1;
    }
    request q;
    if (!receive_request(conn, &q)) {
        send_reply(conn, REPLY_REFUSED, 0, "malformed request");
        request_free(&q);
        return -1;
    }
    char why[200];
    if (refusal(&q, server_env, why, sizeof why)) {
        send_reply(conn, REPLY_REFUSED, 0, why);
        request_free(&q);
        return -1;
    }
    fflush(NULL);
    int slot = memory_take();
    pid_t pid = fork();
    if (pid == 0) run_child(tool, &q, conn, listener, slot, entry);
    if (pid > 0 && slot >= 0) memory[slot].user = pid;
    if (pid < 0) {
        snprintf(why, sizeof why, "cannot fork: %s", strerror(errno));
        send_reply(conn, REPLY_REFUSED, 0, why);
        request_free(&q);
        return -1;
    }
    request_free(&q);
    send_reply(conn, REPLY_PID, pid, NULL);
    return pid;
}

/* Answers each trainer that ended with its exit status, and closes its client's connection. */
static void serve_reap(void) {
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        memory_give_back(pid);
        for (int i = 0; i < running.n; i++)
            if (running.pid[i] == pid) {
                send_reply(running.conn[i], REPLY_EXIT, ws, NULL);
                close(running.conn[i]);
                running.n--;
                running.pid[i] = running.pid[running.n], running.conn[i] = running.conn[running.n];
                break;
            }
    }
}

int serve_run(const char *tool, const char *path, serve_entry entry) {
    /* Ctrl+C and kill of the process group are for the trainers; the server ends with its stdin */
    static const int ignore[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ, SERVE_SOFT_SIGNAL};
    for (size_t i = 0; i < sizeof ignore / sizeof ignore[0]; i++)
        signal(ignore[i], SIG_IGN);
    prctl(PR_SET_NAME, "yolo-train-srv");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "%s: %s: socket path too long (at most %zu bytes)\n", tool, path,
                sizeof a.sun_path - 1);
        return 2;
    }
    strcpy(a.sun_path, path);
    char *env = NULL;
    size_t envc = 0;
    while (environ && environ[envc])
        envc++;
    if (!(env = load_time_env(environ, envc))) {
        fprintf(stderr, "%s: out of memory\n", tool);
        return 1;
    }
    /* a trainer's end arrives as a readable byte (SIGCHLD's handler writes it), so that one poll
     * waits for clients, trainers and the end of stdin alike */
    if (pipe2(child_ended, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "%s: cannot make a pipe: %s\n", tool, strerror(errno));
        free(env);
        return 1;
    }
    if (pipe2(memory_done, O_CLOEXEC | O_NONBLOCK) != 0) memory_done[0] = memory_done[1] = -1;
    struct sigaction sa = {.sa_handler = note_child_ended, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 8) != 0) {
        fprintf(stderr, "%s: %s: cannot serve on this socket: %s\n", tool, path, strerror(errno));
        free(env);
        if (lfd >= 0) close(lfd);
        return 1;
    }
    /* after the end of stdin, no new clients; the trainers still running get their answers */
    while (lfd >= 0 || running.n > 0) {
        struct pollfd p[3] = {{child_ended[0], POLLIN, 0}, {lfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        if (poll(p, lfd >= 0 ? 3 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) {
            char c[64];
            while (read(child_ended[0], c, sizeof c) > 0) {
            }
            serve_reap();
        }
        if (lfd >= 0 && p[2].revents) {
            char c[256];
            ssize_t n = read(STDIN_FILENO, c, sizeof c);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                close(lfd);
                lfd = -1;
                unlink(path);
                continue;
            }
        }
        if (lfd >= 0 && (p[1].revents & POLLIN)) {
            int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0) continue;
            pid_t pid = -1;
            if (running.n >= MAX_SERVED)
                send_reply(conn, REPLY_REFUSED, 0, "too many trainers at once");
            else
                pid = serve_one(tool, conn, lfd, env, entry);
            if (pid > 0)
                running.pid[running.n] = pid, running.conn[running.n++] = conn;
            else
                close(conn);
        }
    }
    if (lfd >= 0) {
        close(lfd);
        unlink(path);
    }
    free(env);
    return 0;
}

/* ---- the client ---- */

static volatile pid_t forward_to;

/* Every INT and TERM goes on as SERVE_SOFT_SIGNAL carrying its number: the served process counts it
 * against the ones it received itself (serve_count_interrupt), so that one key press stays one. */
static void forward_signal(int sig) {
    if (sig == SIGINT || sig == SIGTERM)
        sigqueue(forward_to, SERVE_SOFT_SIGNAL, (union sigval){.sival_int = sig});
    else
        kill(forward_to, sig);
}

static int connect_to(const char *path, pid_t server_pid, char *why, size_t cap) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        snprintf(why, cap, "socket path too long: %s", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        int e = errno;
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* a server that is still loading libtorch has not made its socket yet */
        bool starting = (e == ENOENT || e == ECONNREFUSED) && server_pid > 0 && kill(server_pid, 0) == 0 &&
                        now.tv_sec - t0.tv_sec < CONNECT_WAIT_S;
        if (!starting) {
            snprintf(why, cap, "no trainer server at %s (%s)", path, strerror(e));
            return -1;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    snprintf(why, cap, "cannot make a socket: %s", strerror(errno));
    return -1;
}

static bool send_request(int fd, int argc, char **argv) {
    int fds[MAX_FDS], targets[MAX_FDS], n = 0;
    for (int t = 0; t <= 2; t++)
        if (fcntl(t, F_GETFD) >= 0) fds[n] = t, targets[n++] = t;
    const char *lock = getenv("YOLO_LOCK_FD");
    char *end;
    long lf = lock && *lock ? strtol(lock, &end, 10) : -1;
    if (lf > 2 && lf < 65536 && !*end && fcntl((int)lf, F_GETFD) >= 0)
        fds[n] = (int)lf, targets[n++] = (int)lf;
    wbuf b = {0};
    encode_request(&b, argc, argv, targets, n);
    bool ok = !b.failed;
    if (ok) {
        uint32_t head[2] = {REQUEST_MAGIC, (uint32_t)b.n};
        union {
            char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct iovec iov = {head, sizeof head};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = CMSG_SPACE(n * sizeof(int))};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        ssize_t w;
        do
            w = sendmsg(fd, &m, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        ok = w == (ssize_t)sizeof head && write_all(fd, b.p, b.n);
    }
    free(b.p);
    return ok;
}

serve_result serve_call(const char *path, pid_t server_pid, int argc, char **argv, int *wait_status,
                        char *why, unsigned long why_cap) {
    int fd = connect_to(path, server_pid, why, why_cap);
    if (fd < 0) return SERVE_UNAVAILABLE;
    reply r;
    if (!send_request(fd, argc, argv) || !read_all(fd, &r, sizeof r) ||
        (r.kind != REPLY_PID && r.kind != REPLY_REFUSED)) {
        snprintf(why, why_cap, "the trainer server at %s did not take the request", path);
        close(fd);
        return SERVE_UNAVAILABLE;
    }
    if (r.kind == REPLY_REFUSED) {
        r.text[sizeof r.text - 1] = 0;
        snprintf(why, why_cap, "the trainer server refused: %s", r.text);
        close(fd);
        return SERVE_UNAVAILABLE;
    }
    forward_to = (pid_t)r.value;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2};
    /* also when ignored here (a background job's SIGINT): the trainer catches INT and TERM whatever
     * it inherits, and the served process ignores the others just as this one did */
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &sa, NULL);
    bool ok = read_all(fd, &r, sizeof r) && r.kind == REPLY_EXIT;
    close(fd);
    if (!ok) {
        snprintf(why, why_cap, "the trainer server stopped while the epoch ran (process %d)",
                 (int)forward_to);
        return SERVE_LOST;
    }
    *wait_status = r.value;
    return SERVE_DONE;
}

_Noreturn void serve_exit_like(int ws) {
    if (WIFEXITED(ws)) exit(WEXITSTATUS(ws));
    int sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : SIGKILL;
    fflush(NULL);
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    _exit(128 + sig);
}
