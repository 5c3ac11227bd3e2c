# `yolo ... train` and the data it trains on: a dataset that grows between resumes is logged,
# fraction= trains on the first images only, copy_paste_mode is checked, and an out-of-memory
# failure ends with one line naming the resume command with a smaller batch.
. "$(dirname "$0")/lib.sh"
cd "$T"
if ! yolo-data fashion --task detect --out ds --train 8 --val 4 --imgsz 64 >/dev/null 2>&1 ||
    ! yolo-data fashion --task detect --out more --train 4 --val 1 --imgsz 64 --seed 7 >/dev/null 2>&1; then
    fail "yolo-data fashion could not make the test datasets (dataset-fashion-mnist: make deps installs it)"
    exit 1
fi

# yolo-data list: the usable train images, relative to the dataset root; fraction= keeps the first
# round(f * n) of the sorted list, with Python's rounding (10 * 0.25 = 2.5 -> 2)
check_out "yolo-data list prints images relative to the dataset root" '^images/train/train_00000\.png$' yolo-data list ds/data.yaml
[ "$(yolo-data list ds/data.yaml | wc -l)" = 8 ] && ok "yolo-data list: 8 train images" || fail "list: $(yolo-data list ds/data.yaml | wc -l) lines"
[ "$(yolo-data list ds/data.yaml fraction=0.5)" = "$(yolo-data list ds/data.yaml | head -4)" ] &&
    ok "fraction=0.5 lists the first half" || fail "fraction=0.5: $(yolo-data list ds/data.yaml fraction=0.5 | tr '\n' ' ')"
[ "$(yolo-data list ds/data.yaml --split val fraction=0.5 | wc -l)" = 4 ] && ok "fraction= leaves val alone (as Ultralytics)" ||
    fail "fraction on val: $(yolo-data list ds/data.yaml --split val fraction=0.5 | wc -l)"
yolo-data fashion --task detect --out ten --train 10 --val 2 --imgsz 64 >/dev/null 2>&1
[ "$(yolo-data list ten/data.yaml fraction=0.25 | wc -l)" = 2 ] && [ "$(yolo-data list ten/data.yaml fraction=0.35 | wc -l)" = 4 ] &&
    ok "fraction rounds half to even, as Python's round()" || fail "round: $(yolo-data list ten/data.yaml fraction=0.25 | wc -l)"
check_fails "yolo-data refuses fraction=0" 2 "bad 'fraction=0' \(a number with 0 < fraction <= 1\)" yolo-data list ds/data.yaml fraction=0
check_fails "yolo-data refuses copy_paste_mode=mixup" 2 "copy_paste_mode=mixup' is not supported" \
    sh -c 'yolo-data ds/data.yaml --split train --imgsz 64 copy_paste_mode=mixup >/dev/null'
check_fails "yolo refuses copy_paste_mode=mixup before training" 2 "copy_paste_mode=mixup' is not supported" \
    yolo detect train data=ds/data.yaml copy_paste_mode=mixup
check_fails "yolo refuses fraction=0" 2 "fraction must be a number above 0" yolo detect train data=ds/data.yaml fraction=0

# fraction=0.5 of 8 images with batch 2: 2 batches an epoch instead of 4
yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=2 workers=1 fraction=0.5 name=half >h.out 2>h.err
rc=$?
if [ $rc -eq 0 ] && grep -Eq ' 2/2 [0-9.]+it/s' h.err && ! grep -Eq ' [0-9]+/[34] [0-9.]+it/s' h.err; then ok "fraction=0.5 trains on half the batches (2 of 4)"
else fail "fraction=0.5 (exit $rc): $(grep -E 'it/s' h.err | tail -2 | tr '\n' '|') $(tail -1 h.err)"; fi
[ "$(grep -vc '^#' runs/detect/half/train_images.txt)" = 4 ] && ok "the run records the 4 images it trains on" ||
    fail "train_images.txt: $(head -3 runs/detect/half/train_images.txt | tr '\n' '|')"

# a dataset that grows between nightly resumes (epochs=1 more each time): the new images are logged
R=runs/detect/nightly
yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=4 workers=1 name=nightly >n1.out 2>n1.err ||
    { fail "first night: $(tail -2 n1.err | tr '\n' '|')"; exit 0; }
grep -q 'dataset grew' n1.err && fail "a new run said the dataset grew" || ok "a new run only records its images"
for k in 0 1 2 3; do
    cp more/images/train/train_0000$k.png ds/images/train/new_$k.png
    cp more/labels/train/train_0000$k.txt ds/labels/train/new_$k.txt
done
yolo detect train resume model=$R/weights/last.pt epochs=1 >n2.out 2>n2.err
rc=$?
line=$(grep 'dataset grew' n2.err)
if [ $rc -eq 0 ] && [[ $line == "yolo: dataset grew: 4 new train images since epoch 1 (total 12; in training from epoch 2; names in $R/new_images.txt)" ]]; then
    ok "resume says the dataset grew: 4 new images since epoch 1"
else fail "grown dataset (exit $rc): ${line:-no line} $(tail -1 n2.err)"; fi
if grep -q '^# epoch 2, .*: 4 new train images since epoch 1 (total 12)$' $R/new_images.txt &&
    [ "$(grep -v '^#' $R/new_images.txt)" = "$(printf 'images/train/new_%d.png\n' 0 1 2 3)" ]; then ok "new_images.txt names the 4 new images under the epoch"
else fail "new_images.txt: $(head -5 $R/new_images.txt | tr '\n' '|')"; fi
yolo-ckpt inspect $R/weights/last.pt | grep -q 'epoch 2 of 2 done' && ok "the grown night trained its epoch" || fail "epoch 2 not done"
yolo detect train resume model=$R/weights/last.pt epochs=1 >n4.out 2>n4.err
[ $? -eq 0 ] && ! grep -q 'dataset' n4.err && [ "$(grep -c '^# epoch' $R/new_images.txt)" = 1 ] &&
    ok "an unchanged dataset logs nothing" || fail "unchanged: $(grep dataset n4.err) $(grep -c '^# epoch' $R/new_images.txt)"

# out of memory: a large batch at a large size under a small address-space limit fails at the first
# step (the tools still start); the last line is yolo's, with the resume command and a smaller batch
( ulimit -v 800000 2>/dev/null || exit 99
  yolo detect train data=ds/data.yaml epochs=1 imgsz=640 batch=8 mosaic=0 workers=1 name=oom ) >m.out 2>m.err
rc=$?
last=$(tail -1 m.err)
want='^yolo: out of memory in epoch 1, batch 1 with batch=8.*\(resume with a smaller batch: yolo detect train resume model=runs/detect/oom/weights/last.pt batch=4\)$'
if [ $rc -eq 1 ] && [[ $last =~ $want ]]; then
    ok "out of memory ends with one line naming the resume command with batch=4"
    [ "$(grep -c 'out of memory' m.err)" = 1 ] && ok "the trainer's own out-of-memory line is not repeated" || fail "$(grep 'out of memory' m.err | tr '\n' '|')"
elif grep -q 'Sanitizer' m.err; then
    skip "sanitizer builds reserve more address space than ulimit -v allows"
elif grep -q 'out of memory' m.err; then
    fail "out of memory (exit $rc), last line: $last"
else
    skip "this environment cannot provoke an out-of-memory failure with ulimit -v (exit $rc: $last)"
fi
exit 0
