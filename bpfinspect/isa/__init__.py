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

import importlib

# Names are loaded on first use: the printer builds its formatter tables when imported,
# which commands that only need opcodes or helper names (progs, info, gen-skel) skip.
_WHERE = {
    "Insn": "decode", "Slot": "decode", "insn_at": "decode", "iter_insns": "decode", "unpack_slots": "decode",
    "wide_pair": "decode", "helper_name": "helpers", "TargetNamer": "labels", "absolute_symbols": "labels",
    "section_symbols": "labels", "symbols_by_section": "labels", "diagnose": "printer", "format_slot": "printer",
    "raw_text": "printer", "render": "printer", "render_text": "printer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
