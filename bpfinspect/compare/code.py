"""Instructions of two builds compared as code, not as bytes.

Each instruction of a function becomes a token that says what it does, not where it
sits: a map load names the map, a global access names the data section, the variable
and the offset in it, a bpf-to-bpf call or callback names its function, a kfunc call
its kfunc, an instruction with a CO-RE relocation carries the relocation's kind,
type and access path.  A jump's token leaves out its offset; once the two streams are
aligned (difflib over the tokens), a jump is the same only when its target is the
aligned counterpart of the other's target.  So label names, jump offsets shifted by
code elsewhere and relocations that name the same thing differently are no change.
"""

from __future__ import annotations

import bisect
import difflib
import os
import re
from dataclasses import dataclass, field

from bpfinspect.isa import opcodes as oc

MAX_TOKENS = 1 << 20   # instructions per function compared (the kernel takes a million)
MAX_ALIGN_WORK = 16_000_000   # token pairs difflib may weigh for one function's changed middle


@dataclass
class FunctionCode:
    """One function's instructions as tokens, with what a reader needs to show them."""
    name: str
    tokens: list                 # hashable, position-free
    targets: list                # token index a jump goes to (None: not a jump)
    slots: list[int]             # section slot of each token
    texts: list[str]             # text of each instruction (labels normalised)
    lines: list                  # (file key, line, file, source) of each token, or None
    insns: int                   # slots


@dataclass
class Hunk:
    a: tuple[int, int]           # token ranges
    b: tuple[int, int]
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


_JUMP_TEXT = re.compile(r"\b(goto|gotol|may_goto) [+-]?(0x[0-9a-f]+|\d+)( <[^>]*>)?")
_CALL_TEXT = re.compile(r"^call -?(0x[0-9a-f]+|\d+)$")


def _line_key(file: str) -> str:
    return os.path.basename(file)


def function_code(obj, func, code_section, section_relocs: dict, core: dict) -> FunctionCode:
    """Tokens of ``func`` (a :class:`~bpfinspect.obj.Function` or Program) of ``obj``."""
    from bpfinspect.isa.printer import render

    slots = code_section.slots
    first = func.offset // 8
    stop = min(first + func.size // 8, len(slots))
    lines = obj.line_info(func.section)
    li = bisect.bisect_left(lines, first, key=lambda ln: ln.insn_off // 8)   # the function's first entry
    line_at = None
    rendered = render(slots, start=first, stop=stop)
    index_of = {i: k for k, (i, _size, _t, _w) in enumerate(rendered)}
    tokens, targets, where, texts, tok_lines = [], [], [], [], []
    for k, (i, size, text, warning) in enumerate(rendered[:MAX_TOKENS]):
        while li < len(lines) and lines[li].insn_off // 8 <= i:
            ln = lines[li]
            line_at = (_line_key(ln.file), ln.line, ln.file, ln.line_text)
            li += 1
        op, regs, off, imm = slots[i]
        cls = op & 0x07
        tok: tuple
        target = None
        r = section_relocs.get(i)
        if warning is not None:
            tok = ("raw", slots[i])
        elif r is not None and r.kind == "map":
            tok = ("map", op, regs & 0x0F, r.target)
            text += f"  ; map {r.target}"
        elif r is not None and r.kind == "global_data":
            # the model resolved it: the variable (or the section) and the offset in it
            var, delta = r.target, r.target_offset
            tok = ("global", op, regs & 0x0F, r.target_section, var, delta)
            text += f"  ; {r.target_section}:{var}" + (f"+{delta}" if delta else "")
        elif r is not None and r.kind in ("subprog_call", "callback"):
            tok = (r.kind, op, regs & 0x0F, r.target)
            text = f"call {r.target}" if r.kind == "subprog_call" else f"{text.split(' =', 1)[0]} = {r.target}"
        elif r is not None and r.kind in ("kfunc", "kconfig", "ksym"):
            tok = (r.kind, op, regs, off, r.target)
            text += f"  ; {r.kind} {r.target}"
        elif cls in (oc.JMP, oc.JMP32) and op == (oc.JMP | oc.JMP_CALL | oc.K) and (regs >> 4) == oc.CALL_LOCAL:
            t = i + 1 + imm
            tok = ("call_local", _name_at(code_section, t))
            text = f"call {_name_at(code_section, t)}"
        elif cls in (oc.JMP, oc.JMP32) and (op & 0xF0) not in (oc.JMP_CALL, oc.JMP_EXIT):
            if cls == oc.JMP32 and (op & 0xF0) == oc.JMP_JA:
                dest, rest = i + 1 + imm, 0
            else:
                dest, rest = i + 1 + off, imm
            tok = ("jump", op, regs, rest)
            target = index_of.get(dest, len(rendered) if dest == stop else -1)
            text = _JUMP_TEXT.sub(lambda m: f"{m.group(1)} <{func.name}+{target}>", text)
        else:
            tok = (op, regs, off, imm) if size == 1 else (op, regs, off, imm, slots[i + 1][3])
        c = core.get(i)
        if c is not None:
            # libbpf patches the field the local build filled in (a memory access's offset, an
            # immediate otherwise): the relocation, not that number, says what the code does
            if cls in (oc.LDX, oc.ST, oc.STX):
                tok = ("core", op, regs, imm) + c
            else:
                tok = ("core", op, regs, off) + c
            text += f"  ; CO-RE {c[0]} {c[1]}"
        tokens.append(tok)
        targets.append(target)
        where.append(i)
        texts.append(text)
        tok_lines.append(line_at)
    return FunctionCode(func.name, tokens, targets, where, texts, tok_lines, stop - first)


def _name_at(code_section, slot: int) -> str:
    for addr, name in code_section.symbols:
        if addr // 8 == slot:
            return name
    return f"{code_section.name}+{slot}"


def compare(a: FunctionCode, b: FunctionCode) -> list[Hunk]:
    """The hunks where ``a`` and ``b`` differ as code (empty: the same code)."""
    ta, tb = a.tokens, b.tokens
    # the same start and end are matched directly; difflib aligns what lies between, when that
    # is small enough for its quadratic worst case (otherwise the middle is one change)
    pre = 0
    while pre < len(ta) and pre < len(tb) and ta[pre] == tb[pre]:
        pre += 1
    post = 0
    while post < len(ta) - pre and post < len(tb) - pre and ta[-1 - post] == tb[-1 - post]:
        post += 1
    match: dict[int, int] = {k: k for k in range(pre)}
    for k in range(post):
        match[len(ta) - post + k] = len(tb) - post + k
    mid_a, mid_b = ta[pre:len(ta) - post], tb[pre:len(tb) - post]
    if mid_a and mid_b and len(mid_a) * len(mid_b) <= MAX_ALIGN_WORK:
        sm = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for blk in sm.get_matching_blocks():
            for k in range(blk.size):
                match[pre + blk.a + k] = pre + blk.b + k
    match[len(a.tokens)] = len(b.tokens)
    matched = sorted(match)

    def counterpart(x: int) -> int | None:
        """Where instruction ``x`` of A sits in B: its match, or the same place in a changed run
        of equal length on both sides (a jump to a changed instruction lands on its replacement)."""
        if x in match:
            return match[x]
        k = bisect.bisect_left(matched, x)
        lo_a, lo_b = (matched[k - 1], match[matched[k - 1]]) if k > 0 else (-1, -1)
        hi_a = matched[k] if k < len(matched) else None
        if hi_a is None or hi_a - lo_a != match[hi_a] - lo_b:
            return None
        return lo_b + (x - lo_a)

    changed_a: set[int] = set()
    changed_b: set[int] = set()
    for ia, ib in match.items():
        if ia < len(a.tokens) and a.targets[ia] is not None and counterpart(a.targets[ia]) != b.targets[ib]:
            changed_a.add(ia)
            changed_b.add(ib)
    matched_b = set(match.values())
    changed_a.update(i for i in range(len(a.tokens)) if i not in match)
    changed_b.update(i for i in range(len(b.tokens)) if i not in matched_b)
    if not changed_a and not changed_b:
        return []
    # group the changes into hunks along the alignment
    hunks: list[Hunk] = []
    ia = ib = 0
    pairs = sorted((x, y) for x, y in match.items())
    cur: Hunk | None = None
    for x, y in pairs:
        gap = x > ia or y > ib
        if gap or (x in changed_a and x < len(a.tokens)):
            if cur is None:
                cur = Hunk((ia, ia), (ib, ib))
            end_a = x + 1 if x in changed_a and x < len(a.tokens) else x
            end_b = y + 1 if y in changed_b and y < len(b.tokens) else y
            cur.a = (cur.a[0], end_a)
            cur.b = (cur.b[0], end_b)
            if not (x in changed_a and x < len(a.tokens)):
                hunks.append(cur)
                cur = None
        elif cur is not None:
            hunks.append(cur)
            cur = None
        ia, ib = x + 1, y + 1
    if cur is not None:
        hunks.append(cur)
    for h in hunks:
        h.removed = a.texts[h.a[0]:h.a[1]]
        h.added = b.texts[h.b[0]:h.b[1]]
    return [h for h in hunks if h.removed or h.added]


def line_counts(fc: FunctionCode) -> dict:
    """Instructions per source line: {(file key, line): [count, file, source]}."""
    out: dict = {}
    for ln in fc.lines:
        if ln is None:
            continue
        e = out.setdefault((ln[0], ln[1]), [0, ln[2], ln[3]])
        e[0] += 1
    return out
