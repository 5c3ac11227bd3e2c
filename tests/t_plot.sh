# yolo-plot and yolo-eval plots=: each picture is written, decodes at Ultralytics' size, and its pixels
# follow the data.
. "$(dirname "$0")/lib.sh"
CSV=$DATA/ultralytics/yolov8n-fashion256-e30.results.csv
FINAL=$DATA/ultralytics/yolov8n-fashion-final.pt
need "$CSV" "$FINAL" "$DATA/fashion_det/data.yaml" "$DATA/fashion_det256/data.yaml"
cd "$T"
# pic FILE: "WxH" when FILE decodes as a whole picture
pic() { "$PYTHON" -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print("%dx%d" % im.size)' "$1" 2>/dev/null; }
# same_box A B X0 Y0 X1 Y1: the two pictures have the same pixels in that box
same_box() {
    "$PYTHON" -c 'import sys; from PIL import Image
a, b = (Image.open(f).convert("RGB").crop(tuple(map(int, sys.argv[3:7]))).tobytes() for f in sys.argv[1:3])
sys.exit(a != b)' "$@"
}
P=yolo-plot

# ---- results.png ----
check "results: draws results.csv" $P results "$CSV" -o results.png
[ "$(pic results.png)" = 2400x1200 ] && ok "detect results.png is 2400x1200 (12 x 6 in at 200 dpi)" || fail "results.png: $(pic results.png)"
# the same run with another mAP50 column: only that panel (bottom row, fourth) changes
awk -F, -v OFS=, 'NR > 1 { $8 = 1 - $8 } 1' "$CSV" >other.csv
$P results other.csv -o other.png 2>/dev/null
same_box results.png other.png 0 0 480 600 && ! same_box results.png other.png 1440 600 1920 1200 &&
    ok "results.png: a changed column changes its panel, and only it" || fail "results.png does not follow the data"
cp "$CSV" results.csv && $P results results.csv 2>/dev/null && [ -f results.png ] && ok "results: results.png beside the CSV by default" ||
    fail "default output"
# segment and classify columns: 16 and 4 panels
seg='epoch,time,train/box_loss,train/seg_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),metrics/precision(M),metrics/recall(M),metrics/mAP50(M),metrics/mAP50-95(M),val/box_loss,val/seg_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2'
cls='epoch,time,train/loss,metrics/accuracy_top1,metrics/accuracy_top5,val/loss,lr/pg0,lr/pg1,lr/pg2'
for t in seg cls; do
    h=${!t}; n=$(echo "$h" | tr ',' '\n' | wc -l)
    { echo "$h"; for e in 1 2 3; do seq -s, $e $((e + n - 1)); done; } >$t.csv
    $P results $t.csv -o $t.png 2>/dev/null
done
[ "$(pic seg.png)" = 3600x1200 ] && [ "$(pic cls.png)" = 1200x1200 ] && ok "segment results.png 3600x1200, classify 1200x1200" ||
    fail "seg $(pic seg.png), cls $(pic cls.png)"
echo 'epoch,time' >bad.csv; echo '1,2' >>bad.csv
check_fails "results: no loss or metric column" 1 "bad.csv: no loss or metric columns" $P results bad.csv
check_fails "results: a missing CSV" 1 "nowhere.csv: No such file" $P results nowhere.csv
check_fails "results: a picture needs .png or .jpg" 2 "x.gif: name a .png, .jpg or .jpeg file" $P results "$CSV" -o x.gif
check_fails "unknown command" 2 "unknown command 'draw'" $P draw

# ---- labels.jpg ----
check "labels: draws a dataset's labels" $P labels "$DATA/fashion_det/data.yaml" -o l1.jpg
$P labels "$DATA/fashion_det256/data.yaml" -o l2.jpg 2>/dev/null
[ "$(pic l1.jpg)" = 1600x1600 ] && ! same_box l1.jpg l2.jpg 0 0 1600 1600 &&
    ok "labels.jpg is 1600x1600 and follows the labels" || fail "labels.jpg: $(pic l1.jpg)"
yolo-data fashion --task classify --out cds --train 20 --val 10 --imgsz 32 >/dev/null 2>&1
check_fails "labels: a classification dataset has no boxes" 2 "has no boxes to plot" $P labels cds

# ---- grids of a stream: train_batch pictures numbered by batch in the run ----
yolo-data "$DATA/fashion_det/data.yaml" --split train --imgsz 64 --epoch 1 --count 12 --no-cache |
    $P grid --batch 4 -o 'tb%d.jpg' 2>err
[ "$(pic tb16.jpg)" = 128x128 ] && [ -f tb17.jpg ] && [ -f tb18.jpg ] && [ ! -f tb19.jpg ] &&
    ok "grid --batch 4: three pictures of 4 images, numbered epoch x 16 batches + batch" || fail "grid: $(ls tb* 2>&1) $(tail -1 err)"
check_fails "grid: --batch needs %d in the name" 2 "needs %d" $P grid --batch 4 -o one.jpg

# ---- the pictures of a validation (yolo-eval plots=) ----
yolo-eval model="$FINAL" data="$DATA/fashion_det/data.yaml" plots=v >/dev/null 2>err
for f in confusion_matrix.png confusion_matrix_normalized.png; do
    [ "$(pic v/$f)" = 3000x2250 ] && ok "$f 3000x2250 (12 x 9 in at 250 dpi)" || fail "$f: $(pic v/$f) $(tail -1 err)"
done
for f in BoxPR_curve.png BoxF1_curve.png BoxP_curve.png BoxR_curve.png; do
    [ "$(pic v/$f)" = 2250x1500 ] && ok "$f 2250x1500 (9 x 6 in at 250 dpi)" || fail "$f: $(pic v/$f)"
done
# 16 val images in one rect batch of 160 px, 4 x 4
[ "$(pic v/val_batch0_labels.jpg)" = 640x640 ] && [ "$(pic v/val_batch0_pred.jpg)" = 640x640 ] && [ ! -e v/val_batch1_labels.jpg ] &&
    ! same_box v/val_batch0_labels.jpg v/val_batch0_pred.jpg 0 0 640 640 &&
    ok "val_batch0_labels.jpg and val_batch0_pred.jpg: the labels and the predictions of the batch" || fail "val_batch pictures"
grep -q '^Results saved to v$' err && ok "yolo-eval says where the pictures went" || fail "results line: $(tail -1 err)"
exit 0
