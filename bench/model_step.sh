#!/usr/bin/env bash
# Forward+backward of yolov8n, batch 16, at imgsz 128 and 640, 1 and 2 threads (and batch 8 at 1):
# ours (C on libtorch, both memory layouts, steps interleaved in one process) next to the same network
# in Python PyTorch (row-major, then channels-last weights and input); then eval-mode forwards of the
# fused network, both layouts.
# Figures only, CPU time (user+sys of all threads). ITERS (default 5) timed steps after a warm-up.
# Usage: bench/model_step.sh [imgsz...]   (default 128 640)
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
ITERS=${ITERS:-5}
sizes=${*:-128 640}
export YOLO_MODELS=${YOLO_MODELS:-$PWD/cfg/models}
"$BUILD/bench/model_step" --wrapper-cost
"$PYTHON" bench/model_step.py --wrapper-cost
for s in $sizes; do
    for t in 1 2; do
        "$BUILD/bench/model_step" "$s" 16 "$t" "$ITERS" yolov8n.yaml
        "$PYTHON" bench/model_step.py "$s" 16 "$t" "$ITERS" n
        CHANNELS_LAST=1 "$PYTHON" bench/model_step.py "$s" 16 "$t" "$ITERS" n
        EVAL=1 "$BUILD/bench/model_step" "$s" 16 "$t" "$ITERS" yolov8n.yaml
    done
    # libgomp spins while waiting for work by default; on a machine with other load that starves the
    # second thread. The wait policy is read when libgomp loads, so it can only come from the environment.
    echo "with OMP_WAIT_POLICY=PASSIVE:"
    OMP_WAIT_POLICY=PASSIVE "$BUILD/bench/model_step" "$s" 16 2 "$ITERS" yolov8n.yaml
    OMP_WAIT_POLICY=PASSIVE "$PYTHON" bench/model_step.py "$s" 16 2 "$ITERS" n
    # batch 8 at one thread: libtorch runs the 1x1 convolutions on its own kernels and the BLAS, here
    # lib/blas.c's sgemm_, in Python the reference BLAS's (the same bits)
    echo "batch 8, one thread:"
    "$BUILD/bench/model_step" "$s" 8 1 "$ITERS" yolov8n.yaml
    "$PYTHON" bench/model_step.py "$s" 8 1 "$ITERS" n
done
