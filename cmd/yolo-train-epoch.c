/* yolo-train-epoch: trains one epoch from a sample stream on stdin and writes the next checkpoint
 * (man 1 yolo-train-epoch). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "yolo/ckpt.h"
#include "yolo/cli.h"
#include "yolo/dist.h"
#include "yolo/json.h"
#include "yolo/lock.h"
#include "yolo/serve.h"
#include "yolo/status.h"
#include "yolo/stream.h"
#include "yolo/train.h"

static const char *const TOOL = "yolo-train-epoch";

static const char USAGE[] =
    "usage: yolo-data DATA --split train --epoch 0 ... | yolo-train-epoch --new ARGS.yaml -o "
    "RUN/weights/last.pt [KEY=VALUE...]\n"
    "       yolo-data DATA --split train --epoch E ... | yolo-train-epoch RUN/weights/last.pt [KEY=VALUE...] "
    "[options]\n"
    "\n"
    "Trains one epoch on the train stream read from stdin, validates the EMA weights on the dataset's\n"
    "val split and writes the next checkpoint atomically (best.pt when fitness improved, epochN.pt per\n"
    "save_period, then last.pt, then RUN/results.csv). Prints one JSON summary line on stdout.\n"
    "\n"
    "  --new ARGS.yaml   start a run from Ultralytics' args.yaml (model=, data=, epochs=, batch=, ...)\n"
    "  -o PATH           checkpoint to write (default: the checkpoint read)\n"
    "  batch=N           images per batch (resume: at an epoch boundary, or a multiple of the position)\n"
    "  workers=N, threads=N  torch threads (default: the checkpoint's; all cores for a new run)\n"
    "  device=D          cpu, 0, cuda:1\n"
    "  save_every=N, --save-every N   also write the checkpoint every N batches inside the epoch\n"
    "  data=PATH         resume on the run's dataset found elsewhere (it must have the same class names)\n"
    "  --stop-after N    stop after N batches, saving the position (the next stream starts --from it)\n"
    "  --val FILE        validate on this val stream instead of building it from the dataset\n"
    "  --no-lock         do not lock the run folder (the caller holds it; see YOLO_LOCK_FD)\n"
    "  --quiet-known     no warnings about bad val files that the label cache already held (unchanged\n"
    "                    since an earlier epoch named them: the yolo loop's epochs after its first)\n"
    "  --serve SOCKET    load libtorch once and run each yolo-train-epoch-client call in a fresh\n"
    "                    process forked from here, until stdin is closed (the yolo loop does this)\n"
    "\n"
    "Data-parallel ranks (defaults from RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT):\n"
    "  --world N         N processes train each batch together (1: this one alone)\n"
    "  --rank R          this process' rank, 0..N-1; rank 0 reads and writes the checkpoint\n"
    "  --master HOST:PORT  the rendezvous: rank 0 serves it, the others connect to it\n"
    "  --store FILE      rendezvous through a file all ranks see instead\n"
    "  --dist-timeout S  seconds a rank waits for the others in a step before giving up (default 30)\n"
    "  micro_batch=N     a new run's micro-batch (default batch / world); fixed for the whole run\n"
    "\n"
    "Exit status: 0 ok (epoch done, or stopped by --stop-after), 1 failed (nothing written), 2 usage.\n"
    "See yolo-train-epoch(1).\n";

static int usage_error(const char *fmt, const char *arg) {
    char msg[600];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    fprintf(stderr, "%s: %s (see 'yolo-train-epoch --help')\n", TOOL, msg);
    return YOLO_EXIT_USAGE;
}

typedef struct {
    const char *args_yaml, *ckpt, *out, *val;
    bool no_lock;
    train_opts o;
    dist_opts d;
    char master[256]; /* HOST of --master HOST:PORT or MASTER_ADDR */
} cli;

/* --master HOST:PORT (an IPv6 address in brackets: [::1]:29500) */
static int parse_master(const char *v, cli *c) {
    const char *colon = strrchr(v, ':');
    int port;
    if (!colon || colon == v || !cli_parse_int(colon + 1, 1, 65535, &port))
        return usage_error("--master needs HOST:PORT, not '%s'", v);
    size_t n = (size_t)(colon - v);
    if (v[0] == '[' && n > 2 && v[n - 1] == ']') v++, n -= 2;
    if (n >= sizeof c->master) return usage_error("--master: host name too long: '%s'", v);
    memcpy(c->master, v, n);
    c->master[n] = 0;
    c->d.addr = c->master, c->d.port = port;
    return 0;
}

/* The torchrun environment, for what the command line does not say. */
static int dist_from_env(cli *c, bool have_rank, bool have_world, bool have_master) {
    const char *s;
    if (!have_world && (s = getenv("WORLD_SIZE")) && *s && !cli_parse_int(s, 1, 1 << 20, &c->d.world))
        return usage_error("WORLD_SIZE=%s: not a number of processes", s);
    if (!have_rank && (s = getenv("RANK")) && *s && !cli_parse_int(s, 0, 1 << 20, &c->d.rank))
        return usage_error("RANK=%s: not a rank", s);
    const char *addr = getenv("MASTER_ADDR"), *port = getenv("MASTER_PORT");
    if (!have_master && !c->d.file && c->d.world > 1 && addr && *addr) {
        if (strlen(addr) >= sizeof c->master) return usage_error("MASTER_ADDR=%s: too long", addr);
        snprintf(c->master, sizeof c->master, "%s", addr);
        c->d.addr = c->master;
        c->d.port = 29500; /* torch's default */
        if (port && *port && !cli_parse_int(port, 1, 65535, &c->d.port))
            return usage_error("MASTER_PORT=%s: not a port", port);
    }
    if (c->d.rank >= c->d.world) {
        char what[64];
        snprintf(what, sizeof what, "rank %d of world %d", c->d.rank, c->d.world);
        return usage_error("%s: the rank must be 0..world-1 (--rank, --world, RANK, WORLD_SIZE)", what);
    }
    if (c->d.world > 1 && !c->d.addr && !c->d.file)
        return usage_error(
            "%s", "a world of several ranks needs a rendezvous: --master HOST:PORT (or MASTER_ADDR and "
                  "MASTER_PORT), or --store FILE");
    return 0;
}

static int parse(int argc, char **argv, cli *c) {
    memset(c, 0, sizeof *c);
    train_opts_default(&c->o);
    dist_opts_default(&c->d);
    bool have_rank = false, have_world = false, have_master = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(USAGE, stdout);
            return -1;
        }
        if (!strcmp(s, "--new")) {
            if (!next) return usage_error("--new needs the args.yaml file%s", NULL);
            c->args_yaml = argv[++i];
        } else if (!strcmp(s, "-o")) {
            if (!next) return usage_error("-o needs the checkpoint path to write%s", NULL);
            c->out = argv[++i];
        } else if (!strcmp(s, "--stop-after")) {
            if (!next || !cli_parse_int(next, 1, 100000000, &c->o.stop_after))
                return usage_error("--stop-after needs a positive number of batches, not '%s'", next);
            i++;
        } else if (!strcmp(s, "--save-every")) {
            if (!next || !cli_parse_int(next, 0, 100000000, &c->o.save_every))
                return usage_error("--save-every needs a number of batches, not '%s'", next);
            i++;
        } else if (!strcmp(s, "--val")) {
            if (!next) return usage_error("--val needs a val stream file%s", NULL);
            c->o.val_stream = argv[++i];
        } else if (!strcmp(s, "--no-lock")) {
            c->no_lock = true;
        } else if (!strcmp(s, "--quiet-known")) {
            c->o.quiet_known = true;
        } else if (!strcmp(s, "--world")) {
            if (!next || !cli_parse_int(next, 1, 1 << 20, &c->d.world))
                return usage_error("--world needs a number of processes, not '%s'", next);
            have_world = true, i++;
        } else if (!strcmp(s, "--rank")) {
            if (!next || !cli_parse_int(next, 0, 1 << 20, &c->d.rank))
                return usage_error("--rank needs a rank 0..world-1, not '%s'", next);
            have_rank = true, i++;
        } else if (!strcmp(s, "--master")) {
            if (!next) return usage_error("--master needs HOST:PORT%s", NULL);
            int r = parse_master(next, c);
            if (r) return r;
            have_master = true, i++;
        } else if (!strcmp(s, "--store")) {
            if (!next) return usage_error("--store needs a file path%s", NULL);
            c->d.file = argv[++i];
        } else if (!strcmp(s, "--dist-timeout")) {
            char *end = NULL;
            double v = next ? strtod(next, &end) : 0;
            if (!next || end == next || *end || !(v > 0) || v > 86400)
                return usage_error("--dist-timeout needs a number of seconds, not '%s'", next);
            c->o.dist_timeout = c->d.timeout_s = v, i++;
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option '%s'", s);
        } else if (cli_is_setting(s)) {
            const char *eq = strchr(s, '='), *v = eq + 1;
            size_t k = (size_t)(eq - s);
#define KEY(n) (k == strlen(n) && !strncmp(s, n, k))
            if (!*v) return usage_error("'%s' needs a value", s);
            if (KEY("batch")) {
                if (!cli_parse_int(v, 1, 100000000, &c->o.batch))
                    return usage_error("batch must be a positive integer, not '%s'", v);
            } else if (KEY("workers") || KEY("threads")) {
                int n;
                if (!cli_parse_int(v, 0, 100000000, &n))
                    return usage_error("workers must be a number of threads, not '%s'", v);
                c->o.threads = n;
            } else if (KEY("device")) {
                c->o.device = v;
            } else if (KEY("micro_batch")) {
                if (!cli_parse_int(v, 1, 100000000, &c->o.micro_batch))
                    return usage_error("micro_batch must be a positive integer, not '%s'", v);
            } else if (KEY("save_every")) {
                if (!cli_parse_int(v, 0, 100000000, &c->o.save_every))
                    return usage_error("save_every must be a number of batches, not '%s'", v);
            } else if (KEY("data")) {
                c->o.data = v;
            } else {
                return usage_error(
                    "'%s' cannot be set here: only batch, workers, threads, device, save_every, data and, "
                    "for a new run, micro_batch (the other training arguments come from the checkpoint; "
                    "a new run is needed to change them)",
                    s);
            }
#undef KEY
        } else if (!c->ckpt) {
            c->ckpt = s;
        } else {
            return usage_error("one checkpoint only, got also '%s'", s);
        }
    }
    if (c->args_yaml && c->ckpt)
        return usage_error("give either --new ARGS.yaml or a checkpoint to continue, not both (%s)", c->ckpt);
    if (c->o.micro_batch && !c->args_yaml)
        return usage_error("micro_batch=%s is fixed when a run starts (the checkpoint has its own)", "N");
    int dr = dist_from_env(c, have_rank, have_world, have_master);
    if (dr) return dr;
    if (!c->args_yaml && !c->ckpt)
        return usage_error("needs a checkpoint to continue, or --new ARGS.yaml%s", NULL);
    if (c->args_yaml && !c->out) return usage_error("--new needs -o RUN/weights/last.pt%s", NULL);
    if (c->args_yaml && c->o.data)
        return usage_error("data= is for a resume: a new run takes data: from its args.yaml%s", NULL);
    if (!c->out) c->out = c->ckpt;
    if (isatty(STDIN_FILENO))
        return usage_error(
            "stdin is a terminal: pipe a train stream in (yolo-data DATA --split train ... | %s ...)", TOOL);
    return 0;
}

/* Creates the folder of path (and its parent, RUN for RUN/weights) when missing. */
static int make_parent(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *s = strrchr(d, '/');
    if (!s) return 0;
    *s = 0;
    struct stat sb;
    if (!*d || stat(d, &sb) == 0) return 0;
    char *p = strrchr(d, '/');
    if (p) {
        *p = 0;
        if (*d && stat(d, &sb) != 0 && mkdir(d, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(d, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void print_summary(const train_summary *s) {
    json_writer w;
    json_init(&w, stdout, false);
    json_begin_object(&w);
    json_write_key(&w, "epoch");
    json_write_int(&w, s->epoch);
    json_write_key(&w, "epochs");
    json_write_int(&w, s->epochs);
    json_write_key(&w, "losses");
    json_begin_object(&w);
    for (int k = 0; k < s->n_loss; k++) {
        char key[40];
        snprintf(key, sizeof key, "train/%s", s->loss_names[k]);
        json_write_key(&w, key);
        json_write_double(&w, s->loss[k]);
    }
    json_end_object(&w);
    json_write_key(&w, "metrics");
    if (s->validated) {
        json_begin_object(&w);
        for (int k = 0; k < s->n_metrics; k++) {
            json_write_key(&w, s->metric_keys[k]);
            json_write_double(&w, s->metrics[k]);
        }
        json_end_object(&w);
    } else {
        json_write_null(&w);
    }
    json_write_key(&w, "fitness");
    json_write_double(&w, s->fitness);
    json_write_key(&w, "best_fitness");
    json_write_double(&w, s->best_fitness);
    json_write_key(&w, "best");
    json_write_bool(&w, s->best);
    json_write_key(&w, "epoch_done");
    json_write_bool(&w, s->epoch_done);
    json_write_key(&w, "finished");
    json_write_bool(&w, s->finished);
    json_write_key(&w, "stopped_early");
    json_write_bool(&w, s->stopped_early);
    json_write_key(&w, "position");
    if (s->position >= 0)
        json_write_int(&w, s->position);
    else
        json_write_null(&w);
    json_write_key(&w, "interrupted");
    json_write_bool(&w, s->interrupted);
    json_write_key(&w, "batches");
    json_write_int(&w, s->batches);
    json_write_key(&w, "seconds");
    json_write_double(&w, round(s->seconds * 1000) / 1000);
    json_end_object(&w);
    json_finish(&w);
}

/* Seconds since boot, on the clock /proc/PID/stat counts process start times in. */
static double boot_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* When this process started (seconds since boot, 10 ms resolution), so that the profile can show
 * the time spent before main: the dynamic loader and libtorch's static initialisers. */
static double process_start_s(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return NAN;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name may hold spaces and parentheses: fields resume after the last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return NAN;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)start / (double)hz : NAN;
}

/* What the kernel counted for this process (the forked one when served): figures that a loaded
 * machine does not blur the way it blurs wall time. */
static void print_usage_profile(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return;
    fprintf(stderr,
            "profile: cpu user %.3f s, sys %.3f s, minor page faults %ld, major %ld, peak RSS %ld MiB\n",
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6, ru.ru_minflt, ru.ru_majflt,
            ru.ru_maxrss / 1024);
}

static volatile sig_atomic_t interrupted;

/* The first Ctrl+C (or TERM) stops after the current batch and saves the position; a second one kills.
 * Counted by serve_count_interrupt: through the trainer server one key press arrives twice. */
static void on_interrupt(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    int as;
    if (serve_count_interrupt(sig, info, &as) >= 2) {
        signal(as, SIG_DFL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, as);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        raise(as);
    }
    interrupted = 1;
}

static int train_epoch_main(int argc, char **argv);

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--serve")) {
        if (argc != 3) return usage_error("--serve needs one socket path and nothing else%s", NULL);
        return serve_run(TOOL, argv[2], train_epoch_main);
    }
    return train_epoch_main(argc, argv);
}

static int train_epoch_main(int argc, char **argv) {
    double t_main = boot_s();
    /* past ulimit -f a write fails with EFBIG, which the checkpoint writer reports in one line and
     * cleans up after, instead of SIGXFSZ killing the process and leaving the temporary behind */
    signal(SIGXFSZ, SIG_IGN);
    cli c;
    int rc = parse(argc, argv, &c);
    if (rc < 0) return YOLO_EXIT_OK;
    if (rc) return rc;
    c.o.log = stderr;
    c.o.bar = isatty(STDERR_FILENO);
    /* the bar fits the terminal: its width, or the width the yolo loop reads from its own terminal for
     * the lines it redraws (YOLO_COLUMNS); no width, no bar: one line per batch */
    struct winsize ws;
    const char *cols = getenv("YOLO_COLUMNS");
    if (c.o.bar && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        c.o.columns = ws.ws_col;
    else if (cols && atoi(cols) > 0)
        c.o.columns = atoi(cols);
    else if (c.o.bar)
        c.o.columns = 80;
    const char *prof = getenv("YOLO_PROFILE");
    c.o.profile = prof && *prof && strcmp(prof, "0");
    run_lock *lock = NULL;
    dist_group *group = NULL;
    yolo_status st = YOLO_OK;
    /* the ranks meet first: a rank that fails later (the run folder is locked, ...) makes the others fail
     * at once instead of waiting for it at the rendezvous */
    if (c.d.world > 1) {
        if ((st = dist_init(&c.d, &group)) != YOLO_OK) return yolo_report(TOOL, st);
        c.o.group = group;
    }
    bool writer = c.d.rank == 0; /* the other ranks write nothing */
    if (writer && make_parent(c.out) != 0) {
        yolo_error(YOLO_ERR_IO, "%s: cannot create its folder (%s)", c.out, strerror(errno));
        dist_free(group);
        return yolo_report(TOOL, YOLO_ERR_IO);
    }
    if (writer && !c.no_lock) {
        char dir[4096];
        lock_run_dir(c.out, dir, sizeof dir);
        if ((st = lock_acquire(dir, &lock)) != YOLO_OK) {
            dist_free(group);
            return yolo_report(TOOL, st);
        }
        /* ours now: what a killed save left behind is garbage (up to a whole checkpoint), beside the
         * checkpoint and beside results.csv (the same folder when there is no weights/) */
        char csv[4200];
        snprintf(csv, sizeof csv, "%s/results.csv", dir);
        ckpt_remove_stale_temporaries(c.out);
        ckpt_remove_stale_temporaries(csv);
    }
    stream_reader *r = NULL;
    trainer *t = NULL;
    train_summary s;
    memset(&s, 0, sizeof s);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    static const int interrupts[] = {SIGINT, SIGTERM, SERVE_SOFT_SIGNAL};
    sa.sa_sigaction = on_interrupt;
    sa.sa_flags = SA_SIGINFO;
    /* A rank other than 0 that is interrupted while it waits for its stream keeps reading: its flag must
     * reach the others through the step's collective, so that all stop after the same batch and rank 0
     * saves. Ending at the read would leave rank 0 alone in the collective, saving nothing. */
    if (c.d.world > 1 && c.d.rank > 0) sa.sa_flags |= SA_RESTART;
    /* one handler at a time: the kernel stacks the handlers of signals pending together */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof interrupts / sizeof *interrupts; i++)
        sigaddset(&sa.sa_mask, interrupts[i]);
    for (size_t i = 0; i < sizeof interrupts / sizeof *interrupts; i++)
        sigaction(interrupts[i], &sa, NULL);
    serve_ready_for_signals();
    c.o.interrupt = &interrupted;
    if ((st = stream_reader_open(stdin, "stdin", &r)) != YOLO_OK) goto done;
    if (c.args_yaml)
        st = train_new(c.args_yaml, stream_reader_header(r), &c.o, &t);
    else
        st = train_open(c.ckpt, &c.o, &t);
    if (st != YOLO_OK) goto done;
    if (train_device(t) != TORCH_CPU) serve_answer_at_exit();
    double t_opened = boot_s();
    if ((st = train_run(t, r, c.out, &s)) != YOLO_OK) goto done;
    if (c.o.profile) {
        fprintf(stderr,
                "profile: before main %.3f s, open %.3f s (checkpoint or args, model, optimizer, stream "
                "header)\n",
                t_main - process_start_s(), t_opened - t_main);
        print_usage_profile();
    }
    print_summary(&s);
    if (fflush(stdout) != 0 || ferror(stdout)) st = yolo_error(YOLO_ERR_IO, "cannot write to stdout");
    if (st == YOLO_OK && s.interrupted) {
        if (writer)
            fprintf(stderr,
                    "%s: interrupted: saved %s at sample %lld of epoch %d (continue with yolo-data ... "
                    "--from %lld)\n",
                    TOOL, c.out, (long long)s.position, s.epoch + 1, (long long)s.position);
        else
            fprintf(stderr,
                    "%s: rank %d: interrupted at sample %lld of epoch %d (rank 0 saved the position)\n", TOOL,
                    c.d.rank, (long long)s.position, s.epoch + 1);
        rc = 130;
    }
done:
    train_free(t);
    stream_reader_free(r);
    lock_release(lock);
    dist_free(group);
    if (st == YOLO_OK && rc == 130) return rc;
    return yolo_report(TOOL, st);
}
