#!/usr/bin/env bash
# yolo-data: the fashion generator, dataset checks with every bad input, data.yaml errors, the label cache,
# archives, ImageFolder, determinism and shard merging.
. "$(dirname "$0")/lib.sh"
# These tests exercise the label cache itself, on their own temporary datasets.
unset YOLO_LABEL_CACHE
D=$BIN/yolo-data
cd "$T" || exit 1

need /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

# ---- the generator
check "fashion detect" "$D" fashion --task detect --out det --train 12 --val 4 --imgsz 64 --seed 3
check "fashion detect again (other folder)" "$D" fashion --task detect --out det2 --train 12 --val 4 --imgsz 64 --seed 3
if diff -r det det2 >/dev/null; then ok "fashion output is a pure function of the arguments"; else fail "fashion output differs between runs"; fi
n=$(ls det/images/train | wc -l); nl=$(cat det/labels/train/*.txt | wc -l)
if [ "$n" -eq 12 ] && [ "$nl" -ge 12 ] && [ "$nl" -le 48 ]; then ok "12 train images with 1-4 items each ($nl labels)"; else fail "fashion counts: $n images, $nl labels"; fi
if awk 'NF != 5 || $1 < 0 || $1 > 9 || $2 <= 0 || $2 >= 1 || $4 <= 0 || $4 > 1 { bad = 1 } END { exit bad }' det/labels/train/*.txt
then ok "detect labels are cls cx cy w h, normalised"; else fail "detect labels malformed"; fi
check "fashion segment" "$D" fashion --task segment --out seg --train 6 --val 2 --imgsz 64
if awk 'NF < 7 || NF % 2 == 0 { bad = 1 } END { exit bad }' seg/labels/train/*.txt; then ok "segment labels are polygons"; else fail "segment labels malformed"; fi
check "fashion classify" "$D" fashion --task classify --out cls --train 20 --val 10 --imgsz 32
if [ "$(ls cls/train | wc -l)" -eq 10 ] && [ -d "cls/train/T-shirt-top" ]; then ok "classify: ImageFolder with 10 class folders"; else fail "classify layout: $(ls cls/train | tr '\n' ' ')"; fi

# ---- check report and the stream on good data
check_out "check: summary line" '^summary: 16 images, 0 backgrounds, 0 corrupt, [0-9]+ instances$' "$D" check det/data.yaml
check_out "check: cache used the second time" 'cache: .*labels/train.yolo.cache \(used\)' "$D" check det/data.yaml
check_out "check: per-class table" '^  Ankle boot +[0-9]+$' "$D" check det/data.yaml
check_out "check: segment dataset" '^train: 6 images, 0 backgrounds, 0 corrupt, [0-9]+ instances \(segments\)$' "$D" check seg/data.yaml
check_out "check: classify folders" '^train: 20 images, 0 backgrounds, 0 corrupt, 20 instances$' "$D" check cls
# a val class folder that train/ does not have: its images have no class, and one warning says they are
# not used (they were left out silently)
mkdir -p cu && cp -r cls/train cls/val cu/ && rm -f cu/*.cache && mkdir -p cu/val/Alien/sub && f=$(ls cls/val/*/*.png | head -1) &&
    cp "$f" cu/val/Alien/a.png && cp "$f" cu/val/Alien/sub/b.png && echo notes >cu/val/Alien/notes.txt
check_out "a val class folder unknown to train/: one warning for it" \
    '^  warning: cu/val/Alien: 2 images in a class folder that train/ does not have: not used \(add the class to train/\)$' "$D" check cu
[ "$(grep -c warning "$T/out")" = 1 ] && ok "... one warning only" || fail "warnings: $(grep warning "$T/out" | tr '\n' '|')"

"$D" det/data.yaml --split train --epoch 1 --imgsz 64 --workers 1 >a.bin 2>/dev/null
"$D" det/data.yaml --split train --epoch 1 --imgsz 64 --workers 3 >b.bin 2>/dev/null
if [ -s a.bin ] && cmp -s a.bin b.bin; then ok "byte-identical streams (1 and 3 workers)"; else fail "streams differ"; fi
"$D" det/data.yaml --split train --epoch 2 --imgsz 64 >c.bin 2>/dev/null
if ! cmp -s a.bin c.bin; then ok "another epoch gives another stream"; else fail "epochs 1 and 2 gave the same stream"; fi
for k in 0 1 2; do "$D" det/data.yaml --split train --epoch 1 --imgsz 64 --shard $k/3 -o s$k.bin 2>/dev/null; done
"$D" merge s1.bin s2.bin s0.bin >m.bin 2>/dev/null
if cmp -s a.bin m.bin; then ok "3-way shard merge equals the full stream"; else fail "shard merge differs"; fi
# a data-parallel rank's share: blocks of 2 dealt out to 2 shards, resumed at sample 4
for k in 0 1; do "$D" det/data.yaml --split train --epoch 1 --imgsz 64 --shard $k/2 --shard-block 2 --from 4 -o b$k.bin 2>/dev/null; done
"$D" det/data.yaml --split train --epoch 1 --imgsz 64 --from 4 -o bfull.bin 2>/dev/null
"$D" merge b1.bin b0.bin >bm.bin 2>/dev/null
if [ -s bm.bin ] && cmp -s bfull.bin bm.bin; then ok "shards in blocks of 2, from 4, merge into the full stream"; else fail "block shards differ"; fi
check_out "shard 1/2 in blocks of 2 from 4: samples 6 7 10 11" '^6 7 10 11 $' sh -c "\"$D\" dump b1.bin | grep -o '\"i\":[0-9]*' | cut -d: -f2 | tr '\\n' ' '"
check_out "dump shows the block" '"count":4,"from":4,"shard":\[1,2,2\]' "$D" dump b1.bin
check_fails "merge: shards in other blocks" 2 'made with other arguments' "$D" merge b0.bin s1.bin
"$D" det/data.yaml --split train --epoch 1 --imgsz 64 --from 5 2>/dev/null | "$D" dump >from.jsonl 2>/dev/null
"$D" dump a.bin >a.jsonl
if [ "$(sed -n 2p from.jsonl)" = "$(sed -n 7p a.jsonl)" ] && [ "$(grep -c '"i"' from.jsonl)" -eq 7 ]; then
    ok "--from 5 resumes at sample 5 with the same bytes"; else fail "--from differs"; fi
check_out "dump: header, 12 samples, verified trailer" '"trailer":\{"count":12,"ok":true\}' "$D" dump a.bin
head -c 100000 a.bin >cut.bin
check_fails "dump: truncated stream is an error" 1 'cut.bin: truncated stream' "$D" dump cut.bin
check_fails "merge: incomplete shard set" 2 'shard' "$D" merge s0.bin s1.bin
"$D" seg/data.yaml --split val --imgsz 64 2>/dev/null | "$D" dump >seg.jsonl
if grep -q '"mask":\[16,16\]' seg.jsonl && grep -q '"trailer"' seg.jsonl; then ok "segment stream carries 16x16 masks at imgsz 64"; else fail "segment masks"; fi
"$D" cls --split train --imgsz 32 2>/dev/null | "$D" dump >cls.jsonl
if [ "$(grep -c '"label":' cls.jsonl)" -eq 20 ] && grep -q '"h":32,"w":32' cls.jsonl; then ok "classify stream: 20 labelled 32x32 samples"; else fail "classify stream"; fi
"$D" det/data.yaml --split val --imgsz 64 --rect --batch 2 2>/dev/null | "$D" dump >rect.jsonl
if grep -q '"h":96,"w":96' rect.jsonl && grep -q '"rect":true,"batch":2' rect.jsonl; then ok "val rect batches: 64x64 images letterboxed to 96 (pad 0.5)"; else fail "rect: $(sed -n 2p rect.jsonl | cut -c1-200)"; fi

# ---- bad inputs: one warning each, the other samples still stream
mkdir -p bad && cp -r det/images det/labels det/data.yaml bad/ && rm -f bad/labels/*.cache
L=bad/labels/train I=bad/images/train
echo "0 0.5 1.5 0.2 0.2" >$L/train_00000.txt
echo "0 0.5 0.5 0.2" >$L/train_00001.txt
echo "-1 0.5 0.5 0.2 0.2" >$L/train_00002.txt
echo "12 0.5 0.5 0.2 0.2" >$L/train_00003.txt
printf '1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n' >$L/train_00004.txt
: >$L/train_00005.txt
rm $L/train_00006.txt
head -c 300 $I/train_00007.png >$I/t.png && mv $I/t.png $I/train_00007.png
rm $I/train_00008.png && printf '\377\330\377\340 not really a JPEG' >$I/train_00008.jpg
"$D" check bad/data.yaml >check.txt 2>&1
w() { grep -F "$1" check.txt | grep -Eq "$2"; }
w train_00000.png 'ignoring corrupt image/label: non-normalized or out of bounds coordinates' && ok "coordinates out of [0,1]: warned" || fail "coordinate warning"
w train_00001.png 'labels require 5 columns, 4 columns detected' && ok "wrong number of columns: warned" || fail "columns warning"
w train_00002.png 'negative label values' && ok "negative class id: warned" || fail "negative warning"
w train_00003.png 'Label class 12 exceeds dataset class count 10' && ok "too-large class id: warned" || fail "class warning"
w train_00004.png '1 duplicate labels removed' && ok "duplicate rows: removed with a warning" || fail "duplicate warning"
w train_00007.png 'ignoring corrupt image/label: (truncated|corrupt) PNG' && ok "truncated image: warned" || fail "truncated warning"
w train_00008.jpg 'ignoring corrupt image/label: corrupt JPEG' && ok "unreadable image: warned" || fail "unreadable warning"
grep -q '^train: 6 images, 2 backgrounds, 6 corrupt' check.txt && ok "summary: 6 good images, 2 backgrounds (empty + missing), 6 corrupt" || fail "bad summary: $(grep '^train' check.txt)"
grep -q 'labels: 5 found, 1 missing, 1 empty' check.txt && ok "labels found/missing/empty counted" || fail "label counts: $(grep labels: check.txt)"
"$D" bad/data.yaml --split train --imgsz 64 2>warn.txt | "$D" dump >bad.jsonl 2>&1
if [ "$(grep -c '"i"' bad.jsonl)" -eq 6 ] && grep -q '"trailer"' bad.jsonl; then ok "the 6 good samples still stream"; else fail "bad dataset stream: $(tail -1 bad.jsonl)"; fi
[ "$(grep -c 'warning: .*train_0000' warn.txt)" -eq 7 ] && ok "streaming prints one warning per bad file" || fail "warnings: $(cat warn.txt | head -3)"

# a hex class id is no number for Ultralytics (numpy reads labels as Python's float() does): the file is
# corrupt, the image skipped with a warning (strtod read 0x1 as class 1)
mkdir -p hx && cp -r det/images det/labels det/data.yaml hx/ && rm -f hx/labels/*.cache && echo "0x1 0.5 0.5 0.1 0.1" >hx/labels/train/train_00000.txt
check_out "a hex class id: the image is corrupt, one warning" \
    "train_00000.png: ignoring corrupt image/label: could not convert string to float: '0x1'" "$D" check hx/data.yaml
grep -q '^train: 11 images, 0 backgrounds, 1 corrupt' "$T/out" && ok "... and skipped" || fail "hex: $(grep '^train' "$T/out")"

# ---- the label cache
"$D" check bad/data.yaml | grep -q 'train.yolo.cache (used)' && ok "cache reused" || fail "cache not reused"
cp det/images/train/train_00009.png bad/images/train/new.png
cp det/labels/train/train_00009.txt bad/labels/train/new.txt
"$D" check bad/data.yaml >check2.txt
grep -q 'stale cache' check2.txt && grep -q '^train: 7 images' check2.txt && ok "an added image invalidates the cache and is picked up" || fail "cache invalidation: $(grep -E 'cache|^train' check2.txt)"
head -c 50 bad/labels/train.yolo.cache >x && mv x bad/labels/train.yolo.cache
"$D" check bad/data.yaml >check3.txt
grep -q 'damaged cache, rebuilt' check3.txt && grep -q '^train: 7 images' check3.txt && ok "a damaged cache is rebuilt" || fail "damaged cache: $(grep cache check3.txt)"
ls bad/labels/*.tmp.* >/dev/null 2>&1 && fail "temporary cache files left" || ok "no temporary cache files left"

# --quiet-known (the yolo loop's epochs after its first): bad files the label cache held were named by an
# earlier epoch and are not named again; once a file changes, the split is scanned again and all are named
mkdir -p qk && cp -r det/images det/labels det/data.yaml qk/ && rm -f qk/labels/*.cache && echo "0 0.5 0.5 0.2" >qk/labels/train/train_00001.txt
qk() { "$D" qk/data.yaml --split train --imgsz 64 --quiet-known -o x.bin 2>&1 | grep -c 'warning\|skipped'; }
[ "$(qk)" = 2 ] && [ "$(qk)" = 0 ] && ok "--quiet-known: named when scanned, not when the label cache holds them" || fail "--quiet-known with the cache"
echo "-1 0.5 0.5 0.2 0.2" >qk/labels/train/train_00002.txt
[ "$(qk)" = 3 ] && ok "--quiet-known: a file changed since: all named again" || fail "--quiet-known after a change: $("$D" qk/data.yaml --split train --quiet-known -o x.bin 2>&1 | tr '\n' '|')"

# ---- data.yaml errors: one line naming the key
mkdir -p y && cp -r det/images det/labels y/
printf 'path: .\ntrain: images/train\nval: [images/val\nnames: [a]\n' >y/bad.yaml
check_fails "bad YAML: one line with the line number" 1 "bad.yaml: bad YAML at line" "$D" check y/bad.yaml
printf 'path: .\ntrain: images/train\nval: images/nope\nnc: 10\n' >y/missing.yaml
check_fails "missing split folder: names the key" 1 "missing.yaml: 'val': .*images/nope does not exist" "$D" y/missing.yaml --split val -o x.bin
check_fails "check: a missing val split fails" 1 "missing.yaml: 'val': .*images/nope does not exist" "$D" check y/missing.yaml
# a Roboflow export names test: ../test/images that it does not have: Ultralytics trains on train and val
# only, so check warns in one line and passes (it failed); a stream of the test split still fails
printf 'path: .\ntrain: images/train\nval: images/val\ntest: ../test/images\nnc: 10\n' >y/notest.yaml
check_out "check: a missing test split is one warning, exit 0" \
    "^test: warning: y/notest.yaml: 'test': neither test/images nor y/test/images exists \(.*\); not used for training$" "$D" check y/notest.yaml
[ "$(grep -c '^test:' "$T/out")" = 1 ] && [ ! -s "$T/err" ] && ok "... in one line, nothing on stderr" || fail "notest: $(grep -E '^test|warn' "$T/out" "$T/err" | tr '\n' '|')"
check_fails "... and streaming it still fails, naming both places tried (as Ultralytics, without the ../ too)" 1 \
    "notest.yaml: 'test': neither test/images nor y/test/images exists" "$D" y/notest.yaml --split test -o x.bin
printf 'path: .\ntrain: images/train\nval: images/val\nnc: 4\nnames: [a, b, c]\n' >y/nc.yaml
check_fails "names/nc mismatch" 1 "nc.yaml: 'names' has 3 entries but 'nc' is 4" "$D" check y/nc.yaml
printf 'path: .\nval: images/val\nnames: [a]\n' >y/notrain.yaml
check_fails "missing train key" 1 "notrain.yaml: 'train' is missing" "$D" check y/notrain.yaml
printf 'path: .\ntrain: images/train\nval: images/val\n' >y/nonames.yaml
check_fails "no names and no nc" 1 "nonames.yaml: 'names' is missing" "$D" check y/nonames.yaml
printf 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: a\n  7: b\n' >y/ids.yaml
check_fails "names map with a bad id" 1 "ids.yaml: 'names' key '7' is not a class id" "$D" check y/ids.yaml
printf 'path: .\ntrain: [images/train, list.txt]\nval: images/val\nnc: 10\n' >y/list.yaml
printf './images/val/val_00000.png\n./images/val/val_00001.png\n' >y/list.txt
check_out "split as a list of a folder and a list file; nc only" '^train: 14 images' "$D" check y/list.yaml
check_fails "usage: no split" 2 'no --split' "$D" det/data.yaml -o x.bin
check_fails "usage: bad shard" 2 "bad --shard '3/3'" "$D" det/data.yaml --split train --shard 3/3 -o x.bin
check_fails "usage: bad shard block" 2 "bad --shard-block '0'" "$D" det/data.yaml --split train --shard 0/2 --shard-block 0 -o x.bin

# ---- archives read in place
"$PYTHON" - <<'EOF'
import os, tarfile, zipfile
with zipfile.ZipFile("det.zip", "w") as z:
    for root, _, files in os.walk("det"):
        for f in sorted(files):
            if not f.endswith(".cache"):
                p = os.path.join(root, f); z.write(p, p)
with tarfile.open("cls.tar.gz", "w:gz") as t:
    t.add("cls", arcname="cls", filter=lambda i: None if i.name.endswith(".cache") else i)
EOF
"$D" det.zip --split train --epoch 1 --imgsz 64 2>/dev/null | "$D" dump >zip.jsonl
if [ "$(grep -o '"img_crc32":[0-9]*' zip.jsonl)" = "$(grep -o '"img_crc32":[0-9]*' a.jsonl)" ] && [ -n "$(grep -o '"img_crc32"' zip.jsonl)" ]; then
    ok "zip dataset: the same samples as the folder"; else fail "zip dataset differs"; fi
[ -f det.zip.train.yolo.cache ] && ok "zip dataset: cache next to the archive" || fail "no archive cache"
check_out "tar.gz ImageFolder: checked in place" '^val: 10 images, 0 backgrounds, 0 corrupt, 10 instances$' "$D" check cls.tar.gz
"$D" cls.tar.gz --split val --imgsz 32 2>/dev/null | "$D" dump | grep -o '"img_crc32":[0-9]*' >t1
"$D" cls --split val --imgsz 32 2>/dev/null | "$D" dump | grep -o '"img_crc32":[0-9]*' >t2
if [ -s t1 ] && cmp -s t1 t2; then ok "tar.gz classify stream equals the folder's"; else fail "tar.gz stream differs"; fi
if command -v zstd >/dev/null && tar --zstd -cf det.tar.zst --exclude='*.cache' det 2>/dev/null; then
    "$D" det.tar.zst --split train --epoch 1 --imgsz 64 2>/dev/null | "$D" dump | grep -o '"img_crc32":[0-9]*' >z1
    grep -o '"img_crc32":[0-9]*' a.jsonl >z2
    if [ -s z1 ] && cmp -s z1 z2; then ok "tar.zst dataset: the same samples as the folder"; else fail "tar.zst dataset differs"; fi
else fail "missing: zstd for the tar.zst dataset (make deps installs it)"; fi
echo junk >junk.zip
check_fails "not an archive" 1 'junk.zip: ' "$D" check junk.zip

# ---- hidden files are no images, as Ultralytics' glob of a folder never sees them (macOS's ._x.png
# beside each image, .DS_Store, .ipynb_checkpoints/): in a folder and in an archive (they were corrupt
# images, one warning each)
mkdir -p hid && cp -r det/images det/labels det/data.yaml hid/ && rm -f hid/labels/*.cache
printf '\0\5\26\7junk' >hid/images/train/._train_00000.png && : >hid/images/train/.DS_Store
mkdir hid/images/train/.ipynb_checkpoints && cp det/images/train/train_00001.png hid/images/train/.ipynb_checkpoints/
"$D" check det/data.yaml 2>/dev/null | grep -E '^(train|val):' >hid.want
"$D" check hid/data.yaml >hid.out 2>&1
grep -E '^(train|val):' hid.out | cmp -s - hid.want && ! grep -q warning hid.out &&
    ok "hidden files in a dataset folder are not images" || fail "hidden files: $(grep -E 'train:|warning' hid.out | head -3 | tr '\n' '|')"
(cd hid && "$PYTHON" -c "
import os, zipfile
with zipfile.ZipFile('../hid.zip', 'w') as z:
    for root, dirs, files in os.walk('.'):
        for f in sorted(files):
            if not f.endswith('.cache'): z.write(os.path.join(root, f))
    z.writestr('__MACOSX/images/train/._train_00002.png', b'junk')
")
"$D" check hid.zip >hidz.out 2>&1
grep -E '^(train|val):' hidz.out | cmp -s - hid.want && ! grep -q warning hidz.out &&
    ok "hidden files in an archive are not images" || fail "hidden files in a zip: $(grep -E 'train:|warning' hidz.out | head -3 | tr '\n' '|')"

# ---- a symlink loop in a split folder (Ultralytics' glob follows links, listing the images again at every
# turn): one error naming the link (it said "folders nested too deep"), at once even when two links in a
# folder would make 2^64 paths; real depth keeps its own message
mkdir -p sl && cp -r det/images det/labels det/data.yaml sl/ && rm -f sl/labels/*.cache && ln -s .. sl/images/train/up
check_fails "a symlink loop: one line naming the link" 1 '^yolo-data: sl/images/train/up: a symlink loop: following it leads back to sl/images/train \(remove the link' \
    "$D" sl/data.yaml --split train -o x.bin
rm sl/images/train/up && ln -s . sl/images/train/a && ln -s . sl/images/train/b
check_fails "two links to their own folder: the first named" 1 'sl/images/train/[ab]: a symlink loop: following it leads back to sl/images/train \(' \
    timeout 10 "$D" sl/data.yaml --split train -o x.bin
rm sl/images/train/a sl/images/train/b && d=sl/images/train && for k in $(seq 65); do d=$d/d; done && mkdir -p $d
check_fails "folders really nested 65 deep: the depth limit" 1 'sl/images/train(/d)+: folders nested more than 64 deep$' "$D" sl/data.yaml --split train -o x.bin

# ---- show: a JPEG grid of augmented samples
check "show: writes a grid" "$D" show det/data.yaml -o grid.jpg --imgsz 64 --n 4
if [ "$(head -c 3 grid.jpg | od -An -tx1 | tr -d ' ')" = "ffd8ff" ]; then ok "show: the grid is a JPEG"; else fail "show: not a JPEG"; fi
check "show: segment grid with masks" "$D" show seg/data.yaml -o gseg.jpg --imgsz 64 --n 4
check_fails "show: needs -o" 2 'no output file' "$D" show det/data.yaml

# ---- an image that breaks after the scan (same size and mtime, so the cache still vouches for it):
# the stream stops with one error line and without a trailer, so consumers see it is incomplete
mkdir -p late && cp -r det/images det/labels det/data.yaml late/ && "$D" check late/data.yaml >/dev/null
f=late/images/train/train_00003.png
cp -p "$f" keep.png
"$PYTHON" -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[60:len(b)-20]=bytes(len(b)-80); open(p,'wb').write(b)" "$f"
touch -r keep.png "$f"
check_fails "a sample that cannot be made stops the stream with one error" 1 'sample [0-9]+ \(late/images/train/train_[0-9]+.png\): late/images/train/train_00003.png: corrupt PNG' \
    "$D" late/data.yaml --split train --imgsz 64 --workers 2 -q -o late.bin
check_fails "the partial stream has no trailer: readers refuse it" 1 'late.bin: truncated stream' "$D" dump late.bin

# ---- the reference sets made with Ultralytics: same image and instance counts as its validator printed
R=$DATA
need "$R/fashion_det/data.yaml" "$R/fashion_det256/data.yaml"
{
    check_out "reference fashion_det: val 16 images, 34 instances (Ultralytics: 16 / 34)" \
        '^val: 16 images, 0 backgrounds, 0 corrupt, 34 instances' "$D" check --no-cache "$R/fashion_det/data.yaml"
    check_out "reference fashion_det256: val 64 images, 168 instances (Ultralytics: 64 / 168)" \
        '^val: 64 images, 0 backgrounds, 0 corrupt, 168 instances' "$D" check --no-cache "$R/fashion_det256/data.yaml"
    "$D" "$R/fashion_det/data.yaml" --split val --imgsz 128 --rect --batch 32 --no-cache 2>/dev/null | "$D" dump >ref.jsonl
    if [ "$(grep -c '"h":160,"w":160' ref.jsonl)" -eq 16 ]; then ok "reference val: 128x128 images in 160x160 rect batches"; else fail "reference val shapes"; fi
}
