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
done
