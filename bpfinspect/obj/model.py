"""The BPF object model: plain frozen records (named tuples: a dataclass costs milliseconds of
every start to define, and this module is imported by every command that reads an object).

The build steps (``obj/build.py``, ``obj/relocs.py``, ``obj/data.py``,
``obj/programs.py``, ``obj/maps.py``) make them from the ELF container;
:class:`bpfinspect.obj.object.BpfObject` wires the steps together lazily.
Nothing here reads bytes or calls back into a build step.
"""

from __future__ import annotations

from collections import namedtuple

from bpfinspect.isa import decode as isa

# (typing is not imported at run time: a constant False keeps the import for type checkers only.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.sections import SectionSpec


class CodeSection(namedtuple("CodeSection", "name index address slots symbols absolute_symbols")):
    """The instructions of one code section, decoded once, and what names its addresses.

    ``slots`` holds one ``(opcode, regs, off, imm)`` tuple per 8-byte slot (regs with
    dst in the low nibble whatever the byte order, see :mod:`bpfinspect.isa.decode`).
    The questions every consumer asks of an instruction are answered here, by the
    instruction set's own predicates, so no one decodes an instruction a second time.
    """
    __slots__ = ()
    # fields:
    #   name: str
    #   index: int                # ELF section index
    #   address: int              # sh_addr (0 in relocatable objects)
    #   slots: tuple
    #   symbols: tuple            # (address, name) of the section's label candidates
    #   absolute_symbols: tuple   # (address, name) of SHN_ABS symbols

    def __repr__(self) -> str:   # the instructions and symbols are left out
        return f"CodeSection(name={self.name!r}, index={self.index!r}, address={self.address!r})"

    def __len__(self) -> int:   # the instruction slots (the named tuple's own length is its 6 fields)
        return len(self.slots)

    @classmethod
    def _make(cls, iterable):
        fields = tuple(iterable)
        if tuple.__len__(fields) != 6:
            raise TypeError(f"Expected 6 arguments, got {tuple.__len__(fields)}")
        return tuple.__new__(cls, fields)

    def _replace(self, **changes):
        return type(self)(**{**dict(zip(self._fields, tuple.__iter__(self))), **changes})

    def insn(self, i: int) -> isa.Insn:
        """The instruction starting at slot ``i`` (two slots for a well-formed ld_imm64)."""
        return isa.insn_at(self.slots, i)

    def is_wide(self, i: int) -> bool:
        """Slot ``i`` starts a well-formed two-slot ld_imm64."""
        return isa.wide_pair(self.slots, i)

    def helper(self, i: int) -> int | None:
        """The helper id slot ``i`` calls (None when it is no helper call)."""
        return isa.helper_id(self.slots[i])

    def local_call(self, i: int) -> int | None:
        """The slot a bpf-to-bpf call at ``i`` goes to (pc-relative, as the file holds it)."""
        return isa.local_call_target(i, self.slots[i])

    def kfunc(self, i: int) -> int | None:
        """The BTF id a kfunc call at ``i`` names (0 before libbpf's relocation)."""
        return isa.kfunc_id(self.slots[i])

    def func_address(self, i: int) -> int | None:
        """The slot an ld_imm64 of a function's address (a callback) at ``i`` designates."""
        return isa.func_address_target(self.slots, i)

    def jump_target(self, i: int) -> int | None:
        """The slot a branch at ``i`` goes to (goto, gotol, may_goto, conditionals)."""
        return isa.jump_target(i, self.slots[i])

    def is_exit(self, i: int) -> bool:
        return isa.is_exit(self.slots[i])

    def calls(self, start: int = 0, stop: int | None = None) -> tuple[list[int], list[int]]:
        """(helper ids in first-call order, local call targets) of the slots ``start:stop``."""
        return isa.scan_calls(self.slots, start, len(self.slots) if stop is None else stop)


class Reloc(namedtuple("Reloc", "section offset insn_index kind symbol target target_offset elf_type "
                       "elf_type_name target_section", defaults=("",))):
    __slots__ = ()
    # fields:
    #   section: str        # section the relocation applies to (a code section, .maps, .data...)
    #   offset: int         # byte offset in that section
    #   insn_index: int     # offset // 8 (meaningful in code sections)
    #   kind: str           # map, global_data, subprog_call, callback, kfunc, kconfig, ksym,
    # map_slot, struct_ops_prog, data_pointer, unknown
    #   symbol: str         # the ELF symbol's name ('' for section symbols)
    #   target: str         # what it resolves to: map/var/program/extern name, or section name
    #   target_offset: int  # offset inside the target (global data: byte offset; calls: insn index)
    #   elf_type: int       # R_BPF_* number
    #   elf_type_name: str
    #   target_section: str = ""  # global_data: the data section (target is a variable of it, or it)


class CoreReloInfo(namedtuple("CoreReloInfo", "section offset insn_index kind type_id access text")):
    __slots__ = ()
    # fields:
    #   section: str
    #   offset: int         # byte offset of the instruction in its section
    #   insn_index: int
    #   kind: str           # byte_off, byte_sz, field_exists, ...
    #   type_id: int
    #   access: str         # raw access string, e.g. "0:1:0"
    #   text: str           # libbpf's rendering: "[53] struct task_struct.tgid (0:93 @ offset 1268)"

    @property
    def describe(self) -> str:
        return f"<{self.kind}> {self.text}"


class _InSection:
    """What a function's place says: its slots and, from its section's name, its meaning."""

    __slots__ = ()

    @property
    def slot_range(self) -> range:
        """Slot indexes of the function within its section."""
        first = self.offset // 8
        return range(first, first + self.size // 8)

    @property
    def spec(self) -> "SectionSpec | None":
        """Meaning of the section name (None for .text subprograms); read on first use."""
        if self.is_subprog:
            return None
        from bpfinspect.sections import parse_section
        return parse_section(self.section)

    @property
    def type(self) -> str | None:
        if self.is_subprog:
            return None
        from bpfinspect.sections import program_type_of
        return program_type_of(self.section)

    @property
    def attach_type(self) -> str | None:
        spec = self.spec
        return spec.attach_type if spec else None


class Function(_InSection, namedtuple("Function", "name section section_index offset size linkage is_subprog")):
    """Where a function's code lies: cheap to find (symbols only), shared by every view."""
    __slots__ = ()
    # fields:
    #   name: str
    #   section: str
    #   section_index: int
    #   offset: int         # byte offset in the section
    #   size: int           # bytes
    #   linkage: str        # global, static, weak
    #   is_subprog: bool    # a function of .text

    @property
    def insns(self) -> int:
        return self.size // 8


class Program(_InSection, namedtuple("Program", "name section section_index offset size insns is_subprog "
                                     "linkage subprograms maps helpers kfuncs globals relocs code", defaults=(None,))):
    __slots__ = ()
    # fields:
    #   name: str
    #   section: str
    #   section_index: int
    #   offset: int         # byte offset of the first instruction in the section
    #   size: int           # bytes
    #   insns: int          # instruction slots (size // 8)
    #   is_subprog: bool
    #   linkage: str        # global, static, weak
    #   subprograms: tuple[str, ...]   # subprograms reachable through calls (transitively)
    #   maps: tuple[str, ...]          # maps referenced (own code and reachable subprograms)
    #   helpers: tuple[str, ...]       # helper names called
    #   kfuncs: tuple[str, ...]
    #   globals: tuple[str, ...]       # global variables referenced
    #   relocs: tuple[Reloc, ...]      # relocations inside this program's own range
    #   code: CodeSection | None  # its section's instructions (not compared, not shown)

    def __eq__(self, other):
        return type(other) is type(self) and self[:-1] == other[:-1]

    def __ne__(self, other):
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:-1])

    def __repr__(self) -> str:
        return "Program(" + ", ".join(f"{f}={v!r}" for f, v in zip(self._fields[:-1], self)) + ")"

    @property
    def instructions(self) -> tuple:
        """This program's own slots (``(opcode, regs, off, imm)``, see :class:`CodeSection`)."""
        if self.code is None:
            return ()
        r = self.slot_range
        return self.code.slots[r.start:r.stop]


class Map(namedtuple("Map", "name type type_id key_size value_size max_entries map_flags numa_node pinning "
                     "map_extra key_type value_type key_type_id value_type_id inner initial_slots section "
                     "offset size btf_var_id")):
    __slots__ = ()
    # fields:
    #   name: str
    #   type: str                 # libbpf map type name: hash, array, ringbuf, struct_ops...
    #   type_id: int              # numeric map type (BPF_MAP_TYPE_*)
    #   key_size: int
    #   value_size: int
    #   max_entries: int
    #   map_flags: int
    #   numa_node: int
    #   pinning: str              # none, by_name (legacy iproute2: object_ns, global_ns)
    #   map_extra: int
    #   key_type: str | None      # C type text
    #   value_type: str | None
    #   key_type_id: int
    #   value_type_id: int
    #   inner: "Map | None"
    #   initial_slots: tuple[tuple[str, str], ...]  # (slot or struct_ops member, target name)
    #   section: str              # .maps, maps, .struct_ops, .struct_ops.link
    #   offset: int               # offset of the definition in its section
    #   size: int                 # size of the definition
    #   btf_var_id: int           # BTF VAR id (0 when there is none)


class Var(namedtuple("Var", "name offset size type type_id linkage is_static initial")):
    __slots__ = ()
    # fields:
    #   name: str
    #   offset: int
    #   size: int
    #   type: str | None          # C type text (None without BTF)
    #   type_id: int
    #   linkage: str              # global, static, extern
    #   is_static: bool
    #   initial: bytes | None     # None for .bss


class DataSection(namedtuple("DataSection", "name index size kind map_name skel_name initial btf_id variables")):
    __slots__ = ()
    # fields:
    #   name: str                 # .data, .rodata.cfg, .bss ...
    #   index: int                # ELF section index
    #   size: int
    #   kind: str                 # data, rodata, bss
    #   map_name: str             # libbpf's internal map name for this object
    #   skel_name: str            # member name in a C skeleton: data, rodata, data_counters...
    #   initial: bytes | None     # None for .bss
    #   btf_id: int               # DATASEC type id (0 without BTF)
    #   variables: tuple[Var, ...]


class Extern(namedtuple("Extern", "name kind type type_id weak typed")):
    __slots__ = ()
    # fields:
    #   name: str
    #   kind: str                 # kconfig, ksym, kfunc
    #   type: str | None          # C type text; None for a typeless ksym
    #   type_id: int
    #   weak: bool
    #   typed: bool               # ksym with a BTF type (false: typeless address)


class ExtCounts(namedtuple("ExtCounts", "func_info line_info core_relos")):
    """How many records each .BTF.ext subsection holds (from its group headers)."""
    __slots__ = ()
    # fields:
    #   func_info: int
    #   line_info: int
    #   core_relos: int
