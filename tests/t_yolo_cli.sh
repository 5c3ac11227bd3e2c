# The `yolo` command grammar: keys, types and special words.
. "$(dirname "$0")/lib.sh"
Y="$ROOT/scripts/yolo"
check_out "yolo version" '^yolo-tools [0-9]' "$Y" version
check_out "yolo help shows usage" 'usage: yolo TASK MODE' "$Y" help
check_out "yolo cfg prints defaults" '^epochs: 100$' "$Y" cfg
check_out "yolo cfg has lr0" '^lr0: 0.01$' "$Y" cfg
check_fails "unknown key suggests the nearest" 2 "'epoch' is not a valid key. Similar: 'epochs'" "$Y" detect train epoch=3
check_fails "fraction out of range" 2 "lr0 must be a number from 0 to 1" "$Y" detect train lr0=2
check_fails "integer key with text" 2 "epochs must be an integer" "$Y" detect train epochs=ten
check_fails "bool key with junk" 2 "val must be true or false" "$Y" detect train val=maybe
check_fails "bare non-bool key" 2 "'workers' needs a value: missing '='" "$Y" detect train workers
check_fails "multi_scale=true is refused, not ignored" 2 "'multi_scale=true' is not supported" "$Y" detect train data=x.yaml multi_scale=true
check_fails "a missing dataset is one line, exit 2, before any run folder" 2 "data=nowhere/d.yaml: no such file or folder" \
    "$Y" detect train data=nowhere/d.yaml project=$T/mr
[ ! -e "$T/mr" ] && ok "a missing dataset leaves no run folder" || fail "a missing dataset left $T/mr behind"
check_fails "unsupported mode" 2 "mode 'track' is not supported \(train, val and predict are\)" "$Y" detect track
check_fails "export mode points to yolo-ckpt export" 2 "mode 'export' is not supported \(train, val and predict are; yolo-ckpt export MODEL.pt -o OUT.pt writes weights" "$Y" export model=x.pt
check_fails "yolo settings: one line, exit 2" 2 "^yolo: 'settings': yolo-tools keeps no settings of its own" "$Y" settings
check_fails "Ultralytics' other commands: one line, exit 2" 2 "^yolo: 'checks' is an Ultralytics command that yolo-tools does not have" "$Y" checks
(cd "$T" && "$Y" copy-cfg >cc.out 2>&1 && "$Y" cfg | cmp -s - default_copy.yaml) &&
    ok "yolo copy-cfg writes every key with its default to ./default_copy.yaml" || fail "copy-cfg: $(cat "$T/cc.out")"
echo "epochs: 5" >"$T/default_copy.yaml"
check_fails "yolo copy-cfg never replaces a copy (perhaps edited)" 1 "default_copy.yaml is here already \(edit it, or remove it for a fresh copy\)" \
    sh -c "cd '$T' && '$Y' copy-cfg"
[ "$(cat "$T/default_copy.yaml")" = "epochs: 5" ] && ok "the edited copy is kept" || fail "copy-cfg replaced the copy"
rm -f "$T/default_copy.yaml"
check_fails "predict needs model=" 2 "model= is required for predict" "$Y" detect predict source=x.jpg
check_fails "predict needs source=" 2 "source= is required for predict" "$Y" detect predict model="$DATA/ultralytics/yolov8n-fashion-final.pt"
check_fails "--json is for val and predict" 2 "--json is for val and predict" "$Y" detect train data=x --json
check_fails "two tasks" 2 "two tasks given" "$Y" detect segment train

# Resume rules that are decided before any training starts.
cd "$T" && mkdir -p runs/detect/train/weights && : >runs/detect/train/weights/best.pt && : >runs/detect/train/weights/last.pt
check_fails "resume from best.pt is refused with a hint" 1 "best.pt holds the best weights.*resume from last.pt" \
    "$Y" detect train resume model=runs/detect/train/weights/best.pt
check_fails "resume from a missing file names the newest last.pt" 1 \
    "gone/last.pt: no such checkpoint \(newest last.pt found: runs/detect/train/weights/last.pt\)" \
    "$Y" detect train resume model=gone/last.pt
check_fails "resume refuses hyper-parameter changes" 2 "lr0= cannot be changed on resume: the dataset and the other settings come from the checkpoint" \
    "$Y" detect train resume model=runs/detect/train/weights/last.pt lr0=0.02
check_fails "train needs data=" 2 "data= is required" "$Y" detect train model=yolov8n.yaml
check_fails "val needs model=" 2 "model= is required for val" "$Y" detect val data=x.yaml
check_fails "save_every is allowed on resume, lr0 not" 2 "lr0= cannot be changed on resume" \
    "$Y" detect train resume model=runs/detect/train/weights/last.pt save_every=2 lr0=0.02
check_fails "bare resume with no runs/ says where to look" 1 "no last.pt found under runs/" \
    sh -c "cd / && '$Y' detect train resume"
check_fails "yolo-sweep checks the task" 2 "task must be detect, segment or classify" "$ROOT/scripts/yolo-sweep" pose data=x -- lr0=1,2
