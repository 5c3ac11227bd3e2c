# rect=true training as Ultralytics 8.4.52 does it: images sorted by aspect ratio h/w, consecutive
# batches of one shape each (ceil(shape * imgsz / 32 + 0) * 32: pad 0 in training), no shuffle, no mosaic
# or mixup; the shapes checked against that rule and pinned; a run stopped mid-epoch and resumed is
# bit-identical to one that ran through; a stream that does not fit the run is refused.
. "$(dirname "$0")/lib.sh"
cd "$T"
need "$DATA/fashion_det/data.yaml"

# The test data's images are all 128x128, so their rect batches are square: a set of non-square PNGs
# (Python's standard library only): 14 train images whose ratios make batches of 4, 4, 4 and 2.
SIZES="32x48 64x16 50x30 20x64 64x19 40x36 30x48 60x20 35x63 48x48 64x24 32x64 16x64 64x32"
"$PYTHON" - rds "$SIZES" <<'EOF'
import os, struct, sys, zlib
root, sizes = sys.argv[1], [tuple(map(int, s.split('x'))) for s in sys.argv[2].split()]
def png(path, w, h, rects):
    rows = b''
    for y in range(h):
        row = bytearray(b'\0')
        for x in range(w):
            row += bytes(next((c for (x1, y1, x2, y2, c) in rects if x1 <= x < x2 and y1 <= y < y2), (96, 96, 96)))
        rows += bytes(row)
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
for split, sz in (('train', sizes), ('val', [(64, 40), (40, 64), (64, 64), (64, 30)])):
    os.makedirs(f'{root}/images/{split}'), os.makedirs(f'{root}/labels/{split}')
    for k, (w, h) in enumerate(sz):
        a, b = (w // 8, h // 8, w // 2, h // 2, (200, 40, 40)), (w // 2, h // 2, w - w // 8, h - h // 8, (40, 200, 40))
        png(f'{root}/images/{split}/{k:02d}.png', w, h, [a, b])
        with open(f'{root}/labels/{split}/{k:02d}.txt', 'w') as f:
            for c, (x1, y1, x2, y2, _) in enumerate((a, b)):
                f.write(f'{c} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}\n')
with open(f'{root}/data.yaml', 'w') as f:
    f.write('path: .\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: green\n')
EOF
[ -f rds/data.yaml ] || { fail "could not write the non-square dataset"; exit 1; }

# rule IMGSZ BATCH: "src h w" per position, by set_rectangle's rule (float64, as numpy)
rule() {
    "$PYTHON" - "$SIZES" "$1" "$2" <<'EOF'
import math, sys
sizes, imgsz, bs = [tuple(map(int, s.split('x'))) for s in sys.argv[1].split()], int(sys.argv[2]), int(sys.argv[3])
ar = [h / w for w, h in sizes]
order = sorted(range(len(ar)), key=lambda i: (ar[i], i))
for b in range(0, len(order), bs):
    r = [ar[i] for i in order[b:b + bs]]
    s = [max(r), 1] if max(r) < 1 else [1, 1 / min(r)] if min(r) > 1 else [1, 1]
    h, w = (math.ceil(x * imgsz / 32 + 0.0) * 32 for x in s)
    for i in order[b:b + bs]:
        print(i, h, w)
EOF
}
# stream ARGS...: "src h w" of each sample of a rect train stream
stream() { yolo-data rds/data.yaml --split train --workers 2 -q rect=true "$@" | yolo-data dump >s.jsonl &&
    sed -n 's/.*"src":\([0-9]*\),.*"h":\([0-9]*\),"w":\([0-9]*\),.*/\1 \2 \3/p' s.jsonl; }
# shapes: the distinct batch shapes HxW in order
shapes() { awk '{ s = $2 "x" $3; if (s != last) printf "%s%s", n++ ? " " : "", s; last = s } END { print "" }'; }

for sz in 96 128; do
    got=$(stream --imgsz $sz --batch 4 mixup=1.0) want=$(rule $sz 4)
    [ -n "$got" ] && [ "$got" = "$want" ] && ok "imgsz $sz batch 4: images sorted by h/w, each batch letterboxed to the rule's shape ($(shapes <<<"$got"))" ||
        fail "imgsz $sz: got $(tr '\n' ',' <<<"$got") want $(tr '\n' ',' <<<"$want")"
    [ $sz = 96 ] && cp s.jsonl e0.jsonl
done
# the shapes pinned (h x w), so that a slip shared by the rule above and the code still shows
[ "$(rule 96 4 | shapes)" = "64x96 96x96 96x64 96x32" ] && [ "$(rule 128 4 | shapes)" = "64x128 128x128 128x96 128x64" ] &&
    ok "the rule's shapes: 64x96 96x96 96x64 96x32 at 96, 64x128 128x128 128x96 128x64 at 128" || fail "rule shapes changed"
grep -q '"augment":true,"mosaic":false,"rect":true,"batch":4' e0.jsonl && [ "$(grep -c '"cls":\[0,1\]' e0.jsonl)" -ge 12 ] &&
    ! grep -q '"cls":\[[0-9,]*,[0-9,]*,' e0.jsonl && ok "no mosaic, and no mixup even with mixup=1.0 (two labels a sample at most)" ||
    fail "mosaic or mixup in a rect stream: $(head -1 e0.jsonl)"
e1=$(stream --imgsz 96 --batch 4 --epoch 1)
crc() { grep -o '"img_crc32":[0-9]*' "$1"; }
[ "$e1" = "$(rule 96 4)" ] && ! cmp -s <(crc e0.jsonl) <(crc s.jsonl) &&
    ok "epoch 1: the same order and shapes (no shuffle), other augmentation draws" || fail "epoch 1 stream"
# Ultralytics' shapes for the test data: 128x128 images at imgsz 128 stay 128 (pad 0; validation's 0.5 gives 160)
yolo-data "$DATA/fashion_det/data.yaml" --split train --imgsz 128 --batch 16 --workers 2 -q rect=true | yolo-data dump >f.jsonl
[ "$(grep -c '"h":128,"w":128' f.jsonl)" = 64 ] && ok "fashion_det rect training batches: 64 images at 128x128" ||
    fail "fashion_det rect shapes: $(grep -o '"h":[0-9]*,"w":[0-9]*' f.jsonl | sort | uniq -c | tr '\n' ' ')"

# ---- training: the run through, and the same run stopped after 2 of its 4 batches, then resumed
run=(data=rds/data.yaml epochs=2 imgsz=96 batch=4 workers=1 rect=true plots=false)
yolo detect train "${run[@]}" name=full >full.out 2>full.err
rc=$?
F=runs/detect/full C=runs/detect/cut
[ $rc -eq 0 ] && [ -f $F/weights/last.pt ] && ok "yolo detect train rect=true runs" || { fail "rect run (exit $rc): $(tail -3 full.err | tr '\n' '|')"; exit 0; }
[ "$(grep -c "^yolo: 'rect=True' is incompatible with DataLoader shuffle, setting shuffle=False$" full.err)" = 1 ] &&
    ok "Ultralytics' warning: rect=True turns shuffle off" || fail "no shuffle warning: $(head -2 full.err | tr '\n' '|')"
sizes=$(sed -n 's/^ *2\/2 .* \([0-9]*\) \([1-4]\)\/4 .*/\1/p' full.err | tr '\n' ' ')
[ "$sizes" = "96 96 64 32 " ] && ok "the progress line's size is each batch's width: 96 96 64 32" || fail "batch sizes shown: '$sizes'"
mkdir -p $C/weights && sed 's#^name: full$#name: cut#; s#^save_dir: runs/detect/full$#save_dir: runs/detect/cut#' $F/args.yaml >$C/args.yaml
# what the yolo script runs for epoch 0, stopped as Ctrl+C stops it (the position after a whole batch)
yolo-data rds/data.yaml --split train --epoch 0 --epochs 2 --seed 0 --imgsz 96 --batch 4 --workers 1 -q rect=true |
    yolo-train-epoch --new $C/args.yaml -o $C/weights/last.pt workers=1 --stop-after 2 >cut.out 2>cut.err
grep -q '"position":8,' cut.out && ok "stopped mid-epoch after 2 rect batches (8 samples)" || fail "stop: $(tail -2 cut.err cut.out | tr '\n' '|')"
yolo detect train resume model=$C/weights/last.pt >res.out 2>res.err
rc=$?
[ $rc -eq 0 ] && grep -q '^ *1/2 .* 64 3/4 ' res.err && ok "resume goes on at batch 3 of epoch 1 (the 64-wide batch)" ||
    fail "resume (exit $rc): $(tail -3 res.err | tr '\n' '|')"
check "resumed mid-epoch: last.pt bit-identical to the run through" yolo-ckpt diff $F/weights/last.pt $C/weights/last.pt
check "resumed mid-epoch: best.pt bit-identical" yolo-ckpt diff $F/weights/best.pt $C/weights/best.pt
cmp -s <(cut -d, -f1,3- $F/results.csv) <(cut -d, -f1,3- $C/results.csv) && ok "results.csv the same but for the time" ||
    fail "results.csv differs: $(diff $F/results.csv $C/results.csv | head -3 | tr '\n' '|')"

# ---- streams that do not fit a rect run are refused, naming the right one
yolo-ckpt set $C/weights/last.pt epochs=3 >/dev/null 2>&1
feed() { yolo-data rds/data.yaml --split train --epoch 2 --epochs 3 --imgsz 96 --workers 1 -q "$@" | yolo-train-epoch $C/weights/last.pt; }
check_fails "a shuffled stream into a rect run" 1 'a shuffled stream, the run has rect=true \(expected the stream of: .* rect=true --batch 4\)' feed
check_fails "rect batches of another size" 1 'rect batches of 2, the trainer.s batch is 4' feed rect=true --batch 2
