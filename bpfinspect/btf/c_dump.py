"""BTF rendered as C: the ``vmlinux.h`` printer, and C declarations for code generators.

Output is byte for byte what ``bpftool btf dump file X format c`` (7.1) prints.
A header is made in three steps, one module each:

1. :mod:`bpfinspect.btf.order` decides what is written where: each root
   (every id from 1 up, newer bpftool's sorted order, or the ids asked for)
   is *ordered* (what it needs first is queued) and the queue *emitted*
   (definitions, and the forward declarations they need), giving a list of
   items;
2. :mod:`bpfinspect.btf.c_render` writes each item, in order: struct and
   union bodies laid out by :mod:`bpfinspect.btf.layout` (padding, packed),
   members, typedefs and prototypes spelled by :mod:`bpfinspect.btf.decl`,
   names resolved as they are first printed (``___2`` for a later claimant);
3. this module wraps the text in bpftool's guards and
   ``preserve_access_index`` pragma block (left out with ``guards=False``).

Public API (for the CLI, the skeleton generators and ``expand``)
===============================================================

``c_text(btf, ids=None, *, guards=True, sort=False) -> str``
    The whole header, or just the types ``ids`` and what they need.
``CDumper(btf, table=None, *, names=None, style=None, renderer=CRenderer)``
    ``names`` is the identifier hook (:class:`bpfinspect.btf.decl.Names`; default
    :class:`~bpfinspect.btf.c_render.DumpNames`, bpftool's ``___N``), ``style`` the
    declarator options (:class:`bpfinspect.btf.decl.DeclStyle`), ``renderer`` the class
    that writes each item (a subclass of :class:`~bpfinspect.btf.c_render.CRenderer` may
    leave items out or add attributes; it is called with the table and the keywords
    ``names``, ``layout``, ``budget``, ``style``);
    ``dump(ids=None, *, guards=True, sort=False) -> str`` as above;
    ``sorted_ids() -> list[int]``; ``raw_name(type_id) -> str``.
``CDeclarations(btf, table=None, *, abbreviate=False, names=None, style=None, renderer=CRenderer)``
(a CDumper; the C skeleton gives its own identifier hook, style and renderer) adds:
    ``decl(type_id, name="", lvl=0, strip_mods=False, *, indent=None) -> str``:
    a declaration of ``name`` with that type as bpftool's skeletons and
    headers write it, e.g. ``'char comm[16]'``, ``'int (*cb)(void *)'``; with
    no name just the type (``'char[16]'``).  Anonymous types are written in
    full, inline, indented ``indent`` tabs (``struct {...}`` when
    ``abbreviate``); ``strip_mods`` drops qualifiers and type tags everywhere
    in the declaration (bpftool's skeleton does so for ``.rodata``).
    ``definition(type_id) -> str``: the C definition of a struct, union, enum
    or typedef in the printer's style, ending with ``;``.
    ``dependencies(type_ids) -> str``: C text defining everything those types
    need and the types themselves, in printer order, without guards.  Calls
    share one name space: a name printed once keeps its ``___N`` suffix, a
    type defined once is not repeated.
    ``sizeof(type_id)`` and ``alignof(type_id)``: libbpf's size (negative when
    the type has none) and alignment (:mod:`bpfinspect.btf.layout`).
All of them raise :class:`~bpfinspect.errors.MalformedInput` on hostile BTF
(cycles, ids out of range, names outside the string table, text beyond
:func:`~bpfinspect.btf.table.output_limit`): every walk is depth-limited, and a RecursionError
never escapes.
"""

from __future__ import annotations

from bpfinspect.btf.c_render import Budget, CRenderer, DumpNames
from bpfinspect.btf.decl import DeclStyle, Names
from bpfinspect.btf.layout import Layout
from bpfinspect.btf.order import Walk, sorted_roots
from bpfinspect.btf.table import Table, output_limit
from bpfinspect.errors import MalformedInput

HEADER = ("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
          "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
          "#endif\n\n")
FOOTER = ("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
          "#endif /* __VMLINUX_H__ */\n")

class CDumper:
    """Renders the types of a BTF blob as C (see the module docstring)."""

    abbreviate = False

    def __init__(self, btf, table: Table | None = None, *, names: Names | None = None,
                 style: DeclStyle | None = None, renderer=CRenderer) -> None:
        t = table or btf.table
        self.btf = btf
        self.t = t
        self.n = t.count + 1
        self.layout = Layout(t) if table is not None else btf.layout
        self.namer = names or DumpNames(t)
        self.budget = Budget(output_limit(btf), t.path, t.section)
        if style is None:
            style = DeclStyle(anon="braces" if self.abbreviate else "inline")
        self.render = renderer(t, names=self.namer, layout=self.layout, budget=self.budget, style=style)
        self.walk = Walk(t)
        self._done = 0   # items of the walk already rendered

    def fail(self, what: str):
        raise MalformedInput(what, path=self.t.path, section=self.t.section)

    def _guard(self, fn, *args):
        """Run ``fn``; an out-of-range id (an IndexError in our tables) or a nesting too deep
        for Python becomes MalformedInput."""
        try:
            return fn(*args)
        except IndexError:
            self.fail("a type refers to a type id that does not exist, or a record is cut short")
        except RecursionError:
            self.fail("type graph nests too deeply (cycle?)")

    def raw_name(self, tid: int) -> str:
        return self.t.strs[self.t.w[self.t.pos[tid]]] if tid else ""

    def sorted_ids(self) -> list[int]:
        return sorted_roots(self.t)

    def dump(self, ids=None, *, guards: bool = True, sort: bool = False) -> str:
        """The C text for every type (or for ``ids`` and what they need)."""
        if ids is None:
            # A whole header prints about half of the names, which lie together: decode them a
            # chunk of the section at a time.
            self.t.strs.load_by_chunk()
            roots = self.sorted_ids() if sort else ()
            id_order = not sort
        else:
            roots = list(ids)
            self.walk.check_roots(roots)
            id_order = False
        return self._guard(self._body, roots, id_order, guards)

    # Whether the roots given are the types of declarations written after the items (see
    # Walk.run's ``declare``): for code generators.
    declare_roots = False

    def _body(self, roots, id_order: bool, guards: bool = False) -> str:
        items = self.walk.run(roots, id_order, self.declare_roots and not id_order)
        new = items[self._done:]
        self._done = len(items)
        item = self.render.item
        budget = self.budget
        texts = [item(i) for i in new]
        budget.spend(sum(map(len, texts)))
        if guards:
            # (one join: the header's text is never copied again to add the guards)
            texts.insert(0, HEADER)
            texts.append(FOOTER)
        return "".join(texts)


class CDeclarations(CDumper):
    """C declarations and definitions of single types, for code generators.

    ``CDeclarations(btf, abbreviate=True)`` writes anonymous structs, unions and enums met
    in a declaration as ``struct {...}`` (a short display name) instead of in full.
    """

    def __init__(self, btf, table: Table | None = None, *, abbreviate: bool = False,
                 names: Names | None = None, style: DeclStyle | None = None, renderer=CRenderer) -> None:
        self.abbreviate = abbreviate
        super().__init__(btf, table, names=names, style=style, renderer=renderer)

    @property
    def names(self) -> dict:
        """type id -> the name printed for it (``___N`` included), for the types named so far."""
        return self.namer.resolved

    @property
    def tag_counts(self) -> dict:
        return self.namer.tag_counts

    @property
    def ident_counts(self) -> dict:
        return self.namer.ident_counts

    @ident_counts.setter
    def ident_counts(self, counts: dict) -> None:
        # (the same dict as tag_counts: one name space for tags and identifiers, as in C++)
        self.namer.ident_counts = counts

    def decl(self, tid: int, fname: str = "", lvl: int = 0, strip_mods: bool = False, *,
             indent: int | None = None) -> str:
        if indent is not None:
            lvl = indent
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(self.render.decl.decl, tid, fname, lvl, strip_mods)

    def definition(self, tid: int) -> str:
        if not 0 < tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(self.render.definition, tid)

    declare_roots = True

    def dependencies(self, type_ids) -> str:
        """The definitions that declarations of ``type_ids`` need, in order."""
        return self.dump(list(type_ids), guards=False)

    def sizeof(self, tid: int) -> int:
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(self.layout.sizeof, tid)

    def alignof(self, tid: int) -> int:
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(self.layout.alignof, tid)


def c_text(btf, ids=None, *, guards: bool = True, sort: bool = False, table: Table | None = None) -> str:
    """The whole C rendering of ``btf`` (what ``bpftool btf dump file X format c`` prints)."""
    return CDumper(btf, table).dump(ids, guards=guards, sort=sort)
