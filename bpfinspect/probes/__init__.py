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
``parse_line(line, *, machine=None, btf=None) -> ProbeLine``
    An uprobe_events/kprobe_events line checked as the kernel checks it; ``LineError`` (with
    ``.column`` and ``.reason``) where the kernel would refuse it.
``check_target(program) -> list[Problem]``
    What keeps a program of :mod:`bpfinspect.obj` from attaching on this machine (``[]``: nothing),
    found without loading (:mod:`.check`: kallsyms, tracefs, vmlinux BTF, the uprobe's binary).
``uprobe_target(spec) -> UprobeTarget | None``
    For a uprobe section name (``program.spec``): the binary as libbpf finds it, the function and
    the file offset libbpf attaches to, or ``.error``.

Tracing through tracefs (``probe trace``): :class:`.tracefs.TraceSession` defines checked lines,
enables them in an instance of its own, reads their hits from its per-CPU binary buffers
(decoded by :mod:`.hits`) and removes everything at exit.
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


def check_target(program, machine=None):
    from bpfinspect.probes.check import check_target as impl
    return impl(program, machine)


def uprobe_target(spec):
    from bpfinspect.probes.check import uprobe_target as impl
    return impl(spec)


__all__ = ["check_target", "list_functions", "parse_line", "read_usdt", "resolve_binary", "resolve_uprobe",
           "uprobe_target"]
