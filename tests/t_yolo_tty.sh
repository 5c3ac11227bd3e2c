# Ctrl+C as a person presses it: `yolo ... train` in a real terminal (tmux), the trainer server on, and
# C-c sent through the terminal (SIGINT to the whole foreground process group) at a random instant
# inside a training step. Each press must save a mid-epoch position ("interrupted: saved"), exit 130,
# and the next resume must go on from it. TTY_ROUNDS presses (3 here; `make soak` runs 20);
# SEED= repeats a run's instants. A second press kills at once.
. "$(dirname "$0")/lib.sh"
cd "$T"
rounds=${TTY_ROUNDS:-3}
seed=${SEED:-$(( $(date +%s%N) % 100000 ))}
echo "# seed $seed (SEED=$seed repeats these instants), $rounds rounds"
RANDOM=$seed
fashion_data detect ds 32 4
sock=yolo-tty-$$
tm() { tmux -L "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null' EXIT
# a clean shell: the test's PATH and no rc files, so the prompt and the environment are known
tm -f /dev/null new-session -d -x 160 -y 50 "env -i PATH='$PATH' HOME='$T' TERM=xterm YOLO_LABEL_CACHE=off bash --norc --noprofile" ||
    { fail "cannot start tmux"; exit 1; }
tm set-option -g history-limit 5000 >/dev/null
W=runs/detect/train/weights
# screen NAME: the pane's text so far
screen() { tm capture-pane -p -S - -J >"$1"; }
# wait_for REGEX [SECONDS]: until the pane shows REGEX
wait_for() {
    local i
    for i in $(seq $(( ${2:-120} * 20 ))); do screen s.txt; grep -Eq -- "$1" s.txt && return 0; sleep 0.05; done
    return 1
}
# runs a command in the terminal; its exit status is printed after it as "rc=N" with a round number
n=0
type_cmd() { n=$((n + 1)); tm send-keys "clear; tmux -L $sock clear-history; $1; echo \"rc$n=\$?\"" Enter; }

cmd="yolo detect train data=ds/data.yaml epochs=50 imgsz=64 batch=2 workers=1"
saved=0 bad=0
for r in $(seq "$rounds"); do
    type_cmd "$cmd"
    cmd="yolo detect train resume model=$W/last.pt"
    # inside the batch loop of some epoch: the bar shows batch 2..8 of 16, then a random pause of up
    # to one step, as long as the bar's rate says a step takes (tens of milliseconds)
    want=$(( 2 + RANDOM % 7 ))
    wait_for " ([0-9]+)/50 .* ($(seq -s '|' $want 8))/16 [0-9.]+it/s" 300 || { fail "round $r: no training progress: $(tail -3 s.txt | tr '\n' '|')"; bad=1; break; }
    rate=$(grep -Eo "/16 [0-9.]+it/s" s.txt | tail -1 | grep -Eo "[0-9]+" | head -1)
    sleep "0.$(printf '%03d' $((RANDOM % (1000 / (${rate:-10} + 1)))))"
    tm send-keys C-c
    if ! wait_for "rc$n=[0-9]+" 120; then fail "round $r: the command did not end after Ctrl+C"; bad=1; break; fi
    rc=$(grep -Eo "rc$n=[0-9]+" s.txt | tail -1); rc=${rc#*=}
    line=$(grep -E 'interrupted: saved .* at sample [0-9]+ of epoch [0-9]+' s.txt | tail -1)
    pos=$(yolo-ckpt inspect --json $W/last.pt | grep -c '"position": {')
    if [ "$rc" = 130 ] && [ -n "$line" ] && [ "$pos" = 1 ]; then saved=$((saved + 1))
    else
        fail "round $r: Ctrl+C through the terminal (exit $rc, saved line: ${line:-none}, position in last.pt: $pos): $(grep -v '^$' s.txt | tail -4 | tr '\n' '|')"
        bad=1
    fi
done
echo "# $saved of $rounds presses saved a mid-epoch position"
[ $bad = 0 ] && ok "Ctrl+C through a terminal, trainer server on: $saved of $rounds presses inside a training step each saved a mid-epoch position and exited 130"

# two presses: the second kills at once, last.pt stays whole and resumable
type_cmd "$cmd"
if wait_for " ([0-9]+)/50 .* [2-9]/16 [0-9.]+it/s" 300; then
    tm send-keys C-c; sleep 0.05; tm send-keys C-c
    wait_for "rc$n=[0-9]+" 60
    rc=$(grep -Eo "rc$n=[0-9]+" s.txt | tail -1); rc=${rc#*=}
    if [ "$rc" = 130 ] && yolo-ckpt verify $W/last.pt >/dev/null && yolo-ckpt inspect $W/last.pt | grep -q '^resumable: *yes'; then
        ok "a second Ctrl+C stops at once (exit 130), last.pt stays whole"
    else fail "two presses: exit ${rc:-none}: $(grep -v '^$' s.txt | tail -3 | tr '\n' '|')"; fi
else fail "no progress before the double press: $(tail -3 s.txt | tr '\n' '|')"; fi
exit 0
