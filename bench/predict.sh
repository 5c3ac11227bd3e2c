#!/usr/bin/env bash
# yolo predict against yolo-eval model= on 100 images at 640 px (Fashion-MNIST items on 640 x 640
# JPEGs, Ultralytics' stripped yolov8n checkpoint): seconds per image, wall and CPU (user + sys), and
# how busy the two cores were (CPU / wall). predict also draws and writes every image. The machine is
# shared: the two tools are timed back to back, CPU time is the load-independent figure. Figures only.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-$PWD/tests/data}
B=$PWD/$BUILD/bin
CK=$DATA/ultralytics/yolov8n-fashion-final.pt
[ -x "$B/yolo-predict" ] && [ -x "$B/yolo-eval-model" ] || { echo "predict: tools not built (run make)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
N=${PREDICT_IMAGES:-100}
"$B/yolo-data" fashion --task detect --out "$tmp/d" --train 1 --val "$N" --imgsz 640 --jpeg >/dev/null 2>&1 ||
    { echo "predict: no demo data (dataset-fashion-mnist)"; exit 0; }
run() {
    local name=$1; shift
    /usr/bin/time -o "$tmp/time" -f '%e %U %S' "$@" >/dev/null 2>"$tmp/err"
    awk -v n="$N" -v name="$name" '{ c = $2 + $3; printf "%s: %.3f s/image wall, %.3f s/image CPU, %.2f cores busy\n", name, $1 / n, c / n, c / $1 }' "$tmp/time"
    grep '^Speed:' "$tmp/err" | sed 's/^/    /'
}
cores=$(nproc)
run "yolo-eval model= (threads default)" "$B/yolo-eval" model="$CK" data="$tmp/d/data.yaml" imgsz=640
run "yolo-eval model= threads=$cores" "$B/yolo-eval" model="$CK" data="$tmp/d/data.yaml" imgsz=640 threads="$cores"
run "yolo-predict (defaults: batch 16, threads $cores), saving $N pictures" "$B/yolo-predict" model="$CK" \
    source="$tmp/d/images/val" imgsz=640 save_dir="$tmp/p"
run "yolo-predict batch=1" "$B/yolo-predict" model="$CK" source="$tmp/d/images/val" imgsz=640 batch=1 save=false
# one thread, one image a batch: libtorch's own 1x1 convolutions, on lib/blas.c's sgemm_
run "yolo-predict batch=1 threads=1" "$B/yolo-predict" model="$CK" source="$tmp/d/images/val" imgsz=640 batch=1 \
    threads=1 save=false
