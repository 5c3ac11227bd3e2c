"""torch.load for Ultralytics checkpoints where Ultralytics is not installed (tests and benchmarks).

Importing this module serves every ultralytics.* class as an inert stand-in that keeps its pickled
state, so torch.load rebuilds a checkpoint's modules without running any of their code. This torch
(1.13) ignores torch.load's pickle_module argument, hence the import hook.

    import ultralytics_stubs                  # with tests/py on PYTHONPATH
    ckpt = torch.load("last.pt")
    weights = ultralytics_stubs.state_dict(ckpt["ema"])
"""
import importlib.abc
import importlib.machinery
import sys
import types


class Stub:
    """Any Ultralytics class: accepts any constructor and keeps the unpickled state in _st."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, st):
        self.__dict__["_st"] = st


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = type(name, (Stub,), {"__module__": self.__name__})
        setattr(self, name, cls)
        return cls


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "ultralytics":
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    # first: a real ultralytics found on the path must not take over the files' classes
    sys.meta_path.insert(0, _Finder())


def state(m):
    """The attribute dict of a stand-in or of a real torch module."""
    return m._st if isinstance(m, Stub) else m.__dict__


def state_dict(m, prefix=""):
    """What nn.Module.state_dict() gives: parameters, then persistent buffers, then children, by name."""
    s, out = state(m), {}
    for n, p in s["_parameters"].items():
        if p is not None:
            out[prefix + n] = p
    for n, b in s["_buffers"].items():
        if b is not None and n not in s.get("_non_persistent_buffers_set", set()):
            out[prefix + n] = b
    for n, c in s["_modules"].items():
        if c is not None:
            out.update(state_dict(c, prefix + n + "."))
    return out
