"""Global data and externs: build steps, pure functions of the ELF file and its BTF."""

from __future__ import annotations

from bpfinspect.btf.kinds import LINKAGE_NAMES, VLEN_MASK, Kind
from bpfinspect.elf import ElfFile
from bpfinspect.errors import MalformedInput
from bpfinspect.obj.sectiontable import SHF_ALLOC, data_section_kind
from bpfinspect.obj.model import DataSection, Extern, Var
from bpfinspect.obj.names import internal_map_name, skeleton_section_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf import Btf


def symbols_by_section(elf: ElfFile) -> dict[int, list]:
    """Section index -> its named OBJECT/NOTYPE symbols, in symbol table order."""
    out: dict[int, list] = {}
    for sym in elf.symbols:
        if sym.name and sym.type in ("OBJECT", "NOTYPE"):
            out.setdefault(sym.shndx, []).append(sym)
    return out


def externs_of(elf: ElfFile, btf: Btf | None, datasecs: dict[str, tuple[int, ...]]) -> tuple[Extern, ...]:
    """``.kconfig`` and ``.ksyms`` variables, kfuncs, and undefined symbols BTF does not list."""
    out: list[Extern] = []
    seen = set()
    weak_of: dict[str, bool] = {}
    for s in elf.symbols:
        if s.shndx == 0 and s.name:
            weak_of.setdefault(s.name, s.bind == "WEAK")
    if btf is not None:
        for secname, kind in ((".kconfig", "kconfig"), (".ksyms", "ksym")):
            for ds in datasecs.get(secname, ()):
                for dv in btf.type(ds).vars:
                    t = btf.type(btf.check_id(dv.type, secname))
                    weak = weak_of.get(t.name, False)
                    if t.kind == Kind.FUNC:
                        out.append(Extern(t.name, "kfunc", btf.type_name(t.type, t.name), t.id, weak, True))
                    elif t.kind == Kind.VAR:
                        base = btf.strip_cv(t.type)
                        typed = base != 0
                        out.append(Extern(t.name, kind, btf.type_name(t.type) if typed else None, t.type, weak,
                                          typed if kind == "ksym" else True))
                    seen.add(t.name)
        # kfuncs declared extern but not listed in .ksyms (older compilers)
        for tid in btf.ids_of_kind(Kind.FUNC):
            if btf.vlen(tid) == 2:
                name = btf.name(tid)
                if name not in seen:
                    seen.add(name)
                    out.append(Extern(name, "kfunc", btf.type_name(btf.ref(tid), name), tid,
                                      weak_of.get(name, False), True))
    for s in elf.symbols:
        if s.shndx == 0 and s.name and s.bind in ("GLOBAL", "WEAK") and s.name not in seen:
            seen.add(s.name)
            kind = "kfunc" if s.type == "FUNC" else "ksym"
            out.append(Extern(s.name, kind, None, 0, s.bind == "WEAK", False))
    return tuple(out)


def datasecs_of(elf: ElfFile, btf: Btf | None, datasecs: dict[str, tuple[int, ...]],
                libbpf_name: str) -> tuple[DataSection, ...]:
    """Data sections and their variables.

    Offsets come from the ELF symbols (clang leaves them 0 in BTF); the type of
    each variable comes from the BTF DATASEC of its section.  Where the two
    disagree about the section (clang 14 lists a zero-initialised global under
    .data while its symbol is in .bss), the symbol decides and the BTF VAR is
    still used for the type.
    """
    out = []
    data_secs = [s for s in elf.sections
                 if data_section_kind(s.name) and s.type in (1, 8) and s.flags & SHF_ALLOC]
    by_section = symbols_by_section(elf)
    sec_syms = {s.index: {sym.name: sym for sym in by_section.get(s.index, ())} for s in data_secs}
    name_sections: dict[str, list[int]] = {}   # section name -> data sections of that name
    homes: dict[str, list[int]] = {}           # symbol name -> data sections holding such a symbol
    for s in data_secs:
        name_sections.setdefault(s.name, []).append(s.index)
        for name in sec_syms[s.index]:
            homes.setdefault(name, []).append(s.index)
    btf_var_of: dict[str, int] = {}            # variable name -> BTF VAR id, from every data DATASEC
    listed: dict[int, list] = {}               # section index -> its (VAR, DATASEC entry) pairs
    if btf is not None:
        for name in name_sections:
            for ds in datasecs.get(name, ()):
                for var_id, _, _ in _entries(btf, ds):
                    if btf.valid(var_id) and btf.kind(var_id) == Kind.VAR:
                        btf_var_of.setdefault(btf.name(var_id), var_id)
        # A DATASEC's variable is listed in the section of that name holding its symbol; one
        # whose symbol lives in a section of another name is listed there; one without a
        # symbol, in the (first) section of the DATASEC's name.
        for name, indexes in name_sections.items():
            ids = datasecs.get(name)
            if not ids:
                continue
            for var_id, offset, size in _entries(btf, ids[0]):
                if btf.kind(btf.check_id(var_id, name)) != Kind.VAR:
                    continue
                var = _var_record(btf, var_id)
                where = homes.get(var[0])
                for index in ([i for i in where if i in indexes] if where else indexes[:1]):
                    listed.setdefault(index, []).append((var, offset, size))
    for s in data_secs:
        kind = data_section_kind(s.name)
        data = s.data() if kind != "bss" and s.type != 8 else None
        ids = datasecs.get(s.name) if btf is not None else None
        syms = sec_syms[s.index]
        variables: list[Var] = []
        covered = set()
        for var, entry_offset, entry_size in listed.get(s.index, ()):
            sym = syms.get(var[0])
            offset = sym.value if sym is not None else entry_offset
            variables.append(_btf_var(btf, var, offset, entry_size or (sym.size if sym else 0), data))
            covered.add(var[0])
        for name, sym in syms.items():
            if name in covered or name.startswith(".L"):
                continue
            if name in btf_var_of:
                variables.append(_btf_var(btf, _var_record(btf, btf_var_of[name]), sym.value, sym.size, data))
                continue
            linkage = "static" if sym.bind == "LOCAL" else "global"
            variables.append(_var(name, sym.value, sym.size, None, 0, linkage, data))
        variables.sort(key=lambda v: (v.offset, v.name))
        out.append(DataSection(s.name, s.index, s.size, kind, internal_map_name(libbpf_name, s.name),
                               skeleton_section_name(s.name), data, ids[0] if ids else 0, tuple(variables)))
    return tuple(out)


def _entries(btf: Btf, datasec: int):
    """(variable id, offset, size) of each entry of a DATASEC, read from its words."""
    w, p = btf.words(datasec)
    q = p + 3
    e = q + 3 * (w[p + 1] & VLEN_MASK)
    return zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3])


def _var_record(btf: Btf, var_id: int) -> tuple[str, int, int]:
    """(name, type id, linkage) of a VAR, read from its words."""
    w, p = btf.words(var_id)
    return btf.name(var_id), w[p + 2], w[p + 3]


def _btf_var(btf: Btf, var: tuple[str, int, int], offset: int, fallback_size: int, data) -> Var:
    name, type_id, linkage_number = var
    try:
        size = btf.sizeof(type_id)
    except MalformedInput:
        size = fallback_size
    linkage = LINKAGE_NAMES.get(linkage_number, str(linkage_number))
    return _var(name, offset, size, btf.type_name(type_id), type_id, linkage, data)


def _var(name, offset, size, ctype, type_id, linkage, data) -> Var:
    initial = None
    if data is not None:
        initial = data[offset:offset + size]
    return Var(name, offset, size, ctype, type_id, linkage, linkage == "static", initial)
