"""The order of a C header: which definitions and forward declarations come where.

bpftool 7.1's order (libbpf's ``btf_dump__dump_type``): types are taken as
*roots* one after the other (every id from 1 up, or the ids asked for), and
each root goes through two phases.

1. **Ordering** (:meth:`Walk.order`) walks the type graph from the root and
   queues every named definition the root needs *before* it can be written:

   * a struct/union is needed in full when it is reached by value (a member,
     an array element) or when it is anonymous; reached through a pointer, a
     named struct/union needs nothing (a forward declaration will do), so
     the walk stops there;
   * its members are ordered first, then the struct/union itself is queued
     (anonymous ones are not: they are written inline where used);
   * named enums and forward declarations are queued when met; an anonymous
     enum is queued only if no other type refers to it (it is then a
     top-level ``enum { A, B };``), otherwise it is written inline;
   * a typedef orders its target (carrying the "through a pointer" flag)
     and is queued after it, unless it was reached through a pointer and its
     target only needed a forward declaration;
   * pointers pass "through a pointer" on to their target; arrays order
     their element by value; const, volatile, restrict and type tags pass on
     the flag they received; function prototypes order their return and
     parameter types; functions, variables, data sections and decl tags
     need nothing;
   * a struct is *ordering* while its members are walked and *ordered*
     afterwards; meeting an *ordering* struct again by value is a cycle no C
     can write (an error), through a pointer it is fine (forward
     declaration).  The walk's answer for a type is whether it is "strong"
     (needs its definition first); an *ordered* type is always strong.

2. **Emission** (:meth:`Walk.emit`) writes every queued type, in queue
   order, as a top-level definition.  Writing a struct/union first visits
   the types of its members with the struct as container: a named struct
   met that way gets a forward declaration ``struct X;`` if it has none yet
   (not for the container itself); a typedef met while its own definition
   is in progress is written early; an enum or a struct already written is
   skipped; an anonymous struct/union is looked into, with the same
   container; an integer is marked written (libbpf looks its name up then,
   and writes a typedef for GCC's ``__Poly8_t`` and the like).

The walk records *items* (:attr:`Walk.items`): a type id for a top-level
definition (or an integer's name lookup), a negated struct/union id for a
forward declaration.  Their text is rendered afterwards, in order
(:mod:`bpfinspect.btf.c_render`); nothing the walk decides depends on text.

Pointers, arrays, qualifiers and prototypes are never "ordered" or
"emitted" in libbpf: they are walked through every time.  Once everything
they lead to is ordered (emitted), walking them changes nothing and gives
the answer of an ordered (emitted) type, so they are marked too and later
walks stop at once.  In an id-order dump, roots that can do nothing when
their turn comes are not taken at all (:meth:`Walk.id_order_roots`).

``--sorted`` (newer bpftool's default, :func:`sorted_roots`): the roots are
taken in a sorted order instead of id order: by a rank (anonymous enums 0,
named enums 1, ints/floats 2, named structs/unions 3, named function
prototypes 4, typedefs/pointers/arrays/qualifiers take the rank of what they
name, everything else 10), then by a sort name (the type's own name, or for
an anonymous enum its first enumerator, or for a typedef/pointer/array/
qualifier the name of what it refers to), then by the type's own name, then
by a structural hash of names (only consulted inside such ties), then by
id.  Each root then goes through the same ordering and emission, so
dependencies still come first.  Two deliberate differences from bpftool
>= 7.5: its loop skips the first entry of the sorted list (an anonymous
enum, which then goes missing from the header) and we do not; it also
appends ``extern`` prototypes of kfuncs and ``__ksym``/``__weak`` macros,
which we leave out (types only).
"""

from __future__ import annotations

from itertools import compress
from operator import eq as _eq

from bpfinspect.btf.kinds import (MAX_KIND, ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO, FWD,
                                  INT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VLEN_MASK,
                                  VOLATILE)
from bpfinspect.btf.table import TableView, kind_selector
from bpfinspect.errors import MalformedInput

# How deep the type graph may nest before we call it a cycle.
MAX_DEPTH = 300

# Kinds that are never a root worth taking outside an id-order dump (they queue nothing).
_LEAF_ROOTS = frozenset({0, INT, FLOAT, FUNC, VAR, DATASEC, DECL_TAG})


_SEL_ENUMS = kind_selector(ENUM, ENUM64)
_SEL_PROTOS = kind_selector(FUNC_PROTO)
_SEL_ARRAYS = kind_selector(ARRAY)
_SEL_ROOT_ALWAYS = kind_selector(STRUCT, UNION, ENUM, ENUM64, FWD, TYPEDEF)
_SEL_ROOT_THIRD = kind_selector(PTR, VOLATILE, CONST, RESTRICT, TYPE_TAG)
_SEL_FUNCS = kind_selector(FUNC)
_SEL_SORT_OTHERS = bytes(0 if k in (FUNC, FUNC_PROTO) else 1 for k in range(256))


# How each kind refers to other types, for references(): by the third word (pointers,
# typedefs, qualifiers, functions, variables, tags), by its members' types (structs, unions),
# by its parameters' types (prototypes, whose return type does not count), by its variables'
# types (data sections), by its element and index types (arrays).
_BY_THIRD, _BY_MEMBERS, _BY_PARAMS, _BY_VARS, _BY_ELEMENT = 1, 2, 3, 4, 5
_REFERS = bytes(_BY_THIRD if k in (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG)
                else _BY_MEMBERS if k in (STRUCT, UNION) else _BY_PARAMS if k == FUNC_PROTO
                else _BY_VARS if k == DATASEC else _BY_ELEMENT if k == ARRAY else 0 for k in range(256))


def references(w, pos, kinds, n: int) -> tuple:
    """One pass over the types ``1..n-1`` of a table: (``marks``, a bytearray with 1 at each
    type id some type refers to, libbpf's way: a prototype's return type does not count; the
    prototypes, in id order, with a return or parameter type whose id is not below their own).
    Ids out of range are not marked.

    Compiled (bpfinspect.compiled), order.pxd gives the locals C types: the words read are C
    integers and the loop makes no integer object."""
    refers = _REFERS
    vlen_mask = VLEN_MASK
    marks = bytearray(n)
    marked = marks   # (a C view of the same bytes, compiled)
    late = []
    for t in range(1, n):
        how = refers[kinds[t]]
        if not how:
            continue
        p = pos[t]
        if how == _BY_THIRD:
            x = w[p + 2]
            if x < n:
                marked[x] = 1
        elif how == _BY_MEMBERS or how == _BY_VARS:
            # (a member's type is its second word, a variable's its first)
            for q in range(p + 4 if how == _BY_MEMBERS else p + 3, p + 3 + 3 * (w[p + 1] & vlen_mask), 3):
                x = w[q]
                if x < n:
                    marked[x] = 1
        elif how == _BY_PARAMS:
            top = w[p + 2]
            for q in range(p + 4, p + 3 + 2 * (w[p + 1] & vlen_mask), 2):
                x = w[q]
                if x > top:
                    top = x
                if x < n:
                    marked[x] = 1
            if top >= t:
                late.append(t)
        else:
            x = w[p + 3]
            if x < n:
                marked[x] = 1
            x = w[p + 4]
            if x < n:
                marked[x] = 1
    return marks, late


# Root kinds that are no definition of their own (see Walk.run's ``declare``).
_DECLARED_THROUGH = frozenset({PTR, CONST, VOLATILE, RESTRICT, TYPE_TAG, ARRAY, FUNC_PROTO})


class Walk(TableView):
    """The ordering and emission state of one header (see the module docstring)."""

    def __init__(self, table) -> None:
        super().__init__(table)
        n = self.n
        self.ostate = bytearray(n)   # 0 unseen, 1 ordering, 2 ordered
        self.estate = bytearray(n)   # 0 not emitted, 1 emitting, 2 emitted
        self.fwd = bytearray(n)      # forward declaration (or early typedef) written
        self.ostate[0] = 2
        self.estate[0] = 2
        self.queue: list[int] = []
        self.items: list[int] = []
        self._referenced: set | None = None
        self._refs: tuple | None = None
        # In an id-order dump, leaf roots below this id count as visited (a cell the walks read).
        self._done = [0]
        self._walks()

    def check_roots(self, roots) -> None:
        for tid in roots:
            if not 0 <= tid < self.n:
                self.fail(f"type id {tid} out of range (last is {self.n - 1})")

    # -- referenced types (for anonymous enums) ---------------------------------------------

    @property
    def referenced(self) -> set:
        """The anonymous enums some other type refers to (libbpf's rule: a prototype's return
        type does not count).  Only anonymous enums ask, so only they are looked for."""
        r = self._referenced
        if r is None:
            r = self._referenced = self._find_referenced()
        return r

    def _find_referenced(self) -> set:
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        anon = {t for t in compress(range(n), kinds.translate(_SEL_ENUMS)) if t and not w[pos[t]]}
        if not anon:
            return anon
        marks = self._references()[0]
        return {t for t in anon if marks[t]}

    def _proto_scan(self) -> list:
        """The prototypes with a return or parameter type whose id is not below their own."""
        return self._references()[1]

    def _references(self) -> tuple:
        """(marks, late) of :func:`references`, made once."""
        r = self._refs
        if r is None:
            r = self._refs = references(self.w, self.pos, self.kinds, self.n)
        return r

    # -- ordering and emission ----------------------------------------------------------------
    #
    # Both walks are closures over the state arrays (made once, in _walks): they run a hundred
    # thousand times on a kernel's BTF, and a closure's variables are quicker to reach than an
    # object's attributes.  Callers look at a type's state before calling when that is all the
    # call would do.

    def _walks(self) -> None:
        w, pos, kinds = self.w, self.pos, self.kinds
        ostate, estate, fwd = self.ostate, self.estate, self.fwd
        queue, items = self.queue, self.items
        looked: set = set()   # (anonymous record, container) pairs emission has looked into
        fail = self.fail
        done = self._done
        walk = self

        def order(tid: int, through_ptr: bool, depth: int) -> int:
            """Queue what ``tid`` needs first; 1 when it is strong, 0 when not."""
            st = ostate[tid]
            if st == 2:
                return 1
            if depth > MAX_DEPTH:
                fail(f"type [{tid}] nests too deeply (a cycle through typedefs, pointers or arrays?)")
            k = kinds[tid]
            p = pos[tid]
            if st == 1:
                if (k == STRUCT or k == UNION) and through_ptr and w[p]:
                    return 0
                fail(f"unsatisfiable type cycle through type [{tid}]")
            d1 = depth + 1
            if k == PTR:
                target = w[p + 2]
                r = 1 if ostate[target] == 2 else order(target, True, d1)
                ostate[tid] = 2
                return r
            if k == STRUCT or k == UNION:
                if through_ptr and w[p]:
                    return 0
                ostate[tid] = 1
                for mt in w[p + 4:p + 3 + 3 * (w[p + 1] & VLEN_MASK):3]:
                    if ostate[mt] != 2:
                        if kinds[mt] == PTR:
                            # A pointer to a named struct/union needs nothing (a forward declaration).
                            tgt = w[pos[mt] + 2]
                            tk = kinds[tgt]
                            if (tk == STRUCT or tk == UNION) and w[pos[tgt]] and ostate[tgt] != 1:
                                ostate[mt] = 2
                                continue
                        order(mt, False, d1)
                if w[p]:
                    queue.append(tid)
                ostate[tid] = 2
                return 1
            if k == TYPEDEF:
                target = w[p + 2]
                if ostate[target] != 2 and not order(target, through_ptr, d1) and through_ptr:
                    return 0
                queue.append(tid)
                ostate[tid] = 2
                return 1
            if k == FUNC_PROTO:
                ret = w[p + 2]
                strong = ostate[ret] == 2 or order(ret, through_ptr, d1) > 0
                params = w[p + 4:p + 3 + 2 * (w[p + 1] & VLEN_MASK):2]
                for pt in params:
                    if ostate[pt] == 2 or order(pt, through_ptr, d1) > 0:
                        strong = True
                if ostate[ret] == 2 and all(map(ostate.__getitem__, params)):
                    ostate[tid] = 2
                return 1 if strong else 0
            if k == ARRAY or k == VOLATILE or k == CONST or k == RESTRICT or k == TYPE_TAG:
                # An array orders its element by value; a qualifier or tag passes the flag on.
                if k == ARRAY:
                    target = w[p + 3]
                    through_ptr = False
                else:
                    target = w[p + 2]
                if ostate[target] == 2:
                    ostate[tid] = 2
                    return 1
                r = order(target, through_ptr, d1)
                if ostate[target] == 2:
                    ostate[tid] = 2
                return r
            if k == ENUM or k == ENUM64 or k == FWD:
                if w[p] or tid not in walk.referenced:
                    queue.append(tid)
                ostate[tid] = 2
                return 1
            if k > MAX_KIND:
                fail(f"type [{tid}] has unknown kind {k}")
            # INT, FLOAT, FUNC, VAR, DATASEC, DECL_TAG: nothing to queue.  Ordered as a root
            # already (an id-order dump does not take them: those below the current root count
            # as taken).
            ostate[tid] = 2
            return 1 if tid < done[0] else 0

        def emit(tid: int, cont: int, depth: int) -> None:
            """Write ``tid`` (as a top-level definition when ``cont`` is 0, else as needed inside
            the definition of ``cont``)."""
            es = estate[tid]
            if es == 2:
                return
            if depth > MAX_DEPTH:
                fail(f"type [{tid}] nests too deeply (a cycle?)")
            k = kinds[tid]
            p = pos[tid]
            if es == 1:
                if fwd[tid]:
                    return
                if k == STRUCT or k == UNION:
                    if tid == cont or not w[p]:
                        return
                    items.append(-tid)
                    fwd[tid] = 1
                elif k == TYPEDEF:
                    items.append(tid)
                    fwd[tid] = 1
                return
            d1 = depth + 1
            if k == PTR or k == CONST or k == VOLATILE or k == RESTRICT or k == TYPE_TAG:
                target = w[p + 2]
                if estate[target] != 2:
                    emit(target, cont, d1)
                if estate[target] == 2:
                    estate[tid] = 2
            elif k == STRUCT or k == UNION:
                top = cont == 0
                named = w[p] != 0
                if not named and not top:
                    # An anonymous record is looked into each time it is met; a second look with
                    # the same container finds nothing the first did not write (states only
                    # move forward), so it is skipped: nested anonymous records stay linear.
                    key = (tid, cont)
                    if key in looked:
                        return
                    looked.add(key)
                estate[tid] = 1
                if top or not named:
                    inner = tid if named else cont
                    for mt in w[p + 4:p + 3 + 3 * (w[p + 1] & VLEN_MASK):3]:
                        if estate[mt] == 2:
                            continue
                        if inner and kinds[mt] == PTR:
                            # A pointer to a named struct/union already forward-declared: nothing.
                            tgt = w[pos[mt] + 2]
                            if fwd[tgt] and (kinds[tgt] == STRUCT or kinds[tgt] == UNION):
                                continue
                        emit(mt, inner, d1)
                elif not fwd[tid] and tid != cont:
                    items.append(-tid)
                    fwd[tid] = 1
                if top:
                    items.append(tid)
                    estate[tid] = 2
                else:
                    estate[tid] = 0
            elif k == TYPEDEF:
                estate[tid] = 1
                target = w[p + 2]
                if estate[target] != 2:
                    emit(target, tid, d1)
                if not fwd[tid]:
                    items.append(tid)
                estate[tid] = 2
            elif k == ARRAY:
                elem = w[p + 3]
                if estate[elem] != 2:
                    emit(elem, cont, d1)
                if estate[elem] == 2:
                    estate[tid] = 2
            elif k == FUNC_PROTO:
                ret = w[p + 2]
                if estate[ret] != 2:
                    emit(ret, cont, d1)
                params = w[p + 4:p + 3 + 2 * (w[p + 1] & VLEN_MASK):2]
                for pt in params:
                    if estate[pt] != 2:
                        emit(pt, cont, d1)
                if estate[ret] == 2 and all(map(estate.__getitem__, params)):
                    estate[tid] = 2
            elif k == ENUM or k == ENUM64:
                if cont == 0:
                    items.append(tid)
                estate[tid] = 2
            elif k == FWD or k == INT:
                items.append(tid)
                estate[tid] = 2

        self.order = order
        self.emit = emit

    # -- roots ------------------------------------------------------------------------------

    def run(self, roots, id_order: bool, declare: bool = False) -> list[int]:
        """Order and emit every root; the items written (see the module docstring).

        ``declare``: the roots are the types of declarations to be written after the items
        (a code generator's variables).  A root that is no definition of its own (a pointer,
        an array, a qualifier) is then also emitted as a member's type is, inside a container
        of its own: what its declaration names gets written, a typedef reached through a
        pointer included (``u8 *p`` needs ``typedef ... u8;``; a dump of the pointer alone
        writes nothing, as libbpf's does), a struct through a pointer as a forward declaration.
        """
        kinds, ostate, w, pos = self.kinds, self.ostate, self.w, self.pos
        order, emit = self.order, self.emit
        queue = self.queue
        done = self._done
        if id_order:
            roots = self.id_order_roots()
        for tid in roots:
            if ostate[tid] == 2:
                continue
            k = kinds[tid]
            if not id_order and k in _LEAF_ROOTS:
                ostate[tid] = 2
                continue
            if k == PTR:
                tgt = w[pos[tid] + 2]
                tk = kinds[tgt]
                if (tk == STRUCT or tk == UNION) and w[pos[tgt]]:
                    ostate[tid] = 2   # what ordering it would do, and all it would do
                    continue
            elif k == FUNC_PROTO:
                p = pos[tid]
                # Every part already ordered (state 2: nothing is mid-ordering here):
                # ordering the prototype would queue nothing.
                if ostate[w[p + 2]] and all(map(ostate.__getitem__, w[p + 4:p + 3 + 2 * (w[p + 1] & VLEN_MASK):2])):
                    continue
            if id_order:
                done[0] = tid
            order(tid, False, 0)
            if queue:
                for q in queue:
                    emit(q, 0, 0)
                queue.clear()
            if declare and (kinds[tid] in _DECLARED_THROUGH
                            or (kinds[tid] in (STRUCT, UNION) and not w[pos[tid]])):
                emit(tid, tid, 0)   # (an anonymous record is written inline: what it names, first)
        if id_order:
            done[0] = self.n
        return self.items

    def id_order_roots(self) -> list:
        """The roots of an id-order dump that can do anything when their turn comes.

        Leaf kinds (int, float, func, var, datasec, decl tag) queue nothing as roots; they
        are left out and ordering treats those below the current root as visited.  A
        pointer, qualifier, type tag, array or prototype only passes the walk on to the
        types it names; when all of those have smaller ids they were dealt with as roots
        before it, so its own turn would queue nothing and mark it ordered, which a later
        walk through it finds out again at once: it is left out too; so is a prototype
        whose return and parameter types all have smaller ids (nearly all of a kernel's,
        which come right after what they use).  What remains is checked in the loop against
        what is ordered by then.
        """
        w, pos, kinds = self.w, self.pos, self.kinds
        ids = range(self.n)
        roots = list(compress(ids, kinds.translate(_SEL_ROOT_ALWAYS)))
        roots += [t for t in compress(ids, kinds.translate(_SEL_ROOT_THIRD)) if w[pos[t] + 2] > t]
        roots += [t for t in compress(ids, kinds.translate(_SEL_ARRAYS)) if w[pos[t] + 3] > t]
        roots += self._proto_scan()
        roots.sort()
        return roots


# -- sorted order (bpftool >= 7.5) ------------------------------------------------------------

def sorted_roots(table) -> list[int]:
    """Every id in newer bpftool's sorted order (see the module docstring)."""
    w, pos, kinds = table.w, table.pos, table.kind
    strs = table.strs
    n = table.count + 1

    def fail(what):
        raise MalformedInput(what, path=table.path, section=table.section)

    def rank(x):
        # The rank of type x; a named reference takes the rank of what it names.
        has_name = False
        for _ in range(MAX_DEPTH):
            k = kinds[x]
            p = pos[x]
            if x and w[p]:
                has_name = True
            if k == ENUM or k == ENUM64:
                return 1 if has_name else 0
            if k == INT or k == FLOAT:
                return 2
            if k == STRUCT or k == UNION:
                return 3 if has_name else 10
            if k == FUNC_PROTO:
                return 4 if has_name else 10
            if k == ARRAY and has_name:
                x = w[p + 3]
                continue
            if k in (TYPE_TAG, CONST, PTR, VOLATILE, RESTRICT, TYPEDEF, DECL_TAG) and has_name:
                x = w[p + 2]
                continue
            return 10
        fail("type chain is a cycle")

    def sort_name(x):
        from_ref = False
        for _ in range(MAX_DEPTH):
            k = kinds[x]
            p = pos[x]
            if x == 0:
                return ""
            if k == ENUM or k == ENUM64:
                off = w[p]
                if not from_ref and not off and w[p + 1] & VLEN_MASK:
                    off = w[p + 3]
                return strs[off]
            if k == ARRAY:
                x = w[p + 3]
                from_ref = True
                continue
            if k in (TYPE_TAG, CONST, PTR, VOLATILE, RESTRICT, TYPEDEF, DECL_TAG):
                x = w[p + 2]
                from_ref = True
                continue
            return strs[w[p]]
        fail("type chain is a cycle")

    mask = (1 << 64) - 1
    # Both hashes are pure functions of their argument: each is worked out once.
    str_hashes: dict = {}
    type_hashes: tuple = ({}, {})   # without, with members

    def shash(s):
        h = str_hashes.get(s)
        if h is None:
            h = 0
            for ch in s.encode("utf-8", "surrogateescape"):
                h = (h * 31 + ch) & mask
            str_hashes[s] = h
        return h

    def nhash(h, off):
        return (h * 31 + shash(strs[off])) & mask if off else h

    def dhash(x, members, depth=0):
        known = type_hashes[members]
        h = known.get(x)
        if h is None:
            h = known[x] = type_hash(x, members, depth)
        return h

    def type_hash(x, members, depth):
        if depth > MAX_DEPTH:
            fail("type chain is a cycle")
        if x == 0:
            return 0
        p = pos[x]
        k = kinds[x]
        h = nhash(0, w[p])
        if k == ENUM or k == ENUM64:
            step = 2 if k == ENUM else 3
            for i in range(w[p + 1] & VLEN_MASK):
                h = nhash(h, w[p + 3 + step * i])
        elif k == STRUCT or k == UNION:
            if members:
                for i in range(w[p + 1] & VLEN_MASK):
                    q = p + 3 + 3 * i
                    h = nhash(h, w[q])
                    h = (h * 31 + dhash(w[q + 1], False, depth + 1)) & mask
        elif k in (TYPE_TAG, CONST, PTR, VOLATILE, RESTRICT, TYPEDEF, DECL_TAG):
            h = (h * 31 + dhash(w[p + 2], members, depth + 1)) & mask
        elif k == ARRAY:
            h = (h * 31 + w[p + 5]) & mask
            h = (h * 31 + dhash(w[p + 3], members, depth + 1)) & mask
        return h

    try:
        # Every type's own name is part of its key: decoded in one pass.
        strs.prefetch([w[p] for p in pos[1:]])
        # Functions (rank 10) and prototypes (rank 4 when named) sort by their own names;
        # they are most of a kernel's types and need no walk.
        ids = range(n)
        keys = [(10, (nm := strs[w[pos[x]]]), nm, x) for x in compress(ids, kinds.translate(_SEL_FUNCS))]
        keys += [(4 if (o := w[pos[x]]) else 10, (nm := strs[o]), nm, x)
                 for x in compress(ids, kinds.translate(_SEL_PROTOS))]
        keys += [(rank(x), sort_name(x), strs[w[pos[x]]], x)
                 for x in compress(ids, kinds.translate(_SEL_SORT_OTHERS)) if x]
        # Names compare as bytes (C's strcmp); ASCII names compare the same as text.
        if not strs.raw.isascii():
            keys = [(r, s.encode("utf-8", "surrogateescape"), nm.encode("utf-8", "surrogateescape"), x)
                    for r, s, nm, x in keys]
        keys.sort()
        out = [k[3] for k in keys]
        # Ties on (rank, sort name, own name) are broken by the structural hash, then by id;
        # the hash is only worth computing inside such ties.
        heads = [k[:3] for k in keys]
        end = len(out)
        for i in compress(range(end - 1), map(_eq, heads, heads[1:])):
            if i and heads[i - 1] == heads[i]:
                continue   # inside a run already sorted
            j = i + 1
            while j < end and heads[j] == heads[i]:
                j += 1
            out[i:j] = sorted(out[i:j], key=lambda x: (dhash(x, True), x))
        return out
    except IndexError:
        fail("a type refers to a type id that does not exist, or a record is cut short")
    except RecursionError:
        fail("type graph nests too deeply (a cycle?)")
