"""How close a program is to the verifier's limits: stack, instructions, loops.

For each function reachable from a program (bpf-to-bpf calls and callbacks, the
edges the verifier's stack check follows):

- its **stack**: the deepest byte below the frame pointer it touches, directly
  (``*(u64 *)(r10 - 16)``) or through a pointer derived from r10 (``r2 = r10;
  r2 += -20``, passed to a helper), rounded up to whole 8-byte slots: the
  figure the verifier prints per function in ``stack depth A+B+...`` (it
  grows a frame slot by slot, since Linux 6.8; before, the exact offset), plus
  the slots the kernel adds when it rewrites code (an inlined bpf_loop(), may_goto);
- its **frame**: that figure rounded up as the kernel does before adding
  frames (16 bytes with the JIT, 32 with the interpreter, a frame of at
  least one byte then).

The program's stack is the largest sum of frames along one chain of calls
(the kernel refuses more than 512 bytes, and more than 8 frames), and a tail
call reached from a called function is refused when the frames before that
function hold 256 bytes or more.  Instructions: the slots loaded (the program
and every function it reaches, as libbpf appends them) and along the longest
path (back-edges cut, each call counted with its callee's longest path).
Loops: each back-edge, with whether an exit test compares a counter stepped by
a constant against a constant (the verifier can then walk it to the end).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.flow.cfg import CALL, JCOND, Code, Where, function_blocks
from bpfinspect.isa import opcodes as oc

MAX_STACK = 512              # MAX_BPF_STACK
MAX_FRAMES = 8               # MAX_CALL_FRAMES
TAIL_CALL_STACK = 256        # frames before a function with a tail call must stay under this
UNPRIV_INSNS = 4096          # BPF_MAXINSNS: the length limit without CAP_BPF / CAP_SYS_ADMIN
MAX_INSNS = 1_000_000        # BPF_COMPLEXITY_LIMIT_INSNS: length and processed instructions
TAIL_CALL_HELPER = 12
BPF_LOOP_HELPER = 181
BPF_LOOP_STACK = 24          # an inlined bpf_loop(): counter, callback context and bound
MAY_GOTO_STACK = 16          # may_goto's counter and timestamp (x86, Linux 6.15 and later)
MAX_CHAINS = 100_000         # call chains walked per program before giving up exactness
MAX_LOOPS = 1000             # loops analysed per program


def frame_size(stack: int, jit: bool = True) -> int:
    """The frame the kernel counts for a function using ``stack`` bytes."""
    if jit:
        return (stack + 15) // 16 * 16
    return (max(stack, 1) + 31) // 32 * 32


@dataclass
class Loop:
    function: str
    header: int              # slot of the loop's first instruction (in its section)
    latch: int               # slot of the jump back
    insns: int               # slots in the loop body
    bounded: bool
    bound: str | None = None     # the exit test, "r1 < 16"
    iterations: int | None = None
    reason: str = ""

    def to_json(self) -> dict:
        return {"function": self.function, "header": self.header, "latch": self.latch, "insns": self.insns,
                "bounded": self.bounded, "bound": self.bound, "iterations": self.iterations,
                "reason": self.reason or None}


@dataclass
class FunctionBudget:
    name: str
    where: Where
    stack: int               # bytes below r10 the function touches
    frame: int               # stack rounded as the kernel adds it
    insns: int               # slots
    calls: list[str] = field(default_factory=list)   # callees (calls and callbacks) in slot order
    tail_calls: int = 0
    longest_path: int = 0


@dataclass
class ProgramBudget:
    name: str
    section: str
    stack: int                         # frames of the deepest chain, added as the kernel does
    stack_path: list[dict]             # [{"function", "stack", "frame", "depth"}]
    peak: str                          # the function where the stack peaks
    frames: int                        # longest chain of calls, in frames
    tail_calls: list[dict]             # [{"function", "insn", "depth_before"}]
    insns: int
    longest_path: int
    loops: list[Loop]
    functions: list[FunctionBudget]    # in the order libbpf appends them to the program
    warnings: list[str]
    approximate: bool = False

    def to_json(self) -> dict:
        return {
            "name": self.name, "section": self.section, "stack": self.stack, "stack_path": self.stack_path,
            "tail_calls": self.tail_calls, "insns": self.insns, "longest_path": self.longest_path,
            "loops": [lp.to_json() for lp in self.loops], "warnings": self.warnings,
            # beyond the contract
            "stack_peak": self.peak, "frames": self.frames, "approximate": self.approximate,
            "functions": [{"name": f.name, "stack": f.stack, "frame": f.frame, "insns": f.insns,
                           "calls": f.calls, "tail_calls": f.tail_calls, "longest_path": f.longest_path}
                          for f in self.functions],
        }


# -- stack of one function -------------------------------------------------------------------------

def function_stack(code: Code, where: Where) -> int:
    """The stack of the function at ``where``: the deepest byte below the frame pointer it
    touches, in whole 8-byte slots (0: none)."""
    sec = where[0]
    slots = code.sections[sec]
    blocks = function_blocks(code, where)
    low = 0
    states: dict[int, dict[int, int]] = {where[1]: {10: 0}}
    work = [where[1]]
    visits: dict[int, int] = {}
    while work:
        start = work.pop()
        block = blocks.get(start)
        if block is None:
            continue
        visits[start] = visits.get(start, 0) + 1
        if visits[start] > 64:          # a meet that keeps shrinking converges long before this
            continue
        fp = dict(states[start])
        i = block.start
        while i < block.end:
            op, rb, off, imm = slots[i]
            dst, src = rb & 0x0F, rb >> 4
            cls = op & 0x07
            i += 1
            if op == oc.LD_IMM64:
                fp.pop(dst, None)
                i += 1
                continue
            if cls in (oc.ALU, oc.ALU64):
                code_ = op & 0xF0
                if cls == oc.ALU64 and code_ == oc.ALU_MOV and op & oc.X and off == 0 and src in fp:
                    fp[dst] = fp[src]
                elif cls == oc.ALU64 and code_ in (oc.ALU_ADD, oc.ALU_SUB) and not op & oc.X and dst in fp:
                    fp[dst] += imm if code_ == oc.ALU_ADD else -imm
                    low = min(low, fp[dst])
                else:
                    fp.pop(dst, None)
            elif cls == oc.LDX:
                if src in fp and (op & 0xE0) in (oc.MODE_MEM, oc.MODE_MEMSX):
                    low = min(low, fp[src] + off)
                fp.pop(dst, None)
            elif cls in (oc.ST, oc.STX):
                if dst in fp:
                    low = min(low, fp[dst] + off)
                if cls == oc.STX and (op & 0xE0) == oc.MODE_ATOMIC and imm & oc.ATOMIC_FETCH:
                    fp.pop(0 if imm == oc.ATOMIC_CMPXCHG else src, None)
            elif cls in (oc.JMP, oc.JMP32) and op == CALL:
                for r in range(6):
                    fp.pop(r, None)
            elif cls == oc.LD:                 # legacy packet loads clobber r0
                fp.pop(0, None)
        for s in block.succs:
            old = states.get(s)
            new = dict(fp) if old is None else {r: v for r, v in old.items() if fp.get(r) == v}
            if old != new:
                states[s] = new
                if s not in work:
                    work.append(s)
    # the verifier grows a frame's stack by whole 8-byte slots and reports that size (6.8 and later)
    return (-low + 7) // 8 * 8 if low < 0 else 0


# -- loops ------------------------------------------------------------------------------------------

def _back_edges(blocks, entry: int) -> list[tuple[int, int]]:
    """(latch block, header block) for each edge to a block on the depth-first path."""
    edges: list[tuple[int, int]] = []
    state: dict[int, int] = {}          # 1 on the path, 2 done
    stack = [(entry, iter(blocks[entry].succs if entry in blocks else ()))]
    state[entry] = 1
    while stack:
        b, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[b] = 2
            stack.pop()
            continue
        if nxt not in blocks:
            continue
        st = state.get(nxt)
        if st == 1:
            edges.append((b, nxt))
        elif st is None:
            state[nxt] = 1
            stack.append((nxt, iter(blocks[nxt].succs)))
    return edges


def _predecessors(blocks) -> dict[int, list[int]]:
    preds: dict[int, list[int]] = {}
    for b in blocks.values():
        for s in b.succs:
            preds.setdefault(s, []).append(b.start)
    return preds


def _loop_body(preds: dict[int, list[int]], latch: int, header: int) -> set[int]:
    body = {header}
    todo = [latch]
    while todo:
        b = todo.pop()
        if b in body:
            continue
        body.add(b)
        todo.extend(preds.get(b, ()))
    return body


_FLIP = {oc.JMP_JLT: oc.JMP_JGE, oc.JMP_JGE: oc.JMP_JLT, oc.JMP_JLE: oc.JMP_JGT, oc.JMP_JGT: oc.JMP_JLE,
         oc.JMP_JEQ: oc.JMP_JNE, oc.JMP_JNE: oc.JMP_JEQ, oc.JMP_JSLT: oc.JMP_JSGE, oc.JMP_JSGE: oc.JMP_JSLT,
         oc.JMP_JSLE: oc.JMP_JSGT, oc.JMP_JSGT: oc.JMP_JSLE}


# a OP b  is  b SWAP[OP] a
_SWAP = {oc.JMP_JLT: oc.JMP_JGT, oc.JMP_JGT: oc.JMP_JLT, oc.JMP_JLE: oc.JMP_JGE, oc.JMP_JGE: oc.JMP_JLE,
         oc.JMP_JSLT: oc.JMP_JSGT, oc.JMP_JSGT: oc.JMP_JSLT, oc.JMP_JSLE: oc.JMP_JSGE, oc.JMP_JSGE: oc.JMP_JSLE,
         oc.JMP_JEQ: oc.JMP_JEQ, oc.JMP_JNE: oc.JMP_JNE}


def _writes(slot) -> int | None:
    """The register an instruction writes (None: none, or only memory)."""
    op, rb, _off, imm = slot
    cls = op & 0x07
    if cls in (oc.ALU, oc.ALU64, oc.LDX) or op == oc.LD_IMM64:
        return rb & 0x0F
    if cls == oc.STX and (op & 0xE0) == oc.MODE_ATOMIC and imm & oc.ATOMIC_FETCH:
        return 0 if imm == oc.ATOMIC_CMPXCHG else rb >> 4
    if cls in (oc.JMP, oc.JMP32) and op == CALL:
        return 0
    return None


def _const_before(slots, blocks, header: int, body: set[int], reg: int) -> int | None:
    """The constant ``reg`` holds when the loop is entered, when one block leading in says so."""
    entries = [b for b in blocks.values() if b.start not in body and header in b.succs]
    values = set()
    for b in entries:
        found = None
        for i in range(b.end - 1, b.start - 1, -1):
            if i > b.start and slots[i - 1][0] == oc.LD_IMM64:
                continue
            s = slots[i]
            if (s[0] & 0x07) in (oc.JMP, oc.JMP32) and s[0] == CALL and reg <= 5:
                return None
            if _writes(s) == reg:
                if s[0] in (oc.ALU64 | oc.ALU_MOV | oc.K, oc.ALU | oc.ALU_MOV | oc.K):
                    found = s[3] & ((1 << 64) - 1 if s[0] & 0x07 == oc.ALU64 else 0xFFFFFFFF)
                break
        if found is None:
            return None
        values.add(found)
    return values.pop() if len(values) == 1 else None


def _loop(code: Code, fname: str, where: Where, blocks, preds, latch: int, header: int) -> Loop:
    sec = where[0]
    slots = code.sections[sec]
    body = _loop_body(preds, latch, header)
    n = sum(blocks[b].end - blocks[b].start for b in body if b in blocks)
    loop = Loop(fname, header, blocks[latch].end - 1, n, False)
    # the registers the body writes, and how
    steps: dict[int, set] = {}
    for b in body:
        blk = blocks.get(b)
        if blk is None:
            continue
        for i in range(blk.start, blk.end):
            if i > blk.start and slots[i - 1][0] == oc.LD_IMM64:
                continue
            s = slots[i]
            r = _writes(s)
            if r is None:
                continue
            code_ = s[0] & 0xF0
            if (s[0] & 0x07) in (oc.ALU, oc.ALU64) and not s[0] & oc.X and code_ in (oc.ALU_ADD, oc.ALU_SUB):
                steps.setdefault(r, set()).add(s[3] if code_ == oc.ALU_ADD else -s[3])
            else:
                steps.setdefault(r, set()).add(None)
    for b in body:
        blk = blocks.get(b)
        if blk is not None and slots[blk.end - 1][0] == JCOND and (slots[blk.end - 1][1] >> 4) == oc.MAY_GOTO:
            loop.bounded = True
            loop.bound = "may_goto"            # the kernel counts the iterations and leaves the loop
            return loop
    reasons = []
    for b in sorted(body):
        blk = blocks.get(b)
        if blk is None or len(blk.succs) != 2:
            continue
        i = blk.end - 1
        op, rb, off, imm = slots[i]
        if (op & 0x07) not in (oc.JMP, oc.JMP32) or (op & 0xF0) in (oc.JMP_JA, oc.JMP_CALL, oc.JMP_EXIT, oc.JMP_JCOND):
            continue
        fall, taken = blk.succs
        if (fall in body) == (taken in body):
            continue                      # not an exit
        dst, src = rb & 0x0F, rb >> 4
        cmp = op & 0xF0
        # the condition under which the loop goes on
        stay = cmp if taken in body else _FLIP.get(cmp)
        if stay is None:
            continue
        if op & oc.X:
            if dst not in steps and src in steps and stay in _SWAP:
                dst, src, stay = src, dst, _SWAP[stay]     # the counter on the left
            if src in steps:
                reasons.append(f"the exit test at insn {i} compares two values the loop changes")
                continue
            limit = _const_before(slots, blocks, header, body, src)
            if limit is None:
                reasons.append(f"the exit test at insn {i} compares r{dst} with r{src}, not a constant")
                continue
        else:
            limit = imm & 0xFFFFFFFF if (op & 0x07) == oc.JMP32 else imm & ((1 << 64) - 1)
            if imm < 0 and (op & 0x07) == oc.JMP:
                limit = imm
        st = steps.get(dst, set())
        if len(st) != 1 or None in st or 0 in st:
            reasons.append(f"r{dst}, tested at insn {i}, is not stepped by one constant in the loop")
            continue
        step = st.pop()
        sym = oc.JUMP_OPERATORS.get(stay, "?")
        reg = f"{'w' if (op & 0x07) == oc.JMP32 else 'r'}{dst}"
        loop.bounded = True
        loop.bound = f"{reg} {sym} {limit}"
        start = _const_before(slots, blocks, header, body, dst)
        loop.iterations = _iterations(start, step, stay, limit)
        return loop
    loop.reason = "; ".join(reasons) or "no exit test compares a counter with a constant"
    return loop


def _iterations(start, step, stay, limit) -> int | None:
    if start is None or not isinstance(limit, int):
        return None
    if stay in (oc.JMP_JLT, oc.JMP_JSLT) and step > 0:
        return max(0, -(-(limit - start) // step))
    if stay in (oc.JMP_JLE, oc.JMP_JSLE) and step > 0:
        return max(0, (limit - start) // step + 1)
    if stay in (oc.JMP_JGT, oc.JMP_JSGT) and step < 0:
        return max(0, -(-(start - limit) // -step))
    if stay in (oc.JMP_JGE, oc.JMP_JSGE) and step < 0:
        return max(0, (start - limit) // -step + 1)
    if stay == oc.JMP_JNE and (limit - start) % step == 0 and (limit - start) // step >= 0:
        return (limit - start) // step
    return None


# -- a program --------------------------------------------------------------------------------------

def _hidden_slots(code: Code, where: Where, blocks) -> int:
    """Stack the kernel adds to a function for what it rewrites: a bpf_loop() call inlined keeps
    its loop state in three slots of the caller's frame (5.19 and later), and may_goto keeps its
    counter there (one slot; two, with the time of the last check, on x86 since 6.15)."""
    sec = where[0]
    slots = code.sections[sec]
    extra = 0
    loop = goto = False
    for b in blocks.values():
        for i in range(b.start, b.end):
            op, rb, _off, imm = slots[i]
            if op == CALL and (rb >> 4) == oc.CALL_HELPER and imm == BPF_LOOP_HELPER:
                loop = True
            elif op == JCOND and (rb >> 4) == oc.MAY_GOTO:
                goto = True
    if loop:
        extra += BPF_LOOP_STACK
    if goto:
        extra += MAY_GOTO_STACK
    return extra


def _callback(code: Code, where: Where) -> Where | None:
    """The function whose address an ``ld_imm64`` at ``where`` loads: marked as such
    (src = PSEUDO_FUNC, as libbpf leaves it) or, in an object, named by its relocation."""
    t = code.callback_target(where)
    if t is None:
        s = code.slot(where)
        if s is not None and s[0] == oc.LD_IMM64:
            t = code.links.get(where)
    return t


def _callees(code: Code, where: Where, blocks, size: int | None) -> tuple[list[Where], list[int]]:
    """(functions called or passed as callbacks, in slot order; tail call slots).  With the
    function's ``size`` known, every slot of it counts, reachable or not: libbpf appends what any
    call names, and the kernel's stack check follows every call instruction."""
    sec = where[0]
    slots = code.sections[sec]
    out: list[Where] = []
    tails: list[int] = []
    if size:
        spans = [range(where[1], min(where[1] + size, len(slots)))]
    else:
        spans = [range(blocks[b].start, blocks[b].end) for b in sorted(blocks)]
    for span in spans:
        for i in span:
            t = code.call_target((sec, i)) or _callback(code, (sec, i))
            if t is not None:
                out.append(t)
            s = slots[i]
            if s[0] == CALL and (s[1] >> 4) == oc.CALL_HELPER and s[3] == TAIL_CALL_HELPER:
                tails.append(i)
    return out, tails


def program_budget(code: Code, entry: Where, name: str, names: dict[Where, str], *, jit: bool = True,
                   section: str | None = None, sizes: dict[Where, int] | None = None) -> ProgramBudget:
    """The budget of the program entered at ``entry``; ``names`` names functions by where they
    start, ``sizes`` gives their slots (from their symbols; else what is reachable counts)."""
    sizes = sizes or {}
    funcs: dict[Where, FunctionBudget] = {}
    order: list[Where] = []
    edges: dict[Where, list[Where]] = {}
    blocks_of: dict[Where, dict] = {}
    tails_of: dict[Where, list[int]] = {}

    def visit(w: Where) -> None:          # libbpf's order: depth first, callees in slot order
        todo = [w]
        while todo:
            f = todo.pop()
            if f in funcs or f[0] not in code.sections or len(funcs) >= 4096:
                continue
            blocks = function_blocks(code, f)
            blocks_of[f] = blocks
            callees, tails = _callees(code, f, blocks, sizes.get(f))
            edges[f] = callees
            tails_of[f] = tails
            stack = function_stack(code, f) + _hidden_slots(code, f, blocks)
            n = sizes.get(f) or sum(b.end - b.start for b in blocks.values())
            funcs[f] = FunctionBudget(names.get(f, f"{f[0]}+{f[1]}"), f, stack, frame_size(stack, jit), n,
                                      [names.get(c, f"{c[0]}+{c[1]}") for c in callees], len(tails))
            order.append(f)
            todo.extend(reversed(callees))

    visit(entry)
    warnings: list[str] = []
    # deepest chain of frames, and the tail-call rule, along every chain of calls
    best: tuple[int, list[Where]] = (-1, [])
    longest_chain: list[Where] = []
    tail_depth: dict[tuple[Where, int], int] = {}    # tail call site -> deepest frames before it
    approximate = False
    recursive: set[tuple[str, str]] = set()
    chains = 0
    stack_ = [(entry, [entry], funcs[entry].frame)]
    while stack_:
        f, path, depth = stack_.pop()
        chains += 1
        if chains > MAX_CHAINS:
            approximate = True
            break
        if depth > best[0]:
            best = (depth, path)
        if len(path) > len(longest_chain):
            longest_chain = path
        for t in tails_of.get(f, ()):
            before = depth - funcs[f].frame          # the callers' frames, on this chain
            if before > tail_depth.get((f, t), -1):
                tail_depth[(f, t)] = before
        if len(path) > MAX_FRAMES + 1:
            continue
        for c in edges.get(f, ()):
            if c in path:                   # recursion: the verifier refuses it
                recursive.add((funcs[f].name, funcs[c].name))
                continue
            if c in funcs:
                stack_.append((c, path + [c], depth + funcs[c].frame))
    depth, path = best
    for caller, callee in sorted(recursive):
        warnings.append(f"{caller} calls {callee} recursively: the verifier refuses recursion")
    tail_info = sorted(({"function": funcs[f].name, "insn": t, "depth_before": d}
                        for (f, t), d in tail_depth.items()), key=lambda x: (x["function"], x["insn"]))
    stack_path = []
    acc = 0
    for w in path:
        acc += funcs[w].frame
        stack_path.append({"function": funcs[w].name, "stack": funcs[w].stack, "frame": funcs[w].frame,
                           "depth": acc})
    peak = funcs[path[-1]].name if path else name
    if depth > MAX_STACK:
        chain = " -> ".join(f"{s['function']} ({s['frame']})" for s in stack_path)
        warnings.append(f"combined stack of {len(path)} frames is {depth} bytes, over the kernel's {MAX_STACK}: "
                        f"{chain}")
    for f in funcs.values():
        if f.stack > MAX_STACK:
            warnings.append(f"{f.name} alone uses {f.stack} bytes of stack, over the kernel's {MAX_STACK}")
    if len(longest_chain) > MAX_FRAMES:
        warnings.append(f"a chain of {len(longest_chain)} frames ("
                        f"{' -> '.join(funcs[w].name for w in longest_chain)}) is deeper than the kernel's "
                        f"{MAX_FRAMES}")
    for t in tail_info:
        if t["function"] != funcs[entry].name and t["depth_before"] >= TAIL_CALL_STACK:
            warnings.append(f"tail call in {t['function']} (insn {t['insn']}) under {t['depth_before']} bytes of "
                            f"caller frames: the kernel refuses a tail call from a called function when the frames "
                            f"before it hold {TAIL_CALL_STACK} bytes or more")
    insns = sum(f.insns for f in funcs.values())
    if insns > MAX_INSNS:
        warnings.append(f"{insns} instructions: over the kernel's limit of {MAX_INSNS}")
    elif insns > UNPRIV_INSNS:
        warnings.append(f"{insns} instructions: over {UNPRIV_INSNS}, only a loader with CAP_BPF or CAP_SYS_ADMIN "
                        f"can load it")
    # longest path, calls included
    memo: dict[Where, int] = {}
    for f in reversed(order):
        memo[f] = _longest(code, f, blocks_of[f], memo)
        funcs[f].longest_path = memo[f]
    loops: list[Loop] = []
    skipped = 0
    for f in order:
        blocks = blocks_of[f]
        edges_ = sorted(_back_edges(blocks, f[1]), key=lambda e: e[1])
        preds = _predecessors(blocks) if edges_ else {}
        for latch, header in edges_:
            if len(loops) >= MAX_LOOPS:
                skipped += 1
                continue
            lp = _loop(code, funcs[f].name, f, blocks, preds, latch, header)
            loops.append(lp)
            if not lp.bounded:
                warnings.append(f"loop at insn {lp.header} in {lp.function} is not bounded by a constant "
                                f"({lp.reason}): the verifier walks every iteration and accepts it only when the "
                                f"ranges it knows end the loop within {MAX_INSNS} instructions (bpf_loop() or an "
                                f"open-coded iterator avoids that)")
    if skipped:
        warnings.append(f"{skipped} more loops not analysed (only the first {MAX_LOOPS} are)")
        approximate = True
    return ProgramBudget(name, section or entry[0], depth, stack_path, peak, len(longest_chain),
                         tail_info, insns, memo[entry],
                         loops, [funcs[w] for w in order], warnings, approximate)


def _longest(code: Code, f: Where, blocks, memo: dict[Where, int]) -> int:
    """Instructions along the longest path through ``f`` with back-edges cut, calls expanded."""
    sec = f[0]
    back = set(_back_edges(blocks, f[1]))
    weight: dict[int, int] = {}
    for b, blk in blocks.items():
        w = blk.end - blk.start
        for c in blk.calls:
            w += memo.get(c, 0)
        for i in range(blk.start, blk.end):
            cb = _callback(code, (sec, i))
            if cb is not None:
                w += memo.get(cb, 0)
        weight[b] = w
    # topological order over the acyclic part, from the entry
    indeg: dict[int, int] = {b: 0 for b in blocks}
    for b, blk in blocks.items():
        for s in blk.succs:
            if s in blocks and (b, s) not in back:
                indeg[s] += 1
    dist: dict[int, int] = {}
    ready = [b for b, d in indeg.items() if d == 0]
    best = 0
    while ready:
        b = ready.pop()
        here = dist.get(b, 0) + weight[b]
        best = max(best, here)
        for s in blocks[b].succs:
            if s not in blocks or (b, s) in back:
                continue
            if here > dist.get(s, 0):
                dist[s] = here
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return best


def object_budget(obj, names: list[str] | None = None, *, jit: bool = True) -> list[ProgramBudget]:
    """The budget of every program of a :class:`~bpfinspect.obj.BpfObject` (or of those named)."""
    from bpfinspect.flow.cfg import code_of

    code = code_of(obj)
    where_names = {(f.section, f.offset // 8): f.name for f in obj.functions}
    sizes = {(f.section, f.offset // 8): f.size // 8 for f in obj.functions if f.size >= 8}
    out = []
    for p in obj.programs:
        if p.is_subprog or (names and p.name not in names):
            continue
        if p.section not in code.sections:
            continue
        out.append(program_budget(code, (p.section, p.offset // 8), p.name, where_names, jit=jit,
                                  section=p.section, sizes=sizes))
    return out
