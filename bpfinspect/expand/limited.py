"""``expand_source`` and the rewrite without CO-RE as the command runs them: in a child process
with limits.

libclang parses whatever the source asks for (a macro bomb of a few hundred bytes makes clang
allocate gigabytes; LLVM answers running out of memory by aborting with its crash report),
so the parse and our expansion run under :func:`bpfinspect.sandbox.run_limited`:

* memory: ``BPFINSPECT_EXPAND_MEMORY_MB`` (default 2048 MiB of address space; never more
  than the limit this process already has, e.g. from ``ulimit -v``);
* CPU time: ``BPFINSPECT_EXPAND_CPU_SECONDS`` (default 60 s); wall clock: three times that
  and 10 s more (a busy machine), which only matters for a parse that waits (an include of
  a FIFO);
* the source itself: at most :data:`bpfinspect.expand.core.MAX_SOURCE` bytes, refused
  before anything is parsed.

Exceeding a limit is one line and exit 2 ("FILE: the expansion needs more than the 2048 MiB
of memory it may use"), never LLVM's crash text.
"""

from __future__ import annotations

import dataclasses
import os

from bpfinspect.expand.clangfront import SourceDiagnostics
from bpfinspect.expand.core import ExpandResult, Site, expand_source

DEFAULT_MEMORY_MB = 2048
DEFAULT_CPU_SECONDS = 60


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def limits() -> tuple[int, int]:
    """(memory in MiB, CPU seconds) for one expansion."""
    return (_env_int("BPFINSPECT_EXPAND_MEMORY_MB", DEFAULT_MEMORY_MB),
            _env_int("BPFINSPECT_EXPAND_CPU_SECONDS", DEFAULT_CPU_SECONDS))


_SITE_FIELDS = [f.name for f in dataclasses.fields(Site) if f.name != "tokens"]  # tokens stay in the child
_RESULT_FIELDS = [f.name for f in dataclasses.fields(ExpandResult) if f.name != "sites"]


def _encode(result: ExpandResult) -> dict:
    doc = {name: getattr(result, name) for name in _RESULT_FIELDS}
    doc["sites"] = [{name: getattr(site, name) for name in _SITE_FIELDS} for site in result.sites]
    return doc


def _decode(doc: dict) -> ExpandResult:
    sites = [Site(**site) for site in doc.pop("sites")]
    return ExpandResult(sites=sites, **doc)


def _limited(path: str, work, *, encode, decode, what: str):
    """``work()`` in a child process under :func:`limits`; clang's diagnostics come back as
    :class:`SourceDiagnostics` of ``path``."""
    from bpfinspect.sandbox import ChildError, run_limited

    memory_mb, cpu = limits()
    try:
        return run_limited(work, memory_mb=memory_mb, cpu_seconds=cpu, wall_seconds=3 * cpu + 10,
                           encode=encode, decode=decode, what=what)
    except ChildError as exc:
        if exc.lines is not None:
            raise SourceDiagnostics(exc.lines, path=path) from None
        raise


def expand_limited(path: str, **kwargs) -> ExpandResult:
    """:func:`~bpfinspect.expand.core.expand_source` in a child process under :func:`limits`."""
    return _limited(path, lambda: expand_source(path, **kwargs), encode=_encode, decode=_decode,
                    what="the expansion")


def rewrite_limited(path: str, **kwargs):
    """:func:`~bpfinspect.expand.nocore.rewrite` (``expand --no-core``) in a child process under
    the same :func:`limits`: it parses the source with libclang as the expansion does."""
    from bpfinspect.expand.nocore import NoCoreResult, Rewrite, rewrite

    def decode(doc: dict) -> NoCoreResult:
        rewrites = [Rewrite(**r) for r in doc.pop("rewrites")]
        return NoCoreResult(rewrites=rewrites, **doc)

    return _limited(path, lambda: rewrite(path, **kwargs), encode=dataclasses.asdict, decode=decode,
                    what="the rewrite")
