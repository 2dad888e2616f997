"""DWARF facts from the reference tools: llvm-dwarfdump-19's text, pyelftools, pahole's BTF encoder."""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from conftest import FIXTURE_OBJECTS, tool

DWARFDUMP = tool("llvm-dwarfdump-19")
PAHOLE = tool("pahole")


def has_dwarf(path: Path) -> bool:
    from bpfinspect.elf import ElfFile
    return ElfFile.from_path(path).section_by_name(".debug_info") is not None


DWARF_FIXTURES = [p for p in FIXTURE_OBJECTS if has_dwarf(p)]


@dataclass
class DumpedDie:
    offset: int
    tag: str
    depth: int
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    parent: int | None = None

    def num(self, attr: str) -> int | None:
        """A numeric attribute as llvm-dwarfdump prints it (``(0x08)``, ``(8)``)."""
        v = self.attrs.get(attr)
        if v is None:
            return None
        m = re.match(r"\((-?0x[0-9a-f]+|-?\d+)", v)
        return int(m.group(1), 0) if m else None

    def ref(self, attr: str) -> int | None:
        v = self.attrs.get(attr)
        m = re.match(r"\((0x[0-9a-f]+)", v) if v else None
        return int(m.group(1), 16) if m else None

    def text(self, attr: str) -> str | None:
        v = self.attrs.get(attr)
        m = re.match(r'\("(.*)"\)$', v) if v else None
        return m.group(1) if m else None


_DIE = re.compile(r"^0x([0-9a-f]{8}):( +)(DW_TAG_\w+|NULL)")
_ATTR = re.compile(r"^ +(DW_AT_\w+)\t(.*)$")


@functools.lru_cache(maxsize=8)
def dump(path: Path) -> dict[int, DumpedDie]:
    """Every DIE of ``path`` as llvm-dwarfdump-19 prints it, by offset."""
    out = subprocess.run([DWARFDUMP, "--debug-info", str(path)], capture_output=True, text=True, check=True).stdout
    dies: dict[int, DumpedDie] = {}
    stack: list[DumpedDie] = []
    cur: DumpedDie | None = None
    last: str | None = None
    for line in out.splitlines():
        m = _DIE.match(line)
        if m:
            depth = (len(m.group(2)) - 1) // 2
            last = None
            if m.group(3) == "NULL":
                cur = None
                continue
            while stack and stack[-1].depth >= depth:
                stack.pop()
            cur = DumpedDie(int(m.group(1), 16), m.group(3), depth)
            if stack:
                cur.parent = stack[-1].offset
                stack[-1].children.append(cur.offset)
            dies[cur.offset] = cur
            stack.append(cur)
            continue
        m = _ATTR.match(line)
        if m and cur is not None:
            cur.attrs[m.group(1)] = m.group(2)
            last = m.group(1)
        elif cur is not None and last is not None and line.strip():
            cur.attrs[last] += "\n" + line.strip()  # a list printed over several lines
    return dies


_RANGE = re.compile(r"\[0x([0-9a-f]+), 0x([0-9a-f]+)\)")


def ranges(die: DumpedDie) -> list[tuple[int, int]]:
    """The code ranges llvm-dwarfdump shows for a DIE (low/high pc, or its range list)."""
    if "DW_AT_ranges" in die.attrs:
        return [(int(a, 16), int(b, 16)) for a, b in _RANGE.findall(die.attrs["DW_AT_ranges"])]
    low = die.num("DW_AT_low_pc")
    if low is None:
        return []
    high = die.num("DW_AT_high_pc")
    return [(low, high if high is not None else low + 1)]


def member_bit_offset(die: DumpedDie, dies: dict[int, DumpedDie], little: bool) -> int:
    """A member's bit offset from DWARF's own attributes (DWARF 4 and 5, or 2 and 3)."""
    if "DW_AT_data_bit_offset" in die.attrs:
        return die.num("DW_AT_data_bit_offset")
    byte = die.num("DW_AT_data_member_location") or 0
    if "DW_AT_bit_offset" in die.attrs:
        size = die.num("DW_AT_byte_size")
        from_top = die.num("DW_AT_bit_offset")
        if from_top >= 1 << 63:  # negative, written as an unsigned 64-bit constant
            from_top -= 1 << 64
        bits = die.num("DW_AT_bit_size")
        return byte * 8 + (size * 8 - from_top - bits if little else from_top)
    return byte * 8


@functools.lru_cache(maxsize=8)
def pahole_btf(path: Path, out_dir: str):
    """The BTF pahole encodes from ``path``'s DWARF (an independent DWARF-to-BTF converter)."""
    from bpfinspect.btf import load_btf
    target = Path(out_dir) / (path.name + ".pahole.btf")
    subprocess.run([PAHOLE, f"--btf_encode_detached={target}", str(path)], check=True, capture_output=True)
    return load_btf(target)
