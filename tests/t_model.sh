# Checks against Python's torch (not our own checkpoint reader):
#  - our state lists equal torch.load of the golden state_dicts (names, shapes, order);
#  - model_fuse (BN folded into convs, as Ultralytics' model.fuse()) gives exactly what a PyTorch
#    network gives after the same folding (fuse_conv_and_bn's op sequence) on det_forward's weights.
. "$(dirname "$0")/lib.sh"
det=$DATA/golden/det_forward.pt
need "$det" "$DATA/golden/seg_forward_loss.pt" "$DATA/golden/cls_forward_loss.pt"
need_python_torch
fused=$T/fused.bin
"$ROOT/$BUILD/tests/test_model" --fused-eval "$det" "$fused" 2>"$T/fused.err" || { fail "fused eval: $(cat "$T/fused.err")"; fused=none; }
# One Python run (importing torch is the slow part). Prints "list FILE SCALE NC" per golden file and
# writes FILE.want ("name shape..." lines); then "fused MAX_ABS".
"$PYTHON" - "$DATA/golden" "$T" "$fused" "$ROOT" >"$T/list" 2>"$T/py.err" <<'PY'
import importlib.util, os, sys, tempfile
import numpy as np, torch, torch.nn as nn, yaml
gold, tmp, fused, root = sys.argv[1:5]
for f in ("det_forward.pt", "seg_forward_loss.pt", "cls_forward_loss.pt"):
    p = os.path.join(gold, f)
    d = torch.load(p)
    sd = d["state_dict"]
    with open(os.path.join(tmp, f + ".want"), "w") as out:
        for k, v in sd.items():
            print(k, *v.shape, file=out)
    print("list", f, {16: "n", 32: "s", 48: "m", 64: "l", 80: "x"}[sd["model.0.conv.weight"].shape[0]], int(d["nc"]))
if fused != "none":
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("ms", os.path.join(root, "bench", "model_step.py"))
    ms = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ms)
    d = torch.load(os.path.join(gold, "det_forward.pt"))
    y = yaml.safe_load(open(os.path.join(root, "cfg", "models", "yolov8.yaml")))
    y["nc"] = int(d["nc"])
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tf:
        yaml.safe_dump(y, tf)
    scale = {16: "n", 32: "s", 48: "m", 64: "l", 80: "x"}[d["state_dict"]["model.0.conv.weight"].shape[0]]
    net = ms.Net(tf.name, scale)
    os.unlink(tf.name)
    net.load_state_dict(d["state_dict"], strict=False)  # the bench network has no DFL weight

    def fuse(conv, bn):  # Ultralytics' fuse_conv_and_bn
        f = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
        f.requires_grad_(False)
        w_bn = torch.diag(bn.weight.div(torch.sqrt(bn.eps + bn.running_var)))
        f.weight.copy_(torch.mm(w_bn, conv.weight.view(conv.out_channels, -1)).view(f.weight.shape))
        b_bn = bn.bias - bn.weight.mul(bn.running_mean).div(torch.sqrt(bn.running_var + bn.eps))
        f.bias.copy_(torch.mm(w_bn, torch.zeros(conv.out_channels, 1)).reshape(-1) + b_bn)
        return f

    for m in net.modules():
        if isinstance(m, ms.Conv):
            m.conv, m.bn = fuse(m.conv, m.bn), nn.Identity()
    with torch.no_grad():
        b, s = net.eval()(d["images"])
    want = torch.cat([b.flatten(), s.flatten()]).numpy()
    ours = np.fromfile(fused, dtype=np.float32)
    print("fused", float(np.abs(want - ours).max()) if want.size == ours.size else "inf")
PY
[ -s "$T/list" ] || { fail "python check failed: $(tail -1 "$T/py.err")"; exit 0; }
while read -r kind file scale nc; do
    if [ "$kind" = fused ]; then
        if [ "$file" = 0.0 ]; then ok "fused eval (BN folded) equals PyTorch's fuse_conv_and_bn network: max_abs=0"
        else fail "fused eval differs from PyTorch's folded network: max_abs=$file"; fi
        continue
    fi
    case $file in seg*) suffix=-seg ;; cls*) suffix=-cls ;; *) suffix= ;; esac
    "$ROOT/$BUILD/tests/test_model" --dump "yolov8$scale$suffix.yaml" "$nc" >"$T/$file.ours" 2>"$T/err"
    if cmp -s "$T/$file.want" "$T/$file.ours"; then
        ok "yolov8$scale$suffix nc=$nc: $(wc -l <"$T/$file.ours") state entries equal torch.load($file) names, shapes, order"
    else
        fail "yolov8$scale$suffix nc=$nc state list differs from $file"
        diff "$T/$file.want" "$T/$file.ours" | head -5 | sed 's/^/# /'
    fi
done <"$T/list"
