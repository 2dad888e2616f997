"""User-space probes: where a uprobe goes, USDT notes, ftrace probe lines, attach targets.

Binaries are read through pyelftools (:mod:`.binary`); nothing here loads BPF.  Importing
this package imports no heavy module: each function below imports what it needs when called.

Public API (each raises :class:`~bpfinspect.errors.BpfInspectError` subclasses: ``UsageError``
for a name that does not resolve, ``MalformedInput`` for a damaged binary):

``resolve_uprobe(binary, func, *, rules="1.1") -> Offset``
    The file offset libbpf attaches a uprobe to for ``func`` in ``binary`` (a path, a program
    name or a library name, found as libbpf finds it).  ``Offset.offset``, ``.symbol``, ``.path``.
    Raises ``UprobeTargetError`` (``.reason``: not_found, ambiguous, zero, stripped).
``resolve_binary(name) -> Resolved``
    Where a binary named without a directory lives (libbpf's search, then ld.so.cache).
``list_functions(resolved, patterns, *, rules) -> Listing``
    Functions of a binary with their offsets, SEC() spellings and uprobe_events lines.
``read_usdt(binary_path) -> list[UsdtNote]``
    The USDT notes of a binary, with libbpf's offsets and each argument's reading.
``parse_line(line, *, machine=None) -> ProbeLine``
    An uprobe_events/kprobe_events line checked as the kernel checks it; ``LineError`` (with
    ``.column`` and ``.reason``) where the kernel would refuse it.
"""

from __future__ import annotations


def resolve_uprobe(binary: str, func: str, **kw):
    from bpfinspect.probes.uprobe import resolve_uprobe as impl
    return impl(binary, func, **kw)


def resolve_binary(name: str, env=None):
    from bpfinspect.probes.paths import resolve_binary as impl
    return impl(name, env)


def list_functions(resolved, patterns=None, **kw):
    from bpfinspect.probes.uprobe import list_functions as impl
    return impl(resolved, patterns, **kw)


def read_usdt(binary_path: str):
    from bpfinspect.probes.binary import open_binary
    from bpfinspect.probes.usdt import read_usdt_notes

    with open_binary(binary_path) as b:
        return read_usdt_notes(b)


def parse_line(line: str, **kw):
    from bpfinspect.probes.lines import parse_line as impl
    return impl(line, **kw)


__all__ = ["list_functions", "parse_line", "read_usdt", "resolve_binary", "resolve_uprobe"]
