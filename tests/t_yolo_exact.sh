# Exact resume (16 images, 4 batches an epoch: room for 5 kills and a mid-epoch one even on a fast
# machine): 4 epochs straight vs the same 4 epochs SIGKILLed (whole process group: yolo, yolo-data,
# yolo-train-epoch) at random instants at least 5 times and resumed each time, with save_every=1 so
# that kills mid-epoch resume from the last saved batch. last.pt and best.pt must be bit-identical and
# results.csv identical apart from the time column. A first kill before any checkpoint restarts from args.yaml.
. "$(dirname "$0")/lib.sh"
cd "$T"
fashion_data detect ds 16 4
yolo detect train data=ds/data.yaml epochs=4 imgsz=64 batch=4 workers=1 name=straight >s.out 2>s.err ||
    { fail "straight run: $(tail -2 s.err | tr '\n' '|')"; exit 0; }

K=runs/detect/killed
# save_every=1 only once epoch 0 is done: a mid-epoch checkpoint inside epoch 0 (epoch -1 plus a
# position) is taken for stripped weights by ckptfmt_kind and refused (reported to the lead)
fresh=(yolo detect train data=ds/data.yaml epochs=4 imgsz=64 batch=4 workers=1 name=killed exist_ok=true)
resume=(yolo detect train resume model=$K/weights/last.pt)
kills=0 midepoch=0 rc=1 log=""
finished() { yolo-ckpt inspect --json $K/weights/last.pt 2>/dev/null | grep -q '"why_not": "training finished'; }
set -m
for round in $(seq 20); do
    if [ -f $K/weights/last.pt ]; then "${resume[@]}" save_every=1 >>k.out 2>>k.err &
    elif [ -f $K/args.yaml ]; then "${resume[@]}" >>k.out 2>>k.err &
    else "${fresh[@]}" >>k.out 2>>k.err &
    fi
    pid=$!
    ino() { stat -c %i $K/weights/last.pt 2>/dev/null; }
    if [ $kills -eq 0 ]; then
        sleep "0.$((3 + RANDOM % 7))"  # early: before the first checkpoint (startup, data, first batches)
    elif [ $kills -lt 5 ]; then
        # after a new checkpoint (each is a new file, renamed in place), at a random instant of what
        # follows: data, batches, validation or the next write. From the third kill on, until one has
        # landed mid-epoch, a kill waits for a mid-epoch checkpoint and comes at once: a batch takes
        # only tens of milliseconds, and the epoch's last one soon replaces it.
        before=$(ino) at_once=""
        for _ in $(seq 600); do
            if [ "$(ino)" != "$before" ]; then
                { [ $kills -lt 2 ] || [ $midepoch -gt 0 ]; } && break
                yolo-ckpt inspect --json $K/weights/last.pt 2>/dev/null | grep -q '"position": {' && { at_once=1; break; }
                before=$(ino)
            fi
            kill -0 $pid 2>/dev/null || break
            sleep 0.05
        done
        # 0-0.29 s: with save_every=1 the next write is one batch away, and a longer wait lets a kill
        # skip whole epochs (4 kills could then reach the end, short of the 5 this test needs)
        [ -n "$at_once" ] || sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    fi
    # a kill after the last epoch's checkpoint only interrupts the final summary: leave that one be
    finished && { wait $pid; rc=$?; break; }
    if [ $kills -lt 5 ] && kill -9 -- -$pid 2>/dev/null; then
        kills=$((kills + 1))
        wait $pid 2>/dev/null
        while kill -0 -- -$pid 2>/dev/null; do sleep 0.05; done
        at=$(yolo-ckpt inspect --json $K/weights/last.pt 2>/dev/null | sed -n 's/^  "epochs_done": \([0-9]*\).*/\1/p')
        yolo-ckpt inspect --json $K/weights/last.pt 2>/dev/null | grep -q '"position": {' && { midepoch=$((midepoch + 1)); at="$at+"; }
        log="$log ${at:-none}"
        # killed inside the window between the last checkpoint and the exit: the run is complete
        finished && { rc=0; break; }
        continue
    fi
    wait $pid
    rc=$?
    [ $rc -eq 0 ] && break
done
set +m
echo "# $kills kills; epochs saved at each kill (+: mid-epoch):$log"
[ $rc -eq 0 ] && [ $kills -ge 5 ] && ok "killed $kills times with SIGKILL and resumed to the end" ||
    fail "killed run did not finish (exit $rc, $kills kills): $(grep -v '^ ' k.err | tail -3 | tr '\n' '|')"
[ $midepoch -ge 1 ] && ok "$midepoch kills resumed mid-epoch from a save_every checkpoint" || fail "no kill landed mid-epoch"
check "last.pt bit-identical to the straight run" yolo-ckpt diff runs/detect/straight/weights/last.pt $K/weights/last.pt
check "best.pt bit-identical to the straight run" yolo-ckpt diff runs/detect/straight/weights/best.pt $K/weights/best.pt
if [ "$(cut -d, -f1,3- runs/detect/straight/results.csv)" = "$(cut -d, -f1,3- $K/results.csv)" ] &&
    [ "$(wc -l <$K/results.csv)" -eq 5 ]; then ok "results.csv identical apart from time (4 rows, none duplicated)"
else fail "results.csv differs: $(diff <(cut -d, -f1,3- runs/detect/straight/results.csv) <(cut -d, -f1,3- $K/results.csv) | head -4 | tr '\n' '|')"; fi
exit 0
