# The stdlib-only Python shim: the guide's YOLO(...).train(resume=True, epochs=N) drives the yolo script.
. "$(dirname "$0")/lib.sh"
cd "$T"
fashion_data detect ds 8 4
export PYTHONPATH=$ROOT/python
py() { "$PYTHON" -S -c "$@"; }  # -S: no site packages, so the real ultralytics can never answer
check "YOLO('yolov8n.yaml').train(...) starts a run" py '
from ultralytics import YOLO
YOLO("yolov8n.yaml").train(data="ds/data.yaml", epochs=1, imgsz=64, batch=4, workers=1)'
[ -f runs/detect/train/weights/last.pt ] && ok "runs/detect/train/weights/last.pt written" || fail "no last.pt"
check "YOLO(last.pt).train(resume=True, epochs=1) trains one more epoch and returns the final metrics" py '
from ultralytics_shim import YOLO
m = YOLO("runs/detect/train/weights/last.pt")
assert m.task == "detect", m.task
r = m.train(resume=True, epochs=1)
assert r.save_dir == "runs/detect/train", r.save_dir
assert "metrics/mAP50-95(B)" in r.results_dict and r.fitness is not None and len(r.rows) == 2, r
assert r.rows[-1]["epoch"] == 2, r.rows'
[ "$(wc -l <runs/detect/train/results.csv)" -eq 3 ] && ok "results.csv has 2 epochs" || fail "results.csv: $(wc -l <runs/detect/train/results.csv) lines"
yolo-eval model=runs/detect/train/weights/best.pt data=ds/data.yaml imgsz=64 --json >want.json 2>/dev/null
check "after train(), the model is the run's best.pt; val() returns its metrics (box.map, maps, results_dict)" py '
import json
from ultralytics import YOLO
m = YOLO("yolov8n.yaml")
m.train(data="ds/data.yaml", epochs=1, imgsz=64, batch=4, workers=1, name="v", plots=False)
assert m.model == "runs/detect/v/weights/best.pt", m.model
r = YOLO("runs/detect/train/weights/best.pt").val(data="ds/data.yaml", plots=False)
w = json.load(open("want.json"))
assert r.box.map == w["metrics/mAP50-95(B)"] and r.box.map50 == w["metrics/mAP50(B)"], (r, w)
assert r.box.mp == w["metrics/precision(B)"] and r.fitness == w["fitness"] and len(r.box.maps) == 10, r
assert r.results_dict["metrics/mAP50-95(B)"] == r.box.map
assert isinstance(m.val(plots=False).box.map, float)'
check "resume of a finished run raises RuntimeError with the yolo message" py '
from ultralytics_shim import YOLO
try:
    YOLO("runs/detect/train/weights/last.pt").train(resume=True)
except RuntimeError as e:
    assert "training finished (2 of 2 epochs done)" in str(e), e
else:
    raise SystemExit("no error")'
# progress as it happens: the first epoch's lines are on stderr while the run is still going (a job
# of its own, so that the terminal's Ctrl+C, SIGINT to the whole group, can be sent)
set -m
"$PYTHON" -S -c '
from ultralytics import YOLO
YOLO("yolov8n.yaml").train(data="ds/data.yaml", epochs=3, imgsz=64, batch=4, workers=1, name="live", plots=False)' 2>live.err &
pid=$!
live=0
for _ in $(seq 600); do grep -q " 1/3 .*it/s" live.err 2>/dev/null && { kill -0 $pid 2>/dev/null && live=1; break; }; sleep 0.05; done
# Ctrl+C (the terminal's SIGINT to the group): the saved position and the resume call, as an exception
kill -INT -- -$pid
wait $pid
rc=$?
set +m
[ $live = 1 ] && ok "train() streams progress while it runs" || fail "no live progress: $(head -3 live.err | tr '\n' '|')"
grep -q "KeyboardInterrupt: training interrupted; runs/detect/live/weights/last.pt holds the training state (resume: YOLO('runs/detect/live/weights/last.pt').train(resume=True))" live.err &&
    ok "Ctrl+C in train() ends with the saved position and the resume call" || fail "Ctrl+C (exit $rc): $(tail -3 live.err | tr '\n' '|')"
need "$DATA/ultralytics/yolov8n-fashion-final.pt" "$DATA/fashion_det/images/val"
check "YOLO(w).predict(folder): one result per image with boxes, classes and confidences" py '
import sys
from ultralytics import YOLO
rs = YOLO(sys.argv[1]).predict(sys.argv[2], conf=0.3)
assert len(rs) == 16, len(rs)
r = [r for r in rs if r.path.endswith("val_00002.png")][0]
assert len(r) == 1 and r.boxes.cls == [8] and r.names[8] == "Bag", r
assert 0.3 < r.boxes.conf[0] < 1 and abs(r.boxes.xywhn[0][0] - 0.7068) < 1e-3, r.boxes.xywhn
assert all(len(b) == 4 for x in rs for b in x.boxes.xyxy)
import os
assert not os.path.exists("runs/detect/predict"), "saved without save=True"' "$DATA/ultralytics/yolov8n-fashion-final.pt" "$DATA/fashion_det/images/val"
check "YOLO(w).names and YOLO(w)(source) as in Ultralytics; export() says what to do instead" py '
import sys
from ultralytics import YOLO
m = YOLO(sys.argv[1])
assert m.names[8] == "Bag" and len(m.names) == 10, m.names
assert len(m(sys.argv[2], conf=0.3)) == 16
try:
    m.export(format="onnx")
except NotImplementedError as e:
    assert "export(format=\x27onnx\x27) is not supported by yolo-tools: `yolo-ckpt export " in str(e), e
else:
    raise SystemExit("export() did not raise")' "$DATA/ultralytics/yolov8n-fashion-final.pt" "$DATA/fashion_det/images/val"
check "YOLO(w).predict(missing) raises RuntimeError with the yolo message" py '
from ultralytics import YOLO
try:
    YOLO("runs/detect/train/weights/last.pt").predict("nowhere.png")
except RuntimeError as e:
    assert "no such file or folder" in str(e), e
else:
    raise SystemExit("no error")'
exit 0
