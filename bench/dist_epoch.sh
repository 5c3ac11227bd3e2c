#!/usr/bin/env bash
# Data-parallel epoch times (figures only, never pass/fail): one epoch of fashion_det256 (256 train + 64
# val images) at imgsz 128, batch 16, yolov8n.yaml, as one process with 1 and with 2 threads, and as two
# ranks of one thread each (world=2, micro-batches of 8), process start, checkpoint read, validation
# (each rank a share of it) and writing included; the streams (each rank's shard) are made beforehand. For each: the
# wall time, the CPU time of all processes, and for the ranks the time each spent in the step's
# collective (allgather: waiting for the other rank, and the exchange), per step. The machine's load
# average is printed first: on a shared machine the wall times are noisy, compare the lines of one run.
# Usage: bench/dist_epoch.sh [repeats]   (default 2; the best wall time of the repeats is printed)
set -u
cd "$(dirname "$0")/.." || exit 0
BUILD=${BUILD:-build}
BIN=$PWD/$BUILD/bin
DATA=${DATA:-$PWD/tests/data}
DATA=$DATA/fashion_det256/data.yaml
[ -x "$BIN/yolo-train-epoch" ] || { echo "dist_epoch: $BIN/yolo-train-epoch not built (run make)"; exit 0; }
[ -f "$DATA" ] || { echo "dist_epoch: $DATA not found"; exit 0; }
export YOLO_MODELS=${YOLO_MODELS:-$PWD/cfg/models}
# never write label caches into the test data
export YOLO_LABEL_CACHE=off
W=$(mktemp -d "/tmp/bench-dist_epoch.XXXXXX")
trap 'rm -rf "$W"' EXIT
N=${1:-2}
. bench/epoch_args.bash # (the scripts run from the root)
epoch_args_yaml "$W/args.yaml" "$DATA" 128
now() { date +%s.%N; }
echo "dist_epoch: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

src=(--split train --epoch 0 --epochs 30 --seed 0 --imgsz 128)
"$BIN/yolo-data" "$DATA" "${src[@]}" -o "$W/all" 2>/dev/null
for r in 0 1; do "$BIN/yolo-data" "$DATA" "${src[@]}" --shard $r/2 --shard-block 8 -o "$W/s$r" 2>/dev/null; done

# run NAME WORLD THREADS: one epoch 0, the best of N; prints wall, CPU and the ranks' collective time
run() {
    local name=$1 world=$2 th=$3 best="" cpu="" comm="" k r t0 t1 wall
    for k in $(seq "$N"); do
        rm -rf "$W/$name"
        t0=$(now)
        if [ "$world" = 1 ]; then
            YOLO_PROFILE=1 /usr/bin/time -f %U+%S -o "$W/cpu0" "$BIN/yolo-train-epoch" --new "$W/args.yaml" \
                -o "$W/$name/weights/last.pt" threads="$th" <"$W/all" >/dev/null 2>"$W/err0"
        else
            local port=$((20000 + RANDOM % 30000))
            for r in 1 0; do
                YOLO_PROFILE=1 /usr/bin/time -f %U+%S -o "$W/cpu$r" "$BIN/yolo-train-epoch" --new "$W/args.yaml" \
                    -o "$W/$name/weights/last.pt" threads="$th" --world 2 --rank $r --master 127.0.0.1:$port \
                    <"$W/s$r" >/dev/null 2>"$W/err$r" &
            done
            wait
        fi
        t1=$(now)
        [ -f "$W/$name/weights/last.pt" ] || { echo "dist_epoch: $name failed: $(tail -1 "$W/err0")"; return; }
        wall=$(echo "$t1 - $t0" | bc)
        if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc)" = 1 ]; then
            best=$wall
            cpu=$(cat "$W"/cpu* | bc | paste -sd+ | bc)
            comm=""
            for r in $(seq 0 $((world - 1))); do
                [ "$world" = 1 ] && break
                comm+=$(sed -n 's/^profile:.* collectives \([0-9.]*\) s,.*/\1/p' "$W/err$r" |
                    awk -v r=$r '{ printf " rank %d %.3f s (%.1f ms a step)", r, $1, 1000 * $1 / 16 }')
            done
        fi
        rm -f "$W"/cpu*
    done
    printf 'dist_epoch: %-22s %6.2f s wall, %6.2f s CPU%s\n' "$name" "$best" "$cpu" "${comm:+, collectives:$comm}"
}
run "world=1 workers=1" 1 1
run "world=1 workers=2" 1 2
run "world=2 workers=1" 2 1
