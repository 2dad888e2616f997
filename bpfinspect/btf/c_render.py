"""C definitions of BTF types: structs, unions, enums, typedefs and forward declarations.

The text is what bpftool 7.1 writes for each (libbpf's ``btf_dump_emit_*_def``):

Struct and union
    ``struct NAME {`` (``struct {`` when anonymous, then written inline where
    it is used), one member per line, indented one tab deeper than the
    definition: its declaration (:mod:`bpfinspect.btf.decl`), ``: N`` for a
    bitfield, ``;``.  Before a member, and before the closing brace of a
    struct, come the unnamed bitfields that reproduce BTF's layout
    (:meth:`bpfinspect.btf.layout.Layout.plan`); then ``}`` on its own line
    (``{}`` on one line for a record with no members and no size) and
    `` __attribute__((packed))`` for a packed struct.
Enum
    ``enum NAME {`` and one ``NAME = VALUE,`` per enumerator (signed or not as
    ``kind_flag`` says; 64-bit values with ``LL``/``ULL``), ``}``; an enum with
    no enumerators is just ``enum NAME`` (a forward declaration).
Typedef
    ``typedef`` and the declaration of its name with the target type;
    GCC's ``__gnuc_va_list`` typedef of void becomes
    ``typedef __builtin_va_list __gnuc_va_list``, and the typedef
    ``__builtin_va_list`` itself is never written (the compiler has it).
Forward declarations
    ``struct NAME``/``union NAME``; a FWD type as its kind flag says.
Integers
    nothing, except GCC's ARM SIMD names (``__Poly8_t``...), which get a
    typedef to the standard type they alias.

Names (:class:`DumpNames`): struct, union and enum tags (and the names of
integers, which libbpf looks up in the same map) share one name space;
typedefs and enumerators another.  The first type to claim a name keeps it;
every later one gets ``___2``, ``___3``... -- a type claims its name the first
time it is printed and keeps what it got; an enumerator claims its name
every time it is printed.  Forward declarations and enums without values
never claim.  As everything is printed in text order, "first printed" is
"first in the output".

Bounds: a :class:`Budget` counts what is written; a text longer than it
allows (hostile BTF can nest anonymous types, or repeat one long name, to
grow the output without limit) stops the rendering with
:class:`~bpfinspect.errors.MalformedInput`.
"""

from __future__ import annotations

from bpfinspect.btf.decl import BPFTOOL, Declarator, DeclStyle, Names, NotPlain
from bpfinspect.btf.kinds import (BITFIELD_SHIFT, ENUM, ENUM64, FWD, INT, KFLAG_SHIFT, STRUCT,
                                  TYPEDEF, UNION, VLEN_MASK)
from bpfinspect.btf.layout import Layout
from bpfinspect.btf.table import TableView
from bpfinspect.errors import MalformedInput

_TABS = ["\t" * i for i in range(64)]
# How deep anonymous records may be written one inside the other (real kernels: fewer than 10).
# The bound is explicit, not Python's recursion limit, so that the compiled engine
# (bpfinspect.compiled), which does not count every call, stops where the interpreter does.
MAX_INLINE = 64

# libbpf's aliases for GCC's ARM SIMD integer types.
_MISSING_ALIASES = {"__Poly8_t": "unsigned char", "__Poly16_t": "unsigned short",
                    "__Poly64_t": "unsigned long long", "__Poly128_t": "unsigned __int128"}


def tabs(n: int) -> str:
    return _TABS[n] if n < 64 else "\t" * n


# A new line and the indent of each nesting level (member lines, filler lines).
_LINE_STARTS = ["\n" + t for t in _TABS]


class Budget:
    """How many more characters a rendering may write (see the module docstring)."""

    def __init__(self, limit: int, path=None, section=None) -> None:
        self.left = limit
        self.limit = limit
        self.path = path
        self.section = section

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            self.exceeded()

    def exceeded(self):
        raise MalformedInput(f"the C text would exceed {self.limit >> 20} MiB: this BTF nests or repeats "
                             "types beyond what a real program has", path=self.path, section=self.section)


class DumpNames(Names):
    """Names as the C printer writes them: clashes get ``___N`` in print order (see the module
    docstring).  ``one_space``: tags and identifiers share one name space (C++)."""

    def __init__(self, table, one_space: bool = False) -> None:
        super().__init__(table)
        self.one_space = one_space
        self.resolved: dict[int, str] = {}
        self.tag_counts: dict[str, int] = {}
        self.ident_counts: dict[str, int] = self.tag_counts if one_space else {}

    def _claim(self, tid: int, counts: dict) -> str:
        p = self.pos[tid]
        off = self.w[p]
        name = self.strs[off] if off else ""
        k = self.kinds[tid]
        if not off or k == FWD or (k == ENUM and not self.w[p + 1] & VLEN_MASK):
            r = name
        else:
            c = counts.get(name, 0) + 1
            counts[name] = c
            r = f"{name}___{c}" if c > 1 else name
        self.resolved[tid] = r
        return r

    def tag(self, tid: int) -> str:
        r = self.resolved.get(tid)
        return r if r is not None else self._claim(tid, self.tag_counts)

    def ident(self, tid: int) -> str:
        r = self.resolved.get(tid)
        return r if r is not None else self._claim(tid, self.ident_counts)

    def enumerators(self, tid: int, names: list) -> list:
        """The enumerator names of one printing of enum ``tid``, each claimed."""
        counts = self.ident_counts
        if counts.keys().isdisjoint(names):
            once = dict.fromkeys(names, 1)
            if len(once) == len(names):
                # Names nothing has claimed yet, each once: all of them as they are.
                counts.update(once)
                return names
        out = []
        for name in names:
            c = counts.get(name, 0) + 1
            counts[name] = c
            out.append(f"{name}___{c}" if c > 1 else name)
        return out


class CRenderer(TableView):
    """Definitions of the types of one table (see the module docstring).

    ``names`` resolves identifiers (default: :class:`DumpNames`); ``style`` is the declarator
    style (bpftool's by default; anonymous types are always written inline here).

    For a subclass: ``empty_member`` is the one member line a record with no members and no
    size gets (None: ``{}``, as bpftool writes it); :meth:`enum_values` spells enumerator
    values; :meth:`member_decl` writes a member's declaration (another type for it, say);
    :meth:`filler_type` names the type of the unnamed bitfields that pad a record;
    :meth:`item` may leave an item out (or add text before it)."""

    empty_member = None   # (str or None)

    def __init__(self, table, *, names: Names | None = None, layout: Layout | None = None,
                 style: DeclStyle = BPFTOOL, budget: Budget | None = None) -> None:
        super().__init__(table)
        self.layout = layout or Layout(table)
        self.names = names if names is not None else DumpNames(table)
        self.decl = Declarator(table, self.names, style, defs=self)
        self.budget = budget or Budget(1 << 62)
        self.plans = self.layout._plans
        self.resolved = getattr(self.names, "resolved", {})
        self.heads = self.decl.heads
        self.tails = self.decl.tails
        # Member names go through the hook only when it does something.
        self._member = self.names.member if self.names.overrides("member") else None
        self._enumerators = self.names.enumerators if self.names.overrides("enumerators") else None
        self._values_hook = type(self).enum_values is not CRenderer.enum_values
        self._member_decl = self.member_decl if type(self).member_decl is not CRenderer.member_decl else None

    # -- records -----------------------------------------------------------------------------

    def struct_fwd(self, tid: int) -> str:
        kw = "struct" if self.kinds[tid] == STRUCT else "union"
        return kw + " " + self.names.tag(tid) if self.w[self.pos[tid]] else kw

    def record(self, tid: int, lvl: int, strip: bool = False, end: str = "") -> str:
        """The definition of a struct or union (no ``;``), members indented ``lvl + 1`` tabs;
        ``end`` is written after it (the text is put together once)."""
        if lvl > MAX_INLINE:
            # (a record written inline is one level deeper than the one it is in)
            self.fail(f"anonymous types nest more than {MAX_INLINE} deep")
        w = self.w
        p = self.pos[tid]
        info = w[p + 1]
        vlen = info & VLEN_MASK
        if self.kinds[tid] == STRUCT:
            head = "struct " + (self.resolved.get(tid) or self.names.tag(tid)) + " {" if w[p] else "struct {"
        else:
            head = "union " + (self.resolved.get(tid) or self.names.tag(tid)) + " {" if w[p] else "union {"
        plan = self.plans.get(tid) or self.layout.plan(tid)
        lvl1 = lvl + 1
        ind = _LINE_STARTS[lvl1] if lvl1 < 64 else "\n" + tabs(lvl1)
        lines = None
        q = p + 3
        e = q + 3 * vlen
        budget = self.budget
        if (plan[1] is None and not info >> KFLAG_SHIFT and self._member is None and self._member_decl is None
                and vlen * (self.decl.longest + self.strs.longest + lvl1 + 2) < budget.left
                and 0 not in (nos := w[q:e:3])):
            # Named members of plain types (nearly all): each line is head + name + tail, the
            # heads made (and their names claimed) in member order.  (The test above bounds
            # what this can write; the general loop counts as it goes.  A record with an
            # unnamed member goes to the general loop at once: what the member writes inline
            # claims its names before the members after it.)
            heads = self.heads[strip]
            tails = self.tails[strip]
            strs = self.strs
            try:
                lines = [heads[mt] + strs[no] + tails[mt] for no, mt in zip(nos, w[q + 1:e:3])]
            except NotPlain:
                lines = None
            else:
                budget.left -= sum(map(len, lines)) + (lvl1 + 2) * vlen
        if lines is None:
            lines = []
            self._members(tid, lvl1, strip, plan[1], ind, lines, 0)
        attr = " __attribute__((packed))" if plan[0] else ""
        if lines:
            return f"{head}{ind}{(';' + ind).join(lines)};\n{_TABS[lvl] if lvl < 64 else tabs(lvl)}}}{attr}{end}"
        if w[p + 2]:
            return f"{head}\n{tabs(lvl)}}}{attr}{end}"
        if self.empty_member is not None:
            return f"{head}{ind}{self.empty_member};\n{tabs(lvl)}}}{attr}{end}"
        return f"{head}}}{attr}{end}"

    def _members(self, tid: int, lvl1: int, strip: bool, pads, ind: str, lines: list, start: int) -> None:
        """Add to ``lines`` the member lines of a record from member ``start`` on, one by one
        (bitfields, unnamed members, anonymous types written inline), with their fillers."""
        w = self.w
        p = self.pos[tid]
        info = w[p + 1]
        vlen = info & VLEN_MASK
        kflag = info >> KFLAG_SHIFT
        decl = self.decl
        plains = decl.plains
        heads, tails = decl.heads[strip], decl.tails[strip]
        strs = self.strs
        member = self._member
        member_decl = self._member_decl
        budget = self.budget
        add = lines.append
        q = p + 3 * start + 3
        e = p + 3 + 3 * vlen
        i = start
        for no, mt, word in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3]):
            if pads is not None and i in pads:
                budget.left -= self._fillers(add, pads[i], ind, budget.left)
            name = strs[no] if no else ""
            if member is not None:
                name = member(tid, i, name)
            if member_decl is not None:
                line = member_decl(tid, i, mt, name, lvl1, strip)
            elif name and plains[mt]:
                line = heads[mt] + name + tails[mt]
            else:
                line = decl.decl(mt, name, lvl1, strip)
            if kflag and word >> BITFIELD_SHIFT:
                line = f"{line}: {word >> BITFIELD_SHIFT}"
            add(line)
            # (The text of an anonymous type written inline counts here and where it was made:
            # nested types count once per level, which real BTF never makes large.)
            budget.left -= len(line) + lvl1 + 2
            if budget.left < 0:
                budget.exceeded()
            i += 1
        if pads is not None and vlen in pads:
            budget.left -= self._fillers(add, pads[vlen], ind, budget.left)

    def member_decl(self, record: int, index: int, mt: int, name: str, lvl: int, strip: bool) -> str:
        """The declaration of member ``index`` (type ``mt``, written ``name``) of ``record``,
        without bitfield width or ``;``; anonymous types inline are indented ``lvl`` tabs."""
        decl = self.decl
        if name and decl.plains[mt]:
            return decl.heads[strip][mt] + name + decl.tails[strip][mt]
        return decl.decl(mt, name, lvl, strip)

    def filler_type(self, pad_type: str) -> str:
        """The type written for the unnamed bitfields of ``pad_type`` (``long``, ``int``,
        ``short``, ``char``: :func:`bpfinspect.btf.layout.fillers`) that pad a record."""
        return pad_type

    def _fillers(self, add, runs: list, ind: str, room: int) -> int:
        """Add the filler lines of ``runs`` (without their ``;``, which the join writes); the
        characters they take."""
        spent = 0
        for pad_type, bits, count in runs:
            line = f"{self.filler_type(pad_type)}: {bits}"
            if count == 1:
                add(line)
                spent += len(line) + len(ind) + 1
            else:
                n = (len(line) + len(ind) + 1) * count
                if n > room - spent:
                    self.budget.exceeded()
                # A run of equal fillers is one string: the lines joined as the body joins them.
                add((";" + ind).join([line] * count) if count < 64 else
                    line + (";" + ind + line) * (count - 1))
                spent += n
        if spent > room:
            self.budget.exceeded()
        return spent

    # -- enums -------------------------------------------------------------------------------

    def enum(self, tid: int, lvl: int) -> str:
        """The definition of an enum (no ``;``); just ``enum NAME`` when it has no values."""
        w = self.w
        p = self.pos[tid]
        info = w[p + 1]
        vlen = info & VLEN_MASK
        head = "enum " + self.names.tag(tid) if w[p] else "enum"
        if not vlen:
            return head
        signed = info >> KFLAG_SHIFT
        strs = self.strs
        claim = self._enumerators
        ind = "\n" + tabs(lvl + 1)
        q = p + 3
        if self.kinds[tid] == ENUM64:
            e = q + 3 * vlen
            names = [strs[o] for o in w[q:e:3]]
            vals = [lo | hi << 32 for lo, hi in zip(w[q + 1:e:3], w[q + 2:e:3])]
            if signed:
                vals = [f"{v - (1 << 64) if v >> 63 else v}LL" for v in vals]
            else:
                vals = [f"{v}ULL" for v in vals]
        else:
            e = q + 2 * vlen
            names = [strs[o] for o in w[q:e:2]]
            vals = w[q + 1:e:2]
            if signed:
                vals = [v - 0x100000000 if v >> 31 else v for v in vals]
        if claim is not None:
            names = claim(tid, names)
        if self._values_hook:
            vals = self.enum_values(tid, vals)
        text = "".join([f"{ind}{nm} = {v}," for nm, v in zip(names, vals)])
        self.budget.spend(len(text))
        return f"{head} {{{text}\n{tabs(lvl)}}}"

    def enum_values(self, tid: int, values: list) -> list:
        """The values of enum ``tid`` as written (for a subclass: integers of an ENUM,
        texts with ``LL``/``ULL`` of an ENUM64; the base class writes them as they are)."""
        return values

    # -- typedefs, forward declarations, integers ----------------------------------------------

    def typedef(self, tid: int, lvl: int = 0) -> str:
        name = self.names.ident(tid)
        target = self.w[self.pos[tid] + 2]
        if target == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self.decl.decl(target, name, lvl)

    def blacklisted(self, tid: int) -> bool:
        """The typedef ``__builtin_va_list`` (a compiler built-in) is never written."""
        off = self.w[self.pos[tid]]
        return bool(off) and self.strs[off] == "__builtin_va_list"

    def fwd(self, tid: int) -> str:
        kw = "union" if self.w[self.pos[tid] + 1] >> KFLAG_SHIFT else "struct"
        return kw + " " + self.names.tag(tid)

    def int_alias(self, tid: int) -> str:
        """What an integer's emission writes: a typedef for GCC's ARM SIMD names, else nothing.
        Looking the name up claims it among the tags, as libbpf does."""
        name = self.names.tag(tid)
        std = _MISSING_ALIASES.get(name)
        return f"typedef {std} {name};\n\n" if std else ""

    # -- top level ---------------------------------------------------------------------------

    def item(self, item: int) -> str:
        """The text of one emitted item (see :mod:`bpfinspect.btf.order`): a top-level
        definition, or (negative id) the forward declaration of a struct or union."""
        if item < 0:
            return self.struct_fwd(-item) + ";\n\n"
        k = self.kinds[item]
        if k == STRUCT or k == UNION:
            return self.record(item, 0, False, ";\n\n")
        if k == TYPEDEF:
            return "" if self.blacklisted(item) else self.typedef(item) + ";\n\n"
        if k == ENUM or k == ENUM64:
            return self.enum(item, 0) + ";\n\n"
        if k == INT:
            return self.int_alias(item)
        return self.fwd(item) + ";\n\n"

    def definition(self, tid: int) -> str:
        """The C definition of one type in the printer's style, ending with ``;``."""
        k = self.kinds[tid]
        if k == STRUCT or k == UNION:
            return self.record(tid, 0, False, ";")
        if k == ENUM or k == ENUM64:
            return self.enum(tid, 0) + ";"
        if k == TYPEDEF:
            return self.typedef(tid) + ";"
        if k == FWD:
            return self.fwd(tid) + ";"
        return self.decl.decl(tid) + ";"

