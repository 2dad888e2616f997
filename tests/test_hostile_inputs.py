"""Hostile and malformed objects through the command line, and regressions found by fuzzing.

Every command that reads an object must answer bad input with exit 2 and one
line on stderr (``bpfinspect: FILE: ...``), never a traceback nor exit 70
("internal error"), in bounded time and memory; where the input is actually
fine it exits 0.  ``load`` hands the file to libbpf after our checks: 1 or 2
are both right for a file libbpf refuses, a crash of the process is not.

The shapes are made in the test from a fixture and a byte patch, or written
from scratch by tests/hostile_util.py.  The fuzz targets that find new shapes
live in tests/fuzz/.
"""

from __future__ import annotations

import os
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BPF_REASON, FIXTURES
from hostile_util import (EXIT, MOV64_R0_0, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, SHT_PROGBITS,
                          SHT_REL, Image, Obj, Sec, Sym, build, insn, rel_bytes)

from bpfinspect.btf import Kind, parse_btf
from bpfinspect.errors import MalformedInput

READERS = ("info", "sections", "progs", "maps", "globals", "relocs", "btf", "disasm", "gen-skel", "budget", "diff")
MEMORY_LIMIT = 2 << 30     # bytes of address space for one command
TIME_LIMIT = 60            # seconds for one command (they take well under one)


def fixture(name: str) -> Image:
    return Image((FIXTURES / name).read_bytes())


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cli(*args: str, memory_limit: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, BPFINSPECT_DEBUG="")
    env.pop("BPFINSPECT_DEBUG")
    return subprocess.run([sys.executable, "-m", "bpfinspect", *args], capture_output=True, text=True,
                          timeout=TIME_LIMIT, env=env, preexec_fn=_limit_memory if memory_limit else None)


def check_clean(r: subprocess.CompletedProcess, path: Path, allowed=(0, 2)) -> None:
    """The process ended by itself with an allowed code, and an error is one line naming the file."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode >= 0, f"killed by signal {-r.returncode}"
    assert r.returncode != 70, r.stderr
    assert r.returncode in allowed, (r.returncode, r.stderr)
    if r.returncode == 2:
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("bpfinspect: "), r.stderr
        assert str(path) in lines[0], lines[0]


def _cmd_args(cmd: str, path: Path, tmp_path: Path) -> list[str]:
    if cmd == "gen-skel":
        return [cmd, "-o", str(tmp_path / "out.skel.h"), str(path)]
    if cmd == "diff":                     # against itself: equivalent (0) when it can be read at all
        return [cmd, str(path), str(path)]
    return [cmd, str(path)]


# -- the shapes -----------------------------------------------------------------------------------

def _prog(code: bytes, syms: list[Sym], extra=(), **kw) -> bytes:
    """A small object: one kprobe program section, a license, and ``extra`` sections."""
    return build(Obj([Sec("kprobe/do_unlinkat", SHT_PROGBITS, code, flags=SHF_ALLOC | SHF_EXECINSTR),
                      Sec("license", SHT_PROGBITS, b"GPL\0", flags=SHF_ALLOC | SHF_WRITE, align=1), *extra],
                     syms, **kw))


def _btf_ext_first_rec_size_offset(img: Image) -> int:
    ext = img.data(".BTF.ext")
    hdr_len = struct.unpack_from("<I", ext, 4)[0]
    func_info_off = struct.unpack_from("<I", ext, 8)[0]
    return hdr_len + func_info_off


def _maps_var_to_int(img: Image) -> Image:
    btf = parse_btf(img.data(".BTF"))
    ds = btf.find(".maps", Kind.DATASEC)[0]
    var = btf.type(ds).vars[0].type
    int_id = next(t for t in btf.ids() if btf.kind(t) == Kind.INT)
    _, pos = btf.words(var)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4 + 8, "I", int_id)


def _typedef_without_name(img: Image) -> Image:
    """The first typedef's name offset set to 0 (found by fuzz_skel: the C skeleton wrote
    ``typedef unsigned long long;`` and used the nameless type)."""
    btf = parse_btf(img.data(".BTF"))
    td = next(t for t in btf.ids() if btf.kind(t) == Kind.TYPEDEF)
    _, pos = btf.words(td)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4, "I", 0)


def _int_made_wide(img: Image) -> Image:
    """``int`` given 16 bytes (its 32 bits kept: valid BTF), its neighbours in records still 4
    bytes apart: members overlap, which no C declaration can say (found by fuzz_skel: the
    skeleton's layout assertions failed to compile)."""
    btf = parse_btf(img.data(".BTF"))
    tid = next(t for t in btf.ids() if btf.kind(t) == Kind.INT and btf.name(t) == "int")
    _, pos = btf.words(tid)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4 + 8, "I", 16)


def _sized(img: Image, kind: Kind, size: int) -> Image:
    """The first named type of ``kind`` given ``size`` bytes (found by fuzz_skel: an ``int`` of 3
    bytes was written ``unsigned char``, and the skeleton's size assertions failed, exit 0)."""
    btf = parse_btf(img.data(".BTF"))
    tid = next(t for t in btf.ids() if btf.kind(t) == kind and btf.name(t))
    _, pos = btf.words(tid)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4 + 8, "I", size)


def _record_word(img: Image, name: str, word: int, change) -> Image:
    """The BTF of ``img`` with word ``word`` of the record ``name`` (2: its size; 3 + 3i + 2: the
    offset word of member i) replaced by ``change(old)``."""
    btf = parse_btf(img.data(".BTF"))
    tid = next(t for t in btf.ids() if btf.kind(t) in (Kind.STRUCT, Kind.UNION) and btf.name(t) == name)
    _, pos = btf.words(tid)
    at = btf.hdr_len + btf.type_off + (pos + word) * 4
    return img.patch(".BTF", at, "I", change(struct.unpack_from("<I", img.data(".BTF"), at)[0]))


def _bitfield_of_a_union(img: Image) -> Image:
    """``shape_bits``'s first bit-field given a union type (found by fuzz_skel: gcc refused
    ``union shape_tagged_union typed: 6;``, "bit-field has invalid type")."""
    btf = parse_btf(img.data(".BTF"))
    union = next(t for t in btf.ids() if btf.kind(t) == Kind.UNION and btf.name(t))
    return _record_word(img, "shape_bits", 3 + 1, lambda _type: union)


def _root_size_odd(img: Image) -> Image:
    """``shape_root`` one byte short: not a multiple of its alignment, so it is written packed,
    where a filler such as ``long: 64`` does not align itself (found by fuzz_skel: the skeleton's
    layout assertions failed to compile, exit 0)."""
    return _record_word(img, "shape_root", 2, lambda size: size - 1)


def _bitfield_moved_past_the_next(img: Image) -> Image:
    """``shape_bits``'s first bit-field moved 8 bits on, past the start of the second (found by
    fuzz_skel): bit-fields out of order, which no C declaration has."""
    return _record_word(img, "shape_bits", 3 + 2, lambda word: word + 8)


def _function_returning_an_array(img: Image) -> Image:
    """A function prototype whose return type is made an array (found by fuzz_skel: gcc refused
    the skeleton's ``typedef void (*((*f)(int, sig_t))[2])(void)``)."""
    btf = parse_btf(img.data(".BTF"))
    proto = next(t for t in btf.ids() if btf.kind(t) == Kind.FUNC_PROTO and btf.ref(t) != 0)
    array = next(t for t in btf.ids() if btf.kind(t) == Kind.ARRAY)
    _, pos = btf.words(proto)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + 2) * 4, "I", array)


def _refers_to(img: Image, owner_kind: Kind, word: int, target_kind: Kind, now: Kind | None = None) -> Image:
    """The first type of ``owner_kind`` whose word ``word`` names a type (of kind ``now`` when
    given; a struct's first member's type is word 4) made to name the first of ``target_kind``."""
    btf = parse_btf(img.data(".BTF"))

    def named(t: int) -> int:
        w, p = btf.words(t)
        return w[p + word]

    owner = next(t for t in btf.ids() if btf.kind(t) == owner_kind and named(t)
                 and (now is None or btf.kind(named(t)) == now))
    target = next(t for t in btf.ids() if btf.kind(t) == target_kind)
    _, pos = btf.words(owner)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + word) * 4, "I", target)


def _function_returning_a_const(img: Image) -> Image:
    """A function prototype whose return type is made a const-qualified type (found by
    fuzz_skel: gcc -Wextra refused the skeleton's ``typedef const struct shape_point
    (*shape_signal_fn)(int, shape_sig_t);``, "type qualifiers ignored on function return type")."""
    btf = parse_btf(img.data(".BTF"))
    proto = next(t for t in btf.ids() if btf.kind(t) == Kind.FUNC_PROTO and btf.ref(t) != 0)
    const = next(t for t in btf.ids() if btf.kind(t) == Kind.CONST and btf.kind(btf.ref(t)) != Kind.PTR)
    _, pos = btf.words(proto)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + 2) * 4, "I", const)


def _bss_variable_without_size_or_type(img: Image) -> Image:
    """``quals_bss`` (in the middle of ``.bss``) given the section itself as its BTF type and a
    symbol of size 0 (found by fuzz_skel: the C skeleton wrote it as one byte, which moved every
    member after it, and its layout assertions failed, exit 0)."""
    btf = parse_btf(img.data(".BTF"))
    ds = next(t for t in btf.ids() if btf.kind(t) == Kind.DATASEC and btf.name(t) == ".bss")
    var = next(t for t in btf.ids() if btf.kind(t) == Kind.VAR and btf.name(t) == "quals_bss")
    _, pos = btf.words(var)
    img = img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + 2) * 4, "I", ds)
    symtab, strtab = img.data(".symtab"), img.data(".strtab")
    for at in range(0, len(symtab), 24):
        name_off = struct.unpack_from("<I", symtab, at)[0]
        if strtab[name_off:strtab.index(b"\0", name_off)] == b"quals_bss":
            return img.patch(".symtab", at + 16, "Q", 0)
    raise AssertionError("no symbol quals_bss")


def _volatile_of_cvi() -> int:
    """The VOLATILE under ``shape_quals.cvi`` (``const volatile int``): made a CONST, it gives
    ``const const int`` (found by fuzz_skel: gcc -Wall refused ``const char *const restrict
    const crc;``, "duplicate 'const' declaration specifier")."""
    btf = parse_btf(fixture("btf_shapes.bpf.o").data(".BTF"))
    rec = next(t for t in btf.ids() if btf.kind(t) == Kind.STRUCT and btf.name(t) == "shape_quals")
    cvi = next(m.type for m in btf.type(rec).members if m.name == "cvi")
    vol = btf.ref(cvi)
    assert btf.kind(cvi) == Kind.CONST and btf.kind(vol) == Kind.VOLATILE
    return vol


def _qualifier_above_a_type_tag(img: Image) -> Image:
    """``shape_quals.cvi`` made CONST -> TYPE_TAG -> CONST -> int (its VOLATILE made a type tag
    over the fixture's ``const int``): the skeleton, which leaves type tags out, wrote
    ``intconst cvi;`` (the qualifiers above the tag glued to the base), which gcc refused."""
    vol = _volatile_of_cvi()
    btf = parse_btf(img.data(".BTF"))
    base = btf.ref(vol)
    const = next(t for t in btf.ids() if btf.kind(t) == Kind.CONST and btf.ref(t) == base)
    img = _retype(img, vol, int(Kind.TYPE_TAG))
    w, pos = btf.words(vol)
    at = btf.hdr_len + btf.type_off + pos * 4
    img = img.patch(".BTF", at + 8, "I", const)
    return img.patch(".BTF", at, "I", btf.words(base)[0][btf.words(base)[1]])   # the tag named as the base


def _restrict_on(img: Image, what: str) -> Image:
    """``shape_quals.crc`` (``const char *const restrict const``) with its ``restrict`` moved
    onto what no C takes it on: a ``char`` (``what="char"``: the pointer under it taken out;
    found by fuzz_skel: gcc refused ``restrict const char crc;``, "invalid use of 'restrict'"),
    or a pointer to a function (``what="function pointer"``: found by review)."""
    btf = parse_btf(img.data(".BTF"))
    rec = next(t for t in btf.ids() if btf.kind(t) == Kind.STRUCT and btf.name(t) == "shape_quals")
    x = next(m.type for m in btf.type(rec).members if m.name == "crc")
    while btf.kind(x) != Kind.RESTRICT:
        x = btf.ref(x)
    ptr = btf.ref(x)
    assert btf.kind(ptr) == Kind.PTR
    if what == "char":
        target = btf.ref(ptr)
    else:
        target = next(t for t in btf.ids() if btf.kind(t) == Kind.PTR and btf.kind(btf.ref(t)) == Kind.FUNC_PROTO)
    _, pos = btf.words(x)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4 + 8, "I", target)


def _fwd_without_a_name(img: Image) -> Image:
    """The forward declaration ``struct shape_opaque`` given name offset 0 (found by fuzz_skel:
    the skeleton wrote ``struct ;`` and ``struct  *opaque;``, which gcc refused)."""
    btf = parse_btf(img.data(".BTF"))
    fwd = next(t for t in btf.ids() if btf.kind(t) == Kind.FWD and btf.name(t) == "shape_opaque")
    _, pos = btf.words(fwd)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4, "I", 0)


def _data_variable_far_away(img: Image) -> Image:
    """The last variable of ``.data`` moved (its symbol's value and its DATASEC entry) to an odd
    offset far past the section (found by fuzz_skel: the C skeleton padded up to it, and its
    offset assertion failed)."""
    far = 0xD46C7A17
    btf = parse_btf(img.data(".BTF"))
    ds = next(t for t in btf.ids() if btf.kind(t) == Kind.DATASEC and btf.name(t) == ".data")
    w, pos = btf.words(ds)
    last = btf.vlen(ds) - 1
    name = btf.name(w[pos + 3 + 3 * last])
    img = img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + 3 + 3 * last + 1) * 4, "I", far)
    symtab, strtab = img.data(".symtab"), img.data(".strtab")
    for at in range(0, len(symtab), 24):
        name_off = struct.unpack_from("<I", symtab, at)[0]
        if strtab[name_off:strtab.index(b"\0", name_off)] == name.encode():
            return img.patch(".symtab", at + 8, "Q", far)
    raise AssertionError(f"no symbol {name}")


def _tags_read_empty(img: Image) -> Image:
    """Every named struct, union, enum and forward declaration given a name offset that reads as
    an empty string (the end of the table's first name), so named without a name (found by
    fuzz_skel: the --types C skeleton wrote ``struct  {...};`` and members ``struct  v;``)."""
    btf = parse_btf(img.data(".BTF"))
    strings = img.data(".BTF")[btf.hdr_len + btf.str_off:]
    empty = strings.index(b"\0", 1)
    tags = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD)
    for tid in btf.ids():
        if btf.kind(tid) in tags and btf.name(tid):
            _, pos = btf.words(tid)
            img = img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4, "I", empty)
    return img


def _btf_ext_huge_num_info(img: Image) -> Image:
    at = _btf_ext_first_rec_size_offset(img)
    return img.patch(".BTF.ext", at + 8, "I", 0x7FFFFFFF)  # rec_size | sec_name_off | num_info


def _reloc_past_table(img: Image) -> Image:
    return img.patch(".relkprobe/do_unlinkat", 8, "Q", (5000 << 32) | 1)


def _call_chain(n: int) -> bytes:
    """``n`` functions in .text, each calling the next: every one reaches all that follow."""
    call_next = insn(0x85, src=1, imm=1)  # call pc+1: the next function (each one is call, exit)
    return _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)]
                 + [Sym(f"f{k}", ".text", 16 * k, 16, bind=0) for k in range(n)],
                 [Sec(".text", SHT_PROGBITS, (call_next + EXIT) * n, flags=SHF_ALLOC | SHF_EXECINSTR)])


def _btf_datasec(name: str, nvars: int) -> bytes:
    """BTF with an int, ``nvars`` global VARs of it and a DATASEC ``name`` listing them."""
    strs = bytearray(b"\0int\0" + name.encode() + b"\0")
    types = bytearray(struct.pack("<IIII", 1, 1 << 24, 4, 32))                 # [1] int
    for k in range(nvars):                                                     # [2..] VAR vK
        types += struct.pack("<IIII", len(strs), 14 << 24, 1, 1)
        strs += f"v{k}".encode() + b"\0"
    types += struct.pack("<III", 5, (15 << 24) | nvars, 4 * nvars)             # DATASEC
    for k in range(nvars):
        types += struct.pack("<III", 2 + k, 4 * k, 4)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs)) + types + strs


def _many_sections_of_one_name(nsecs: int, nvars: int) -> bytes:
    """``nsecs`` sections all called .data, and a .data DATASEC of ``nvars`` variables without symbols."""
    data = [Sec(".data", SHT_PROGBITS, bytes(8), flags=SHF_ALLOC | SHF_WRITE) for _ in range(nsecs)]
    return _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)],
                 data + [Sec(".BTF", SHT_PROGBITS, _btf_datasec(".data", nvars), align=4)])


def _be_with_le_btf() -> Image:
    be = fixture("maps-eb.bpf.o")
    return be.put(".BTF", fixture("maps.bpf.o").data(".BTF"))


ONE_PROG = MOV64_R0_0 + EXIT
ALL = frozenset(READERS)
MODEL = ALL - {"sections", "btf"}         # commands that build more than the section table

# name -> (make bytes, commands that must exit 2, commands that must exit 0); the rest may say either.
SHAPES = {
    "shoff_past_eof": (lambda: bytes(fixture("kprobe.bpf.o").set_hdr("shoff", 0x10000)), ALL, ()),
    "shnum_huge": (lambda: bytes(fixture("kprobe.bpf.o").set_hdr("shnum", 0xFFF0)), ALL, ()),
    "shstrndx_out_of_range": (lambda: bytes(fixture("kprobe.bpf.o").set_hdr("shstrndx", 200)), ALL, ()),
    "shstrndx_not_strtab": (lambda: bytes(fixture("kprobe.bpf.o").set_hdr("shstrndx", 3)), ALL, ()),
    "symtab_entsize_0": (lambda: bytes(fixture("kprobe.bpf.o").set_shdr(".symtab", "entsize", 0)), (), ALL),
    "symtab_entsize_odd": (lambda: bytes(fixture("kprobe.bpf.o").set_shdr(".symtab", "entsize", 7)),
                           MODEL, ("sections", "btf")),
    "symtab_size_odd": (lambda: bytes(fixture("kprobe.bpf.o").set_shdr(".symtab", "size", 0x1c8 - 5)), (), ()),
    "reloc_symbol_past_table": (lambda: bytes(_reloc_past_table(fixture("kprobe.bpf.o"))),
                                {"info", "progs", "relocs", "disasm"}, ("sections", "btf")),
    "reloc_offset_past_section": (
        lambda: bytes(fixture("kprobe.bpf.o").patch(".relkprobe/do_unlinkat", 0, "Q", 0x100000)),
        {"info", "progs", "relocs", "disasm"}, ("sections", "btf")),
    "reloc_section_info_past_table": (
        lambda: bytes(fixture("kprobe.bpf.o").set_shdr(".relkprobe/do_unlinkat", "info", 0xFFFF)), (), ()),
    "btf_type_len_huge": (lambda: bytes(fixture("kprobe.bpf.o").patch(".BTF", 12, "I", 0xFFFFFFF0)),
                          ALL - {"sections"}, ("sections",)),
    "btf_str_len_huge": (lambda: bytes(fixture("kprobe.bpf.o").patch(".BTF", 20, "I", 0xFFFFFFF0)),
                         ALL - {"sections"}, ("sections",)),
    "btf_ext_record_size_0": (
        lambda: bytes((lambda i: i.patch(".BTF.ext", _btf_ext_first_rec_size_offset(i), "I", 0))(
            fixture("kprobe.bpf.o"))),
        {"info", "disasm"}, ("sections", "btf")),
    "btf_ext_record_size_huge": (
        lambda: bytes((lambda i: i.patch(".BTF.ext", _btf_ext_first_rec_size_offset(i), "I", 0xFFFFFFF0))(
            fixture("kprobe.bpf.o"))),
        {"info", "disasm"}, ("sections", "btf")),
    "btf_ext_num_info_huge": (lambda: bytes(_btf_ext_huge_num_info(fixture("kprobe.bpf.o"))),
                              {"info", "disasm"}, ("sections", "btf")),
    # the map definitions are read by what shows them; relocations need only the maps' names
    "maps_var_not_struct": (lambda: bytes(_maps_var_to_int(fixture("maps.stripped.bpf.o"))),
                            {"info", "maps", "gen-skel"}, ("sections", "btf", "progs", "relocs", "disasm")),
    "code_section_7_bytes": (lambda: _prog(b"\x95" * 7, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 7)]),
                             {"info", "progs", "disasm", "gen-skel"}, ("sections",)),
    "zero_sized_symbols": (lambda: _prog(ONE_PROG * 3, [Sym("a", "kprobe/do_unlinkat", 0, 0),
                                                        Sym("b", "kprobe/do_unlinkat", 16, 0),
                                                        Sym("c", "kprobe/do_unlinkat", 32, 0)]),
                           {"btf"}, MODEL),
    "overlapping_func_symbols": (lambda: _prog(ONE_PROG * 2, [Sym("a", "kprobe/do_unlinkat", 0, 32),
                                                              Sym("b", "kprobe/do_unlinkat", 8, 16),
                                                              Sym("c", "kprobe/do_unlinkat", 8, 24)]),
                                 {"btf"}, ()),
    "func_symbol_past_section": (lambda: _prog(ONE_PROG, [Sym("a", "kprobe/do_unlinkat", 0x7FFFFFF8, 16)]),
                                 {"btf"}, ()),
    "bss_100mb_nobits": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16),
                                                  Sym("big", ".bss", 0, 100 << 20, type=1)],
                                       [Sec(".bss", SHT_NOBITS, flags=SHF_ALLOC | SHF_WRITE, size=100 << 20)]),
                         {"btf"}, MODEL),
    "bss_2gb_nobits": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16),
                                                Sym("big", ".bss", 0, 2 << 30, type=1)],
                                     [Sec(".bss", SHT_NOBITS, flags=SHF_ALLOC | SHF_WRITE, size=2 << 30)]),
                       {"btf"}, MODEL),
    # (found by fuzz_skel: the Python skeleton wrote a ctypes array of 2**64 - 1 bytes, which
    # raised OverflowError at import)
    "bss_2_64_minus_1_nobits": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16),
                                                         Sym("big", ".bss", 0, 16, type=1)],
                                              [Sec(".bss", SHT_NOBITS, flags=SHF_ALLOC | SHF_WRITE,
                                                   size=(1 << 64) - 1)]),
                                {"btf"}, ()),
    "data_2gb_claimed": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)],
                                       [Sec(".data", SHT_PROGBITS, b"\1" * 8, flags=SHF_ALLOC | SHF_WRITE,
                                            size=2 << 30)]),
                         ALL, ()),
    "rel_2gb_claimed": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)],
                                      [Sec(".relkprobe/do_unlinkat", SHT_REL, rel_bytes([(0, 1, 1)]),
                                           link=".symtab", info="kprobe/do_unlinkat", entsize=16,
                                           size=2 << 30)]),
                        ALL, ()),
    "elf32_class": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)], is64=False),
                    MODEL | {"btf"}, ()),
    "big_endian_elf_little_endian_btf": (lambda: bytes(_be_with_le_btf()),
                                         {"info", "progs", "maps", "globals", "relocs", "gen-skel"},
                                         ("sections", "btf")),
    "not_bpf_machine": (lambda: bytes(fixture("kprobe.bpf.o").set_hdr("machine", 62)), MODEL, ()),
    "truncated_half": (lambda: (FIXTURES / "kprobe.bpf.o").read_bytes()[:6000], ALL, ()),
    "truncated_header": (lambda: (FIXTURES / "kprobe.bpf.o").read_bytes()[:40], ALL, ()),
    # What a function reaches is listed for each function: a chain of calls would make that
    # quadratic; no program of more than 256 functions loads, so the model stops there.
    "call_chain_of_3000": (lambda: _call_chain(3000), {"progs"}, ("info", "sections", "disasm", "relocs")),
    # C has no nameless typedef: the C skeleton refuses it (the BTF printer writes it as bpftool does).
    "typedef_without_name": (lambda: bytes(_typedef_without_name(fixture("bootstrap.bpf.o"))),
                             {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "int_16_bytes_wide": (lambda: bytes(_int_made_wide(fixture("btf_shapes.bpf.o"))),
                          {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "int_3_bytes": (lambda: bytes(_sized(fixture("btf_shapes.bpf.o"), Kind.INT, 3)),
                    {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "enum_3_bytes": (lambda: bytes(_sized(fixture("btf_shapes.bpf.o"), Kind.ENUM, 3)),
                     {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "float_2_bytes": (lambda: bytes(_sized(fixture("btf_shapes.bpf.o"), Kind.FLOAT, 2)),
                      {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "struct_size_not_a_multiple_of_its_alignment": (lambda: bytes(_root_size_odd(fixture("btf_shapes.bpf.o"))),
                                                    (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "bitfield_moved_past_the_next": (lambda: bytes(_bitfield_moved_past_the_next(fixture("btf_shapes.bpf.o"))),
                                     {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "bitfield_of_a_union": (lambda: bytes(_bitfield_of_a_union(fixture("btf_shapes.bpf.o"))),
                            {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "function_returning_an_array": (lambda: bytes(_function_returning_an_array(fixture("btf_shapes.bpf.o"))),
                                    {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    # (found by fuzz_skel: a pointer to a data section was written as a pointer to nothing,
    # ``int (*open)(, const char *, unsigned int);``)
    "pointer_to_a_data_section": (lambda: bytes(_refers_to(fixture("btf_shapes.bpf.o"), Kind.PTR, 2, Kind.DATASEC,
                                                                Kind.STRUCT)),
                                  {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "parameter_of_a_data_section": (lambda: bytes(_refers_to(fixture("btf_shapes.bpf.o"), Kind.FUNC_PROTO, 4,
                                                             Kind.DATASEC)),
                                    {"gen-skel"}, ("sections", "btf", "info", "progs", "disasm")),
    "tags_named_with_empty_strings": (lambda: bytes(_tags_read_empty(fixture("btf_shapes.bpf.o"))),
                                      (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "function_returning_a_const": (lambda: bytes(_function_returning_a_const(fixture("btf_shapes.bpf.o"))),
                                   (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "bss_variable_without_size_or_type": (lambda: bytes(_bss_variable_without_size_or_type(
        fixture("btf_shapes.bpf.o"))), (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "qualifier_repeated": (lambda: bytes(_retype(fixture("btf_shapes.bpf.o"), _volatile_of_cvi(), int(Kind.CONST))),
                           (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "qualifier_above_a_type_tag": (lambda: bytes(_qualifier_above_a_type_tag(fixture("btf_shapes.bpf.o"))),
                                   (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "restrict_on_a_char": (lambda: bytes(_restrict_on(fixture("btf_shapes.bpf.o"), "char")),
                           (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "restrict_on_a_function_pointer": (lambda: bytes(_restrict_on(fixture("btf_shapes.bpf.o"), "function pointer")),
                                       (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "fwd_without_a_name": (lambda: bytes(_fwd_without_a_name(fixture("btf_shapes.bpf.o"))),
                           (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    "data_variable_far_away": (lambda: bytes(_data_variable_far_away(fixture("btf_shapes.bpf.o"))),
                               (), ("sections", "btf", "info", "progs", "disasm", "gen-skel")),
    # A 4-byte "version" section of type NULL (found by fuzz_obj): no bytes, so no kernel version.
    "version_section_null": (lambda: _prog(ONE_PROG, [Sym("do_unlinkat", "kprobe/do_unlinkat", 0, 16)],
                                           [Sec("version", 0, b"", flags=SHF_ALLOC | SHF_WRITE, size=4)]),
                             (), MODEL),
    # Variables of a DATASEC without symbols are listed once, not once per equally named section.
    "thousands_of_data_sections": (lambda: _many_sections_of_one_name(2000, 2000), (), MODEL),
}


@pytest.fixture(scope="module")
def shape_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    out = {}
    for name, (make, _fail, _ok) in SHAPES.items():
        p = d / f"{name}.bpf.o"
        p.write_bytes(make())
        out[name] = p
    return out


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_hostile_shape_through_every_command(shape, shape_files, tmp_path):
    path = shape_files[shape]
    _make, must_fail, must_pass = SHAPES[shape]
    for cmd in READERS:
        r = cli(*_cmd_args(cmd, path, tmp_path))
        check_clean(r, path)
        if cmd in must_fail:
            assert r.returncode == 2, (cmd, r.returncode, r.stdout[-500:])
        if cmd in must_pass:
            assert r.returncode == 0, (cmd, r.stderr)


@pytest.mark.parametrize("shape", ["bss_100mb_nobits", "elf32_class", "zero_sized_symbols"])
def test_hostile_shape_json_and_python_skeleton(shape, shape_files, tmp_path):
    path = shape_files[shape]
    for args in (["info", "--json"], ["progs", "--json"], ["globals", "--json"], ["disasm", "--json"],
                 ["disasm", "--plain"], ["gen-skel", "--lang", "python", "-o", str(tmp_path / "s.py")],
                 ["gen-skel", "--types", "-o", str(tmp_path / "s.h")]):
        check_clean(cli(*args, str(path)), path)


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_hostile_shape_load(shape, shape_files):
    """libbpf reads the file itself: whatever it thinks, the process answers with an exit code."""
    path = shape_files[shape]
    r = cli("load", str(path), memory_limit=False)
    check_clean(r, path, allowed=(0, 1, 2))


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
def test_load_refuses_a_2gb_data_section_before_copying_it(shape_files):
    """A 2 GB .bss used to reach ctypes.string_at (SystemError: negative size, exit 70);
    copying it would have needed 2 GB more.  No kernel maps such a value: exit 2."""
    path = shape_files["bss_2gb_nobits"]
    r = cli("load", str(path), memory_limit=False)  # libbpf reserves (not touches) the 2 GB
    check_clean(r, path, allowed=(2,))
    assert "claims 2147483648 bytes" in r.stderr
    r = cli("load", str(path))  # under a 2 GB address-space limit libbpf itself gives up
    check_clean(r, path, allowed=(1, 2))


# -- the messages say what is wrong ---------------------------------------------------------------

def test_shstrndx_out_of_range_is_named(shape_files):
    r = cli("sections", str(shape_files["shstrndx_out_of_range"]))
    assert r.returncode == 2 and "section name table index 200 out of range" in r.stderr


def test_elf32_is_refused_as_a_bpf_object(shape_files):
    r = cli("progs", str(shape_files["elf32_class"]))
    assert r.returncode == 2 and "ELF class 32" in r.stderr


def test_btf_byte_order_must_match_the_object(shape_files):
    r = cli("maps", str(shape_files["big_endian_elf_little_endian_btf"]))
    assert r.returncode == 2 and "little-endian in a big-endian object" in r.stderr, r.stderr


def test_a_program_reaching_more_functions_than_the_kernel_takes_is_refused(shape_files):
    r = cli("progs", str(shape_files["call_chain_of_3000"]))
    assert r.returncode == 2 and "reaches more than 255 subprograms" in r.stderr, r.stderr


def test_odd_code_size_is_refused_by_the_model(shape_files):
    r = cli("progs", str(shape_files["code_section_7_bytes"]))
    assert r.returncode == 2 and "not a multiple of 8" in r.stderr, r.stderr


# -- expand reads C, not objects: malformed C is reported by clang ---------------------------------

@pytest.mark.parametrize("text", [
    b"int f( {\n",
    b'#include "no_such_header_anywhere.h"\nint x;\n',
    b"#if\n",
    b"\xff\xfe\x00garbage\x00\x01",
    b"#define A A B\n#define B A\nA\n#if 1\n",
])
def test_expand_malformed_c_exits_2_with_diagnostics(text, tmp_path):
    src = tmp_path / "bad.bpf.c"
    src.write_bytes(text)
    r = cli("expand", str(src))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(ln.startswith(f"bpfinspect: {src}") for ln in lines), r.stderr
    assert any("error" in ln for ln in lines), r.stderr


def test_expand_missing_file(tmp_path):
    r = cli("expand", str(tmp_path / "nope.bpf.c"))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "no such file" in r.stderr


# -- regressions found by the fuzz targets (tests/fuzz) ---------------------------------------------

def model_all(data: bytes) -> None:
    """What fuzz_obj.py does with one input."""
    import bpfinspect.obj
    from bpfinspect.views import globals as v_globals, info, maps, progs, relocs, sections
    from bpfinspect.views.table import render_plain

    obj = bpfinspect.obj.from_bytes(data, path="x.bpf.o")
    for view in (sections, progs, maps, v_globals, relocs, info):
        view.to_json(obj)
        render_plain(view.blocks(obj))


MODEL_VIEWS = frozenset({"sections", "progs", "maps", "globals", "relocs", "info"})  # what model_all runs


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_model_raises_only_our_errors_on_every_shape(shape):
    """In-process (the CLI maps RecursionError and MemoryError to exit 2; the library must not
    raise them at all): a shape one of these views must refuse raises MalformedInput, a shape
    they must all accept raises nothing, and no shape raises anything else."""
    make, must_fail, must_pass = SHAPES[shape]
    if MODEL_VIEWS & set(must_fail):
        with pytest.raises(MalformedInput):
            model_all(make())
    elif MODEL_VIEWS <= set(must_pass):
        model_all(make())
    else:
        try:
            model_all(make())
        except MalformedInput as exc:  # either answer is right for this shape; the error must name the file
            assert exc.path == "x.bpf.o" and "x.bpf.o" in exc.one_line()


def _retype(img: Image, tid: int, kind: int, vlen: int = 0) -> Image:
    """Change the kind (and vlen) of BTF type ``tid`` in place."""
    btf = parse_btf(img.data(".BTF"))
    _, pos = btf.words(tid)
    return img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4 + 4, "I", (kind << 24) | vlen)


def test_skeleton_of_a_variable_whose_type_has_no_alignment():
    """fuzz_skel: a FLOAT retyped as a FWD has alignment 0 for the C printer; the
    skeleton's layout divided by it (ZeroDivisionError in c_build._layout)."""
    from bpfinspect.obj import from_bytes
    from bpfinspect.skel.c import generate_with_warnings
    from bpfinspect.skel.c_types import Types

    img = fixture("btf_shapes.bpf.o")
    btf = parse_btf(img.data(".BTF"))
    var = next(t for t in btf.ids() if btf.kind(t) == Kind.VAR and btf.name(t) == "ratio")
    flt = btf.ref(var)
    assert btf.kind(flt) == Kind.FLOAT
    obj = from_bytes(bytes(_retype(img, flt, int(Kind.FWD))), path="shapes.bpf.o")
    assert Types(obj.btf).alignof(flt) == 0
    text, _warnings = generate_with_warnings(obj)
    assert "ratio" in text


def test_skeleton_of_kconfig_externs_without_size():
    """The same FWD trick on the type of two .kconfig externs: the C printer's sizeof is
    -EINVAL and its alignof 0 there; the layout divided by zero.  They are left out now."""
    from bpfinspect.obj import from_bytes
    from bpfinspect.skel.c import generate_with_warnings
    from bpfinspect.skel.c_types import Types

    img = fixture("externs.bpf.o")
    btf = parse_btf(img.data(".BTF"))
    ds = btf.find(".kconfig", Kind.DATASEC)[0]
    victim = next(btf.ref(v.type) for v in btf.type(ds).vars if btf.name(v.type) == "CONFIG_BPF_SYSCALL")
    users = sorted(btf.name(v.type) for v in btf.type(ds).vars if btf.ref(v.type) == victim)
    # (the bit-fields of that type in records, kernel ones among them, keep a valid type: a
    # bit-field of a forward declaration is refused on its own)
    for rec in btf.ids():
        if btf.kind(rec) in (Kind.STRUCT, Kind.UNION):
            for i, m in enumerate(btf.type(rec).members):
                if m.type == victim and m.bitfield_size:
                    _, pos = btf.words(rec)
                    img = img.patch(".BTF", btf.hdr_len + btf.type_off + (pos + 3 + 3 * i + 1) * 4, "I",
                                    btf.ref(victim))
    obj = from_bytes(bytes(_retype(img, victim, int(Kind.FWD))), path="externs.bpf.o")
    types = Types(obj.btf)
    assert types.alignof(victim) == 0 and types.sizeof(victim) < 0
    text, warnings = generate_with_warnings(obj)
    assert sorted(w.split("'")[1] for w in warnings if "has no size" in w) == users
    assert "LINUX_KERNEL_VERSION" in text


# -- the assembler ----------------------------------------------------------------------------------

@pytest.mark.parametrize("line, what", [
    ("r0 = 02", "no leading zero"),           # fuzz_asm: int("02", 0) raised ValueError
    ("r0 = -010 ll", "no leading zero"),
    ("r0 = " + "9" * 5000, "too long"),       # int() refuses more than 4300 digits: ValueError
    ("*(u32 *)(r1 + 0" + "0" * 60 + "1) = 1", "no leading zero"),
])
def test_asm_numbers_that_are_not_numbers(line, what):
    from bpfinspect.isa.asm import assemble

    with pytest.raises(MalformedInput, match=what):
        assemble(line + "\nexit\n")


def test_asm_cli_reports_a_bad_number_on_one_line(tmp_path):
    src = tmp_path / "x.s"
    src.write_text("r0 = 0\nr0 = 02\nexit\n")
    r = cli("asm", str(src), "-o", str(tmp_path / "x.bin"))
    assert r.returncode == 2 and r.stderr.splitlines() == [
        f"bpfinspect: {src}: line 2 column 1: number 02: a decimal number has no leading zero (hexadecimal is "
        f"written 0x...)", "  r0 = 02", "  ^"]     # the error line, then the line quoted with a caret


# -- files that are not files -----------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["info", "sections", "disasm", "gen-skel", "load", "btf"])
def test_endless_device_is_refused_from_its_first_bytes(cmd, tmp_path):
    """/dev/zero used to be read until memory ran out: its first bytes are not ELF, so nothing
    more is read."""
    r = cli(*_cmd_args(cmd, Path("/dev/zero"), tmp_path))
    check_clean(r, Path("/dev/zero"), allowed=(2,))
    assert r.stderr.endswith(("offset 0x0: not an ELF file\n", "offset 0x0: neither raw BTF nor an ELF file\n"))


@pytest.mark.parametrize("cmd", ["info", "sections", "disasm", "gen-skel", "load"])
def test_endless_device_of_elf_is_read_only_so_far(cmd, tmp_path):
    """A device that keeps producing an ELF header's worth of bytes is read up to the bound."""
    fifo = tmp_path / "endless.bpf.o"
    os.mkfifo(fifo)
    head = (FIXTURES / "kprobe.bpf.o").read_bytes()[:64]
    import threading

    def feed():
        try:
            with open(fifo, "wb") as f:
                f.write(head)
                chunk = b"\0" * (1 << 20)
                while True:
                    f.write(chunk)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    env = dict(os.environ, BPFINSPECT_MAX_INPUT_MB="8")
    r = subprocess.run([sys.executable, "-m", "bpfinspect", *_cmd_args(cmd, fifo, tmp_path)], capture_output=True,
                       text=True, env=env, timeout=TIME_LIMIT, preexec_fn=_limit_memory)
    check_clean(r, fifo, allowed=(2,))
    assert r.stderr.endswith("not a regular file, and more than 8 MiB\n"), r.stderr


@pytest.mark.parametrize("cmd", ["info", "progs", "btf", "load"])
def test_named_pipe_without_writer_does_not_block(cmd, tmp_path):
    fifo = tmp_path / "pipe.bpf.o"
    os.mkfifo(fifo)
    r = cli(cmd, str(fifo))   # used to wait forever in open()
    check_clean(r, fifo, allowed=(2,))


def test_object_read_from_a_pipe(tmp_path):
    r = subprocess.run(["bash", "-c", f'"{sys.executable}" -m bpfinspect sections <(cat "$0")',
                        str(FIXTURES / "kprobe.bpf.o")], capture_output=True, text=True, timeout=TIME_LIMIT)
    assert r.returncode == 0, r.stderr
    assert "kprobe/do_unlinkat" in r.stdout


# -- BTF shapes that once recursed, hung or crashed (reproducers in tests/data/hostile/) -------

HOSTILE_BTF = Path(__file__).resolve().parent / "data" / "hostile"


@pytest.mark.parametrize("name", ["btf_sizeof_array_of_itself.btf", "btf_type_name_const_of_itself.btf",
                                  "btf_type_name_proto_param_itself.btf"])
def test_self_referring_btf_is_an_error_not_a_recursion(name):
    from bpfinspect.btf import load_btf
    from bpfinspect.errors import BpfInspectError

    btf = load_btf(HOSTILE_BTF / name)
    for tid in btf.ids():
        for query in (btf.sizeof, btf.type_name, btf.alignof):
            try:
                query(tid)
            except BpfInspectError:
                pass


@pytest.mark.parametrize("fmt", ["raw", "c"])
@pytest.mark.parametrize("name", sorted(p.name for p in HOSTILE_BTF.glob("*.btf")))
def test_hostile_btf_through_the_cli(name, fmt):
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", str(HOSTILE_BTF / name), "--format", fmt],
                       capture_output=True, text=True, timeout=TIME_LIMIT,
                       env=dict(os.environ, BPFINSPECT_NO_CACHE="1"))
    assert p.returncode in (0, 2), p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    if p.returncode == 2:
        assert len(p.stderr.splitlines()) == 1 and name in p.stderr


def test_btf_padding_past_any_layout_is_refused_quickly():
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", str(HOSTILE_BTF / "btf_c_padding_hang.btf"),
                        "--format", "c"], capture_output=True, text=True, timeout=TIME_LIMIT,
                       env=dict(os.environ, BPFINSPECT_NO_CACHE="1"))
    assert p.returncode == 2 and "would exceed" in p.stderr


def test_raw_btf_from_an_endless_device_is_bounded(tmp_path):
    fifo = tmp_path / "endless.btf"
    os.mkfifo(fifo)
    import threading

    def feed():
        try:
            with open(fifo, "wb") as f:
                f.write(struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0, 0, 0))
                while True:
                    f.write(b"\0" * (1 << 20))
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", str(fifo)], capture_output=True, text=True,
                       timeout=TIME_LIMIT, env=dict(os.environ, BPFINSPECT_MAX_INPUT_MB="8"))
    assert p.returncode == 2 and p.stderr.endswith("not a regular file, and more than 8 MiB\n"), p.stderr


@pytest.mark.parametrize("shape", ["int_16_bytes_wide", "bitfield_moved_past_the_next", "function_returning_an_array",
                                   "int_3_bytes", "enum_3_bytes", "float_2_bytes", "bitfield_of_a_union",
                                   "pointer_to_a_data_section", "parameter_of_a_data_section"])
def test_a_layout_no_c_declaration_has_is_refused_by_the_c_skeleton(shape, shape_files, tmp_path):
    for types in ([], ["--types"]):
        r = cli("gen-skel", *types, "-o", str(tmp_path / "s.h"), str(shape_files[shape]))
        assert r.returncode == 2 and ("no C declaration has this layout" in r.stderr
                                      or "no C declaration has this type" in r.stderr
                                      or "no C type has that size" in r.stderr
                                      or "C needs a type there" in r.stderr), r.stderr
        assert not (tmp_path / "s.h").exists()


def test_a_record_aligned_only_by_unnamed_bit_fields_is_refused_by_the_c_skeleton(tmp_path):
    """Found by fuzz_skel: a struct of 24 bytes whose 8-byte bit-fields were all unnamed (the
    named ones 4-byte) is 20 bytes in C, where unnamed bit-fields do not count towards the
    record's alignment; the header's size assertion failed.  Now refused (exit 2, one line)."""
    for types in ([], ["--types"]):
        r = cli("gen-skel", *types, "-o", str(tmp_path / "s.h"),
                str(HOSTILE_BTF / "skel_unnamed_bitfields_alignment.bpf.o"))
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "C gives it 20 bytes, not its 24" in r.stderr and "no C declaration has this layout" in r.stderr
        assert not (tmp_path / "s.h").exists()


def test_a_record_member_of_4_gib_or_more_is_refused_by_the_c_skeleton(tmp_path):
    """Found by fuzz_skel: an array of 536,870,915 pointers (2**32 + 24 bytes) as a member;
    a 32-bit size wraps it to 24 bytes, the record's BTF layout looked whole, and C made the
    record 4 GiB bigger (the size assertion failed).  Now refused (exit 2, one line)."""
    for types in ([], ["--types"]):
        r = cli("gen-skel", *types, "-o", str(tmp_path / "s.h"), str(HOSTILE_BTF / "skel_member_of_4_gib.bpf.o"))
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "member 3 has a type of 4 GiB or more" in r.stderr, r.stderr
        assert not (tmp_path / "s.h").exists()


def _assert_gcc_takes_header(d: Path) -> None:
    """gcc compiles ``d/s.h`` with -Wall -Werror: the skeleton's layout assertions hold."""
    (d / "use.c").write_text('#include "s.h"\n')
    c = subprocess.run(["gcc", "-fsyntax-only", "-Wall", "-Werror", "use.c"], cwd=d, capture_output=True,
                       text=True, timeout=120)
    assert c.returncode == 0, c.stderr[:3000]


def _printed_as_bpftool_prints(path: Path, marker: str) -> list[str]:
    """The lines of ``btf --format c`` holding ``marker`` (at least one), the same as bpftool's
    when bpftool is installed."""
    printed = [ln for ln in cli("btf", "--format", "c", str(path)).stdout.splitlines() if marker in ln]
    assert printed
    if shutil.which("bpftool"):
        theirs = subprocess.run(["bpftool", "btf", "dump", "file", str(path), "format", "c"], capture_output=True,
                                text=True, timeout=120).stdout
        assert printed == [ln for ln in theirs.splitlines() if marker in ln]
    return printed


def _types_header_compiled_strictly(path: Path, d: Path) -> str:
    """The ``--types`` C skeleton of ``path`` (written to ``d/s.h``), which gcc and g++ take with
    -Wall -Wextra -Werror; its text."""
    r = cli("gen-skel", "--types", "-o", str(d / "s.h"), str(path))
    assert r.returncode == 0, r.stderr
    (d / "use.c").write_text('#include "s.h"\n')
    for cc, lang in (("gcc", "c"), ("g++", "c++")):
        c = subprocess.run([cc, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-x", lang, "use.c"], cwd=d,
                           capture_output=True, text=True, timeout=120)
        assert c.returncode == 0, c.stderr[:3000]
    return (d / "s.h").read_text()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_a_variable_past_its_section_is_left_out_of_the_c_skeleton(shape_files, tmp_path):
    header = tmp_path / "s.h"
    r = cli("gen-skel", "--types", "-o", str(header), str(shape_files["data_variable_far_away"]))
    assert r.returncode == 0 and "ends past the section's" in r.stderr and "left out" in r.stderr, r.stderr
    _assert_gcc_takes_header(tmp_path)


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
@pytest.mark.parametrize("fixture_name", ["btf_shapes.bpf.o", "skel_types_struct_named_empty.bpf.o"])
def test_types_named_with_an_empty_string_get_names_in_the_c_skeleton(fixture_name, shape_files, tmp_path):
    """A struct, union or enum whose name offset reads as "" is written by tag: the skeleton names
    it through the quoting layer, and gcc and g++ take the header with its layout assertions."""
    path = (shape_files["tags_named_with_empty_strings"] if fixture_name == "btf_shapes.bpf.o"
            else HOSTILE_BTF / fixture_name)
    header = tmp_path / "s.h"
    r = cli("gen-skel", "--types", "-o", str(header), str(path))
    assert r.returncode == 0, r.stderr
    text = header.read_text()
    assert "struct  " not in text and "union  " not in text and "enum  " not in text
    _assert_gcc_takes_header(tmp_path)
    c = subprocess.run(["g++", "-fsyntax-only", "-Wall", "-Werror", "-x", "c++", "use.c"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert c.returncode == 0, c.stderr[:3000]


def test_a_data_section_larger_than_a_map_value_is_refused_by_the_python_skeleton(shape_files, tmp_path):
    out = tmp_path / "s.py"
    r = cli("gen-skel", "--lang", "python", "-o", str(out), str(shape_files["bss_2_64_minus_1_nobits"]))
    assert r.returncode == 2 and "more than a map's value can hold" in r.stderr, r.stderr
    assert not out.exists()


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
def test_a_function_returning_a_qualified_type_compiles_in_the_c_skeleton(shape_files, tmp_path):
    """The skeleton leaves out the qualifiers of a return type (C ignores them; gcc -Wextra says
    so, and -Werror refuses): the header compiles with -Wextra as C and C++; the BTF printer
    still writes them, as bpftool does."""
    path = shape_files["function_returning_a_const"]
    header = _types_header_compiled_strictly(path, tmp_path)
    assert "\tchar (*open)(" in header and "const char (*open)(" not in header
    printed = cli("btf", "--format", "c", str(path)).stdout
    assert "const char (*open)(" in printed   # the printer: as BTF says, as bpftool


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
def test_qualifiers_around_a_type_tag_are_one_run_in_the_c_skeleton(shape_files, tmp_path):
    """The skeleton leaves type tags out: CONST -> TYPE_TAG -> CONST -> int is ``const int``
    there (gcc and g++ take it with -Wextra -Werror); the BTF printer writes what bpftool does."""
    path = shape_files["qualifier_above_a_type_tag"]
    assert "\tconst int cvi;" in _types_header_compiled_strictly(path, tmp_path)
    _printed_as_bpftool_prints(path, " cvi;")


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
@pytest.mark.parametrize("shape, line", [("restrict_on_a_char", "\tconst char crc;"),
                                         ("restrict_on_a_function_pointer", "(* const crc)(")])
def test_a_restrict_on_no_pointer_to_an_object_is_left_out_of_the_c_skeleton(shape, line, shape_files, tmp_path):
    """C allows ``restrict`` on pointers to object types only: the skeleton leaves out one
    above a ``char`` or a pointer to a function (gcc and g++ take the header); the BTF printer
    writes it as bpftool does."""
    path = shape_files[shape]
    assert line in _types_header_compiled_strictly(path, tmp_path)
    assert "restrict" in _printed_as_bpftool_prints(path, "crc")[0]


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
def test_a_forward_declaration_without_a_name_is_named_in_the_c_skeleton(shape_files, tmp_path):
    """C cannot write a forward declaration without a name: the skeleton names it through the
    quoting layer (``_``), as it does a struct whose name reads as empty."""
    header = _types_header_compiled_strictly(shape_files["fwd_without_a_name"], tmp_path)
    assert "struct ;" not in header and "struct  " not in header
    assert "\tstruct _ *opaque;" in header


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_a_variable_without_size_or_type_is_left_out_of_the_c_skeleton(shape_files, tmp_path):
    header = tmp_path / "s.h"
    r = cli("gen-skel", "--types", "-o", str(header), str(shape_files["bss_variable_without_size_or_type"]))
    assert r.returncode == 0 and "'quals_bss' has neither a size nor a type" in r.stderr, r.stderr
    assert "quals_bss" not in header.read_text().split("static const char rows[")[0]
    _assert_gcc_takes_header(tmp_path)


@pytest.mark.skipif(shutil.which("g++") is None, reason="gcc and g++ are not installed")
def test_a_repeated_qualifier_is_written_once_in_the_c_skeleton(shape_files, tmp_path):
    path = shape_files["qualifier_repeated"]
    assert "const int cvi;" in _types_header_compiled_strictly(path, tmp_path)
    assert "const const int cvi;" in cli("btf", "--format", "c", str(path)).stdout   # the printer: as BTF says


def test_a_record_ctypes_refused_is_not_named_later_in_the_python_skeleton(tmp_path):
    """Found by fuzz_skel: a record whose ctypes layout was refused (then written as bytes where
    it was first met) kept its class name, and a later record used that name: NameError when the
    module was imported.  Every module written now imports (or generation exits 2)."""
    out = tmp_path / "s.py"
    r = cli("gen-skel", "--lang", "python", "-o", str(out), str(HOSTILE_BTF / "pyskel_record_refused_then_named.bpf.o"))
    assert r.returncode == 0, r.stderr   # (the variable of that type is written as bytes)
    namespace = {"__name__": "hostile_skeleton"}
    exec(compile(out.read_text(), str(out), "exec"), namespace)  # noqa: S102 - importing it is the point


def test_a_dwarf_unit_base_that_is_no_offset_is_refused():
    """Found by fuzz_obj: a unit's DW_AT_addr_base written as a string made the DWARF reader add
    a string to a number (exit 70)."""
    path = HOSTILE_BTF / "dwarf_addr_base_as_string.bpf.o"
    r = cli("maps", "--json", str(path))
    assert r.returncode == 2 and "is not an offset" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_a_dwarf_low_pc_that_is_no_address_is_refused():
    """Found by fuzz_dwarf: a lexical block's DW_AT_low_pc written with a constant form made the
    scope reader index a number (exit 70)."""
    path = HOSTILE_BTF / "dwarf_low_pc_not_an_address.bpf.o"
    r = cli("maps", "--json", str(path))
    assert r.returncode == 2 and "DW_AT_low_pc of the DIE at 0x" in r.stderr and "is not an address" in r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr


@pytest.mark.parametrize("attr, value, what", [
    ("low_pc", 16, "is not an address"),             # a constant form
    ("high_pc", "x", "is not an address or a length"),  # a string form
    ("ranges", b"x", "is not an offset"),             # a block form
])
def test_dwarf_code_ranges_of_the_wrong_form_are_refused(attr, value, what):
    """The code ranges of a DIE read only addresses, lengths and offsets: any other form is
    malformed input (MalformedInput), never a TypeError."""
    from bpfinspect.dwarf import constants as dw
    from bpfinspect.dwarf.reader import Unit

    unit = Unit.__new__(Unit)
    attrs = {dw.AT_low_pc: (0, 3)}
    attrs[getattr(dw, f"AT_{attr}")] = value
    unit.attrs = lambda i: attrs
    unit.forms = lambda i: {}
    unit.__dict__["_dies"] = ([0x40], [], [], [], [])
    unit.dwarf = type("D", (), {"path": "x.o"})()
    with pytest.raises(MalformedInput, match=what):
        unit.ranges(0)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_a_packed_record_with_padding_keeps_its_layout_in_the_c_skeleton(shape_files, tmp_path):
    """The skeleton's own layout assertions, compiled by gcc, hold for a record written packed
    whose members need fillers between them."""
    header = tmp_path / "s.h"
    r = cli("gen-skel", "--types", "-o", str(header), str(shape_files["struct_size_not_a_multiple_of_its_alignment"]))
    assert r.returncode == 0, r.stderr
    assert "} __attribute__((packed));" in header.read_text()
    _assert_gcc_takes_header(tmp_path)


def _anonymous_nesting_btf() -> tuple[bytes, int]:
    """struct r { short it; union { struct { u16 n, t; }; struct { u32 e; union { s8 ue[4];
    u32 /* no name */; }; }; u64 r; }; struct { short /* no name */; struct { short x; }; };
    union { short v; u32 f; }; } (32 bytes): unnamed members at three depths, whose stand-in
    names met across the levels."""
    from btf_util import BtfBuilder
    b = BtfBuilder()
    s16, u16, u32 = b.int_("short", 2), b.int_("unsigned short", 2, False), b.int_("unsigned int", 4, False)
    s8 = b.int_("signed char", 1)
    ue = b.array(s8, u32, 4)
    u64 = b.int_("unsigned long long", 8, False)
    nt = b.struct("", 4, [("n", u16, 0), ("t", u16, 16)])
    inner = b.struct("", 4, [("ue", ue, 0), ("", u32, 0)], union=True)
    e = b.struct("", 8, [("e", u32, 0), ("", inner, 32)])
    first = b.struct("", 8, [("", nt, 0), ("", e, 0), ("r", u64, 0)], union=True)
    x = b.struct("", 4, [("x", s16, 0)])
    second = b.struct("", 8, [("", s16, 0), ("", x, 32)])
    third = b.struct("", 4, [("v", s16, 0), ("f", u32, 0)], union=True)
    r = b.struct("r", 32, [("it", s16, 0), ("", first, 64), ("", second, 128), ("", third, 192)])
    return b.blob(), r


def _brought(cls) -> set:
    """The names ctypes sets on a class from its anonymous members (and theirs, down)."""
    names = set()
    for anon in getattr(cls, "_anonymous_", ()):
        inner = dict((f[0], f[1]) for f in cls._fields_)[anon]
        inner_anon = set(getattr(inner, "_anonymous_", ()))
        names |= {f[0] for f in inner._fields_ if f[0] not in inner_anon} | _brought(inner)
    return names


def test_anonymous_members_never_replace_a_field_in_ctypes(tmp_path):
    """Found by fuzz_skel, the 'deadly signal' of five runs: a field that an anonymous member
    brings up (ctypes sets it on the class) had the name of one of the class's own fields, and
    ctypes, replacing it, went on to read the field it had freed: a segmentation fault, or
    "unexpected type" here.  The class's own names now avoid what its anonymous members bring;
    every BTF member still reads at its offset, through the class as in C.  The classes run in
    a child with Python's debug allocator, which fills freed memory, so a read of freed memory
    fails there every time."""
    from bpfinspect.btf import load_btf
    from bpfinspect.btf.ctypes_layout import CtypesLayout

    blob, rid = _anonymous_nesting_btf()
    path = tmp_path / "r.btf"
    path.write_bytes(blob)
    layout = CtypesLayout(load_btf(path))
    name = layout.define(rid)
    for value in layout.ns.values():
        if isinstance(value, type) and hasattr(value, "_fields_"):
            own = {f[0] for f in value._fields_}
            assert not own & _brought(value), (value.__name__, own & _brought(value))
    module = tmp_path / "layout.py"
    module.write_text("import ctypes\nfrom bpfinspect.btf.ctypes_layout import _layout\n" + layout.source())
    check = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("layout", {str(module)!r})
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
raw = bytes(range(1, 33))
v = getattr(m, {name!r}).from_buffer_copy(raw)
le = lambda a, b, s=False: int.from_bytes(raw[a:b], "little", signed=s)
assert (v.it, v.n, v.t, v.e, v.r) == (le(0, 2, True), le(8, 10), le(10, 12), le(8, 12), le(8, 16))
assert list(v.ue) == list(raw[12:16]) and (v.x, v.v, v.f) == (le(20, 22, True), le(24, 26, True), le(24, 28))
print("ok")
"""
    env = dict(os.environ, PYTHONMALLOC="debug")
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr[-2000:]
