#!/usr/bin/python3
"""The PyTorch side of bench/model_step.c: the same YOLOv8 detection network built with torch.nn from
cfg/models/yolov8.yaml, forward (train mode) + backward of sum(boxes) + sum(scores) on random images.

    [CHANNELS_LAST=1] model_step.py [IMGSZ [BATCH [THREADS [ITERS [SCALE]]]]]     default 128 16 1 3 n
    model_step.py --wrapper-cost                                 ns per Python call of tiny ops
"""
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import yaml


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c, add):
        super().__init__()
        self.cv1, self.cv2, self.add = Conv(c, c, 3), Conv(c, c, 3), add

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        c = c2 // 2
        self.cv1, self.cv2 = Conv(c1, 2 * c, 1), Conv((2 + n) * c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2, 1, act=False), Conv(c1 // 2 * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, 64), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 64, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.nc = nc

    def forward(self, xs):
        b = xs[0].shape[0]
        boxes = torch.cat([m(x).view(b, 64, -1) for m, x in zip(self.cv2, xs)], 2)
        scores = torch.cat([m(x).view(b, self.nc, -1) for m, x in zip(self.cv3, xs)], 2)
        return boxes, scores


class Net(nn.Module):
    """Layers and channel rules as in spec section 1.1 (enough for yolov8.yaml)."""

    def __init__(self, path, scale):
        super().__init__()
        d = yaml.safe_load(open(path))
        nc = d["nc"]
        depth, width, maxc = d["scales"][scale]
        ch, layers, self.froms = [3], [], []
        for i, (f, n, mod, args) in enumerate(d["backbone"] + d["head"]):
            n = max(round(n * depth), 1) if n > 1 else n
            fs = [f] if isinstance(f, int) else f
            fs = [i + x if x < 0 else x for x in fs]
            c1 = ch[fs[0] + 1]
            if mod in ("Conv", "C2f", "SPPF"):
                c2 = math.ceil(min(args[0], maxc) * width / 8) * 8
                m = (Conv(c1, c2, *args[1:]) if mod == "Conv" else
                     C2f(c1, c2, n, bool(args[1]) if len(args) > 1 else False) if mod == "C2f" else SPPF(c1, c2, args[1]))
            elif mod == "nn.Upsample":
                c2, m = c1, nn.Upsample(None, 2, "nearest")
            elif mod == "Concat":
                c2, m = sum(ch[x + 1] for x in fs), None
            else:
                c2, m = c1, Detect(nc, [ch[x + 1] for x in fs])
            layers.append(m if m is not None else nn.Identity())
            self.froms.append(fs)
            ch.append(c2)
        self.model = nn.ModuleList(layers)

    def forward(self, x):
        outs = []
        for i, (m, fs) in enumerate(zip(self.model, self.froms)):
            ins = [x if f < 0 else outs[f] for f in fs]
            if isinstance(m, Detect):
                return m(ins)
            outs.append(torch.cat(ins, 1) if len(fs) > 1 else m(ins[0]))


def wrapper_cost():
    torch.set_num_threads(1)
    a, b, n = torch.ones(1), torch.ones(1), 200000
    t0 = time.process_time()
    for _ in range(n):
        a.add_(1)
    t1 = time.process_time()
    for _ in range(n):
        c = a + b
    t2 = time.process_time()
    print(f"Python (CPU time): add_ scalar on 1 element {(t1 - t0) * 1e9 / n:.0f} ns/call, a + b {(t2 - t1) * 1e9 / n:.0f} ns/call")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--wrapper-cost":
        return wrapper_cost()
    a = sys.argv[1:] + [None] * 5
    imgsz, batch, threads, iters = int(a[0] or 128), int(a[1] or 16), int(a[2] or 1), int(a[3] or 3)
    scale = a[4] or "n"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    here = os.path.dirname(os.path.abspath(__file__))
    net = Net(os.path.join(here, "..", "cfg", "models", "yolov8.yaml"), scale).train()
    img = torch.rand(batch, 3, imgsz, imgsz)
    nhwc = os.environ.get("CHANNELS_LAST", "0") not in ("", "0")
    if nhwc:  # weights and input both, as model.to(memory_format=torch.channels_last) does
        net = net.to(memory_format=torch.channels_last)
        img = img.contiguous(memory_format=torch.channels_last)
    ms, fwd, cpu = [], 0.0, 0.0
    for it in range(iters + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        boxes, scores = net(img)
        t1 = time.perf_counter()
        (boxes.sum() + scores.sum()).backward()
        net.zero_grad(set_to_none=True)
        if it:
            ms.append((time.perf_counter() - t0) * 1e3)
            fwd += (t1 - t0) * 1e3
            cpu += (time.process_time() - c0) * 1e3
    ms.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Python{'-NHWC' if nhwc else '-NCHW'} yolov8{scale}.yaml imgsz={imgsz} batch={batch} threads={threads}: forward+backward "
          f"{ms[len(ms) // 2]:.1f} ms/batch (median of {iters}; forward {fwd / iters:.1f}), CPU {cpu / iters:.1f} ms/batch, "
          f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
