# What users do to a run folder, each a defect once found by trying it (issue 14): exist_ok=true on an
# old run, a refused command on a running run, path aliases of a running run, a kill between last.pt
# and results.csv, stray files of killed runs, SIGKILL that is not an OOM kill, ulimit -f, fsync of a
# new run, a read-only weights folder, save_every kept on resume. Tiny data and network: 8 train + 4 val
# images at 64 px, batch 4 (two batches an epoch), YOLOv8 at width 1/16.
. "$(dirname "$0")/lib.sh"
# strace, with the sanitizer build's leak check off (LeakSanitizer cannot run under ptrace)
traced() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace "$@"; }
cd "$T"
fashion_data detect ds 8 4
tiny_model tiny.yaml
A=(data=ds/data.yaml model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false)
rows() { [ -f "$1" ] && echo $(( $(wc -l <"$1") - 1 )) || echo none; }
field() { yolo-ckpt inspect "$1" | sed -n "s/^$2: *//p"; }
# descendants PID NAME: the pids of PID's descendants whose command is NAME (this test's own, never
# another test's trainer)
descendants() {
    local p c
    for c in $(ps -o pid= --ppid "$1"); do
        [ "$(ps -o comm= -p "$c")" = "$2" ] && echo "$c"
        descendants "$c" "$2"
    done
}

# ---- exist_ok=true on a folder holding an unfinished run starts a new run there, never continues it
yolo detect train "${A[@]}" epochs=1 name=c >c1.out 2>c1.err && yolo-ckpt set runs/detect/c/weights/last.pt epochs=3 >/dev/null ||
    { fail "a first run for exist_ok: $(tail -2 c1.err | tr '\n' '|')"; exit 1; }
yolo detect train "${A[@]}" epochs=1 optimizer=SGD lr0=0.05 name=c exist_ok=true >c2.out 2>c2.err
rc=$?
if [ $rc -eq 0 ] && [[ $(field runs/detect/c/weights/last.pt optimizer) == "SGD, lr "* ]] &&
    [ "$(field runs/detect/c/weights/last.pt epoch)" = "epoch 1 of 1 done" ] && [ "$(rows runs/detect/c/results.csv)" = 1 ]; then
    ok "exist_ok=true on an unfinished run trains a new one (SGD, 1 of 1, one row), not the old AdamW run"
else fail "exist_ok=true (exit $rc): $(field runs/detect/c/weights/last.pt epoch), $(field runs/detect/c/weights/last.pt optimizer): $(tail -2 c2.err | tr '\n' '|')"; fi
grep -q '^yolo: exist_ok=true: runs/detect/c held a run (epoch 1 of 3 done); a new run starts there: its weights/\*.pt, results.csv, args.yaml and image lists are replaced$' c2.err &&
    ok "exist_ok=true says what it replaces" || fail "no replace line: $(head -3 c2.err | tr '\n' '|')"
grep -q '^optimizer: SGD$' runs/detect/c/args.yaml && grep -q '^lr0: 0.05$' runs/detect/c/args.yaml && grep -q '^epochs: 1$' runs/detect/c/args.yaml &&
    ok "args.yaml describes the new checkpoint" || fail "args.yaml after exist_ok: $(grep -E '^(optimizer|lr0|epochs):' runs/detect/c/args.yaml | tr '\n' '|')"

# ---- a command refused on a running run writes nothing: args.yaml stays as it was
cp runs/detect/c/args.yaml c.args
exec 8>>runs/detect/c/.lock && flock -n 8
check_fails "exist_ok=true on a running run is refused" 1 "runs/detect/c: another training is running on this run folder" \
    yolo detect train "${A[@]}" epochs=1 name=c exist_ok=true fliplr=0.0 hsv_h=0.0
exec 8>&-
cmp -s c.args runs/detect/c/args.yaml && ok "the refused command left args.yaml as it was" ||
    fail "args.yaml rewritten by a refused command: $(diff c.args runs/detect/c/args.yaml | head -4 | tr '\n' '|')"

# ---- the augmentation a run trains with comes from its checkpoint: args.yaml rewritten behind its
# back (as the refused command above used to) changes nothing; the resumed run equals a straight one
yolo detect train "${A[@]}" epochs=2 name=straight >s.out 2>s.err || fail "straight run: $(tail -2 s.err | tr '\n' '|')"
yolo detect train "${A[@]}" epochs=2 name=aug time=0.00001 >a1.out 2>a1.err
sed -i 's/^fliplr: .*/fliplr: 0.0/; s/^hsv_h: .*/hsv_h: 0.0/; s/^mosaic: .*/mosaic: 0.0/' runs/detect/aug/args.yaml
yolo detect train resume model=runs/detect/aug/weights/last.pt >a2.out 2>a2.err
if [ "$(rows runs/detect/aug/results.csv)" = 2 ] && yolo-ckpt diff runs/detect/straight/weights/last.pt runs/detect/aug/weights/last.pt >a.diff 2>&1; then
    ok "a resume trains with the checkpoint's augmentation, not a rewritten args.yaml's (weights equal the straight run)"
else fail "resume after args.yaml was rewritten: $(tail -1 a.diff) $(tail -1 a2.err)"; fi
grep -q '^fliplr: 0.5$' runs/detect/aug/args.yaml && ok "args.yaml is the checkpoint's again after the resume" ||
    fail "args.yaml after resume: $(grep fliplr runs/detect/aug/args.yaml)"

# ---- path aliases of a running run: refused by the same lock; nothing lands in weights/
yolo detect train "${A[@]}" epochs=1 name=al >al.out 2>al.err && yolo-ckpt set runs/detect/al/weights/last.pt epochs=100 >/dev/null
set -m
yolo detect train resume model=runs/detect/al/weights/last.pt >al1.out 2>al1.err &
bg=$!
set +m
held=0
for _ in $(seq 2400); do lock_held runs/detect/al/.lock && { held=1; break; }; kill -0 $bg 2>/dev/null || break; sleep 0.05; done
ln -s runs/detect/al/weights alw
refused=0
for m in runs/detect/al/weights//last.pt runs/detect/al/weights/./last.pt runs/detect/al/./weights/last.pt alw/last.pt; do
    yolo detect train resume model=$m batch=2 >al2.out 2>al2.err
    rc=$?
    if [ $rc -eq 1 ] && grep -q 'runs/detect/al: another training is running on this run folder' al2.err; then refused=$((refused + 1))
    else echo "# $m: exit $rc: $(tail -1 al2.err)"; fi
done
kill -INT -- -$bg 2>/dev/null
wait $bg
[ $held = 1 ] && [ $refused = 4 ] && ok "R/weights//last.pt, R/weights/./last.pt, R/./weights/last.pt and a symlink are refused while R trains" ||
    fail "aliases: lock held $held, $refused of 4 refused (the first: $(tail -1 al1.err))"
[ ! -e runs/detect/al/weights/results.csv ] && [ ! -e runs/detect/al/weights/args.yaml ] && ok "no results.csv or args.yaml in weights/" ||
    fail "files in weights/: $(ls runs/detect/al/weights | tr '\n' ' ')"

# ---- a kill between the last.pt rename and the results.csv write: the next command, even a refused
# one, writes the row
# (the trainer renames best.pt, last.pt, args.yaml, then results.csv: the 4th rename of its process)
traced -f -o /dev/null -e trace=rename -e inject=rename:signal=SIGKILL:when=4 yolo detect train "${A[@]}" epochs=1 name=k >k1.out 2>k1.err
[ "$(field runs/detect/k/weights/last.pt epoch)" = "epoch 1 of 1 done" ] && [ ! -e runs/detect/k/results.csv ] &&
    ok "killed at the results.csv rename: last.pt done, no results.csv" ||
    fail "the kill did not land there: $(field runs/detect/k/weights/last.pt epoch), results.csv rows $(rows runs/detect/k/results.csv): $(tail -1 k1.err)"
check_fails "resume of the finished run is refused" 1 "training finished \(1 of 1 epochs done\), nothing to resume" \
    yolo detect train resume model=runs/detect/k/weights/last.pt
[ "$(rows runs/detect/k/results.csv)" = 1 ] && ok "... and brings results.csv into line with last.pt (1 row)" ||
    fail "results.csv after the refused resume: rows $(rows runs/detect/k/results.csv)"
# the same when the command names best.pt (refused: not the training state), from the run's last.pt
rm runs/detect/k/results.csv
sed -i 's/^epochs: .*/epochs: 7/' runs/detect/k/args.yaml
check_fails "resume from best.pt is refused" 1 "best.pt holds the best weights, not the training state" \
    yolo detect train resume model=runs/detect/k/weights/best.pt
[ "$(rows runs/detect/k/results.csv)" = 1 ] && grep -q '^epochs: 1$' runs/detect/k/args.yaml &&
    ok "... and brings results.csv and args.yaml into line with last.pt" ||
    fail "after the refused best.pt: results.csv rows $(rows runs/detect/k/results.csv), args.yaml $(grep '^epochs:' runs/detect/k/args.yaml)"

# ---- stray files of a killed run (server socket, image list) go with the next command, refused or not
"$PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' runs/detect/k/.trainer.sock
echo x >runs/detect/k/.train_images.tmp
cp runs/detect/k/weights/last.pt runs/detect/k/weights/.last.pt.AbC123
yolo detect train resume model=runs/detect/k/weights/last.pt >/dev/null 2>&1
left=$(ls -A runs/detect/k runs/detect/k/weights | grep -E '^\.(trainer|train_images|last\.pt\.)')
[ -z "$left" ] && ok "a refused resume removes a stale .trainer.sock, .train_images.tmp and save temporaries" ||
    fail "left behind: $left"

# ---- SIGKILL that is not the OOM killer: says the trainer was killed, suggests no smaller batch
yolo detect train "${A[@]}" epochs=1 name=sk >/dev/null 2>&1 && yolo-ckpt set runs/detect/sk/weights/last.pt epochs=100 >/dev/null
YOLO_TRAINER_SERVER=0 yolo detect train resume model=runs/detect/sk/weights/last.pt >sk.out 2>sk.err &
bg=$!
tr=""
for _ in $(seq 600); do tr=$(descendants $bg yolo-train-epoc | head -1); [ -n "$tr" ] && break; sleep 0.05; done
[ -n "$tr" ] && kill -9 "$tr"
wait $bg
rc=$?
if [ $rc -eq 1 ] && grep -q '^yolo: training was killed (SIGKILL); runs/detect/sk/weights/last.pt holds the last saved state (resume: yolo detect train resume model=runs/detect/sk/weights/last.pt)$' sk.err &&
    ! grep -q 'batch=' sk.err; then ok "a SIGKILL of the trainer is reported as a kill, with no out-of-memory guess"
else fail "SIGKILL report (exit $rc, trainer ${tr:-not found}): $(tail -1 sk.err)"; fi

# ---- ulimit -f: one line, exit 1, last.pt intact, no temporary left (no SIGXFSZ kill)
cp runs/detect/sk/weights/last.pt sk.keep
( ulimit -f 3000;  # KiB: the checkpoint is 6 MB
  yolo detect train resume model=runs/detect/sk/weights/last.pt >uf.out 2>uf.err )
rc=$?
tmp=$(ls -A runs/detect/sk/weights | grep '^\.' | tr '\n' ' ')
if [ $rc -eq 1 ] && grep -q 'larger than the file system or a limit allows' uf.err && cmp -s sk.keep runs/detect/sk/weights/last.pt &&
    [ -z "$tmp" ]; then ok "ulimit -f: the save fails in one line, last.pt intact, no temporary left"
else fail "ulimit -f (exit $rc, temporaries: ${tmp:-none}): $(tail -1 uf.err)"; fi

# ---- a new run's folders and args.yaml reach the disk (a run without a checkpoint restarts from them)
traced -f -y -o fs.trace -e trace=fsync,fdatasync yolo detect train "${A[@]}" epochs=1 name=fs >/dev/null 2>&1
grep -Eq "fsync\([0-9]*<$T/runs/detect/fs/\.args\.yaml\.[A-Za-z0-9]{6}>" fs.trace && grep -q "fsync([0-9]*<$T/runs/detect/fs/weights>" fs.trace &&
    grep -q "fsync([0-9]*<$T/runs/detect>" fs.trace && ok "args.yaml, the weights folder and the project folder of a new run are fsynced" ||
    fail "fsyncs of the new run: $(grep -o '<[^>]*>' fs.trace | sort -u | tr '\n' ' ')"

# ---- a read-only weights folder is refused before any training, in one line
yolo detect train "${A[@]}" epochs=1 name=ro >/dev/null 2>&1 && yolo-ckpt set runs/detect/ro/weights/last.pt epochs=2 >/dev/null
ro_resume() { yolo detect train resume model=runs/detect/ro/weights/last.pt; }
if [ "$(id -u)" != 0 ]; then
    chmod a-w runs/detect/ro/weights
    check_fails "a read-only weights folder: one line, before training" 1 "runs/detect/ro/weights: cannot write there .*nothing was trained" ro_resume
    chmod u+w runs/detect/ro/weights
elif unshare -m true 2>/dev/null; then
    export -f ro_resume
    check_fails "a read-only weights folder (a read-only mount): one line, before training" 1 "runs/detect/ro/weights: cannot write there .*nothing was trained" \
        unshare -m bash -c 'mount --bind -o ro runs/detect/ro/weights runs/detect/ro/weights && ro_resume'
else
    skip "root without mount namespaces: no read-only folder to try (not root: chmod; root: unshare -m)"
fi
[ "$(rows runs/detect/ro/results.csv)" = 1 ] && ok "nothing was trained in the read-only folder" || fail "rows after read-only: $(rows runs/detect/ro/results.csv)"

# ---- save_every= is kept for later resumes: two saves of last.pt an epoch (one mid-epoch), also when
# the resume does not repeat it
yolo detect train "${A[@]}" epochs=1 save_every=1 name=se >/dev/null 2>&1 && yolo-ckpt set runs/detect/se/weights/last.pt epochs=2 >/dev/null
# (the model YAML of one's own is gone by then: the checkpoint keeps its text)
mv tiny.yaml tiny.away
traced -f -o se.trace -e trace=rename,renameat,renameat2 yolo detect train resume model=runs/detect/se/weights/last.pt >se.out 2>se.err
rc=$?
saves=$(grep -c '"runs/detect/se/weights/last.pt"[^"]*) = 0' se.trace)
[ "$saves" = 2 ] && ok "save_every=1 of the run holds on a resume without save_every= (a mid-epoch save and the epoch's)" ||
    fail "save_every on resume: $saves saves of last.pt in the epoch: $(tail -1 se.err)"
[ $rc = 0 ] && ok "a run from a model YAML of one's own resumes without the file" || fail "resume without the model YAML (exit $rc): $(tail -1 se.err)"
check "... and its best.pt validates without it" yolo detect val model=runs/detect/se/weights/best.pt data=ds/data.yaml imgsz=64 plots=false

# ---- where a new run goes, as Ultralytics picks it: name=a/b is a folder in a folder (the next one a/b2);
# an empty name= or project= is the default (it made runs/detect/2, and project= failed on mkdir '')
tiny_model tiny.yaml # (the check above took it away)
yolo detect train "${A[@]}" epochs=1 name=n/m >nm.out 2>nm.err
yolo detect predict model=runs/detect/n/m/weights/best.pt source="$(ls ds/images/val/* | head -1)" name= >p1.out 2>p1.err
yolo detect predict model=runs/detect/n/m/weights/best.pt source="$(ls ds/images/val/* | head -1)" project= >p2.out 2>p2.err
[ -f runs/detect/n/m/weights/last.pt ] && grep -qx "Results saved to runs/detect/predict" p1.err &&
    grep -qx "Results saved to runs/detect/predict2" p2.err &&
    ok "name=n/m nests the run folder; an empty name= or project= takes the default" ||
    fail "run places: $(tail -1 nm.err) | $(tail -1 p1.err) | $(tail -1 p2.err)"
exit 0
