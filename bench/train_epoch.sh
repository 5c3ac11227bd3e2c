#!/usr/bin/env bash
# yolo-train-epoch timings (figures only, never pass/fail): wall time of one training epoch, batch 16,
# yolov8n.yaml, at 1 and 2 threads, process start, checkpoint load/save and validation included; the
# stream is made beforehand, so the figure is the trainer's alone (the yolo-data time is printed beside
# it). Two sizes:
#   128 px (default): fashion_det256 (256 train + 64 val images). Ultralytics 8.4.52 (issue 6): 4.9 s
#           per epoch at 1 thread, 3.7 s at 2, peak RSS 675 MiB.
#   640 px: fashion_det (64 train + 16 val images), the size users train at. Ultralytics 8.4.52
#           (issue 21): 49.0 s per epoch at 1 thread, peak RSS 4.4 GiB.
# Each epoch is timed twice: as a process of its own (yolo-train-epoch, which loads libtorch: 0.3 s
# before main) and as the yolo loop runs it, a process forked by the trainer server for
# yolo-train-epoch-client (libtorch already loaded; the time runs from the client's start to its exit),
# after the server's first epoch, which is printed on its own (its trainer makes the memory pages that
# the later ones reuse).
# Beside the wall time: the 2-thread speed-up, the trainer's user and system CPU time, the kernel's
# share of the wall time, minor page faults and peak RSS (its YOLO_PROFILE lines, which also say where
# the time went). Then the minor page faults of one training step after the first (a run stopped
# after 3 batches minus one stopped after 1, halved), at 1 thread: the memory a step reuses instead
# of faulting in again. CPU times and fault counts stay meaningful on a loaded machine; wall times not.
# Usage: bench/train_epoch.sh [epochs-to-time] [imgsz]   (default 2 128: epoch 0 from args.yaml, then
#        epoch 1 resumed). REPEATS=K times each epoch K times from the same checkpoint and prints the
#        best (a virtual machine's noise only ever adds time), with all K beside it.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$PWD/$BUILD/bin
DATA=${DATA:-$PWD/tests/data}
N=${1:-2}
REPEATS=${REPEATS:-1}
IMGSZ=${2:-128}
case $IMGSZ in
128) DATA=$DATA/fashion_det256/data.yaml REF1=4.9 REF2=3.7 REF_RSS=675 ;;
640) DATA=$DATA/fashion_det/data.yaml REF1=49.0 REF2= REF_RSS=4506 ;;
*) echo "train_epoch: imgsz $IMGSZ: no reference figures (128 or 640)"; exit 0 ;;
esac
[ -x "$BIN/yolo-train-epoch" ] || { echo "train_epoch: $BIN/yolo-train-epoch not built (run make)"; exit 0; }
[ -f "$DATA" ] || { echo "train_epoch: $DATA not found"; exit 0; }
export YOLO_MODELS=${YOLO_MODELS:-$PWD/cfg/models}
# never write label caches into the test data
export YOLO_LABEL_CACHE=off
W=$(mktemp -d /tmp/bench-train.XXXXXX)
trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
echo "train_epoch: $IMGSZ px, $(basename "$(dirname "$DATA")"), batch 16; load average $(cut -d' ' -f1-3 /proc/loadavg)"

. bench/epoch_args.bash # (the scripts run from the root)
epoch_args_yaml "$W/args.yaml" "$DATA" $IMGSZ
for e in $(seq 0 $((N - 1))); do
    t0=$(now)
    "$BIN/yolo-data" "$DATA" --split train --epoch $e --epochs 30 --seed 0 --imgsz $IMGSZ -o "$W/s$e.bin" 2>/dev/null
    t1=$(now)
    printf 'train_epoch: yolo-data stream of epoch %d: %.2f s\n' $e "$(echo "$t1 - $t0" | bc)"
done

# "user U s, sys S s, minor page faults F, ... peak RSS R MiB" of the trainer's profile in $W/err
usage() { sed -n 's/^profile: cpu user \([0-9.]*\) s, sys \([0-9.]*\) s, minor page faults \([0-9]*\), major [0-9]*, peak RSS \([0-9]*\) MiB/\1 \2 \3 \4/p' "$W/err"; }

# epoch FROM THREADS: one timed epoch ($e's stream) as $how runs it, from FROM (new: args.yaml; else a
# checkpoint), REPEATS times, each in a fresh folder ($W/r keeps the last); the best wall time in wall,
# all of them sorted in walls, the best one's profile and stdout in $W/err.best and $W/out.best
epoch() {
    local k t0 t1 w from=$1 th=$2 args
    walls=() wall=""
    for k in $(seq "$REPEATS"); do
        rm -rf "$W/r"
        if [ "$from" = new ]; then args=(--new "$W/args.yaml" -o "$W/r/weights/last.pt")
        else mkdir -p "$W/r/weights" && cp "$from" "$W/r/weights/last.pt" && args=("$W/r/weights/last.pt"); fi
        t0=$(now)
        YOLO_PROFILE=1 "${run[@]}" "${args[@]}" threads="$th" <"$W/s$e.bin" >"$W/out" 2>"$W/err" || { echo "train_epoch: failed: $(tail -1 "$W/err")"; return 1; }
        t1=$(now)
        w=$(echo "$t1 - $t0" | bc)
        walls+=("$w")
        if [ -z "$wall" ] || [ "$(echo "$w < $wall" | bc)" = 1 ]; then
            wall=$w
            cp "$W/err" "$W/err.best" && cp "$W/out" "$W/out.best"
        fi
    done
    mapfile -t walls < <(printf '%s\n' "${walls[@]}" | sort -n)
}

declare -A wall1
exec {server_in}> >(exec "$BIN/yolo-train-epoch" --serve "$W/socket" >/dev/null 2>&1)
server=$!
for how in process served; do
    run=("$BIN/yolo-train-epoch")
    if [ $how = served ]; then
        run=(env YOLO_TRAINER_SOCKET="$W/socket" YOLO_TRAINER_PID=$server "$BIN/yolo-train-epoch-client")
        # the first call waits for the server to load libtorch: not part of an epoch
        "${run[@]}" --bogus >/dev/null 2>&1
        # the server's first trainer makes the pages of its memory file, which every later one maps
        # (lib/serve.c): the lines after this one are such later epochs, as all but a run's first are
        e=0 REPEATS=1 epoch new 1 && read -r user sys faults rss < <(usage) &&
            printf 'train_epoch: served, the server'"'"'s first epoch (threads=1, epoch 0): %.2f s wall; sys %s s, %s minor faults\n' \
                "$wall" "$sys" "$faults"
    fi
    for th in 1 2; do
        from=new
        for e in $(seq 0 $((N - 1))); do
            epoch "$from" $th || break
            cp "$W/r/weights/last.pt" "$W/from$th-$e.pt" && from=$W/from$th-$e.pt
            cp "$W/err.best" "$W/err"
            [ $th = 1 ] && wall1[$how$e]=$wall
            ref=$([ $th = 1 ] && echo $REF1 || echo $REF2)
            speedup=
            [ $th = 2 ] && speedup=$(awk -v a="${wall1[$how$e]}" -v b="$wall" 'BEGIN {printf "%.2f", a / b}')
            read -r user sys faults rss < <(usage)
            printf 'train_epoch: %s, threads=%d epoch %d: %.2f s wall%s%s%s; CPU user %s s, sys %s s (kernel %.1f%% of wall), %s minor faults, peak RSS %s MiB (Ultralytics %s MiB)  %s\n' \
                $how $th $e "$wall" "${ref:+ (Ultralytics $ref s)}" "${speedup:+, ${speedup}x the 1-thread epoch}" \
                "$([ "$REPEATS" -gt 1 ] && echo ", best of $REPEATS (all: ${walls[*]})")" \
                "$user" "$sys" "$(echo "100 * $sys / $wall" | bc -l)" "$faults" "$rss" $REF_RSS \
                "$(grep -o 'mAP50-95(B)":[0-9.e-]*' "$W/out.best" | head -1)"
            # where the time went: steps by phase, validation, save, start-up
            sed -n '/^profile: cpu /d; s/^profile: /train_epoch:   /p' "$W/err"
        done
    done
done
exec {server_in}>&-

# page faults of one step after the first: a run stopped after 3 batches against one stopped after 1
declare -A step_faults step_sys
for stop in 1 3; do
    rm -rf "$W/f"
    YOLO_PROFILE=1 "$BIN/yolo-train-epoch" --new "$W/args.yaml" -o "$W/f/weights/last.pt" --stop-after $stop threads=1 \
        <"$W/s0.bin" >/dev/null 2>"$W/err" || { echo "train_epoch: failed: $(tail -1 "$W/err")"; exit 0; }
    read -r _ sys faults _ < <(usage)
    step_faults[$stop]=$faults step_sys[$stop]=$sys
done
printf 'train_epoch: one step after the first, 1 thread: %d minor page faults, %.3f s system time (the first step faults its working set in: %d in a run stopped after it)\n' \
    $(((step_faults[3] - step_faults[1]) / 2)) "$(echo "(${step_sys[3]} - ${step_sys[1]}) / 2" | bc -l)" "${step_faults[1]}"
