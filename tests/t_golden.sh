# Runs the golden checker over tests/data/golden (numbers from the real Ultralytics).
. "$(dirname "$0")/lib.sh"
need "$DATA/golden"
"$ROOT/$BUILD/tests/golden-check" "$DATA/golden"
rc=$?
[ $rc -eq 0 ] || fail "golden-check $DATA/golden exited with $rc"
# an empty or missing folder is a failure that names what is missing, never "nothing to check"
mkdir -p "$T/empty"
"$ROOT/$BUILD/tests/golden-check" "$T/empty" >"$T/e.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^not ok - missing: $T/empty/det_forward.pt$" "$T/e.out" &&
    ok "golden-check on an empty folder exits 1, naming each missing file" || fail "golden-check on an empty folder: exit $rc"
"$ROOT/$BUILD/tests/golden-check" "$T/nowhere" >"$T/m.out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "^not ok - missing: $T/nowhere" "$T/m.out" &&
    ok "golden-check on a missing folder exits 1" || fail "golden-check on a missing folder: exit $rc"
