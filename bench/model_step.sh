#!/usr/bin/env bash
# Forward+backward of yolov8n, batch 16, at imgsz 128 and 640, 1 and 2 threads: ours (C on libtorch)
# next to the same network in Python PyTorch. Figures only. ITERS (default 3) timed steps after a warm-up.
# Usage: bench/model_step.sh [imgsz...]   (default 128 640)
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
ITERS=${ITERS:-3}
sizes=${*:-128 640}
"$BUILD/bench/model_step" --wrapper-cost
"$PYTHON" bench/model_step.py --wrapper-cost
for s in $sizes; do
    for t in 1 2; do
        "$BUILD/bench/model_step" "$s" 16 "$t" "$ITERS" yolov8n.yaml
        "$PYTHON" bench/model_step.py "$s" 16 "$t" "$ITERS" n
    done
    # libgomp spins while waiting for work by default; on a machine with other load that starves the
    # second thread. The wait policy is read when libgomp loads, so it can only come from the environment.
    echo "with OMP_WAIT_POLICY=PASSIVE:"
    OMP_WAIT_POLICY=PASSIVE "$BUILD/bench/model_step" "$s" 16 2 "$ITERS" yolov8n.yaml
    OMP_WAIT_POLICY=PASSIVE "$PYTHON" bench/model_step.py "$s" 16 2 "$ITERS" n
done
