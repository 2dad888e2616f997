"""`budget`: per program, stack (deepest chain of frames), tail calls, instructions, loops."""

from __future__ import annotations

from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, Text


def to_json(obj, budgets) -> dict:
    return {"schema": SCHEMA, "file": obj.path, "programs": [b.to_json() for b in budgets]}


def blocks(obj, budgets) -> list[Block]:
    t = Table(["Program", "Stack", "Peak in", "Frames", "Tail calls", "Insns", "Longest path", "Loops", "Warnings"],
              title=f"{obj.path}: {len(budgets)} programs (stack limit 512 bytes, frames as the kernel rounds them)",
              right=frozenset({"Stack", "Frames", "Tail calls", "Insns", "Longest path", "Loops", "Warnings"}),
              styles={"Program": "bold"})
    for b in budgets:
        loops = str(len(b.loops))
        unbounded = sum(1 for lp in b.loops if not lp.bounded)
        if unbounded:
            loops += f" ({unbounded} unbounded)"
        t.rows.append([b.name, str(b.stack), b.peak, str(b.frames), str(len(b.tail_calls)), str(b.insns),
                       str(b.longest_path), loops, str(len(b.warnings))])
    out: list[Block] = [t]
    for b in budgets:
        lines = [f"{b.name}:"]
        chain = " -> ".join(f"{s['function']} {s['stack']}/{s['frame']}" for s in b.stack_path)
        lines.append(f"  stack path (stack/frame bytes): {chain} = {b.stack}")
        if len(b.functions) > 1:
            lines.append("  functions: " + ", ".join(f"{f.name} ({f.stack} B, {f.insns} insns)"
                                                      for f in b.functions))
        for tc in b.tail_calls:
            lines.append(f"  tail call: {tc['function']} insn {tc['insn']}, {tc['depth_before']} bytes of frames "
                         f"before it")
        for lp in b.loops:
            if lp.bounded:
                n = f", {lp.iterations} iterations" if lp.iterations is not None else ""
                lines.append(f"  loop: {lp.function} insns {lp.header}..{lp.latch} ({lp.insns} insns), "
                             f"bounded: {lp.bound}{n}")
            else:
                lines.append(f"  loop: {lp.function} insns {lp.header}..{lp.latch} ({lp.insns} insns), "
                             f"no constant bound: {lp.reason}")
        for w in b.warnings:
            lines.append(f"  warning: {w}")
        if b.approximate:
            lines.append("  (too many call chains to walk them all: figures are a lower bound)")
        out.append(Text("\n".join(lines), style="yellow" if b.warnings else None))
    return out
