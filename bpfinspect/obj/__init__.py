"""The BPF object model: built once from bytes, immutable, the single source for every view.

The names below are imported on first use, so that a module of the package (the section table,
which ``sections`` reads alone) can be imported without the whole model."""

_EXPORTS = {
    **dict.fromkeys(["CodeSection", "CoreReloInfo", "DataSection", "Extern", "Function", "Map", "Program", "Reloc",
                     "Var"], "bpfinspect.obj.model"),
    "SectionInfo": "bpfinspect.obj.sectiontable",
    # (``build`` is also a submodule's name: the package's attribute is the function, as it always was)
    **dict.fromkeys(["BpfObject", "build", "from_bytes", "open_object"], "bpfinspect.obj.object"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfinspect.obj' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
