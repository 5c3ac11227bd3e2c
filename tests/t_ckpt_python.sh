#!/usr/bin/env bash
# Interop with Python's torch, both ways: torch.save -> our reader, our writer -> torch.load, and every
# tensor of the golden and reference files bit-identical to what torch.load gives.
# Both sides print a canonical text of the values (tensors as dtype, shape, stride, offset, storage
# sharing and the SHA-256 of their bytes); the texts must be equal. One Python process does it all.
. "$(dirname "$0")/lib.sh"
need_python_torch
HELPER=$ROOT/$BUILD/tests/test_ckpt
[ -x "$HELPER" ] || { fail "test_ckpt helper not built"; exit 0; }
"$PYTHON" - "$HELPER" "$T" "$DATA" <<'PY'
import sys, os, subprocess, collections, difflib, hashlib, struct, types
import torch, numpy
helper, tmp, data = sys.argv[1:4]

class _Stub(torch.nn.Module):
    pass

# Ultralytics is not installed: its classes become empty nn.Module subclasses (this torch ignores
# torch.load's pickle_module argument, so the stubs are served as importable modules).
class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__'): raise AttributeError(name)
        cls = type(name, (_Stub,), {'__module__': self.__name__})
        setattr(self, name, cls)
        return cls

class _StubFinder:
    def find_spec(self, fullname, path=None, target=None):
        if fullname == 'ultralytics' or fullname.startswith('ultralytics.'):
            import importlib.machinery
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None
    def create_module(self, spec): return _StubModule(spec.name)
    def exec_module(self, module): module.__path__ = []

sys.meta_path.append(_StubFinder())

INTV = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

def khex(s): return s.encode('utf-8', 'surrogatepass').hex()

def keyrepr(k):
    if isinstance(k, str):
        if k.isascii() and k.isprintable() and not any(c in k for c in "[]'"): return "'" + k + "'"
        return 's:' + khex(k)
    if isinstance(k, bool): return 'b:%d' % k
    if isinstance(k, int): return 'i:%d' % k
    return 'k?'

class Dumper:
    def __init__(self, out): self.out = out; self.storages = {}
    def tensor(self, path, t, sd):
        esz = t.element_size()
        c = t.detach().contiguous()
        if c.dtype == torch.bool: c = c.to(torch.uint8)
        elif c.dtype not in (torch.uint8,) : c = c.view(INTV[esz]) if c.dtype != INTV[esz] else c
        raw = c.numpy().tobytes()
        sp = t.storage().data_ptr() if t.storage().size() else ('empty', id(t))
        sidx = self.storages.setdefault(sp, len(self.storages))
        line = '%s tensor %s %s %s off=%d st=%d sha256=%s n=%d' % (path, str(t.dtype)[6:], list(t.shape), list(t.stride()),
                t.storage_offset(), sidx, hashlib.sha256(raw).hexdigest(), len(raw))
        if not sd: line += ' param=%d rg=%d' % (isinstance(t, torch.nn.Parameter), t.requires_grad)
        self.out.append(line)
    def v(self, path, x, sd=False, depth=0):
        o = self.out
        if x is None: o.append(path + ' None')
        elif isinstance(x, bool): o.append('%s bool %d' % (path, x))
        elif isinstance(x, int): o.append('%s int %d' % (path, x))
        elif isinstance(x, float): o.append('%s float %s' % (path, struct.pack('>d', x).hex()))
        elif isinstance(x, numpy.generic): o.append('%s float %s' % (path, struct.pack('>d', float(x)).hex()))
        elif isinstance(x, str): o.append('%s str %s' % (path, khex(x)))
        elif isinstance(x, (bytes, bytearray)): o.append('%s bytes %s' % (path, bytes(x).hex()))
        elif isinstance(x, torch.Tensor): self.tensor(path, x, sd)
        elif isinstance(x, torch.nn.Module): self.v(path, x.state_dict(), True, depth)
        elif isinstance(x, (list, tuple)):
            o.append('%s %s %d' % (path, 'list' if isinstance(x, list) else 'tuple', len(x)))
            for i, it in enumerate(x): self.v('%s[%d]' % (path, i), it, sd, depth + 1)
        elif isinstance(x, (set, frozenset)):
            sub = []
            d = Dumper(sub)
            for it in x: d.v('', it)
            o.append('%s set %d %s' % (path, len(x), ','.join(sorted(sub))))
        elif isinstance(x, dict):
            o.append('%s %s %d' % (path, 'odict' if isinstance(x, collections.OrderedDict) else 'dict', len(x)))
            for k, it in x.items(): self.v('%s[%s]' % (path, keyrepr(k)), it, sd, depth + 1)
        else:
            o.append('%s object %s.%s' % (path, type(x).__module__, type(x).__qualname__))

def dump(path):
    x = torch.load(path)
    out = []
    Dumper(out).v('$', x)
    return '\n'.join(out) + '\n'


def ok(cond, what):
    print(('ok - ' if cond else 'not ok - ') + what)
    sys.stdout.flush()

def c_dump(path):
    r = subprocess.run([helper, '--dump', path], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else 'C ERROR: ' + r.stderr

def same(a, b, what):
    if a == b: return ok(True, what)
    ok(False, what)
    for l in list(difflib.unified_diff(a.splitlines(), b.splitlines(), 'torch', 'ours', lineterm=''))[:12]:
        print('# ' + l)

# ---- torch.save -> ours ----
class Net(torch.nn.Module):
    """A module with what state_dict() must get right: a None parameter, a non-persistent buffer,
    nested containers."""
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 1, bias=False)
        self.bn = torch.nn.BatchNorm2d(3)
        self.register_parameter('nothing', None)
        self.register_buffer('scratch', torch.ones(2), persistent=False)
        self.register_buffer('kept', torch.zeros(1))
        self.head = torch.nn.ModuleList([torch.nn.Linear(3, 2), torch.nn.Identity()])

base = torch.arange(20, dtype=torch.float32).reshape(4, 5) * 1.25 - 3
samples = {
    'one_item_dict': {'a': 1},
    'one_item_list': [1],
    'ordered': collections.OrderedDict([('z', 1), ('a', [2.5, None])]),
    'param': torch.nn.Parameter(torch.randn(3, 2, generator=torch.Generator().manual_seed(1))),
    'param_frozen': torch.nn.Parameter(torch.ones(2, dtype=torch.float16), requires_grad=False),
    'ints': [0, -1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**62, 2**63 - 1, 2**63, -2**63,
             -2**63 - 1, 2**64, 2**100, -2**100, 10**40],
    'floats': [0.0, -0.0, 1e-300, 3.141592653589793, float('inf'), -float('inf'), 1e308],
    'misc': (None, True, False, 'h\u00e9llo \u20ac \U0001F600 \n"\'', '', b'\x00\x01\x7f\x80\xff', b''),
    'tuples': [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
    'sets': [set(), {1, 2, 3}, frozenset({'a'})],
    'int_keys': {0: 'zero', -5: 'neg', 2**40: 'big', 1.5: 'float'},
    'numpy': [numpy.float64(0.1), numpy.float32(2.5), numpy.int64(7)],
    'device': torch.device('cpu'),
    'size': torch.Size([3, 4]),
    'nested': {'a': {'b': {'c': [[[]]]}}},
    'module': Net(),
    'tensors': {
        'f32': base, 'f16': base.half(), 'bf16': base.bfloat16(), 'f64': base.double(),
        'i64': base.long(), 'i32': base.int(), 'i16': base.short(), 'i8': base.char(), 'u8': base.abs().byte(),
        'bool': base > 0, 'scalar': torch.tensor(3.5), 'long_scalar': torch.tensor(7), 'empty': torch.zeros(0, 3),
        'transposed': base.t(), 'sliced': base[1:, ::2], 'offset': base.view(-1)[7:10],
        'expanded': torch.tensor([1., 2.]).expand(3, 2), 'five_dims': torch.ones(2, 1, 3, 1, 2),
        'requires_grad': torch.ones(2, requires_grad=True),
    },
}
samples['shared'] = [samples['tensors']['f32'], samples['tensors']['transposed']]
files = {}
for name, proto in (('py_samples', 2), ('py_samples_p1', 1), ('py_samples_p3', 3), ('py_samples_p4', 4)):
    files[name] = os.path.join(tmp, name + '.pt')
    torch.save(samples, files[name], pickle_protocol=proto)
# Protocol 0 (text opcodes) cannot hold tensors even for torch itself; plain values it can.
files['py_plain_p0'] = os.path.join(tmp, 'py_plain_p0.pt')
torch.save({k: samples[k] for k in ('one_item_dict', 'ordered', 'ints', 'floats', 'misc', 'tuples', 'sets', 'int_keys', 'nested')},
           files['py_plain_p0'], pickle_protocol=0)
for i, v in enumerate([5, base, samples['param'], [1, 'x'], 2**70]):
    files['py_top%d' % i] = os.path.join(tmp, 'py_top%d.pt' % i)
    torch.save(v, files['py_top%d' % i])
for name, f in files.items():
    ref = dump(f)
    same(ref, c_dump(f), 'torch.save %s -> ours: equal values, bit-identical tensors' % name)
    # ours -> torch.load: read it, write it again, and torch must load the same values.
    cp = os.path.join(tmp, 'copy_' + name + '.pt')
    r = subprocess.run([helper, '--copy', f, cp], capture_output=True, text=True)
    if r.returncode:
        ok(False, 'copy %s: %s' % (name, r.stderr.strip()))
        continue
    try:
        got = dump(cp)
    except Exception as e:
        got = 'torch.load failed: %r' % e
    same(ref, got, 'ours (copy of %s) -> torch.load: equal values' % name)

# ---- ours -> torch.load, from values built in C ----
r = subprocess.run([helper, '--samples', tmp], capture_output=True, text=True)
ok(r.returncode == 0, 'C writes its samples ' + r.stderr.strip())
for name in ('c_samples', 'c_top0', 'c_top1', 'c_top2'):
    f = os.path.join(tmp, name + '.pt')
    try:
        got = dump(f)
    except Exception as e:
        got = 'torch.load failed: %r' % e
    same(c_dump(f), got, 'ours (%s) -> torch.load: equal values, bit-identical tensors' % name)
x = torch.load(os.path.join(tmp, 'c_samples.pt'))
t = x['tensors']
ok(isinstance(t['param'], torch.nn.Parameter) and t['param'].requires_grad and not isinstance(t['base'], torch.nn.Parameter),
   'torch sees nn.Parameter (requires_grad) and plain tensors')
ok(t['transposed'].storage().data_ptr() == t['base'].storage().data_ptr() and t['strided_offset'].storage_offset() == 7,
   'torch sees shared storages and offsets')
ok(x['ints'][-2] == 2**64 and x['misc'][5] == b'\x00\x01\x7f\x80\xff abc' and x['set'] == {3, 's'},
   'torch sees big ints, bytes and sets')

# An old-style (pre-zip) torch.save file is refused with a hint.
legacy = os.path.join(tmp, 'legacy.pt')
torch.save({'a': base}, legacy, _use_new_zipfile_serialization=False)
r = subprocess.run([helper, '--dump', legacy], capture_output=True, text=True)
ok(r.returncode != 0 and 'legacy.pt: not a zip archive (an old-style torch.save file' in r.stderr, 'legacy torch.save format: ' + r.stderr.strip())

# ---- every tensor of the golden and reference files ----
for sub in ("golden", "ultralytics"):
    d = os.path.join(data, sub)
    for fn in sorted(os.listdir(d)):
        if fn.endswith('.pt'):
            same(dump(os.path.join(d, fn)), c_dump(os.path.join(d, fn)), '%s/%s: every value and tensor as torch.load' % (sub, fn))
PY
