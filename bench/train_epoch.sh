#!/usr/bin/env bash
# yolo-train-epoch timings (figures only, never pass/fail): wall time of one training epoch on
# fashion_det256 (256 train + 64 val images) at imgsz 128, batch 16, yolov8n.yaml, at 1 and 2 threads,
# process start, checkpoint load/save and validation included; the stream is made beforehand, so the
# figure is the trainer's alone (the yolo-data time is printed beside it). Peak RSS when GNU time exists,
# and the trainer's own YOLO_PROFILE breakdown (steps, validation, save, time before main, open).
# Each epoch is timed twice: as a process of its own (yolo-train-epoch, which loads libtorch: 0.3 s
# before main) and as the yolo loop runs it, a process forked by the trainer server for
# yolo-train-epoch-client (libtorch already loaded; the time runs from the client's start to its exit).
# Reference (issue 6): Ultralytics 8.4.52 takes 4.9 s per epoch at 1 thread, 3.7 s at 2, peak RSS 675 MiB.
# Usage: bench/train_epoch.sh [epochs-to-time]   (default 2: epoch 0 from args.yaml, then epoch 1 resumed)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$PWD/$BUILD/bin
DATA=${DATA:-$PWD/tests/data}
DATA=$DATA/fashion_det256/data.yaml
[ -x "$BIN/yolo-train-epoch" ] || { echo "train_epoch: $BIN/yolo-train-epoch not built (run make)"; exit 0; }
[ -f "$DATA" ] || { echo "train_epoch: $DATA not found"; exit 0; }
export YOLO_MODELS=${YOLO_MODELS:-$PWD/cfg/models}
# never write label caches into the test data
export YOLO_LABEL_CACHE=off
W=$(mktemp -d /tmp/bench-train.XXXXXX)
trap 'rm -rf "$W"' EXIT
N=${1:-2}
now() { date +%s.%N; }
TIMEV=
/usr/bin/time -v true >/dev/null 2>&1 && TIMEV="/usr/bin/time -v -o $W/rss"

cat >"$W/args.yaml" <<Y
task: detect
model: yolov8n.yaml
data: $DATA
epochs: 30
batch: 16
imgsz: 128
seed: 0
Y
for e in $(seq 0 $((N - 1))); do
    t0=$(now)
    "$BIN/yolo-data" "$DATA" --split train --epoch $e --epochs 30 --seed 0 --imgsz 128 -o "$W/s$e.bin" 2>/dev/null
    t1=$(now)
    printf 'train_epoch: yolo-data stream of epoch %d: %.2f s\n' $e "$(echo "$t1 - $t0" | bc)"
done
exec {server_in}> >(exec "$BIN/yolo-train-epoch" --serve "$W/socket" >/dev/null 2>&1)
server=$!
for how in process served; do
    run=("$BIN/yolo-train-epoch")
    [ $how = served ] && run=(env YOLO_TRAINER_SOCKET="$W/socket" YOLO_TRAINER_PID=$server "$BIN/yolo-train-epoch-client")
    for th in 1 2; do
        rm -rf "$W/t$th"
        for e in $(seq 0 $((N - 1))); do
            if [ $e -eq 0 ]; then set -- --new "$W/args.yaml" -o "$W/t$th/weights/last.pt"; else set -- "$W/t$th/weights/last.pt"; fi
            # the first served call waits for the server to load libtorch: not part of an epoch
            [ $how = served ] && [ $th = 1 ] && [ $e = 0 ] && "${run[@]}" --bogus >/dev/null 2>&1
            t0=$(now)
            YOLO_PROFILE=1 $TIMEV "${run[@]}" "$@" threads=$th <"$W/s$e.bin" >"$W/out" 2>"$W/err" || { echo "train_epoch: failed: $(tail -1 "$W/err")"; break; }
            t1=$(now)
            rss=
            [ -n "$TIMEV" ] && [ $how = process ] && rss=$(awk '/Maximum resident/ {r = $NF} /User time/ {u = $NF} /System time/ {s = $NF}
                END {printf "%.0f MiB, CPU %.2f s", r / 1024, u + s}' "$W/rss")
            printf 'train_epoch: %s, threads=%d epoch %d: %.2f s wall (Ultralytics %s s)%s  %s\n' $how $th $e "$(echo "$t1 - $t0" | bc)" \
                "$([ $th = 1 ] && echo 4.9 || echo 3.7)" "${rss:+, peak RSS $rss}" "$(grep -o 'mAP50-95(B)":[0-9.e-]*' "$W/out" | head -1)"
            # where the time outside the training steps goes: start-up, validation, checkpoint writing
            sed -n 's/^profile: /train_epoch:   /p' "$W/err"
        done
    done
done
exec {server_in}>&-
