"""What a C skeleton shows of an object: the records its template renders.

The order of everything follows the order in which libbpf (1.x) creates
maps and programs, because the struct members have to be where bpftool's
skeleton puts them:

* maps: legacy ``maps`` definitions, then ``.maps``, then one map per
  non-empty data section (``.data*``, ``.rodata*`` PROGBITS, ``.bss*``
  NOBITS) in ELF section order, then ``.kconfig`` when the object has
  Kconfig externs, then the ``.struct_ops`` and ``.struct_ops.link`` maps;
* programs: every function outside ``.text``, in section order, then by
  offset;
* links: one per program, then one per struct_ops map;
* data sections: a pointer to a struct of the section's non-static
  variables in offset order, gaps filled with ``char __padN[K]`` where the
  C alignment of the next variable would not reach its offset (bpftool's
  rule), nothing after the last variable.

Names and clashes
-----------------

Every name reaches the header through :mod:`bpfinspect.quote.c`: identifiers
by its rules (other characters than ASCII letters, digits and ``_`` become
``_``, a leading digit gets ``_`` in front, a keyword or a macro of the
includes or of the compilers gets ``_`` appended), texts for libbpf as string
literals, texts shown in comments by its comment rules.

* The skeleton is called after ``--name`` or bpftool's object name (file
  name without ``.o``, other characters than letters and digits as ``_``),
  made an identifier valid in C and C++ (``1st-prog.v2.bpf.o`` ->
  ``_1st_prog_v2_bpf``, ``linux`` -> ``linux_``); it gets ``_`` appended while
  a name made from it (``__LINUX__SKEL_H__``, ``linux___N``...) is a macro.
  libbpf is given the name before the identifier rules (``1st_prog_v2_bpf``),
  as bpftool does, so data-section map names (``1st_prog.rodata``) match.
* Maps, programs and variables keep their own names when they are
  identifiers.  A name that is a C++ keyword only (``new``, ``class``...)
  gets ``_`` appended in C++ and stays unchanged in C.  The skeleton's own
  macros (``<name>__N``, ``<name>__ASSERT``, ``<name>__SEC``, the include
  guard) count as macros for every name.
* Inside ``maps``: names from the source (``.maps``, legacy and struct_ops
  maps) are taken first; a data-section or Kconfig map whose member name is
  taken gets ``_2`` (then ``_3``...) appended: a map called ``bss`` next to
  ``.bss`` gives ``maps.bss`` (the user's map) and ``maps.bss_2``.
* Inside ``progs``: program names; a repeat (two names that become the same
  identifier, or odd legacy programs) gets ``_2``...
* Inside ``links``: program names first, then struct_ops maps, repeats
  getting ``_2``...
* Top level: ``skeleton``, ``obj``, ``maps``, ``progs``, ``links`` and the
  C++ member functions are reserved; data sections whose names give the same
  identifier (``.data.a-b`` and ``.data.a_b``) get ``_2``... in section order.
* Inside a data section: variables whose names give the same identifier get
  ``_2``... in offset order; padding members are ``__padN`` with N counting
  from 0 and skipping any number whose name a variable already uses.
* Types (``--types``, and the type names in declarations): see
  :mod:`bpfinspect.skel.c_names`.  A struct, union, enum or typedef name the
  globals' types use that equals a name the skeleton defines (``struct
  <name>``, ``struct <name>__data``, ``<name>__open``...) is refused (exit 2,
  naming both): rename the skeleton with ``--name``.
"""

from __future__ import annotations

from collections import namedtuple

from bpfinspect.quote import c as qc
from bpfinspect.quote.c import Code

RESERVED_TOP = ("skeleton", "obj", "maps", "progs", "links",
                "open", "open_and_load", "load", "attach", "detach", "destroy", "elf_bytes")


# The model's classes are written out rather than made by dataclasses: importing it (with the
# inspect, ast, dis and tokenize it brings) cost every C skeleton a few milliseconds of start-up.

class Name(namedtuple("Name", "c cxx")):
    """A member name: ``c`` in C, ``cxx`` in C++ (equal unless ``c`` is a C++ keyword)."""

    __slots__ = ()

    @property
    def differs(self) -> bool:
        return self.c != self.cxx


def member_name(raw: str, avoid=()) -> Name:
    """The C and C++ spellings of a member called ``raw`` (``avoid``: the skeleton's macros)."""
    c = qc.ident(raw, extra=avoid)
    return Name(c, qc.ident(c, cxx=True, extra=avoid))


class NameSpace:
    """Hands out unique member names in one struct (rule: append ``_2``, ``_3``...)."""

    def __init__(self, reserved=(), avoid=()) -> None:
        self.taken: set[str] = set(reserved)
        self.avoid = frozenset(avoid)
        # (C, C++ spelling) of a base -> the number its next numbered form starts from: the
        # names only grow, so a name repeated N times costs N steps, not N**2 / 2
        self._next: dict[tuple[str, str], int] = {}

    def _unusable(self, name: Name) -> bool:
        return (name.c in self.taken or name.cxx in self.taken or qc.is_reserved(name.c, False, self.avoid)
                or qc.is_reserved(name.cxx, True, self.avoid))

    def take(self, raw: str) -> Name:
        base = member_name(raw, self.avoid)
        name = base
        if self._unusable(name):
            base = Name(Code(qc.numbering_base(base.c, "_")), Code(qc.numbering_base(base.cxx, "_")))
            key = (base.c, base.cxx)
            n = self._next.get(key, 2)
            name = Name(Code(f"{base.c}_{n}"), Code(f"{base.cxx}_{n}"))
            while self._unusable(name):
                n += 1
                name = Name(Code(f"{base.c}_{n}"), Code(f"{base.cxx}_{n}"))
            self._next[key] = n + 1
        self.taken.add(name.c)
        self.taken.add(name.cxx)
        return name


class SkelMap:
    """A map of the skeleton: ``member`` (its Name), ``libbpf_name`` (the name libbpf gives the
    map, which the skeleton looks up), ``kind`` (user, legacy, data, kconfig, struct_ops,
    struct_ops_link), ``mmaped`` (the top-level data-section member bound to the map's memory),
    ``link`` (the links member of a struct_ops map), ``in_skeleton`` (listed in
    bpf_object_skeleton.maps; else looked up after open), ``note`` (a trailing C comment with
    its leading space, or ''), ``name_expr`` (libbpf_name as a C expression: a literal or a
    static array), ``name_decl`` (the static array's declaration, for a name too long for a
    literal)."""

    __slots__ = ("member", "libbpf_name", "kind", "mmaped", "link", "in_skeleton", "note", "name_expr",
                 "name_decl")

    def __init__(self, member: Name, libbpf_name: str, kind: str, mmaped: Name | None = None,
                 link: Name | None = None, in_skeleton: bool = True, note: Code = Code(""),
                 name_expr: Code = Code(""), name_decl: Code | None = None) -> None:
        self.member = member
        self.libbpf_name = libbpf_name
        self.kind = kind
        self.mmaped = mmaped
        self.link = link
        self.in_skeleton = in_skeleton
        self.note = note
        self.name_expr = name_expr
        self.name_decl = name_decl


class SkelProg:
    """A program of the skeleton: its member and links member, its name, and that name as a C
    expression (and the static array it needs, if any)."""

    __slots__ = ("member", "link", "name", "name_expr", "name_decl")

    def __init__(self, member: Name, link: Name, name: str, name_expr: Code = Code(""),
                 name_decl: Code | None = None) -> None:
        self.member = member
        self.link = link
        self.name = name
        self.name_expr = name_expr
        self.name_decl = name_decl


class SkelMember:
    """A member of a data section's struct: ``decl`` (its C declaration without ';', the name in
    C spelling; set once types are written), ``decl_cxx`` (the same in C++ spelling), ``name``
    (None for padding), ``offset``, ``size``, ``type_id``, ``strip``, and the __assert messages
    ``size_msg`` and ``offset_msg`` (string literals)."""

    __slots__ = ("decl", "decl_cxx", "name", "offset", "size", "type_id", "strip", "size_msg", "offset_msg")

    def __init__(self, decl: Code | None, decl_cxx: Code | None, name: Name | None, offset: int, size: int,
                 type_id: int = 0, strip: bool = True, size_msg: Code = Code(""),
                 offset_msg: Code = Code("")) -> None:
        self.decl = decl
        self.decl_cxx = decl_cxx
        self.name = name
        self.offset = offset
        self.size = size
        self.type_id = type_id
        self.strip = strip
        self.size_msg = size_msg
        self.offset_msg = offset_msg


class SkelDatasec:
    """A data section: its top-level pointer ``member``, its struct ``tag`` (<skel>__<member>),
    ``section``, ``size`` and ``members``."""

    __slots__ = ("member", "tag", "section", "size", "members")

    def __init__(self, member: Name, tag: Code, section: str, size: int,
                 members: list[SkelMember] | None = None) -> None:
        self.member = member
        self.tag = tag
        self.section = section
        self.size = size
        self.members = [] if members is None else members


class SkelModel:
    """The whole skeleton: ``ident`` (the C identifier: struct tag, function prefix),
    ``libbpf_name`` (bpf_object_skeleton.name), ``guard``, ``maps``, ``progs``, ``datasecs``,
    ``types_text`` (definitions for --types; '' otherwise) and ``types_text_cxx`` (the same for
    C++, where tags and typedefs share one name space), ``data`` (the object's bytes),
    ``warnings``, ``name_expr`` (libbpf_name as a C expression) and ``name_decl``, ``banner``
    (the object's name as the header's first comment shows it), ``type_asserts`` ((C, C++)
    assert lines of each --type type)."""

    __slots__ = ("ident", "libbpf_name", "guard", "maps", "progs", "datasecs", "types_text", "types_text_cxx",
                 "data", "warnings", "name_expr", "name_decl", "banner", "type_asserts")

    def __init__(self, ident: Code, libbpf_name: str, guard: Code, maps: list[SkelMap], progs: list[SkelProg],
                 datasecs: list[SkelDatasec], types_text: Code, types_text_cxx: Code, data: bytes,
                 warnings: list[str], name_expr: Code = Code(""), name_decl: Code | None = None,
                 banner: Code = Code(""), type_asserts: list | None = None) -> None:
        self.ident = ident
        self.libbpf_name = libbpf_name
        self.guard = guard
        self.maps = maps
        self.progs = progs
        self.datasecs = datasecs
        self.types_text = types_text
        self.types_text_cxx = types_text_cxx
        self.data = data
        self.warnings = warnings
        self.name_expr = name_expr
        self.name_decl = name_decl
        self.banner = banner
        self.type_asserts = [] if type_asserts is None else type_asserts

    @property
    def create_decls(self) -> list[Code]:
        """Static arrays __create_skeleton needs for names too long for a literal."""
        out = [self.name_decl] + [m.name_decl for m in self.skeleton_maps] + [p.name_decl for p in self.progs]
        return [d for d in out if d is not None]

    @property
    def open_decls(self) -> list[Code]:
        return [m.name_decl for m in self.late_maps if m.name_decl is not None]

    @property
    def struct_ops_links(self) -> list[SkelMap]:
        return [m for m in self.maps if m.link is not None]

    @property
    def skeleton_maps(self) -> list[SkelMap]:
        return [m for m in self.maps if m.in_skeleton]

    @property
    def late_maps(self) -> list[SkelMap]:
        return [m for m in self.maps if not m.in_skeleton]

    @property
    def any_typed_member(self) -> bool:
        """Some data-section member has a type from BTF (not just bytes)."""
        return any(v.type_id for d in self.datasecs for v in d.members)

    @property
    def any_cxx_rename(self) -> bool:
        names = [m.member for m in self.maps] + [m.link for m in self.maps if m.link] + \
            [p.member for p in self.progs] + [p.link for p in self.progs] + [d.member for d in self.datasecs] + \
            [v.name for d in self.datasecs for v in d.members if v.name is not None]
        return any(n.differs for n in names)
