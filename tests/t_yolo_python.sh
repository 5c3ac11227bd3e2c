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
check "YOLO(last.pt).train(resume=True, epochs=1) trains one more epoch" py '
from ultralytics_shim import YOLO
m = YOLO("runs/detect/train/weights/last.pt")
assert m.task == "detect", m.task
m.train(resume=True, epochs=1)'
[ "$(wc -l <runs/detect/train/results.csv)" -eq 3 ] && ok "results.csv has 2 epochs" || fail "results.csv: $(wc -l <runs/detect/train/results.csv) lines"
check "resume of a finished run raises RuntimeError with the yolo message" py '
from ultralytics_shim import YOLO
try:
    YOLO("runs/detect/train/weights/last.pt").train(resume=True)
except RuntimeError as e:
    assert "training finished (2 of 2 epochs done)" in str(e), e
else:
    raise SystemExit("no error")'
exit 0
