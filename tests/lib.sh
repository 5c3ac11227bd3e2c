# Shared helpers for shell tests (sourced). Each check prints "ok - ..." or "not ok - ...".
# Environment from tests/run: ROOT, BUILD, BIN, DATA (tests/data), PYTHON, TMPROOT.
set -u
T=$(mktemp -d "${TMPROOT:-/tmp}/t.XXXXXX")

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
skip() { echo "skip - $*"; }

# check "what" cmd...: passes when cmd exits 0.
check() { local what=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$what"; else fail "$what"; sed 's/^/# /' "$T/err" | head -5; fi; }

# check_fails "what" code "regex" cmd...: passes when cmd exits with code and prints one stderr line matching regex.
check_fails() {
    local what=$1 code=$2 re=$3; shift 3
    "$@" >"$T/out" 2>"$T/err"; local rc=$?
    local lines; lines=$(grep -c . "$T/err")
    if [ "$rc" -eq "$code" ] && [ "$lines" -eq 1 ] && grep -Eq -- "$re" "$T/err"; then ok "$what"
    else fail "$what (exit $rc, want $code; stderr: $(head -3 "$T/err" | tr '\n' '|'))"; fi
}

# check_out "what" "regex" cmd...: passes when cmd exits 0 and stdout matches regex.
check_out() {
    local what=$1 re=$2; shift 2
    if "$@" >"$T/out" 2>"$T/err" && grep -Eq -- "$re" "$T/out"; then ok "$what"
    else fail "$what (stdout: $(head -3 "$T/out" | tr '\n' '|') stderr: $(head -3 "$T/err" | tr '\n' '|'))"; fi
}

# fashion_data TASK OUT TRAIN VAL: a tiny Fashion-MNIST dataset at 64 px in OUT, or the whole test fails.
fashion_data() {
    yolo-data fashion --task "$1" --out "$2" --train "$3" --val "$4" --imgsz 64 >/dev/null 2>&1 && return 0
    fail "yolo-data fashion could not make the demo dataset (dataset-fashion-mnist: make deps installs it)"
    exit 1
}

# orphan_lock FILE SECONDS: FILE's flock, taken by a process that writes its pid into FILE (as yolo and
# the tools do) and exits at once, and held on for SECONDS by a child it leaves; prints the child's pid
orphan_lock() {
    bash -c 'exec 8>>"$1"; flock 8; echo "pid $$, since now" >"$1"; sleep "$2" >/dev/null 2>&1 & echo $!' _ "$1" "$2"
}

# lock_held FILE: whether some process holds a flock on FILE (read from /proc/locks: probing with
# flock -n would take the lock for a moment and could refuse the very command being waited for)
lock_held() {
    local ino
    ino=$(stat -c %i "$1" 2>/dev/null) || return 1
    grep -q "FLOCK .*:$ino " /proc/locks
}

# tiny_model FILE: YOLOv8's detection network at width 1/16 (6 MB checkpoints instead of 48), for tests of
# what happens to a run, where the network's size only costs time.
tiny_model() {
    sed -e '/^scales:/,/^$/c\depth_multiple: 0.33\nwidth_multiple: 0.0625\n' "$ROOT/cfg/models/yolov8.yaml" >"$1"
}

have_python_torch() { "$PYTHON" -c 'import torch' 2>/dev/null; }

# need PATH...: the test data and packages a test reads are part of the project (tests/data, make deps).
# Anything missing fails the test, naming it; it is never a skip.
need() {
    local p miss=0
    for p in "$@"; do [ -e "$p" ] || { fail "missing: $p"; miss=1; }; done
    [ $miss = 0 ] || exit 1
}
need_python_torch() { have_python_torch || { fail "missing: python3-torch for $PYTHON (make deps installs it)"; exit 1; }; }
