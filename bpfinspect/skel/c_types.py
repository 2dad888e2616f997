"""C declarations and definitions of BTF types, as a user-space header needs them.

A thin layer over :class:`bpfinspect.btf.c_dump.CDeclarations` (the BTF to C
printer) with what a header compiled by gcc/g++ for the host needs on top:

* the printer is given a copy of the BTF whose names are the skeleton's
  (:mod:`bpfinspect.skel.c_names`: identifiers only, nothing a macro or a
  keyword, nothing the includes declare, unique where C needs it), one copy
  for C and one for C++;
* types the includes define already (``__u32``, ``struct bpf_spin_lock``,
  ``bool``...) are not defined again;
* ``btf_type_tag``/``btf_decl_tag`` attributes are dropped (only clang
  targeting BPF knows them; gcc warns about unknown attributes);
* the definitions are wrapped so that ``-Wpedantic`` accepts what BTF
  legitimately describes but ISO C does not (64-bit enumerators, bit-fields
  of types other than ``int``, ``__attribute__((packed))``): they stand
  between ``#pragma GCC diagnostic push``/``pop`` with ``-Wpedantic``
  ignored, which gcc and clang both understand.
"""

from __future__ import annotations

import re

from bpfinspect.btf.c_dump import CDeclarations

# An attribute of one tag: the string may contain escaped quotes.
_TAG_ATTR = re.compile(r'\s*__attribute__\(\(btf_(?:type|decl)_tag\("(?:[^"\\]|\\.)*"\)\)\)')
_TAG_BLOCK = re.compile(r"(?:struct|union|enum) (\w+)\b[^;]*\{")
_TYPEDEF_BLOCK = re.compile(r"typedef [^{]*?\b(\w+)(?:\[[^\]]*\])*;\s*")
# A typedef of an anonymous record or enum (``typedef struct { int val[2]; } __kernel_fsid_t;``).
_TYPEDEF_RECORD = re.compile(r"typedef (?:struct|union|enum) \{.*\n\} (\w+);\s*", re.S)
_EMPTY_RECORD = re.compile(r"(?:struct|union) \w+ \{\};")
# ISO C has no negative integer literals: -9223372036854775808LL is minus an out-of-range value.
_INT64_MIN = "-9223372036854775808LL"


def _strip_tags(text: str) -> str:
    if "btf_" not in text:
        return text
    return _TAG_ATTR.sub("", text)


# Host-safe spellings: a base type whose C name gives another size on some host than it has in BPF
# (``long double`` is 8 bytes in BPF, 16 on x86-64 and 12 on i386; ``long`` is 8 bytes in BPF and 4
# on 32-bit hosts) is written as a type of BPF's size on every host.
HOST_SAFE = {
    ("float", 8, "long double"): "double",
    ("int", 8, "long"): "long long", ("int", 8, "long int"): "long long",
    ("int", 8, "unsigned long"): "unsigned long long", ("int", 8, "long unsigned int"): "unsigned long long",
    ("int", 8, "unsigned long int"): "unsigned long long",
}
HOST_SAFE_NOTE = ("Host-safe layouts: BPF's 8-byte long double is written double, its 8-byte long long long, "
                  "and record members and padding of 8-byte scalars use __bpf_a8_* typedefs aligned to 8 as in BPF "
                  "(32-bit x86 aligns them to 4), so that hosts give each member BPF's size and offset.")
ALIGNED_PREFIX = "__bpf_a8_"
_ALIGNED_TYPEDEF = re.compile(r"(typedef [^;{]*\b" + ALIGNED_PREFIX + r"\w*(?:\[\d*\])*);")
_LONG_PAD = re.compile(r"^(\t+)long: (\d+);$", re.M)


def host_safe(btf):
    """``btf`` with base types renamed by :data:`HOST_SAFE`, and the members of records whose type is an
    8-byte scalar (or an array of them) given an ``__bpf_a8_*`` typedef that the definitions align to 8 (the
    same table when nothing needs either); and whether anything changed."""
    import sys

    from bpfinspect.btf import Btf, Kind
    from bpfinspect.btf.writer import BtfBuilder, with_names

    renames = {}
    for tid in btf.ids():
        k = btf.kind(tid)
        if k in (Kind.INT, Kind.FLOAT):
            new = HOST_SAFE.get(("float" if k == Kind.FLOAT else "int", btf.size(tid), btf.name(tid)))
            if new:
                renames[tid] = new
    if renames:
        btf = with_names(btf, lambda tid, index, old: renames.get(tid, old) if index < 0 else old)
    wrap: dict[int, list[int]] = {}   # record id -> indexes of its members to wrap
    for tid in btf.ids():
        if btf.kind(tid) in (Kind.STRUCT, Kind.UNION) and _aligned_8(btf, tid):
            picks = [i for i, m in enumerate(btf.type(tid).members)
                     if (m.bitfield_size or m.bit_offset % 64 == 0) and _eight_byte_scalar(btf, m.type)]
            if picks:
                wrap[tid] = picks
    if not wrap:
        return btf, bool(renames)
    out = BtfBuilder()
    for tid in btf.ids():
        out.add_type(btf, tid)
    typedefs: dict[str, int] = {}   # spelling of the member's type -> its aligned typedef
    for rid, picks in wrap.items():
        words = out.types[rid - out.start_id]
        for i in picks:
            target = words[3 + 3 * i + 1]
            spelled = btf.type_name(target)
            if spelled not in typedefs:
                name = ALIGNED_PREFIX + re.sub(r"\W+", "_", spelled).strip("_")
                typedefs[spelled] = out.add_ref(Kind.TYPEDEF, target, name)
            words[3 + 3 * i + 1] = typedefs[spelled]
    return Btf(out.raw(sys.byteorder), path=btf.path, section=btf.section), True


def _aligned_8(btf, tid: int) -> bool:
    try:
        return btf.alignof(tid) == 8
    except Exception:   # a record the layout engine cannot place: left as it is
        return False


def _eight_byte_scalar(btf, tid: int) -> bool:
    """An integer, enum or float of 8 bytes (through typedefs, qualifiers and arrays)."""
    from bpfinspect.btf import Kind
    for _ in range(64):
        tid = btf.resolve(tid)
        k = btf.kind(tid)
        if k == Kind.ARRAY:
            tid = btf.type(tid).array.type
            continue
        return k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64) and btf.size(tid) == 8
    return False


class Types:
    """Declarations (``decl``) and definitions (``definitions``) of one object's BTF types.

    ``host_safe``: base types written with :data:`HOST_SAFE`'s spellings (``self.renamed_base`` tells
    whether any was)."""

    def __init__(self, btf, cxx: bool = False, avoid=(), host_safe_types: bool = False) -> None:
        from bpfinspect.btf import Kind
        from bpfinspect.btf.writer import flattened
        from bpfinspect.skel.c_names import BtfNames

        self.names = BtfNames(flattened(btf), cxx=cxx, avoid=avoid)
        self.btf = self.names.renamed()
        self.renamed_base = False
        if host_safe_types:
            self.btf, self.renamed_base = host_safe(self.btf)
        self.cd = CDeclarations(self.btf)
        if cxx:
            # C++ has one name space for tags and typedefs (the names are unique across both).
            self.cd.ident_counts = self.cd.tag_counts
        provided = self.names.provided
        self._provided_typedefs = {self.names.names[t] for t in provided if self.btf.kind(t) == Kind.TYPEDEF}
        self._provided_tags = {self.names.names[t] for t in provided if self.btf.kind(t) != Kind.TYPEDEF}
        self._sized_enums = None
        self.cxx = cxx

    def name(self, type_id: int) -> str:
        """The name type ``type_id`` has in this text (tags and typedefs)."""
        return self.names.names.get(type_id, "")

    def decl(self, type_id: int, name: str, indent: int = 2, strip_mods: bool = True) -> str:
        return _strip_tags(self.cd.decl(type_id, name, indent, strip_mods=strip_mods))

    def sizeof(self, type_id: int) -> int:
        return self.cd.sizeof(type_id)

    def alignof(self, type_id: int) -> int:
        return self.cd.alignof(type_id)

    def definitions(self, type_ids) -> str:
        """C text defining every type ``type_ids`` need, ready for a host header."""
        ids = [t for t in dict.fromkeys(type_ids) if t]
        if not ids:
            return ""
        text = _strip_tags(self.cd.dependencies(ids))
        text = text.replace(_INT64_MIN, "(-9223372036854775807LL - 1)")
        if self.renamed_base:
            # padding bitfields: long is 4 bytes on 32-bit hosts; the aligned typedefs get their alignment
            text, pads = _LONG_PAD.subn(r"\1" + ALIGNED_PREFIX + r"pad: \2;", text)
            text = _ALIGNED_TYPEDEF.sub(r"\1 __attribute__((aligned(8)));", text)
            if pads:
                text = f"typedef long long {ALIGNED_PREFIX}pad __attribute__((aligned(8)));\n\n" + text
        blocks = [b for b in text.split("\n\n") if b.strip()]
        kept = []
        sized = self.sized_enums()
        for b in blocks:
            b = b.strip("\n")
            m = _TYPEDEF_BLOCK.fullmatch(b) or _TYPEDEF_RECORD.fullmatch(b)
            if m and m.group(1) in self._provided_typedefs:
                continue
            m = _TAG_BLOCK.match(b)
            if m:
                if m.group(1) in self._provided_tags:
                    continue
                if b.startswith("enum ") and m.group(1) in sized and b.endswith("};"):
                    # An enum whose BTF size is not what C would choose for its values
                    # (packed enums; 64-bit enums from compilers without ENUM64).
                    mode, fixes = sized[m.group(1)]
                    for old, new in fixes:
                        b = b.replace(old, new)
                    b = b[:-1] + f" __attribute__((mode({mode})));"
                if self.cxx and _EMPTY_RECORD.fullmatch(b):
                    # An empty struct has size 0 in GNU C but 1 in C++; a zero-length
                    # array member (a GNU extension g++ and clang++ share) keeps it at 0.
                    b = b[:-2] + "\n\tchar __empty[0];\n};"
            kept.append(b)
        return "\n\n".join(kept) + "\n" if kept else ""

    def sized_enums(self) -> dict[str, tuple[str, list]]:
        """Enum name -> machine mode for enums C would not give their BTF size by itself."""
        if self._sized_enums is None:
            from bpfinspect.btf import Kind
            out = {}
            btf = self.btf
            modes = {1: "__QI__", 2: "__HI__", 8: "__DI__"}
            for tid in btf.ids():
                k = btf.kind(tid)
                if k not in (Kind.ENUM, Kind.ENUM64):
                    continue
                size = btf.size(tid)
                if size not in modes:
                    continue
                name = self.cd.names.get(tid) or btf.name(tid)
                if not name:
                    continue
                values = [(v.name, v.value) for v in btf.type(tid).values]
                fixes = []
                if size == 8:
                    if any(not -(1 << 31) <= v < (1 << 32) for _, v in values):
                        continue  # C already needs 8 bytes for these values
                else:
                    lo, hi = -(1 << (8 * size - 1)), 1 << (8 * size)
                    for vname, v in values:
                        if not lo <= v < hi and (1 << 31) <= v < (1 << 32) and lo <= v - (1 << 32):
                            # Old compilers do not record signedness: a negative value
                            # reads as a large 32-bit unsigned one.
                            fixes.append((f"\t{vname} = {v},", f"\t{vname} = {v - (1 << 32)},"))
                        elif not lo <= v < hi:
                            break
                    else:
                        out[name] = (modes[size], fixes)
                    continue
                out[name] = (modes[size], fixes)
            self._sized_enums = out
        return self._sized_enums
