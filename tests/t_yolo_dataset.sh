# Where a dataset is (issue 20), as Ultralytics finds it (ultralytics/data/utils.py, check_det_dataset):
# data.yaml's relative path: against the working folder, then the datasets folder (datasets_dir of
# Ultralytics' settings.json, or $YOLO_DATASETS_DIR before it), then (ours) the YAML's folder; absolute
# as it is; no path: the YAML's folder. A missing dataset: exit 2, one line naming every place tried, no
# run folder. And where a run finds it again (issue 14, item 7): moved runs, data= on resume.
. "$(dirname "$0")/lib.sh"
cd "$T"
fashion_data detect fd 8 4
tiny_model tiny.yaml  # YOLOv8 at width 1/16: the network is not what this tests
export HOME=$T/home YOLO_CONFIG_DIR=$T/config
unset YOLO_DATASETS_DIR
mkdir -p "$HOME" "$YOLO_CONFIG_DIR"
names="names: {0: T-shirt/top, 1: Trouser, 2: Pullover, 3: Dress, 4: Coat, 5: Sandal, 6: Shirt, 7: Sneaker, 8: Bag, 9: Ankle boot}"
yaml() { printf '%s\ntrain: images/train\nval: images/val\n%s\n' "$1" "$names"; }
images() { (cd "$1" && find images/train -name '*.png' -o -name '*.jpg' | sort); }
want_fd=$(images fd)
# resolves CASE YAML ROOT [FOLDER]: yolo-data finds ROOT (the one Ultralytics' rule gives) and lists
# the same train images as that folder holds
resolves() {
    local what=$1 y=$2 root=$3 out got
    out=$(yolo-data resolve "$y" 2>"$T/err") && got=$(yolo-data list "$y" | sort)
    if [ "$(sed -n 2p <<<"$out")" = "$(realpath "$root")" ] && [ "$got" = "$(images "$root")" ] && [ -n "$got" ]; then ok "$what"
    else fail "$what: root $(sed -n 2p <<<"$out"), want $(realpath "$root") ($(head -1 "$T/err"))"; fi
}

# a project laid out for Ultralytics: datasets/fdet/ and cfgs/my.yaml saying path: datasets/fdet
mkdir -p proj/datasets proj/cfgs && cp -r fd proj/datasets/fdet && rm proj/datasets/fdet/data.yaml
yaml "path: datasets/fdet" >proj/cfgs/my.yaml
(cd proj && resolves "relative path: against the working folder (cfgs/my.yaml, path: datasets/fdet)" cfgs/my.yaml datasets/fdet)

# the datasets folder, from Ultralytics' settings.json, then from $YOLO_DATASETS_DIR over it
mkdir -p dsroot dsenv other && cp -r proj/datasets/fdet dsroot/fdet && cp -r proj/datasets/fdet dsenv/fdet
rm dsenv/fdet/images/train/$(ls dsenv/fdet/images/train | head -1)  # tells the two apart
printf '{\n  "settings_version": "0.0.6",\n  "datasets_dir": "%s",\n  "weights_dir": "weights"\n}\n' "$T/dsroot" >"$YOLO_CONFIG_DIR/settings.json"
yaml "path: fdet" >other/d.yaml
(cd other && resolves "relative path: against datasets_dir of settings.json" d.yaml "$T/dsroot/fdet")
(cd other && YOLO_DATASETS_DIR=$T/dsenv resolves "relative path: against \$YOLO_DATASETS_DIR, which overrides settings.json" d.yaml "$T/dsenv/fdet")
rm "$YOLO_CONFIG_DIR/settings.json"
(cd other && HOME=$T/home2 YOLO_CONFIG_DIR= && mkdir -p "$HOME/.config/Ultralytics" &&
    printf '{"datasets_dir": "%s"}\n' "$T/dsroot" >"$HOME/.config/Ultralytics/settings.json" &&
    resolves "without YOLO_CONFIG_DIR: ~/.config/Ultralytics/settings.json" d.yaml "$T/dsroot/fdet")

# ours, last: relative to the YAML's folder; absolute; no path:
resolves "relative path: against the YAML's folder when nothing else holds it (path: .)" fd/data.yaml fd
yaml "path: $T/dsroot/fdet" >other/abs.yaml
(cd other && resolves "absolute path: as it is" abs.yaml "$T/dsroot/fdet")
yaml "" >dsroot/fdet/nopath.yaml
resolves "no path: the YAML's folder" dsroot/fdet/nopath.yaml dsroot/fdet

# two places hold it: the first in Ultralytics' order is taken, and yolo-data says so
mkdir -p two/cfg && cp -r fd/images two/ && cp -r fd/labels two/ && cp -r fd/images two/cfg/ && cp -r fd/labels two/cfg/
yaml "path: ." >two/cfg/data.yaml
(cd two && yolo-data resolve cfg/data.yaml >"$T/out" 2>"$T/err")
[ "$(sed -n 2p "$T/out")" = "$T/two" ] && grep -q "cfg/data.yaml: path '.' taken as . (the working folder), not cfg (the YAML's folder)" "$T/err" &&
    ok "two candidates: the working folder is taken, and a note says which" || fail "two candidates: $(sed -n 2p "$T/out"): $(cat "$T/err")"

# a run records the resolved absolute dataset and its root: it resumes from any working folder
(cd proj && yolo detect train data=cfgs/my.yaml epochs=1 model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false project=p name=a >a.out 2>a.err) ||
    fail "train with cfgs/my.yaml: $(tail -2 proj/a.err | tr '\n' '|')"
yolo-ckpt inspect --json proj/p/a/weights/last.pt >j.json
grep -q "\"data\": \"$T/proj/cfgs/my.yaml\"" j.json && grep -q "\"data_root\": \"$T/proj/datasets/fdet\"" j.json &&
    grep -q "^data: $T/proj/cfgs/my.yaml$" proj/p/a/args.yaml && ok "the run records the absolute data.yaml and the root it led to" ||
    fail "recorded: $(grep '"data' j.json | tr '\n' ' ')"
(cd other && yolo detect train resume model=../proj/p/a/weights/last.pt epochs=1 >r.out 2>r.err) &&
    [ "$(yolo-ckpt inspect proj/p/a/weights/last.pt | sed -n 's/^epoch: *//p')" = "epoch 2 of 2 done" ] &&
    ok "resumed from another working folder (path: was relative to the first)" || fail "resume elsewhere: $(tail -1 other/r.err)"

# a missing dataset: exit 2, one line naming every place tried; no run folder, no run number used
(cd proj && check_fails "a data.yaml whose path: is nowhere: exit 2, one line, every place tried" 2 \
    "cfgs/gone.yaml: path 'nothere/fdet' holds no 'train' .* in any of: .*nothere/fdet \(the working folder\), .*/nothere/fdet \(the datasets folder, datasets_dir from .*\), .*cfgs/nothere/fdet \(the YAML's folder\)" \
    sh -c "printf 'path: nothere/fdet\ntrain: images/train\nval: images/val\n$names\n' >cfgs/gone.yaml && yolo detect train data=cfgs/gone.yaml epochs=1 imgsz=64")
(cd proj && check_fails "a missing data.yaml: exit 2, one line" 2 "data=cfgs/none.yaml: no such file or folder" yolo detect train data=cfgs/none.yaml epochs=1)
[ ! -e proj/runs ] && ok "the refused runs left no run folder" || fail "runs/ appeared: $(find proj/runs | head -3 | tr '\n' ' ')"
(cd proj && yolo detect train data=cfgs/my.yaml epochs=1 model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false >n.out 2>n.err) &&
    [ -d proj/runs/detect/train ] && [ ! -e proj/runs/detect/train2 ] && ok "... and used no run number: the next run is runs/detect/train" ||
    fail "next run: $(ls proj/runs/detect 2>&1 | tr '\n' ' ')"

# a bare name Ultralytics ships: never downloaded; found in the datasets folder when it is there
export YOLO_DATASETS_DIR=$T/dsenv
(cd other && check_fails "coco8.yaml, nowhere: exit 2, one line: never downloads, where it is expected" 2 \
    "data=coco8.yaml: not found \(tried \./coco8.yaml, $T/dsenv/coco8.yaml, $T/dsenv/coco8/coco8.yaml, $T/dsenv/coco8/data.yaml; datasets_dir from \\\$YOLO_DATASETS_DIR\); Ultralytics downloads the datasets it knows, yolo-tools never downloads: put the data and its YAML in $T/dsenv" \
    yolo detect train data=coco8.yaml epochs=1)
mkdir -p dsenv/coco8/images
(cd other && check_fails "coco8.yaml whose images are there without the YAML: says so" 2 \
    "yolo-tools never downloads: the data is in $T/dsenv/coco8 but no YAML is: put the YAML beside it" yolo detect train data=coco8.yaml epochs=1)
cp -r fd/images fd/labels dsenv/coco8/ && yaml "path: coco8" >dsenv/coco8.yaml
(cd other && resolves "coco8.yaml in the datasets folder is used" coco8.yaml "$T/dsenv/coco8")
# val finds data= as train does (it was handed to yolo-eval as written: "coco8.yaml: No such file")
(cd other && yolo val model=../proj/p/a/weights/best.pt data=coco8.yaml imgsz=64 plots=false >v.out 2>v.err) && grep -Eq '^ +all +' other/v.out &&
    ok "yolo val data=coco8.yaml validates on the datasets folder's" || fail "val data=coco8.yaml: $(tail -2 other/v.err | tr '\n' '|')"
(cd other && check_fails "yolo val data=coco7.yaml, nowhere: the same line as train's, exit 2" 2 \
    "data=coco7.yaml: not found \(tried \./coco7.yaml, $T/dsenv/coco7.yaml, .*yolo-tools never downloads" \
    yolo val model=../proj/p/a/weights/best.pt data=coco7.yaml)
printf 'path: coco9\ntrain: images/train\nval: images/val\ndownload: https://example.com/coco9.zip\n%s\n' "$names" >other/coco9.yaml
(cd other && check_fails "a YAML with download: whose data is missing: never run, says where to put it" 2 \
    "the YAML has a download: script, which yolo-tools never runs: put the data in $T/dsenv/coco9" yolo detect train data=coco9.yaml epochs=1)
[ ! -e other/runs ] && ok "no run folder for any of them" || fail "runs/ appeared in other/"
unset YOLO_DATASETS_DIR

# issue 14, item 7: a run folder copied elsewhere (its dataset stays) finds it by its absolute path;
# moved with its dataset, by the path relative to the run folder; neither: one line naming both
mkdir -p A && cp -r fd A/fdet
(cd A && yolo detect train data=fdet/data.yaml epochs=1 model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false project=p name=a >a.out 2>a.err) || fail "run in A: $(tail -1 A/a.err)"
mkdir -p B && cp -r A/p B/
(cd B && yolo detect train resume model=p/a/weights/last.pt epochs=1 >b.out 2>b.err) &&
    [ "$(yolo-ckpt inspect B/p/a/weights/last.pt | sed -n 's/^epoch: *//p')" = "epoch 2 of 2 done" ] &&
    ok "a run folder copied to B resumes on A's dataset (absolute path)" || fail "copied run: $(tail -2 B/b.err | tr '\n' '|')"
mv A C
(cd C && yolo detect train resume model=p/a/weights/last.pt epochs=1 >c.out 2>c.err) &&
    [ "$(yolo-ckpt inspect C/p/a/weights/last.pt | sed -n 's/^epoch: *//p')" = "epoch 2 of 2 done" ] &&
    ok "a run folder moved with its dataset resumes (path relative to the run folder)" || fail "moved run: $(tail -2 C/c.err | tr '\n' '|')"
mv C/fdet C/fdet.away
cp C/p/a/weights/last.pt keep.pt
(cd C && check_fails "neither place: one line naming both, and data= to point at it" 1 \
    "resume: p/a/weights/last.pt: the run's dataset is neither at $T/A/fdet/data.yaml nor beside the run folder at $T/C/p/a/\.\./\.\./fdet/data.yaml \(resume with data=PATH to point the run at it: accepted when the dataset has the same class names\)" \
    yolo detect train resume model=p/a/weights/last.pt epochs=1)
cmp -s keep.pt C/p/a/weights/last.pt && ok "... and changes nothing" || fail "last.pt changed by the refused resume"
# data= elsewhere: other class names are refused; the same names are taken, and the change is told
sed 's/0: T-shirt\/top/0: Tee/' C/fdet.away/data.yaml >C/fdet.away/other.yaml
(cd C && check_fails "data= with other class names is refused" 1 "data=fdet.away/other.yaml: class 0 is 'Tee' there and 'T-shirt/top' in the run" \
    yolo detect train resume model=p/a/weights/last.pt epochs=1 data=fdet.away/other.yaml)
cmp -s keep.pt C/p/a/weights/last.pt && ok "... and changes nothing" || fail "last.pt changed by the refused data="
cp C/fdet.away/images/train/$(ls C/fdet.away/images/train | head -1) C/fdet.away/images/train/extra1.png
cp C/fdet.away/labels/train/$(ls C/fdet.away/labels/train | head -1) C/fdet.away/labels/train/extra1.txt
(cd C && yolo detect train resume model=p/a/weights/last.pt epochs=1 data=fdet.away/data.yaml >d.out 2>d.err)
rc=$?
if [ $rc -eq 0 ] && grep -q "dataset grew: 1 new train images since epoch [0-9]* (total 9; in training from epoch 3; names in .*new_images.txt)" C/d.err &&
    yolo-ckpt inspect --json C/p/a/weights/last.pt | grep -q "\"data_found\": \"$T/C/fdet.away/data.yaml\""; then
    ok "data= with the same class names is taken, says how many images changed, and is recorded"
else fail "data= elsewhere (exit $rc): $(grep yolo: C/d.err | head -3 | tr "\n" "|")"; fi

# a damaged val image: named and skipped by the training's validation and by yolo val, as Ultralytics'
# val scan warns, with the count of what is left
mkdir -p V && cp -r fd V/fv && v=$(ls V/fv/images/val | head -1) && : >"V/fv/images/val/$v"
(cd V && yolo detect train data=fv/data.yaml epochs=1 model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false name=v >v.out 2>v.err)
rc=$?
[ $rc = 0 ] && grep -qx "yolo-train-epoch: warning: $T/V/fv/images/val/$v: ignoring corrupt image/label: empty image file" V/v.err &&
    grep -qx "yolo-train-epoch: val: 4 images, 1 corrupt skipped" V/v.err &&
    ok "training: a damaged val image is named and skipped" || fail "val warning in training (exit $rc): $(grep -v '^ ' V/v.err | head -4 | tr '\n' '|')"
(cd V && yolo detect val model=runs/detect/v/weights/last.pt data=fv/data.yaml plots=false >w.out 2>w.err)
rc=$?
[ $rc = 0 ] && grep -qx "yolo-eval: warning: fv/images/val/$v: ignoring corrupt image/label: empty image file" V/w.err &&
    grep -qx "yolo-eval: val: 4 images, 1 corrupt skipped" V/w.err && grep -Eq '^ +all +3 ' V/w.out V/w.err &&
    ok "yolo val: a damaged val image is named and skipped, 3 images validated" || fail "val warning in yolo val (exit $rc): $(head -4 V/w.err | tr '\n' '|')"
# a truncated train JPEG and an empty val PNG over 3 epochs: each named once per invocation, as Ultralytics
# names them when it builds the dataset (every epoch's yolo-data and trainer named them again); a resume
# names them once more
mkdir -p W && cd W && yolo-data fashion --task detect --out fj --train 8 --val 4 --imgsz 64 --jpeg >/dev/null 2>&1 &&
    j=fj/images/train/$(ls fj/images/train | head -1) && head -c 300 "$j" >t.jpg && mv t.jpg "$j" &&
    v=fj/images/val/$(ls fj/images/val | head -1) && rm "$v" && : >"${v%.jpg}.png" || fail "making the W dataset"
wt=(model=$T/tiny.yaml imgsz=64 batch=4 workers=1 plots=false name=w)
warns() { grep -E "$1: (warning|(train|val): .* skipped)" "$2" | sort | uniq -c | awk '{ print $1 }' | tr '\n' ' '; }
env -u YOLO_LABEL_CACHE yolo detect train data=fj/data.yaml epochs=3 "${wt[@]}" >w.out 2>w.err
rc=$?
[ $rc = 0 ] && [ "$(warns yolo-data w.err)" = "1 1 " ] && [ "$(warns yolo-train-epoch w.err)" = "1 1 " ] &&
    ok "3 epochs: the bad train and val files are named once each (with one count line each)" ||
    fail "warnings over 3 epochs (exit $rc): $(grep -E 'warning|skipped' w.err | sort | uniq -c | tr '\n' '|')"
env -u YOLO_LABEL_CACHE yolo detect train resume model=runs/detect/w/weights/last.pt epochs=2 >r.out 2>r.err
rc=$?
[ $rc = 0 ] && [ "$(warns yolo-data r.err)" = "1 1 " ] && [ "$(warns yolo-train-epoch r.err)" = "1 1 " ] &&
    ok "a resume for 2 more epochs names them once again" ||
    fail "warnings of the resume (exit $rc): $(grep -E 'warning|skipped' r.err | sort | uniq -c | tr '\n' '|')"
cd "$T"
# a segment model on a dataset of boxes: Ultralytics' error, said as a way out
(cd V && yolo segment train data=fv/data.yaml epochs=1 model=yolov8n-seg.yaml imgsz=64 batch=4 workers=1 plots=false name=s >s.out 2>s.err)
rc=$?
[ $rc != 0 ] && grep -qx "yolo-train-epoch: the dataset's labels are boxes only, and model yolov8n-seg.yaml is a segment model, which trains on polygons (a segment dataset, as coco8-seg); train a detect model on it (model=yolov8n.yaml)" V/s.err &&
    ok "a segment model on a detect dataset: one line that says what to train instead" || fail "segment on boxes (exit $rc): $(tail -2 V/s.err | tr '\n' '|')"

# a detect model trains on a segment dataset, on the boxes its polygons give, as in Ultralytics (the
# epoch stream took the dataset's task: 'the stream is for segment but model ... is a detect model')
mkdir -p K && cd K && fashion_data segment sg 8 4
sed -e '/^scales:/,/^$/c\depth_multiple: 0.33\nwidth_multiple: 0.0625\n' "$ROOT/cfg/models/yolov8-seg.yaml" >tiny-seg.yaml
kt=(epochs=1 imgsz=64 batch=4 workers=1 plots=false)
yolo detect train data=sg/data.yaml model=$T/tiny.yaml "${kt[@]}" name=ds >ds.out 2>ds.err
rc=$?
[ $rc = 0 ] && [ -f runs/detect/ds/weights/last.pt ] && ok "a detect model trains on a segment dataset (its boxes)" ||
    fail "detect on a segment dataset (exit $rc): $(grep -v '^ ' ds.err | tail -2 | tr '\n' '|')"
yolo train data=sg/data.yaml model=tiny-seg.yaml "${kt[@]}" name=st >st.out 2>st.err
rc=$?
[ $rc = 0 ] && [ -f runs/segment/st/weights/last.pt ] && ok "no task given: the model's (segment), as Ultralytics guesses it" ||
    fail "task from the model (exit $rc): $(grep -v '^ ' st.err | tail -2 | tr '\n' '|')"
cd "$T"
