"""The DWARF reader and DWARF's types as BTF, against pyelftools, llvm-dwarfdump-19, clang's BTF and pahole."""

from __future__ import annotations

import ctypes
import os
import posixpath

import pytest

from conftest import FIXTURES
from dwarf_util import DWARF_FIXTURES, DWARFDUMP, PAHOLE, dump, member_bit_offset, pahole_btf, ranges

from bpfinspect.btf import Kind
from bpfinspect.btf.ctypes_layout import CTYPES_ATTRS
from bpfinspect.dwarf import constants as dw
from bpfinspect.dwarf import read_dwarf
from bpfinspect.dwarf.types import DwarfTypes
from bpfinspect.elf import ElfFile
from bpfinspect.quote.python import Scope

needs_dwarfdump = pytest.mark.skipif(DWARFDUMP is None, reason="llvm-dwarfdump-19 is not installed (apt install llvm-19)")
needs_pahole = pytest.mark.skipif(PAHOLE is None, reason="pahole is not installed (apt install pahole)")

# small objects of every kind, and two large ones (one big-endian, one DWARF 3 big-endian)
PYELFTOOLS_FIXTURES = ["kprobe.bpf.o", "uprobe.bpf.o", "v4.bpf.o", "perf_output.bpf.o", "legacy_dwarf.bpf.o",
                       "bootstrap-eb.bpf.o", "dwarf_shapes-dwarf3-eb.bpf.o"]


def _dwarf(name):
    return read_dwarf(ElfFile.from_path(FIXTURES / name))


def ids(paths):
    return [p.name for p in paths]


# ---------------------------------------------------------------------------- the reader


def _moved_by_symbols(elf, section: str) -> dict[int, tuple[int, int]]:
    """Offsets in ``section`` where a relocation adds a symbol's non-zero value: offset -> (width, value).

    BPF's relocation types add S + A (the kernel's ``llvm_reloc`` document; llvm-dwarfdump does so).
    pyelftools' recipes for EM_BPF are the identity: they leave the bytes as they are, so where S is
    not 0 (a variable or function that does not start its section) its values lack S."""
    from elftools.elf.relocation import RelocationSection

    target = elf.get_section_by_name(section)
    out: dict[int, tuple[int, int]] = {}
    if target is None:
        return out
    symtab = elf.get_section_by_name(".symtab")
    for rel in elf.iter_sections():
        if not isinstance(rel, RelocationSection) or elf.get_section(rel["sh_info"]).name != section:
            continue
        for r in rel.iter_relocations():
            value = symtab.get_symbol(r["r_info_sym"])["st_value"]
            width = {2: 8, 3: 4, 4: 4}.get(r["r_info_type"])
            if value and width:
                out[r["r_offset"]] = (width, value)
    return out


@pytest.mark.parametrize("name", PYELFTOOLS_FIXTURES)
def test_reader_matches_pyelftools(name):
    """Every DIE and every attribute value against pyelftools; relocated section bytes too (with S
    added where pyelftools leaves it out: see :func:`_moved_by_symbols`)."""
    from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_TAG
    from elftools.elf.elffile import ELFFile

    ours = _dwarf(name)
    with open(FIXTURES / name, "rb") as f:
        elf = ELFFile(f)
        ref = elf.get_dwarf_info(relocate_dwarf_sections=True)
        order = "little" if elf.little_endian else "big"
        moved_info = _moved_by_symbols(elf, ".debug_info")
        for attr, sec in (("debug_info_sec", ".debug_info"), ("debug_str_offsets_sec", ".debug_str_offsets"),
                          ("debug_line_sec", ".debug_line"), ("debug_addr_sec", ".debug_addr")):
            desc = getattr(ref, attr)
            if desc is None:
                continue
            desc.stream.seek(0)
            want = bytearray(desc.stream.read())
            for off, (width, value) in _moved_by_symbols(elf, sec).items():
                v = int.from_bytes(want[off:off + width], order) + value
                want[off:off + width] = (v & ((1 << 8 * width) - 1)).to_bytes(width, order)
            assert ours.section(sec) == bytes(want), sec
        cus = list(ref.iter_CUs())
        assert [cu.cu_offset for cu in cus] == [u.offset for u in ours.units]
        checked = 0
        for cu, unit in zip(cus, ours.units):
            want = [d for d in cu.iter_DIEs() if not d.is_null()]
            assert [d.offset for d in want] == unit._dies[0]
            for i, die in enumerate(want):
                assert ENUM_DW_TAG.get(die.tag, die.tag) == unit.tag(i)
                got = unit.attrs(i)
                assert len(got) == len(die.attributes)
                for aname, av in die.attributes.items():
                    code = ENUM_DW_AT.get(aname, aname) if isinstance(aname, str) else aname
                    mine = got[code]
                    if av.form in ("DW_FORM_addrx", "DW_FORM_addrx1", "DW_FORM_addrx2", "DW_FORM_addrx4",
                                   "DW_FORM_loclistx", "DW_FORM_rnglistx"):
                        continue  # indexes: the values are checked against llvm-dwarfdump below
                    if any(av.offset <= o < av.offset + 16 for o in moved_info):
                        continue  # bytes pyelftools leaves unrelocated: compared above
                    value = av.value
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if av.form.startswith("DW_FORM_ref") and av.form != "DW_FORM_ref_addr":
                        value += cu.cu_offset
                    if av.form in ("DW_FORM_exprloc", "DW_FORM_block", "DW_FORM_block1"):
                        value = bytes(av.value)
                    if av.form == "DW_FORM_addr":
                        mine = mine[0]
                    assert mine == value, (hex(die.offset), aname, av.form)
                    checked += 1
    assert checked > 100


@needs_dwarfdump
@pytest.mark.parametrize("path", DWARF_FIXTURES, ids=ids(DWARF_FIXTURES))
def test_address_table_matches_llvm_dwarfdump(path):
    """.debug_addr, relocated (S + A), entry for entry as llvm-dwarfdump-19 prints it."""
    import re
    import subprocess

    out = subprocess.run([DWARFDUMP, "--debug-addr", str(path)], capture_output=True, text=True, check=True).stdout
    ours = read_dwarf(ElfFile.from_path(path))
    data = ours.section(".debug_addr")
    if not data:
        assert "Addrs:" not in out
        return
    want = [int(x, 16) for x in re.findall(r"^0x([0-9a-f]{16})$", out, re.M)]
    order = "little" if ours.little else "big"
    got = [int.from_bytes(data[i:i + 8], order) for i in range(8, len(data), 8)]
    assert got == want


@needs_dwarfdump
@pytest.mark.parametrize("path", DWARF_FIXTURES, ids=ids(DWARF_FIXTURES))
def test_addresses_ranges_and_files_match_llvm_dwarfdump(path):
    from elftools.elf.elffile import ELFFile

    ours = read_dwarf(ElfFile.from_path(path))
    ref = dump(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        syms = {(s["st_shndx"], s["st_value"], s.name) for s in elf.get_section_by_name(".symtab").iter_symbols()
                if s["st_info"]["type"] == "STT_FUNC"}
    seen = {"ranges": 0, "functions": 0, "files": 0}
    for unit in ours.units:
        offs = unit._dies[0]
        for i, off in enumerate(offs):
            d = ref[off]
            want = ranges(d)
            got = unit.ranges(i)
            assert [(a, b) for a, b, _ in got] == want, hex(off)
            seen["ranges"] += bool(want)
            if unit.tag(i) == dw.TAG_subprogram and got:
                # the relocation of low_pc says which section the function is in: its symbol is there
                lo, _hi, shndx = got[0]
                assert (shndx, lo, d.text("DW_AT_name")) in syms, (hex(off), d.text("DW_AT_name"))
                seen["functions"] += 1
            file_no = unit.attrs(i).get(dw.AT_decl_file)
            if isinstance(file_no, int) and d.text("DW_AT_decl_file"):
                assert unit.file_name(file_no) == posixpath.normpath(d.text("DW_AT_decl_file")), hex(off)
                seen["files"] += 1
    assert seen["functions"] and seen["files"] and seen["ranges"]


def test_absent_and_compressed_dwarf(tmp_path):
    import shutil
    import subprocess

    assert read_dwarf(ElfFile.from_path(FIXTURES / "bootstrap.stripped.bpf.o")) is None
    objcopy = shutil.which("llvm-objcopy-19") or shutil.which("llvm-objcopy")
    if objcopy is None:
        pytest.skip("llvm-objcopy is not installed")
    out = tmp_path / "z.bpf.o"
    subprocess.run([objcopy, "--compress-debug-sections=zlib", str(FIXTURES / "perf_output.bpf.o"), str(out)],
                   check=True)
    plain, packed = _dwarf("perf_output.bpf.o"), read_dwarf(ElfFile.from_path(out))
    assert packed._secs[".debug_info"].flags & 0x800  # really compressed
    for sec in (".debug_info", ".debug_str_offsets", ".debug_addr", ".debug_abbrev"):
        assert packed.section(sec) == plain.section(sec), sec


# ---------------------------------------------------------------------------- types, against clang's BTF


def _iso(a, ai, b, bi, seen, allow):
    """None when two BTF type graphs are the same from these roots, else the first difference."""
    if (ai, bi) in seen:
        return None
    seen.add((ai, bi))
    if ai == 0 or bi == 0:
        return None if ai == bi == 0 else f"void and [{ai if ai else bi}]"
    ta, tb = a.type(ai), b.type(bi)
    if Kind.FWD in (ta.kind, tb.kind) and ta.name == tb.name:
        return None  # clang's BTF keeps only a forward declaration of what pointers reach
    enums = (Kind.ENUM, Kind.ENUM64)
    if "clang14_enums" in allow and ta.kind in enums and tb.kind in enums:
        # clang 14 writes ENUM for 8-byte enums (values cut to 32 bits) and never marks an enum signed
        bits = 32 if Kind.ENUM in (ta.kind, tb.kind) else 8 * ta.size
        if ta.size != tb.size or [(v.name, v.value % (1 << bits)) for v in ta.values] != \
                [(v.name, v.value % (1 << bits)) for v in tb.values]:
            return f"enum {ta.name}"
        return None
    if "clang14_tags" in allow and tb.kind == Kind.TYPE_TAG and ta.kind != Kind.TYPE_TAG:
        return _iso(a, ai, b, tb.type, seen, allow)  # clang 14 drops some type tags DWARF keeps
    if (ta.kind, ta.name, ta.vlen, ta.kflag) != (tb.kind, tb.name, tb.vlen, tb.kflag):
        return f"[{ai}] {ta.kind.name} {ta.name!r} and [{bi}] {tb.kind.name} {tb.name!r}"
    if ta.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FLOAT) and ta.size != tb.size:
        return f"{ta.name}: size {ta.size} and {tb.size}"
    if ta.kind == Kind.INT and (ta.int_encoding, ta.int_bits, ta.int_offset) != (tb.int_encoding, tb.int_bits,
                                                                                  tb.int_offset):
        return f"int {ta.name}"
    if ta.kind in enums and ta.values != tb.values:
        return f"enum {ta.name}"
    if ta.kind in (Kind.STRUCT, Kind.UNION):
        for ma, mb in zip(ta.members, tb.members):
            if (ma.name, ma.bit_offset, ma.bitfield_size) != (mb.name, mb.bit_offset, mb.bitfield_size):
                return f"{ta.name}.{ma.name}: {ma} and {mb}"
            r = _iso(a, ma.type, b, mb.type, seen, allow)
            if r:
                return f"{ta.name}.{ma.name}: {r}"
        return None
    if ta.kind == Kind.ARRAY:
        if ta.array.nelems != tb.array.nelems:
            return f"array of {ta.array.nelems} and {tb.array.nelems}"
        return _iso(a, ta.array.type, b, tb.array.type, seen, allow)
    if ta.kind == Kind.FUNC_PROTO:
        for pa, pb in zip(ta.params, tb.params):
            r = _iso(a, pa.type, b, pb.type, seen, allow)
            if r:
                return r
    return _iso(a, ta.type, b, tb.type, seen, allow) if ta.type or tb.type else None


_KEYWORD = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}
WITH_BTF = [p for p in DWARF_FIXTURES if ElfFile.from_path(p).section_by_name(".BTF") is not None]


@pytest.mark.parametrize("path", WITH_BTF, ids=ids(WITH_BTF))
def test_dwarf_types_are_clangs_btf_types(path):
    """Every named type of the object's BTF (written by clang) comes out of its DWARF the same."""
    from bpfinspect.obj import open_object

    obj = open_object(path)
    dt = DwarfTypes(read_dwarf(obj.elf))
    btf = obj.btf
    clang14 = path.name in ("btf_shapes-clang14.bpf.o", "bootstrap.bpf.o", "bootstrap-eb.bpf.o",
                            "bootstrap.stripped.bpf.o", "kprobe.bpf.o", "uprobe.bpf.o", "maps.bpf.o",
                            "maps-eb.bpf.o", "calls.bpf.o", "externs.bpf.o", "struct_ops.bpf.o", "sections.bpf.o",
                            "sections_extra.bpf.o", "perf_output.bpf.o", "dwarf_shapes-dwarf3.bpf.o",
                            "dwarf_shapes-dwarf3-eb.bpf.o")
    allow = {"clang14_enums", "clang14_tags"} if clang14 else set()
    checked = 0
    for tid in btf.ids():
        k = btf.kind(tid)
        if (k not in _KEYWORD and k not in (Kind.TYPEDEF, Kind.INT, Kind.FLOAT)) or not btf.name(tid):
            continue
        dies = [d for d in dt.find(btf.name(tid), _KEYWORD.get(k)) if not d.get(dw.AT_declaration)]
        if k == Kind.TYPEDEF:
            dies = [d for d in dies if d.tag == dw.TAG_typedef]
        elif k in (Kind.INT, Kind.FLOAT):
            dies = [d for d in dies if d.tag == dw.TAG_base_type]
            if btf.name(tid) == "__ARRAY_SIZE_TYPE__":
                continue  # clang's array index type: 4 bytes in its BTF, 8 in its DWARF, used for nothing
        if path.name.startswith("btf_shapes") and btf.name(tid) == "shape_point" and btf.size(tid) == 24:
            continue  # only in BTF: a block-scope struct a CO-RE relocation keeps, which DWARF dropped
        assert dies, btf.name(tid)
        converted = [dt.type_id(d) for d in dies]  # (converting grows the table: ask for it after)
        diffs = [_iso(btf, tid, dt.btf(), x, set(), allow) for x in converted]
        assert None in diffs, (btf.name(tid), diffs[0])
        checked += 1
    assert checked


# ---------------------------------------------------------------------------- types, against pahole


@needs_pahole
@pytest.mark.parametrize("path", DWARF_FIXTURES, ids=ids(DWARF_FIXTURES))
def test_dwarf_records_match_paholes_encoding(path, tmp_path_factory):
    """pahole turns the same DWARF into BTF with its own code (libdw): every named struct and union agrees."""
    ref = pahole_btf(path, str(tmp_path_factory.getbasetemp()))
    dt = DwarfTypes(read_dwarf(ElfFile.from_path(path)))
    ours = dt.btf
    checked = 0
    for tid in ref.ids():
        k = ref.kind(tid)
        if k not in (Kind.STRUCT, Kind.UNION) or not ref.name(tid):
            continue
        want = ref.type(tid)
        got = []
        for d in dt.find(want.name, _KEYWORD[k]):
            if d.get(dw.AT_declaration):
                continue
            x = dt.type_id(d)
            t = ours().type(x)
            got.append((t.size, [(m.name, m.bit_offset, m.bitfield_size) for m in t.members]))
        assert (want.size, [(m.name, m.bit_offset, m.bitfield_size) for m in want.members]) in got, want.name
        checked += 1
    if not checked and not any(ref.kind(t) in (Kind.STRUCT, Kind.UNION) and ref.name(t) for t in ref.ids()):
        pytest.skip(f"{path.name}: its DWARF holds no named struct or union (pahole's BTF has none either)")
    assert checked


# ---------------------------------------------------------------------------- every record of every fixture as ctypes


_CHECKED: set = set()


def _records(path):
    d = dump(path)
    return [x for x in d.values() if x.tag in ("DW_TAG_structure_type", "DW_TAG_union_type")
            and "DW_AT_declaration" not in x.attrs and "DW_AT_byte_size" in x.attrs]


@needs_dwarfdump
@pytest.mark.parametrize("path", DWARF_FIXTURES, ids=ids(DWARF_FIXTURES))
def test_every_dwarf_record_as_ctypes_has_dwarfs_layout(path):
    """Each struct and union DWARF describes (named or not, at any depth), converted and laid out as a
    ctypes class: its size and every member's offset are what llvm-dwarfdump says DWARF holds."""
    from bpfinspect.btf.ctypes_layout import CtypesLayout

    d = dump(path)
    elf = ElfFile.from_path(path)
    little = elf.little
    dt = DwarfTypes(read_dwarf(elf))
    dies = []
    for x in _records(path):
        # the fixtures share the kernel's types: a record whose own layout was checked is not checked again
        sig = (little, x.tag, x.text("DW_AT_name"), x.num("DW_AT_byte_size"),
               tuple((d[c].text("DW_AT_name"), member_bit_offset(d[c], d, little), d[c].num("DW_AT_bit_size"))
                     for c in x.children if d[c].tag == "DW_TAG_member"))
        if sig not in _CHECKED:
            _CHECKED.add(sig)
            dies.append(x)
    tids = {x.offset: dt.type_id(dt.dwarf.die(x.offset)) for x in dies}
    layout = CtypesLayout(dt.btf(), little_endian=little)
    checked = bits = 0
    for x in dies:
        cls = layout.get(layout.define(tids[x.offset]))
        assert ctypes.sizeof(cls) == x.num("DW_AT_byte_size"), hex(x.offset)
        # the fields' Python names, as the layout gives them (``global`` is ``global_``...)
        names = Scope(CTYPES_ATTRS)
        for m in (d[c] for c in x.children):
            if m.tag != "DW_TAG_member" or m.text("DW_AT_name") is None:
                continue
            name = names.take(m.text("DW_AT_name"))
            want = member_bit_offset(m, d, little)
            if "DW_AT_bit_size" in m.attrs:
                if not little:
                    continue  # ctypes classes are for this (little-endian) machine
                width = m.num("DW_AT_bit_size")
                inst = cls()
                try:
                    setattr(inst, name, -1)  # all ones, signed or not (ctypes truncates)
                except ValueError:
                    setattr(inst, name, (1 << width) - 1)  # an unsigned field of bytes refuses -1
                got = int.from_bytes(bytes(inst), "little")
                assert got == ((1 << width) - 1) << want, (hex(x.offset), name)
                bits += 1
            else:
                assert getattr(cls, name).offset * 8 == want, (hex(x.offset), name)
            checked += 1
    assert checked or not dies
