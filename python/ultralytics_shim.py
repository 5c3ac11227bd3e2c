"""Ultralytics' Python entry point over the yolo-tools command line (stdlib only).

    from ultralytics_shim import YOLO          # or, with python/ on sys.path: from ultralytics import YOLO
    YOLO("yolov8n.yaml").train(data="data.yaml", epochs=100, imgsz=640)
    YOLO("runs/detect/train/weights/last.pt").train(resume=True)
    YOLO("runs/detect/train/weights/last.pt").train(resume=True, epochs=50)   # 50 more epochs
    for r in YOLO("runs/detect/train/weights/best.pt").predict("images/"):     # one Results per image
        print(r.path, r.boxes.xyxy, r.boxes.conf, r.boxes.cls)
    print(YOLO("runs/detect/train/weights/best.pt").val().box.map)             # the metrics, by name

Every call runs the `yolo` script (see yolo(1)) with Ultralytics' key=value arguments, so the rules
of the command line hold here too: on resume only the keys yolo(1) marks "resume" may be given (data=: the run's
dataset where it is now, with the same class names).
Training shows its progress as it happens and returns a TrainResults with the final metrics, and the
model becomes the run's best.pt (as in Ultralytics, val() and predict() then use it); Ctrl+C
stops it at the saved position and raises KeyboardInterrupt naming the resume call. A failed run
raises RuntimeError with the script's error line.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

__all__ = ["YOLO", "Results", "Boxes", "Probs", "TrainResults", "ValResults"]


def _yolo_script():
    """The yolo script: $YOLO_SCRIPT, then PATH, then the source tree next to this file."""
    env = os.environ.get("YOLO_SCRIPT")
    if env:
        return env
    found = shutil.which("yolo")
    if found:
        return found
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "yolo")
    if os.path.exists(here):
        return here
    raise RuntimeError("cannot find the yolo script (put it on PATH or set YOLO_SCRIPT)")


def _value(v):
    # the command line's spelling of Python values: True -> true, None -> none, [1, 2] -> [1,2]
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return str(v)


class YOLO:
    """A model (a .yaml to build, a .pt to fine-tune or resume) and the task it is for."""

    def __init__(self, model="yolov8n.yaml", task=None, verbose=False):
        self.model = str(model)
        self.task = task or self._guess_task()
        self.verbose = verbose

    def _inspect(self):
        """yolo-ckpt inspect --json of a .pt model ({} for anything else or on failure)."""
        if not (self.model.endswith(".pt") and os.path.exists(self.model)):
            return {}
        ckpt = shutil.which("yolo-ckpt") or os.path.join(os.path.dirname(_yolo_script()), "yolo-ckpt")
        try:
            out = subprocess.run([ckpt, "inspect", "--json", self.model], capture_output=True, text=True, check=True)
            return json.loads(out.stdout)
        except (OSError, subprocess.CalledProcessError, ValueError):
            return {}

    def _guess_task(self):
        name = os.path.basename(self.model)
        task = self._inspect().get("task")
        if task in ("detect", "segment", "classify"):
            return task
        if "-seg" in name:
            return "segment"
        if "-cls" in name:
            return "classify"
        return "detect"

    def _run(self, mode, kwargs, extra=(), capture=False, run_file=None):
        args = [_yolo_script(), self.task, mode]
        kwargs = dict(kwargs)
        if kwargs.pop("resume", False):
            args.append("resume")
        kwargs.setdefault("model", self.model)
        args += ["%s=%s" % (k, _value(v)) for k, v in kwargs.items()] + list(extra)
        env = dict(os.environ)
        if run_file:
            env["YOLO_RUN_FILE"] = run_file  # the script writes the run folder there
        # stderr streams as it comes: straight to a terminal (the progress bar), else line by line,
        # keeping the script's last words for the error
        tty = sys.stderr.isatty()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE if capture else None,
                                stderr=None if tty else subprocess.PIPE, text=True, env=env)
        last = []
        pump = None
        if not tty:
            def copy():
                for line in proc.stderr:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                    if line.startswith("yolo"):
                        last[:] = [line.rstrip("\n")]
            pump = threading.Thread(target=copy, daemon=True)
            pump.start()
        try:
            out = proc.stdout.read() if capture else None
            rc = proc.wait()
        except KeyboardInterrupt:
            # Ctrl+C reached the whole process group: the trainer saves its position and the script
            # exits 130 (a signal sent to Python alone is passed on)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait()
            if pump:
                pump.join()
            raise KeyboardInterrupt(self._interrupted(run_file)) from None
        if pump:
            pump.join()
        if rc == 130:
            raise KeyboardInterrupt(self._interrupted(run_file))
        if rc != 0:
            raise RuntimeError(last[-1] if last else "yolo %s failed (exit %d; its message is above)" % (mode, rc))
        return out if capture else rc

    def _interrupted(self, run_file):
        run = _read_run(run_file)
        last = os.path.join(run, "weights", "last.pt") if run else self.model
        return "training interrupted; %s holds the training state (resume: YOLO(%r).train(resume=True))" % (last, last)

    def train(self, **kwargs):
        """yolo TASK train ...; resume=True continues the run of this last.pt. Returns a TrainResults:
        the run folder and the final metrics (those of best.pt, as Ultralytics returns them)."""
        fd, run_file = tempfile.mkstemp(prefix="yolo-run.")
        os.close(fd)
        try:
            self._run("train", kwargs, run_file=run_file)
            run = _read_run(run_file)
        finally:
            os.unlink(run_file)
        # as Ultralytics, the model is now the run's best weights (else its last): val() and predict()
        # use them
        for name in ("best.pt", "last.pt"):
            trained = os.path.join(run, "weights", name)
            if run and os.path.exists(trained):
                self.model = trained
                break
        return TrainResults(run)

    def val(self, **kwargs):
        """yolo TASK val ...: prints the validation table and returns a ValResults (the metrics, as
        Ultralytics' metrics object names them). Without data=, the model's own dataset."""
        out = self._run("val", kwargs, extra=["--json"], capture=True)
        return ValResults(json.loads(out), self.task, len(self._inspect().get("names", {})))

    def predict(self, source=None, **kwargs):
        """yolo TASK predict ...: a list with one Results per image. As in Ultralytics' Python API nothing
        is saved unless save=True (or save_txt=True, save_crop=True) is given."""
        if source is not None:
            kwargs["source"] = source
        kwargs.setdefault("save", False)
        names = {int(k): v for k, v in self._inspect().get("names", {}).items()}
        out = self._run("predict", kwargs, extra=["--json"], capture=True)
        return [Results(json.loads(line), names) for line in out.splitlines() if line.strip()]

    __call__ = predict

    @property
    def names(self):
        """The class names of a .pt model, {index: name} as Ultralytics gives them ({} for a .yaml)."""
        return {int(k): v for k, v in self._inspect().get("names", {}).items()}

    def export(self, format="torchscript", **kwargs):
        """Not here: yolo-tools writes no ONNX, TorchScript or other export formats. Its checkpoints load in
        Ultralytics (yolo-ckpt export MODEL.pt -o OUT.pt), which exports them."""
        raise NotImplementedError(
            "export(format=%r) is not supported by yolo-tools: `yolo-ckpt export %s -o OUT.pt` writes weights "
            "that Ultralytics' YOLO(\"OUT.pt\") opens, and Ultralytics exports those" % (format, self.model))


class Boxes:
    """The detections of one image: xyxy (pixels of the original image), conf and cls, best first."""

    def __init__(self, xyxy, conf, cls, orig_shape):
        self.xyxy, self.conf, self.cls, self.orig_shape = xyxy, conf, cls, orig_shape

    def __len__(self):
        return len(self.conf)

    @property
    def xywh(self):
        return [[(a + c) / 2, (b + d) / 2, c - a, d - b] for a, b, c, d in self.xyxy]

    @property
    def xywhn(self):
        h, w = self.orig_shape
        return [[x / w, y / h, bw / w, bh / h] for x, y, bw, bh in self.xywh]


class Probs:
    """A classification: the five best classes and their probabilities."""

    def __init__(self, top5, top5conf):
        self.top5, self.top5conf = top5, top5conf
        self.top1, self.top1conf = top5[0], top5conf[0]


class Results:
    """What predict found in one image: path, orig_shape (h, w), names, and boxes or probs."""

    def __init__(self, d, names):
        self.path = d["image"]
        self.orig_shape = tuple(d["orig_shape"])
        self.names = names
        self.boxes = Boxes(d["boxes"], d["conf"], d["cls"], self.orig_shape) if "boxes" in d else None
        self.probs = Probs(d["top5"], d["top5conf"]) if "top5" in d else None

    def __len__(self):
        return len(self.boxes) if self.boxes is not None else 0

    def __repr__(self):
        what = "%d boxes" % len(self.boxes) if self.boxes is not None else "top1 %s" % self.names.get(self.probs.top1)
        return "Results(%s: %s)" % (self.path, what)


def _read_run(run_file):
    try:
        with open(run_file) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return ""


class Metric:
    """Box or mask metrics as Ultralytics' Metric names them: map (mAP50-95), map50, map75, mp (mean
    precision), mr (mean recall) and maps (mAP50-95 per class, by class id)."""

    def __init__(self, d, suffix, prefix, nc):
        self.mp = d.get("metrics/precision(%s)" % suffix, 0.0)
        self.mr = d.get("metrics/recall(%s)" % suffix, 0.0)
        self.map50 = d.get("metrics/mAP50(%s)" % suffix, 0.0)
        self.map = d.get("metrics/mAP50-95(%s)" % suffix, 0.0)
        self.map75 = d.get("metrics/mAP75(%s)" % suffix, 0.0)
        # (a class without val labels has the overall mAP50-95, as in Ultralytics)
        per = {c["class"]: c.get(prefix + "mAP50-95", 0.0) for c in d.get("classes", [])}
        self.maps = [per.get(i, self.map) for i in range(max(nc, max(per, default=-1) + 1))]


class ValResults:
    """What val() returns: results_dict (the metrics and fitness), fitness, and box (detect, segment),
    seg (segment) or top1/top5 (classify), as Ultralytics' metrics objects have them."""

    def __init__(self, d, task, nc):
        self.results_dict = {k: v for k, v in d.items() if k.startswith("metrics/") or k == "fitness"}
        self.fitness = d.get("fitness")
        if task == "classify":
            self.top1 = d.get("metrics/accuracy_top1", 0.0)
            self.top5 = d.get("metrics/accuracy_top5", 0.0)
        else:
            self.box = Metric(d, "B", "", nc)
            if task == "segment":
                self.seg = Metric(d, "M", "mask_", nc)

    def __repr__(self):
        return "ValResults(%s)" % ", ".join("%s=%.5g" % kv for kv in self.results_dict.items())


class TrainResults:
    """What train() returns: save_dir (the run folder), results_dict (the final metrics and fitness, as
    Ultralytics' metrics object has them), the epoch they are from and the rows of results.csv."""

    def __init__(self, save_dir):
        self.save_dir = save_dir
        self.results_dict, self.epoch, self.rows = {}, None, []
        weights = os.path.join(save_dir, "weights")
        for name in ("best.pt", "last.pt"):
            info = YOLO(os.path.join(weights, name), task="detect")._inspect()
            if info.get("metrics"):
                self.results_dict = dict(info["metrics"])
                self.epoch = info.get("epochs_done")
                break
        try:
            with open(os.path.join(save_dir, "results.csv")) as f:
                self.rows = [{k.strip(): float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except (OSError, ValueError):
            pass

    @property
    def fitness(self):
        return self.results_dict.get("fitness")

    def __repr__(self):
        return "TrainResults(%s: %s)" % (self.save_dir, ", ".join("%s=%.5g" % kv for kv in self.results_dict.items()))
