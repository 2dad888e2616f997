"""The BPF instruction set: decode, print (llvm-objdump 19 syntax), encode, assemble.

Layout:
  opcodes.py       numbers of the instruction set
  decode.py        bytes -> slots (bulk unpack, both byte orders), Insn records
  printer.py       slots -> llvm text / plain (lossless) text, raw-data fallback
  labels.py        branch target names as llvm-objdump picks them
  encode.py        fields -> bytes (both byte orders)
  asm.lark, asm.py the assembler for the plain text
  helpers.py       helper id -> name (table from linux/bpf.h in helper_table.py)
"""

from bpfinspect.isa.decode import Insn, Slot, insn_at, iter_insns, unpack_slots, wide_pair
from bpfinspect.isa.helpers import helper_name
from bpfinspect.isa.labels import TargetNamer, absolute_symbols, section_symbols
from bpfinspect.isa.printer import diagnose, format_slot, raw_text, render, render_text

__all__ = [
    "Insn", "Slot", "TargetNamer", "absolute_symbols", "diagnose", "format_slot", "helper_name",
    "insn_at", "iter_insns", "raw_text", "render", "render_text", "section_symbols",
    "unpack_slots", "wide_pair",
]
