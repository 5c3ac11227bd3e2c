# `yolo ... train` end to end and the resume rules of Ultralytics' guide, on tiny Fashion-MNIST sets
# (8 train + 4 val images at 64 px, batch 4: two batches an epoch).
. "$(dirname "$0")/lib.sh"
cd "$T"
fashion_data detect ds 8 4
R=runs/detect/train
W=$R/weights
epochs_of() { yolo-ckpt inspect "$1" | sed -n 's/^epoch: *//p'; }
rows() { echo $(( $(wc -l <"$1") - 1 )); }

yolo detect train data=ds/data.yaml epochs=2 imgsz=64 batch=4 workers=1 >a.out 2>a.err
rc=$?
if [ $rc -eq 0 ] && [ -f $R/args.yaml ] && [ -f $W/last.pt ] && [ -f $W/best.pt ]; then ok "train makes $R with args.yaml, last.pt and best.pt"
else fail "train (exit $rc): $(tail -3 a.err | tr '\n' '|')"; exit 0; fi
[ "$(rows $R/results.csv)" = 2 ] && ok "results.csv has one row per epoch" || fail "results.csv rows: $(rows $R/results.csv)"
grep -q '^epochs: 2$' $R/args.yaml && grep -q '^time: null$' $R/args.yaml && ok "args.yaml holds the arguments, null for None" ||
    fail "args.yaml: $(head -5 $R/args.yaml | tr '\n' '|')"
grep -Eq 'Validation of runs/detect/train/weights/best.pt \(epoch [12], when it was saved\)' a.err && grep -Eq '^ +all +4 ' a.out &&
    ok "the run ends with the validation table of best.pt" || fail "final table: $(tail -3 a.out a.err | tr '\n' '|')"
# the table kept in best.pt is the one validating best.pt again gives
yolo-eval model=$W/best.pt data=ds/data.yaml imgsz=64 >eval.out 2>/dev/null
[ -s eval.out ] && cmp -s a.out eval.out && ok "the stored table is what yolo-eval gives for best.pt" ||
    fail "stored table differs from yolo-eval's: $(diff a.out eval.out | head -3 | tr '\n' '|')"

check_fails "a finished run says it is finished" 1 "training finished \(2 of 2 epochs done\), nothing to resume \(add epochs=N" \
    yolo detect train resume model=$W/last.pt

# a lock whose taker has ended (killed) while what it started still holds it: waited for (a killed
# trainer lets go once the kernel has freed it), a few seconds at most, then refused naming the taker
orphan_lock $R/.lock 1 >/dev/null
t0=$(date +%s%N)
check_fails "a lock held on by what an ended command started is waited for" 1 "training finished \(2 of 2 epochs done\)" \
    yolo detect train resume model=$W/last.pt
[ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 500 ] && ok "... it waited for the lock (the holder kept it 1 s)" ||
    fail "the resume did not wait: the lock was not held"
holder=$(orphan_lock $R/.lock 30)
check_fails "... and refused after 5 s, naming the ended taker" 1 "another training is running on this run folder \(lock runs/detect/train/.lock: the command that took it, pid [0-9]+, has ended, and what it started still runs\)" \
    yolo detect train resume model=$W/last.pt
kill "$holder"

# epochs=N on resume is N more; batch= and imgsz= may change at the same time
cp $R/results.csv before.csv
yolo detect train resume model=$W/last.pt epochs=1 batch=2 imgsz=96 workers=1 >b.out 2>b.err
rc=$?
if [ $rc -eq 0 ] && grep -q 'epoch 3 of 3 done' <<<"$(epochs_of $W/last.pt)"; then ok "resume epochs=1 trains one more epoch (3 of 3)"
else fail "resume epochs=1 (exit $rc): $(tail -3 b.err | tr '\n' '|')"; fi
grep -q 'LR schedule is stretched over the new total' b.err && ok "the log says the LR schedule is stretched" ||
    fail "no note about the LR schedule: $(head -2 b.err | tr '\n' '|')"
info=$(yolo-ckpt inspect $W/last.pt)
grep -q '^batch: *2$' <<<"$info" && grep -q '^imgsz: *96$' <<<"$info" && ok "batch= and imgsz= changed on resume" ||
    fail "overrides not applied: $(grep -E '^(batch|imgsz)' <<<"$info" | tr '\n' '|')"
if [ "$(rows $R/results.csv)" = 3 ] && [ "$(head -3 $R/results.csv)" = "$(cat before.csv)" ]; then ok "results.csv appended, not duplicated"
else fail "results.csv after resume: $(cut -c1-30 $R/results.csv | tr '\n' '|')"; fi

check_fails "forbidden override on resume" 2 "optimizer= cannot be changed on resume" \
    yolo detect train resume model=$W/last.pt optimizer=SGD

yolo-ckpt strip $W/last.pt -o stripped.pt >/dev/null 2>&1
mkdir -p s/weights && cp stripped.pt s/weights/last.pt
check_fails "a stripped file is refused, never a fresh start" 1 "cannot continue: stripped weights.*start a new run from these weights with model=" \
    yolo detect train resume model=s/weights/last.pt
[ "$(ls s/weights)" = last.pt ] && [ ! -e s/results.csv ] && ok "nothing written next to the stripped file" || fail "files appeared: $(ls s s/weights)"

# the lock: a second trainer on the same run folder is refused at once
yolo-ckpt set $W/last.pt epochs=4 >/dev/null
exec 8>>$R/.lock && flock -n 8 && echo "pid $$, since now" >$R/.lock
t0=$(date +%s)
check_fails "a second trainer on a locked run is refused" 1 "runs/detect/train: another training is running on this run folder" \
    yolo detect train resume model=$W/last.pt
[ $(( $(date +%s) - t0 )) -le 2 ] && ok "refused at once, not after waiting" || fail "the refusal waited for the lock"
exec 8>&-

# a run folder moved (with its dataset) resumes; bare `resume` takes the newest last.pt under runs/
mkdir -p moved && mv runs ds moved/ && cd moved
yolo detect train resume workers=1 >c.out 2>c.err
rc=$?
if [ $rc -eq 0 ] && grep -q 'resuming the newest checkpoint runs/detect/train/weights/last.pt' c.err; then ok "bare resume takes the newest last.pt"
else fail "bare resume (exit $rc): $(tail -3 c.err | tr '\n' '|')"; fi
[ "$(rows $R/results.csv)" = 4 ] && grep -q 'epoch 4 of 4 done' <<<"$(epochs_of $W/last.pt)" &&
    ok "a moved run folder resumes (4 of 4)" || fail "moved run: $(epochs_of $W/last.pt), $(rows $R/results.csv) rows"
cd "$T"

# a run killed before its first checkpoint starts again from args.yaml
mkdir -p runs/detect/early/weights && sed 's|^save_dir:.*|save_dir: runs/detect/early|; s|^epochs:.*|epochs: 1|' moved/$R/args.yaml >runs/detect/early/args.yaml
cp -r moved/ds ds
yolo detect train resume model=runs/detect/early/weights/last.pt workers=1 >e.out 2>e.err
grep -q 'was never written: starting runs/detect/early again from its args.yaml' e.err && [ -f runs/detect/early/weights/last.pt ] &&
    ok "a run killed before its first checkpoint starts again" || fail "early kill: $(tail -2 e.err | tr '\n' '|')"

# a trainer killed before the run's first checkpoint: the loop's line says the resume starts from
# args.yaml (it named a last.pt that was not there)
mkdir -p stub && printf '#!/bin/sh\nkill -9 $$\n' >stub/yolo-train-epoch && chmod +x stub/yolo-train-epoch
PATH=$PWD/stub:$PATH yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=4 workers=1 name=nock >/dev/null 2>nock.err
rc=$?
[ $rc = 1 ] && grep -qx "yolo: training was killed (SIGKILL); no checkpoint was written yet: the resume starts the run again from runs/detect/nock/args.yaml (resume: yolo detect train resume model=runs/detect/nock/weights/last.pt)" nock.err &&
    ok "a trainer killed before the first checkpoint: the resume starts from args.yaml, says the loop" ||
    fail "killed before the first checkpoint (exit $rc): $(tail -2 nock.err | tr '\n' '|')"

# Ctrl+C: stops after the current batch, saves the position, resume finishes the run (the Ctrl+C
# comes as soon as epoch 1 is saved: an epoch here takes well under a second)
set -m
yolo detect train data=ds/data.yaml epochs=3 imgsz=64 batch=4 workers=1 name=int >i.out 2>i.err &
pid=$!
polls=0
for _ in $(seq 400); do [ -f runs/detect/int/weights/last.pt ] && break; polls=$((polls + 1)); sleep 0.02; done
kill -INT -- -$pid
krc=$?
wait $pid
rc=$?
set +m
if [ $rc -eq 130 ] && grep -q 'interrupted; runs/detect/int/weights/last.pt holds the training state' i.err; then ok "Ctrl+C stops with exit 130 and says how to resume"
else fail "Ctrl+C (exit $rc; kill exit $krc after $polls polls): $(tail -2 i.err | tr '\n' '|')"; fi
yolo-ckpt inspect runs/detect/int/weights/last.pt | grep -q '^resumable: *yes' && ok "after Ctrl+C last.pt is resumable" || fail "last.pt after Ctrl+C"
yolo detect train resume model=runs/detect/int/weights/last.pt >j.out 2>j.err
[ $? -eq 0 ] && [ "$(rows runs/detect/int/results.csv)" = 3 ] && ok "resume after Ctrl+C finishes with 3 rows" ||
    fail "resume after Ctrl+C: $(tail -2 j.err | tr '\n' '|')"

# Ctrl+C during the final pictures (the validation of best.pt that draws them): the training is over,
# one line says so, and the checkpoints are whole
set -m
yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=4 workers=1 name=fin >fin.out 2>fin.err &
pid=$!
for _ in $(seq 1200); do pgrep -f -- "yolo-eval.*plots=runs/detect/fin" >/dev/null && break; sleep 0.02; done
kill -INT -- -$pid
wait $pid
rc=$?
set +m
if [ $rc -eq 130 ] && [ "$(tail -1 fin.err)" = "yolo: interrupted after the training finished; runs/detect/fin/weights/last.pt is whole (the final pictures or summary were not finished)" ] &&
    yolo-ckpt inspect runs/detect/fin/weights/last.pt | grep -q '^epoch: *epoch 1 of 1 done$' && yolo-ckpt inspect runs/detect/fin/weights/best.pt >/dev/null; then
    ok "Ctrl+C during the final pictures: exit 130, one line, the checkpoints whole"
else fail "Ctrl+C during the final pictures (exit $rc): $(tail -2 fin.err | tr '\n' '|')"; fi

# a full disk while writing last.pt leaves the previous one intact, and resume works once space is back
yolo-ckpt set runs/detect/int/weights/last.pt epochs=4 >/dev/null
cp runs/detect/int/weights/last.pt keep.pt
( trap '' XFSZ; ulimit -f 20000; yolo detect train resume model=runs/detect/int/weights/last.pt >f.out 2>f.err )
rc=$?
[ $rc -eq 1 ] && cmp -s keep.pt runs/detect/int/weights/last.pt && ok "a full disk fails and leaves last.pt intact" ||
    fail "full disk (exit $rc): $(tail -2 f.err | tr '\n' '|')"
yolo detect train resume model=runs/detect/int/weights/last.pt >g.out 2>g.err
[ $? -eq 0 ] && [ "$(rows runs/detect/int/results.csv)" = 4 ] && ok "resume works once space is back" ||
    fail "resume after full disk: $(tail -2 g.err | tr '\n' '|')"

# segment and classify resume the same way
yolo-data fashion --task segment --out sg --train 8 --val 4 --imgsz 64 >/dev/null 2>&1
yolo-data fashion --task classify --out cl --train 8 --val 4 --imgsz 64 >/dev/null 2>&1
for task in segment classify; do
    d=sg/data.yaml; [ $task = classify ] && d=cl
    yolo $task train data=$d epochs=1 imgsz=64 batch=4 workers=1 >$task.out 2>$task.err &&
        yolo $task train resume model=runs/$task/train/weights/last.pt epochs=1 >>$task.out 2>>$task.err
    rc=$?
    if [ $rc -eq 0 ] && [ "$(rows runs/$task/train/results.csv)" = 2 ] &&
        grep -q 'epoch 2 of 2 done' <<<"$(epochs_of runs/$task/train/weights/last.pt)"; then ok "$task trains and resumes"
    else fail "$task resume (exit $rc): $(tail -2 $task.err | tr '\n' '|')"; fi
done

# an early-stopped run (patience=1; classification fitness is rarely 0, so it stops as soon as it
# stops improving) is never restarted, not even with epochs=
yolo classify train data=cl epochs=5 patience=1 imgsz=64 batch=4 workers=1 name=es >es.out 2>es.err
if yolo-ckpt inspect runs/classify/es/weights/last.pt | grep -q 'stopped early'; then
    check_fails "an early-stopped run is not continued" 1 "cannot continue: stopped early after epoch [0-9]+ .*start a new run from these weights" \
        yolo classify train resume model=runs/classify/es/weights/last.pt epochs=2
else
    skip "the patience=1 run did not stop early: $(yolo-ckpt inspect runs/classify/es/weights/last.pt | grep '^epoch')"
fi

# time= (hours) stops after the epoch that ends past it; the run stays resumable
yolo classify train data=cl epochs=3 time=0.0001 imgsz=64 batch=4 workers=1 name=tm >tm.out 2>tm.err
rc=$?
if [ $rc -eq 0 ] && grep -q 'time=0.0001 hours reached' tm.err && [ "$(rows runs/classify/tm/results.csv)" = 1 ] &&
    yolo-ckpt inspect runs/classify/tm/weights/last.pt | grep -q '^resumable: *yes'; then ok "time= stops after one epoch, resumable"
else fail "time= (exit $rc): $(tail -2 tm.err | tr '\n' '|')"; fi
exit 0
