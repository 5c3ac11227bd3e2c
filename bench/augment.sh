#!/usr/bin/env bash
# Train-transform speed per core (mosaic chain at imgsz 128 and 640, detect and segment), from
# pre-decoded images so that decoding is not counted; see bench/augment.c. Figures only.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$BUILD/bench/augment"
if [ ! -x "$bin" ]; then echo "augment: $bin is not built (make BUILD=$BUILD)"; exit 0; fi
"$bin"
