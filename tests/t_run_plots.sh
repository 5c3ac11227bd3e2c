# The pictures of a training run, as Ultralytics 8.4.52 names and sizes them and when it draws them,
# for detect, segment and classify; plots=false draws none and trains the same bits; the segment and
# classify models of these runs predict.
. "$(dirname "$0")/lib.sh"
cd "$T"
Y="$ROOT/scripts/yolo"
pic() { "$PYTHON" -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print("%dx%d" % im.size)' "$1" 2>/dev/null; }
# has RUN FILE=WxH...: each picture exists and decodes at that size
has() {
    local run=$1 f want got bad=""; shift
    for f in "$@"; do
        want=${f#*=} f=${f%%=*}; got=$(pic "$run/$f")
        [ "$got" = "$want" ] || bad+=" $f:${got:-missing}"
    done
    [ -z "$bad" ] && ok "$run: $# pictures at their sizes" || fail "$run:$bad"
}
fashion_data detect det 16 8
fashion_data segment seg 16 8
fashion_data classify cls 16 8
# 16 images in batches of 4: 4 batches an epoch; close_mosaic=1 of 2 epochs: batches 4-6 drawn too
common="epochs=2 imgsz=64 batch=4 workers=1 close_mosaic=1 seed=3"

"$Y" detect train data=det/data.yaml $common name=d >/dev/null 2>err || fail "detect run: $(tail -1 err)"
R=runs/detect/d
# validation batches of 8 images, rect 96 px: 3 x 3 tiles
has $R results.png=2400x1200 labels.jpg=1600x1600 train_batch0.jpg=128x128 train_batch1.jpg=128x128 \
    train_batch2.jpg=128x128 train_batch4.jpg=128x128 train_batch5.jpg=128x128 train_batch6.jpg=128x128 \
    confusion_matrix.png=3000x2250 confusion_matrix_normalized.png=3000x2250 BoxPR_curve.png=2250x1500 \
    BoxF1_curve.png=2250x1500 BoxP_curve.png=2250x1500 BoxR_curve.png=2250x1500 val_batch0_labels.jpg=288x288 \
    val_batch0_pred.jpg=288x288
[ ! -e $R/train_batch3.jpg ] && [ ! -e $R/train_batch7.jpg ] && [ -z "$(ls -a $R | grep '^\..*\.\(png\|jpg\)')" ] &&
    ok "no other batches drawn, no temporaries left" || fail "extra files: $(ls -a $R | tr '\n' ' ')"

"$Y" detect train data=det/data.yaml $common name=dn plots=false >/dev/null 2>err || fail "plots=false run: $(tail -1 err)"
[ -z "$(ls runs/detect/dn | grep -E '\.(png|jpg)$')" ] && ok "plots=false: no pictures" || fail "plots=false drew: $(ls runs/detect/dn | tr '\n' ' ')"
yolo-ckpt diff $R/weights/last.pt runs/detect/dn/weights/last.pt >/dev/null 2>&1 &&
    ok "plots on and off: bit-identical weights (yolo-ckpt diff)" || fail "pictures changed the training"

"$Y" segment train data=seg/data.yaml model=yolov8n-seg.yaml epochs=1 imgsz=64 batch=4 workers=1 seed=3 name=s \
    >/dev/null 2>err || fail "segment run: $(tail -1 err)"
has runs/segment/s results.png=3600x1200 labels.jpg=1600x1600 train_batch0.jpg=128x128 train_batch2.jpg=128x128 \
    MaskPR_curve.png=2250x1500 MaskF1_curve.png=2250x1500 MaskP_curve.png=2250x1500 MaskR_curve.png=2250x1500 \
    BoxPR_curve.png=2250x1500 confusion_matrix.png=3000x2250 val_batch0_labels.jpg=288x288 val_batch0_pred.jpg=288x288

"$Y" classify train data=cls model=yolov8n-cls.yaml epochs=1 imgsz=32 batch=4 workers=1 seed=3 name=c \
    >/dev/null 2>err || fail "classify run: $(tail -1 err)"
# classify: no labels.jpg and no curves, as Ultralytics; 8 val images of 32 px in one batch
has runs/classify/c results.png=1200x1200 train_batch0.jpg=64x64 train_batch2.jpg=64x64 \
    confusion_matrix.png=3000x2250 confusion_matrix_normalized.png=3000x2250 val_batch0_labels.jpg=96x96 \
    val_batch0_pred.jpg=96x96
[ ! -e runs/classify/c/labels.jpg ] && [ -z "$(ls runs/classify/c | grep curve)" ] && ok "classify: no labels.jpg, no curves" ||
    fail "classify extras: $(ls runs/classify/c | tr '\n' ' ')"

# ---- the segment and classify models predict ----
"$Y" segment predict model=runs/segment/s/weights/best.pt source=seg/images/val conf=0.001 max_det=3 save_txt=true \
    >/dev/null 2>err || fail "segment predict: $(tail -1 err)"
SP=runs/segment/predict
[ "$(ls $SP/*.png 2>/dev/null | wc -l)" = 8 ] && [ "$(pic $SP/$(ls seg/images/val | head -1))" = 64x64 ] &&
    ok "segment predict: the images, drawn" || fail "segment predict: $(ls $SP | tr '\n' ' ')"
# an outline per box: the class, then x y pairs normalised to the image
awk 'NF % 2 == 0 { bad = 1 } { for (i = 2; i <= NF; i++) if ($i < 0 || $i > 1) bad = 1 } END { exit bad || NR == 0 }' $SP/labels/*.txt &&
    ok "segment save_txt: class and the mask's outline (x y pairs in 0..1)" || fail "segment labels: $(head -c 200 $SP/labels/*.txt | head -3)"
img=$(find cls/val -name '*.png' | head -1)
"$Y" classify predict model=runs/classify/c/weights/best.pt source="$img" save_txt=true >/dev/null 2>err ||
    fail "classify predict: $(tail -1 err)"
CP=runs/classify/predict
[ "$(wc -l <$CP/labels/$(basename "$img" .png).txt)" = 5 ] && grep -Eq '^[01]\.[0-9]{2} [A-Za-z]' $CP/labels/*.txt &&
    grep -Eq "^image 1/1 .*: 32x32 [^,]+ [01]\.[0-9]{2}, .*ms$" err &&
    ok "classify predict: the top 5 in the labels and on the line" || fail "classify predict: $(cat $CP/labels/*.txt | head -2) $(grep '^image' err)"
[ "$(pic $CP/$(basename "$img"))" = "$(pic "$img")" ] && ok "classify predict: the image with its classes" || fail "classify picture"
exit 0
