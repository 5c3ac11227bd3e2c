#!/usr/bin/env bash
# yolo-ckpt export --format ultralytics: weights in the layout Ultralytics' YOLO("model.pt") opens.
# - The real Ultralytics 8.4.52 final files, imported and exported again, are the same files: value by
#   value with our reader (test_ultratree --compare) and with torch.load, Ultralytics' classes served
#   by stand-ins (every class, attribute, type, shared object, tensor dtype, stride and byte).
# - Detect, segment and classify files made from our layout: torch.load finds every module and tensor
#   in place; each torch module has exactly the attributes torch gives a new one built with the same
#   arguments; the classifier's transforms are torchvision's and work on an image.
. "$(dirname "$0")/lib.sh"
need_python_torch
"$PYTHON" -c 'import torchvision' 2>/dev/null || { fail "missing: python3-torchvision for $PYTHON (make deps installs it)"; exit 1; }
R=$DATA/ultralytics
FINAL=$R/yolov8n-fashion-final.pt
E30=$R/yolov8n-fashion256-e30.pt
CK=$BIN/yolo-ckpt
CMP=$ROOT/$BUILD/tests/test_ultratree
need "$FINAL" "$E30" "$DATA/golden/det_forward.pt" "$DATA/golden/seg_forward_loss.pt" "$DATA/golden/cls_forward_loss.pt"
[ -x "$CMP" ] || { fail "test_ultratree helper not built"; exit 1; }

# ---- the real files, through our layout and back
for f in "$FINAL" "$E30"; do
    b=$(basename "$f" .pt)
    check "$b: import" "$CK" import "$f" -o "$T/$b.ours.pt"
    check "$b: export --format ultralytics" "$CK" export "$T/$b.ours.pt" --format ultralytics -o "$T/$b.back.pt"
    check_out "$b: our reader finds the same values (226 objects, 359 tensors)" '^same: 226 objects, 359 tensors$' \
        "$CMP" --compare "$f" "$T/$b.back.pt"
done
check_out "inspect: Ultralytics stripped weights" '^kind: +Ultralytics stripped weights$' "$CK" inspect "$T/yolov8n-fashion-final.back.pt"
check "import of our export" "$CK" import "$T/yolov8n-fashion-final.back.pt" -o "$T/again.pt"
check "imported again: the same weights, bit for bit (yolo-ckpt diff)" "$CK" diff "$T/yolov8n-fashion-final.ours.pt" "$T/again.pt"

# ---- our layout around the golden weights (detect nc 10, segment nc 3, classify nc 10), in RUN/weights
mkdir -p "$T/run/weights"
"$PYTHON" - "$DATA/golden" "$T/run/weights" <<'PY' || fail "could not write checkpoints in our layout"
import sys, torch
g, out = sys.argv[1:3]
for task, src, yaml, strides in (('detect', 'det_forward', 'yolov8n.yaml', [8.0, 16.0, 32.0]),
                                 ('segment', 'seg_forward_loss', 'yolov8n-seg.yaml', [8.0, 16.0, 32.0]),
                                 ('classify', 'cls_forward_loss', 'yolov8n-cls.yaml', [])):
    d = torch.load('%s/%s.pt' % (g, src))
    nc = d.get('nc', 10)
    torch.save({'yolo_tools_format': 1, 'epoch': 4, 'best_fitness': 0.5, 'model': d['state_dict'], 'ema': None,
                'optimizer': None, 'train_args': {'task': task, 'model': yaml, 'imgsz': 64, 'dropout': 0.1, 'save_every': 0},
                'train_metrics': {'fitness': 0.5}, 'train_results': {'epoch': [1, 2]}, 'date': '2026-01-02T03:04:05', 'version': 'yolo-tools 0.1.0',
                'task': task, 'yaml': {'yaml_file': yaml, 'scale': 'n', 'nc': nc}, 'nc': nc,
                'names': {i: 'c%d' % i for i in range(nc)}, 'stride': strides}, '%s/%s.pt' % (out, task))
PY
for task in detect segment classify; do
    check "$task: export --format ultralytics" "$CK" export "$T/run/weights/$task.pt" --format ultralytics -o "$T/$task.u.pt"
done
cp "$T/run/weights/classify.pt" "$T/cls-inplace.pt"
check "strip --format ultralytics (in place)" "$CK" strip "$T/cls-inplace.pt" --format ultralytics
check_out "strip --format ultralytics: Ultralytics stripped weights" '^kind: +Ultralytics stripped weights$' "$CK" inspect "$T/cls-inplace.pt"

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(cd "$(dirname "$0")/py" && pwd)" "$PYTHON" - "$T" "$FINAL" "$E30" "$DATA/golden" <<'PY'
import sys, enum, hashlib
import torch, torchvision.transforms as TV
from PIL import Image
import ultralytics_stubs as U  # Ultralytics is not installed: its classes load as inert stand-ins
t, final, e30, golden = sys.argv[1:5]
nn = torch.nn

def check(what, cond, detail=''):
    print(('ok - ' if cond else 'not ok - ') + what)
    if not cond and detail: print('# ' + str(detail)[:600])

def dump(x):
    """Every value as a line: types, attribute names in order, sharing, tensors down to their bytes."""
    out, seen = [], {}
    def walk(path, x):
        if not isinstance(x, (type(None), bool, int, float, str)):
            if id(x) in seen:
                out.append('%s is %s' % (path, seen[id(x)])); return
            seen[id(x)] = path
        ty = type(x).__module__ + '.' + type(x).__qualname__
        if isinstance(x, torch.Tensor):
            c = x.detach().contiguous().reshape(-1).view(torch.uint8)
            out.append('%s %s %s %s %s off=%d grad=%d %s' % (path, ty, x.dtype, list(x.shape), x.stride(),
                       x.storage_offset(), x.requires_grad, hashlib.sha256(c.numpy().tobytes()).hexdigest()))
        elif isinstance(x, float): out.append('%s float %s' % (path, x.hex()))
        elif x is None or isinstance(x, (bool, int, str, enum.Enum)): out.append('%s %s %r' % (path, ty, x))
        elif isinstance(x, (list, tuple)):
            out.append('%s %s %d' % (path, ty, len(x)))
            for i, it in enumerate(x): walk('%s[%d]' % (path, i), it)
        elif isinstance(x, (set, frozenset)): out.append('%s %s %r' % (path, ty, sorted(x)))
        elif isinstance(x, dict):
            out.append('%s %s %d' % (path, ty, len(x)))
            for k, it in x.items(): walk('%s[%r]' % (path, k), it)
        else:
            out.append('%s %s' % (path, ty))
            walk(path + '.', U.state(x) if isinstance(x, U.Stub) else x.__dict__)
    walk('$', x)
    return out

def first_difference(a, b):
    for i, (p, q) in enumerate(zip(a, b)):
        if p != q: return '%s | %s' % (p, q)
    return 'lengths %d, %d' % (len(a), len(b))

# ---- the real files and ours, as torch.load sees them
for name, f in (('final', final), ('e30', e30)):
    a, b = dump(torch.load(f)), dump(torch.load('%s/%s.back.pt' % (t, f.rsplit('/', 1)[1][:-3])))
    check('%s: torch.load finds the same %d values (classes, attributes, types, sharing, tensors)' % (name, len(a)),
          a == b, first_difference(a, b))

# ---- what torch would build: every torch module has a new one's attributes, in order
def fresh(cls, d):
    p = d['_parameters']
    make = {
        nn.Conv2d: lambda: nn.Conv2d(d['in_channels'], d['out_channels'], d['kernel_size'], d['stride'], d['padding'], bias=p['bias'] is not None),
        nn.ConvTranspose2d: lambda: nn.ConvTranspose2d(d['in_channels'], d['out_channels'], d['kernel_size'], d['stride'], d['padding'], bias=p['bias'] is not None),
        nn.BatchNorm2d: lambda: nn.BatchNorm2d(d['num_features'], d['eps'], d['momentum']),
        nn.SiLU: lambda: nn.SiLU(d['inplace']), nn.Identity: nn.Identity,
        nn.MaxPool2d: lambda: nn.MaxPool2d(d['kernel_size'], d['stride'], d['padding']),
        nn.Upsample: lambda: nn.Upsample(d['size'], d['scale_factor'], d['mode']),
        nn.Sequential: nn.Sequential, nn.ModuleList: nn.ModuleList,
        nn.Linear: lambda: nn.Linear(d['in_features'], d['out_features']),
        nn.Dropout: lambda: nn.Dropout(d['p'], d['inplace']),
        nn.AdaptiveAvgPool2d: lambda: nn.AdaptiveAvgPool2d(d['output_size']),
    }[cls]
    return make().eval().__dict__

LAYER = ['np', 'i', 'f', 'type']  # what Ultralytics' model parser adds to each layer

def torch_modules_like_new(m, path, bad, layer=False):
    """Compares each torch.nn module under m with a new one; returns how many were compared."""
    n = 0
    d = U.state(m) if isinstance(m, U.Stub) else m.__dict__
    if not isinstance(m, U.Stub):
        n += 1
        f = fresh(type(m), d)
        if layer:
            if list(d)[-4:] != LAYER: bad.append('%s: a layer without %s' % (path, LAYER))
            d = {k: v for k, v in d.items() if k not in LAYER}
        if list(f) != list(d): bad.append('%s: attributes %s, new %s' % (path, list(d), list(f)))
        for k, v in f.items():
            if k in ('_parameters', '_buffers'):
                ours = d[k]
                same = list(v) == list(ours) and all(
                    (w is None) == (ours[n2] is None) and (w is None or (list(w.shape) == list(ours[n2].shape)
                    and type(w) is type(ours[n2]))) for n2, w in v.items())
                if not same: bad.append('%s.%s: %s vs new %s' % (path, k, dict(ours), dict(v)))
            elif k != '_modules' and (type(v) is not type(d[k]) or v != d[k]):
                bad.append('%s.%s: %r vs new %r' % (path, k, d[k], v))
    for k, c in d['_modules'].items():
        n += torch_modules_like_new(c, path + '.' + k, bad, path == 'model.model')
    return n

for task, nc, n_weights, n_torch in (('detect', 10, 355, 198), ('segment', 3, 417, 233), ('classify', 10, 158, 86)):
    ck = torch.load('%s/%s.u.pt' % (t, task))
    ours = torch.load('%s/run/weights/%s.pt' % (t, task))
    m = ck['model']
    cls = {'detect': 'DetectionModel', 'segment': 'SegmentationModel', 'classify': 'ClassificationModel'}[task]
    check('%s: the file has the keys of Ultralytics\' final files and model is a pickled %s' % (task, cls),
          list(ck) == ['date', 'version', 'epoch', 'best_fitness', 'model', 'ema', 'updates', 'optimizer', 'scaler',
                       'train_args', 'train_metrics', 'train_results', 'git'] and type(m).__name__ == cls and
          type(m).__module__ == 'ultralytics.nn.tasks' and ck['epoch'] == -1 and ck['optimizer'] is None, list(ck))
    sd, want = U.state_dict(m), ours['model']
    check('%s: every one of the %d weights in place, in order, in fp16 (int64 counts), bit for bit' % (task, n_weights),
          list(sd) == list(want) and len(sd) == n_weights and all(
              torch.equal(sd[k], w.half() if w.is_floating_point() else w) and sd[k].dtype == (torch.float16 if w.is_floating_point() else w.dtype)
              for k, w in want.items()), [k for k in want if k not in sd or sd[k].shape != want[k].shape][:3])
    layers = U.state(U.state(m)['_modules']['model'])['_modules']
    check('%s: each layer carries i, f, type and np (the parameter count of its weights)' % task,
          all(U.state(l)['i'] == int(i) and U.state(l)['type'].endswith('.' + type(l).__name__) and
              U.state(l)['np'] == sum(w.numel() for k, w in want.items() if k.startswith('model.%s.' % i) and
                                      not k.rsplit('.', 1)[1] in ('running_mean', 'running_var', 'num_batches_tracked'))
              for i, l in layers.items()))
    bad = []
    n = torch_modules_like_new(m, 'model', bad)
    check('%s: all %d torch modules (%d expected) have the attributes torch gives new ones, in order' % (task, n, n_torch),
          not bad and n == n_torch, bad[:3])
    st = U.state(m)
    if task == 'classify':
        tf = st['transforms']
        ref = TV.Compose([TV.Resize(64, interpolation=TV.InterpolationMode.BILINEAR), TV.CenterCrop(64), TV.ToTensor(),
                          TV.Normalize(mean=torch.tensor((0.0, 0.0, 0.0)), std=torch.tensor((1.0, 1.0, 1.0)))])
        a, b = dump(tf), dump(ref)
        check('classify: transforms is torchvision\'s Compose(Resize(64), CenterCrop(64), ToTensor(), Normalize(0, 1))',
              a == b, first_difference(a, b))
        im = Image.new('RGB', (80, 50), (200, 100, 50))
        x = tf(im)
        check('classify: the transforms run on an image: 3x64x64 in [0, 1]', list(x.shape) == [3, 64, 64] and
              abs(float(x[0, 0, 0]) - 200 / 255) < 1e-6, list(x.shape))
        check('classify: dropout from train_args, nc 10 outputs', U.state(layers['9'])['_modules']['drop'].p == 0.1 and
              U.state(layers['9'])['_modules']['linear'].out_features == 10 and st['stride'].tolist() == [1.0])
    else:
        check('%s: model.args is train_args and the run folder (save_dir)' % task,
              st['args'] == dict(ck['train_args'], save_dir=t + '/run') and st['nc'] == nc and st['stride'].tolist() == [8, 16, 32] and
              st['stride'].dtype == torch.float32 and U.state(layers['22'])['stride'].dtype == torch.float16, st.get('args'))
    check('%s: yaml as Ultralytics loads it: nc %d, scale, yaml_file, channels; None stays the string \'None\'' % (task, nc),
          st['yaml']['nc'] == nc and list(st['yaml'])[-3:] == ['scale', 'yaml_file', 'channels'] and
          st['yaml']['scale'] == 'n' and st['yaml']['channels'] == 3 and
          (task == 'classify' or st['yaml']['head'][0] == [-1, 1, 'nn.Upsample', ['None', 2, 'nearest']]))
PY
[ $? = 0 ] || fail "the torch.load checks stopped with an error"

# ---- refusals
check_fails "--format with an unknown layout" 2 "^yolo-ckpt: export: unknown --format 'onnx' \(state-dict or ultralytics\)" \
    "$CK" export "$T/run/weights/detect.pt" --format onnx -o "$T/x.pt"
check_fails "import takes no --format" 2 "^yolo-ckpt: import: unknown option '--format'" "$CK" import "$FINAL" --format ultralytics -o "$T/x.pt"
"$CK" export "$T/yolov8n-fashion-final.ours.pt" -o "$T/plain.pt" >/dev/null 2>&1
check_fails "a plain tensor dict has no architecture to export" 1 "^yolo-ckpt: .*plain.pt: not a checkpoint with weights and training state" \
    "$CK" export "$T/plain.pt" --format ultralytics -o "$T/x.pt"
[ ! -e "$T/x.pt" ] && ok "nothing written when refused" || fail "a refused export left $T/x.pt"
