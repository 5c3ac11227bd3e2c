"""Ultralytics' Python entry point over the yolo-tools command line (stdlib only).

    from ultralytics_shim import YOLO          # or, with python/ on sys.path: from ultralytics import YOLO
    YOLO("yolov8n.yaml").train(data="data.yaml", epochs=100, imgsz=640)
    YOLO("runs/detect/train/weights/last.pt").train(resume=True)
    YOLO("runs/detect/train/weights/last.pt").train(resume=True, epochs=50)   # 50 more epochs

Every call runs the `yolo` script (see yolo(1)) with Ultralytics' key=value arguments, so the rules
of the command line hold here too: on resume only batch, imgsz, device, workers, save_every and
epochs may be given. A failed run raises RuntimeError with the script's error line.
"""
import json
import os
import shutil
import subprocess
import sys

__all__ = ["YOLO"]


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

    def _guess_task(self):
        name = os.path.basename(self.model)
        if name.endswith(".pt") and os.path.exists(self.model):
            ckpt = shutil.which("yolo-ckpt") or os.path.join(os.path.dirname(_yolo_script()), "yolo-ckpt")
            try:
                out = subprocess.run([ckpt, "inspect", "--json", self.model], capture_output=True, text=True, check=True)
                task = json.loads(out.stdout).get("task")
                if task in ("detect", "segment", "classify"):
                    return task
            except (OSError, subprocess.CalledProcessError, ValueError):
                pass
        if "-seg" in name:
            return "segment"
        if "-cls" in name:
            return "classify"
        return "detect"

    def _run(self, mode, kwargs):
        args = [_yolo_script(), self.task, mode]
        kwargs = dict(kwargs)
        if kwargs.pop("resume", False):
            args.append("resume")
        kwargs.setdefault("model", self.model)
        args += ["%s=%s" % (k, _value(v)) for k, v in kwargs.items()]
        proc = subprocess.run(args, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            lines = [l for l in proc.stderr.splitlines() if l.startswith("yolo")]
            raise RuntimeError(lines[-1] if lines else "yolo %s failed (exit %d)" % (mode, proc.returncode))
        return proc.returncode

    def train(self, **kwargs):
        """yolo TASK train ...; resume=True continues the run of this last.pt."""
        return self._run("train", kwargs)

    def val(self, **kwargs):
        """yolo TASK val ...: the validation table of this model."""
        return self._run("val", kwargs)
