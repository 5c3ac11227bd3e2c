# The yolo loop with data-parallel ranks (world=2 on this machine): a rank killed mid-epoch is restarted
# with all the others from last.pt (max_restarts), Ctrl+C stops the whole group with the position saved,
# a resume on another world size, and a SIGKILL of every process of the run (a power cut) followed by
# `yolo ... resume` (which keeps the run's world size): all end bit-identical to an uninterrupted run.
. "$(dirname "$0")/lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"

fashion_data detect ds 64 8
# job control: each loop started below gets a process group of its own, as from a terminal (where
# Ctrl+C reaches the loop and GNU parallel, which passes it on to the ranks' process groups)
set -m
# every process of a run: the loop's group, and each rank's (GNU parallel gives each job its own)
run_groups() { echo "$1"; pgrep -f -- "runs/detect/$2/" | xargs -r ps -o pgid= -p | sort -u; }
common=(data=ds/data.yaml model=yolov8n.yaml epochs=2 batch=8 imgsz=64 workers=1 exist_ok=true)
same() { yolo-ckpt diff "runs/detect/$1/weights/last.pt" "runs/detect/$2/weights/last.pt" >"$T/diff" 2>&1; }
# wait_for FILE REGEX: until FILE has a line matching REGEX (120 s at most)
wait_for() { local k; for k in $(seq 1200); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# kill_rank1 RUN LOOP: SIGKILL rank 1 of RUN, retrying while no rank 1 runs (between epochs, when rank 0
# validates alone) until the loop ends: on a fast machine the epoch named can end before the kill.
kill_rank1() {
    until pkill -9 -f -- "runs/detect/$1/weights/last.pt.*--rank 1 "; do
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.02
    done
}

YOLO_PROFILE=1 yolo detect train "${common[@]}" name=ref world=2 >ref.out 2>ref.err
rc=$?
[ $rc -eq 0 ] && grep -q '"micro_batch": 4' <(yolo-ckpt inspect --json runs/detect/ref/weights/last.pt) &&
    ok "world=2: two epochs, micro-batches of 4" || fail "world=2 run (exit $rc): $(grep -v '^ ' ref.err | tail -3 | tr '\n' '|')"
# each rank's process forked from the loop's trainer server: no libtorch load (0.3 s and more) before main
served0=$(grep -c '^profile: before main 0\.[01]' ref.err) served1=$(grep -c '^rank 1: profile: before main 0\.[01]' ref.err)
[ "$served0" = 2 ] && [ "$served1" = 2 ] && ok "both ranks of both epochs ran forked from the trainer server" ||
    fail "served ranks: rank 0 $served0, rank 1 $served1 of 2 epochs: $(grep 'before main' ref.err | tr '\n' '|')"

# rank 1 killed in epoch 1: the loop restarts both ranks; then Ctrl+C in epoch 2
yolo detect train "${common[@]}" name=a world=2 save_every=1 >a.out 2>a.err &
loop=$!
wait_for a.err '^ *1/2 .* 1/8 ' && kill_rank1 a $loop
wait_for a.err 'restart 1 of 3: rank 1 killed (signal 9)' && ok "a killed rank: the loop says so and restarts all ranks" ||
    fail "no restart after rank 1 was killed: $(grep -v '^ ' a.err | tail -3 | tr '\n' '|')"
wait_for a.err '^ *2/2 .* 1/8 ' && kill -INT -- -$loop
wait $loop
rc=$?
pos=$(yolo-ckpt get runs/detect/a/weights/last.pt position 2>/dev/null)
[ $rc -eq 130 ] && grep -q 'interrupted; runs/detect/a/weights/last.pt holds the training state' a.err && [[ $pos == *seen* ]] &&
    ok "Ctrl+C stops every rank, the position saved (exit 130)" || fail "Ctrl+C of a world=2 loop: exit $rc, position $pos: $(grep -v '^ ' a.err | tail -2 | tr '\n' '|')"
[ "$(wc -l <runs/detect/a/restarts.log)" -eq 1 ] && ok "restarts.log has the restart" || fail "restarts.log: $(cat runs/detect/a/restarts.log)"
yolo detect train resume model=runs/detect/a/weights/last.pt world=1 >a2.out 2>a2.err
rc=$?
[ $rc -eq 0 ] && same ref a && ok "... resumed on world=1: the same bits as the uninterrupted world=2 run" ||
    fail "restart + Ctrl+C + world=1 resume (exit $rc): $(tail -1 "$T/diff"; grep -v '^ ' a2.err | tail -2 | tr '\n' '|')"

# every process of the run killed at once, then resumed with the run's own world size
yolo detect train "${common[@]}" name=b world=2 save_every=1 >b.out 2>b.err &
loop=$!
wait_for b.err '^ *2/2 .* 1/8 ' && groups=$(run_groups "$loop" b) && for g in $groups; do kill -9 -- "-$g"; done
wait $loop 2>/dev/null
sleep 0.5
left=$(for g in $groups; do ps -o pid=,stat=,comm= -g "$g" | grep -v ' Z'; done)
[ -z "$left" ] && [ "$(echo "$groups" | wc -l)" -ge 3 ] && ok "SIGKILL of the loop and both ranks in epoch 2" ||
    fail "processes of the killed run are left (groups $(echo $groups): $(echo $left))"
yolo detect train resume model=runs/detect/b/weights/last.pt >b2.out 2>b2.err
rc=$?
nranks=$(grep -c '^[0-9]' runs/detect/b/.ranks.log)
[ $rc -eq 0 ] && [ "$nranks" -eq 2 ] && same ref b && ok "... resume on the run's 2 ranks: the same bits" ||
    fail "power cut + resume (exit $rc, $nranks ranks): $(tail -1 "$T/diff"; grep -v '^ ' b2.err | tail -2 | tr '\n' '|')"

# refusals: a world that cannot split the run's micro-batches, before the checkpoint or a folder changes;
# no restart left
sum=$(sha256sum <runs/detect/b/weights/last.pt)
yolo detect train resume model=runs/detect/b/weights/last.pt epochs=1 world=3 >c.out 2>c.err
rc=$?
[ $rc -eq 2 ] && [ "$(cat c.err)" = "yolo: runs/detect/b/weights/last.pt: world=3 cannot split the run's 2 micro-batches of 4 (batch 8) evenly (use world=1 or 2)" ] &&
    [ "$(sha256sum <runs/detect/b/weights/last.pt)" = "$sum" ] && [ ! -e runs/detect/b/restarts.log ] &&
    ok "world=3 on resume is refused in one line, the checkpoint untouched, without restarts" ||
    fail "world=3 (exit $rc): $(tail -2 c.err | tr '\n' '|')"
yolo detect train resume model=runs/detect/b/weights/last.pt epochs=1 hosts=nope.txt >h.out 2>h.err
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <h.err)" = 1 ] && grep -q '^yolo: hosts=nope.txt: no such file' h.err &&
    [ "$(sha256sum <runs/detect/b/weights/last.pt)" = "$sum" ] &&
    ok "a missing hosts= file on resume is refused in one line before epochs=1 reaches the checkpoint" ||
    fail "hosts=nope.txt on resume (exit $rc): $(tail -3 h.err | tr '\n' '|')"
printf 'nohost.invalid\n:\n' >typo.txt
check_fails "a first host line (rank 0's machine) without an address is refused at once, no folder" 2 \
    "^yolo: hosts=typo.txt: nohost.invalid, the first line \(rank 0's machine: this one, where the others meet\), has no address \(a typo\? write : for this machine\)$" \
    yolo detect train "${common[@]}" name=typo hosts=typo.txt
[ ! -e runs/detect/typo ] || fail "hosts=typo.txt made runs/detect/typo"
printf ':\n# ranks 1 and 2\n2/127.0.0.1\nnohost.invalid # rank 3\n' >typo2.txt
check_fails "another host line without an address (nor an ssh Host of that name) is refused at once, no folder" 2 \
    "^yolo: hosts=typo2.txt: line 4: nohost.invalid has no address and is no Host in ~/.ssh/config \(a typo\?\)$" \
    yolo detect train "${common[@]}" name=typo2 hosts=typo2.txt
[ ! -e runs/detect/typo2 ] || fail "hosts=typo2.txt made runs/detect/typo2"
yolo detect train "${common[@]}" name=c3 world=3 >c3.out 2>c3.err
rc=$?
[ $rc -eq 2 ] && [ "$(cat c3.err)" = "yolo: batch=8 cannot be split evenly over world=3 ranks (give a batch that 3 divides)" ] &&
    [ ! -e runs/detect/c3 ] && ok "a new run on world=3 with batch=8 is refused in one line, before its folder exists" ||
    fail "new run world=3 (exit $rc, folder $(ls -d runs/detect/c3 2>&1)): $(tail -2 c3.err | tr '\n' '|')"
# a run that never wrote its checkpoint starts again from its args.yaml: the same rule, the same one line
mkdir -p runs/detect/e3/weights && sed 's|^save_dir:.*|save_dir: runs/detect/e3|' runs/detect/ref/args.yaml >runs/detect/e3/args.yaml
yolo detect train resume model=runs/detect/e3/weights/last.pt world=3 >e3.out 2>e3.err
rc=$?
[ $rc -eq 2 ] && [ "$(cat e3.err)" = "yolo: batch=8 cannot be split evenly over world=3 ranks (give a batch that 3 divides)" ] &&
    [ -z "$(ls runs/detect/e3/weights)" ] && ok "world=3 on a run never written is refused in one line, nothing trained" ||
    fail "world=3 on a run never written (exit $rc): $(tail -2 e3.err | tr '\n' '|')"
yolo detect train "${common[@]}" name=d world=2 max_restarts=0 >d.out 2>d.err &
loop=$!
wait_for d.err '^ *1/2 .* 1/8 ' && kill_rank1 d $loop
wait $loop
rc=$?
[ $rc -eq 1 ] && grep -q 'yolo: rank 1 killed (signal 9), rank 0 exit 1 (no restart left: max_restarts=0)' d.err &&
    ok "max_restarts=0: a killed rank ends the run (exit 1)" || fail "max_restarts=0 (exit $rc): $(grep -v '^ ' d.err | tail -3 | tr '\n' '|')"
