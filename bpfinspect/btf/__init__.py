"""BTF and BTF.ext: decoding, the type graph, sizes and layout, and renderings.

The names below are imported on first use (module ``__getattr__``), so that a
command which only needs the decoder and a printer (``bpfinspect btf``) does
not pay for the typed views (dataclasses) or the BTF.ext parser at start-up.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Btf": "btf", "load_btf": "btf", "parse_btf": "btf",
    "BtfExt": "ext", "CoreRelo": "ext", "CORE_KINDS": "ext", "FuncInfo": "ext", "LineInfo": "ext",
    "parse_btf_ext": "ext",
    "Kind": "kinds",
    "ArrayInfo": "model", "DatasecVar": "model", "EnumValue": "model", "Member": "model", "Param": "model",
    "Type": "model",
}

__all__ = ["Btf", "BtfExt", "CoreRelo", "CORE_KINDS", "FuncInfo", "Kind", "LineInfo", "load_btf", "parse_btf",
           "parse_btf_ext", "ArrayInfo", "DatasecVar", "EnumValue", "Member", "Param", "Type"]


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
