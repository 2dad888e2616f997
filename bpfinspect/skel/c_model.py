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

Names (see :mod:`bpfinspect.skel.names` for identifiers) and clashes
------------------------------------------------------------------------

* The skeleton is called after ``--name`` or bpftool's object name (file
  name without ``.o``, other characters than letters and digits as ``_``),
  made a C identifier (``1st-prog.v2.bpf.o`` -> ``_1st_prog_v2_bpf``).
  libbpf is given the name before the identifier fix (``1st_prog_v2_bpf``),
  as bpftool does, so data-section map names (``1st_prog.rodata``) match.
* Maps, programs and variables keep their own names in C.  A name that is a
  C++ keyword only (``new``, ``class``...) gets ``_`` appended in C++ and
  stays unchanged in C.
* Inside ``maps``: names from the source (``.maps``, legacy and struct_ops
  maps) are taken first; a data-section or Kconfig map whose member name is
  taken gets ``_2`` (then ``_3``...) appended: a map called ``bss`` next to
  ``.bss`` gives ``maps.bss`` (the user's map) and ``maps.bss_2``.
* Inside ``progs``: program names; a repeat (only possible with unnamed or
  odd legacy programs) gets ``_2``...
* Inside ``links``: program names first, then struct_ops maps, repeats
  getting ``_2``...
* Top level: ``skeleton``, ``obj``, ``maps``, ``progs``, ``links`` and the
  C++ member functions are reserved; data sections whose names sanitise to
  the same identifier (``.data.a-b`` and ``.data.a_b``) get ``_2``... in
  section order.
* Inside a data section: padding members are ``__padN`` with N counting
  from 0 and skipping any number whose name a variable already uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.skel.names import KEYWORDS, sanitize

# C keywords: no member may have these names in C either (C++ adds more: names.KEYWORDS).
_C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
""".split())

RESERVED_TOP = ("skeleton", "obj", "maps", "progs", "links",
                "open", "open_and_load", "load", "attach", "detach", "destroy", "elf_bytes")


@dataclass
class Name:
    """A member name: ``c`` in C, ``cxx`` in C++ (equal unless ``c`` is a C++ keyword)."""
    c: str
    cxx: str

    @property
    def differs(self) -> bool:
        return self.c != self.cxx


def member_name(raw: str) -> Name:
    c = sanitize(raw) or "_"
    if c[0].isdigit():
        c = "_" + c
    if c in _C_KEYWORDS:
        c += "_"
    cxx = c + "_" if c in KEYWORDS else c
    return Name(c, cxx)


class NameSpace:
    """Hands out unique member names in one struct (rule: append ``_2``, ``_3``...)."""

    def __init__(self, reserved=()) -> None:
        self.taken: set[str] = set(reserved)

    def take(self, raw: str) -> Name:
        base = member_name(raw)
        name = base
        n = 2
        while name.c in self.taken or name.cxx in self.taken:
            name = Name(f"{base.c}_{n}", f"{base.c}_{n}" if not base.differs else f"{base.cxx}_{n}")
            n += 1
        self.taken.add(name.c)
        self.taken.add(name.cxx)
        return name


@dataclass
class SkelMap:
    member: Name
    libbpf_name: str          # the name libbpf gives the map (what the skeleton looks up)
    kind: str                 # user, legacy, data, kconfig, struct_ops, struct_ops_link
    mmaped: Name | None = None  # top-level data-section member bound to the map's memory
    link: Name | None = None    # links member (struct_ops maps)
    in_skeleton: bool = True  # listed in bpf_object_skeleton.maps (else looked up after open)
    note: str = ""            # a trailing C comment (with its leading space) or ''


@dataclass
class SkelProg:
    member: Name
    link: Name
    name: str


@dataclass
class SkelMember:
    decl: str                 # C declaration (without ';'), name in C spelling
    decl_cxx: str             # same in C++ spelling
    name: Name | None         # None for padding
    offset: int
    size: int
    type_id: int = 0
    strip: bool = True


@dataclass
class SkelDatasec:
    member: Name              # top-level pointer member
    tag: str                  # struct tag: <skel>__<member>
    section: str
    size: int
    members: list[SkelMember] = field(default_factory=list)


@dataclass
class SkelModel:
    ident: str                # C identifier of the skeleton (struct tag, function prefix)
    libbpf_name: str          # bpf_object_skeleton.name
    guard: str
    maps: list[SkelMap]
    progs: list[SkelProg]
    datasecs: list[SkelDatasec]
    types_text: str           # definitions for --types ('' otherwise)
    types_text_cxx: str       # the same for C++ (tags and typedefs share one name space there)
    data: bytes
    warnings: list[str]

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
    def any_cxx_rename(self) -> bool:
        names = [m.member for m in self.maps] + [m.link for m in self.maps if m.link] + \
            [p.member for p in self.progs] + [p.link for p in self.progs] + [d.member for d in self.datasecs] + \
            [v.name for d in self.datasecs for v in d.members if v.name is not None]
        return any(n.differs for n in names)
