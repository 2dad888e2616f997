"""Programs and subprograms: what each calls and uses, its own and through its subprograms.

A pure function of the functions (symbols), the decoded code sections and the
classified relocations.  Each function's facts come from one walk over its own
slots (helper and bpf-to-bpf calls, :meth:`CodeSection.calls`) and the slice of
its section's relocations that falls in its range (found by bisection over the
section's relocations sorted by offset, then put back in file order); then the
facts of the subprograms it reaches are added, in a breadth-first order that
is the same on every run.

What a function reaches is bounded as the kernel bounds it: one program holds
at most 256 functions (``BPF_MAX_SUBPROGS``), so a function reaching more
subprograms than that could never load and is reported as malformed; and the
walks of all functions together take at most ``MAX_WALK`` steps, so a file of
a million functions calling each other in a chain costs seconds, not hours.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Mapping

from bpfinspect.errors import MalformedInput
from bpfinspect.isa.helpers import helper_name
from bpfinspect.obj.model import CodeSection, Function, Program, Reloc

MAX_SUBPROGS = 256       # functions in one program, the main one included (the kernel's limit)
MAX_WALK = 1 << 23       # calls followed, all functions together


def _uniq(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def programs_of(functions: tuple[Function, ...], code: Mapping[int, CodeSection],
                relocs_in: Mapping[int, tuple[Reloc, ...]], path: str | None = None) -> tuple[Program, ...]:
    """One :class:`Program` per function, in the functions' order (``code`` and ``relocs_in``
    are keyed by ELF section index)."""
    starting: dict[tuple[int, int], list[str]] = {}     # (section index, first slot) -> functions
    for f in functions:
        starting.setdefault((f.section_index, f.offset // 8), []).append(f.name)
    by_offset: dict[int, tuple[list[int], list[tuple[int, int, Reloc]]]] = {}
    direct: dict[str, dict] = {}
    for f in functions:
        idx = f.section_index
        sec = code[idx]
        if idx not in by_offset:
            rs = sorted((r.offset, k, r) for k, r in enumerate(relocs_in.get(idx, ())))
            by_offset[idx] = ([x[0] for x in rs], rs)
        offsets, rs = by_offset[idx]
        mine = rs[bisect_left(offsets, f.offset):bisect_left(offsets, f.offset + f.size)]
        own = tuple(r for _, _, r in sorted(mine, key=lambda x: x[1]))
        first = f.offset // 8
        helper_ids, local = sec.calls(first, first + f.size // 8)
        callees = {r.target for r in own if r.kind in ("subprog_call", "callback")}
        for target in local:  # pc-relative calls without relocation: same section
            callees.update(starting.get((f.section_index, target), ()))
        direct[f.name] = {
            "helpers": [helper_name(h) or f"helper#{h}" for h in helper_ids],
            "callees": callees,
            "maps": [r.target for r in own if r.kind == "map"],
            "kfuncs": [r.target for r in own if r.kind == "kfunc"],
            "globals": [r.target for r in own if r.kind == "global_data"],
            "relocs": own,
        }

    walked = 0

    def reachable(name: str) -> list[str]:
        nonlocal walked
        seen: list[str] = []
        visited = {name}
        queue = deque(sorted(direct[name]["callees"]))
        while queue:
            walked += 1
            if walked > MAX_WALK:
                raise MalformedInput(f"the calls between functions are too many to follow (more than {MAX_WALK} "
                                     f"steps)", path=path)
            n = queue.popleft()
            if n in visited or n not in direct:
                continue
            visited.add(n)
            seen.append(n)
            if len(seen) >= MAX_SUBPROGS:
                raise MalformedInput(f"{name} reaches more than {MAX_SUBPROGS - 1} subprograms through its calls (a "
                                     f"program holds at most {MAX_SUBPROGS} functions)", path=path)
            queue.extend(sorted(direct[n]["callees"]))
        return seen

    out = []
    for f in functions:
        subs = reachable(f.name)
        d = direct[f.name]
        everyone = [d] + [direct[s] for s in subs]
        out.append(Program(
            name=f.name, section=f.section, section_index=f.section_index, offset=f.offset, size=f.size,
            insns=f.size // 8, is_subprog=f.is_subprog, linkage=f.linkage,
            subprograms=tuple(subs),
            maps=_uniq(m for x in everyone for m in x["maps"]),
            helpers=_uniq(h for x in everyone for h in x["helpers"]),
            kfuncs=_uniq(k for x in everyone for k in x["kfuncs"]),
            globals=_uniq(g for x in everyone for g in x["globals"]),
            relocs=d["relocs"],
            code=code[f.section_index],
        ))
    return tuple(out)
