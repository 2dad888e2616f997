"""Instruction text in the syntax of llvm-objdump 19.

How it works: at import time one formatter function is built for each of the
256 opcodes (a table lookup replaces any decoding tree).  A formatter takes
``(index, regs, off, imm, target)`` and returns the instruction text, or None
when the slot is not a valid instruction: an unknown opcode, a register above
r10, or a field that must be zero and is not.  Such slots are printed as raw
data (``.insn op=... dst=... src=... off=... imm=...``) with a warning that
:func:`diagnose` explains.  Register names are looked up in tables indexed by
the register byte, so a formatter does one or two tuple lookups and one
``%`` formatting per instruction.

Two tables exist: the llvm text and the *plain* text read back by the
assembler.  They differ only where llvm's text drops information:

* ``call pc+0x2`` / ``call kfunc 0x1b`` for calls with src_reg 1 / 2 (llvm
  prints every call as ``call 0x2``);
* ``r0 = *(u32 *)skb[r2 + 0x4]`` for an indirect packet load with a non-zero
  imm (llvm omits it);
* ``ld_pseudo r1, 0x2, 0x5, 0x10`` when the second slot of a pseudo
  ld_imm64 carries a non-zero imm (llvm prints only the first imm).

Where llvm 19 itself does not know an encoding its text cannot be matched; we
then use llvm's own spelling from a richer mode or a newer release:

* 32-bit atomics other than a plain add (``|=``, ``&=``, ``^=``, fetch forms,
  xchg, cmpxchg): default llvm-objdump-19 prints ``<unknown>`` (or, for a
  fetching add, wrongly a plain add); we print what llvm-objdump-19
  ``--mattr=+alu32`` prints: ``w2 = atomic_fetch_add((u32 *)(r1 + 0x0), w2)``,
  ``lock *(u32 *)(r1 + 0x0) |= w2``, ``w2 = xchg32_32(r1 + 0x0, w2)``,
  ``w0 = cmpxchg32_32(r1 + 0x0, w0, w2)``;
* load-acquire / store-release (imm 0x100 / 0x110, any size): llvm 19 has no
  syntax for them (it shows ``<unknown>`` or a wrong ``lock ... +=``); we use
  the spelling of later llvm releases with hex offsets:
  ``w0 = load_acquire((u8 *)(r1 + 0x0))``,
  ``store_release((u64 *)(r1 + 0x8), r2)``.
"""

from __future__ import annotations

from bpfinspect.isa import opcodes as oc
from bpfinspect.isa.decode import Slot, wide_pair

Target = "Callable[[int], str]"  # slot index -> ' <label>' (or '')


def _no_target(slot: int) -> str:
    return ""


# Register names indexed by the normalised register byte (dst low nibble).
# None marks a register the kernel does not have (r11..r15).
def _reg_table(prefix: str, use_src: bool, need_zero_src: bool = False) -> tuple:
    out = []
    for regs in range(256):
        dst, src = regs & 0x0F, regs >> 4
        reg = src if use_src else dst
        if reg > oc.MAX_REG or (need_zero_src and src) or (not use_src and not need_zero_src and src > oc.MAX_REG):
            out.append(None)
        else:
            out.append(f"{prefix}{reg}")
    return tuple(out)


RD = _reg_table("r", False)          # dst, src must be a valid register too
WD = _reg_table("w", False)
RS = _reg_table("r", True)           # src
WS = _reg_table("w", True)
RD0 = _reg_table("r", False, True)   # dst, src must be 0
WD0 = _reg_table("w", False, True)
REG_NAMES = tuple(f"r{i}" for i in range(16))


def _mem(off: int) -> str:
    return f"+ {off:#x}" if off >= 0 else f"- {-off:#x}"


def _invalid(i, regs, off, imm, tgt):
    return None


# --- ALU ----------------------------------------------------------------------

def _alu_k(regtab, op: str):
    fmt = "%s " + op.replace("%", "%%") + " %#x"

    def f(i, regs, off, imm, tgt):
        d = regtab[regs]
        if d is None or off:
            return None
        return fmt % (d, imm)
    return f


def _alu_x(dtab, stab, op: str):
    fmt = "%s " + op.replace("%", "%%") + " %s"

    def f(i, regs, off, imm, tgt):
        d = dtab[regs]
        s = stab[regs]
        if d is None or s is None or off or imm:
            return None
        return fmt % (d, s)
    return f


def _divmod_k(regtab, op: str, sop: str):
    fmts = {0: "%s " + op.replace("%", "%%") + " %#x", 1: "%s " + sop.replace("%", "%%") + " %#x"}

    def f(i, regs, off, imm, tgt):
        d = regtab[regs]
        fmt = fmts.get(off)
        if d is None or fmt is None:
            return None
        return fmt % (d, imm)
    return f


def _divmod_x(dtab, stab, op: str, sop: str):
    fmts = {0: "%s " + op.replace("%", "%%") + " %s", 1: "%s " + sop.replace("%", "%%") + " %s"}

    def f(i, regs, off, imm, tgt):
        d = dtab[regs]
        s = stab[regs]
        fmt = fmts.get(off)
        if d is None or s is None or imm or fmt is None:
            return None
        return fmt % (d, s)
    return f


def _mov_x(dtab, stab, prefix: str, widths: tuple, wide: bool):
    fmts = {0: "%s = %s"}
    for w in widths:
        fmts[w] = "%s = (s" + str(w) + ")%s"

    def f(i, regs, off, imm, tgt):
        d = dtab[regs]
        s = stab[regs]
        if d is None or s is None:
            return None
        if off == oc.ADDR_SPACE_CAST_OFF and wide:
            return "%s = addr_space_cast(%s, %#x, %#x)" % (d, s, (imm >> 16) & 0xFFFF, imm & 0xFFFF)
        fmt = fmts.get(off)
        if fmt is None or imm:
            return None
        return fmt % (d, s)
    return f


def _neg(regtab):
    def f(i, regs, off, imm, tgt):
        d = regtab[regs]
        if d is None or off or imm:
            return None
        return f"{d} = -{d}"
    return f


def _end(kind: str):
    def f(i, regs, off, imm, tgt):
        d = RD0[regs]
        if d is None or off or imm not in (16, 32, 64):
            return None
        return f"{d} = {kind}{imm} {d}"
    return f


# --- jumps ----------------------------------------------------------------------

def _ja(i, regs, off, imm, tgt):
    if regs or imm:
        return None
    return "goto %+#x%s" % (off, tgt(i + 1 + off))


def _gotol(i, regs, off, imm, tgt):
    if regs or off:
        return None
    return "gotol %+#x%s" % (imm, tgt(i + 1 + imm))


def _may_goto(i, regs, off, imm, tgt):
    if regs or imm:
        return None
    return "may_goto %+#x%s" % (off, tgt(i + 1 + off))


def _jcond_k(regtab, op: str):
    fmt = "if %s " + op + " %#x goto %+#x%s"

    def f(i, regs, off, imm, tgt):
        d = regtab[regs]
        if d is None:
            return None
        return fmt % (d, imm, off, tgt(i + 1 + off))
    return f


def _jcond_x(dtab, stab, op: str):
    fmt = "if %s " + op + " %s goto %+#x%s"

    def f(i, regs, off, imm, tgt):
        d = dtab[regs]
        s = stab[regs]
        if d is None or s is None or imm:
            return None
        return fmt % (d, s, off, tgt(i + 1 + off))
    return f


def _call(i, regs, off, imm, tgt):
    if off or (regs & 0x0F) or regs > 0x20:
        return None
    return "call %#x" % imm


def _call_plain(i, regs, off, imm, tgt):
    if off or (regs & 0x0F) or regs > 0x20:
        return None
    if regs == 0x10:
        return "call pc%+#x" % imm
    if regs == 0x20:
        return "call kfunc %#x" % imm
    return "call %#x" % imm


def _callx(i, regs, off, imm, tgt):
    d = RD0[regs]
    if d is None or off or imm:
        return None
    return f"callx {d}"


def _exit(i, regs, off, imm, tgt):
    if regs or off or imm:
        return None
    return "exit"


# --- loads and stores -----------------------------------------------------------

def _ld_abs(size: int):
    fmt = "r0 = *(" + oc.SIZE_UNSIGNED[size] + " *)skb[%#x]"

    def f(i, regs, off, imm, tgt):
        if regs or off:
            return None
        return fmt % imm
    return f


def _ld_ind(size: int, plain: bool):
    fmt = "r0 = *(" + oc.SIZE_UNSIGNED[size] + " *)skb[%s]"
    fmt_imm = "r0 = *(" + oc.SIZE_UNSIGNED[size] + " *)skb[%s %s]"

    def f(i, regs, off, imm, tgt):
        s = RS[regs]
        if s is None or (regs & 0x0F) or off:
            return None
        if plain and imm:
            return fmt_imm % (s, _mem(imm))
        return fmt % s
    return f


def _ldx(tname: str):
    fmt = "%s = *(" + tname + " *)(%s %s)"

    def f(i, regs, off, imm, tgt):
        d = RD[regs]
        s = RS[regs]
        if d is None or s is None or imm:
            return None
        return fmt % (d, s, _mem(off))
    return f


def _st(tname: str):
    fmt = "*(" + tname + " *)(%s %s) = %#x"

    def f(i, regs, off, imm, tgt):
        d = RD0[regs]
        if d is None:
            return None
        return fmt % (d, _mem(off), imm)
    return f


def _stx(tname: str):
    fmt = "*(" + tname + " *)(%s %s) = %s"

    def f(i, regs, off, imm, tgt):
        d = RD[regs]
        s = RS[regs]
        if d is None or s is None or imm:
            return None
        return fmt % (d, _mem(off), s)
    return f


def _atomic(size: int):
    tname = oc.SIZE_UNSIGNED[size]
    wide = size == oc.SIZE_DW
    full = size in (oc.SIZE_W, oc.SIZE_DW)
    vtab = RS if wide else WS      # value register spelling
    ltab = RD if wide else WD      # load-acquire destination spelling
    sfx = "_64" if wide else "32_32"

    def f(i, regs, off, imm, tgt):
        d = RD[regs]
        s = RS[regs]
        if d is None or s is None:
            return None
        m = _mem(off)
        if imm == oc.ATOMIC_LOAD_ACQ:
            return f"{ltab[regs & 0x0F]} = load_acquire(({tname} *)({s} {m}))"
        if imm == oc.ATOMIC_STORE_REL:
            return f"store_release(({tname} *)({d} {m}), {vtab[regs]})"
        if not full:
            return None
        if imm == oc.ATOMIC_ADD:
            return f"lock *({tname} *)({d} {m}) += {s}"
        simple = oc.ATOMIC_SIMPLE.get(imm & ~oc.ATOMIC_FETCH)
        v = vtab[regs]
        if simple is not None:
            if imm & oc.ATOMIC_FETCH:
                return f"{v} = atomic_fetch_{simple[1]}(({tname} *)({d} {m}), {v})"
            return f"lock *({tname} *)({d} {m}) {simple[0]} {v}"
        if imm == oc.ATOMIC_XCHG:
            return f"{v} = xchg{sfx}({d} {m}, {v})"
        if imm == oc.ATOMIC_CMPXCHG:
            r0 = "r0" if wide else "w0"
            return f"{r0} = cmpxchg{sfx}({d} {m}, {r0}, {v})"
        return None
    return f


# --- the tables -------------------------------------------------------------------

def _build(plain: bool) -> tuple:
    table: list = [_invalid] * 256
    for cls, dtab, stab, dtab0, wide in ((oc.ALU, WD, WS, WD0, False), (oc.ALU64, RD, RS, RD0, True)):
        for code, op in oc.ALU_OPERATORS.items():
            if code in oc.SIGNED_OPERATORS:
                sop = oc.SIGNED_OPERATORS[code]
                table[cls | code | oc.K] = _divmod_k(dtab0, op, sop)
                table[cls | code | oc.X] = _divmod_x(dtab, stab, op, sop)
            else:
                table[cls | code | oc.K] = _alu_k(dtab0, op)
                table[cls | code | oc.X] = _alu_x(dtab, stab, op)
        table[cls | oc.ALU_MOV | oc.K] = _alu_k(dtab0, "=")
        table[cls | oc.ALU_MOV | oc.X] = _mov_x(
            dtab, stab, "r" if wide else "w",
            oc.MOVSX_OFFSETS_ALU64 if wide else oc.MOVSX_OFFSETS_ALU, wide)
        table[cls | oc.ALU_NEG | oc.K] = _neg(dtab0)
    table[oc.ALU | oc.ALU_END | oc.K] = _end("le")
    table[oc.ALU | oc.ALU_END | oc.X] = _end("be")
    table[oc.ALU64 | oc.ALU_END | oc.K] = _end("bswap")

    for cls, dtab, stab, dtab0 in ((oc.JMP, RD, RS, RD0), (oc.JMP32, WD, WS, WD0)):
        for code, op in oc.JUMP_OPERATORS.items():
            table[cls | code | oc.K] = _jcond_k(dtab0, op)
            table[cls | code | oc.X] = _jcond_x(dtab, stab, op)
    table[oc.JMP | oc.JMP_JA | oc.K] = _ja
    table[oc.JMP32 | oc.JMP_JA | oc.K] = _gotol
    table[oc.JMP | oc.JMP_JCOND | oc.K] = _may_goto
    table[oc.JMP | oc.JMP_CALL | oc.K] = _call_plain if plain else _call
    table[oc.JMP | oc.JMP_CALL | oc.X] = _callx
    table[oc.JMP | oc.JMP_EXIT | oc.K] = _exit

    for size in (oc.SIZE_W, oc.SIZE_H, oc.SIZE_B):
        table[oc.LD | oc.MODE_ABS | size] = _ld_abs(size)
        table[oc.LD | oc.MODE_IND | size] = _ld_ind(size, plain)
        table[oc.LDX | oc.MODE_MEMSX | size] = _ldx(oc.SIZE_SIGNED[size])
    for size in (oc.SIZE_W, oc.SIZE_H, oc.SIZE_B, oc.SIZE_DW):
        tname = oc.SIZE_UNSIGNED[size]
        table[oc.LDX | oc.MODE_MEM | size] = _ldx(tname)
        table[oc.ST | oc.MODE_MEM | size] = _st(tname)
        table[oc.STX | oc.MODE_MEM | size] = _stx(tname)
        table[oc.STX | oc.MODE_ATOMIC | size] = _atomic(size)
    return tuple(table)


TEXT_FORMATTERS = _build(plain=False)
PLAIN_FORMATTERS = _build(plain=True)


def _imm64_text(regs: int, imm: int, next_imm: int, plain: bool) -> str:
    dst = REG_NAMES[regs & 0x0F]
    src = regs >> 4
    if src == 0:
        value = ((next_imm & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF)
        if value >= 1 << 63:
            value -= 1 << 64
        return f"{dst} = {value:#x} ll"
    if plain and next_imm:
        return f"ld_pseudo\t{dst}, {src:#x}, {imm & 0xFFFFFFFF:#x}, {next_imm & 0xFFFFFFFF:#x}"
    return f"ld_pseudo\t{dst}, {src:#x}, {imm & 0xFFFFFFFF:#x}"


def raw_text(slot: Slot) -> str:
    """The lossless spelling of one slot that is not a valid instruction."""
    op, regs, off, imm = slot
    return f".insn op={op:#04x} dst={regs & 0x0F} src={regs >> 4} off={off:#x} imm={imm:#x}"


def format_slot(slot: Slot, index: int = 0, target: Target = _no_target, plain: bool = False) -> str | None:
    """Text of a one-slot instruction, or None when it is not valid."""
    op, regs, off, imm = slot
    table = PLAIN_FORMATTERS if plain else TEXT_FORMATTERS
    return table[op](index, regs, off, imm, target)


Line = "tuple[int, int, str, str | None]"  # (index, size, text, warning)


# Opcodes whose text depends on the instruction's position (branch targets): never cached.
POSITIONAL = tuple(
    (op & 0x07) in (oc.JMP, oc.JMP32) and (op & 0xF0) not in (oc.JMP_CALL, oc.JMP_EXIT)
    for op in range(256))


def render(slots: list[Slot], target: Target | None = None, *, plain: bool = False,
           start: int = 0, stop: int | None = None, raw: list | None = None) -> list[Line]:
    """Text of every instruction of ``slots[start:stop]``.

    Returns ``(index, size, text, warning)`` tuples: ``size`` is 2 for an
    ld_imm64, ``warning`` is None for a valid instruction and the reason for a
    slot shown as raw data.  ``target(slot)`` supplies the `` <label>`` llvm
    prints after a branch offset.  Code repeats itself a lot, so the text of
    every position-independent slot is memoised by its field tuple.  When
    ``raw`` is a list, the positions of the raw-data lines in the result are
    appended to it.
    """
    fmts = PLAIN_FORMATTERS if plain else TEXT_FORMATTERS
    positional = POSITIONAL
    tgt = target or _no_target
    n = len(slots) if stop is None else min(stop, len(slots))
    out: list[Line] = []
    app = out.append
    cache: dict = {}
    get = cache.get
    skip = False
    for i in range(start, n):
        if skip:
            skip = False
            continue
        slot = slots[i]
        text = get(slot)           # only position-independent, valid slots are cached
        if text is not None:
            app((i, 1, text, None))
            continue
        op = slot[0]
        if op == 0x18:
            if i + 1 < n and wide_pair(slots, i):
                app((i, 2, _imm64_text(slot[1], slot[3], slots[i + 1][3], plain), None))
                skip = True
            else:
                if raw is not None:
                    raw.append(len(out))
                app((i, 1, raw_text(slot), diagnose(slots, i)))
            continue
        text = fmts[op](i, slot[1], slot[2], slot[3], tgt)
        if text is None:
            if raw is not None:
                raw.append(len(out))
            app((i, 1, raw_text(slot), diagnose(slots, i)))
            continue
        if not positional[op]:
            cache[slot] = text
        app((i, 1, text, None))
    return out


# Opcodes whose plain text can differ from llvm's: call, indirect packet loads, ld_imm64.
_PLAIN_MAY_DIFFER = frozenset([oc.JMP | oc.JMP_CALL | oc.K, oc.LD_IMM64]
                              + [oc.LD | oc.MODE_IND | s for s in (oc.SIZE_W, oc.SIZE_H, oc.SIZE_B)])


def plain_texts(slots: list[Slot], lines: list[Line]) -> list[str]:
    """The plain texts for ``lines`` (a render() result), re-rendering only the few
    opcodes whose plain spelling can differ from llvm's; same as
    ``[l[2] for l in render(slots, plain=True)]`` but much cheaper."""
    out = [line[2] for line in lines]
    differ = _PLAIN_MAY_DIFFER
    for k, (i, size, text, warning) in enumerate(lines):
        if warning is None and slots[i][0] in differ:
            op, regs, off, imm = slots[i]
            if op == oc.LD_IMM64:
                out[k] = _imm64_text(regs, imm, slots[i + 1][3], True)
            else:
                out[k] = PLAIN_FORMATTERS[op](i, regs, off, imm, _no_target)
    return out


def render_text(slots: list[Slot], target: Target | None = None, *, plain: bool = False) -> list[str]:
    """Only the text of each instruction, in order (raw data spelled as ``.insn``)."""
    return [line[2] for line in render(slots, target, plain=plain)]


# --- why a slot is raw data -----------------------------------------------------------

_FIELD_FIXES = (("src", lambda s: (s[0], s[1] & 0x0F, s[2], s[3])),
                ("off", lambda s: (s[0], s[1], 0, s[3])),
                ("imm", lambda s: (s[0], s[1], s[2], 0)))


def diagnose(slots: list[Slot], index: int) -> str:
    """Why the slot at ``index`` is not a valid instruction (one short sentence)."""
    slot = slots[index]
    op, regs, off, imm = slot
    dst, src = regs & 0x0F, regs >> 4
    if op == oc.LD_IMM64:
        if index + 1 >= len(slots):
            return "ld_imm64 truncated: its second slot is missing"
        if dst > oc.MAX_REG:
            return f"register r{dst} does not exist"
        if src > oc.PSEUDO_MAP_IDX_VALUE:
            return f"unknown ld_imm64 source {src:#x}"
        if off:
            return f"reserved field off is {off:#x}, must be 0"
        return "ld_imm64 second slot must have opcode, registers and off 0"
    if TEXT_FORMATTERS[op] is _invalid:
        return f"unknown opcode {op:#04x}"
    if dst > oc.MAX_REG:
        return f"register r{dst} does not exist"
    if op == (oc.JMP | oc.JMP_CALL | oc.K) and src > oc.CALL_KFUNC and not off and not dst:
        return f"unknown call kind (src_reg {src:#x})"
    if src > oc.MAX_REG and TEXT_FORMATTERS[op](index, (regs & 0x0F) | 0x10, off, imm, _no_target) is not None:
        return f"register r{src} does not exist"
    for name, fix in _FIELD_FIXES:
        if TEXT_FORMATTERS[op](index, *fix(slot)[1:], _no_target) is not None:
            value = {"src": src, "off": off, "imm": imm}[name]
            return f"reserved field {name} is {value:#x}, must be 0"
    if src > oc.MAX_REG:
        return f"register r{src} does not exist"
    if TEXT_FORMATTERS[op](index, regs & 0x0F, 0, 0, _no_target) is not None:
        return f"reserved fields off/imm are {off:#x}/{imm:#x}, must be 0"
    return f"unknown encoding of opcode {op:#04x} (off {off:#x}, imm {imm:#x})"
