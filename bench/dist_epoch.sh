#!/usr/bin/env bash
# Data-parallel epoch times (figures only, never pass/fail): one epoch of fashion_det256 (256 train + 64
# val images) at imgsz 128, batch 16, yolov8n.yaml, as one process with 1 and with 2 threads, and as two
# ranks of one thread each (world=2, micro-batches of 8): checkpoint read, validation (each rank a
# share of it) and writing included; the streams (each rank's shard) are made beforehand. Each is
# timed twice: as processes of their own (each loads libtorch, 0.3-0.5 s before main), and as the yolo
# loop runs them, forked from a trainer server (yolo-train-epoch --serve), ranks included. For each:
# the wall time, the CPU time of the trainers (their own profile), and for the ranks the time each
# spent in the step's collective (allgather: waiting for the other rank, and the exchange), per step.
# Last, the machine's ceiling: two whole one-thread epochs run at once, as independent processes (no
# exchange, nothing shared); half their wall time is the fastest that two processes (or two threads)
# can get through one epoch's work on these cores, however perfect the split. The machine's load
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
NS=ytbench$$ RATE=1gbit # (tc: 1 Gbit/s) the two hosts' namespaces, at the end
link_down() { ip netns del ${NS}0 2>/dev/null; ip netns del ${NS}1 2>/dev/null; }
trap 'link_down; rm -rf "$W"' EXIT
N=${1:-2}
. bench/epoch_args.bash # (the scripts run from the root)
epoch_args_yaml "$W/args.yaml" "$DATA" 128
now() { date +%s.%N; }
echo "dist_epoch: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

src=(--split train --epoch 0 --epochs 30 --seed 0 --imgsz 128)
"$BIN/yolo-data" "$DATA" "${src[@]}" -o "$W/all" 2>/dev/null
for r in 0 1; do "$BIN/yolo-data" "$DATA" "${src[@]}" --shard $r/2 --shard-block 8 -o "$W/s$r" 2>/dev/null; done

# trainer R STREAM ARGS...: one trainer in the background (as $how runs it), its profile in $W/errR
trainer() {
    local r=$1 in=$2 ns=(); shift 2
    [ -n "$LINK" ] && ns=(ip netns exec "$LINK$r")
    YOLO_PROFILE=1 "${ns[@]}" "${RUN[@]}" --new "$W/args.yaml" "$@" <"$in" >/dev/null 2>"$W/err$r" &
    PIDS+=($!)
}
# (not a bare wait, which would wait for the trainer server too)
trainers_wait() { wait "${PIDS[@]}"; PIDS=(); }
PIDS=()
# run NAME WORLD THREADS: one epoch 0, the best of N; prints wall, CPU (the trainers' own, from their
# profiles) and the ranks' collective time
run() {
    local name=$1 world=$2 th=$3 best="" cpu="" comm="" k r t0 t1 wall
    for k in $(seq "$N"); do
        rm -rf "$W/$name" "$W"/err? "$W"/pair?
        t0=$(now)
        if [ "$world" = pair ]; then
            for r in 0 1; do trainer $r "$W/all" -o "$W/pair$r/weights/last.pt" threads="$th"; done
            trainers_wait
            [ -f "$W/pair1/weights/last.pt" ] && mkdir -p "$W/$name" && mv "$W/pair0/weights" "$W/$name/"
        elif [ "$world" = 1 ]; then
            trainer 0 "$W/all" -o "$W/$name/weights/last.pt" threads="$th"
            trainers_wait
        else
            local port=$((20000 + RANDOM % 30000))
            for r in 1 0; do
                trainer $r "$W/s$r" -o "$W/$name/weights/last.pt" threads="$th" --world 2 --rank $r \
                    --master $MASTER:$port
            done
            trainers_wait
        fi
        t1=$(now)
        [ -f "$W/$name/weights/last.pt" ] || { echo "dist_epoch: $how, $name failed: $(tail -1 "$W/err0")"; return; }
        wall=$(echo "$t1 - $t0" | bc)
        if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc)" = 1 ]; then
            best=$wall
            cpu=$(sed -n 's/^profile: cpu user \([0-9.]*\) s, sys \([0-9.]*\) s.*/\1 \2/p' "$W"/err? |
                awk '{ c += $1 + $2 } END { print c }')
            comm=""
            for r in 0 1; do
                [ "$world" = 2 ] || break
                comm+=$(sed -n 's/^profile:.* collectives \([0-9.]*\) s,.*/\1/p' "$W/err$r" |
                    awk -v r=$r '{ printf " rank %d %.3f s (%.1f ms a step)", r, $1, 1000 * $1 / 16 }')
            done
        fi
    done
    printf 'dist_epoch: %s, %-22s %6.2f s wall, %6.2f s CPU%s\n' $how "$name" "$best" "$cpu" "${comm:+, collectives:$comm}"
    BEST[$how $name]=$best
}
declare -A BEST
LINK="" MASTER=127.0.0.1
# each as a process of its own (libtorch loads in each: 0.3-0.5 s), then as the yolo loop runs them,
# forked from a trainer server (every rank of world=2 too)
exec {server_in}> >(exec "$BIN/yolo-train-epoch" --serve "$W/socket" >/dev/null 2>&1)
server=$!
for how in process served; do
    RUN=("$BIN/yolo-train-epoch")
    if [ $how = served ]; then
        RUN=(env YOLO_TRAINER_SOCKET="$W/socket" YOLO_TRAINER_PID=$server "$BIN/yolo-train-epoch-client")
        "${RUN[@]}" --bogus >/dev/null 2>&1 # waits for the server to load libtorch: not part of an epoch
    fi
    run "world=1 workers=1" 1 1
    run "world=1 workers=2" 1 2
    run "world=2 workers=1" 2 1
    run "two world=1 at once" pair 1
    one=${BEST[$how world=1 workers=1]-} two=${BEST[$how world=2 workers=1]-} pair=${BEST[$how two world=1 at once]-}
    if [ -n "$one" ] && [ -n "$two" ] && [ -n "$pair" ]; then
        awk -v how=$how -v one="$one" -v two="$two" -v pair="$pair" 'BEGIN {
            printf "dist_epoch: %s, world=2 takes %.2fx the time of world=1 workers=1; the ceiling (half of two epochs at once, %.2f s) is %.2fx\n", how, two / one, pair / 2, pair / 2 / one }'
    fi
done
exec {server_in}>&-

# Two hosts: two network namespaces joined by a veth pair limited to 1 Gbit/s each way (tbf), a rank
# in each (as processes): the exchange then waits for the link, and the steps send their gradients
# while the backward pass runs. Needs root (CAP_NET_ADMIN).
if { ip netns add ${NS}0 && ip netns add ${NS}1 && ip link add ${NS}x type veth peer name ${NS}y &&
    ip link set ${NS}x netns ${NS}0 && ip link set ${NS}y netns ${NS}1 &&
    ip -n ${NS}0 addr add 10.77.1.1/24 dev ${NS}x && ip -n ${NS}1 addr add 10.77.1.2/24 dev ${NS}y &&
    ip -n ${NS}0 link set ${NS}x up && ip -n ${NS}1 link set ${NS}y up &&
    ip -n ${NS}0 link set lo up && ip -n ${NS}1 link set lo up &&
    ip netns exec ${NS}0 tc qdisc add dev ${NS}x root tbf rate $RATE burst 256kb latency 100ms &&
    ip netns exec ${NS}1 tc qdisc add dev ${NS}y root tbf rate $RATE burst 256kb latency 100ms; } 2>"$W/ip.err"; then
    LINK=$NS MASTER=10.77.1.1 how=process RUN=("$BIN/yolo-train-epoch")
    run "world=2, 1 Gbit link" 2 1
else
    echo "dist_epoch: two hosts over a $RATE/s link not timed: $(head -1 "$W/ip.err") (needs root)"
fi
