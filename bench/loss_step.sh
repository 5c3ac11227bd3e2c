#!/usr/bin/env bash
# The training core around the network: detection loss + backward to the head outputs, and the
# optimizer side of a step (clip, SGD/AdamW, zero_grad, EMA) over ~4.3M parameters. Figures only.
# Usage: bench/loss_step.sh [imgsz...]   (default 128 640); ITERS timed repeats (default 5).
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ITERS=${ITERS:-5}
sizes=${*:-128 640}
for s in $sizes; do
    for t in 1 2; do
        "$BUILD/bench/loss_step" "$s" 16 "$t" "$ITERS" 4
    done
done
