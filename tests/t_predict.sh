# yolo predict (yolo-predict): sources, run folders, save_txt/save_conf/save_crop, the options, the
# per-image and speed lines, our and Ultralytics' checkpoints, and the same predictions as yolo-eval.
. "$(dirname "$0")/lib.sh"
SRC=$DATA/fashion_det/images/val
FINAL=$DATA/ultralytics/yolov8n-fashion-final.pt
MID=$DATA/ultralytics/yolov8n-fashion-mid.pt
need "$SRC" "$FINAL" "$MID" "$DATA/fashion_det/data.yaml"
cd "$T"
Y="$ROOT/scripts/yolo"
# pic FILE: "WxH" when FILE decodes as a whole picture
pic() { "$PYTHON" -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print("%dx%d" % im.size)' "$1" 2>/dev/null; }
# same_pixels A B
same_pixels() { "$PYTHON" -c 'import sys; from PIL import Image; a, b = (Image.open(f).convert("RGB").tobytes() for f in sys.argv[1:]); sys.exit(a != b)' "$1" "$2"; }

# ---- a folder, the run folder, the lines ----
"$Y" detect predict model="$FINAL" source="$SRC" save_txt=true save_conf=true save_crop=true >out 2>err
rc=$?
[ $rc = 0 ] && ok "predict on a folder" || fail "predict on a folder (exit $rc: $(tail -2 err))"
P=runs/detect/predict
n=$(ls "$P"/*.png 2>/dev/null | wc -l)
[ "$n" = 16 ] && ok "16 annotated images in $P" || fail "$n images in $P"
[ "$(pic "$P/val_00002.png")" = 128x128 ] && ok "an annotated image decodes at the source's size" || fail "val_00002.png: $(pic "$P/val_00002.png")"
same_pixels "$P/val_00002.png" "$SRC/val_00002.png" && fail "the detection is not drawn" || ok "the detection is drawn on the image"
grep -Eq "^image 3/16 $SRC/val_00002.png: 128x128 1 Bag, [0-9.]+ms$" err && ok "Ultralytics' per-image line" ||
    fail "per-image line: $(grep 'image 3/16' err)"
grep -Eq "^image 1/16 .*: 128x128 \(no detections\), [0-9.]+ms$" err && ok "an image without detections says so" || fail "no detections line"
grep -Eq '^Speed: [0-9.]+ms preprocess, [0-9.]+ms inference, [0-9.]+ms postprocess per image at shape \(16, 3, 128, 128\)$' err &&
    ok "Ultralytics' speed line" || fail "speed line: $(grep Speed err)"
grep -q "^Results saved to $P$" err && grep -Eq "^[0-9]+ labels saved to $P/labels$" err && ok "where the results went" ||
    fail "results lines: $(tail -2 err)"
# this file's one box as predict writes it at batch 1 (batch 16 differs in the last digit): the format is
# Ultralytics' (cls cx cy w h conf, %g); its values against Ultralytics' own predict are the lead's check
"$PYTHON" -c '
import sys
got = [float(x) for x in open(sys.argv[1]).read().split()]
want = [8, 0.706783, 0.676915, 0.326283, 0.253847, 0.487334]
sys.exit(len(got) != 6 or got[0] != 8 or max(abs(a - b) for a, b in zip(got, want)) > 1e-5)' "$P/labels/val_00002.txt" &&
    ok "save_txt with save_conf: cls xywhn conf, as Ultralytics writes them" || fail "labels: $(cat "$P/labels/val_00002.txt")"
[ ! -e "$P/labels/val_00000.txt" ] && ok "no labels file for an image without detections" || fail "empty labels file written"
# save_one_box: the box grown by 2% and 10 px, clipped
[ "$(pic "$P/crops/Bag/val_00002.jpg")" = 52x43 ] && [ -n "$(ls "$P/crops/Sandal")" ] &&
    ok "save_crop writes crops/CLASS/NAME.jpg" || fail "crops: $(ls -R "$P/crops" | tr '\n' ' ') $(pic "$P/crops/Bag/val_00002.jpg")"

# ---- drawing options; a second run goes to predict2 ----
"$Y" detect predict model="$FINAL" source="$SRC/val_00002.png" show_labels=false line_width=4 >/dev/null 2>&1
[ -e runs/detect/predict2/val_00002.png ] && ! same_pixels runs/detect/predict2/val_00002.png "$P/val_00002.png" &&
    ok "a second run goes to predict2; show_labels and line_width change the picture" ||
    fail "drawing options or run folders: $(ls runs/detect | tr '\n' ' ')"

# ---- the same predictions as yolo-eval: the same network input (square images at their own size, not
# rect-padded), single-label NMS as predict does it, every box down to conf 0.001 ----
yolo-data "$DATA/fashion_det/data.yaml" --split val --imgsz 128 --no-cache |
    yolo-eval model="$FINAL" conf=0.001 multi_label=false save_txt=E threads="$(nproc)" >/dev/null 2>err
"$Y" detect predict model="$FINAL" source="$SRC" conf=0.001 save=false save_txt=true save_conf=true name=low >/dev/null 2>>err
rows=$(cat E/*.txt 2>/dev/null | wc -l)
diff -r E runs/detect/low/labels >/dev/null && [ "$rows" -gt 200 ] &&
    ok "save_txt+save_conf equal yolo-eval model= save_txt line for line ($rows boxes)" ||
    fail "predict and yolo-eval differ ($rows rows): $(diff -r E runs/detect/low/labels | head -3 | tr '\n' '|') $(tail -1 err)"
labels_of() { cat "runs/detect/$1/labels/"*.txt 2>/dev/null; }
[ "$(labels_of predict | wc -l)" -lt "$rows" ] && [ -z "$(labels_of predict | awk '$6 <= 0.25')" ] &&
    ok "conf=0.25 by default: weaker boxes dropped" || fail "conf: $(labels_of predict | wc -l) of $rows"

# ---- options ----
"$Y" predict model="$FINAL" source="$SRC" conf=0.001 save_txt=true classes=8,9 max_det=1 show_boxes=false name=cls >/dev/null 2>&1
"$Y" predict model="$FINAL" source="$SRC" conf=0.001 save=false save_txt=true agnostic_nms=true name=agn >/dev/null 2>&1
files=$(ls runs/detect/cls/labels | wc -l)
[ "$files" -gt 5 ] && [ "$(labels_of cls | wc -l)" = "$files" ] && [ -z "$(labels_of cls | grep -v '^[89] ')" ] &&
    ok "classes= keeps only those classes, max_det=1 one box per image" ||
    fail "classes/max_det: $(labels_of cls | cut -c1-2 | sort | uniq -c | tr '\n' ' ') in $files files"
same_pixels runs/detect/cls/val_00002.png "$SRC/val_00002.png" && ok "show_boxes=false: nothing drawn" ||
    fail "show_boxes=false drew on the image"
[ "$(labels_of agn | wc -l)" -lt "$rows" ] && ok "agnostic_nms: boxes of different classes suppress each other" ||
    fail "agnostic_nms: $(labels_of agn | wc -l) vs $rows"

# ---- Ultralytics' and our checkpoints, stripped or not (an early one: weak boxes only); sources ----
yolo-ckpt import "$MID" -o ours.pt >/dev/null 2>&1 && yolo-ckpt strip ours.pt -o ours-stripped.pt >/dev/null 2>&1 ||
    fail "could not make our checkpoints"
printf '%s\nval_00003.png\n' "$SRC/val_00002.png" >"$T/list.txt" && cp "$SRC/val_00003.png" "$T/"
for m in "$MID" ours.pt ours-stripped.pt; do
    src="$SRC/val_0001*.png"
    [ "$m" = ours.pt ] && src=$T/list.txt
    "$Y" predict model="$m" source="$src" conf=0.0001 max_det=5 save=false --json >"$(basename "$m").json" 2>err ||
        fail "predict with $m: $(tail -1 err)"
done
grep -q '^image 6/6 ' err && ok "a glob" || fail "glob: $(tail -1 err)"
[ "$(wc -l <ours.pt.json)" = 2 ] && ok "a .txt list (entries relative to it too)" || fail "list source: $(cat ours.pt.json)"
"$PYTHON" -c '
import json, sys
def load(f): return {json.loads(l)["image"].split("/")[-1]: json.loads(l) for l in open(f)}
u, o, s = load("yolov8n-fashion-mid.pt.json"), load("ours.pt.json"), load("ours-stripped.pt.json")
assert len(u) == 6 and len(s) == 6 and all(len(r["boxes"]) == 5 for r in u.values()), "boxes"
assert all(u[k] == s[k] for k in u), "stripped"
assert o["val_00002.png"]["conf"] and all(o[k] == load("yolov8n-fashion-mid.pt.json").get(k, o[k]) for k in o), "ours"
' 2>err && ok "--json; Ultralytics' checkpoint, ours imported from it and ours stripped predict the same" ||
    fail "checkpoint kinds: $(tail -1 err)"

# ---- a damaged file among good ones: named, skipped, the others predicted; exit 1 ----
mkdir -p mixed && cp "$SRC"/val_0000[0-3].png mixed/ && head -c 100 "$SRC/val_00004.png" >mixed/val_00002b.png
"$Y" predict model="$FINAL" source=mixed save_txt=true name=mixed >/dev/null 2>err
rc=$?
[ $rc = 1 ] && grep -qx "yolo-predict: warning: image 4/5 skipped: $T/mixed/val_00002b.png: truncated PNG (end of stream)" err &&
    [ "$(tail -1 err)" = "yolo-predict: 1 of 5 images could not be read (each named above); the others were predicted" ] &&
    [ "$(ls runs/detect/mixed/*.png | wc -l)" = 4 ] && grep -q '^image 5/5 .*val_00003.png: 128x128 ' err &&
    grep -q '^Speed: .* at shape (4, 3, 128, 128)$' err &&
    ok "a damaged image is named and skipped, the others are predicted and saved, exit 1" ||
    fail "damaged image among good ones (exit $rc): $(tr '\n' '|' <err | cut -c1-400)"

# ---- an image named in a format that is not written (a PNG named .webp, .PNG): predicted, saved as JPEG
# beside its name (the whole predict stopped: "name a .png, .jpg or .jpeg file") ----
mkdir -p other && cp "$SRC/val_00000.png" other/a.webp && cp "$SRC/val_00001.png" other/B.PNG
"$Y" predict model="$FINAL" source=other name=other >/dev/null 2>err &&
    [ "$(cd runs/detect/other && ls | tr '\n' ' ')" = "B.PNG a.webp.jpg " ] &&
    [ "$(head -c 3 runs/detect/other/a.webp.jpg | od -An -tx1 | tr -d ' ')" = ffd8ff ] &&
    ok "a PNG named .webp is predicted and saved as a.webp.jpg (JPEG), B.PNG as B.PNG" ||
    fail "other names: $(ls runs/detect/other 2>&1 | tr '\n' ' ') $(tail -1 err)"

# ---- Ctrl+C: the image being written is finished, the rest left; one line says how far it got, exit 130 ----
mkdir -p many && for i in $(seq 400); do ln -s "$SRC/val_00002.png" "many/m$i.png"; done
"$Y" predict model="$FINAL" source=many batch=1 save_txt=true name=int >/dev/null 2>err &
pid=$!
for _ in $(seq 500); do grep -q '^image 1/400 ' err && break; sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
n=$(ls runs/detect/int/*.png 2>/dev/null | wc -l)
last=$(tail -1 err)
[ $rc = 130 ] && [ "$last" = "yolo-predict: interrupted after $n of 400 images; their results are in runs/detect/int" ] &&
    [ "$n" -gt 0 ] && [ "$n" -lt 400 ] && [ "$(ls runs/detect/int/labels | wc -l)" = "$n" ] &&
    [ -z "$(ls -A runs/detect/int runs/detect/int/labels | grep '^\.')" ] &&
    ok "Ctrl+C: stops after the image being written ($n of 400), says so, exit 130, no temporaries left" ||
    fail "Ctrl+C (exit $rc, $n images): $last"

# ---- refusals ----
: >clip.mp4
check_fails "a video is refused in one line" 2 "videos are not supported" "$Y" predict model="$FINAL" source=clip.mp4
check_fails "a camera or URL is refused" 2 "are not supported" "$Y" predict model="$FINAL" source=https://x.org/a.jpg
check_fails "a missing source" 1 "source=nowhere.png: no such file or folder" "$Y" predict model="$FINAL" source=nowhere.png
printf 'nowhere.png\n' >gone.txt
check_fails "a list with a missing file names the list and the line" 1 "source=gone.txt: nowhere.png: no such file or folder" \
    "$Y" predict model="$FINAL" source=gone.txt
mkdir -p empty
check_fails "a folder without images" 1 "no images found" "$Y" predict model="$FINAL" source=empty
check_fails "classes out of range" 2 "class ids are 0..9" "$Y" predict model="$FINAL" source="$SRC" classes=12
check_fails "not a model" 1 "not a model checkpoint" "$Y" predict model="$DATA/golden/letterbox.pt" source="$SRC"
[ ! -e runs/detect/predict3 ] && ok "a refused predict leaves no run folder behind" || fail "predict3 created by a failed run"
exit 0
