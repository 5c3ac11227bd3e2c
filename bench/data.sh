#!/usr/bin/env bash
# yolo-data timings (figures only, never pass/fail):
#   - train samples per second per core with mosaic, at imgsz 128 and 640, from PNG and from JPEG,
#     one process and two processes (--shard 0/2 and 1/2, one worker each);
#   - start-up time on a 10,000-image dataset with a warm label cache (an empty selection: --from N).
# Targets from the issue: >= 1,500 samples/s at 128 and >= 100 at 640 per core; start-up < 100 ms.
# Usage: bench/data.sh [samples-per-run]   (default 400 at 128, 100 at 640)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
D=$PWD/$BUILD/bin/yolo-data
[ -x "$D" ] || { echo "data: $D not built (run make)"; exit 0; }
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "data: dataset-fashion-mnist not installed"; exit 0; }
W=$(mktemp -d /tmp/bench-data.XXXXXX)
trap 'rm -rf "$W"' EXIT
N128=${1:-400}
N640=$(( ${1:-400} / 4 ))

now() { date +%s.%N; }

# Datasets: images are made at the training size, so the load-time resize is a copy, as on real data.
for sz in 128 640; do
    n=$([ $sz = 128 ] && echo 200 || echo 60)
    "$D" fashion --task detect --out "$W/png$sz" --train $n --val 4 --imgsz $sz --seed 1 2>/dev/null
    "$D" fashion --task detect --out "$W/jpg$sz" --train $n --val 4 --imgsz $sz --seed 1 --jpeg 2>/dev/null
    "$D" check "$W/png$sz/data.yaml" >/dev/null
    "$D" check "$W/jpg$sz/data.yaml" >/dev/null
done

# One epoch of a small dataset is short: run several epochs to reach the sample count. Figures: samples per
# second of wall time, and per CPU-second (user + sys), which is what "per core" means on a busy machine.
run() { # data imgsz total [shard-spec...]  ->  samples wall cpu
    local data=$1 sz=$2 total=$3; shift 3
    local per; per=$(ls "$(dirname "$data")/images/train" | wc -l)
    local epochs=$(( (total + per - 1) / per ))
    local specs=("$@"); [ "${#specs[@]}" -eq 0 ] && specs=(0/1)
    rm -f "$W/times"
    local t0; t0=$(now)
    for spec in "${specs[@]}"; do
        ( for e in $(seq 0 $((epochs - 1))); do
            /usr/bin/time -a -o "$W/times" -f "%U %S" "$D" "$data" --split train --epoch "$e" --imgsz "$sz" \
                --workers 1 --shard "$spec" -q -o /dev/null
          done ) &
    done
    wait
    local t1; t1=$(now)
    local cpu; cpu=$(awk '{ s += $1 + $2 } END { print s }' "$W/times")
    echo "$((epochs * per)) $(echo "$t1 - $t0" | bc -l) $cpu"
}

printf '%-36s %12s %14s %12s\n' "train stream, mosaic on" "samples/s" "per process" "per CPU-s"
for fmt in png jpg; do
    for sz in 128 640; do
        total=$([ $sz = 128 ] && echo "$N128" || echo "$N640")
        data=$W/$fmt$sz/data.yaml
        for procs in 1 2; do
            if [ $procs = 1 ]; then read -r n wall cpu <<<"$(run "$data" $sz "$total")"
            else read -r n wall cpu <<<"$(run "$data" $sz "$total" 0/2 1/2)"; fi
            printf '%-36s %12.0f %14.0f %12.0f\n' "$fmt imgsz $sz, $procs process(es)" "$(echo "$n / $wall" | bc -l)" \
                "$(echo "$n / $wall / $procs" | bc -l)" "$(echo "$n / $cpu" | bc -l)"
        done
    done
done

# Start-up with a warm cache on 10,000 images (32 px, so that making the set is quick).
"$D" fashion --task detect --out "$W/big" --train 10000 --val 1 --imgsz 32 --seed 2 2>/dev/null
t0=$(now); "$D" check "$W/big/data.yaml" >/dev/null; t1=$(now)
printf 'first scan of 10,000 images (cache build): %.2f s\n' "$(echo "$t1 - $t0" | bc -l)"
best=999 cpu=999
for r in 1 2 3 4 5; do
    t0=$(now)
    /usr/bin/time -o "$W/t1" -f "%U %S" "$D" "$W/big/data.yaml" --split train --imgsz 32 --from 10000 -q -o /dev/null
    t1=$(now)
    ms=$(echo "($t1 - $t0) * 1000" | bc -l)
    c=$(awk '{ print ($1 + $2) * 1000 }' "$W/t1")
    best=$(echo "if ($ms < $best) $ms else $best" | bc -l)
    cpu=$(echo "if ($c < $cpu) $c else $cpu" | bc -l)
done
printf 'start-up on 10,000 images, warm cache (best of 5): %.0f ms wall, %.0f ms CPU (target < 100 ms)\n' "$best" "$cpu"
