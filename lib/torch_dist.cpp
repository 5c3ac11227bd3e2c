// libtorch wrapper, process groups (include/yolo/dist.h): c10d's stores and ProcessGroupGloo (or
// ProcessGroupNCCL in a CUDA build with USE_C10D_NCCL), behind the same extern "C" rules as the rest
// of the wrapper: an opaque handle, a status per call, one-line messages, no exception crosses.
#include "torch_internal.hpp"

#include "yolo/dist.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/util/Logging.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

struct dist_group {
    int rank = 0, world = 1;
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds base{30000};   // the timeout the group was made with (timeout may be longer)
    std::chrono::milliseconds waited{30000}; // the timeout of the wait that failed, for its message
    int local = 1;                           // the ranks at this rank's network address, this one included
    bool p2p = false;                        // allgathers as point-to-point sends and receives (Gloo)
    int32_t tag = 0; // the next allgather's tag: every rank starts them in the same order
    double seconds = 0;
    std::string broken; // the first failure; every later call repeats it
};

namespace {

// c10d logs each retry and failure of its sockets (several lines on stderr, glog's banner first); the
// failure comes back to the caller as one line of ours instead, so the logs are held back meanwhile.
// Debian's libtorch logs through glog, whose level is looked up at run time (the tools do not link glog
// themselves); a libtorch without glog has c10's own level.
struct quiet_logs {
    int *level, was;
    quiet_logs() {
        static int *glog = static_cast<int *>(dlsym(RTLD_DEFAULT, "_ZN3fLI17FLAGS_minloglevelE"));
        level = glog ? glog : &FLAGS_caffe2_log_level;
        was = *level;
        *level = 3; // fatal only
    }
    ~quiet_logs() { *level = was; }
};

std::chrono::milliseconds millis(double s) {
    return std::chrono::milliseconds((long long)(s * 1000 + 0.5));
}

// Gloo's and c10d's messages start with the source position ("[../gloo/transport/tcp/pair.cc:589] ")
// and may run over several lines: the first line, without the position.
std::string tidy(const char *what) {
    std::string m(what ? what : "");
    size_t nl = m.find('\n');
    if (nl != std::string::npos) m.resize(nl);
    if (!m.empty() && m[0] == '[') {
        size_t close = m.find("] ");
        if (close != std::string::npos) m.erase(0, close + 2);
    }
    while (!m.empty() && (m.back() == ' ' || m.back() == '.'))
        m.pop_back();
    return m;
}

bool contains(const std::string &s, const char *part) {
    return s.find(part) != std::string::npos;
}

// What a failed collective means, in the user's words.
std::string explain(const std::string &m, double timeout_s) {
    char buf[160];
    if (contains(m, "Timed out") || contains(m, "timed out") || contains(m, "Timeout")) {
        snprintf(buf, sizeof buf,
                 "no answer from the other ranks within %g s (a rank stopped, or a host is unreachable)",
                 timeout_s);
        return buf;
    }
    if (contains(m, "Connection reset") || contains(m, "Connection closed") ||
        contains(m, "closed by peer") || contains(m, "Broken pipe") || contains(m, "EOF"))
        return "a rank went away (" + m + ")";
    return m;
}

// The rendezvous failed: a sentence that says which and what to do.
std::string explain_rendezvous(const std::string &m, const dist_opts *o, double timeout_s) {
    char buf[400];
    if (o->file) {
        snprintf(buf, sizeof buf, "rendezvous through %s: %s", o->file, m.c_str());
    } else if (contains(m, "in use")) {
        snprintf(buf, sizeof buf,
                 "rank 0 cannot serve the rendezvous at port %d: the port is in use (by another run? "
                 "give another MASTER_PORT)",
                 o->port);
    } else if (contains(m, "timed out") || contains(m, "Timed out") || contains(m, "Timeout") ||
               contains(m, "timeout")) {
        snprintf(buf, sizeof buf,
                 "rendezvous at %s:%d: not all %d ranks arrived within %g s (is every rank started, "
                 "and is %s reachable from each host?)",
                 o->addr, o->port, o->world, timeout_s, o->addr);
    } else {
        snprintf(buf, sizeof buf, "rendezvous at %s:%d: %s", o->addr, o->port, m.c_str());
    }
    return buf;
}

// host:port's addresses for sockets of socktype (freeaddrinfo them), or NULL when host does not resolve.
struct addrinfo *resolve(const char *host, int port, int socktype) {
    struct addrinfo hints, *res = nullptr;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0) return nullptr;
    return res;
}

// The local address this machine reaches host from (no packet is sent: a UDP connect only picks the
// route), so that the peers can reach this rank's Gloo sockets at it. For the rendezvous host itself
// that is its own address. Empty when host does not resolve.
std::string local_address_towards(const char *host, int port) {
    struct addrinfo *res = resolve(host, port, SOCK_DGRAM);
    if (!res) return "";
    std::string out;
    for (struct addrinfo *a = res; a && out.empty(); a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        struct sockaddr_storage me;
        socklen_t len = sizeof me;
        char ip[INET6_ADDRSTRLEN] = "";
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&me, &len) == 0) {
            const void *p = me.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr
                                                     : (const void *)&((struct sockaddr_in *)&me)->sin_addr;
            if (inet_ntop(me.ss_family, p, ip, sizeof ip)) out = ip;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return out;
}

// This machine's name, and the network namespace this process is in (namespaces of one machine are
// machines of their own to the exchange).
std::string host_identity() {
    char name[256] = "";
    gethostname(name, sizeof name - 1);
    char ns[64] = "";
    ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
    if (n > 0) ns[n] = 0;
    return std::string(name) + " " + ns;
}

// The Gloo device of this rank; *where (the machine's identity) gets the address its peers reach it at
// in front, where this rank picks that address.
std::shared_ptr<::gloo::transport::Device> gloo_device(const dist_opts *o, std::string *where) {
    const char *ifname = getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname) return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    if (o->addr) {
        std::string ip = local_address_towards(o->addr, o->port);
        if (ip.empty()) throw yt::usage_error(std::string("cannot resolve the rendezvous host ") + o->addr);
        *where = ip + " " + *where;
        return c10d::ProcessGroupGloo::createDeviceForHostname(ip);
    }
    if (o->world == 1) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
}

// How many ranks are where this one is (the same address and machine, this one included), each rank
// telling the others through the store.
int count_local(c10d::Store &store, int rank, int world, const std::string &where) {
    store.set("yolo/where/" + std::to_string(rank), std::vector<uint8_t>(where.begin(), where.end()));
    int n = 0;
    for (int r = 0; r < world; r++) {
        std::vector<uint8_t> got = store.get("yolo/where/" + std::to_string(r));
        n += std::string(got.begin(), got.end()) == where;
    }
    return n;
}

// Waits until something listens at host:port, trying every 10 ms, for at most timeout_s. A TCPStore client
// that finds nobody there yet sleeps a whole second before it tries again, and rank 0, which serves the
// store, is often a few hundred milliseconds later than the others (loading libtorch): that second was a
// quarter of a small epoch. This probe only connects and closes, which the store's server takes as a client
// that went away; the TCPStore then connects at once. A host that never answers is left to the TCPStore,
// which reports it.
void wait_for_listener(const char *host, int port, double timeout_s) {
    struct addrinfo *res = resolve(host, port, SOCK_STREAM);
    if (!res) return;
    auto deadline = std::chrono::steady_clock::now() + millis(timeout_s);
    for (;;) {
        for (struct addrinfo *a = res; a; a = a->ai_next) {
            int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) continue;
            bool up = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
            if (!up && errno == EINPROGRESS) {
                struct pollfd p = {fd, POLLOUT, 0};
                int err = 0;
                socklen_t len = sizeof err;
                up = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                     err == 0;
            }
            close(fd);
            if (up) {
                freeaddrinfo(res);
                return;
            }
        }
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    freeaddrinfo(res);
}

c10::intrusive_ptr<c10d::Store> make_store(const dist_opts *o) {
    if (o->file) return c10::make_intrusive<c10d::FileStore>(o->file, o->world);
    if (!o->addr) return c10::make_intrusive<c10d::HashStore>();
    if (o->rank != 0) wait_for_listener(o->addr, o->port, o->timeout_s);
    c10d::TCPStoreOptions so;
    so.port = (std::uint16_t)o->port;
    so.isServer = o->rank == 0;
    so.numWorkers = (size_t)o->world;
    so.waitWorkers = false; // the process group's own rendezvous waits for everyone
    so.timeout = millis(o->timeout_s);
    return c10::make_intrusive<c10d::TCPStore>(o->addr, so);
}

// Runs f (a collective's start, or its wait) turning a failure into a message; the group is broken
// from then on. Adds the time to g->seconds.
template <class F> yolo_status guarded(dist_group *g, const char *what, F &&f) {
    if (!g) return yolo_error(YOLO_ERR_USAGE, "%s: no process group", what);
    if (!g->broken.empty()) return yolo_error(YOLO_ERR_IO, "%s", g->broken.c_str());
    auto t0 = std::chrono::steady_clock::now();
    yolo_status st = YOLO_OK;
    g->waited = g->timeout;
    quiet_logs quiet;
    try {
        f();
    } catch (const yt::usage_error &e) {
        st = yolo_error(YOLO_ERR_USAGE, "%s: %s", what, e.what());
    } catch (const c10::Error &e) {
        st = YOLO_ERR_IO;
        g->broken =
            std::string(what) + ": " + explain(tidy(e.what_without_backtrace()), g->waited.count() / 1000.0);
    } catch (const std::exception &e) {
        st = YOLO_ERR_IO;
        g->broken = std::string(what) + ": " + explain(tidy(e.what()), g->waited.count() / 1000.0);
    } catch (...) {
        st = YOLO_ERR_IO;
        g->broken = std::string(what) + ": unknown failure";
    }
    g->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st == YOLO_ERR_IO) return yolo_error(YOLO_ERR_IO, "%s", g->broken.c_str());
    return st;
}

// Waits for a started collective: Gloo enforces the timeout each call carries; the wait's own is a
// second guard. A point-to-point send or receive has only this one.
void wait_for(dist_group *g, c10d::Work &w, std::chrono::milliseconds timeout) {
    g->waited = timeout;
    w.wait(timeout + std::chrono::milliseconds(500));
}

// Runs one collective to its end (each carries the group's timeout, which Gloo enforces).
template <class F> yolo_status collective(dist_group *g, const char *what, F &&f) {
    return guarded(g, what, [&] { wait_for(g, *f(), g->timeout); });
}

void check_contiguous(const at::Tensor &t, const char *which) {
    if (!t.defined() || !t.is_contiguous())
        throw yt::usage_error(std::string(which) + " must be a contiguous tensor");
}

} // namespace

extern "C" void dist_opts_default(dist_opts *o) {
    memset(o, 0, sizeof *o);
    o->world = 1;
    o->timeout_s = 30;
    o->dev = TORCH_CPU;
}

extern "C" yolo_status dist_init(const dist_opts *o, dist_group **out) {
    if (!o || !out) return yolo_error(YOLO_ERR_USAGE, "dist_init: missing options");
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
        return yolo_error(YOLO_ERR_USAGE, "rank %d of world %d: the rank must be 0..world-1", o->rank,
                          o->world);
    if (!(o->timeout_s > 0)) return yolo_error(YOLO_ERR_USAGE, "the process group timeout must be positive");
    if (o->world > 1 && !o->file && !o->addr)
        return yolo_error(YOLO_ERR_USAGE,
                          "world %d needs a rendezvous: MASTER_ADDR and MASTER_PORT, or a store file",
                          o->world);
    if (o->addr && (o->port < 1 || o->port > 65535))
        return yolo_error(YOLO_ERR_USAGE, "rendezvous port %d: must be 1..65535", o->port);
#ifndef USE_C10D_NCCL
    if (o->dev != TORCH_CPU)
        return yolo_error(YOLO_ERR_USAGE,
                          "%s has no NCCL: ranks on GPUs need a CUDA build of libtorch with NCCL "
                          "(make LIBTORCH=...)",
                          torch_version_string());
#endif
    dist_group *g = new (std::nothrow) dist_group;
    if (!g) return yolo_nomem();
    g->rank = o->rank, g->world = o->world, g->timeout = g->base = millis(o->timeout_s);
    quiet_logs quiet;
    std::string where = host_identity();
    try {
        g->store = make_store(o);
        g->store->setTimeout(g->timeout);
#ifdef USE_C10D_NCCL
        if (o->dev != TORCH_CPU) {
            auto opts = c10d::ProcessGroupNCCL::Options::create();
            opts->timeout = g->timeout;
            g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, o->rank, o->world, opts);
        }
#endif
        if (!g->pg) {
            auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
            opts->devices.push_back(gloo_device(o, &where));
            opts->threads = 1; // the calls are waited for one at a time
            g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, o->rank, o->world, opts);
            g->p2p = true;
        }
        if (o->world > 1) g->local = count_local(*g->store, o->rank, o->world, where);
    } catch (const yt::usage_error &e) {
        delete g;
        return yolo_error(YOLO_ERR_USAGE, "%s", e.what());
    } catch (const c10::Error &e) {
        delete g;
        return yolo_error(YOLO_ERR_IO, "%s",
                          explain_rendezvous(tidy(e.what_without_backtrace()), o, o->timeout_s).c_str());
    } catch (const std::exception &e) {
        delete g;
        return yolo_error(YOLO_ERR_IO, "%s", explain_rendezvous(tidy(e.what()), o, o->timeout_s).c_str());
    } catch (...) {
        delete g;
        return yolo_error(YOLO_ERR_IO, "rendezvous: unknown failure");
    }
    *out = g;
    return YOLO_OK;
}

extern "C" void dist_free(dist_group *g) {
    if (!g) return;
    // A broken group may still have a collective waiting on a dead peer inside Gloo, which its destructor
    // would wait for: it is left to the end of the process instead.
    if (!g->broken.empty()) {
        g->pg.release();
        g->store.release();
    }
    try {
        g->pg.reset();
        g->store.reset();
    } catch (...) {
    }
    delete g;
}

extern "C" int dist_rank(const dist_group *g) {
    return g ? g->rank : 0;
}
extern "C" int dist_world(const dist_group *g) {
    return g ? g->world : 1;
}
extern "C" int dist_local_world(const dist_group *g) {
    return g ? g->local : 1;
}
extern "C" double dist_seconds(const dist_group *g) {
    return g ? g->seconds : 0;
}

extern "C" void dist_set_timeout(dist_group *g, double timeout_s) {
    if (g && timeout_s > 0) g->timeout = millis(timeout_s);
}

namespace {
// An allgather under way: one piece of work (recv), or a receive and a send per other rank.
struct works {
    std::vector<c10::intrusive_ptr<c10d::Work>> recv, send;
};

// Gloo's allgather costs 2-3 times the CPU of the same bytes sent and received point to point (measured
// on 2 MB and 12.6 MB between two ranks over loopback: it copies through a flat buffer and goes round
// the ring in pieces), and on a machine whose cores all compute, that CPU comes out of the training. So
// over Gloo each rank receives every other rank's input straight into its place in out and sends its
// own to each: the same bytes per rank as the ring, in the same places. NCCL keeps its allgather (its
// sends and receives would have to be grouped).
works start_allgather(dist_group *g, const torch_tensor *in, torch_tensor *out) {
    const at::Tensor &src = yt::T(in);
    at::Tensor &dst = yt::M(out);
    check_contiguous(src, "allgather input");
    check_contiguous(dst, "allgather output");
    int64_t n = src.numel();
    if (dst.numel() != n * g->world || dst.scalar_type() != src.scalar_type() || dst.device() != src.device())
        throw yt::usage_error("the output must hold world x input elements of the input's type and device");
    at::Tensor flat = dst.view({-1}), mine = src.view({-1});
    works w;
    if (!g->p2p) {
        std::vector<std::vector<at::Tensor>> outs(1);
        for (int r = 0; r < g->world; r++)
            outs[0].push_back(flat.narrow(0, r * n, n));
        std::vector<at::Tensor> ins{mine};
        c10d::AllgatherOptions ao;
        ao.timeout = g->timeout;
        w.recv.push_back(g->pg->allgather(outs, ins, ao));
        return w;
    }
    int tag = g->tag;
    g->tag = g->tag == INT32_MAX ? 0 : g->tag + 1;
    for (int r = 0; r < g->world; r++) {
        if (r == g->rank) continue;
        std::vector<at::Tensor> to{flat.narrow(0, r * n, n)};
        w.recv.push_back(g->pg->recv(to, r, tag));
    }
    for (int r = 0; r < g->world; r++) {
        if (r == g->rank) continue;
        std::vector<at::Tensor> from{mine};
        w.send.push_back(g->pg->send(from, r, tag));
    }
    at::Tensor place = flat.narrow(0, (int64_t)g->rank * n, n);
    if (place.data_ptr() != mine.data_ptr()) place.copy_(mine);
    return w;
}

// Waits for an allgather: its receives with the group's timeout, then its sends. A peer whose bytes
// have arrived had posted its receive for ours before it sent them (start_allgather posts the receives
// first), so from then on a send waits only for the transfer, and gets the group's first timeout, not
// the longer patience of a step that waits for a save. (Gloo does not wake a send queued on a connection
// that breaks: a rank killed while taking our bytes left its peer waiting out the whole patience, up to
// ten minutes.)
void wait_all(dist_group *g, works &w) {
    for (auto &one : w.recv)
        wait_for(g, *one, g->timeout);
    for (auto &one : w.send)
        wait_for(g, *one, std::min(g->timeout, g->base));
}
} // namespace

extern "C" yolo_status dist_allgather(dist_group *g, const torch_tensor *in, torch_tensor *out) {
    return guarded(g, "allgather", [&] {
        works w = start_allgather(g, in, out);
        wait_all(g, w);
    });
}

struct dist_work {
    dist_group *g;
    works w;
};

extern "C" yolo_status dist_allgather_start(dist_group *g, const torch_tensor *in, torch_tensor *out,
                                            dist_work **w) {
    *w = nullptr;
    works started;
    yolo_status st = guarded(g, "allgather", [&] { started = start_allgather(g, in, out); });
    if (st != YOLO_OK) return st;
    *w = new (std::nothrow) dist_work{g, std::move(started)};
    return *w ? YOLO_OK : yolo_nomem();
}

extern "C" yolo_status dist_wait(dist_work *w) {
    if (!w) return YOLO_OK;
    yolo_status st = guarded(w->g, "allgather", [&] { wait_all(w->g, w->w); });
    delete w;
    return st;
}

extern "C" yolo_status dist_allreduce_sum(dist_group *g, torch_tensor *t) {
    return collective(g, "allreduce", [&] {
        check_contiguous(yt::M(t), "allreduce tensor");
        std::vector<at::Tensor> ts{yt::M(t)};
        c10d::AllreduceOptions ao;
        ao.timeout = g->timeout;
        return g->pg->allreduce(ts, ao);
    });
}

extern "C" yolo_status dist_broadcast(dist_group *g, torch_tensor *t, int root) {
    return collective(g, "broadcast", [&] {
        check_contiguous(yt::M(t), "broadcast tensor");
        if (root < 0 || root >= g->world) throw yt::usage_error("root rank out of range");
        std::vector<at::Tensor> ts{yt::M(t)};
        c10d::BroadcastOptions bo;
        bo.rootRank = root;
        bo.timeout = g->timeout;
        return g->pg->broadcast(ts, bo);
    });
}

extern "C" yolo_status dist_barrier(dist_group *g) {
    return collective(g, "barrier", [&] {
        c10d::BarrierOptions bo;
        bo.timeout = g->timeout;
        return g->pg->barrier(bo);
    });
}
