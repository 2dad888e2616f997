"""The assembler: plain instruction text (see asm.lark) to instruction bytes.

The grammar is parsed with lark's LALR parser and an inline transformer, so
every rule turns straight into the list of slots it encodes as
``(opcode, dst, src, off, imm)`` tuples.  Register widths pick the class: ``w``
registers mean ALU / JMP32, ``r`` registers ALU64 / JMP.
"""

from __future__ import annotations

import re

from functools import lru_cache

from bpfinspect.errors import MalformedInput, UsageError
from bpfinspect.isa import opcodes as oc
from bpfinspect.isa.encode import Fields, check_fields, encode

_ALU_CODES = {op: code for code, op in oc.ALU_OPERATORS.items()}
_SIGNED_CODES = {op: code for code, op in oc.SIGNED_OPERATORS.items()}
_JMP_CODES = {op: code for code, op in oc.JUMP_OPERATORS.items()}
_SIZES = {"u32": oc.SIZE_W, "u16": oc.SIZE_H, "u8": oc.SIZE_B, "u64": oc.SIZE_DW}
_SSIZES = {"s32": oc.SIZE_W, "s16": oc.SIZE_H, "s8": oc.SIZE_B}
_ATOMIC_OPS = {op: code for code, (op, _) in oc.ATOMIC_SIMPLE.items()}
_FETCH_OPS = {name: code for code, (_, name) in oc.ATOMIC_SIMPLE.items()}


class AsmError(Exception):
    """Semantic error inside one instruction (the grammar matched, the meaning did not)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


# A call by name, resolved after parsing (helpers from the table, kfuncs from a BTF).
_BY_NAME = "name"


def _num(tok) -> int:
    text = str(tok)
    digits = text.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
        # llvm reads a leading 0 as octal, Python refuses it: neither guess is safe
        raise AsmError(f"number {text}: a decimal number has no leading zero (hexadecimal is written 0x...)")
    if len(digits) > 40:  # far past any 64-bit value; also keeps int() off huge digit strings
        raise AsmError(f"number {text[:24]}... is too long")
    return int(text, 0)


def _reg(tok, width: str | None = None) -> int:
    text = str(tok)
    if width is not None and text[0] != width:
        raise AsmError(f"register {text} must be a {'64' if width == 'r' else '32'}-bit {width} register here")
    return int(text[1:])


def _is_w(tok) -> bool:
    return str(tok)[0] == "w"


def _off(sign, num) -> int:
    value = _num(num)
    return -value if str(sign) == "-" else value


def _size(tok) -> int:
    name = str(tok)
    if name not in _SIZES:
        raise AsmError(f"{name} is not a load/store size (u8, u16, u32, u64)")
    return _SIZES[name]


def _type_size(type_tree) -> int:
    return _size(type_tree.children[0])


def _mem(mem_tree) -> tuple[int, int]:
    reg, sign, num = mem_tree.children
    return _reg(reg, "r"), _off(sign, num)


def _same_width(a, b) -> None:
    if str(a)[0] != str(b)[0]:
        raise AsmError(f"registers {a} and {b} must have the same width")


class _Builder:
    """Inline-transformer callbacks: each returns the list of slots of one rule."""

    # --- ALU ---
    def alu_x(self, d, op, s):
        _same_width(d, s)
        cls = oc.ALU if _is_w(d) else oc.ALU64
        op = str(op)
        if op in _SIGNED_CODES:
            return [(cls | _SIGNED_CODES[op] | oc.X, _reg(d), _reg(s), 1, 0)]
        return [(cls | _ALU_CODES[op] | oc.X, _reg(d), _reg(s), 0, 0)]

    def alu_k(self, d, op, n):
        cls = oc.ALU if _is_w(d) else oc.ALU64
        op = str(op)
        if op in _SIGNED_CODES:
            return [(cls | _SIGNED_CODES[op] | oc.K, _reg(d), 0, 1, _num(n))]
        return [(cls | _ALU_CODES[op] | oc.K, _reg(d), 0, 0, _num(n))]

    def mov_x(self, d, s):
        _same_width(d, s)
        cls = oc.ALU if _is_w(d) else oc.ALU64
        return [(cls | oc.ALU_MOV | oc.X, _reg(d), _reg(s), 0, 0)]

    def mov_k(self, d, n):
        cls = oc.ALU if _is_w(d) else oc.ALU64
        return [(cls | oc.ALU_MOV | oc.K, _reg(d), 0, 0, _num(n))]

    def movsx(self, d, t, s):
        _same_width(d, s)
        name = str(t)
        if name not in _SSIZES:
            raise AsmError(f"sign-extending move needs s8, s16 or s32, not {name}")
        width = int(name[1:])
        if _is_w(d) and width == 32:
            raise AsmError("w registers take only (s8) and (s16)")
        cls = oc.ALU if _is_w(d) else oc.ALU64
        return [(cls | oc.ALU_MOV | oc.X, _reg(d), _reg(s), width, 0)]

    def neg(self, d, s):
        if str(d) != str(s):
            raise AsmError("negation is in place: the two registers must be the same")
        cls = oc.ALU if _is_w(d) else oc.ALU64
        return [(cls | oc.ALU_NEG | oc.K, _reg(d), 0, 0, 0)]

    def endian(self, d, op, s):
        if str(d) != str(s) or _is_w(d):
            raise AsmError("byte swaps are in place on an r register")
        text = str(op)
        kind, width = text.rstrip("0123456789"), int(text.lstrip("lebswap"))
        opcode = {"le": oc.ALU | oc.ALU_END | oc.K, "be": oc.ALU | oc.ALU_END | oc.X,
                  "bswap": oc.ALU64 | oc.ALU_END | oc.K}[kind]
        return [(opcode, _reg(d), 0, 0, width)]

    def addr_space_cast(self, d, s, dst_as, src_as):
        a, b = _num(dst_as), _num(src_as)
        if not (0 <= a <= 0xFFFF and 0 <= b <= 0xFFFF):
            raise AsmError("address spaces are 16-bit numbers")
        return [(oc.ALU64 | oc.ALU_MOV | oc.X, _reg(d, "r"), _reg(s, "r"), oc.ADDR_SPACE_CAST_OFF, (a << 16) | b)]

    # --- 64-bit immediates ---
    def ld_imm64(self, d, n):
        value = _num(n)
        if not -(1 << 63) <= value < (1 << 64):
            raise AsmError(f"{n} does not fit in 64 bits")
        value &= (1 << 64) - 1
        return [(oc.LD_IMM64, _reg(d, "r"), 0, 0, value & 0xFFFFFFFF), (0, 0, 0, 0, value >> 32)]

    def ld_pseudo(self, d, src, imm, next_imm=None):
        s = _num(src)
        if not 1 <= s <= oc.PSEUDO_MAP_IDX_VALUE:
            raise AsmError(f"ld_pseudo source {s:#x} is not one of 1..6")
        return [(oc.LD_IMM64, _reg(d, "r"), s, 0, _num(imm)), (0, 0, 0, 0, _num(next_imm) if next_imm is not None else 0)]

    # --- loads and stores ---
    def ldx(self, d, t, m):
        base, off = _mem(m)
        name = str(t.children[0])
        if name in _SSIZES:
            return [(oc.LDX | oc.MODE_MEMSX | _SSIZES[name], _reg(d, "r"), base, off, 0)]
        return [(oc.LDX | oc.MODE_MEM | _size(t.children[0]), _reg(d, "r"), base, off, 0)]

    def ld_abs(self, d, t, n):
        if str(d) != "r0":
            raise AsmError("packet loads always load into r0")
        size = _type_size(t)
        if size == oc.SIZE_DW:
            raise AsmError("packet loads are u8, u16 or u32")
        return [(oc.LD | oc.MODE_ABS | size, 0, 0, 0, _num(n))]

    def ld_ind(self, d, t, s, sign=None, n=None):
        if str(d) != "r0":
            raise AsmError("packet loads always load into r0")
        size = _type_size(t)
        if size == oc.SIZE_DW:
            raise AsmError("packet loads are u8, u16 or u32")
        imm = _off(sign, n) if n is not None else 0
        return [(oc.LD | oc.MODE_IND | size, 0, _reg(s, "r"), 0, imm)]

    def stx(self, t, m, s):
        base, off = _mem(m)
        return [(oc.STX | oc.MODE_MEM | _type_size(t), base, _reg(s, "r"), off, 0)]

    def st(self, t, m, n):
        base, off = _mem(m)
        return [(oc.ST | oc.MODE_MEM | _type_size(t), base, 0, off, _num(n))]

    # --- atomics ---
    def _atomic_size(self, t) -> int:
        size = _type_size(t)
        if size not in (oc.SIZE_W, oc.SIZE_DW):
            raise AsmError("read-modify-write atomics are u32 or u64")
        return size

    def atomic_simple(self, t, m, op, s):
        size = self._atomic_size(t)
        code = _ATOMIC_OPS.get(str(op))
        if code is None:
            raise AsmError(f"{op} is not an atomic operation (+=, |=, &=, ^=)")
        base, off = _mem(m)
        return [(oc.STX | oc.MODE_ATOMIC | size, base, _reg(s), off, code)]

    def atomic_fetch(self, d, op, t, m, s):
        size = self._atomic_size(t)
        if str(d) != str(s):
            raise AsmError("atomic_fetch_* returns into its value register")
        base, off = _mem(m)
        code = _FETCH_OPS[str(op)[len("atomic_fetch_"):]] | oc.ATOMIC_FETCH
        return [(oc.STX | oc.MODE_ATOMIC | size, base, _reg(s), off, code)]

    def xchg(self, d, op, base, sign, n, s):
        if str(d) != str(s):
            raise AsmError("xchg returns into its value register")
        size = oc.SIZE_DW if str(op) == "xchg_64" else oc.SIZE_W
        return [(oc.STX | oc.MODE_ATOMIC | size, _reg(base, "r"), _reg(s), _off(sign, n), oc.ATOMIC_XCHG)]

    def cmpxchg(self, d, op, base, sign, n, r0, s):
        if _reg(d) != 0 or _reg(r0) != 0:
            raise AsmError("cmpxchg compares with and returns into r0")
        size = oc.SIZE_DW if str(op) == "cmpxchg_64" else oc.SIZE_W
        return [(oc.STX | oc.MODE_ATOMIC | size, _reg(base, "r"), _reg(s), _off(sign, n), oc.ATOMIC_CMPXCHG)]

    def load_acquire(self, d, t, m):
        base, off = _mem(m)
        return [(oc.STX | oc.MODE_ATOMIC | _type_size(t), _reg(d), base, off, oc.ATOMIC_LOAD_ACQ)]

    def store_release(self, t, m, s):
        base, off = _mem(m)
        return [(oc.STX | oc.MODE_ATOMIC | _type_size(t), base, _reg(s), off, oc.ATOMIC_STORE_REL)]

    # --- jumps and calls ---
    def ja(self, n, label=None):
        return [(oc.JMP | oc.JMP_JA | oc.K, 0, 0, _num(n), 0)]

    def gotol(self, n, label=None):
        return [(oc.JMP32 | oc.JMP_JA | oc.K, 0, 0, 0, _num(n))]

    def may_goto(self, n, label=None):
        return [(oc.JMP | oc.JMP_JCOND | oc.K, 0, oc.MAY_GOTO, _num(n), 0)]

    def jcond_x(self, d, op, s, n, label=None):
        _same_width(d, s)
        cls = oc.JMP32 if _is_w(d) else oc.JMP
        return [(cls | _JMP_CODES[str(op)] | oc.X, _reg(d), _reg(s), _num(n), 0)]

    def jcond_k(self, d, op, k, n, label=None):
        cls = oc.JMP32 if _is_w(d) else oc.JMP
        return [(cls | _JMP_CODES[str(op)] | oc.K, _reg(d), 0, _num(n), _num(k))]

    def call_helper(self, n):
        return [(oc.JMP | oc.JMP_CALL | oc.K, 0, oc.CALL_HELPER, 0, _num(n))]

    def call_local(self, n):
        return [(oc.JMP | oc.JMP_CALL | oc.K, 0, oc.CALL_LOCAL, 0, _num(n))]

    def call_kfunc(self, n):
        return [(oc.JMP | oc.JMP_CALL | oc.K, 0, oc.CALL_KFUNC, 0, _num(n))]

    def call_named(self, name):
        return [(_BY_NAME, str(name), name.column, False)]

    def call_kfunc_named(self, name):
        return [(_BY_NAME, str(name), name.column, True)]

    def callx(self, r):
        return [(oc.JMP | oc.JMP_CALL | oc.X, _reg(r, "r"), 0, 0, 0)]

    def exit(self):
        return [(oc.JMP | oc.JMP_EXIT | oc.K, 0, 0, 0, 0)]

    def raw(self, op, dst, src, off, imm):
        return [(_num(op), _num(dst), _num(src), _num(off), _num(imm))]

    def start(self, *insns):
        return list(insns)


def _wrap(name, fn):
    def call(*children):
        try:
            return fn(*children)
        except AsmError as exc:
            tok = next((c for c in children if hasattr(c, "line")), None)
            if tok is None:
                raise
            raise AsmError(str(exc), tok.line, tok.column) from None
    call.__name__ = name
    return call


@lru_cache(maxsize=1)
def _parser():
    from bpfinspect.lalr import parser

    builder = _Builder()
    callbacks = {name: _wrap(name, getattr(builder, name)) for name in dir(_Builder)
                 if not name.startswith("_")}
    return parser(__file__, "asm.lark", transformer=_Callbacks(callbacks),
                  propagate_positions=False, maybe_placeholders=False)


class _Callbacks:
    """Adapter giving lark's inline transformer the callbacks by rule name."""

    def __init__(self, callbacks: dict) -> None:
        self._callbacks = callbacks

    def __getattr__(self, name: str):
        try:
            fn = self._callbacks[name]
        except KeyError:
            raise AttributeError(name) from None
        return lambda children: fn(*children)

    def __default__(self, data, children, meta):  # rules without a callback (type, mem)
        from lark import Tree
        return Tree(data, children)


def located(message: str, text: str, line: int | None, column: int | None, path: str | None) -> MalformedInput:
    """An error at ``line``/``column`` (1-based) of ``text``: the position in its one line, and the
    line quoted with a caret under the column as its context."""
    where = f"line {line}" + (f" column {column}" if column else "") if line else ""
    err = MalformedInput(f"{where}: {message}" if where else message, path=path)
    lines = text.splitlines()
    if line and 0 < line <= len(lines):
        shown = lines[line - 1]
        if len(shown) <= 200 and shown.replace("\t", " ").isprintable():
            col = max(1, min(column or 1, len(shown) + 1))
            pad = "".join(c if c == "\t" else " " for c in shown[:col - 1])
            err.context = f"{shown}\n{pad}^"
    return err


def _parse(text: str, path: str | None) -> list:
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

    try:
        result = _parser().parse(text)
    except UnexpectedCharacters as exc:
        raise located(f"unexpected character {text[exc.pos_in_stream]!r}", text, exc.line, exc.column,
                      path) from None
    except UnexpectedToken as exc:
        tok = exc.token
        what = "end of line" if tok.type in ("_NL", "$END") else repr(str(tok))
        line, column = getattr(tok, "line", None), getattr(tok, "column", None)
        if tok.type in ("_NL", "$END"):  # the caret goes after the last word of the line
            line = line if tok.type == "_NL" else len(text.splitlines())
            column = len(text.splitlines()[line - 1].rstrip()) + 1 if line and text.splitlines() else None
        raise located(f"unexpected {what}", text, line, column, path) from None
    except UnexpectedInput as exc:
        raise located(str(exc), text, getattr(exc, "line", None), getattr(exc, "column", None), path) from None
    except AsmError as exc:
        raise located(str(exc), text, exc.line, exc.column, path) from None
    except VisitError as exc:
        orig = exc.orig_exc
        if isinstance(orig, AsmError):
            raise located(str(orig), text, orig.line, orig.column, path) from None
        raise MalformedInput(str(orig), path=path) from None
    return result if isinstance(result, list) else [result]


def _resolve_call(name: str, kfunc: bool, kfuncs) -> tuple:
    """The slot of ``call NAME``: a helper by its name, else (or with ``kfunc``) a kfunc by
    the id of its FUNC in the BTF ``kfuncs`` maps from names."""
    from bpfinspect.suggest import did_you_mean

    from bpfinspect.isa.helper_table import HELPER_NAMES

    if not kfunc:
        try:
            helper_id = HELPER_NAMES.index(name, 1)
        except ValueError:
            helper_id = None
        if helper_id is not None:
            return (oc.JMP | oc.JMP_CALL | oc.K, 0, oc.CALL_HELPER, 0, helper_id)
    if kfuncs is not None and name in kfuncs:
        return (oc.JMP | oc.JMP_CALL | oc.K, 0, oc.CALL_KFUNC, 0, kfuncs[name])
    if kfunc and kfuncs is None:
        raise AsmError(f"kfunc {name}: a kfunc is called by its BTF id; give the BTF with --btf")
    pool = list(kfuncs or ()) if kfunc else [n for n in HELPER_NAMES[1:] if n] + list(kfuncs or ())
    what = "kfunc" if kfunc else ("helper or kfunc" if kfuncs is not None else "helper")
    hint = did_you_mean(name, pool)
    if kfuncs is None and not kfunc:
        hint += " (a kfunc is called by name only with --btf)"
    raise AsmError(f"no {what} named {name!r}{hint}")


def assemble_fields(text: str, *, path: str | None = None, kfuncs: dict[str, int] | None = None) -> list[Fields]:
    """The slots ``(opcode, dst, src, off, imm)`` of an assembly text.

    Code repeats itself, so each distinct instruction line is parsed once: the
    distinct lines are parsed together and the results mapped back.  Should
    that fail, the whole text is parsed as written so the error names the
    right line.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    wanted = [ln for ln in lines if ln and ln[0] not in "#;"]
    distinct = list(dict.fromkeys(wanted))
    try:
        parsed = _parse("\n".join(distinct), path)
        if len(parsed) != len(distinct):
            raise MalformedInput("line count mismatch", path=path)
    except MalformedInput:
        _parse(text, path)  # raises with the position in the original text
        raise
    by_line = dict(zip(distinct, parsed))
    fields: list[Fields] = []
    for number, ln in enumerate(lines, 1):
        if not ln or ln[0] in "#;":
            continue
        for slot in by_line[ln]:
            if slot[0] == _BY_NAME:  # call NAME: the helper or kfunc it names
                raw_line = text.splitlines()[number - 1]
                column = raw_line.find(slot[1], raw_line.find("call") + 4) + 1 or None
                try:
                    slot = _resolve_call(slot[1], slot[3], kfuncs)
                except AsmError as exc:
                    raise located(str(exc), text, number, column, path) from None
            try:
                fields.append(check_fields(*slot))
            except UsageError as exc:
                column = _number_column(text.splitlines()[number - 1], *slot)
                raise located(str(exc), text, number, column, path) from None
    return fields


_NUMBER = re.compile(r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|\d+)\b")


def _number_column(line: str, op: int, dst: int, src: int, off: int, imm: int) -> int | None:
    """The column (1-based) of the number in ``line`` that gave the offset or immediate out of
    range, in check_fields' order (an opcode or register out of range first: no column); None if
    no number written there has that value."""
    if not (0 <= op <= 0xFF and 0 <= dst <= 15 and 0 <= src <= 15):
        return None
    bad = [v for v, ok in ((off, -0x8000 <= off <= 0xFFFF), (imm, -0x80000000 <= imm <= 0xFFFFFFFF)) if not ok]
    for m in _NUMBER.finditer(line):
        if bad and int(m.group(), 0) in (bad[0], -bad[0]):
            return m.start() + 1
    return None


def assemble(text: str, *, little: bool = True, path: str | None = None,
             kfuncs: dict[str, int] | None = None) -> bytes:
    """Instruction bytes of an assembly text (``little=False`` for big-endian); ``kfuncs`` maps
    kfunc names to their BTF ids (``call NAME`` / ``call kfunc NAME``)."""
    return encode(assemble_fields(text, path=path, kfuncs=kfuncs), little)
