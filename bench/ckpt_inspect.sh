#!/usr/bin/env bash
# Timings of yolo-ckpt on the 24 MB Ultralytics mid-training checkpoint (figures only, never pass/fail):
# median wall time of inspect (target <= 20 ms), verify throughput (target >= 1 GB/s), and Python's
# torch.load of the same file for comparison.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CK=$PWD/$BUILD/bin/yolo-ckpt
DATA=${DATA:-$PWD/tests/data}
PYTHON=${PYTHON:-/usr/bin/python3}
F=$DATA/ultralytics/yolov8n-fashion-mid.pt
RUNS=${RUNS:-21}
[ -x "$CK" ] || { echo "ckpt_inspect: $CK not built (run make)"; exit 0; }
[ -f "$F" ] || { echo "ckpt_inspect: $F not found"; exit 0; }

# Median of RUNS wall times of a command, in milliseconds.
median_ms() {
    local i t0 t1
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    done | sort -n | awk '{a[NR] = $1} END {printf "%.2f", a[int((NR + 1) / 2)] / 1000}'
}

# Median of RUNS user+system CPU times, in milliseconds: less disturbed than wall time on a busy machine.
median_cpu_ms() {
    local i
    for ((i = 0; i < RUNS; i++)); do
        { TIMEFORMAT='%3U %3S'; time "$@" >/dev/null 2>&1; } 2>&1 | awk '{printf "%d\n", ($1 + $2) * 1e6}'
    done | sort -n | awk '{a[NR] = $1} END {printf "%.1f", a[int((NR + 1) / 2)] / 1000}'
}

size=$(stat -c %s "$F")
"$CK" inspect "$F" >/dev/null # warm the page cache
echo "file: $(basename "$F"), $size bytes"
echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "yolo-ckpt inspect:            median $(median_ms "$CK" inspect "$F") ms wall, $(median_cpu_ms "$CK" inspect "$F") ms cpu over $RUNS runs (target <= 20 ms)"
echo "yolo-ckpt inspect --json:     median $(median_ms "$CK" inspect --json --tensors "$F") ms over $RUNS runs"
v=$(RUNS=9 median_ms "$CK" verify "$F")
echo "yolo-ckpt verify:             median $v ms, $(awk -v s="$size" -v ms="$v" 'BEGIN {printf "%.2f", s / (ms / 1000) / 1e9}') GB/s (target >= 1 GB/s)"
imp=$(mktemp -d)
t0=$(date +%s%N); "$CK" import "$F" -o "$imp/imp.pt" >/dev/null 2>&1; t1=$(date +%s%N)
echo "yolo-ckpt import:             $(((t1 - t0) / 1000000)) ms (one run, writes $(stat -c %s "$imp/imp.pt" 2>/dev/null || echo ?) bytes)"
rm -rf "$imp"

if "$PYTHON" -c 'import torch' 2>/dev/null; then
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$PWD/tests/py "$PYTHON" - "$F" <<'PY'
import statistics, sys, time
import torch
import ultralytics_stubs  # Ultralytics is not installed: inert stand-ins for its classes
times = []
for _ in range(3):
    t0 = time.perf_counter(); torch.load(sys.argv[1]); times.append(time.perf_counter() - t0)
print(f"python torch.load (1.13):     median {statistics.median(times) * 1000:.0f} ms over 3 runs (torch already imported)")
PY
    t0=$(date +%s%N); "$PYTHON" -c 'import torch' 2>/dev/null; t1=$(date +%s%N)
    echo "python 'import torch' alone:  $(((t1 - t0) / 1000000)) ms"
else
    echo "python torch.load: python3-torch not available"
fi
