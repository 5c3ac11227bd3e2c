#!/usr/bin/env bash
# make soak: the long checks, with their figures: two of issue 14, and those of issue 16.
#   - the randomized user session, STEPS (2,000) steps (tests/session.sh; SEED=N repeats one);
#   - Ctrl+C through a real terminal (tmux), TTY_ROUNDS (20) presses inside training steps;
#   - the data-parallel soaks of tests/soak/ (SOAK=1 tests/run [NAME] runs them alone).
# Exit 0 only when all held every time.
set -u
cd "$(dirname "$0")/.."
export ROOT=$PWD BUILD=${BUILD:-build}
export BIN=$ROOT/$BUILD/bin DATA=$ROOT/tests/data PYTHON=${PYTHON:-/usr/bin/python3} YOLO_LABEL_CACHE=off
export PATH=$BIN:$ROOT/scripts:$PATH
export TMPROOT=$(mktemp -d /tmp/yolo-soak.XXXXXX)
trap 'rm -rf "$TMPROOT"' EXIT
rc=0
t0=$(date +%s)
STEPS=${STEPS:-2000} bash tests/session.sh "$TMPROOT/session" | tee "$TMPROOT/session.log" | grep -v '^# step '
grep -q '^not ok' "$TMPROOT/session.log" && rc=1
grep -q '^ok - .* random user steps' "$TMPROOT/session.log" || rc=1
TTY_ROUNDS=${TTY_ROUNDS:-20} bash tests/t_yolo_tty.sh | tee "$TMPROOT/tty.log"
grep -q '^not ok' "$TMPROOT/tty.log" && rc=1
# the data-parallel soaks (tests/soak/: a world=2 run killed 12 times, the 30-epoch learning run)
SOAK=1 tests/run | tee "$TMPROOT/ranks.log"
tail -1 "$TMPROOT/ranks.log" | grep -q ' 0 failed' || rc=1
echo "# soak: $(( $(date +%s) - t0 )) s, $([ $rc = 0 ] && echo 'all held' || echo FAILED)"
exit $rc
