#!/usr/bin/env bash
# A randomized user session on one run (issue 14): STEPS steps drawn from SEED on a tiny dataset (8
# train + 4 val images at 64 px, batch 4): fresh starts (exist_ok=true), resumes, epochs= extensions,
# allowed and refused overrides, Ctrl+C (SIGINT to the process group) and SIGKILL at random instants,
# a concurrent second command, a truncated last.pt. After every step the invariants are checked:
#   - every .pt verifies;
#   - args.yaml agrees with last.pt's train_args (no last.pt: args.yaml is the run's start);
#   - results.csv has exactly one row per finished epoch of last.pt (none before the first);
#   - no stray temporaries (saves' .NAME.XXXXXX, the server socket, the image listing's files).
# A SIGKILL can land between last.pt and the files derived from it, or mid-save: right after one, only
# the first invariant must hold, and the others must hold again after the next command (which tidies
# under the run's lock). At the end the run is finished and its last.pt must equal, bit for bit
# (yolo-ckpt diff), that of an uninterrupted run with the same arguments and the same epochs= extensions.
#
# usage: tests/session.sh DIR        (STEPS=200, SEED=random; prints the seed: SEED=N repeats the draws)
# Tools from PATH (tests/run puts the build there). Prints "ok - ..." / "not ok - ..." lines and a
# summary line "# session: ...". The instants of the kills are wall-clock, so a rerun draws the same
# steps and delays, not the same kill points.
set -u
# (run by hand, as the seed line says, it finds the checkout by itself; tests/run sets ROOT)
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
. "$(dirname "$0")/lib.sh"  # lock_held
dir=$1
STEPS=${STEPS:-200}
SEED=${SEED:-$(( $(date +%s%N) % 1000000 ))}
echo "# session seed $SEED, $STEPS steps (SEED=$SEED STEPS=$STEPS tests/session.sh DIR repeats the draws)"
RANDOM=$SEED
mkdir -p "$dir" && cd "$dir" || exit 1
[ -f ds/data.yaml ] || yolo-data fashion --task detect --out ds --train 8 --val 4 --imgsz 64 >/dev/null 2>&1 ||
    { echo "not ok - cannot make the dataset (yolo-data fashion)"; exit 1; }
R=runs/detect/s W=runs/detect/s/weights
[ -f tiny.yaml ] || tiny_model tiny.yaml
BASE=(data=ds/data.yaml model=$PWD/tiny.yaml imgsz=64 batch=4 workers=1 plots=false name=s)  # pictures: not what this tests
MAX_EPOCHS=${MAX_EPOCHS:-8}
t0=$(date +%s)
declare -A count
violations=0 kills=0 ints=0 refusals=0 trained=0
pending=""  # what a SIGKILL may have left for the next command to repair
E0=0 EXT=() # the epochs of the current run's start, and each epochs= extension since

violation() { violations=$((violations + 1)); echo "not ok - step $step ($kind): $*"; }

# state from the checkpoint: DONE (epochs done), TOTAL, SEEN (inside the epoch), FIN (finished)
state() {
    DONE=0 TOTAL=0 SEEN=0 FIN=0 HAVE=0
    [ -f $W/last.pt ] || return 0
    local j
    j=$(yolo-ckpt inspect --json $W/last.pt 2>/dev/null) || return 0
    HAVE=1
    [[ $j =~ \"epochs_done\":\ ([0-9]+) ]] && DONE=${BASH_REMATCH[1]}
    [[ $j =~ \"epochs\":\ ([0-9]+) ]] && TOTAL=${BASH_REMATCH[1]}
    [[ $j =~ \"seen\":\ ([0-9]+) ]] && SEEN=${BASH_REMATCH[1]}
    [[ $j == *'"why_not": "training finished'* ]] && FIN=1
    return 0
}

# invariants; $1 = 1 right after a SIGKILL (then only the .pt files must verify; the rest is noted as
# pending and must hold after the next step)
check() {
    local killed=$1 f bad="" j k v y rows want
    shopt -s nullglob
    declare -A seen=()
    for f in $W/*.pt; do
        # best.pt and epochN.pt are hard links to the last.pt that was written with them: once per file
        local ino; ino=$(stat -c %i "$f")
        [ -n "${seen[$ino]-}" ] && continue
        seen[$ino]=1
        yolo-ckpt verify "$f" >/dev/null 2>vf.err || bad+=" $(basename "$f"): $(cat vf.err)"
    done
    [ -z "$bad" ] || violation "a .pt does not verify:$bad"
    local soft=""
    # stray temporaries
    local stray=("$W"/.*.pt.?????? "$R"/.results.csv.?????? "$R"/.args.yaml.?????? "$R"/args.yaml.tmp "$R"/.train_images.tmp* "$R"/.trainer.sock)
    shopt -u nullglob
    for f in "${stray[@]}"; do [ -e "$f" ] || [ -L "$f" ] && soft+=" stray $f;"; done
    if [ -f $W/last.pt ]; then
        j=$(yolo-ckpt inspect --json $W/last.pt 2>&1) || { violation "inspect: $j"; return; }
        # results.csv: one row per finished epoch
        [[ $j =~ \"results_rows\":\ ([0-9]+) ]] && want=${BASH_REMATCH[1]}
        rows=none; [ -f $R/results.csv ] && rows=$(( $(wc -l <$R/results.csv) - 1 ))
        if [ "$want" = 0 ]; then [ "$rows" = none ] || soft+=" results.csv has $rows rows before the first epoch;"
        elif [ "$rows" != "$want" ]; then soft+=" results.csv has $rows rows, last.pt $want;"; fi
        # args.yaml == train_args (scalars; save_dir is where the run is)
        declare -A A=()
        local in="" re='^  "([a-z_]+)": ' re2='^    "([a-z_0-9]+)": (.*)$'
        while IFS= read -r line; do
            if [[ $line =~ $re ]]; then in=${BASH_REMATCH[1]}
            elif [ "$in" = train_args ] && [[ $line =~ $re2 ]]; then
                v=${BASH_REMATCH[2]%,}; [[ $v == \"*\" ]] && v=${v:1:-1}; A[${BASH_REMATCH[1]}]=$v
            fi
        done <<<"$j"
        local n=0
        while IFS= read -r line; do
            k=${line%%:*} y=${line#*: }
            [[ $y == \'*\' ]] && y=${y:1:-1}
            [ "$k" = save_dir ] && continue
            n=$((n + 1))
            [ "${A[$k]-<absent>}" = "$y" ] || [[ $y == \[* ]] || { soft+=" args.yaml $k: $y, last.pt: ${A[$k]-<absent>};"; break; }
        done <$R/args.yaml
        [ $n -gt 0 ] || soft+=" args.yaml is empty;"
    else
        [ -f $R/results.csv ] && soft+=" results.csv without last.pt;"
        [ -d $R ] && [ ! -f $R/args.yaml ] && soft+=" run folder without args.yaml;"
    fi
    if [ -n "$soft" ]; then
        if [ "$killed" = 1 ]; then pending=$soft
        else violation "${pending:+(after a kill:$pending) }$soft"; fi
    else pending=""; fi
}

# runs a yolo command as its own process group; KILL=SIG AFTER_MS=N sends SIG to the group N ms
# later (unless it ended). Sets RC.
run_yolo() {
    set -m
    yolo "$@" >step.out 2>step.err &
    local pid=$!
    set +m
    if [ -n "${KILL:-}" ]; then
        local waited=0
        while [ $waited -lt "$AFTER_MS" ] && kill -0 $pid 2>/dev/null; do sleep 0.02; waited=$((waited + 20)); done
        kill -"$KILL" -- -$pid 2>/dev/null && { [ "$KILL" = 9 ] && kills=$((kills + 1)) || ints=$((ints + 1)); }
    fi
    wait $pid 2>/dev/null
    RC=$?
}

allowed() {  # an override that may change on resume without changing the numbers
    case $((RANDOM % 4)) in 0) echo save_every=$((1 + RANDOM % 2)) ;; 1) echo device=cpu ;; 2) echo workers=1 ;; *) ;; esac
}

resume_args() {  # a resume that has work to do: plain, or an extension of a finished run
    state
    if [ $HAVE = 1 ] && [ $FIN = 1 ]; then
        if [ $TOTAL -ge $MAX_EPOCHS ]; then return 1; fi
        EXTEND=1; echo "resume model=$W/last.pt epochs=1 $(allowed)"
    else EXTEND=0; echo "resume model=$W/last.pt $(allowed)"; fi
}

for step in $(seq "$STEPS"); do
    state
    r=$((RANDOM % 100))
    if [ ! -d $R ] || { [ $HAVE = 1 ] && [ $FIN = 1 ] && [ $TOTAL -ge $MAX_EPOCHS ]; }; then kind=fresh
    elif [ $r -lt 3 ]; then kind=fresh
    elif [ $r -lt 13 ]; then kind=resume
    elif [ $r -lt 23 ]; then kind=ctrlc
    elif [ $r -lt 37 ]; then kind=kill
    elif [ $r -lt 75 ]; then kind=refused
    elif [ $r -lt 85 ]; then kind=concurrent
    else kind=truncated
    fi
    count[$kind]=$(( ${count[$kind]:-0} + 1 ))
    killed=0 RC=-
    ts=$(date +%s%N)
    case $kind in
    fresh)
        e=$((1 + RANDOM % 2))
        KILL="" run_yolo detect train "${BASE[@]}" epochs=$e exist_ok=true
        [ $RC = 0 ] && { E0=$e EXT=(); trained=$((trained + 1)); } || violation "fresh start failed (exit $RC): $(tail -1 step.err)"
        ;;
    resume | ctrlc | kill)
        a=$(resume_args) || { count[$kind]=$((count[$kind] - 1)); kind=refused; count[$kind]=$(( ${count[$kind]:-0} + 1 )); }
        if [ $kind != refused ]; then
            [[ $a == *epochs=1* ]] && ext=1 || ext=0
            case $kind in
            resume) KILL="" run_yolo detect train $a ;;
            ctrlc) KILL=INT AFTER_MS=$((200 + RANDOM % 1500)) run_yolo detect train $a ;;
            kill) KILL=9 AFTER_MS=$((RANDOM % 2000)) run_yolo detect train $a; killed=1 ;;
            esac
            # the extension counts once it reached the checkpoint (epochs= is set before training)
            if [ $ext = 1 ]; then state; [ $TOTAL -gt $(( E0 + ${#EXT[@]} )) ] && EXT+=("$DONE"); fi
            case $RC in
            0) trained=$((trained + 1)) ;;
            130 | 137) ;;
            1) grep -q 'another training is running' step.err || [ $kind = kill ] ||
                   violation "resume failed (exit $RC): $(tail -1 step.err)" ;;
            *) [ $kind = kill ] || violation "resume ended with exit $RC: $(tail -1 step.err)" ;;
            esac
        fi
        ;;
    esac
    if [ $kind = refused ]; then
        state
        cp $R/args.yaml ref.args 2>/dev/null; [ -f $W/last.pt ] && cp $W/last.pt ref.pt
        case $((RANDOM % 6)) in
        0) o="lr0=0.02" ;; 1) o="data=ds2/data.yaml" ;; 2) o="optimizer=SGD" ;; 3) o="cos_lr=true" ;;
        4) o="model=$W/best.pt" ;; *) o="" ;;
        esac
        if [ "$o" = "" ] && [ $HAVE = 1 ] && [ $SEEN -gt 0 ]; then o="batch=3"    # 4 samples in: not whole batches of 3
        elif [ "$o" = "" ]; then o="lr0=0.001"; fi
        [[ $o == model=* ]] && set -- $o || set -- model=$W/last.pt $o
        KILL="" run_yolo detect train resume "$@"
        if [ $RC = 0 ]; then violation "'resume $*' was accepted"
        else
            refusals=$((refusals + 1))
            # one line says why (beside Ultralytics' "Resuming training from ..." when it got that far)
            [ "$(grep -vc '^Resuming training from ' step.err)" = 1 ] ||
                violation "'resume $*' refused in $(grep -c . step.err) lines: $(head -3 step.err | tr '\n' '|')"
            [ ! -f ref.pt ] || cmp -s ref.pt $W/last.pt || violation "'resume $*' was refused but changed last.pt"
            # a key a resume may not change is refused with the command line, before the run is touched:
            # what a kill left stays to repair for the next command
            case $o in lr0=* | optimizer=* | cos_lr=* | lr0=*) [ -n "$pending" ] && killed=1 ;; esac
        fi
        rm -f ref.pt ref.args
    fi
    if [ $kind = concurrent ]; then
        state
        a=$(resume_args) || a="resume model=$W/last.pt"
        [[ $a == *epochs=1* ]] && ext=1 || ext=0
        set -m
        yolo detect train $a >bg.out 2>bg.err &
        bg=$!
        set +m
        for _ in $(seq 400); do lock_held $R/.lock && break; kill -0 $bg 2>/dev/null || break; sleep 0.02; done
        alias=$W/last.pt; case $((RANDOM % 3)) in 0) alias=$R/weights//last.pt ;; 1) alias=$R/./weights/last.pt ;; esac
        KILL="" run_yolo detect train resume model=$alias
        if [ $RC = 1 ] && grep -q 'another training is running' step.err; then refusals=$((refusals + 1))
        elif kill -0 $bg 2>/dev/null; then violation "a second command on a running run (exit $RC): $(tail -1 step.err)"; fi
        # the first goes on, or is stopped at a random instant
        if [ $((RANDOM % 2)) = 0 ]; then sleep 0.$((RANDOM % 10)); kill -9 -- -$bg 2>/dev/null && { kills=$((kills + 1)); killed=1; }; fi
        wait $bg 2>/dev/null
        if [ $ext = 1 ]; then state; [ $TOTAL -gt $(( E0 + ${#EXT[@]} )) ] && EXT+=("$DONE"); fi
    fi
    if [ $kind = truncated ]; then
        if [ -f $W/last.pt ]; then
            sz=$(stat -c %s $W/last.pt)
            cut=$(( (RANDOM * 32768 + RANDOM) % sz ))
            mv $W/last.pt keep.pt && head -c $cut keep.pt >$W/last.pt
            KILL="" run_yolo detect train resume model=$W/last.pt
            [ $RC != 0 ] && [ "$(grep -c . step.err)" = 1 ] || violation "a truncated last.pt (at $cut of $sz bytes): exit $RC: $(head -2 step.err | tr '\n' '|')"
            mv keep.pt $W/last.pt  # the user puts the good copy back
            # a command that cannot read last.pt cannot bring the run's files into line with it: what a
            # kill left stays to repair for the next one
            [ -n "$pending" ] && killed=1
        else count[$kind]=$((count[$kind] - 1)); fi
    fi
    check $killed
    now=$(date +%s%N)
    echo "# step $step: $kind, exit $RC, $(( (now - ts) / 1000000 )) ms"
done

# finish the run without interruptions, then the same run straight
for _ in 1 2 3; do state; [ $FIN = 1 ] && break; KILL="" run_yolo detect train resume model=$W/last.pt; done
state
check 0
if [ $FIN != 1 ]; then violation "the run did not finish: $(tail -1 step.err)"
else
    rm -rf ref
    KILL="" run_yolo detect train "${BASE[@]}" project=ref epochs=$E0
    for d in "${EXT[@]}"; do [ $RC = 0 ] && KILL="" run_yolo detect train resume model=ref/s/weights/last.pt epochs=1; done
    if [ $RC = 0 ] && yolo-ckpt diff ref/s/weights/last.pt $W/last.pt >diff.out 2>&1; then
        echo "ok - after $STEPS steps the weights equal an uninterrupted run's ($E0 epochs + ${#EXT[@]} extensions): yolo-ckpt diff exits 0"
    else violation "final weights differ from the uninterrupted run ($E0 epochs, extensions after epochs ${EXT[*]}): $(tail -2 diff.out step.err | tr '\n' '|')"; fi
fi
summary=""
for k in fresh resume ctrlc kill refused concurrent truncated; do summary+=" $k ${count[$k]:-0},"; done
echo "# session: $STEPS steps in $(( $(date +%s) - t0 )) s (seed $SEED):$summary SIGKILLs $kills, SIGINTs $ints, refusals $refusals, completed trainings $trained, invariant violations $violations"
[ $violations = 0 ] && echo "ok - $STEPS random user steps (seed $SEED), every invariant held after every step ($kills SIGKILLs, $ints SIGINTs)"
exit 0
