"""USDT probes (``sys/sdt.h``): the notes of ``.note.stapsdt``, where libbpf attaches them, their arguments.

Each probe site is an ELF note named ``stapsdt`` of type 3 whose descriptor
holds three addresses of the binary's word size (the probe's location, the
link-time address of ``.stapsdt.base`` and the semaphore's address, 0 when
there is none), then ``provider\\0name\\0arguments\\0``.

Offsets as libbpf 1.1 computes them (``usdt.c``):

* when the binary has a ``.stapsdt.base`` section at a non-zero address, the
  location moves by that address minus the note's base (prelink);
* the location becomes a file offset through the first ``PT_LOAD`` segment (in
  address order) whose memory range holds it, which must be executable:
  ``location - p_vaddr + p_offset``;
* the semaphore (not moved by the base) likewise, through a segment that must
  not be executable: that offset is the uprobe's reference counter offset.

Arguments are ``SIZE@OPERAND`` separated by spaces, SIZE negative for signed
values; the operand is the assembler's, so its syntax is the architecture's:
x86 ``%rax``, ``-20(%rbp)``, ``(%rsp)``, ``$5`` (and ``sym(%rip)``, ``-8(%rbp,%rax,8)``,
which libbpf 1.1 cannot read), arm64 ``x0``, ``[sp, 8]``, ``[x1]``, ``5``; riscv
``a0``, ``-8(s0)``, ``5``; s390x ``%r2``, ``160(%r15)``, ``5``.  Each argument
carries libbpf's reading (register, its offset in ``struct pt_regs``, the value
offset) and the ftrace fetch argument that reads the same value.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from bpfinspect.errors import MalformedInput
from bpfinspect.probes.binary import SHT_NOTE, Binary

NOTE_SECTION = ".note.stapsdt"
BASE_SECTION = ".stapsdt.base"
NOTE_NAME = "stapsdt"
NOTE_TYPE = 3
MAX_ARGS = 12       # libbpf's USDT_MAX_ARG_CNT


@dataclass(frozen=True, slots=True)
class UsdtArg:
    """One argument of a USDT probe.

    ``kind``: ``reg`` (a register's value), ``reg_deref`` (memory at register +
    ``offset``), ``const`` (``value``), ``sib`` (memory at base + index * scale +
    offset), ``rip_symbol`` (memory at ``symbol`` + ``offset``, RIP-relative) or
    ``unknown``.  ``register`` is the spelling in the note, ``pt_regs_field`` the
    member of the kernel's ``struct pt_regs`` it lives in and ``pt_regs_offset``
    its byte offset (libbpf's ``reg_off``); ``libbpf_error`` says why libbpf 1.1
    cannot read the argument (None: it can); ``fetcharg`` is the uprobe_events
    fetch argument for the same value (None: none exists).
    """
    index: int
    spec: str
    size: int
    signed: bool
    kind: str
    register: str | None = None
    pt_regs_field: str | None = None
    pt_regs_offset: int | None = None
    offset: int | None = None
    value: int | None = None
    index_register: str | None = None
    scale: int | None = None
    symbol: str | None = None
    libbpf_error: str | None = None
    fetcharg: str | None = None

    @property
    def type_text(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.size * 8}" if self.size in (1, 2, 4, 8) else f"?{self.size}"


@dataclass(frozen=True, slots=True)
class UsdtNote:
    provider: str
    name: str
    address: int            # location in the note
    base: int               # .stapsdt.base address in the note
    semaphore: int          # semaphore address in the note (0: none)
    args_text: str
    args: tuple[UsdtArg, ...]
    offset: int | None      # file offset of the probe (libbpf's), None with ``error``
    semaphore_offset: int | None  # file offset of the semaphore (the reference counter), None when none
    error: str | None       # why libbpf 1.1 cannot attach to this note
    note_offset: int        # where the note lies in the file

    @property
    def libbpf_ok(self) -> bool:
        return self.error is None and all(a.libbpf_error is None for a in self.args)


# ---------------------------------------------------------------- registers per architecture

# The names an x86 USDT argument may give each register (64-, 32-, 16- and 8-bit), by pt_regs field.
_X86_NAMES = (("ip", ("rip", "eip")), ("ax", ("rax", "eax", "ax", "al")), ("bx", ("rbx", "ebx", "bx", "bl")),
              ("cx", ("rcx", "ecx", "cx", "cl")), ("dx", ("rdx", "edx", "dx", "dl")),
              ("si", ("rsi", "esi", "si", "sil")), ("di", ("rdi", "edi", "di", "dil")),
              ("bp", ("rbp", "ebp", "bp", "bpl")), ("sp", ("rsp", "esp", "sp", "spl")))


def _x86_64_regs() -> dict[str, tuple[str, int]]:
    table = {}
    layout = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56, "r9": 64,
              "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "ip": 128, "sp": 152}
    for field, names in _X86_NAMES:
        for n in names:
            table[n] = (field, layout[field])
    for i in range(8, 16):
        for n in (f"r{i}", f"r{i}d", f"r{i}w", f"r{i}b"):
            table[n] = (f"r{i}", layout[f"r{i}"])
    return table


def _i386_regs() -> dict[str, tuple[str, int]]:
    layout = {"bx": 0, "cx": 4, "dx": 8, "si": 12, "di": 16, "bp": 20, "ax": 24, "ip": 48, "sp": 60}
    table = {}
    for field, names in _X86_NAMES:
        for n in names:
            table[n] = (field, layout[field])
    return table


def _aarch64_regs() -> dict[str, tuple[str, int]]:
    table = {f"x{i}": (f"x{i}", i * 8) for i in range(31)}
    table["sp"] = ("sp", 248)
    return table


_RISCV_ORDER = ("pc ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 "
                "t3 t4 t5 t6").split()


def _riscv_regs() -> dict[str, tuple[str, int]]:
    return {n: (n, i * 8) for i, n in enumerate(_RISCV_ORDER) if n != "pc"}


def _s390_regs() -> dict[str, tuple[str, int]]:
    return {f"r{i}": (f"r{i}", 16 + i * 8) for i in range(16)}


_REGS = {"x86_64": _x86_64_regs, "i386": _i386_regs, "aarch64": _aarch64_regs, "riscv": _riscv_regs,
         "s390x": _s390_regs}


# ---------------------------------------------------------------- argument syntax per architecture
# Each pattern is libbpf 1.1's sscanf format written as a regular expression anchored
# at the current position: a space in the format is any run of white space, %d/%ld an
# optionally signed decimal, %15[...] at most 15 characters of the set.

_SIZE = r"\s*([+-]?\d+)\s*@\s*"
_NUM = r"([+-]?\d+)"
_X86 = (
    ("sib", re.compile(_SIZE + _NUM + r"?\s*\(\s*%([^,)]{1,15}?)\s*,\s*%([^,)]{1,15}?)\s*(?:,\s*([+-]?\d+)\s*)?\)\s*")),
    ("reg_deref", re.compile(_SIZE + _NUM + r"\s*\(\s*%([^)]{1,15}?)\s*\)\s*")),
    ("reg_deref0", re.compile(_SIZE + r"\(\s*%([^)]{1,15}?)\s*\)\s*")),
    ("reg", re.compile(_SIZE + r"%(\S{1,15})\s*")),
    ("const", re.compile(_SIZE + r"\$" + _NUM + r"\s*")),
    ("rip_symbol", re.compile(_SIZE + r"([A-Za-z_.$][\w.$@]*)\s*([+-]\s*\d+)?\s*\(\s*%(rip|eip)\s*\)\s*")),
)
_ARM64 = (
    ("reg_deref", re.compile(_SIZE + r"\[\s*([a-z0-9]{1,15}),\s*" + _NUM + r"\s*\]\s*")),
    ("reg_deref0", re.compile(_SIZE + r"\[\s*([a-z0-9]{1,15})\s*\]\s*")),
    ("const", re.compile(_SIZE + _NUM + r"\s*")),
    ("reg", re.compile(_SIZE + r"([a-z0-9]{1,15})\s*")),
)
_RISCV = (
    ("reg_deref", re.compile(_SIZE + _NUM + r"\s*\(\s*([a-z0-9]{1,15})\s*\)\s*")),
    ("const", re.compile(_SIZE + _NUM + r"\s*")),
    ("reg", re.compile(_SIZE + r"([a-z0-9]{1,15})\s*")),
)
_S390 = (
    ("reg_deref", re.compile(_SIZE + _NUM + r"\s*\(\s*%(r\d+)\s*\)\s*")),
    ("reg", re.compile(_SIZE + r"%(r\d+)\s*")),
    ("const", re.compile(_SIZE + _NUM + r"\s*")),
)
_SYNTAX = {"x86_64": _X86, "i386": _X86, "aarch64": _ARM64, "riscv": _RISCV, "s390x": _S390}
_ANY = re.compile(r"\s*(\S+)\s*")


def parse_args(text: str, machine: str, *, symbol_offset=None) -> tuple[UsdtArg, ...]:
    """The arguments of one note for a machine (``x86_64``, ``aarch64``...).

    ``symbol_offset(name)`` gives the ``@+`` file offset the kernel needs to read
    a RIP-relative symbol (None: unknown)."""
    syntax = _SYNTAX.get(machine)
    regs = _REGS.get(machine, lambda: {})()
    out: list[UsdtArg] = []
    pos = 0
    while pos < len(text) and text[pos:].strip():
        i = len(out)
        arg, pos = _parse_one(text, pos, i, machine, syntax, regs, symbol_offset)
        if i >= MAX_ARGS and arg.libbpf_error is None:
            arg = _replace(arg, libbpf_error=f"more than {MAX_ARGS} arguments")
        out.append(arg)
    return tuple(out)


def _replace(arg: UsdtArg, **kw) -> UsdtArg:
    from dataclasses import replace
    return replace(arg, **kw)


def _parse_one(text: str, pos: int, index: int, machine: str, syntax, regs, symbol_offset) -> tuple[UsdtArg, int]:
    if syntax is None:
        m = _ANY.match(text, pos)
        spec = m.group(1)
        size = _size_of(spec)
        return UsdtArg(index, spec, abs(size or 0), (size or 0) < 0, "unknown",
                       libbpf_error=f"libbpf 1.1 reads no USDT arguments on {machine}"), m.end()
    for kind, rx in syntax:
        m = rx.match(text, pos)
        if m is None:
            continue
        spec = text[pos:m.end()].strip()
        size = int(m.group(1))
        g = m.groups()
        base = dict(index=index, spec=spec, size=abs(size), signed=size < 0)
        if kind == "const":
            arg = UsdtArg(kind="const", value=int(g[1]), **base)
        elif kind in ("reg", "reg_deref", "reg_deref0"):
            reg = g[1] if kind != "reg_deref" or machine == "aarch64" else g[2]
            off = 0 if kind != "reg_deref" else int(g[2] if machine == "aarch64" else g[1])
            field = regs.get(reg)
            arg = UsdtArg(kind="reg" if kind == "reg" else "reg_deref", register=reg,
                          pt_regs_field=field[0] if field else None, pt_regs_offset=field[1] if field else None,
                          offset=None if kind == "reg" else off,
                          libbpf_error=None if field else f"unrecognized register '{reg}'", **base)
        elif kind == "sib":
            off = int(g[1]) if g[1] else 0
            field = regs.get(g[2])
            arg = UsdtArg(kind="sib", register=g[2], pt_regs_field=field[0] if field else None,
                          pt_regs_offset=field[1] if field else None, offset=off, index_register=g[3],
                          scale=int(g[4]) if g[4] else 1,
                          libbpf_error="libbpf 1.1 reads no base+index*scale operands (libbpf 1.6 does)", **base)
        else:  # rip_symbol
            disp = int(g[2].replace(" ", "")) if g[2] else 0
            arg = UsdtArg(kind="rip_symbol", register=g[3], symbol=g[1], offset=disp,
                          libbpf_error="libbpf 1.1 reads no symbol operands (SYMBOL(%rip))", **base)
        if arg.size not in (1, 2, 4, 8) and arg.libbpf_error is None:
            arg = _replace(arg, libbpf_error=f"unsupported size {size}")
        return _replace(arg, fetcharg=_fetcharg(arg, machine, symbol_offset)), m.end()
    m = _ANY.match(text, pos)
    spec = m.group(1)
    size = _size_of(spec)
    return UsdtArg(index, spec, abs(size or 0), (size or 0) < 0, "unknown",
                   libbpf_error=f"unrecognized argument '{spec}'"), m.end()


def _size_of(spec: str) -> int | None:
    m = re.match(r"([+-]?\d+)@", spec)
    return int(m.group(1)) if m else None


def _fetcharg(arg: UsdtArg, machine: str, symbol_offset) -> str | None:
    """The uprobe_events fetch argument reading the same value, or None."""
    if arg.size not in (1, 2, 4, 8):
        return None
    typ = arg.type_text
    if arg.kind == "const":
        return f"\\{arg.value}:{typ}"
    if arg.kind == "reg" and arg.pt_regs_field:
        return f"%{arg.pt_regs_field}:{typ}"
    if arg.kind == "reg_deref" and arg.pt_regs_field:
        return f"{arg.offset:+d}(%{arg.pt_regs_field}):{typ}"
    if arg.kind == "rip_symbol" and symbol_offset is not None:
        where = symbol_offset(arg.symbol)
        if where is not None:
            return f"@+{where + (arg.offset or 0):#x}:{typ}"
    return None


# ---------------------------------------------------------------- notes


def read_usdt_notes(binary: Binary) -> list[UsdtNote]:
    """Every stapsdt note of ``binary`` with libbpf's offsets (empty when the binary has none)."""
    sec = binary.section_by_name(NOTE_SECTION)
    if sec is None:
        return []
    if sec.type != SHT_NOTE:
        raise MalformedInput(f"{NOTE_SECTION} is not a note section", path=binary.path, offset=sec.offset)
    base_sec = binary.section_by_name(BASE_SECTION)
    base_addr = base_sec.addr if base_sec is not None else 0
    word = 8 if binary.elfclass == 64 else 4
    fmt = ("<" if binary.little_endian else ">") + ("QQQ" if word == 8 else "III")
    machine = binary.machine_name
    sym_off = _symbol_offsets(binary) if machine in ("x86_64", "i386") else None
    out = []
    for note in binary.notes(sec):
        out.append(_note(binary, note, fmt, word, base_addr, machine, sym_off))
    return out


def _note(binary: Binary, note, fmt: str, word: int, base_addr: int, machine: str, sym_off) -> UsdtNote:
    desc = note.desc
    error = None
    if note.name != NOTE_NAME or note.type != NOTE_TYPE:
        return UsdtNote("", "", 0, 0, 0, "", (), None, None,
                        f"a note named {note.name!r} of type {note.type} (libbpf refuses the whole section)",
                        note.offset)
    if len(desc) < 3 * word + 3:
        return UsdtNote("", "", 0, 0, 0, "", (), None, None, f"descriptor of {len(desc)} bytes is too short",
                        note.offset)
    loc, base, sema = struct.unpack_from(fmt, desc, 0)
    strings = desc[3 * word:]
    parts = strings.split(b"\0")
    if len(parts) < 3 or not parts[1]:
        provider = parts[0].decode("utf-8", "surrogateescape") if parts else ""
        return UsdtNote(provider, "", loc, base, sema, "", (), None, None,
                        "provider, name and arguments are not three terminated strings", note.offset)
    provider, name, args = (p.decode("utf-8", "surrogateescape") for p in parts[:3])
    if len(parts) == 3 and not parts[2]:
        error = "no argument string after the name"
    if args.startswith(":"):
        args = ""
    ip = loc + (base_addr - base if base_addr else 0)
    seg = binary.segment_of(ip)
    offset = None
    if seg is None:
        error = error or f"no loadable segment holds the probe address {ip:#x}"
    elif not seg.executable:
        error = error or f"the probe address {ip:#x} lies in a segment that is not executable"
    else:
        offset = ip - seg.vaddr + seg.offset
    sema_off = None
    if sema:
        sseg = binary.segment_of(sema)
        if sseg is None:
            error = error or f"no loadable segment holds the semaphore address {sema:#x}"
        elif sseg.executable:
            error = error or f"the semaphore address {sema:#x} lies in an executable segment"
        else:
            sema_off = sema - sseg.vaddr + sseg.offset

    def fetch_offset(symbol: str) -> int | None:
        return sym_off(symbol, seg) if sym_off is not None and seg is not None else None

    parsed = parse_args(args, machine, symbol_offset=fetch_offset)
    return UsdtNote(provider, name, loc, base, sema, args, parsed, offset, sema_off, error, note.offset)


def _symbol_offsets(binary: Binary):
    """symbol name -> the ``@+OFFSET`` the kernel needs to read it from a probe in segment ``seg``.

    The kernel reads ``@+OFFSET`` at (probe address - probe file offset) + OFFSET, so
    for data in another segment OFFSET is the symbol's address less the probe
    segment's address-to-offset distance."""
    table: dict[str, int] = {}
    for syms in (binary.symtab, binary.dynsym):
        for s in syms or ():
            if s.defined and s.type in (1, 6, 0) and s.name and s.shndx < 0xFF00:
                table.setdefault(s.raw_name, s.value)

    def lookup(symbol: str, seg) -> int | None:
        value = table.get(symbol)
        if value is None:
            return None
        return value - seg.vaddr + seg.offset

    return lookup


def ftrace_lines(path: str, notes: list[UsdtNote]) -> list[str | None]:
    """A uprobe_events line per note (None where libbpf could not place it or the path cannot be written):
    ``p:PROVIDER_NAME PATH:0xOFFSET[(0xSEMAPHORE)] arg1=... arg2=...``; probes named alike get ``_1``,
    ``_2``... in note order; an argument without a fetch argument is left out (the others keep their
    numbers)."""
    from bpfinspect.probes.uprobe import event_name, ftrace_line

    counts: dict[str, int] = {}
    for n in notes:
        counts[f"{n.provider}:{n.name}"] = counts.get(f"{n.provider}:{n.name}", 0) + 1
    seen: dict[str, int] = {}
    out: list[str | None] = []
    for n in notes:
        if n.error or n.offset is None:
            out.append(None)
            continue
        key = f"{n.provider}:{n.name}"
        event = event_name(f"{n.provider}_{n.name}")
        if counts[key] > 1:
            seen[key] = seen.get(key, 0) + 1
            event = f"{event[:58]}_{seen[key]}"
        line = ftrace_line(path, n.offset, event)
        if line is None:
            out.append(None)
            continue
        if n.semaphore_offset:
            line += f"({n.semaphore_offset:#x})"
        line += "".join(f" arg{a.index + 1}={a.fetcharg}" for a in n.args if a.fetcharg)
        out.append(line)
    return out
