#!/usr/bin/env bash
# yolo-ckpt against real Ultralytics checkpoints, cross-checked with python3-torch.
. "$(dirname "$0")/lib.sh"
R=$DATA/ultralytics
MID=$R/yolov8n-fashion-mid.pt
FINAL=$R/yolov8n-fashion-final.pt
CK=$BIN/yolo-ckpt

need "$MID" "$FINAL" "$R/yolov8n-fashion256-e30.pt"

# ---- inspect
check_out "inspect mid: Ultralytics training checkpoint" '^kind: +Ultralytics training checkpoint$' "$CK" inspect "$MID"
check_out "inspect mid: epoch 2 of 4 done" '^epoch: +epoch 2 of 4 done$' "$CK" inspect "$MID"
check_out "inspect mid: resumable" '^resumable: +yes$' "$CK" inspect "$MID"
check_out "inspect mid: 355 ema tensors" '^weights: +ema: 355 tensors \(float16\), 3,023,255 parameters$' "$CK" inspect "$MID"
check_out "inspect mid: optimizer and lr" '^optimizer: +AdamW \(optimizer=auto\), lr 3.760995e-05$' "$CK" inspect "$MID"
check_out "inspect mid: task, model, classes" '^classes: +10 \(T-shirt/top, Trouser' "$CK" inspect "$MID"
check_out "inspect final: stripped" '^kind: +Ultralytics stripped weights$' "$CK" inspect "$FINAL"
check_out "inspect final: not resumable (stripped)" '^resumable: +no: stripped' "$CK" inspect "$FINAL"

"$CK" inspect --json --tensors "$MID" >"$T/mid.json" 2>"$T/err"
if "$PYTHON" - "$T/mid.json" <<'EOF'; then ok "inspect --json parses with the right fields"; else fail "inspect --json"; fi
import json, sys
d = json.load(open(sys.argv[1]))
want = dict(kind="ultralytics-training", task="detect", model="yolov8n.yaml", scale="n", nc=10, epoch=1,
            epochs=4, epochs_done=2, resumable=True, why_not=None, optimizer="AdamW", imgsz=128, batch=16,
            version="8.4.52", weights="ema", num_tensors=355, parameters=3023255, dtype="float16", size=24429477)
bad = {k: (d.get(k), v) for k, v in want.items() if d.get(k) != v}
bad.update({} if d["names"]["1"] == "Trouser" and len(d["tensors"]) == 355 else {"names/tensors": 1})
if bad: print("# mismatch", bad); sys.exit(1)
EOF
"$CK" inspect --json "$FINAL" >"$T/final.json" 2>"$T/err"
if "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["kind"]=="ultralytics-stripped" and d["resumable"] is False and "stripped" in d["why_not"] and d["epoch"]==-1))' "$T/final.json"; then
    ok "inspect --json final: stripped, not resumable"; else fail "inspect --json final"; fi

# ---- the C side's views, for python to compare with its own
"$CK" inspect --tensors "$MID" | awk 'f; /^$/ {f=1}' >"$T/mid.tensors"
"$CK" inspect --tensors "$FINAL" | awk 'f; /^$/ {f=1}' >"$T/final.tensors"
check "import mid" "$CK" import "$MID" -o "$T/imp.pt"
check "import final" "$CK" import "$FINAL" -o "$T/impf.pt"
check "export imported mid" "$CK" export "$T/imp.pt" -o "$T/exp.pt"
check "export imported final" "$CK" export "$T/impf.pt" -o "$T/expf.pt"
check "strip imported mid" "$CK" strip "$T/imp.pt" -o "$T/str.pt"
check_out "inspect imported: our training checkpoint, epoch kept" '^epoch: +epoch 2 of 4 done$' "$CK" inspect "$T/imp.pt"
check_out "inspect imported: resumable" '^resumable: +yes$' "$CK" inspect "$T/imp.pt"
check_out "inspect stripped: not resumable" '^resumable: +no: stripped' "$CK" inspect "$T/str.pt"
check_out "inspect stripped: fp16 model" '^weights: +model: 355 tensors \(float16\)' "$CK" inspect "$T/str.pt"
check_out "inspect export: tensor dict" '^kind: +plain tensor dict$' "$CK" inspect "$T/exp.pt"

if have_python_torch; then
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(cd "$(dirname "$0")/py" && pwd)" "$PYTHON" - "$MID" "$FINAL" "$T" <<'EOF' >"$T/py.out" 2>&1
import sys
import torch
from ultralytics_stubs import state, state_dict  # Ultralytics is not installed: inert stand-ins
mid, final, t = sys.argv[1], sys.argv[2], sys.argv[3]

def check(what, cond):
    print(("ok - " if cond else "not ok - ") + what)

def listing(sd):
    return "".join(f"{k}\t{str(v.dtype)[6:]}\t{list(v.shape)}\n" for k, v in sd.items())

u = torch.load(mid); uf = torch.load(final)
ema, fmodel = state_dict(u["ema"]), state_dict(uf["model"])
check("--tensors lists the 355 names, dtypes and shapes torch.load shows (mid)", listing(ema) == open(t + "/mid.tensors").read())
check("--tensors matches torch.load (final)", listing(fmodel) == open(t + "/final.tensors").read())

def same_weights(path, ref):
    e = torch.load(path)
    return (type(e) is dict and list(e) == list(ref) and
            all(torch.equal(e[k], v.float() if v.is_floating_point() else v) and
                (e[k].dtype == torch.float32 or not v.is_floating_point()) for k, v in ref.items()))
check("import+export mid == Ultralytics' EMA widened to fp32", same_weights(t + "/exp.pt", ema))
check("import+export final == Ultralytics' stripped model widened to fp32", same_weights(t + "/expf.pt", fmodel))

c = torch.load(t + "/imp.pt")
check("imported file loads as plain values with our marker",
      c["yolo_tools_format"] == 1 and c["epoch"] == 1 and c["train_args"]["epochs"] == 4 and
      len(c["train_args"]) == 109 and "save_dir" not in c["train_args"] and c["updates"] == u["updates"] and
      c["best_fitness"] == u["best_fitness"] and c["train_metrics"] == u["train_metrics"])
check("imported model and ema are fp32 copies of the EMA",
      all(torch.equal(c["model"][k], v.float()) and torch.equal(c["ema"][k], v.float()) for k, v in ema.items()))
opt, uo = c["optimizer"], u["optimizer"]
ids = [i for g in uo["param_groups"] for i in g["params"]]
names = [n for g in opt["param_groups"] for n in g["params"]]
good = opt["keyed_by"] == "name" and len(ids) == len(names) == 184 and len(opt["state"]) == len(uo["state"]) == 183
for i, n in zip(ids, names):
    if i not in uo["state"]: continue
    a, b = uo["state"][i], opt["state"][n]
    good = good and ema[n].shape == b["exp_avg"].shape and set(a) == set(b)
    good = good and all(torch.equal(a[k].float(), b[k]) and b[k].dtype == torch.float32 for k in a)
check("optimizer state keyed by parameter name, fp32, equal values", good)
check("optimizer groups keep lr and hyperparameters",
      [{k: v for k, v in g.items() if k != "params"} for g in opt["param_groups"]] ==
      [{k: v for k, v in g.items() if k != "params"} for g in uo["param_groups"]])

s = torch.load(t + "/str.pt")
check("stripped file: fp16 EMA model, no optimizer, epoch -1",
      s["epoch"] == -1 and s["optimizer"] is None and s["ema"] is None and
      all(torch.equal(s["model"][k], v) and s["model"][k].dtype == v.dtype for k, v in ema.items()))

# Ultralytics' summary counts distinct leaf modules and parameter elements of the real model.
seen, leaves, params = set(), 0, 0
def walk(m):
    global leaves, params
    if id(m) in seen: return
    seen.add(id(m))
    s = state(m)
    params += sum(p.numel() for p in s["_parameters"].values() if p is not None)
    kids = [c for c in s["_modules"].values() if c is not None]
    leaves += not kids
    for c in kids: walk(c)
walk(u["ema"])
open(t + "/summary.want", "w").write(f"YOLOv8n summary: {leaves} layers, {params:,} parameters, {params - 16:,} gradients, ")

# A copy with one element changed, for diff.
e = torch.load(t + "/exp.pt"); e["model.22.cv3.2.2.bias"][3] += 0.25; torch.save(e, t + "/exp_mod.pt")

# Files made here for the later checks: random fp32 weights (fp16 rounding), a small Ultralytics-style
# checkpoint (numpy scalars, AdamW groups, a .pt model name) with its expected values, and a 1 KB file
# whose values are shared 2^40 times.
g = torch.Generator().manual_seed(0)
x = torch.randn(200000, generator=g) * torch.logspace(-10, 5.5, 200000)
x = torch.cat([x, torch.tensor([65504., 65519.99, 65520., 2.**-24, 2.**-25, 1.5 * 2.**-24, float("nan"), float("inf"), -0.0])])
torch.save({"yolo_tools_format": 1, "epoch": 0, "model": {"w": x}, "ema": {"w": x.clone()}, "optimizer": {},
            "train_args": {"epochs": 3}}, t + "/r32.pt")

a = [1.5]
for i in range(40): a = [a, a]
torch.save({"yolo_tools_format": 1, "epoch": 0, "ema": {"w": torch.ones(3)}, "optimizer": {},
            "train_args": {"epochs": 3, "x": a}, "train_metrics": {"m": a}}, t + "/bomb.pt")

try:
    import numpy as np
except ImportError:
    np = None
if np is not None:
    import importlib
    tasks = importlib.import_module("ultralytics.nn.tasks")  # a stand-in module from the finder above
    class DetectionModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1))
            self.yaml, self.nc, self.names = {"nc": 2, "scale": "n", "yaml_file": "yolov8n.yaml"}, 2, {0: "a", 1: "b"}
    DetectionModel.__module__ = "ultralytics.nn.tasks"
    tasks.DetectionModel = DetectionModel
    torch.manual_seed(0)
    m = DetectionModel()
    named = dict(m.named_parameters())
    opt = torch.optim.AdamW([named["model.0.weight"], named["model.2.weight"]], lr=0.01)
    opt.add_param_group({"params": [named["model.1.weight"]], "weight_decay": 0.0, "param_group": "bn"})
    opt.add_param_group({"params": [named["model.1.bias"], named["model.2.bias"]], "weight_decay": 0.0})
    for p in m.parameters(): p.grad = torch.randn_like(p)
    opt.step()
    torch.save({"epoch": 0, "best_fitness": np.float64(0.5), "model": None, "ema": m.half(), "updates": 3,
                "optimizer": opt.state_dict(), "train_args": {"task": "detect", "model": "runs/w/last.pt", "epochs": 3,
                "optimizer": "AdamW", "save_dir": "/elsewhere/runs/detect/train"},
                "train_metrics": {"fitness": np.float64(0.25)}, "date": "2026-01-01T00:00:00", "version": "8.4.52"},
               t + "/small.pt")
    torch.save({"exp_avg": {n: opt.state[p]["exp_avg"] for n, p in named.items()}, "ema": m.float().state_dict()},
               t + "/small_ref.pt")
EOF
    grep -E '^(ok|not ok) - ' "$T/py.out"
    if grep -q 'Traceback' "$T/py.out"; then fail "python cross-checks crashed"; fi
    grep -q '^not ok\|Traceback' "$T/py.out" && sed 's/^/# /' "$T/py.out" | grep -v '^# ok' | tail -5
else
    fail "missing: python3-torch for the cross-checks with torch.load (make deps installs it)"
fi

# ---- files made by python above: fp16 rounding, a small Ultralytics-style import, a sharing bomb
if [ -f "$T/r32.pt" ]; then
    check "strip of a random fp32 file" "$CK" strip "$T/r32.pt" -o "$T/r16.pt"
fi
if [ -f "$T/small.pt" ]; then
    check "import a small Ultralytics-style file" "$CK" import "$T/small.pt" -o "$T/small_imp.pt"
fi
if [ -f "$T/bomb.pt" ]; then
    check_out "inspect --json of a shared-value bomb" '"epochs_done": 1' timeout 20 "$CK" inspect --json "$T/bomb.pt"
    check_fails "diff of a shared-value bomb" 1 'bomb.pt: too many values' timeout 20 "$CK" diff "$T/bomb.pt" "$T/bomb.pt"
    check_fails "strip of a shared-value bomb" 1 'x.pt: values nest or repeat too much' timeout 20 "$CK" strip "$T/bomb.pt" -o "$T/x.pt"
    check_fails "set on a shared-value bomb" 1 'bomb.pt: values nest or repeat too much' timeout 20 "$CK" set "$T/bomb.pt" epochs=5
fi

# ---- set
mkdir -p "$T/set" && cp "$T/imp.pt" "$T/set/last.pt"
check "set epochs=150" "$CK" set "$T/set/last.pt" epochs=150
check_out "inspect shows the edit" '^epoch: +epoch 2 of 150 done$' "$CK" inspect "$T/set/last.pt"
if [ "$(ls -A "$T/set")" = "last.pt" ]; then ok "set leaves no temporary file behind"; else fail "set left files: $(ls -A "$T/set")"; fi
cp "$T/set/last.pt" "$T/before.pt"
check_fails "set rejects a float for an int key" 2 "last.pt: 'epochs=1.5' is not valid: epochs must be an integer" "$CK" set "$T/set/last.pt" epochs=1.5
check_fails "set rejects an unknown key" 2 "'nosuchkey' is not a train_args key" "$CK" set "$T/set/last.pt" nosuchkey=1
check_fails "set rejects a fraction out of range" 2 "'lr0=2' is not valid: lr0 must be a number from 0 to 1" "$CK" set "$T/set/last.pt" lr0=2
if cmp -s "$T/before.pt" "$T/set/last.pt"; then ok "a rejected set leaves the file untouched"; else fail "a rejected set changed the file"; fi
check_fails "set refuses Ultralytics files" 1 "import it first|convert it first" "$CK" set "$MID" epochs=5
check "set several values" "$CK" set "$T/set/last.pt" lr0=0.02 cos_lr=true time=none

# ---- second python pass: read back what the tool wrote from the files above
if have_python_torch; then
    "$PYTHON" - "$T" <<'EOF' >"$T/py2.out" 2>&1
import os, sys, torch
t = sys.argv[1]
def check(what, cond):
    print(("ok - " if cond else "not ok - ") + what)
a = torch.load(t + "/set/last.pt")["train_args"]
check("set values read back in torch.load with Ultralytics' types",
      a["lr0"] == 0.02 and a["cos_lr"] is True and a["time"] is None and a["epochs"] == 150)
if os.path.exists(t + "/r16.pt"):
    want = torch.load(t + "/r32.pt")["ema"]["w"].half().view(torch.int16)
    got = torch.load(t + "/r16.pt")["model"]["w"]
    check("strip's fp16 is bit-identical to torch .half() on 200,009 values",
          got.dtype == torch.float16 and torch.equal(want, got.view(torch.int16)))
if os.path.exists(t + "/small_ref.pt"):
    ref, c = torch.load(t + "/small_ref.pt"), torch.load(t + "/small_imp.pt")
    o = c["optimizer"]
    names = [n for g in o["param_groups"] for n in g["params"]]
    check("import: optimizer state keyed by name in Ultralytics' group order",
          names == ["model.0.weight", "model.2.weight", "model.1.weight", "model.1.bias", "model.2.bias"] and
          all(torch.equal(o["state"][n]["exp_avg"], ref["exp_avg"][n]) for n in names))
    check("import: numpy scalars become floats",
          type(c["best_fitness"]) is float and c["best_fitness"] == 0.5 and c["train_metrics"] == {"fitness": 0.25})
    check("import: a .pt model becomes its YAML, save_dir is dropped",
          c["train_args"]["model"] == "yolov8n.yaml" and "save_dir" not in c["train_args"])
    check("import: task, nc, names and fp32 EMA",
          c["names"] == {0: "a", 1: "b"} and c["nc"] == 2 and c["task"] == "detect" and
          all(torch.equal(c["ema"][k], v.half().float() if v.is_floating_point() else v) for k, v in ref["ema"].items()))
EOF
    grep -E '^(ok|not ok) - ' "$T/py2.out"
    if grep -q 'Traceback' "$T/py2.out"; then fail "python cross-checks crashed"; fi
    grep -q '^not ok\|Traceback' "$T/py2.out" && sed 's/^/# /' "$T/py2.out" | grep -v '^# ok' | tail -5
fi

# ---- diff
check_out "diff of a file with itself: identical" '355 identical, 0 different' "$CK" diff "$T/exp.pt" "$T/exp.pt"
check "diff of a copy: exit 0" "$CK" diff "$T/imp.pt" "$T/set/last.pt"
if [ -f "$T/exp_mod.pt" ]; then
    "$CK" diff "$T/exp.pt" "$T/exp_mod.pt" >"$T/out" 2>"$T/err"; rc=$?
    if [ $rc -eq 1 ] && grep -Eq '^differs +model.22.cv3.2.2.bias +max abs diff 0.25' "$T/out" && [ "$(grep -c '^differs' "$T/out")" -eq 1 ]; then
        ok "diff of a modified copy exits 1 and names the tensor"; else fail "diff modified (rc $rc): $(head -3 "$T/out" | tr '\n' '|')"; fi
fi
"$CK" diff "$T/exp.pt" "$T/str.pt" >"$T/out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q '^only in A  model.0.conv.weight' "$T/out"; then ok "diff reports names present in one file only"; else fail "diff names (rc $rc)"; fi
"$CK" strip "$MID" -o "$T/str2.pt" >/dev/null 2>&1
check "strip of the Ultralytics file == strip of its import (bit-identical)" "$CK" diff "$T/str.pt" "$T/str2.pt"

# ---- verify
check_out "verify mid" ': ok$' "$CK" verify "$MID"
check_out "verify our own output" ': ok$' "$CK" verify "$T/imp.pt"
# the local header's copy of an entry's CRC, and a size in its central-directory record, of the last
# entry (whose data no reader looks at beside the CRC): each copy must agree with the other (the data
# itself is intact, so only that comparison can notice)
flip() { "$PYTHON" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
at = b.rfind(bytes.fromhex(sys.argv[3])) + int(sys.argv[4])
b[at] ^= 0x01
open(sys.argv[2], "wb").write(b)' "$T/imp.pt" "$@"; }
flip "$T/lcrc.pt" 504b0304 14
flip "$T/csize.pt" 504b0102 20
check_fails "verify: a flipped CRC copy in a local header is damage" 1 'lcrc.pt: damaged: entry .*: the CRC in its local header differs' \
    "$CK" verify "$T/lcrc.pt"
check_fails "verify: a flipped size in the central directory is damage" 1 'csize.pt: damaged: entry .*: a stored entry.s two sizes differ' \
    "$CK" verify "$T/csize.pt"

# ---- every test data checkpoint: inspect --json gives one parseable object, verify passes
n=0 bad=""
for f in "$DATA"/golden/*.pt "$R"/*.pt; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    "$CK" inspect --json "$f" 2>"$T/err" | "$PYTHON" -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null || bad="$bad $(basename "$f")"
    "$CK" verify "$f" >/dev/null 2>>"$T/err" || bad="$bad verify:$(basename "$f")"
done
if [ -z "$bad" ]; then ok "inspect --json and verify on all $n golden and reference files"; else fail "inspect/verify failed on:$bad"; fi

# ---- usage errors
check_fails "no command: usage, exit 2" 2 '^yolo-ckpt: missing COMMAND' "$CK"
check_fails "unknown command: exit 2" 2 "unknown command 'frobnicate'" "$CK" frobnicate
check_fails "inspect without FILE: exit 2" 2 '^yolo-ckpt: inspect: missing FILE' "$CK" inspect
check_fails "inspect unknown option: exit 2" 2 "unknown option '--bogus'" "$CK" inspect --bogus "$MID"
check_fails "import without -o: exit 2" 2 'missing -o OUT.pt' "$CK" import "$MID"
check_fails "set without key=value: exit 2" 2 "'epochs' is not key=value" "$CK" set "$T/set/last.pt" epochs
check_fails "diff with one file: exit 2" 2 'needs two files' "$CK" diff "$MID"
check_fails "summary of a missing YAML: exit 1" 1 'nosuch.yaml: no such model YAML' "$CK" summary nosuch.yaml
check_fails "summary bad nc: exit 2" 2 "'nc=abc' is not a positive class count" "$CK" summary yolov8n.yaml nc=abc
check_out "--help" '^usage: yolo-ckpt COMMAND' "$CK" --help
check_out "inspect --help" '^usage: yolo-ckpt inspect FILE' "$CK" inspect --help

# ---- bad files: one line, exit 1, for inspect and verify
head -c 300000 "$FINAL" >"$T/trunc.pt"
printf 'this is not a zip file\n' >"$T/text.pt"
mkdir -p "$T/dir.pt"
for cmd in inspect verify; do
    check_fails "$cmd truncated file" 1 'trunc.pt: ' "$CK" $cmd "$T/trunc.pt"
    check_fails "$cmd non-zip file" 1 'text.pt: not a zip' "$CK" $cmd "$T/text.pt"
    check_fails "$cmd directory" 1 'dir.pt: is a directory' "$CK" $cmd "$T/dir.pt"
    check_fails "$cmd missing file" 1 'missing.pt: cannot open' "$CK" $cmd "$T/missing.pt"
done
check_fails "export of a non-checkpoint" 1 'text.pt: not a zip' "$CK" export "$T/text.pt" -o "$T/x.pt"
check_fails "import of our own file" 1 'already in yolo-tools layout' "$CK" import "$T/imp.pt" -o "$T/x.pt"
check_fails "import of a tensor dict" 1 'not an Ultralytics checkpoint' "$CK" import "$T/exp.pt" -o "$T/x.pt"
check_fails "strip to an unwritable folder" 1 'nodir/x.pt' "$CK" strip "$T/imp.pt" -o "$T/nodir/x.pt"
# a training checkpoint is not replaced by its weights (its training state would be gone); best.pt is
# (Ultralytics strips it in place, nothing resumes from it)
cp "$T/imp.pt" "$T/last.pt" && cp "$MID" "$T/ulast.pt" && ln -f "$T/last.pt" "$T/other-name.pt"
sum=$(cat "$T/last.pt" "$T/ulast.pt" | sha256sum)
check_fails "strip in place of our training checkpoint: refused" 2 \
    "last.pt: a training checkpoint: writing its stripped weights over it would lose the training state \(resume, more epochs\) for good; give -o OUT.pt for them" \
    "$CK" strip "$T/last.pt"
check_fails "strip in place of Ultralytics' training checkpoint: refused" 2 "ulast.pt: a training checkpoint" "$CK" strip "$T/ulast.pt"
check_fails "export -o onto the input itself (another name of it): refused" 2 "last.pt: a training checkpoint: writing its exported weights" \
    "$CK" export "$T/last.pt" -o "$T/other-name.pt"
[ "$(cat "$T/last.pt" "$T/ulast.pt" | sha256sum)" = "$sum" ] && ok "... and both files are unchanged" || fail "a refused strip changed a file"
# commands that rewrite a run's files wait their turn: while a trainer holds the run folder's lock
# (here: flock(1), as the yolo loop takes it), set, sync and an in-place strip are refused, nothing changed
mkdir -p "$T/run/weights" && cp "$T/imp.pt" "$T/run/weights/last.pt" && cp "$T/imp.pt" "$T/run/weights/best.pt"
sum=$(cat "$T/run/weights/"*.pt | sha256sum)
for c in "set $T/run/weights/last.pt epochs=9" "sync $T/run/weights/last.pt" "strip $T/run/weights/best.pt"; do
    check_fails "yolo-ckpt ${c%% *} while the run's lock is held: refused" 1 "$T/run: another trainer holds the run folder" \
        flock "$T/run/.lock" $CK $c
done
[ "$(cat "$T/run/weights/"*.pt | sha256sum)" = "$sum" ] && [ ! -e "$T/run/args.yaml" ] && ok "... and nothing in the run changed" ||
    fail "a refused command changed the run"
check "set once the lock is free" "$CK" set "$T/run/weights/last.pt" epochs=9
cp "$T/imp.pt" "$T/best.pt"
check "strip in place of best.pt" "$CK" strip "$T/best.pt"
check_out "... which is now stripped weights" '^kind: +yolo-tools stripped weights$' "$CK" inspect "$T/best.pt"

# ---- summary: Ultralytics 8.4.52's lines. Parameters, gradients and GFLOPs as spec 1.9 prints them;
# layers are one more than 8.3's 129/169/209/151 for models with an SPPF, whose cv1 carries its own
# Identity in 8.4.52: the pickled model in yolov8n-fashion-mid.pt has 130 distinct leaf modules.
check_out "summary yolov8n" '^YOLOv8n summary: 130 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs$' "$CK" summary yolov8n.yaml nc=80
check_out "summary yolov8s" '^YOLOv8s summary: 130 layers, 11,166,560 parameters, 11,166,544 gradients, 28.8 GFLOPs$' "$CK" summary yolov8s.yaml nc=80
check_out "summary yolov8m" '^YOLOv8m summary: 170 layers, 25,902,640 parameters, 25,902,624 gradients, 79.3 GFLOPs$' "$CK" summary yolov8m.yaml nc=80
check_out "summary yolov8l" '^YOLOv8l summary: 210 layers, 43,691,520 parameters, 43,691,504 gradients, 165.7 GFLOPs$' "$CK" summary yolov8l.yaml nc=80
check_out "summary yolov8x" '^YOLOv8x summary: 210 layers, 68,229,648 parameters, 68,229,632 gradients, 258.5 GFLOPs$' "$CK" summary yolov8x.yaml nc=80
check_out "summary yolov8n-seg" '^YOLOv8n-seg summary: 152 layers, 3,409,968 parameters, 3,409,952 gradients, ' "$CK" summary yolov8n-seg.yaml
check_out "summary yolov8n-cls" '^YOLOv8n-cls summary: 56 layers, 2,719,288 parameters, 2,719,288 gradients, ' "$CK" summary yolov8n-cls.yaml nc=1000

if [ -f "$T/summary.want" ]; then
    "$CK" summary yolov8n.yaml nc=10 >"$T/out" 2>&1
    if [ "$(head -c "$(wc -c <"$T/summary.want")" "$T/out")" = "$(cat "$T/summary.want")" ]; then
        ok "summary yolov8n nc=10 matches the layers and parameters of the pickled Ultralytics model"
    else fail "summary nc=10: got '$(cat "$T/out")', want '$(cat "$T/summary.want")...'"; fi
fi

# ---- an epoch at the int64 limit is shown as the count it means, without overflowing
if have_python_torch && "$PYTHON" -c 'import sys, torch; torch.save({"epoch": 2**63 - 1, "train_args": {"epochs": 5}}, sys.argv[1])' "$T/ep.pt"; then
    check_out "inspect: epoch INT64_MAX counts as 2^63 done" '^epoch: +epoch 9223372036854775808 of 5 done$' "$CK" inspect "$T/ep.pt"
    check_out "inspect --json: epochs_done null when it does not fit" '"epochs_done": null' "$CK" inspect --json "$T/ep.pt"
fi

# ---- no libtorch in yolo-ckpt
if ldd "$CK" | grep -q 'libtorch\|libc10'; then fail "yolo-ckpt links libtorch"; else ok "yolo-ckpt does not link libtorch"; fi

# ---- get: scriptable values by dotted key
check_out "get prints the epoch" '^1$' "$BIN/yolo-ckpt" get "$MID" epoch
"$BIN/yolo-ckpt" get "$MID" epoch train_args.epochs train_args.imgsz >"$T/get" 2>&1
if [ "$(tr '\n' ' ' <"$T/get")" = "1 4 128 " ]; then ok "get prints one line per key"; else fail "get prints one line per key: $(cat "$T/get")"; fi
check_fails "get of a missing key fails naming it" 1 "no key 'train_args.nope'" "$BIN/yolo-ckpt" get "$MID" train_args.nope
check_fails "get without a key is a usage error" 2 "get: expects FILE KEY" "$BIN/yolo-ckpt" get "$MID"

rm -rf "$T"
