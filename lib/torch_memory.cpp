// libtorch wrapper: the CPU allocator of training processes (torch_memory_reuse in include/yolo/torch.h).
//
// A training step allocates the same large tensors at every step (activations, their gradients).
// glibc maps each block over its mmap threshold on its own and unmaps it on free, so every step
// faulted gigabytes in again, page by page: at 640 px, 30% of an epoch was kernel time. Keeping
// freed blocks mapped ends that, but a block freed at one size cannot serve a request of another:
// a size-keyed cache, or glibc's heap with mmap off, grew to 1.3-1.5x the live peak.
//
// This pool keeps the freed pages themselves. A request takes a freed block of its size when there
// is one (at every step but the first, nearly always); otherwise freed blocks are broken up into
// pieces and the block is carved from one piece, or assembled from several, moved next to each
// other with mremap (the kernel moves page-table entries: nothing is copied, zeroed or faulted).
// Resident memory stays at the live peak, and each page is faulted in once per process. A trainer
// forked by a trainer server takes its new pages from the server's memory file (lib/serve.c): the
// next epoch's process then maps the pages this one used instead of having them zeroed again.
//
// Blocks under 1 MiB come from libtorch's own allocation function (glibc, which keeps them).
#include "torch_internal.hpp"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <malloc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMinBlock = 1u << 20;
// A block of more pieces is completed with fresh pages; more loose pieces than this are unmapped
// (the smallest first), so that the process' mappings stay few whatever the sizes asked for.
constexpr size_t kMaxPieces = 64, kMaxLoose = 512;
// map_file's answer when a block has no pages at all
constexpr int64_t kFileFailed = -2;

// A page range inside one kernel mapping (mremap moves only such ranges), and where its pages are in
// the memory file (-1: private pages).
struct piece {
    char *addr;
    size_t len;
    int64_t off;
};

// p from byte `from` on
piece rest(const piece &p, size_t from) {
    return {p.addr + from, p.len - from, p.off < 0 ? -1 : p.off + (int64_t)from};
}

// A block handed out: the pieces it is made of, in address order; the first one starts it.
struct block {
    std::vector<piece> pieces;
    size_t size = 0;
};

class page_pool final : public c10::Allocator {
  public:
    c10::DataPtr allocate(size_t n) const override {
        void *p = n < kMinBlock ? c10::alloc_cpu(n) : take(n);
        return c10::DataPtr(p, p, &release, c10::Device(c10::DeviceType::CPU));
    }
    // raw_allocate/raw_deallocate (used inside libtorch) need data == context and this deleter.
    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    // New pages from here on come from this memory file, from its start (before any allocation).
    void take_pages_from(int fd) {
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
            file = fd, file_size = (size_t)st.st_size / kPage * kPage;
    }

  private:
    static void release(void *p);

    void *take(size_t n) const {
        size_t r = (n + kPage - 1) / kPage * kPage;
        std::lock_guard<std::mutex> g(mu);
        block *b = get(r);
        if (!b) {
            unmap_idle(); // out of address space: give back what is kept, and try once more
            b = get(r);
        }
        TORCH_CHECK(b, "out of memory: cannot map ", r, " bytes for a tensor");
        void *p = b->pieces[0].addr;
        live.emplace(p, b);
        return p;
    }

    block *get(size_t r) const {
        auto it = idle.lower_bound(r);
        if (it != idle.end() && it->first - r <= r / 8) {
            block *b = it->second;
            idle.erase(it);
            return b;
        }
        block *b = new (std::nothrow) block;
        if (!b) return nullptr;
        b->size = r;
        break_up(r);
        if (carve(r, b) || gather(r, b)) return b;
        delete b;
        return nullptr;
    }

    // Freed blocks, the largest first, become loose pieces until these cover r bytes.
    void break_up(size_t r) const {
        size_t have = 0;
        for (const auto &kv : loose)
            have += kv.first;
        while (have < r && !idle.empty()) {
            auto last = std::prev(idle.end());
            block *b = last->second;
            have += last->first;
            idle.erase(last);
            for (const piece &p : b->pieces)
                loose.emplace(p.len, p);
            delete b;
        }
        while (loose.size() > kMaxLoose) {
            unmap(loose.begin()->second);
            loose.erase(loose.begin());
        }
    }

    // The smallest loose piece that holds r bytes; the rest of it stays loose.
    bool carve(size_t r, block *b) const {
        auto it = loose.lower_bound(r);
        if (it == loose.end()) return false;
        piece p = it->second;
        loose.erase(it);
        if (p.len > r) loose.emplace(p.len - r, rest(p, r));
        b->pieces.push_back({p.addr, r, p.off});
        return true;
    }

    // A fresh mapping of r bytes, filled with the largest loose pieces (fresh pages where they run out).
    bool gather(size_t r, block *b) const {
        void *m = mmap(nullptr, r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return false;
        char *dst = static_cast<char *>(m), *end = dst + r;
        while (dst < end && !loose.empty() && b->pieces.size() + 1 < kMaxPieces) {
            auto it = std::prev(loose.end());
            piece p = it->second;
            size_t use = std::min(p.len, (size_t)(end - dst));
            if (mremap(p.addr, use, use, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED) break;
            loose.erase(it);
            if (use < p.len) loose.emplace(p.len - use, rest(p, use));
            b->pieces.push_back({dst, use, p.off});
            dst += use;
        }
        if (dst < end) {
            size_t len = (size_t)(end - dst);
            int64_t off = map_file(dst, len);
            if (off == kFileFailed) { // nothing of the block can be used: its pieces go back to the kernel
                b->pieces.push_back({dst, len, -1});
                for (const piece &p : b->pieces)
                    unmap(p);
                b->pieces.clear();
                return false;
            }
            b->pieces.push_back({dst, len, off});
            // the fresh pages all at once (a tensor's block is written whole): one call instead of a
            // fault per 4 KiB page took a quarter off the first step's kernel time at 640 px. Huge pages
            // (MADV_HUGEPAGE) were tried and dropped: on this VM class their first touch costs the host
            // more than it saves (kernel time 1.3 s -> 5.6 s for the first step). Advice: older kernels
            // fault instead. (The file's pages: map_file.)
            if (off < 0) madvise(dst, len, MADV_POPULATE_WRITE);
        }
        return true;
    }

    // Puts the file's next len bytes, their pages made, in place of the pages at dst: their offset in
    // the file; -1 when it has no more or cannot be mapped (the private pages stay, or are put back);
    // kFileFailed when neither is there any more.
    int64_t map_file(char *dst, size_t len) const {
        if (file < 0 || file_size - file_used < len) return -1;
        void *m = mmap(dst, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, file, (off_t)file_used);
        if (m == MAP_FAILED) return -1;
        int64_t off = (int64_t)file_used;
        file_used += len;
        // The pages all at once, with a read: the kernel then maps 16 at a time, writable (0.2 s for
        // 2.4 GiB that the file holds, against 0.5 s with a write). A page of a file is otherwise made
        // when first touched, and one that cannot be made then (memory accounted strictly:
        // vm.overcommit_memory=2) kills the process with SIGBUS; here a failure can still be told,
        // and the block takes private pages, which are accounted when mapped. (EINVAL: a kernel
        // without the advice; the pages come as touched.)
        if (madvise(dst, len, MADV_POPULATE_READ) == 0 || errno == EINVAL) return off;
        punch({dst, len, off});
        m = mmap(dst, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        return m == MAP_FAILED ? kFileFailed : -1;
    }

    // Gives a piece's pages back to the kernel (those of the file too: they are not used again).
    void unmap(const piece &p) const {
        munmap(p.addr, p.len);
        punch(p);
    }

    // Frees the file's pages under a piece (the file keeps its size); none for private pages.
    void punch(const piece &p) const {
        if (p.off >= 0)
            fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)p.off, (off_t)p.len);
    }

    void unmap_idle() const {
        for (const auto &kv : idle) {
            for (const piece &p : kv.second->pieces)
                unmap(p);
            delete kv.second;
        }
        idle.clear();
        for (const auto &kv : loose)
            unmap(kv.second);
        loose.clear();
    }

    int file = -1; // the memory file new pages come from (torch_memory_reuse), its size and how much is used
    size_t file_size = 0;
    mutable size_t file_used = 0;
    mutable std::mutex mu;
    mutable std::unordered_map<void *, block *> live; // by address
    mutable std::multimap<size_t, block *> idle;      // freed blocks, by size
    mutable std::multimap<size_t, piece> loose;       // pieces of broken-up blocks, by length
};

// Never destroyed: tensors may be freed by other static destructors at exit.
page_pool *pool;

void page_pool::release(void *p) {
    if (!p) return;
    std::unique_lock<std::mutex> g(pool->mu);
    auto it = pool->live.find(p);
    if (it == pool->live.end()) {
        g.unlock();
        c10::free_cpu(p); // a small block
        return;
    }
    block *b = it->second;
    pool->live.erase(it);
    pool->idle.emplace(b->size, b);
}

} // namespace

extern "C" yolo_status torch_memory_reuse(int file) {
    // the smaller blocks stay in glibc's heap: no mmap under 32 MiB (glibc's largest threshold), and no
    // trimming of what is freed
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    return yt::guard("memory pool", [file] {
        static std::once_flag once;
        std::call_once(once, [file] {
            pool = new page_pool;
            pool->take_pages_from(file);
        });
        c10::SetCPUAllocator(pool, 1);
    });
}
