#!/usr/bin/env bash
# make soak: the long versions of two checks of issue 14, with their figures.
#   - the randomized user session, STEPS (2,000) steps (tests/session.sh; SEED=N repeats one);
#   - Ctrl+C through a real terminal (tmux), TTY_ROUNDS (20) presses inside training steps.
# Exit 0 only when both held every time.
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
echo "# soak: $(( $(date +%s) - t0 )) s, $([ $rc = 0 ] && echo 'all held' || echo FAILED)"
exit $rc
