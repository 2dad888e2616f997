"""Code sections, functions and their basic blocks.

A :class:`Code` holds every code section of an object as instruction slots
``(opcode, regs, off, imm)`` (regs: dst in the low nibble), and knows where each
bpf-to-bpf call and each callback address (``ld_imm64`` of a function) goes: across
sections through the ELF relocations, inside a section by the pc-relative offset.
An ``ld_imm64`` of a map loads a :class:`MapRef` (the file holds 0 there until libbpf
patches in the map's fd).

:func:`function_blocks` cuts the function starting at a slot into basic blocks by
following its jumps (not its calls: a call is an instruction inside a block, and
:attr:`Block.calls` lists where it goes).  A block ends at a jump, an exit, or where
another block starts.  Everything is bounded by the section's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.isa import opcodes as oc

Slot = tuple[int, int, int, int]
Where = tuple[str, int]          # (section name, slot index)

CALL = oc.JMP | oc.JMP_CALL | oc.K
EXIT = oc.JMP | oc.JMP_EXIT | oc.K
# may_goto (cpu v4 JCOND) jumps or falls through
JCOND = oc.JMP | oc.JMP_JCOND | oc.K


@dataclass(frozen=True, slots=True)
class MapRef:
    """The value an ``ld_imm64`` of a map gives (a pointer to the map named ``name``)."""
    name: str


@dataclass
class Code:
    """Instruction slots per section, and where calls and callback addresses lead."""

    sections: dict[str, list[Slot]]
    # (section, slot) of a call or ld_imm64 -> (section, slot) of the function it names
    links: dict[Where, Where] = field(default_factory=dict)
    # entries of global functions: the verifier checks them on their own, with unknown arguments
    global_functions: set[Where] = field(default_factory=set)
    # (section, slot) of an ld_imm64 -> what it loads, where that is no number (a map)
    values: dict[Where, MapRef] = field(default_factory=dict)

    def slot(self, where: Where) -> Slot | None:
        slots = self.sections.get(where[0])
        if slots is None or not 0 <= where[1] < len(slots):
            return None
        return slots[where[1]]

    def call_target(self, where: Where) -> Where | None:
        """Where a bpf-to-bpf call at ``where`` goes (None: not a local call, or nowhere)."""
        s = self.slot(where)
        if s is None or s[0] != CALL or (s[1] >> 4) != oc.CALL_LOCAL:
            return None
        if where in self.links:
            return self.links[where]
        return (where[0], where[1] + 1 + s[3])

    def callback_target(self, where: Where) -> Where | None:
        """The function whose address an ``ld_imm64`` at ``where`` loads (src = PSEUDO_FUNC)."""
        s = self.slot(where)
        if s is None or s[0] != oc.LD_IMM64 or (s[1] >> 4) != oc.PSEUDO_FUNC:
            return None
        if where in self.links:
            return self.links[where]
        return (where[0], where[1] + 1 + s[3])


def is_wide(slot: Slot) -> bool:
    return slot[0] == oc.LD_IMM64


def successors(slots: list[Slot], i: int) -> tuple[list[int], bool]:
    """(slots control may go to after slot ``i`` inside its function, ends the block)."""
    op, _regs, off, imm = slots[i]
    cls = op & 0x07
    if op == oc.LD_IMM64:
        return [i + 2], False
    if cls in (oc.JMP, oc.JMP32):
        code = op & 0xF0
        if op == EXIT:
            return [], True
        if code == oc.JMP_CALL:
            return [i + 1], False
        if code == oc.JMP_JA:
            if cls == oc.JMP32:
                return [i + 1 + imm], True
            return [i + 1 + off], True
        return [i + 1, i + 1 + off], True
    return [i + 1], False


@dataclass
class Block:
    start: int                      # first slot
    end: int                        # one past the last slot
    succs: list[int]                # first slots of the successor blocks
    calls: list[Where]              # bpf-to-bpf call targets inside the block
    bad: str | None = None          # set when control leaves the section (the verifier says no)


MAX_BLOCKS = 1 << 20


def function_blocks(code: Code, where: Where) -> dict[int, Block]:
    """The basic blocks of the function entered at ``where`` (by first slot)."""
    sec, entry = where
    slots = code.sections[sec]
    n = len(slots)
    # 1. the slots reached by jumps and fall-through, and the leaders
    seen: set[int] = set()
    leaders = {entry}
    todo = [entry]
    while todo:
        i = todo.pop()
        while 0 <= i < n and i not in seen:
            seen.add(i)
            succ, ends = successors(slots, i)
            if ends:
                for s in succ:
                    leaders.add(s)
                    todo.append(s)
                break
            i = succ[0]
        if len(seen) > MAX_BLOCKS:
            break
    # 2. the blocks
    blocks: dict[int, Block] = {}
    for lead in sorted(leaders):
        if not 0 <= lead < n:
            continue
        i = lead
        calls: list[Where] = []
        while True:
            t = code.call_target((sec, i))
            if t is not None:
                calls.append(t)
            succ, ends = successors(slots, i)
            nxt = succ[0] if succ and not ends else None
            if ends or nxt is None or nxt in leaders or not 0 <= nxt < n:
                end = i + (2 if is_wide(slots[i]) else 1)
                bad = None
                targets = succ
                if any(not 0 <= s < n for s in targets):
                    bad = f"jump out of range from insn {i}"
                    targets = [s for s in targets if 0 <= s < n]
                blocks[lead] = Block(lead, end, targets, calls, bad)
                break
            i = nxt
    return blocks


def call_graph(code: Code, entry: Where, limit: int = 4096) -> dict[Where, list[Where]]:
    """Every function reachable from ``entry`` by calls and callback addresses, with the
    functions each one calls (directly, in slot order)."""
    graph: dict[Where, list[Where]] = {}
    todo = [entry]
    while todo and len(graph) < limit:
        f = todo.pop()
        if f in graph or f[0] not in code.sections:
            continue
        blocks = function_blocks(code, f)
        out: list[Where] = []
        for b in blocks.values():
            out.extend(b.calls)
            for i in range(b.start, b.end):
                cb = code.callback_target((f[0], i))
                if cb is not None:
                    out.append(cb)
        graph[f] = out
        todo.extend(out)
    return graph


def code_of(obj) -> Code:
    """The code of a :class:`~bpfinspect.obj.BpfObject`, with its call links."""
    sections = {name: obj.code_section(name).slots for name in obj.code_sections}
    funcs = {f.name: f for f in obj.functions}
    links: dict[Where, Where] = {}
    values: dict[Where, MapRef] = {}
    for r in obj.relocs:
        if r.kind == "map" and r.section in sections:
            values[(r.section, r.insn_index)] = MapRef(r.target)
            continue
        if r.kind not in ("subprog_call", "callback") or r.section not in sections:
            continue
        f = funcs.get(r.target)
        if f is not None:
            links[(r.section, r.insn_index)] = (f.section, r.target_offset)
        elif "+" in r.target:
            sec, _, idx = r.target.rpartition("+")
            if sec in sections and idx.isdigit():
                links[(r.section, r.insn_index)] = (sec, int(idx))
    globals_ = {(f.section, f.offset // 8) for f in obj.functions if f.linkage == "global" and f.section == ".text"}
    return Code(sections, links, globals_, values)
