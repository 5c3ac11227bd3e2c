#!/usr/bin/env bash
# The optimizer side of a training step on yolov8n's 3.2M parameters: clip, step, zero_grad, EMA, and
# optim_clip_step_zero, each fused and op by op (libtorch ops, the bit-identical reference), at 1 and
# 2 threads, with warm caches and with caches swept as after backward. Figures only (CPU time).
# Usage: bench/optim_step.sh [optimizer...]   (default AdamW SGD); ITERS timed steps (default 11).
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ITERS=${ITERS:-11}
export YOLO_MODELS=${YOLO_MODELS:-$PWD/cfg/models}
for o in ${*:-AdamW SGD}; do
    for t in 1 2; do
        "$BUILD/bench/optim_step" "$t" "$ITERS" "$o"
        COLD=1 "$BUILD/bench/optim_step" "$t" "$ITERS" "$o"
    done
done
