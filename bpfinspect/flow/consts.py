"""Which instructions the verifier can reach: constant propagation over registers.

The verifier walks every path, and prunes a branch whose condition it can decide from
known register values.  This interpreter does the same with a simple lattice: each of
r0..r10 and each 8-byte stack slot holds either a known 64-bit constant, a known
offset from the frame pointer, or nothing known.  States meet at block starts
(a value stays known only when every path agrees), a conditional jump whose operands
are both known goes one way only, and ``==``/``!=`` against a constant teaches the
register its value on the side where it holds.

Values a register can hold beside numbers: a pointer into the frame, and a map (an
``ld_imm64`` of a map, :class:`~bpfinspect.flow.cfg.MapRef`), so that the maps and the
constant sizes given to a helper can be read at the call (:func:`helper_calls`).

Calls: a bpf-to-bpf call analyses the callee with the caller's r1..r5 (one analysis
per distinct set of argument values, up to the verifier's 8 frames); after any call
r0..r5 are unknown.  A callback (the address of a function passed to a helper) is
analysed with unknown arguments, and so is a global function (the verifier checks
it once, on its own).  When the work exceeds a budget the answer falls back
to plain graph reachability (every path assumed possible), which only over-approximates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.flow.cfg import CALL, Code, MapRef, Where, function_blocks
from bpfinspect.isa import opcodes as oc

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
MAX_FRAMES = 8
MAX_CONTEXTS = 512
MAX_STEPS = 2_000_000
MAX_VISITS = 64          # visits of one block before its state gives up all knowledge

# A value: int (a known u64), ("fp", off) a pointer into the current frame, a MapRef, or None.
Value = object
FP = "fp"


@dataclass
class Reach:
    """The outcome: reachable slots per section, and whether it is exact."""

    slots: set[Where] = field(default_factory=set)
    approximate: bool = False
    reason: str = ""


def _sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _alu(code: int, a: int, b: int, wide: bool, off: int) -> int | None:
    bits = 64 if wide else 32
    mask = M64 if wide else M32
    a &= mask
    b &= mask
    if code == oc.ALU_ADD:
        r = a + b
    elif code == oc.ALU_SUB:
        r = a - b
    elif code == oc.ALU_MUL:
        r = a * b
    elif code == oc.ALU_DIV:
        if off == 1:
            sa, sb = _sx(a, bits), _sx(b, bits)
            r = 0 if sb == 0 else abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1)
        else:
            r = 0 if b == 0 else a // b
    elif code == oc.ALU_MOD:
        if off == 1:
            sa, sb = _sx(a, bits), _sx(b, bits)
            r = sa if sb == 0 else sa - sb * (abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1))
        else:
            r = a if b == 0 else a % b
    elif code == oc.ALU_OR:
        r = a | b
    elif code == oc.ALU_AND:
        r = a & b
    elif code == oc.ALU_XOR:
        r = a ^ b
    elif code == oc.ALU_LSH:
        r = a << (b & (bits - 1))
    elif code == oc.ALU_RSH:
        r = a >> (b & (bits - 1))
    elif code == oc.ALU_ARSH:
        r = _sx(a, bits) >> (b & (bits - 1))
    else:
        return None
    return r & mask


def _cond(code: int, a: int, b: int, wide: bool) -> bool | None:
    bits = 64 if wide else 32
    mask = M64 if wide else M32
    a &= mask
    b &= mask
    sa, sb = _sx(a, bits), _sx(b, bits)
    return {
        oc.JMP_JEQ: a == b, oc.JMP_JNE: a != b, oc.JMP_JGT: a > b, oc.JMP_JGE: a >= b,
        oc.JMP_JLT: a < b, oc.JMP_JLE: a <= b, oc.JMP_JSET: bool(a & b),
        oc.JMP_JSGT: sa > sb, oc.JMP_JSGE: sa >= sb, oc.JMP_JSLT: sa < sb, oc.JMP_JSLE: sa <= sb,
    }.get(code)


State = tuple  # (regs tuple of 11, frozenset of (offset, value) stack slots)


def _meet(a: State, b: State) -> State:
    ra, sa = a
    rb, sb = b
    regs = tuple(x if x == y else None for x, y in zip(ra, rb))
    return regs, sa & sb


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.contexts = 0


class _Exhausted(Exception):
    pass


def reachable(code: Code, entry: Where) -> Reach:
    """The slots the verifier can reach from the program entry ``entry``."""
    out = Reach()
    budget = _Budget()
    memo: dict[tuple, None] = {}
    try:
        _function(code, entry, (None,) * 5, 1, out, budget, memo)
    except _Exhausted as exc:
        out = graph_reach(code, entry)
        out.approximate = True
        out.reason = str(exc)
    return out


@dataclass
class HelperCalls:
    """The reachable calls to some helpers, with what their arguments hold there.

    ``sites`` maps each call's (section, slot) to its helper id and one tuple of r1..r5
    per analysis context (a callee analysed for two sets of arguments gives two);
    each value is an int, ``("fp", offset)``, a :class:`MapRef` or None (unknown).
    ``approximate`` is set when the work budget ran out: the calls found so far are
    kept, and the reachable calls not analysed get unknown arguments."""

    sites: dict[Where, tuple[int, list[tuple]]] = field(default_factory=dict)
    approximate: bool = False
    reason: str = ""


def helper_calls(code: Code, entry: Where, helper_ids) -> HelperCalls:
    """Every call to a helper of ``helper_ids`` the verifier can reach from ``entry``, with its arguments."""
    wanted = frozenset(helper_ids)
    seen: dict[tuple, tuple] = {}   # (site, context) -> arguments; the last run of a block is final

    def observe(where: Where, ctx: tuple, helper: int, args: tuple) -> None:
        if helper in wanted:
            seen[(where, ctx)] = (helper, args)

    out = HelperCalls()
    budget = _Budget()
    memo: dict[tuple, None] = {}
    reach = Reach()
    try:
        _function(code, entry, (None,) * 5, 1, reach, budget, memo, observe)
    except _Exhausted as exc:
        out.approximate = True
        out.reason = str(exc)
        reach = graph_reach(code, entry)
    for (where, _ctx), (helper, args) in seen.items():
        _h, contexts = out.sites.setdefault(where, (helper, []))
        if args not in contexts:
            contexts.append(args)
    if out.approximate:
        for where in reach.slots:
            slot = code.slot(where)
            if slot is not None and slot[0] == CALL and (slot[1] >> 4) == 0 and slot[3] in wanted \
                    and where not in out.sites:
                out.sites[where] = (slot[3], [(None,) * 5])
    return out


def graph_reach(code: Code, entry: Where) -> Reach:
    """Every slot of every block of every function reachable by calls (no pruning)."""
    from bpfinspect.flow.cfg import call_graph

    out = Reach()
    for f in call_graph(code, entry):
        for b in function_blocks(code, f).values():
            for i in range(b.start, b.end):
                out.slots.add((f[0], i))
    return out


def _function(code: Code, entry: Where, args: tuple, depth: int, out: Reach, budget: _Budget,
              memo: dict, observe=None) -> None:
    key = (entry, args)
    if key in memo:
        return
    memo[key] = None
    budget.contexts += 1
    if budget.contexts > MAX_CONTEXTS:
        raise _Exhausted("too many call contexts")
    if depth > MAX_FRAMES:
        raise _Exhausted("calls nest deeper than the verifier allows")
    sec = entry[0]
    if sec not in code.sections:
        return
    slots = code.sections[sec]
    blocks = function_blocks(code, entry)
    regs0 = (None,) + tuple(args) + (None,) * 4 + ((FP, 0),)
    states: dict[int, State] = {entry[1]: (regs0, frozenset())}
    visits: dict[int, int] = {}
    work = [entry[1]]
    while work:
        start = work.pop()
        block = blocks.get(start)
        if block is None:
            continue
        visits[start] = visits.get(start, 0) + 1
        state = states[start]
        if visits[start] > MAX_VISITS:
            state = ((None,) * 10 + ((FP, 0),), frozenset())
            states[start] = state
        for nxt, st in _run_block(code, sec, slots, block, state, depth, out, budget, memo, observe, key):
            old = states.get(nxt)
            new = st if old is None else _meet(old, st)
            if old != new:
                states[nxt] = new
                if nxt not in work:
                    work.append(nxt)


def _run_block(code, sec, slots, block, state, depth, out, budget, memo, observe=None, ctx=None):
    regs = list(state[0])
    stack = dict(state[1])
    i = block.start
    last = i
    while i < block.end:
        last = i
        budget.steps += 1
        if budget.steps > MAX_STEPS:
            raise _Exhausted("too many steps")
        out.slots.add((sec, i))
        op, rb, off, imm = slots[i]
        dst, src = rb & 0x0F, rb >> 4
        if dst > 10 or src > 10:
            return []
        cls = op & 0x07
        if op == oc.LD_IMM64:
            out.slots.add((sec, i + 1))
            loaded = code.values.get((sec, i))
            if loaded is not None:
                regs[dst] = loaded
            elif src == 0 and i + 1 < len(slots):
                regs[dst] = ((slots[i + 1][3] & M32) << 32) | (imm & M32)
            else:
                regs[dst] = None
                cb = code.callback_target((sec, i))
                if cb is not None:
                    _function(code, cb, (None,) * 5, depth + 1, out, budget, memo, observe)
            i += 2
            continue
        if cls in (oc.ALU, oc.ALU64):
            _alu_step(op, dst, src, off, imm, regs, cls == oc.ALU64)
        elif cls == oc.LDX:
            base = regs[src]
            mode = op & 0xE0
            if isinstance(base, tuple) and (op & 0x18) == oc.SIZE_DW and mode == oc.MODE_MEM:
                regs[dst] = stack.get(base[1] + off)
            else:
                regs[dst] = None
        elif cls in (oc.ST, oc.STX):
            base = regs[dst]
            if isinstance(base, tuple):
                at = base[1] + off
                size = oc.SIZE_BYTES.get(op & 0x18, 8)
                for k in [k for k in stack if k < at + size and at < k + 8]:
                    del stack[k]
                if (op & 0xE0) == oc.MODE_MEM and size == 8:
                    stack[at] = (imm & M64) if cls == oc.ST else regs[src]
                elif (op & 0xE0) == oc.MODE_ATOMIC and (imm & oc.ATOMIC_FETCH) and cls == oc.STX:
                    regs[src if imm != oc.ATOMIC_CMPXCHG else 0] = None
        elif cls in (oc.JMP, oc.JMP32):
            if op == CALL:
                if src == 0 and observe is not None:
                    observe((sec, i), ctx, imm, tuple(regs[1:6]))
                if src == oc.CALL_LOCAL:
                    target = code.call_target((sec, i))
                    if target is not None:
                        args = tuple(v if isinstance(v, (int, MapRef)) else None for v in regs[1:6])
                        if target in code.global_functions:
                            args = (None,) * 5
                        _function(code, target, args, depth + 1, out, budget, memo, observe)
                    if any(isinstance(v, tuple) for v in regs[1:6]):
                        stack.clear()
                for r in range(6):
                    regs[r] = None
            elif (op & 0xF0) == oc.JMP_EXIT:
                return []
        i += 1
    op, rb, off, imm = slots[last]
    cls = op & 0x07
    st_regs, st_stack = tuple(regs), frozenset(stack.items())
    if cls in (oc.JMP, oc.JMP32) and (op & 0xF0) not in (oc.JMP_CALL, oc.JMP_EXIT, oc.JMP_JA) \
            and op != (oc.JMP | oc.JMP_JCOND | oc.K) and len(block.succs) == 2:
        fall, taken = block.succs[0], block.succs[1]
        dst, src = rb & 0x0F, rb >> 4
        a = regs[dst]
        b = regs[src] if op & oc.X else imm & M64
        code_ = op & 0xF0
        wide = cls == oc.JMP
        if isinstance(a, int) and isinstance(b, int):
            r = _cond(code_, a, b, wide)
            if r is not None:
                return [(taken if r else fall, (st_regs, st_stack))]
        if code_ in (oc.JMP_JEQ, oc.JMP_JNE) and a is None and isinstance(b, int) and wide:
            known = list(regs)
            known[dst] = b
            k_state = (tuple(known), st_stack)
            if code_ == oc.JMP_JEQ:
                return [(fall, (st_regs, st_stack)), (taken, k_state)]
            return [(fall, k_state), (taken, (st_regs, st_stack))]
    return [(s, (st_regs, st_stack)) for s in block.succs]


def _alu_step(op: int, dst: int, src: int, off: int, imm: int, regs: list, wide: bool) -> None:
    code = op & 0xF0
    a = regs[dst]
    if code == oc.ALU_MOV:
        if op & oc.X:
            v = regs[src]
            if isinstance(v, int):
                if off in (8, 16, 32):
                    v = _sx(v, off) & M64
                regs[dst] = v if wide else (v & M32)
            else:
                regs[dst] = v if (wide and off == 0) else None
        else:
            regs[dst] = (imm & M64) if wide else (imm & M32)
        return
    if code == oc.ALU_NEG:
        regs[dst] = ((-a) & (M64 if wide else M32)) if isinstance(a, int) else None
        return
    if code == oc.ALU_END:
        regs[dst] = None
        return
    b = regs[src] if op & oc.X else (imm & M64)
    if isinstance(a, tuple) and wide and isinstance(b, int) and code in (oc.ALU_ADD, oc.ALU_SUB):
        regs[dst] = (FP, a[1] + (_sx(b, 64) if code == oc.ALU_ADD else -_sx(b, 64)))
        return
    if isinstance(a, int) and isinstance(b, int):
        regs[dst] = _alu(code, a, b, wide, off)
    else:
        regs[dst] = None
