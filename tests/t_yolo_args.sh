# The argument table (lib/args.c) against Ultralytics 8.4.52's key list, yolo(1)'s KEYS section and
# the checks of yolo-args parse: every key of default.yaml is there with its default, and each fate
# holds (works: its default and an in-range value pass; refused: another value is one line, exit 2;
# display-only: accepted, and documented in yolo(1)).
. "$(dirname "$0")/lib.sh"
KEYS=$DATA/ultralytics/default-8.4.52-keys.yaml
need "$KEYS" "$ROOT/man/man1/yolo.1"
cd "$T"
yolo-args keys >table.tsv || { fail "yolo-args keys"; exit 1; }

# ---- the table is default.yaml's keys, with its defaults, and ours
"$PYTHON" - "$KEYS" table.tsv <<'EOF' >cmp.out 2>&1
import sys
ultra = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or ":" not in line:
        continue
    k, v = line.split(":", 1)
    ultra[k.strip()] = v.strip()
table = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    table[f[0]] = f
def norm(v):
    v = v.strip("'\"")
    if v in ("", "null", "None", "none"):
        return None
    if v in ("True", "true"):
        return True
    if v in ("False", "false"):
        return False
    try:
        return float(v)
    except ValueError:
        return v
missing = [k for k in ultra if k not in table]
extra = [k for k in table if k not in ultra]
wrong = [k for k in ultra if k in table and norm(ultra[k]) != norm(table[k][2])]
print("missing", missing)
print("extra", extra)
print("wrong", wrong)
print("ok" if not missing and extra == ["save_dir", "save_every", "world", "hosts", "max_restarts", "micro_batch"] and not wrong else "differ")
EOF
if tail -1 cmp.out | grep -qx ok; then ok "the table holds every key of 8.4.52's default.yaml with its default (and ours: save_dir, save_every, world, hosts, max_restarts, micro_batch)"
else fail "table vs default.yaml: $(tr '\n' ' ' <cmp.out)"; fi

# ---- yolo(1)'s KEYS section is the table
sed -n '/^\.\\" BEGIN KEYS/,/^\.\\" END KEYS/p' "$ROOT/man/man1/yolo.1" | sed '1d;$d' >man.keys
yolo-args keys --man >table.keys
if cmp -s man.keys table.keys; then ok "yolo(1)'s KEYS section is 'yolo-args keys --man' (make man-keys)"
else fail "yolo(1)'s KEYS section differs from the table: run make man-keys ($(diff man.keys table.keys | head -3 | tr '\n' '|'))"; fi

# ---- each key's fate
fashion_data detect ds 8 4
parse() { yolo-args parse detect train data=ds/data.yaml "$@"; }
# a value other than the default, of the key's type
other() {
    local type=$1 def=$2
    case $type in
    int) [ "$def" = null ] && echo 1 || echo $((${def%.*} + 1)) ;;
    float) [ "$def" = 0.0 ] && echo 0.001 || echo 0.0 ;;
    str) echo other ;;
    int-list) echo "[0]" ;;
    *) case $def in true) echo false ;; false) echo true ;; null) echo true ;; *) echo "${type##*|}" ;; esac ;;
    esac
}
bad=0 n_works=0 n_refused=0 n_display=0
while IFS=$'\t' read -r key type def fate resume place note; do
    case $key in mode | task | resume | data | model | device | save_dir | cfg) continue ;; esac # the command's own
    v=$(other "$type" "$def")
    [ "$key" = fraction ] && v=0.5
    [ "$key" = epochs ] && v=3
    [ "$key" = imgsz ] && v=64
    [ "$key" = cache ] && v=ram
    case $fate in
    works)
        n_works=$((n_works + 1))
        # predict's keys are checked in predict mode (classes= is refused for train)
        case $note in
        predict*) : >x.pt && yolo-args parse detect predict model=x.pt "$key=$v" >/dev/null 2>err ;;
        *) parse "$key=$v" >/dev/null 2>err ;;
        esac || { bad=1; echo "# $key=$v (works) refused: $(cat err)"; }
        ;;
    refused)
        n_refused=$((n_refused + 1))
        parse "$key=$v" >/dev/null 2>err
        rc=$?
        if [ $rc -ne 2 ] || [ "$(grep -c . err)" -ne 1 ] || ! grep -q "is not supported" err; then
            bad=1; echo "# $key=$v (refused): exit $rc: $(cat err)"
        fi
        [ "$def" = null ] || parse "$key=$def" >/dev/null 2>&1 || { bad=1; echo "# $key=$def (its default) refused"; }
        ;;
    display-only)
        n_display=$((n_display + 1))
        parse "$key=$v" >/dev/null 2>err || { bad=1; echo "# $key=$v (display-only) refused: $(cat err)"; }
        grep -A1 "^\.BR $key \"" "$ROOT/man/man1/yolo.1" | grep -q "^display-only" ||
            { bad=1; echo "# $key: not documented as display-only in yolo(1)"; }
        ;;
    *) bad=1; echo "# $key: fate '$fate'" ;;
    esac
done <table.tsv
[ $bad = 0 ] && ok "every key's fate holds ($n_works work, $n_refused refused with one line and exit 2, $n_display display-only and documented)" ||
    fail "fates (see the lines above)"
# Apple's MPS is named as such (it said the machine had no NVIDIA driver)
check_fails "device=mps: Apple's MPS is not supported" 2 "^yolo: device=mps: Apple's Metal \(MPS\) is not supported; use device=cpu" \
    yolo-args parse detect train data=ds/data.yaml device=mps
# predict's own keys that are refused say what is missing (they said predict mode was not supported)
: >x.pt
check_fails "retina_masks= in predict names what is missing" 2 "^yolo: 'retina_masks=true' is not supported: masks at the original image's resolution are not supported" \
    yolo-args parse segment predict model=x.pt retina_masks=true
check_fails "vid_stride= in predict: videos are not supported" 2 "^yolo: 'vid_stride=2' is not supported: videos are not supported \(predict reads images" \
    yolo-args parse detect predict model=x.pt vid_stride=2
grep -q "predict mode is not supported" "$ROOT/man/man1/yolo.1" && fail "yolo(1) still says predict mode is not supported" ||
    ok "no key's fate says predict is not supported"

# ---- adjustments and warnings as 8.4.52 makes them
parse imgsz=100 >out 2>err && grep -q "^ARGS\[imgsz\]=128$" out && grep -q "imgsz=100 is not a multiple of the largest stride 32: using imgsz=128" err &&
    ok "imgsz=100 becomes 128, with the warning" || fail "imgsz=100: $(cat err)"
parse multi_scale=0.0 >/dev/null 2>&1 && ok "multi_scale=0.0 (a float, its default) is accepted" || fail "multi_scale=0.0 refused"
parse lr0=0.001 >/dev/null 2>err && grep -q "optimizer=auto ignores lr0" err && ok "optimizer=auto warns that lr0 is ignored" ||
    fail "no lr0 warning under optimizer=auto: $(cat err)"
parse optimizer=SGD lr0=0.001 >/dev/null 2>err && [ ! -s err ] && ok "optimizer=SGD lr0=: no warning" || fail "SGD lr0 warned: $(cat err)"
refused=""
for k in patience time save_period close_mosaic cache freeze val plots hsv_h mosaic; do
    yolo-args parse detect train resume model=x.pt "$k=$(grep -P "^$k\t" table.tsv | cut -f3 | sed 's/null/1/')" >/dev/null 2>&1 ||
        refused+=" $k"
done
[ -z "$refused" ] && ok "8.4.52's resume list (patience, time, save_period, close_mosaic, cache, freeze, val, plots, augmentation) may change on resume" ||
    fail "resume refuses:$refused"
check_fails "resume lr0= is refused" 2 "resume: lr0= cannot be changed on resume" yolo-args parse detect train resume model=x.pt lr0=0.1
yolo-args parse detect train resume=runs/x/weights/last.pt >rp.out 2>&1 &&
    grep -qx 'ARGS\[resume\]=true' rp.out && grep -qx 'ARGS\[model\]=runs/x/weights/last.pt' rp.out &&
    ok "resume=PATH.pt is resume model=PATH.pt (Ultralytics' trainer takes it too)" || fail "resume=PATH: $(cat rp.out)"
check_fails "resume=A.pt model=B.pt: two checkpoints" 2 "^yolo: resume=a.pt and model=b.pt name two checkpoints \(give one\)$" \
    yolo-args parse detect train resume=a.pt model=b.pt
check_fails "val of Ultralytics' pretrained weights, not here: they are never downloaded" 2 \
    "^yolo: model=yolov8n.pt: no such checkpoint here \(Ultralytics downloads its pretrained weights; yolo-tools never downloads: put yolov8n.pt in this folder, or train from scratch with a model YAML such as model=yolov8n.yaml\)$" \
    yolo-args parse detect val model=yolov8n.pt
# mode= and task= are Ultralytics' too: yolo mode=val model=... validated nothing, it trained a new run
: >m.pt
yolo-args parse mode=val model=m.pt >mv.out 2>mv.err && grep -qx 'MODE=val' mv.out && [ ! -s mv.err ] &&
    ok "mode=val is the val mode, as the word val is" || fail "mode=val: $(grep MODE mv.out; cat mv.err)"
check_fails "a mode word and another mode= are two modes" 2 "^yolo: two modes given \(train, mode=val\)$" \
    yolo-args parse train mode=val model=m.pt
check_fails "predict of a missing checkpoint in a folder" 2 "^yolo: model=runs/x/best.pt: no such checkpoint$" \
    yolo-args parse detect predict model=runs/x/best.pt source=a.jpg
# the model's task wins, as in Ultralytics: none given, it is taken; a task word that disagrees is
# overridden with a warning; a dataset of the other kind is refused before any folder exists
fashion_data classify cf 10 10
yolo-args parse train model=yolov8n-cls.yaml data=cf >t1.out 2>t1.err && grep -qx 'TASK=classify' t1.out && [ ! -s t1.err ] &&
    ok "yolo train model=yolov8n-cls.yaml: a classify run (runs/classify), as the model says" || fail "model's task: $(head -2 t1.out t1.err)"
yolo-args parse segment train model=yolov8n.yaml data=ds/data.yaml >t2.out 2>t2.err && grep -qx 'TASK=detect' t2.out &&
    grep -qx "yolo: task=segment conflicts with the model's task (detect): training task=detect, as the model is" t2.err &&
    ok "segment train model=yolov8n.yaml: detect, with a warning" || fail "conflicting task: $(cat t2.err)"
yolo-args parse segment val model="$DATA/ultralytics/yolov8n-fashion-final.pt" >t3.out 2>t3.err && grep -qx 'TASK=detect' t3.out &&
    grep -qx "yolo: task=segment conflicts with the model's task (detect): validating task=detect, as the model is" t3.err &&
    ok "segment val of a detect checkpoint: detect, with the warning (it was silent)" || fail "val task: $(cat t3.err)"
check_fails "classify train on a data.yaml: refused" 2 \
    "^yolo: data=ds/data.yaml: a detect or segment dataset \(a data.yaml with label files\); a classify model trains on a folder of class folders \(train/CLASS/\*.jpg\)$" \
    yolo-args parse classify train data=ds/data.yaml
check_fails "detect train on class folders: refused" 2 \
    "^yolo: data=cf: a classification dataset \(class folders\); a detect model trains on a data.yaml with label files$" \
    yolo-args parse train model=yolov8n.yaml data=cf
check_fails "batch=0.5 is named as given (no quotes of its own)" 2 \
    "^yolo: 'batch=0.5' is not valid: batch must be a whole number of images, 1 or more \(AutoBatch, batch=-1 or a fraction, is not supported\)$" \
    yolo-args parse detect train data=x batch=0.5
# cfg=FILE (Ultralytics' default.yaml, or a copy edited): its keys first, the command line's win
yolo-args parse cfg="$KEYS" data=ds/data.yaml >c1.out 2>c1.err && [ ! -s c1.err ] &&
    [ "$(grep '^ARGS' c1.out | tr '\n' ' ')" = "ARGS[task]=detect ARGS[mode]=train ARGS[data]=ds/data.yaml ARGS[model]=yolov8n.yaml " ] &&
    ok "cfg= of Ultralytics' whole default.yaml changes nothing but task and mode, and warns of nothing" ||
    fail "cfg=default.yaml: $(grep ARGS c1.out | tr '\n' ' ') $(cat c1.err)"
sed -e 's/^epochs:.*/epochs: 7/' -e 's/^imgsz:.*/imgsz: 96/' -e 's/^mode:.*/mode: val/' -e 's/^cos_lr:.*/cos_lr: true/' "$KEYS" >c.yaml
yolo-args parse train cfg=c.yaml data=ds/data.yaml epochs=3 >c2.out 2>&1 && grep -qx 'MODE=train' c2.out &&
    grep -qx 'ARGS\[epochs\]=3' c2.out && grep -qx 'ARGS\[imgsz\]=96' c2.out && grep -qx 'ARGS\[cos_lr\]=true' c2.out &&
    ! grep -q '^ARGS\[cfg\]' c2.out && ok "cfg= keys apply; the command line's keys and mode word win over the file's" ||
    fail "cfg= keys: $(grep -E 'MODE|ARGS' c2.out | tr '\n' ' ')"
yolo-args parse detect train cfg=c.yaml data=ds/data.yaml optimizer=SGD lr0=0.02 momentum=0.9 >c5.out 2>c5.err &&
    grep -qx 'ARGS\[model\]=yolov8n.yaml' c5.out && grep -qx 'TASK=detect' c5.out &&
    ok "task and mode words over a cfg= file's, with many keys (yolo-args crashed: a key added to a dict after deletions)" ||
    fail "cfg= with task and mode words: $(tail -1 c5.err)"
printf 'epochs: abc\n' >c3.yaml
check_fails "a bad value in a cfg= file names the file" 2 "^yolo: cfg=c3.yaml: 'epochs=abc' is not valid: epochs must be an integer of at least 1$" \
    yolo-args parse cfg=c3.yaml data=ds/data.yaml
printf 'epoch: 3\n' >c4.yaml
check_fails "a typo in a cfg= file names the file and the key meant" 2 "^yolo: cfg=c4.yaml: 'epoch' is not a valid key. Similar: 'epochs'" \
    yolo-args parse cfg=c4.yaml data=ds/data.yaml
check_fails "cfg= on resume is refused" 2 "^yolo: resume: cfg=c.yaml: a resume takes the run's settings from its checkpoint" \
    yolo-args parse train resume model=x.pt cfg=c.yaml
check_fails "cfg= of a missing file" 2 "^yolo: nope.yaml: cannot open \(No such file or directory\)$" yolo-args parse cfg=nope.yaml
# the trainer's micro-batch rule, for the script before anything is written (lib/microsplit.c)
check_out "yolo-args split 16 2: micro-batches of 8" '^8$' yolo-args split 16 2
check_fails "yolo-args split 16 3: a new run's batch that world=3 cannot split" 2 \
    '^yolo: batch=16 cannot be split evenly over world=3 ranks \(give a batch that 3 divides\)$' yolo-args split 16 3
check_fails "yolo-args split: a resumed run's 2 micro-batches on 3 ranks" 2 \
    "^yolo: r.pt: world=3 cannot split the run's 2 micro-batches of 4 \(batch 8\) evenly \(use world=1 or 2\)$" \
    yolo-args split 8 3 4 8 r.pt
check_out "yolo-args split: a run of whole batches stays whole when batch changes" '^12$' yolo-args split 12 1 8 8 r.pt
check_fails "yolo-args split: a micro-batch that does not divide the batch" 2 \
    "^yolo: micro_batch=5: batch=16 is not a whole number of the run's micro-batches of 5" yolo-args split 16 1 5 0 micro_batch=5
check_fails "yolo-args split: not a count" 2 "^yolo-args: split: 'x' is not a count$" yolo-args split 16 x

# ---- keys that yolo-data applies: cache (same bytes, a memory figure) and single_cls (one class)
s() { yolo-data ds/data.yaml --split train --epoch 1 --seed 3 --imgsz 64 --workers 1 "$@"; }
s >plain.bin 2>/dev/null
s cache=ram >ram.bin 2>ram.err
cmp -s plain.bin ram.bin && grep -Eq "caching the train images \([0-9.]+ MB of RAM\)" ram.err &&
    ok "cache=ram: the same stream, and the memory it takes" || fail "cache=ram: $(cat ram.err)"
cp -r ds dsk
sd() { yolo-data dsk/data.yaml --split train --epoch 1 --seed 3 --imgsz 64 --workers 1 "$@"; }
sd >dplain.bin 2>/dev/null && sd cache=disk >disk1.bin 2>/dev/null && sd cache=disk >disk2.bin 2>disk.err
n=$(find dsk -name '*.rgb.npy' | wc -l)
[ "$n" -gt 0 ] && cmp -s dplain.bin disk1.bin && cmp -s dplain.bin disk2.bin &&
    ok "cache=disk: $n decoded images beside theirs, the same stream written and read back" ||
    fail "cache=disk: $n files, $(cat disk.err)"
if [ "$n" -gt 0 ] && "$PYTHON" -c 'import numpy, sys; a = numpy.load(sys.argv[1]); assert a.dtype == numpy.uint8 and a.ndim == 3 and a.shape[2] == 3' \
    "$(find dsk -name '*.rgb.npy' | head -1)" 2>/dev/null; then ok "a .rgb.npy file is a numpy uint8 HxWx3 array"
else fail "a .rgb.npy file numpy cannot read"; fi
s single_cls=true | yolo-data dump 2>/dev/null | head -1 >sc.hdr
grep -q '"nc": *1' sc.hdr && grep -q '"item"' sc.hdr && ok "single_cls=true: a stream of one class, 'item'" ||
    fail "single_cls header: $(head -c 300 sc.hdr)"

# ---- 21 bad command lines: exit 2, one line, and nothing on disk (no run folder, no run number used)
mkdir -p bad && cd bad
cp -r ../ds . && printf 'names: [a]\ntrain: [' >broken.yaml
lines=(
    "detect train data=ds/data.yaml imgsz=0"
    "detect train data=ds/data.yaml batch=-1"
    "detect train data=ds/data.yaml epochs=0"
    "detect train data=ds/data.yaml model=yolov9z.yaml"
    "detect train data=ds/data.yaml device=0"
    "detect train data=ds/data.yaml device=mps"
    "detect train data=ds/data.yaml optimizer=RMSProp"
    "detect train data=broken.yaml"
    "detect train data=nowhere.yaml"
    "detect train data=ds/data.yaml epoch=3"
    "detect train data=ds/data.yaml lr0=2"
    "detect train data=ds/data.yaml cos_lr=1"
    "detect train data=ds/data.yaml rect=maybe"
    "detect train data=ds/data.yaml half=true"
    "detect train data=ds/data.yaml multi_scale=0.5"
    "detect train data=ds/data.yaml cache=maybe"
    "detect train data=ds/data.yaml classes=[0]"
    "pose train data=ds/data.yaml"
    "detect export model=x.pt"
    "detect train data=ds/data.yaml workers"
    "detect train model=yolov8n.yaml"
)
before=$(find . | sort)
bad=0
for l in "${lines[@]}"; do
    # shellcheck disable=SC2086
    # (a line that became valid would start a training: it is stopped and fails the check)
    timeout -s INT 20 yolo $l >out 2>err
    rc=$?
    if [ $rc -ne 2 ] || [ "$(grep -c . err)" -ne 1 ] || ! grep -q '^yolo: ' err; then bad=1; echo "# yolo $l: exit $rc: $(tr '\n' '|' <err)"; fi
done
rm -f out err
[ "$(find . | sort)" = "$before" ] && [ $bad = 0 ] && ok "${#lines[@]} bad command lines: exit 2, one line each, nothing written" ||
    fail "bad command lines (above); files now: $(find . -newer broken.yaml | tr '\n' ' ')"
yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=4 workers=1 plots=false >/dev/null 2>&1
[ -d runs/detect/train ] && [ ! -e runs/detect/train2 ] && ok "the next run after them is runs/detect/train (no number used up)" ||
    fail "run folders after the bad lines: $(ls runs/detect 2>&1 | tr '\n' ' ')"
cd ..

# ---- keys that change the training: single_cls makes one class; cache=ram trains the same bits
t() { yolo detect train data=ds/data.yaml epochs=1 imgsz=64 batch=4 workers=1 plots=false seed=1 exist_ok=true "$@" >/dev/null 2>"$T/t.err"; }
if t name=sc single_cls=true; then
    yolo-ckpt inspect --json runs/detect/sc/weights/last.pt >sc.json
    grep -q '"nc": 1,' sc.json && grep -q '"0": "item"' sc.json && ok "single_cls=true trains one class, 'item' (nc 1)" ||
        fail "single_cls: $(grep -m2 '"nc"\|"0"' sc.json | tr '\n' ' ')"
else fail "single_cls=true run: $(tail -2 "$T/t.err")"; fi
if t name=plain && t name=ram cache=ram; then
    yolo-ckpt diff runs/detect/plain/weights/last.pt runs/detect/ram/weights/last.pt >/dev/null &&
        ok "cache=ram gives the same checkpoint as no cache" || fail "cache=ram changed the weights"
else fail "cache runs: $(tail -2 "$T/t.err")"; fi
grep -q '^cache: ram$' runs/detect/ram/args.yaml && ok "args.yaml records cache: ram" || fail "args.yaml: $(grep cache runs/detect/ram/args.yaml)"
t name=nosave save=false && [ -f runs/detect/nosave/results.csv ] && [ ! -e runs/detect/nosave/weights/last.pt ] &&
    ok "save=false keeps no weights once the run is done" || fail "save=false: $(ls runs/detect/nosave/weights 2>&1)"

# ---- every default is written once: the yolo script takes them from the table, and has none of its own
yolo cfg >cfg.script && yolo-args cfg >cfg.table && cmp -s cfg.script cfg.table && ok "yolo cfg is the table's" ||
    fail "yolo cfg differs from yolo-args cfg"
disagree=""
while read -r key lit; do
    def=$(awk -F'\t' -v k="$key" '$1 == k { print $3 }' table.tsv)
    [ -n "$def" ] && [ "$lit" != "$def" ] && disagree+=" $key(script $lit, table $def)"
done < <(grep -oE '\$\{(Y|ARGS)\[[a-z_]+\]:-[^$}][^}]*\}' "$ROOT/scripts/yolo" | sed -E 's/^\$\{[A-Z]+\[([a-z_]+)\]:-(.*)\}$/\1 \2/')
table_lines=$(grep -cE '^[a-z_]+ [^ ]+ (int|float|frac|bool|str)$' "$ROOT/scripts/yolo")
[ -z "$disagree" ] && [ "$table_lines" = 0 ] && ok "scripts/yolo writes no default of its own (its fallbacks are DEF[...], the table's)" ||
    fail "scripts/yolo and the table disagree:$disagree (table-like lines: $table_lines)"
