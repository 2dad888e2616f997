"""One object against many targets: what the ``core`` command shows."""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.core.resolve import Relocation, Resolver, TargetReport
from bpfinspect.core.targets import iter_targets


@dataclass
class ResolvedTarget:
    name: str
    report: TargetReport | None
    error: str | None
    relocations: list[Relocation]
    summary: dict | None


def resolve_targets(obj, paths: list[str], *, base: str | None = None,
                    program: str | None = None) -> list[ResolvedTarget]:
    """Resolve ``obj`` on every target (see :func:`~bpfinspect.core.targets.iter_targets`);
    with ``program``, keep its relocations and those of the subprograms it calls."""
    keep: set[str] | None = None
    if program is not None:
        p = obj.program(program)
        keep = {p.name, *p.subprograms}
    resolver = Resolver(obj)
    out: list[ResolvedTarget] = []
    for t in iter_targets(paths, base):
        if t.btf is None:
            out.append(ResolvedTarget(t.name, None, t.error, [], None))
            continue
        rep = resolver.resolve(t.btf, t.name)
        if keep is None:
            out.append(ResolvedTarget(t.name, rep, None, rep.relocations, rep.summary()))
            continue
        rels = [r for r in rep.relocations if r.program in keep]
        sub = TargetReport(rep.path, rels, [program], [program] if program in rep.rejected else [],
                           rep.approximate)
        out.append(ResolvedTarget(t.name, rep, None, rels, sub.summary()))
    return out
