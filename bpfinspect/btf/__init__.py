"""BTF and BTF.ext: decoding, the type graph, sizes and layout, and renderings.

The names below are imported on first use (module ``__getattr__``), so that a
command which only needs the decoder and a printer (``bpfinspect btf``) does
not pay for the typed views (dataclasses) or the BTF.ext parser at start-up.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Btf": "btf", "load_btf": "btf", "parse_btf": "btf",
    "BtfExt": "ext", "CoreRelo": "ext", "CORE_KINDS": "kinds", "FuncInfo": "ext", "LineInfo": "ext",
    "parse_btf_ext": "ext",
    "Kind": "kinds",
    "ArrayInfo": "model", "DatasecVar": "model", "EnumValue": "model", "Member": "model", "Param": "model",
    "Type": "model",
}

__all__ = ["code_hash", "Btf", "BtfExt", "CoreRelo", "CORE_KINDS", "FuncInfo", "Kind", "LineInfo", "load_btf", "parse_btf",
           "parse_btf_ext", "ArrayInfo", "DatasecVar", "EnumValue", "Member", "Param", "Type"]


def code_hash(directory: str | None = None) -> str:
    """The bpfinspect version and a SHA-256 of every module of this package (of ``directory``
    when given): part of the key of anything cached from a rendering, so that changed code
    never serves old text."""
    import hashlib
    import os

    import bpfinspect

    here = directory or os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256(bpfinspect.__version__.encode() + b"\0")
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") or name.endswith(".lark"):
            with open(os.path.join(here, name), "rb") as f:
                data = f.read()
            h.update(f"{name}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
