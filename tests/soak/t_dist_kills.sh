# A world=2 run (yolo ... world=2) SIGKILLed again and again, at least 12 times, and resumed, ends
# bit-identical to an uninterrupted one: the whole run at once (every process, as a power cut), then
# `yolo ... resume`; one rank, which the loop restarts with the others (max_restarts); and one rank while
# the other waits in the step's allgather for it (stopped with SIGSTOP first, so that the kill falls
# inside the collective). 64 px Fashion-MNIST, 64 images, batch 8, 16 epochs, save_every=1.
. "$(dirname "$0")/../lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"
set -m # each loop in a process group of its own, as from a terminal

fashion_data detect ds 64 16
common=(data=ds/data.yaml model=yolov8n.yaml epochs=16 batch=8 imgsz=64 workers=1 save_every=1 exist_ok=true)
yolo detect train "${common[@]}" name=ref world=2 >ref.out 2>ref.err || { fail "the uninterrupted run: $(tail -2 ref.err)"; exit 1; }
ok "the uninterrupted world=2 run"

# every process of run k: the loop's group and each rank's (GNU parallel gives each job its own)
run_groups() { echo "$1"; pgrep -f -- "runs/detect/k/" | xargs -r ps -o pgid= -p | sort -u; }
# rank R's trainer: the process with the rank's arguments, or the one the trainer server forked for it
# (it runs in that process's group, as yolo-train-epoch)
rank_pid() {
    local c p
    c=$(pgrep -f -- "runs/detect/k/weights/last.pt.*--rank $1 " | head -1)
    [ -n "$c" ] || return 0
    for p in $(pgrep -g "$(ps -o pgid= -p "$c" | tr -d ' ')"); do
        [ "$(readlink "/proc/$p/exe")" = "$BIN/yolo-train-epoch" ] && { echo "$p"; return 0; }
    done
}
# until both ranks of run k train (30 s at most), then a random pause of 0.3 to 2 s, so that kills land
# anywhere in the epochs
ranks_up() {
    local k
    for k in $(seq 300); do
        [ -n "$(rank_pid 0)" ] && [ -n "$(rank_pid 1)" ] && break
        kill -0 "$loop" 2>/dev/null || return 1
        sleep 0.1
    done
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + 1.7 * r / 32767 }')"
}

kills=0 whole=0 single=0 collective=0 loop="" mode=0
start() {
    if [ -f runs/detect/k/weights/last.pt ]; then
        yolo detect train resume model=runs/detect/k/weights/last.pt max_restarts=100 >>k.out 2>>k.err &
    else
        yolo detect train "${common[@]}" name=k world=2 max_restarts=100 >>k.out 2>>k.err &
    fi
    loop=$!
}
start
for round in $(seq 60); do
    [ $kills -ge 12 ] && break
    ranks_up || break # finished
    r0=$(rank_pid 0) r1=$(rank_pid 1)
    [ -n "$r0" ] && [ -n "$r1" ] || continue # between epochs
    case $((mode % 3)) in
    0)  # power cut; again while anything of the run is left (a rank that GNU parallel started between
        # pgrep and kill would otherwise live on, holding the run's lock)
        for _ in $(seq 20); do
            for g in $(run_groups "$loop"); do kill -9 -- "-$g" 2>/dev/null; done
            sleep 0.1
            pgrep -f -- "runs/detect/k/" >/dev/null || break
        done
        wait "$loop" 2>/dev/null
        whole=$((whole + 1))
        start ;;
    1)  # one rank; the loop restarts both
        victim=$((RANDOM % 2))
        [ $victim = 0 ] && kill -9 "$r0" || kill -9 "$r1"
        single=$((single + 1)) ;;
    2)  # rank 0 while it waits for rank 1 in the allgather
        kill -STOP "$r1"
        sleep 1
        state=$(awk '{ print $3 }' "/proc/$r0/stat" 2>/dev/null)
        kill -9 "$r0"
        kill -CONT "$r1"
        [ "$state" = S ] && collective=$((collective + 1)) ;;
    esac
    kills=$((kills + 1)) mode=$((mode + 1))
done
wait "$loop"
rc=$?
[ $rc -eq 0 ] || { yolo detect train resume model=runs/detect/k/weights/last.pt >>k.out 2>>k.err; rc=$?; }
restarts=$(cat runs/detect/k/restarts.log 2>/dev/null | wc -l)
[ $rc -eq 0 ] && ok "$kills kills ($whole of the whole run, $single of one rank, $collective of a rank in the collective), $restarts restarts by the loop: the run finished" ||
    fail "after $kills kills the run did not finish (exit $rc): $(grep -v '^ ' k.err | tail -3 | tr '\n' '|')"
[ $kills -ge 10 ] && [ $whole -ge 2 ] && [ $single -ge 2 ] && [ $collective -ge 2 ] && ok "at least 10 kills, at least 2 of each kind" ||
    fail "too few kills landed: $kills ($whole whole, $single single, $collective in the collective)"
if yolo-ckpt diff runs/detect/ref/weights/last.pt runs/detect/k/weights/last.pt >diff.out 2>&1; then
    ok "bit-identical to the uninterrupted run"
else
    fail "differs from the uninterrupted run: $(tail -1 diff.out)"
fi
