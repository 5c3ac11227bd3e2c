#!/usr/bin/env bash
# yolo-eval speed on the fashion val set (16 images) with Ultralytics' stripped yolov8n checkpoint:
# images/s and the Speed line at imgsz 128 and 640, 1 and 2 threads; and the preds= mode (no libtorch)
# start-to-end time. Figures only, never pass/fail. Ultralytics prints about 8 ms inference per image
# at 128 on this machine class.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-$PWD/tests/data}
E=$PWD/$BUILD/bin/yolo-eval
CK=$DATA/ultralytics/yolov8n-fashion-final.pt
DATA=$DATA/fashion_det/data.yaml
[ -x "$E" ] && [ -x "$PWD/$BUILD/bin/yolo-eval-model" ] || { echo "eval_speed: yolo-eval not built (run make)"; exit 0; }
[ -f "$CK" ] || { echo "eval_speed: $CK not found"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for s in 128 640; do
    for t in 1 2; do
        t0=$(date +%s%N)
        "$E" model="$CK" data="$DATA" imgsz="$s" batch=16 threads="$t" save_txt="$tmp/p$s" >"$tmp/out" 2>"$tmp/err"
        t1=$(date +%s%N)
        n=$(awk '$1 == "all" {print $2}' "$tmp/out")
        echo "model= imgsz $s, $t thread(s): ${n:-?} images in $(((t1 - t0) / 1000000)) ms wall" \
             "($(awk -v n="${n:-0}" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}') images/s incl. start)"
        grep '^Speed:' "$tmp/err" | sed 's/^/    /'
        grep -E '^ +all ' "$tmp/out" | sed 's/^/    /'
    done
done
t0=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8 9 10; do "$E" preds="$tmp/p128" data="$DATA" >/dev/null; done
t1=$(date +%s%N)
echo "preds= (no libtorch) on the saved 128-px predictions: $(((t1 - t0) / 10000000)) ms per run, start to end"
