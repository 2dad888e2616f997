"""The one declarator engine: a BTF type chain written as a C declaration around a name.

Every C text of a type in bpfinspect comes from here: the members and
typedefs of the ``btf --format c`` header, the ``--type`` snippets, the
types the object model shows for maps, globals and externs
(``Btf.type_name``), the C skeleton's variables and the ctypes layer's
descriptions.  What differs between them is a :class:`DeclStyle` and a
:class:`Names` (the identifier hook), never a second engine or a rewrite of
this one's output.

The algorithm (libbpf's ``btf_dump_emit_type_decl``)
---------------------------------------------------------
A declaration is read from the declared name outwards, but written from the
base type inwards.  So the chain of types from the declared type to its base
is collected first, outermost first -- pointers, qualifiers (const, volatile,
restrict), type tags, arrays (their element type next) and function
prototypes (their return type next) -- down to a base: void, an integer or
float, a struct/union/enum (by tag, or written in full when anonymous), a
forward declaration or a typedef.  Then the chain is written base first:

* qualifiers that apply to the base are written before it, nearest first
  (``const volatile int``; clang writes them as const, volatile, restrict
  whatever their order in the chain);
* a pointer is ``*`` (`` *`` after anything but another pointer); a
  qualifier after a pointer applies to the pointer and follows it
  (``char * const p``; clang writes ``char *const p``);
* an array or a prototype reached with more chain left wraps the rest in
  parentheses, the declared name innermost: ``int (*fn)(void)``,
  ``char (*p)[16]``; an array of arrays needs none (``int m[2][3]``);
  qualifiers right above an array or a prototype are dropped (GCC emits
  them for arrays of const elements and for ``noreturn`` function pointers;
  they mean nothing there);
* a prototype with no parameters, or with the single ``void`` parameter
  clang writes for ``(void)``, is ``(void)``; a last parameter of type void
  is ``...``; each parameter is a declaration of its own, with its name;
* the name goes last, after a space unless the text ends with ``*``;
* a chain through a function, variable, data section or decl tag stops
  there, without the name (what libbpf does with types that are not C
  declarator parts).

Options (:class:`DeclStyle`, in the spirit of libbpf's ``emit_type_decl_opts``
and cilium/ebpf's formatter hooks): ``strip_mods`` drops qualifiers and type
tags everywhere, also inside anonymous types written inline (bpftool's
skeletons declare ``.rodata`` variables so); ``type_tags`` writes
``__attribute__((btf_type_tag("x")))`` where the chain has a type tag;
``anon`` writes an anonymous struct, union or enum in full (``"inline"``,
through the definitions renderer given as ``defs``), as ``struct {...}``
(``"braces"``) or as ``struct`` (``"bare"``, libbpf's ``skip_anon_defs``);
``clang`` spaces the text as clang spells types (``char *const``,
``char *(*)(int)``, ``int (int)``).  Per call: the declared name and the
indent level of inline definitions.

Identifiers (:class:`Names`): tag names, typedef names, member, parameter
and enumerator names are asked of a ``Names`` object; the default gives the
names BTF holds.  The C printer's resolves clashing names (``___2``), a
skeleton's gives the names its quoting layer decided (and names an unnamed
member C would drop); the engine never edits a name itself.

Speed: a chain with no anonymous type written inline ("plain": its text
depends only on names, which never change once given) is rendered once per
type and kept as a (head, tail) pair around the name (:meth:`Declarator.pair`);
everything else is rendered at each use.

Bounds: chains longer than :data:`MAX_DEPTH`, nesting deeper than that,
cycles (a prototype or an anonymous record reached again from within itself)
and parameter lists longer than :data:`MAX_PARAMS_TEXT` characters raise
:class:`~bpfinspect.errors.MalformedInput`.
"""

from __future__ import annotations

from collections import namedtuple

from bpfinspect.btf.kinds import (ARRAY, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, KFLAG_SHIFT,
                                  MOD_KINDS, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VLEN_MASK,
                                  VOLATILE)
from bpfinspect.btf.table import Filled, TableView

# How deep a declaration may nest (prototypes in parameters, arrays of pointers...), counted
# across the anonymous records written inline in it: a record's members start where the
# declaration that writes the record is, so one bound covers the whole walk, not each record's.
MAX_DEPTH = 300
# The longest parameter list a declaration may write (a kernel's longest is a few hundred
# characters; hostile BTF can nest prototypes to grow one without limit).
MAX_PARAMS_TEXT = 1 << 20

# Kinds a declarator chain walks through to the type in the third word (arrays aside).
_THROUGH = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})
_QUALIFIERS = frozenset({CONST, VOLATILE, RESTRICT})
# Kinds a chain ends at (the base type).
_BASES = frozenset({INT, FLOAT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF})
_QUAL_BEFORE = {VOLATILE: "volatile ", CONST: "const ", RESTRICT: "restrict "}
_QUAL_AFTER = {VOLATILE: " volatile", CONST: " const", RESTRICT: " restrict"}
_QUAL_ATTACHED = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
_CLANG_ORDER = (CONST, VOLATILE, RESTRICT)
_KEYWORDS = {STRUCT: "struct", UNION: "union", ENUM: "enum", ENUM64: "enum"}



class NotPlain(Exception):
    """Raised by :attr:`Declarator.heads` for a type whose declaration is not plain (a loop
    over many members can try the plain way and fall back)."""


class _Heads(dict):
    """type id -> the head of its plain declaration (made on first use, tail beside it)."""

    __slots__ = ("decl", "strip")

    def __init__(self, decl: "Declarator", strip: bool) -> None:
        super().__init__()
        self.decl = decl
        self.strip = strip

    def __missing__(self, tid: int) -> str:
        return self.decl._fill(tid, self.strip)[0]


class DeclStyle(namedtuple("DeclStyle", "type_tags anon clang host", defaults=(True, "inline", False, False))):
    """How declarations are spelled (see the module docstring): ``type_tags``, ``anon``
    ("inline", "braces" or "bare"), ``clang``, and ``host`` (for a host compiler's -Wall
    -Wextra: the qualifiers of a function's return type itself, which C ignores, and a
    qualifier repeated in one run, ``const restrict const``, are left out).  (A named tuple:
    importing dataclasses would cost every command that names a type a few milliseconds.)"""

    __slots__ = ()


# bpftool's spelling (the header, --type, skeletons).
BPFTOOL = DeclStyle()
# What the object model shows: clang's spelling, anonymous types abbreviated, no type tags.
MODEL = DeclStyle(type_tags=False, anon="braces", clang=True)


class Names(TableView):
    """The identifier hook: the names a declaration writes, as BTF holds them.

    Subclasses resolve clashes (the C printer's ``___N``) or quote names for
    generated code.  ``tag`` names a struct, union, enum or forward
    declaration, ``ident`` a typedef, ``arithmetic`` an integer or
    floating-point type; ``member`` the member ``index`` of a
    record (called for unnamed members too: an empty name leaves the member
    unnamed), ``param`` a prototype's parameter, ``enumerators`` the
    enumerators of one printing of an enum.  The renderers take a faster way
    where ``member``, ``param`` or ``enumerators`` is not overridden.
    """

    def tag(self, tid: int) -> str:
        return self.strs[self.w[self.pos[tid]]]

    def ident(self, tid: int) -> str:
        return self.strs[self.w[self.pos[tid]]]

    def arithmetic(self, tid: int) -> str:
        return self.strs[self.w[self.pos[tid]]]

    def member(self, record: int, index: int, name: str) -> str:
        return name

    def param(self, proto: int, index: int, name: str) -> str:
        return name

    def enumerators(self, tid: int, names: list) -> list:
        return names

    def overrides(self, method: str) -> bool:
        """Whether this hook changes ``method`` (a renderer skips calling it otherwise)."""
        return getattr(type(self), method) is not getattr(Names, method)


class Declarator(TableView):
    """Declarations of the types of one table in one style (see the module docstring).

    ``defs`` writes anonymous records and enums in full when the style inlines them: an
    object with ``record(tid, lvl, strip) -> str`` and ``enum(tid, lvl) -> str``."""

    def __init__(self, table, names: Names | None = None, style: DeclStyle = BPFTOOL, defs=None) -> None:
        super().__init__(table)
        self.names = names or Names(table)
        self.style = style
        self.defs = defs
        self.inline = style.anon == "inline"
        self._param_hook = self.names.overrides("param")
        # Plain chains: type id -> whether plain (see :meth:`plain`); their heads and tails,
        # without and with strip_mods (dicts that fill themselves, so that a loop over many
        # members can map over them); their texts without a name.
        self.plains = Filled(self._plain_of)
        self.heads = (_Heads(self, False), _Heads(self, True))
        self.tails = ({}, {})
        # The longest head and tail kept (renderers bound what a loop over them can write).
        self.longest = 0
        self._unnamed: tuple[dict, dict] = ({}, {})
        # The depth a declaration starts at: 0, or inside an anonymous record written inline,
        # the depth of the declaration that writes it (see MAX_DEPTH).
        self._depth = 0

    # -- public ---------------------------------------------------------------------------------

    def decl(self, tid: int, name: str = "", lvl: int = 0, strip_mods: bool = False) -> str:
        """The declaration of ``name`` (may be empty) with type ``tid``; anonymous types written
        inline are indented ``lvl`` tabs."""
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        if self.plains[tid]:
            if name:
                return self.heads[strip_mods][tid] + name + self.tails[strip_mods][tid]
            return self.text(tid, strip_mods)
        k = self.kinds[tid]
        if (k == STRUCT or k == UNION or k == ENUM or k == ENUM64) and self.inline and not self.w[self.pos[tid]]:
            # The chain is the anonymous type alone: its definition, then the name.
            text = self._inline(tid, k, lvl, strip_mods, self._depth)
            return text + " " + name if name else text
        return self._decl(tid, name, lvl, strip_mods, self._depth)

    def _inline(self, tid: int, k: int, lvl: int, strip: bool, depth: int) -> str:
        """The definition of an anonymous struct, union or enum written inline, at ``depth``."""
        if k > UNION:
            return self.defs.enum(tid, lvl)
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (a cycle?)")
        outer = self._depth
        self._depth = depth + 1
        try:
            return self.defs.record(tid, lvl, strip)
        finally:
            self._depth = outer

    def pair(self, tid: int, strip_mods: bool = False) -> tuple[str, str]:
        """(head, tail) around a name, for a plain chain (check with :meth:`plain`)."""
        h = self.heads[strip_mods][tid]
        return h, self.tails[strip_mods][tid]

    def _fill(self, tid: int, strip: bool) -> tuple[str, str]:
        """The head and tail of ``tid``, kept; NotPlain when its declaration is not plain.
        The commonest shapes (:meth:`_simple`, :meth:`_function_pointer`) are plain by
        construction; anything else is checked first."""
        r = self._simple(tid, strip) or self._function_pointer(tid, strip)
        if r is None:
            if not self.plains[tid]:
                raise NotPlain(tid)
            r = self._chain(self._stack(tid, strip), True, 0, strip, 0)
        else:
            self.plains[tid] = 1
        h, t = r
        self.heads[strip][tid] = h
        self.tails[strip][tid] = t
        if len(h) + len(t) > self.longest:
            self.longest = len(h) + len(t)
        return h, t

    def text(self, tid: int, strip_mods: bool = False) -> str:
        """The type alone (no name), for a plain chain."""
        cache = self._unnamed[strip_mods]
        r = cache.get(tid)
        if r is None:
            h, t = self._chain(self._stack(tid, strip_mods), False, 0, strip_mods, 0)
            r = cache[tid] = h + t
        return r

    def plain(self, tid: int) -> int:
        """Whether the declaration of ``tid`` writes no anonymous type inline and keeps its
        name (its text then depends on names only, and is kept): 1 or 0."""
        return self.plains[tid]

    def _plain_of(self, tid: int) -> int:
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._is_plain(tid, 0)

    # -- chains ---------------------------------------------------------------------------------

    def _is_plain(self, tid: int, depth: int) -> int:
        """Whether the chain of ``tid`` is plain (see :meth:`plain`), remembered for every type
        on it."""
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (a cycle?)")
        plain = self.plains
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        inline = self.inline
        # While a prototype's parameters are looked at, the chain is "in progress" (None): a
        # parameter that leads back to it is a cycle.
        chain = []
        x = tid
        r = 1
        while True:
            if not 0 <= x < n:
                self.fail(f"type [{tid}] refers to type id {x}, which does not exist")
            known = dict.get(plain, x, -1)
            if known is None:
                self.fail(f"type [{x}] is a declarator cycle")
            if known >= 0:
                r = min(r, known)
                break
            if x == 0:
                break
            k = kinds[x]
            p = pos[x]
            if k in _BASES:
                if k == INT or k == FLOAT:
                    break
                if not w[p] and inline and k != TYPEDEF and k != FWD:
                    r = 0
                break
            if k == FUNC_PROTO:
                plain[x] = None
                chain.append(x)
                for pt in w[p + 4:p + 3 + 2 * (w[p + 1] & VLEN_MASK):2]:
                    r = min(r, self._is_plain(pt, depth + 1))
                if not r:
                    break
                x = w[p + 2]
            elif k in _THROUGH:
                chain.append(x)
                if len(chain) > MAX_DEPTH:
                    self.fail(f"type [{tid}] is a declarator cycle or too long a chain")
                plain[x] = None
                x = w[p + 2]
            elif k == ARRAY:
                chain.append(x)
                if len(chain) > MAX_DEPTH:
                    self.fail(f"type [{tid}] is a declarator cycle or too long a chain")
                plain[x] = None
                x = w[p + 3]
            else:
                # A function, variable, data section or decl tag: the name is left out.
                r = 0
                break
        for y in chain:
            plain[y] = r
        plain[tid] = r
        return r

    def _stack(self, tid: int, strip: bool) -> list:
        """The chain from ``tid`` to its base, outermost first (qualifiers and tags left out when
        ``strip``)."""
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        stack = []
        x = tid
        returned = False   # (host) at the return type of a prototype: its own qualifiers dropped
        run: set = set()   # (host) the qualifiers of the current run: a repeated one dropped
        host = self.style.host
        untagged = host and not self.style.type_tags
        dropped = 0
        while True:
            if not 0 <= x < n:
                self.fail(f"type [{tid}] refers to type id {x}, which does not exist")
            k = kinds[x]
            if host and (k in _QUALIFIERS and (returned or k in run) or untagged and k == TYPE_TAG
                         or k == RESTRICT and not self._on_a_pointer(x)):
                # (a type tag left out of a host's text is no part of the chain: the qualifiers
                # above and below it are one run, ``const int``, not ``intconst``; ``restrict``
                # qualifies only pointers, and C refuses it on anything else)
                dropped += 1
                if dropped > MAX_DEPTH:
                    self.fail(f"type [{tid}] is a declarator cycle or too long a chain")
                x = w[pos[x] + 2]
                continue
            if host:
                returned = k == FUNC_PROTO or (returned and k == TYPE_TAG)
                if k in _QUALIFIERS:
                    run.add(k)
                elif k != TYPE_TAG:
                    run = set()
            if not (strip and k in MOD_KINDS):
                stack.append(x)
                if len(stack) > MAX_DEPTH:
                    self.fail(f"type [{tid}] is a declarator cycle or too long a chain")
            elif len(stack) > MAX_DEPTH or x == tid and stack:
                self.fail(f"type [{tid}] is a declarator cycle or too long a chain")
            if x == 0:
                return stack
            if k in _THROUGH:
                x = w[pos[x] + 2]
            elif k == ARRAY:
                x = w[pos[x] + 3]
            else:
                return stack

    def _on_a_pointer(self, tid: int) -> bool:
        """Whether qualifier ``tid`` qualifies a pointer to an object type (through qualifiers,
        tags and typedefs): C allows ``restrict`` on nothing else, not even on a pointer to a
        function."""
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        x = w[pos[tid] + 2]
        pointer = False
        for _ in range(MAX_DEPTH):
            if not 0 <= x < n:
                return False
            if x == 0:
                return pointer   # (a pointer to void)
            k = kinds[x]
            if k == PTR and not pointer:
                pointer = True
            elif k not in MOD_KINDS and k != TYPEDEF:
                return pointer and k != FUNC_PROTO
            x = w[pos[x] + 2]
        return False

    def _simple(self, tid: int, strip: bool):
        """(head, tail) of the commonest chains, the way :meth:`_chain` writes them, without
        building the chain: arrays (outermost first) of pointers to a named base type with
        its own qualifiers -- ``char comm[16]``, ``const char *name``,
        ``struct list_head *heads[4]``.  None for anything else."""
        w, pos, kinds = self.w, self.pos, self.kinds
        n = self.n
        x = tid
        dims = ""
        while x and kinds[x] == ARRAY:
            p = pos[x]
            dims += f"[{w[p + 5]}]"
            x = w[p + 3]
            if not x < n or len(dims) > 200:
                return None
        stars = 0
        while x and kinds[x] == PTR:
            x = w[pos[x] + 2]
            stars += 1
            if not x < n or stars > 32:
                return None
        quals = None
        while x and kinds[x] in _QUAL_BEFORE:
            if quals is None:
                quals = []
            quals.append(kinds[x])
            x = w[pos[x] + 2]
            if not x < n or len(quals) > 32:
                return None
        if x == 0:
            base = "void"
        else:
            k = kinds[x]
            p = pos[x]
            if k == TYPEDEF:
                base = self.names.ident(x)
            elif k == INT or k == FLOAT:
                base = self.names.arithmetic(x)
            elif not w[p] or k not in _BASES:
                return None   # anonymous (written inline), or not a base
            else:
                base = self._base(x, k, 0, strip)
        if quals and not strip:
            if self.style.host and RESTRICT in quals:
                return None   # (the general path leaves out a restrict that qualifies no pointer)
            if self.style.host and len(quals) > 1:
                quals = list(dict.fromkeys(quals))   # (a repeated qualifier: once)
            if self.style.clang:
                base = " ".join([_QUAL_ATTACHED[q] for q in _CLANG_ORDER if q in quals]) + " " + base
            else:
                # The qualifier nearest the base type is written first.
                base = "".join([_QUAL_BEFORE[q] for q in reversed(quals)]) + base
        if stars:
            return base + " " + "*" * stars, dims
        return base + " ", dims

    def _function_pointer(self, tid: int, strip: bool):
        """(head, tail) of a pointer to a prototype returning a simple type, the way
        :meth:`_chain` writes it (``ret (*`` and ``)(params)`` in bpftool's style, ``ret (*``
        or ``ret *(*`` in clang's); None for any other type."""
        w, pos, kinds = self.w, self.pos, self.kinds
        if kinds[tid] != PTR:
            return None
        proto = w[pos[tid] + 2]
        if not 0 < proto < self.n or kinds[proto] != FUNC_PROTO:
            return None
        # The return type must be one _simple writes (a base, pointers, qualifiers): a
        # declarator that wraps (a pointer to an array or a function) nests in the chain.
        p = pos[proto]
        ret = w[p + 2]
        if self.style.host:
            for _ in range(MAX_DEPTH):
                if not (0 < ret < self.n and kinds[ret] in _QUALIFIERS):
                    break
                ret = w[pos[ret] + 2]
        r = self._simple(ret, strip)
        if r is None or r[1]:
            return None
        # ... and every parameter plain (the prototype is then plain too).
        plains = self.plains
        for pt in w[p + 4:p + 3 + 2 * (w[p + 1] & VLEN_MASK):2]:
            if not plains[pt]:
                return None
        text = r[0][:-1] if r[0].endswith(" ") else r[0]
        params = self._params(proto, 0, strip, 0)
        if self.style.clang and text.endswith("*"):
            return text + "(*", ")" + params
        return text + " (*", ")" + params

    def _decl(self, tid: int, name: str, lvl: int, strip: bool, depth: int) -> str:
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (a cycle?)")
        h, t = self._chain(self._stack(tid, strip), bool(name), lvl, strip, depth)
        return h if t is None else h + name + t

    def _chain(self, stack: list, named: bool, lvl: int, strip: bool, depth: int, left: int = 0):
        """(head, tail) around the name for ``stack`` (consumed from its end, the base); tail is
        None when the chain stops at a kind that takes no name.  ``left`` says what the text
        before this part of the chain ends with (0 nothing, 1 a star, 2 a word): clang's
        spacing depends on it."""
        if depth > MAX_DEPTH:
            self.fail("a declaration nests too deeply (a cycle?)")
        w, pos, kinds = self.w, self.pos, self.kinds
        clang = self.style.clang
        parts = []
        add = parts.append
        last_ptr = True
        while stack:
            x = stack.pop()
            if x == 0:
                self._mods(stack, parts)
                add("void")
                last_ptr = False
                continue
            k = kinds[x]
            if k == PTR:
                add("*" if last_ptr else " *")
            elif k == TYPEDEF:
                self._mods(stack, parts)
                add(self.names.ident(x))
            elif k == INT or k == FLOAT:
                self._mods(stack, parts)
                add(self.names.arithmetic(x))
            elif k == CONST or k == VOLATILE or k == RESTRICT:
                if clang:
                    # A pointer's qualifiers, attached to its star: ``char *const volatile``.
                    stack.append(x)
                    words = " ".join(self._qualifier_run(stack))
                    add(words if ((1 if last_ptr else 2) if parts else left) == 1 else " " + words)
                else:
                    add(_QUAL_AFTER[k])
            elif k == STRUCT or k == UNION or k == ENUM or k == ENUM64 or k == FWD:
                self._mods(stack, parts)
                add(self._base(x, k, lvl, strip, depth))
            elif k == TYPE_TAG:
                self._mods(stack, parts)
                if self.style.type_tags:
                    add(f' __attribute__((btf_type_tag("{self.strs[w[pos[x]]]}")))')
            elif k == ARRAY:
                self._drop_mods(stack)
                nelems = f"[{w[pos[x] + 5]}]"
                if not stack:
                    if named and not last_ptr:
                        add(" ")
                    return "".join(parts), nelems
                ctx = (1 if last_ptr else 2) if parts else left
                if kinds[stack[-1]] == ARRAY:
                    if named and not last_ptr:
                        add(" ")
                    h, t = self._chain(stack, named, lvl, strip, depth + 1, ctx)
                    return "".join(parts) + h, (None if t is None else t + nelems)
                if clang:
                    if ctx == 2:
                        add(" ")
                elif named and not last_ptr:
                    add(" ")
                h, t = self._chain(stack, named, lvl, strip, depth + 1)
                return "".join(parts) + "(" + h, (None if t is None else t + ")" + nelems)
            elif k == FUNC_PROTO:
                self._drop_mods(stack)
                params = self._params(x, lvl, strip, depth)
                ctx = (1 if last_ptr else 2) if parts else left
                if stack:
                    h, t = self._chain(stack, named, lvl, strip, depth + 1)
                    lead = "(" if clang and ctx != 2 else " ("
                    return "".join(parts) + lead + h, (None if t is None else t + ")" + params)
                if clang and ctx == 2 or named and not last_ptr:
                    add(" ")
                return "".join(parts), params
            else:
                # A function, variable, data section or decl tag: no name.
                return "".join(parts), None
            last_ptr = k == PTR
        if named and not last_ptr:
            add(" ")
        return "".join(parts), ""

    def _base(self, x: int, k: int, lvl: int, strip: bool, depth: int = 0) -> str:
        """A struct, union, enum or forward declaration as the base of a declaration (at
        ``depth``: where an anonymous one written inline starts its members)."""
        w, p = self.w, self.pos[x]
        if k == FWD:
            return ("union " if w[p + 1] >> KFLAG_SHIFT else "struct ") + self.names.tag(x)
        kw = _KEYWORDS[k]
        if w[p]:
            return kw + " " + self.names.tag(x)
        anon = self.style.anon
        if anon == "inline":
            return self._inline(x, k, lvl, strip, depth)
        if anon == "braces":
            return kw + " {...}"
        return kw

    def _params(self, proto: int, lvl: int, strip: bool, depth: int) -> str:
        w, p = self.w, self.pos[proto]
        vlen = w[p + 1] & VLEN_MASK
        if vlen == 0 or (vlen == 1 and w[p + 4] == 0):
            return "(void)"
        strs = self.strs
        param = self.names.param if self._param_hook else None
        out = []
        size = 0
        q = p + 3
        for i in range(vlen):
            pt = w[q + 1]
            if i == vlen - 1 and pt == 0:
                out.append("...")
                break
            name = strs[w[q]]
            if param is not None:
                name = param(proto, i, name)
            if self.plains[pt]:
                if name:
                    out.append(self.heads[strip][pt] + name + self.tails[strip][pt])
                else:
                    out.append(self.text(pt, strip))
            else:
                out.append(self._decl(pt, name, lvl, strip, depth + 1))
            size += len(out[-1])
            if size > MAX_PARAMS_TEXT:
                self.fail(f"the parameters of type [{proto}] would take more than {MAX_PARAMS_TEXT >> 20} MiB "
                          "of text: prototypes nested beyond what a program has")
            q += 2
        return "(" + ", ".join(out) + ")"

    def _mods(self, stack: list, parts: list) -> None:
        """Qualifiers right above the base type are written before it: ``const volatile int``
        (nearest first, as libbpf does; clang's order -- const, volatile, restrict -- in the
        clang style)."""
        kinds = self.kinds
        if self.style.clang:
            quals = self._qualifier_run(stack)
            if quals:
                parts.append(" ".join(quals) + " ")
            return
        while stack:
            q = _QUAL_BEFORE.get(kinds[stack[-1]])
            if q is None:
                return
            parts.append(q)
            stack.pop()

    def _qualifier_run(self, stack: list) -> list:
        """Pop the qualifiers (and type tags, which the clang style leaves out) on top of
        ``stack``; their words in clang's order."""
        kinds = self.kinds
        seen = set()
        while stack and kinds[stack[-1]] in MOD_KINDS:
            seen.add(kinds[stack.pop()])
        return [_QUAL_ATTACHED[q] for q in _CLANG_ORDER if q in seen]

    def _drop_mods(self, stack: list) -> None:
        kinds = self.kinds
        while stack and kinds[stack[-1]] in MOD_KINDS:
            stack.pop()
