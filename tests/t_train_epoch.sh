# yolo-train-epoch: a fresh epoch, bit-identical repeats, mid-epoch stop + resume == one straight epoch,
# stream checks, the run-folder lock, and failures that must leave last.pt untouched.
. "$(dirname "$0")/lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"

fashion_data detect ds 16 8
cat >args.yaml <<EOF
task: detect
model: yolov8n.yaml
data: ds/data.yaml
epochs: 2
batch: 4
imgsz: 64
seed: 0
save_period: 2
EOF
stream() { yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch "$@"; }

# epoch 0 from args.yaml
stream 0 | yolo-train-epoch --new args.yaml -o a/weights/last.pt threads=1 >a.json 2>a.err
rc=$?
if [ $rc -eq 0 ] && grep -q '"epoch":0,"epochs":2' a.json && grep -q '"position":null' a.json; then ok "fresh epoch 0 from args.yaml"
else fail "fresh epoch 0 from args.yaml (exit $rc: $(tail -2 a.err | tr '\n' '|'))"; exit 0; fi
[ -f a/weights/best.pt ] && ok "best.pt written on the first validation" || fail "best.pt written on the first validation"
[ -f a/weights/epoch0.pt ] && ok "save_period=2 writes epoch0.pt" || fail "save_period=2 writes epoch0.pt"
hdr='epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2'
if [ "$(head -1 a/results.csv)" = "$hdr" ] && [ "$(wc -l <a/results.csv)" -eq 2 ] && grep -q '^1,' a/results.csv
then ok "results.csv has Ultralytics' detect columns and one row"; else fail "results.csv header/rows: $(cat a/results.csv | tr '\n' '|')"; fi
grep -q 'box_loss' a.err && ok "progress lines on stderr" || fail "progress lines on stderr"

if have_python_torch; then
    check "torch.load reads last.pt (epoch 0, fp32 model and ema, AdamW state)" "$PYTHON" -c '
import sys, torch
c = torch.load(sys.argv[1])
assert c["epoch"] == 0, c["epoch"]
assert len(c["model"]) == 355 and len(c["ema"]) == 355
assert c["model"]["model.0.conv.weight"].dtype == torch.float32
o = c["optimizer"]
assert o["name"] == "AdamW" and o["keyed_by"] == "name"
assert [g["param_group"] for g in o["param_groups"]] == ["weight", "bn", "bias"]
assert o["state"]["model.0.conv.weight"]["step"].item() == 4.0
assert c["train_args"]["batch"] == 4 and c["threads"] == 1
assert c["position"] is None and c["updates"] == 4
assert list(c["train_results"])[0] == "epoch" and c["train_results"]["epoch"] == [1]
' a/weights/last.pt
fi

# a save in the middle of the first epoch (epoch -1 with a position) is a training checkpoint, not stripped
stream 0 | yolo-train-epoch --new args.yaml -o z/weights/last.pt threads=1 --stop-after 1 >z.json 2>z.err
check_out "mid-first-epoch save is resumable" '^resumable: +yes' yolo-ckpt inspect z/weights/last.pt
check_out "... and inspect says no epoch is done yet (not 'stripped')" '^epoch: +none done yet \(saved inside epoch 1\)$' yolo-ckpt inspect z/weights/last.pt
check_out "... and --json counts 0 epochs done (not null)" '"epochs_done": 0,' yolo-ckpt inspect --json z/weights/last.pt
stream 0 --from 4 | yolo-train-epoch z/weights/last.pt >z2.json 2>z2.err
check "mid-first-epoch save + resume == straight epoch 0 (bit-identical)" yolo-ckpt diff a/weights/last.pt z/weights/last.pt

# a checkpoint path with '=' in it is a path, not a KEY=VALUE setting
mkdir -p 'q=1/weights' && cp a/weights/last.pt 'q=1/weights/last.pt'
stream 1 | yolo-train-epoch 'q=1/weights/last.pt' >q.json 2>q.err && ok "a run folder named q=1 trains" || fail "a run folder named q=1: $(tail -1 q.err)"

# epoch 1 twice from the same checkpoint: bit-identical
for d in b c d e; do mkdir -p $d/weights && cp a/weights/last.pt $d/weights/last.pt; done
# (b also holds what killed saves leave behind: the trainer that takes the lock removes it)
head -c 1000 a/weights/last.pt >b/weights/.last.pt.Ab12Cd && cp b/weights/.last.pt.Ab12Cd b/weights/.best.pt.Zz9yX8
echo partial >b/.results.csv.Qw3Er4 && echo mine >b/weights/.notes.txt.Ab12Cd && echo mine >b/weights/.last.pt.keep
stream 1 | yolo-train-epoch b/weights/last.pt >b.json 2>b.err
if [ ! -e b/weights/.last.pt.Ab12Cd ] && [ ! -e b/weights/.best.pt.Zz9yX8 ] && [ ! -e b/.results.csv.Qw3Er4 ] &&
    [ -e b/weights/.notes.txt.Ab12Cd ] && [ -e b/weights/.last.pt.keep ]; then ok "temporaries of killed saves are removed, other files stay"
else fail "stale temporaries: $(ls -A b b/weights | tr '\n' ' ')"; fi
stream 1 | yolo-train-epoch c/weights/last.pt >c.json 2>c.err
check "same checkpoint + stream + threads give a bit-identical checkpoint" yolo-ckpt diff b/weights/last.pt c/weights/last.pt
[ ! -f b/weights/epoch1.pt ] && ok "no epoch1.pt with save_period=2" || fail "epoch1.pt written with save_period=2"
grep -q '"finished":true' b.json && ok "the last epoch reports finished" || fail "the last epoch reports finished: $(cat b.json)"
[ "$(wc -l <b/results.csv)" -eq 3 ] && ok "results.csv gained exactly one row" || fail "results.csv rows: $(wc -l <b/results.csv)"

# --stop-after 1 (gradients pending mid-accumulation), then 2 more, then the rest == one straight epoch
stream 1 | yolo-train-epoch d/weights/last.pt --stop-after 1 >d1.json 2>d1.err
grep -q '"position":4' d1.json && ok "--stop-after 1 saves position 4" || fail "--stop-after 1: $(cat d1.json) $(tail -1 d1.err)"
stream 1 --from 4 | yolo-train-epoch d/weights/last.pt --stop-after 2 >d2.json 2>d2.err
grep -q '"position":12' d2.json && ok "resumed at 4, stopped at 12" || fail "resume at 4: $(cat d2.json) $(tail -1 d2.err)"
stream 1 --from 12 | yolo-train-epoch d/weights/last.pt >d3.json 2>d3.err
check "stop-after + resumes == one uninterrupted epoch (bit-identical)" yolo-ckpt diff b/weights/last.pt d/weights/last.pt
if cmp -s b/results.csv d/results.csv || [ "$(cut -d, -f1,3- b/results.csv)" = "$(cut -d, -f1,3- d/results.csv)" ]; then
    ok "results.csv equal apart from time"; else fail "results.csv differs after resume"; fi

# save_every writes mid-epoch checkpoints that resume the same way
stream 1 | yolo-train-epoch e/weights/last.pt save_every=2 --stop-after 3 >e.json 2>e.err
grep -q '"position":12' e.json && ok "save_every with --stop-after" || fail "save_every: $(cat e.json) $(tail -1 e.err)"

# refusals
cp a/weights/last.pt keep.pt
check_fails "a stream of the wrong epoch is refused" 1 "stream of epoch 0, the checkpoint is at epoch 1" \
    sh -c 'yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 | yolo-train-epoch a/weights/last.pt'
check_fails "a stream from the wrong position is refused" 1 "starts at sample 0, the checkpoint continues at 12" \
    sh -c 'yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 1 | yolo-train-epoch e/weights/last.pt'
stream 1 >s1.bin 2>/dev/null
head -c $(( $(wc -c <s1.bin) - 4000 )) s1.bin >trunc.bin
yolo-train-epoch a/weights/last.pt <trunc.bin >/dev/null 2>tr.err
rc=$?
if [ $rc -eq 1 ] && tail -1 tr.err | grep -q '^yolo-train-epoch: stdin: '; then ok "a truncated stream fails"
else fail "a truncated stream fails (exit $rc: $(tail -1 tr.err))"; fi
cmp -s a/weights/last.pt keep.pt && ok "last.pt untouched after a failure" || fail "last.pt changed after a failure"
# one image byte of sample 0 flipped (the header is under 600 bytes, an image 12288): with save_every=1
# nothing may be trained on it, nor saved, before the trailer says the stream is damaged
mkdir -p dm/weights && cp keep.pt dm/weights/last.pt
"$PYTHON" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[2000] ^= 0x40; open(sys.argv[2], "wb").write(b)' s1.bin damaged.bin
yolo-train-epoch dm/weights/last.pt save_every=1 <damaged.bin >/dev/null 2>dm.err
rc=$?
if [ $rc -eq 1 ] && [ "$(tail -1 dm.err)" = "yolo-train-epoch: stdin: sample 0: checksum mismatch (damaged stream)" ] &&
    cmp -s keep.pt dm/weights/last.pt; then ok "a damaged sample is refused before it is trained on or saved (save_every=1)"
else fail "damaged sample 0 with save_every=1 (exit $rc, last.pt $(cmp -s keep.pt dm/weights/last.pt && echo unchanged || echo REPLACED)): $(tail -1 dm.err)"; fi
check_fails "a finished run is not continued" 2 "training finished \(2 of 2 epochs done\)" \
    sh -c 'yolo-train-epoch b/weights/last.pt <s1.bin'
check_fails "only batch/workers/device/save_every may be set" 2 "'lr0=0.1' cannot be set here" \
    sh -c 'yolo-train-epoch a/weights/last.pt lr0=0.1 <s1.bin'
check_fails "--new needs -o" 2 "--new needs -o" sh -c 'yolo-train-epoch --new args.yaml <s1.bin'
mkdir -p l/weights && cp keep.pt l/weights/last.pt
flock -n l/.lock sh -c 'touch l.ready; sleep 20' &
holder=$!
for _ in $(seq 100); do [ -f l.ready ] && break; sleep 0.1; done
check_fails "a second trainer on a locked run folder is refused" 1 "another trainer.* holds the run folder" \
    sh -c 'yolo-train-epoch l/weights/last.pt <s1.bin'
kill $holder 2>/dev/null; wait 2>/dev/null
# a holder that has ended (the note names a pid that is gone) while what it started holds on: waited for
orphan_lock l/.lock 1 >/dev/null
yolo-train-epoch l/weights/last.pt --stop-after 1 <s1.bin >l.json 2>l.err
grep -q '"position":4' l.json && ok "a lock held on by what an ended holder started is waited for" ||
    fail "ended holder: $(tail -1 l.err)"
# a parent that holds the lock passes it down
mkdir -p g && ( flock -n 9 && YOLO_LOCK_FD=9 yolo-train-epoch keep.pt -o g/weights/last.pt --stop-after 1 <s1.bin >g.json 2>g.err ) 9>g/.lock
grep -q '"position":4' g.json && ok "YOLO_LOCK_FD: the parent's lock is used" || fail "YOLO_LOCK_FD: $(cat g.err | tail -1)"

# fine-tuning from Ultralytics' own weights: the validation path (EMA, rect val batches, NMS, metrics)
# must see the detector those weights are (Ultralytics: mAP50 0.321, mAP50-95 0.187 on this val split)
FT=$DATA/ultralytics/yolov8n-fashion-final.pt
need "$FT" "$DATA/fashion_det/data.yaml"
{
    printf 'model: %s\ndata: %s\nepochs: 3\nbatch: 16\nimgsz: 128\n' "$FT" "$DATA/fashion_det/data.yaml" >ft.yaml
    yolo-data "$DATA/fashion_det/data.yaml" --split train --epoch 0 --epochs 3 --imgsz 128 2>/dev/null |
        yolo-train-epoch --new ft.yaml -o ft/weights/last.pt threads=1 >ft.json 2>ft.err
    grep -q 'Transferred 355/355 items' ft.err && ok "model=ULTRALYTICS.pt transfers 355/355 items" || fail "transfer: $(head -2 ft.err | tr '\n' '|')"
    m=$(grep -o '"metrics/mAP50-95(B)":[0-9.]*' ft.json | cut -d: -f2)
    if [ -n "$m" ] && awk -v m="$m" 'BEGIN { exit !(m > 0.15 && m < 0.25) }'; then ok "fine-tuned epoch validates near Ultralytics' mAP50-95 0.187 (got $m)"
    else fail "fine-tuned mAP50-95 '$m' not near 0.187: $(tail -1 ft.err)"; fi
}

# an Ultralytics mid-training last.pt, imported, continues with its AdamW state (epoch 3 of 4)
MID=$DATA/ultralytics/yolov8n-fashion-mid.pt
need "$MID"
{
    mkdir -p imp/weights
    yolo-ckpt import "$MID" -o imp/weights/last.pt >/dev/null 2>&1
    check_fails "a missing dataset is named before training" 1 "the run's dataset is neither at /tmp/peerdata/fashion_det/data.yaml nor beside the run folder .*resume with data=PATH" \
        sh -c 'yolo-train-epoch imp/weights/last.pt <s1.bin'
    yolo-ckpt set imp/weights/last.pt data="$DATA/fashion_det/data.yaml" >/dev/null 2>&1
    yolo-data "$DATA/fashion_det/data.yaml" --split train --epoch 2 --epochs 4 --imgsz 128 2>/dev/null |
        yolo-train-epoch imp/weights/last.pt threads=1 >imp.json 2>imp.err
    grep -q '"epoch":2,"epochs":4' imp.json && ok "an imported Ultralytics last.pt continues at epoch 3" ||
        fail "imported resume: $(tail -1 imp.err)"
}

# early stopping (patience): one class only, so top-1 and top-5 are 1 after every epoch and the
# fitness never rises above the first epoch's; with patience=1 the second epoch must stop the run,
# whatever the numerics, and nothing may continue it
yolo-data fashion --task classify --out es-src --train 8 --val 4 --imgsz 32 >/dev/null 2>&1
mkdir -p one/train/item one/val/item && cp es-src/train/*/*.png one/train/item/ && cp es-src/val/*/*.png one/val/item/
printf 'task: classify\nmodel: yolov8n-cls.yaml\ndata: one\nepochs: 5\nbatch: 4\nimgsz: 32\npatience: 1\n' >es.yaml
estream() { yolo-data one --split train --epochs 5 --imgsz 32 --epoch "$@"; }
estream 0 | yolo-train-epoch --new es.yaml -o es/weights/last.pt threads=1 >es0.json 2>es0.err
estream 1 | yolo-train-epoch es/weights/last.pt threads=1 >es1.json 2>es1.err
if grep -q '"stopped_early":false' es0.json && grep -q '"finished":false' es0.json; then ok "patience=1: the first epoch does not stop"
else fail "patience=1 epoch 0: $(cat es0.json) $(tail -1 es0.err)"; fi
if grep -q '"fitness":1.0' es1.json && grep -q '"stopped_early":true' es1.json && grep -q '"finished":true' es1.json
then ok "patience=1: an epoch without a better fitness stops the run (finished, stopped_early)"
else fail "patience=1 epoch 1: $(cat es1.json) $(tail -1 es1.err)"; fi
check_out "yolo-ckpt inspect says stopped early, not resumable" \
    '^resumable: +no: stopped early after epoch 2 \(best epoch 1, patience 1\)' yolo-ckpt inspect es/weights/last.pt
[ "$(wc -l <es/results.csv)" -eq 3 ] && ok "the stopping epoch has its results row" || fail "results.csv rows: $(wc -l <es/results.csv)"
cp es/weights/last.pt es-keep.pt
check_fails "yolo-train-epoch refuses to continue an early-stopped run" 2 \
    "cannot continue: stopped early after epoch 2 \(best epoch 1, patience 1\)" sh -c 'yolo-data one --split train --epochs 5 --imgsz 32 --epoch 2 | yolo-train-epoch es/weights/last.pt threads=1'
check_fails "yolo resume says the run stopped early" 1 "cannot continue: stopped early after epoch 2 .*start a new run from these weights" \
    yolo classify train resume model=es/weights/last.pt
cmp -s es/weights/last.pt es-keep.pt && ok "the refusals leave last.pt as it was" || fail "last.pt changed by a refused resume"

# classify with dropout: the masks must not depend on where the process started, so a stop after one
# batch plus a resume equals one straight epoch, both for a fresh run and from a checkpoint
printf 'task: classify\nmodel: yolov8n-cls.yaml\ndata: es-src\nepochs: 2\nbatch: 4\nimgsz: 32\ndropout: 0.2\n' >dr.yaml
dstream() { yolo-data es-src --split train --epochs 2 --imgsz 32 --epoch "$@"; }
dstream 0 | yolo-train-epoch --new dr.yaml -o dra/weights/last.pt threads=1 >/dev/null 2>dra.err
dstream 0 | yolo-train-epoch --new dr.yaml -o drb/weights/last.pt threads=1 --stop-after 1 >/dev/null 2>drb.err
dstream 0 --from 4 | yolo-train-epoch drb/weights/last.pt >/dev/null 2>>drb.err
check "dropout=0.2: stop after 1 batch + resume == straight first epoch" yolo-ckpt diff dra/weights/last.pt drb/weights/last.pt
mkdir -p drc/weights drd/weights && cp dra/weights/last.pt drc/weights/ && cp dra/weights/last.pt drd/weights/
dstream 1 | yolo-train-epoch drc/weights/last.pt >/dev/null 2>drc.err
dstream 1 | yolo-train-epoch drd/weights/last.pt --stop-after 1 >/dev/null 2>drd.err
dstream 1 --from 4 | yolo-train-epoch drd/weights/last.pt >/dev/null 2>>drd.err
check "dropout=0.2: stop + resume == straight epoch from a checkpoint" yolo-ckpt diff drc/weights/last.pt drd/weights/last.pt
# and dropout does act: the same first epoch with dropout 0 ends with other weights
sed 's/^dropout: 0.2$/dropout: 0.0/' dr.yaml >d0.yaml
dstream 0 | yolo-train-epoch --new d0.yaml -o dr0/weights/last.pt threads=1 >/dev/null 2>dr0.err
if [ -f dr0/weights/last.pt ] && ! yolo-ckpt diff dra/weights/last.pt dr0/weights/last.pt >/dev/null 2>&1
then ok "dropout=0.2 trains other weights than dropout=0"; else fail "dropout=0.2 vs 0: $(tail -1 dr0.err)"; fi
# freeze=2 (Ultralytics: layers 0 and 1 take no gradients; their BN statistics still move): between
# epoch 0 and epoch 1 their weights stay bit for bit, layer 2's change.
sed 's/^save_period: 2$/freeze: 2/' args.yaml >fz.yaml
stream 0 | yolo-train-epoch --new fz.yaml -o fz/weights/last.pt threads=1 >/dev/null 2>fz.err && cp fz/weights/last.pt fz0.pt &&
    stream 1 | yolo-train-epoch fz/weights/last.pt >/dev/null 2>>fz.err
grep -q 'freeze: 6 parameter tensors' fz.err && ok "freeze=2 freezes the 6 parameter tensors of layers 0 and 1" ||
    fail "freeze=2 note: $(grep -i freeze fz.err | head -1)"
yolo-ckpt diff fz0.pt fz/weights/last.pt >fz.diff 2>&1
if ! grep -Eq 'differs +model\.model\.[01]\.(conv\.weight|bn\.weight|bn\.bias) ' fz.diff &&
    grep -Eq 'differs +model\.model\.[01]\.bn\.running_mean ' fz.diff && grep -Eq 'differs +model\.model\.2\.cv1\.conv\.weight ' fz.diff
then ok "freeze=2: layers 0-1 keep their weights (BN statistics move), layer 2 trains"
else fail "freeze=2 weights: $(grep -E 'model\.model\.[012]\.' fz.diff | head -4 | tr '\n' '|')"; fi
sed 's/^save_period: 2$/freeze: abc/' args.yaml >fb.yaml
stream 0 | yolo-train-epoch --new fb.yaml -o fb/weights/last.pt threads=1 >/dev/null 2>fb.err
if grep -q "'freeze=abc' is not valid: freeze must be an integer or a list of integers" fb.err && [ ! -e fb/weights/last.pt ]
then ok "freeze=abc is refused, nothing written"; else fail "freeze=abc: $(tail -1 fb.err)"; fi
exit 0
