#!/usr/bin/env bash
# Checkpoint reader timings (figures only): the C library (bench_ckpt) and Python's torch.load of the
# same file for comparison.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-$PWD/tests/data}
PYTHON=${PYTHON:-/usr/bin/python3}
F=${1:-$DATA/ultralytics/yolov8n-fashion-mid.pt}
B=$PWD/$BUILD/bench/bench_ckpt
[ -x "$B" ] || { echo "ckpt_read: $B not built (run make)"; exit 0; }
DATA=$DATA "$B" "$F"
if "$PYTHON" -c 'import torch' 2>/dev/null; then
    "$PYTHON" - "$F" <<'PY'
import sys, time, statistics, types, importlib.machinery
import torch
# Ultralytics is not installed here: serve its classes as empty nn.Module subclasses.
class Stub(types.ModuleType):
    def __getattr__(self, n):
        if n.startswith('__'): raise AttributeError(n)
        c = type(n, (torch.nn.Module,), {'__module__': self.__name__}); setattr(self, n, c); return c
class Finder:
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self, is_package=True) if name.split('.')[0] == 'ultralytics' else None
    def create_module(self, spec): return Stub(spec.name)
    def exec_module(self, m): m.__path__ = []
sys.meta_path.append(Finder())
f = sys.argv[1]
torch.load(f)
t = []
for _ in range(7):
    t0 = time.perf_counter(); torch.load(f); t.append((time.perf_counter() - t0) * 1e3)
print('%-34s median %8.2f ms  min %8.2f ms' % ('python torch.load (torch %s)' % torch.__version__, statistics.median(t), min(t)))
PY
fi
