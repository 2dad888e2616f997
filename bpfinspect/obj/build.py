"""Building the object model from bytes: one pass, pure functions, immutable result."""

from __future__ import annotations

import os
import struct

from bpfinspect.btf import Btf, Kind, parse_btf, parse_btf_ext
from bpfinspect.btf.kinds import LINKAGE_NAMES
from bpfinspect.btf.core import core_relo_text
from bpfinspect.elf import EM_BPF, ElfFile
from bpfinspect.errors import MalformedInput
from bpfinspect.isa import opcodes as oc
from bpfinspect.obj import maps as mapdefs
from bpfinspect.obj.model import (BpfObject, CoreReloInfo, DataSection, Extern, Function, Program, Reloc,
                                  SectionInfo, Var)
from bpfinspect.obj.names import internal_map_name, skeleton_section_name

R_BPF_NAMES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
_FLAG_LETTERS = [(0x1, "W"), (0x2, "A"), (0x4, "X"), (0x10, "M"), (0x20, "S"), (0x40, "I"), (0x80, "L"),
                 (0x100, "O"), (0x200, "G"), (0x400, "T"), (0x800, "C"), (0x80000000, "E")]

OP_CALL = oc.JMP | oc.JMP_CALL | oc.K


def open_object(path: str | os.PathLike) -> BpfObject:
    """Read and model the BPF object file at ``path``."""
    return build(ElfFile.from_path(path))


def from_bytes(data: bytes, path: str | None = None) -> BpfObject:
    return build(ElfFile(data, path=path))


def flags_text(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)


def _is_data_section(name: str) -> str | None:
    for kind in ("data", "rodata", "bss"):
        base = "." + kind
        if name == base or name.startswith(base + "."):
            return kind
    return None


def build(elf: ElfFile) -> BpfObject:
    path = elf.path
    if elf.machine != EM_BPF:
        raise MalformedInput(f"not a BPF object (ELF machine {elf.machine}, expected {EM_BPF})", path=path, offset=18)
    if elf.elf_type != 1:  # ET_REL
        raise MalformedInput(f"not a relocatable object (ELF type {elf.elf_type})", path=path, offset=16)
    if elf.elfclass != 64:  # libbpf reads only ELF64; BPF relocations are defined for it alone
        raise MalformedInput(f"ELF class {elf.elfclass}: BPF objects are 64-bit ELF files", path=path, offset=4)
    return BpfObject(elf)


# -- the stages behind BpfObject's lazily built parts -------------------------------------------

def section_infos(obj: BpfObject) -> tuple[SectionInfo, ...]:
    from bpfinspect.sections import program_type_of

    out = []
    for s in obj.elf.sections:
        kind = _section_kind(s)
        ptype = program_type_of(s.name) if kind == "program" else None
        out.append(SectionInfo(s.index, s.name, s.type_name, s.flags, flags_text(s.flags), s.size, s.offset,
                               s.align, s.entsize, s.link, s.info, kind, ptype))
    return tuple(out)


def _code_secs(obj: BpfObject) -> dict[int, str]:
    return {s.index: s.name for s in obj.sections if s.kind in ("program", "subprograms")}


def load_btf_section(obj: BpfObject) -> Btf | None:
    sec = obj.elf.section_by_name(".BTF")
    if sec is None:
        return None
    btf = parse_btf(sec.data(), path=obj.path, section=".BTF")
    _check_byte_order(obj, btf.endian, ".BTF")
    return btf


def load_btf_ext_section(obj: BpfObject):
    sec = obj.elf.section_by_name(".BTF.ext")
    if sec is None or obj.btf is None:
        return None
    ext = parse_btf_ext(sec.data(), obj.btf, path=obj.path)
    _check_byte_order(obj, "little" if sec.data()[:2] == b"\x9f\xeb" else "big", ".BTF.ext")
    return ext


def _check_byte_order(obj: BpfObject, endian: str, section: str) -> None:
    """BTF written in the other byte order than its object's: offsets, sizes and
    instructions would be read one way and types the other."""
    if endian != obj.endian:
        raise MalformedInput(f"{section} is {endian}-endian in a {obj.endian}-endian object", path=obj.path,
                             section=section, offset=0)


def license_of(obj: BpfObject) -> str | None:
    lic = obj.elf.section_by_name("license")
    if lic is None:
        return None
    return lic.data().split(b"\0", 1)[0].decode("utf-8", "replace")


def kern_version_of(obj: BpfObject) -> int | None:
    ver = obj.elf.section_by_name("version")
    if ver is None or ver.size < 4 or ver.is_nobits:
        return None
    return struct.unpack_from("<I" if obj.elf.little else ">I", ver.data(), 0)[0]


def externs_of(obj: BpfObject) -> list[Extern]:
    return _externs(obj.elf, obj.btf, obj.elf.symbols)


def datasecs_of(obj: BpfObject) -> list[DataSection]:
    return _datasecs(obj.elf, obj.btf, obj.elf.symbols, obj.libbpf_name)


def maps_of(obj: BpfObject) -> list[Map]:
    elf, btf = obj.elf, obj.btf
    symbols = elf.symbols
    sym_by_name_sec = {(s.name, s.shndx): s for s in symbols if s.name}
    out = []
    sec_maps = elf.section_by_name(".maps")
    if sec_maps is not None:
        slots = {r.offset: r.symbol.name for r in elf.relocations(sec_maps.index)}
        if btf is None:
            raise MalformedInput("has a .maps section but no BTF to describe it", path=obj.path, section=".maps")
        out.extend(mapdefs.btf_maps(elf, btf, sec_maps, sym_by_name_sec, slots))
    sec_legacy = elf.section_by_name("maps")
    if sec_legacy is not None:
        out.extend(mapdefs.legacy_maps(elf, sec_legacy, symbols))
    for s in elf.sections:
        if s.name in (".struct_ops", ".struct_ops.link"):
            prog_at = {r.offset: _func_name_for(r.symbol, elf.sections) for r in elf.relocations(s.index)}
            out.extend(mapdefs.struct_ops_maps(elf, btf, s, symbols, prog_at))
    return out


def _func_syms(obj: BpfObject) -> dict[int, list]:
    code_secs = _code_secs(obj)
    out: dict[int, list] = {}
    for sym in obj.elf.symbols:
        if sym.type == "FUNC" and sym.shndx in code_secs:
            out.setdefault(sym.shndx, []).append(sym)
    return out


def relocs_of(obj: BpfObject) -> list[Reloc]:
    elf = obj.elf
    sections, symbols = elf.sections, elf.symbols
    code_secs = _code_secs(obj)
    func_syms = _func_syms(obj)
    text_index = next((s.index for s in sections if s.name == ".text"), -1)
    extern_kind = {e.name: e.kind for e in obj.externs}
    datasec_by_index = {d.index: d for d in obj.datasecs}
    map_sections = {s.index for s in sections if s.name in (".maps", "maps")}
    map_at = {(m.section, m.offset): m.name for m in obj.maps if m.section in (".maps", "maps")}
    relocs: list[Reloc] = []
    for idx, secname in sorted(code_secs.items()):
        code = sections[idx].data()
        for r in elf.relocations(idx):
            relocs.append(_classify_code_reloc(elf, r, secname, code, sections, text_index, map_sections,
                                               datasec_by_index, extern_kind, map_at, func_syms))
    for s in sections:
        if s.index in code_secs or s.type not in (1, 8):
            continue
        if s.name.startswith(".debug") or s.name in (".BTF", ".BTF.ext"):
            continue
        for r in elf.relocations(s.index):
            tname = _func_name_for(r.symbol, sections)
            if s.name == ".maps":
                kind = "map_slot"
            elif s.name.startswith(".struct_ops"):
                kind = "struct_ops_prog"
            else:
                kind = "data_pointer"
            relocs.append(Reloc(s.name, r.offset, r.offset // 8, kind, r.symbol.name, tname, 0, r.type,
                                R_BPF_NAMES.get(r.type, f"R_BPF_{r.type}")))
    return relocs


def programs_of(obj: BpfObject) -> list[Program]:
    return _programs(obj)


def functions_of(obj: BpfObject) -> list[Function]:
    """Every function of every code section, from the symbol table alone.

    A section without FUNC symbols (stripped by hand) is one function named
    after the section; a symbol without a size runs to the next symbol.
    """
    sections = obj.elf.sections
    func_syms = _func_syms(obj)
    out = []
    for idx, secname in sorted(_code_secs(obj).items()):
        syms = sorted(func_syms.get(idx, ()), key=lambda s: (s.value, s.name))
        sec = sections[idx]
        is_text = secname == ".text"
        if sec.size % 8:
            raise MalformedInput(f"code size {sec.size} is not a multiple of 8 bytes", path=obj.path,
                                 section=secname, offset=sec.size - sec.size % 8)
        if not syms:
            if sec.size:
                out.append(Function(secname.replace("/", "_"), secname, idx, 0, sec.size, "global", is_text))
            continue
        for i, sym in enumerate(syms):
            size = sym.size
            if size == 0:
                nxt = syms[i + 1].value if i + 1 < len(syms) else sec.size
                size = nxt - sym.value
            if sym.value + size > sec.size:
                obj._warnings.append(f"{secname}: function {sym.name} runs past its section")
                size = max(0, sec.size - sym.value)
            linkage = {"LOCAL": "static", "GLOBAL": "global", "WEAK": "weak"}.get(sym.bind, sym.bind.lower())
            out.append(Function(sym.name, secname, idx, sym.value, size, linkage, is_text))
    return out


def core_relos_of(obj: BpfObject) -> list[CoreReloInfo]:
    btf, ext = obj.btf, obj.btf_ext
    out: list[CoreReloInfo] = []
    if ext is None or btf is None:
        return out
    for secname, recs in ext.core_relos.items():
        for rec in recs:
            out.append(CoreReloInfo(secname, rec.insn_off, rec.insn_off // 8, rec.kind_name,
                                    rec.type_id, rec.access, core_relo_text(btf, rec)))
    return out


def _section_kind(s) -> str:
    name = s.name
    if s.type == 0:
        return "null"
    if s.type == 2:
        return "symtab"
    if s.type == 3:
        return "strtab"
    if s.type in (4, 9):
        return "relocations"
    if s.flags & SHF_EXECINSTR and s.type == 1:
        if name == ".text":
            return "subprograms"
        return "program"
    if name == ".maps":
        return "maps"
    if name == "maps":
        return "legacy_maps"
    if name in (".struct_ops", ".struct_ops.link"):
        return "struct_ops"
    if name == ".BTF":
        return "btf"
    if name == ".BTF.ext":
        return "btf_ext"
    if name == "license":
        return "license"
    if name == "version":
        return "version"
    kind = _is_data_section(name)
    if kind:
        return kind
    if name.startswith(".debug"):
        return "debug"
    if name == ".llvm_addrsig":
        return "addrsig"
    return "other"


def _section_name(sections, index: int) -> str:
    return sections[index].name if 0 < index < len(sections) else ""


def _func_name_for(sym, sections) -> str:
    """The function a symbol designates (its section's name for a section symbol)."""
    return sym.name or _section_name(sections, sym.shndx)


def _classify_code_reloc(elf, r, secname, code, sections, text_index, map_sections, datasec_by_index,
                         extern_kind, map_at, func_syms) -> Reloc:
    sym = r.symbol
    off = r.offset
    rname = R_BPF_NAMES.get(r.type, f"R_BPF_{r.type}")
    if off % 8 or off + 8 > len(code):
        raise MalformedInput(f"relocation at offset {off} is not on an instruction of {secname}", path=elf.path,
                             section=secname, offset=off)
    op = code[off]
    regs = code[off + 1]
    src = (regs >> 4) if elf.little else (regs & 0xF)
    imm = struct.unpack_from("<i" if elf.little else ">i", code, off + 4)[0]
    insn = off // 8

    def mk(kind: str, target: str, toff: int = 0) -> Reloc:
        return Reloc(secname, off, insn, kind, sym.name, target, toff, r.type, rname)

    if op == OP_CALL:
        if not sym.defined:
            return mk("kfunc", sym.name)
        if sym.shndx == text_index or sym.shndx in func_syms:
            if sym.type == "FUNC":
                return mk("subprog_call", sym.name, sym.value // 8)
            target_insn = sym.value // 8 + imm + 1
            return mk("subprog_call", _func_at(func_syms, sym.shndx, target_insn, sections), target_insn)
        return mk("unknown", sym.name or _section_name(sections, sym.shndx))
    if op == oc.LD_IMM64:
        if not sym.defined:
            kind = extern_kind.get(sym.name, "ksym")
            return mk("kfunc" if kind == "kfunc" else kind, sym.name)
        if sym.shndx in map_sections:
            name = sym.name if sym.type == "OBJECT" and sym.name else map_at.get(
                (_section_name(sections, sym.shndx), sym.value + imm), sym.name)
            return mk("map", name)
        if sym.shndx in datasec_by_index:
            ds = datasec_by_index[sym.shndx]
            at = sym.value + imm if sym.type == "SECTION" else sym.value
            inner = imm if sym.type != "SECTION" else 0
            var = _var_at(ds, at)
            if var is not None:
                return mk("global_data", var.name, at - var.offset + inner)
            return mk("global_data", ds.name, at + inner)
        if sym.shndx == text_index or sym.shndx in func_syms:
            if sym.type == "FUNC":
                return mk("callback", sym.name, sym.value // 8)
            target_insn = (sym.value + imm) // 8
            return mk("callback", _func_at(func_syms, sym.shndx, target_insn, sections), target_insn)
        return mk("unknown", sym.name or _section_name(sections, sym.shndx))
    return mk("unknown", sym.name or _section_name(sections, sym.shndx))


def _func_at(func_syms, shndx, insn, sections) -> str:
    for s in func_syms.get(shndx, ()):
        if s.value // 8 == insn:
            return s.name
    return f"{_section_name(sections, shndx)}+{insn}"


def _var_at(ds: DataSection, at: int) -> Var | None:
    best = None
    for v in ds.variables:
        if v.offset <= at < v.offset + max(v.size, 1):
            if best is None or not v.is_static:
                best = v
    return best


def _externs(elf: ElfFile, btf: Btf | None, symbols) -> list[Extern]:
    out: list[Extern] = []
    seen = set()
    if btf is not None:
        for secname, kind in ((".kconfig", "kconfig"), (".ksyms", "ksym")):
            for ds in btf.find(secname, Kind.DATASEC):
                for dv in btf.type(ds).vars:
                    t = btf.type(btf.check_id(dv.type, secname))
                    weak = _is_weak(symbols, t.name)
                    if t.kind == Kind.FUNC:
                        out.append(Extern(t.name, "kfunc", btf.type_name(t.type, t.name), t.id, weak, True))
                    elif t.kind == Kind.VAR:
                        base = btf.strip_cv(t.type)
                        typed = base != 0
                        out.append(Extern(t.name, kind, btf.type_name(t.type) if typed else None, t.type, weak,
                                          typed if kind == "ksym" else True))
                    seen.add(t.name)
        # kfuncs declared extern but not listed in .ksyms (older compilers)
        for tid in btf.ids():
            if btf.kind(tid) == Kind.FUNC and btf.vlen(tid) == 2:
                name = btf.name(tid)
                if name not in seen:
                    seen.add(name)
                    out.append(Extern(name, "kfunc", btf.type_name(btf.ref(tid), name), tid,
                                      _is_weak(symbols, name), True))
    for s in symbols:
        if s.shndx == 0 and s.name and s.bind in ("GLOBAL", "WEAK") and s.name not in seen:
            seen.add(s.name)
            kind = "kfunc" if s.type == "FUNC" else "ksym"
            out.append(Extern(s.name, kind, None, 0, s.bind == "WEAK", False))
    return out


def _is_weak(symbols, name: str) -> bool:
    for s in symbols:
        if s.name == name and s.shndx == 0:
            return s.bind == "WEAK"
    return False


def _datasecs(elf: ElfFile, btf: Btf | None, symbols, libbpf_name: str) -> list[DataSection]:
    """Data sections and their variables.

    Offsets come from the ELF symbols (clang leaves them 0 in BTF); the type of
    each variable comes from the BTF DATASEC of its section.  Where the two
    disagree about the section (clang 14 lists a zero-initialised global under
    .data while its symbol is in .bss), the symbol decides and the BTF VAR is
    still used for the type.
    """
    out = []
    data_secs = [s for s in elf.sections
                 if _is_data_section(s.name) and s.type in (1, 8) and s.flags & SHF_ALLOC]
    data_indexes = {s.index for s in data_secs}
    sym_section = {sym.name: sym.shndx for sym in symbols
                   if sym.shndx in data_indexes and sym.type in ("OBJECT", "NOTYPE") and sym.name}
    btf_var_of: dict[str, int] = {}   # variable name -> BTF VAR id, from every data DATASEC
    datasec_ids = {s.index: btf.find(s.name, Kind.DATASEC) for s in data_secs} if btf is not None else {}
    if btf is not None:
        for s in data_secs:
            for ds in datasec_ids[s.index]:
                for dv in btf.type(ds).vars:
                    if btf.valid(dv.type) and btf.kind(dv.type) == Kind.VAR:
                        btf_var_of.setdefault(btf.name(dv.type), dv.type)
    for s in data_secs:
        kind = _is_data_section(s.name)
        data = s.data() if kind != "bss" and s.type != 8 else None
        btf_id = 0
        variables: list[Var] = []
        sec_syms = {sym.name: sym for sym in symbols
                    if sym.shndx == s.index and sym.type in ("OBJECT", "NOTYPE") and sym.name}
        covered = set()
        if btf is not None:
            ids = datasec_ids[s.index]
            if ids:
                btf_id = ids[0]
                for dv in btf.type(btf_id).vars:
                    t = btf.type(btf.check_id(dv.type, s.name))
                    if t.kind != Kind.VAR:
                        continue
                    sym = sec_syms.get(t.name)
                    if sym is None and sym_section.get(t.name, s.index) != s.index:
                        continue  # its symbol lives in another section: listed there
                    offset = sym.value if sym is not None else dv.offset
                    variables.append(_btf_var(btf, t, offset, dv.size or (sym.size if sym else 0), data))
                    covered.add(t.name)
        for name, sym in sec_syms.items():
            if name in covered or name.startswith(".L"):
                continue
            if name in btf_var_of:
                variables.append(_btf_var(btf, btf.type(btf_var_of[name]), sym.value, sym.size, data))
                continue
            linkage = "static" if sym.bind == "LOCAL" else "global"
            variables.append(_var(name, sym.value, sym.size, None, 0, linkage, data))
        variables.sort(key=lambda v: (v.offset, v.name))
        out.append(DataSection(s.name, s.index, s.size, kind, internal_map_name(libbpf_name, s.name),
                               skeleton_section_name(s.name), data, btf_id, tuple(variables)))
    return out


def _btf_var(btf: Btf, t, offset: int, fallback_size: int, data) -> Var:
    try:
        size = btf.sizeof(t.type)
    except MalformedInput:
        size = fallback_size
    linkage = LINKAGE_NAMES.get(t.linkage, str(t.linkage))
    return _var(t.name, offset, size, btf.type_name(t.type), t.type, linkage, data)


def _var(name, offset, size, ctype, type_id, linkage, data) -> Var:
    initial = None
    if data is not None:
        initial = data[offset:offset + size]
    return Var(name, offset, size, ctype, type_id, linkage, linkage == "static", initial)


def _programs(obj: BpfObject) -> list[Program]:
    from bpfinspect.obj.calls import scan_code

    elf = obj.elf
    sections = elf.sections
    progs_raw = [(f.name, f.section, f.section_index, f.offset, f.size, f.linkage, f.is_subprog)
                 for f in obj.functions]
    relocs = obj.relocs

    relocs_by_sec: dict[str, list[Reloc]] = {}
    for r in relocs:
        relocs_by_sec.setdefault(r.section, []).append(r)

    # Direct facts per function, then the transitive closure through subprogram calls.
    direct = {}
    for name, secname, idx, off, size, linkage, is_sub in progs_raw:
        code = sections[idx].data()[off:off + size]
        helpers, local_calls = scan_code(code, elf.little)
        own = [r for r in relocs_by_sec.get(secname, ()) if off <= r.offset < off + size]
        callees = set()
        for r in own:
            if r.kind in ("subprog_call", "callback"):
                callees.add(r.target)
        for target in local_calls:  # pc-relative calls without relocation: same section
            abs_insn = off // 8 + target
            for n2, s2, i2, o2, *_ in progs_raw:
                if i2 == idx and o2 // 8 == abs_insn:
                    callees.add(n2)
        direct[name] = dict(
            helpers=helpers, callees=callees,
            maps=[r.target for r in own if r.kind == "map"],
            kfuncs=[r.target for r in own if r.kind == "kfunc"],
            globals=[r.target for r in own if r.kind == "global_data"],
            relocs=tuple(own),
        )

    def closure(name: str) -> list[str]:
        seen: list[str] = []
        stack = sorted(direct.get(name, {}).get("callees", ()))
        while stack:
            n = stack.pop(0)
            if n in seen or n == name or n not in direct:
                continue
            seen.append(n)
            stack.extend(sorted(direct[n]["callees"]))
        return seen

    def uniq(items) -> tuple[str, ...]:
        out = []
        for i in items:
            if i not in out:
                out.append(i)
        return tuple(out)

    out = []
    for name, secname, idx, off, size, linkage, is_sub in progs_raw:
        subs = closure(name)
        d = direct[name]
        everyone = [d] + [direct[s] for s in subs]
        out.append(Program(
            name=name, section=secname, section_index=idx, offset=off, size=size, insns=size // 8,
            is_subprog=is_sub, linkage=linkage,
            subprograms=tuple(subs),
            maps=uniq(m for x in everyone for m in x["maps"]),
            helpers=uniq(h for x in everyone for h in x["helpers"]),
            kfuncs=uniq(k for x in everyone for k in x["kfuncs"]),
            globals=uniq(g for x in everyone for g in x["globals"]),
            relocs=d["relocs"],
        ))
    return out
