"""Names of branch targets, chosen the way llvm-objdump 19 chooses them.

llvm-objdump prints `` <name>`` or `` <name+0xdisp>`` after a branch, where
``name`` is the last symbol of the same section whose address is not above
the target, symbols being ordered by (address, name).  The candidates are the
section's symbols with a non-empty name other than STT_SECTION / STT_FILE;
when none sits at the section start, a symbol named after the section is
assumed there.  If a section has no candidate at or below the target (only
possible for a non-zero section address), absolute symbols are tried, and
failing those nothing is printed.  The target address is computed in unsigned
64-bit arithmetic, so a branch before the section start wraps to a huge
address and is named after the section's last symbol.
"""

from __future__ import annotations

from bisect import bisect_right

_MASK = (1 << 64) - 1


class TargetNamer:
    """Callable ``slot index -> ' <label>'`` for one code section."""

    __slots__ = ("_addrs", "_names", "_abs_addrs", "_abs_names", "_base", "_cache")

    def __init__(self, symbols: "Iterable[tuple[int, str]]", section_name: str, *,
                 section_addr: int = 0, absolute: "Iterable[tuple[int, str]]" = ()) -> None:
        syms = sorted((a, n) for a, n in symbols if n)
        if not syms or syms[0][0] != section_addr:
            syms.append((section_addr, section_name))
            syms.sort()
        self._addrs = [a for a, _ in syms]
        self._names = [n for _, n in syms]
        absl = sorted((a, n) for a, n in absolute if n)
        self._abs_addrs = [a for a, _ in absl]
        self._abs_names = [n for _, n in absl]
        self._base = section_addr
        self._cache: dict[int, str] = {}

    def name(self, address: int) -> tuple[str, int] | None:
        """(symbol, displacement) llvm would print for an absolute target address."""
        address &= _MASK
        k = bisect_right(self._addrs, address) - 1
        if k >= 0:
            return self._names[k], address - self._addrs[k]
        k = bisect_right(self._abs_addrs, address) - 1
        if k >= 0:
            return self._abs_names[k], address - self._abs_addrs[k]
        return None

    def __call__(self, slot: int) -> str:
        text = self._cache.get(slot)
        if text is None:
            found = self.name(self._base + slot * 8)
            if found is None:
                text = ""
            elif found[1]:
                text = f" <{found[0]}+{found[1]:#x}>"
            else:
                text = f" <{found[0]}>"
            self._cache[slot] = text
        return text


def symbols_by_section(elf_symbols) -> dict[int, list[tuple[int, str]]]:
    """Section index -> the candidate (address, name) pairs llvm-objdump uses for it, in
    symbol table order (SHN_ABS symbols under 0xfff1), from one pass over the symbols.

    ``elf_symbols`` are records with ``name``, ``value``, ``type`` ('SECTION',
    'FILE', ...) and ``shndx`` (bpfinspect.elf.ElfSymbol).
    """
    out: dict[int, list[tuple[int, str]]] = {}
    for s in elf_symbols:
        if s.name and s.type not in ("SECTION", "FILE"):
            out.setdefault(s.shndx, []).append((s.value, s.name))
    return out


def section_symbols(elf_symbols, section_index: int) -> list[tuple[int, str]]:
    """Candidate (address, name) pairs llvm-objdump uses for one section."""
    return symbols_by_section(elf_symbols).get(section_index, [])


def absolute_symbols(elf_symbols) -> list[tuple[int, str]]:
    return section_symbols(elf_symbols, 0xFFF1)
