# Runs the golden checker over ../shared/golden (numbers from the real Ultralytics).
. "$(dirname "$0")/lib.sh"
if [ ! -d "$SHARED/golden" ]; then skip "no golden folder at $SHARED/golden"; exit 0; fi
"$ROOT/$BUILD/tests/golden-check" "$SHARED/golden"
