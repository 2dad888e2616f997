"""DWARF's types as BTF: one type table, grown on demand, that every BTF consumer reads unchanged.

The C printer, the layout function, the declarator engine and the ctypes layouts
all work on BTF.  A type that only DWARF describes (the record of a ring buffer,
usually a local's type) is therefore converted to BTF records, the way clang
itself writes BTF for the types it keeps, and those consumers see no difference.

How a DIE becomes BTF (clang's rules where clang writes BTF for the same type):

=========================  ===============================================================
``base_type``              INT (``DW_ATE_signed``/``signed_char``: SIGNED, ``boolean``: BOOL,
                           others unsigned), FLOAT for ``DW_ATE_float`` (so ``long double``
                           is an 8-byte FLOAT, as BPF has it)
``pointer_type``           PTR (references too); ``btf_type_tag`` annotations become TYPE_TAGs
                           between the pointer and its target
``const/volatile/restrict``  CONST/VOLATILE/RESTRICT; ``_Atomic`` is looked through
``typedef``                TYPEDEF
``structure/union_type``   STRUCT/UNION with every member at ``DW_AT_data_bit_offset`` or
                           ``DW_AT_data_member_location`` (a constant or ``DW_OP_plus_uconst``);
                           DWARF 2/3 bitfields (``DW_AT_bit_offset`` counted from the top of
                           the storage unit) are turned around; a declaration becomes FWD
``enumeration_type``       ENUM, or ENUM64 when 8 bytes wide; signed when its underlying type
                           is (values of DW_FORM_dataN are sign-extended then)
``array_type``             one ARRAY per subrange, outermost first; no count: 0 elements
``subroutine_type``        FUNC_PROTO (``...`` as a last ``{0, 0}`` parameter)
``unspecified_type``       void
``btf_decl_tag``           DECL_TAG on the record, typedef or member
=========================  ===============================================================

Conversion is iterative (no recursion, whatever the nesting): asking for a DIE
first gives an id to it and to every DIE it reaches that has none yet, depth
first in the order the records name them (the order clang numbers BTF types in),
then writes their records in id order.  Asking again later
only appends, so ids handed out stay valid.

Each converted type keeps where it came from (:meth:`DwarfTypes.origin`): the DIE,
the file and line of its declaration, and ``DW_AT_alignment`` (BTF has no place
for an explicit alignment; host-safe C headers use it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bpfinspect.btf.kinds import INT_BOOL, INT_SIGNED, Kind
from bpfinspect.btf.writer import BtfBuilder
from bpfinspect.dwarf import constants as dw
from bpfinspect.dwarf.reader import Die, Dwarf
from bpfinspect.errors import MalformedInput, UsageError

# Type DIEs a name can be looked up by, with the C keyword that names their kind.
RECORD_TAGS = {dw.TAG_structure_type: "struct", dw.TAG_union_type: "union", dw.TAG_enumeration_type: "enum"}
NAMED_TAGS = frozenset({*RECORD_TAGS, dw.TAG_typedef, dw.TAG_base_type})
_MODIFIERS = {dw.TAG_const_type: Kind.CONST, dw.TAG_volatile_type: Kind.VOLATILE,
              dw.TAG_restrict_type: Kind.RESTRICT}
_POINTERS = frozenset({dw.TAG_pointer_type, dw.TAG_reference_type, dw.TAG_rvalue_reference_type,
                       dw.TAG_ptr_to_member_type})
TYPE_TAGS = frozenset({dw.TAG_base_type, dw.TAG_typedef, dw.TAG_array_type, dw.TAG_subroutine_type,
                       dw.TAG_unspecified_type, dw.TAG_atomic_type, *RECORD_TAGS, *_MODIFIERS, *_POINTERS})
# How many _Atomic wrappers in a row are followed before calling it a cycle.
MAX_CHAIN = 64


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a converted type came from."""
    die: int                 # offset of its DIE in .debug_info
    file: str | None         # file of the declaration (as the line table names it)
    line: int | None
    alignment: int | None    # DW_AT_alignment: an explicit alignment in the source

    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return f"DIE {self.die:#x}"


class DwarfTypes:
    """The types of one object's DWARF as a BTF table (:meth:`btf`), converted on demand."""

    def __init__(self, dwarf: Dwarf) -> None:
        self.dwarf = dwarf
        self.path = dwarf.path
        self._b = BtfBuilder()
        self._id: dict[int, int] = {}          # DIE offset -> first BTF id (0: void)
        self._origin: dict[int, Origin] = {}   # BTF id -> origin
        self._btf = None
        self._btf_count = -1
        self._names: dict[str, list[int]] | None = None

    # -- the table ------------------------------------------------------------------------------

    def btf(self):
        """The converted types so far, as a :class:`~bpfinspect.btf.Btf` (rebuilt only after growth):
        ask for it after :meth:`type_id`, a table taken before does not hold what was converted since."""
        if self._btf is None or self._btf_count != self._b.count:
            self._btf = self._b.btf(path=self.path, section=".debug_info")
            self._btf_count = self._b.count
        return self._btf

    def origin(self, type_id: int) -> Origin | None:
        return self._origin.get(type_id)

    def type_id(self, die: Die) -> int:
        """The BTF id of a type DIE (converting it and what it needs)."""
        die = self._through_atomic(die)
        if die is None:
            return 0
        found = self._id.get(die.offset)
        if found is not None:
            return found
        self._convert([die])
        return self._id[die.offset]

    # -- lookups --------------------------------------------------------------------------------

    def _index(self) -> dict[str, list[int]]:
        if self._names is None:
            names: dict[str, list[int]] = {}
            for unit in self.dwarf.units:
                for i in range(len(unit)):
                    if unit.tag(i) in NAMED_TAGS:
                        n = unit.attrs(i).get(dw.AT_name)
                        if isinstance(n, str) and n:
                            names.setdefault(n, []).append(unit._dies[0][i])
            self._names = names
        return self._names

    def find(self, name: str, keyword: str | None = None) -> list[Die]:
        """Type DIEs named ``name``: structs, unions or enums for ``keyword``; without it, typedefs
        and base types first, then tags (as a bare name means in C).  Definitions come before
        declarations."""
        dies = [self.dwarf.die(o) for o in self._index().get(name, ())]
        if keyword is not None:
            dies = [d for d in dies if RECORD_TAGS.get(d.tag) == keyword]
        else:
            dies.sort(key=lambda d: d.tag in RECORD_TAGS)
        return sorted(dies, key=lambda d: bool(d.get(dw.AT_declaration)))

    def type_names(self, keyword: str) -> list[str]:
        """Every name of a struct, union or enum (``keyword``) the DWARF defines."""
        out = []
        for name, offs in self._index().items():
            for o in offs:
                d = self.dwarf.die(o)
                if RECORD_TAGS.get(d.tag) == keyword and not d.get(dw.AT_declaration):
                    out.append(name)
                    break
        return out

    def variables(self) -> dict[str, Die]:
        """Variables defined at file scope (globals and statics), by name: the first definition of each."""
        out: dict[str, Die] = {}
        for unit in self.dwarf.units:
            for j in unit.children(0) if len(unit) else ():
                if unit.tag(j) != dw.TAG_variable:
                    continue
                a = unit.attrs(j)
                if a.get(dw.AT_declaration):
                    continue
                d = Die(unit, j)
                src = d.ref(dw.AT_specification) or d
                if src.name:
                    out.setdefault(src.name, src if dw.AT_type in src.attrs else d)
        return out

    # -- conversion -------------------------------------------------------------------------------

    def _through_atomic(self, die: Die | None) -> Die | None:
        for _ in range(MAX_CHAIN):
            if die is None or die.tag != dw.TAG_atomic_type:
                return die
            die = die.ref(dw.AT_type)
        raise MalformedInput("a chain of _Atomic types is a cycle", path=self.path, section=".debug_info")

    def _ids_needed(self, die: Die) -> int:
        """How many BTF ids a DIE takes: arrays one per dimension, pointers one per type tag,
        and one per decl tag after records and typedefs; void takes none."""
        tag = die.tag
        if tag == dw.TAG_unspecified_type:
            return 0
        if tag == dw.TAG_array_type:
            return max(1, sum(1 for c in die.children() if c.tag == dw.TAG_subrange_type))
        n = 1
        if tag in RECORD_TAGS and die.get(dw.AT_declaration):
            return n
        if tag in _POINTERS:
            n += len(_annotations(die, "btf_type_tag"))
        if tag in RECORD_TAGS or tag == dw.TAG_typedef:
            n += len(_annotations(die, "btf_decl_tag"))
            if tag != dw.TAG_typedef:
                for c in die.children():
                    if c.tag == dw.TAG_member:
                        n += len(_annotations(c, "btf_decl_tag"))
        return n

    def _referenced(self, die: Die) -> list[Die | None]:
        """The type DIEs a type DIE's record refers to."""
        tag = die.tag
        out: list[Die | None] = []
        if tag in _POINTERS or tag in _MODIFIERS or tag == dw.TAG_typedef or tag == dw.TAG_array_type:
            out.append(die.ref(dw.AT_type))
        if tag == dw.TAG_array_type:
            out.extend(c.ref(dw.AT_type) for c in die.children() if c.tag == dw.TAG_subrange_type)
        elif tag in (dw.TAG_structure_type, dw.TAG_union_type) and not die.get(dw.AT_declaration):
            out.extend(c.ref(dw.AT_type) for c in die.children() if c.tag == dw.TAG_member)
        elif tag == dw.TAG_subroutine_type:
            out.append(die.ref(dw.AT_type))
            out.extend(c.ref(dw.AT_type) for c in die.children() if c.tag == dw.TAG_formal_parameter)
        return out

    def _convert(self, roots: list[Die]) -> None:
        # 1. ids for the roots and everything they reach that has none yet
        order: list[Die] = []
        todo = list(reversed(roots))
        next_id = self._b.count + 1
        while todo:
            die = self._through_atomic(todo.pop())
            if die is None or die.offset in self._id:
                continue
            if die.tag not in TYPE_TAGS:
                raise MalformedInput(f"DIE {die.offset:#x} (tag {die.tag:#x}) is used as a type", path=self.path,
                                     section=".debug_info")
            n = self._ids_needed(die)
            self._id[die.offset] = next_id if n else 0
            next_id += n
            if n:
                order.append(die)
                todo.extend(reversed(self._referenced(die)))
        # 2. their records, in id order
        for die in order:
            try:
                self._emit(die)
            except UsageError as exc:  # the BTF writer refused a value DWARF gave
                raise MalformedInput(f"DIE {die.offset:#x}: {exc.message}", path=self.path,
                                     section=".debug_info") from None

    def _tid(self, die: Die | None) -> int:
        die = self._through_atomic(die)
        return 0 if die is None else self._id[die.offset]

    def _emit(self, die: Die) -> None:
        b = self._b
        tag = die.tag
        first = self._id[die.offset]
        if b.count + 1 != first:
            raise AssertionError("DWARF conversion out of order")  # a defect of ours
        name = die.name
        a = die.attrs
        size = _udata(a.get(dw.AT_byte_size), die, "DW_AT_byte_size")
        if tag == dw.TAG_base_type:
            enc = a.get(dw.AT_encoding, 0)
            if enc == dw.ATE_float:
                b.add_float(name, size)
            else:
                if size > 16:
                    raise MalformedInput(f"base type {name!r} of {size} bytes", path=self.path,
                                         section=".debug_info", offset=die.offset)
                bits = a.get(dw.AT_bit_size)
                bits = bits if isinstance(bits, int) and 0 < bits <= size * 8 else size * 8
                encoding = (INT_SIGNED if enc in (dw.ATE_signed, dw.ATE_signed_char) else
                            INT_BOOL if enc == dw.ATE_boolean else 0)
                b.add_int(name, size, encoding, bits)
        elif tag in _POINTERS:
            # clang's order: the pointer, then the last tag written, ..., the first, the target
            tags = _annotations(die, "btf_type_tag")[::-1]
            target = self._tid(die.ref(dw.AT_type))
            # PTR -> TYPE_TAG ... -> target: each tag's id is the next one
            b.add_ref(Kind.PTR, first + 1 if tags else target)
            for i, value in enumerate(tags):
                b.add_ref(Kind.TYPE_TAG, first + 2 + i if i + 1 < len(tags) else target, value)
        elif tag in _MODIFIERS:
            b.add_ref(_MODIFIERS[tag], self._tid(die.ref(dw.AT_type)))
        elif tag == dw.TAG_typedef:
            b.add_ref(Kind.TYPEDEF, self._tid(die.ref(dw.AT_type)), name)
            for value in _annotations(die, "btf_decl_tag"):
                b.add_decl_tag(value, first, -1)
        elif tag == dw.TAG_array_type:
            self._emit_array(die, first)
        elif tag == dw.TAG_subroutine_type:
            params = []
            for c in die.children():
                if c.tag == dw.TAG_formal_parameter:
                    params.append((c.name, self._tid(c.ref(dw.AT_type))))
                elif c.tag == dw.TAG_unspecified_parameters:
                    params.append(("", 0))
            b.add_func_proto(self._tid(die.ref(dw.AT_type)), params)
        elif tag == dw.TAG_enumeration_type:
            self._emit_enum(die, name, size)
        elif tag in (dw.TAG_structure_type, dw.TAG_union_type):
            self._emit_record(die, name, size, first)
        else:
            raise AssertionError(f"no conversion for tag {tag:#x}")  # TYPE_TAGS and this list agree
        self._origin[first] = self._origin_of(die)

    def _emit_array(self, die: Die, first: int) -> None:
        dims = [c for c in die.children() if c.tag == dw.TAG_subrange_type]
        elem = self._tid(die.ref(dw.AT_type))
        if not dims:
            self._b.add_array(elem, 0, 0)
            return
        for i, sub in enumerate(dims):
            inner = first + i + 1 if i + 1 < len(dims) else elem
            self._b.add_array(inner, self._tid(sub.ref(dw.AT_type)), _count(sub, self.path))

    def _emit_enum(self, die: Die, name: str, size: int) -> None:
        underlying = self._through_atomic(die.ref(dw.AT_type))
        for _ in range(MAX_CHAIN):  # through typedefs and qualifiers to the base type
            if underlying is None or underlying.tag == dw.TAG_base_type:
                break
            underlying = self._through_atomic(underlying.ref(dw.AT_type))
        signed = underlying is not None and underlying.get(dw.AT_encoding) in (dw.ATE_signed, dw.ATE_signed_char)
        size = size or 4
        values = []
        for c in die.children():
            if c.tag != dw.TAG_enumerator:
                continue
            v = c.get(dw.AT_const_value, 0)
            if not isinstance(v, int):
                raise MalformedInput(f"enumerator {c.name!r} has no constant value", path=self.path,
                                     section=".debug_info", offset=c.offset)
            form = c.unit.forms(c.index).get(dw.AT_const_value)
            if form in dw.DATA_FORMS and signed:
                bits = {dw.FORM_data1: 8, dw.FORM_data2: 16, dw.FORM_data4: 32, dw.FORM_data8: 64}[form]
                if v >> (bits - 1):
                    v -= 1 << bits
            if not -(1 << 63) <= v < (1 << 64):
                raise MalformedInput(f"enumerator {c.name!r} = {v} does not fit 64 bits", path=self.path,
                                     section=".debug_info", offset=c.offset)
            signed = signed or v < 0
            values.append((c.name, v))
        self._b.add_enum(name, size, signed, values, wide=size == 8)

    def _emit_record(self, die: Die, name: str, size: int, first: int) -> None:
        b = self._b
        union = die.tag == dw.TAG_union_type
        if die.get(dw.AT_declaration):
            b.add_fwd(name, union)
            return
        rid = b.add_composite(Kind.UNION if union else Kind.STRUCT, name, size)
        tags: list[tuple[str, int]] = [(v, -1) for v in _annotations(die, "btf_decl_tag")]
        index = 0
        bitfields = False
        for c in die.children():
            if c.tag != dw.TAG_member:
                continue
            bit_off, bit_size = _member_place(c, self.little, self.path)
            bitfields = bitfields or bool(bit_size) or bit_off % 8 != 0
            b.add_member(rid, c.name, self._tid(c.ref(dw.AT_type)), bit_off, bit_size)
            tags.extend((v, index) for v in _annotations(c, "btf_decl_tag"))
            index += 1
        if bitfields and size * 8 > 0xFFFFFF:
            raise MalformedInput(f"{'union' if union else 'struct'} {name or '(anonymous)'} of {size} bytes has "
                                 "bitfields beyond what BTF can place", path=self.path, section=".debug_info",
                                 offset=die.offset)
        for value, component in tags:
            b.add_decl_tag(value, first, component)

    @property
    def little(self) -> bool:
        return self.dwarf.little

    def _origin_of(self, die: Die) -> Origin:
        a = die.attrs
        file = None
        line = a.get(dw.AT_decl_line)
        f = a.get(dw.AT_decl_file)
        if isinstance(f, int):
            file = die.unit.file_name(f)
        align = a.get(dw.AT_alignment)
        return Origin(die.offset, file, line if isinstance(line, int) else None,
                      align if isinstance(align, int) and align > 0 else None)


def _annotations(die: Die, kind: str) -> list[str]:
    """The values of a DIE's ``DW_TAG_LLVM_annotation`` children named ``kind`` (clang's
    ``btf_type_tag``/``btf_decl_tag``)."""
    out = []
    for c in die.children():
        if c.tag == dw.TAG_LLVM_annotation and c.name == kind:
            v = c.get(dw.AT_const_value)
            if isinstance(v, str):
                out.append(v)
    return out


def _udata(v, die: Die, what: str) -> int:
    if v is None:
        return 0
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFFFFFF:
        raise MalformedInput(f"{what} {v!r} out of range", path=die.unit.dwarf.path, section=".debug_info",
                             offset=die.offset)
    return v


def _count(sub: Die, path) -> int:
    """Elements of one array dimension: ``DW_AT_count``, or ``upper - lower + 1`` (0 when unknown)."""
    a = sub.attrs
    forms = sub.unit.forms(sub.index)
    if dw.AT_count in a:
        n = a[dw.AT_count]
        if forms.get(dw.AT_count) in dw.REF_FORMS or not isinstance(n, int):
            return 0  # a variable-length array
    elif dw.AT_upper_bound in a:
        up = a[dw.AT_upper_bound]
        if forms.get(dw.AT_upper_bound) in dw.REF_FORMS or not isinstance(up, int):
            return 0
        if forms.get(dw.AT_upper_bound) in dw.DATA_FORMS and up == (1 << (8 * _form_width(forms[dw.AT_upper_bound]))) - 1:
            return 0  # -1 written as an unsigned constant: no elements
        low = a.get(dw.AT_lower_bound, 0)
        n = up - (low if isinstance(low, int) else 0) + 1
    else:
        return 0
    if not 0 <= n <= 0xFFFFFFFF:
        raise MalformedInput(f"array dimension of {n} elements", path=path, section=".debug_info", offset=sub.offset)
    return n


def _form_width(form: int) -> int:
    return {dw.FORM_data1: 1, dw.FORM_data2: 2, dw.FORM_data4: 4, dw.FORM_data8: 8}[form]


def _member_place(m: Die, little: bool, path) -> tuple[int, int]:
    """(bit offset, bitfield size or 0) of a member DIE."""
    a = m.attrs
    bit_size = a.get(dw.AT_bit_size, 0)
    if not isinstance(bit_size, int) or not 0 <= bit_size <= 255:
        raise MalformedInput(f"member {m.name!r}: bit size {bit_size!r}", path=path, section=".debug_info",
                             offset=m.offset)
    if dw.AT_data_bit_offset in a:
        off = a[dw.AT_data_bit_offset]
        if not isinstance(off, int) or off < 0:
            raise MalformedInput(f"member {m.name!r}: bit offset {off!r}", path=path, section=".debug_info",
                                 offset=m.offset)
        return off, bit_size
    byte = 0
    loc = a.get(dw.AT_data_member_location)
    if isinstance(loc, bytes):
        byte = _plus_uconst(loc, m, path)
    elif isinstance(loc, int) and not isinstance(loc, bool):
        byte = loc
    elif loc is not None:
        raise MalformedInput(f"member {m.name!r}: location {loc!r}", path=path, section=".debug_info",
                             offset=m.offset)
    if byte < 0:
        raise MalformedInput(f"member {m.name!r} at negative offset {byte}", path=path, section=".debug_info",
                             offset=m.offset)
    off = byte * 8
    if bit_size and dw.AT_bit_offset in a:
        # DWARF 2/3: the bitfield's offset counts from the most significant bit of a storage
        # unit of DW_AT_byte_size bytes (or the type's size) that starts at the location
        unit = a.get(dw.AT_byte_size)
        if not isinstance(unit, int) or unit <= 0:
            t = m.ref(dw.AT_type)
            for _ in range(MAX_CHAIN):
                if t is None or dw.AT_byte_size in t.attrs:
                    break
                t = t.ref(dw.AT_type)
            unit = t.get(dw.AT_byte_size, 0) if t is not None else 0
        from_top = a[dw.AT_bit_offset]
        if not isinstance(from_top, int):
            raise MalformedInput(f"member {m.name!r}: bit offset {from_top!r}", path=path, section=".debug_info",
                                 offset=m.offset)
        if from_top >= 1 << 63:
            from_top -= 1 << 64  # DW_FORM_dataN holding a negative offset (a bitfield spilling over)
        rel = unit * 8 - from_top - bit_size if little else from_top
        off += rel
        if off < 0:
            raise MalformedInput(f"member {m.name!r}: bitfield before the record", path=path, section=".debug_info",
                                 offset=m.offset)
    return off, bit_size


def _plus_uconst(expr: bytes, m: Die, path) -> int:
    """A member location expression: ``DW_OP_plus_uconst N`` or ``DW_OP_constu N`` (what compilers write)."""
    from bpfinspect.dwarf.encoding import uleb
    if expr and expr[0] in (dw.OP_plus_uconst, dw.OP_constu):
        v, end = uleb(expr, 1, ".debug_info")
        if end == len(expr):
            return v
    raise MalformedInput(f"member {m.name!r}: location expression {expr.hex()} is not a constant offset",
                         path=path, section=".debug_info", offset=m.offset)


def describe_file(name: str) -> str:
    """A file name as the line table gives it, without a leading ``./``."""
    return os.path.normpath(name) if name else name
