"""The ELF layer against pyelftools, field by field, on every object we have."""

from __future__ import annotations

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_SH_TYPE_BASE

from bpfinspect.elf import ElfFile
from bpfinspect.errors import MalformedInput
from conftest import ALL_OBJECTS, obj_id

_SH_TYPES = dict(ENUM_SH_TYPE_BASE)


@pytest.mark.parametrize("path", ALL_OBJECTS, ids=obj_id)
def test_matches_pyelftools(path):
    ours = ElfFile.from_path(path)
    with open(path, "rb") as f:
        ref = ELFFile(f)
        assert ours.little == ref.little_endian and ours.elfclass == ref.elfclass
        assert ours.elf_type == 1 and ref.header["e_type"] == "ET_REL"
        assert ours.shnum == ref.num_sections()
        for s, r in zip(ours.sections, ref.iter_sections()):
            h = r.header
            rtype = h["sh_type"] if isinstance(h["sh_type"], int) else _SH_TYPES.get(h["sh_type"])
            assert (s.name, s.flags, s.addr, s.offset, s.size, s.link, s.info, s.align, s.entsize) == (
                r.name, h["sh_flags"], h["sh_addr"], h["sh_offset"], h["sh_size"], h["sh_link"], h["sh_info"],
                h["sh_addralign"], h["sh_entsize"]), s.name
            if rtype is not None:
                assert s.type == rtype, s.name
            if s.type not in (0, 8):
                assert s.data() == r.data()
        symtab = ref.get_section_by_name(".symtab")
        if symtab is not None:
            ref_syms = list(symtab.iter_symbols())
            assert len(ref_syms) == len(ours.symbols)
            for a, b in zip(ours.symbols, ref_syms):
                shndx = b["st_shndx"]
                shndx = {"SHN_UNDEF": 0, "SHN_ABS": 0xFFF1, "SHN_COMMON": 0xFFF2}.get(shndx, shndx)
                assert (a.name, a.value, a.size, a.shndx) == (b.name, b["st_value"], b["st_size"], shndx)
                assert "STB_" + a.bind == b["st_info"]["bind"] and "STT_" + a.type == b["st_info"]["type"]
        for rel in ref.iter_sections():
            if rel.header["sh_type"] not in ("SHT_REL", "SHT_RELA"):
                continue
            ours_rel = ours.relocations(rel.header["sh_info"])
            ref_rel = list(rel.iter_relocations())
            assert [(r.offset, r.type, r.symbol.index) for r in ours_rel] == [
                (r["r_offset"], r["r_info_type"], r["r_info_sym"]) for r in ref_rel]


def test_header_errors():
    with pytest.raises(MalformedInput, match="not an ELF file"):
        ElfFile(b"nope" * 10)
    with pytest.raises(MalformedInput, match="unknown ELF class"):
        ElfFile(b"\x7fELF\x07\x01" + bytes(60))
    with pytest.raises(MalformedInput, match="truncated ELF header"):
        ElfFile(b"\x7fELF\x02\x01\x01" + bytes(20))
    head = bytearray(ElfFile.from_path(ALL_OBJECTS[0]).data[:64])
    with pytest.raises(MalformedInput, match="runs past end of file"):
        ElfFile(bytes(head))
