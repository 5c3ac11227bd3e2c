#!/usr/bin/env bash
# demo.sh [DIR]: the guide's workflow on the built-in Fashion-MNIST data: train, Ctrl+C mid-run,
# resume, final table. Takes a few minutes on 2 cores. DIR defaults to ./demo (replaced each time).
set -u -o pipefail
HERE=$(dirname "$(readlink -f "$0")")
dir=${1:-demo}
yolo=$HERE/yolo
say() { printf '\n=== %s\n' "$*" >&2; }
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || { echo "demo: $dir: cannot create" >&2; exit 1; }
command -v yolo-data >/dev/null || PATH=$HERE/../build/bin:$PATH

say "yolo-data fashion: a detection set of 48 train + 16 val images (64x64) from Fashion-MNIST"
yolo-data fashion --task detect --out fashion --train 48 --val 16 --imgsz 64 || exit 1

say "yolo detect train data=fashion/data.yaml epochs=4 imgsz=64 batch=16  (Ctrl+C comes during epoch 2)"
set -m  # own process group, as a terminal's foreground job: Ctrl+C reaches yolo and its pipeline
"$yolo" detect train data=fashion/data.yaml epochs=4 imgsz=64 batch=16 save_every=1 &
pid=$!
last=runs/detect/train/weights/last.pt
until [ -f $last ] && yolo-ckpt inspect $last 2>/dev/null | grep -q 'epoch 1 of 4 done'; do
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
done
sleep 1
say "Ctrl+C (SIGINT to the whole job)"
kill -INT -- -$pid 2>/dev/null
wait $pid
echo "yolo exited with status $? (130: interrupted after saving)" >&2
set +m
yolo-ckpt inspect $last | grep -E '^(epoch|resumable)' >&2

say "yolo detect train resume model=$last"
"$yolo" detect train resume model=$last || exit 1

say "results.csv (one row per epoch, none lost or repeated)"
cut -d, -f1,3-5,8,9 runs/detect/train/results.csv
