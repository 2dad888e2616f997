"""BTF rendered as C: the ``vmlinux.h`` printer, and C declarations for skeletons.

Output is byte-for-byte what ``bpftool btf dump file X format c`` (7.1) prints.

How the order of the output is decided
======================================

Types are taken as *roots* one after the other (every id from 1 up, or the
ids the caller asks for).  Each root goes through two phases.

1. **Ordering** walks the type graph from the root and appends to an *emit
   queue* every named definition the root needs *before* it can be written:

   * a struct/union is needed in full when it is reached by value (a member,
     an array element) or when it is anonymous; reached through a pointer, a
     named struct/union needs nothing (a forward declaration will do), so
     the walk stops there;
   * its members are ordered first, then the struct/union itself is queued
     (anonymous ones are not queued: they are written inline where used);
   * named enums and forward declarations are queued when met; an anonymous
     enum is queued only if no other type refers to it (it is then a
     top-level ``enum { A, B };``), otherwise it is written inline;
   * a typedef orders its target (carrying the "through a pointer" flag)
     and is queued after it, unless it was reached through a pointer and its
     target only needed a forward declaration;
   * pointers pass "through a pointer" to their target; arrays, const,
     volatile, restrict and type tags pass the flag they received; function
     prototypes order their return and parameter types; functions,
     variables, data sections and decl tags need nothing;
   * each type is marked *ordering* while its members are walked and
     *ordered* afterwards; meeting an *ordering* struct again by value is an
     impossible cycle (error), through a pointer it is fine (forward decl).

2. **Emission** writes every queued type, in queue order, as a top-level
   definition.  Writing a struct/union first *emits* the types of its
   members with the struct as container: a named struct met that way gets
   a forward declaration ``struct X;`` if it is not written yet; a typedef
   met while its own definition is in progress gets written early; an enum
   or a struct already written is skipped.  Anonymous types are written
   inline at the point of use, indented one tab per nesting level.

Names: struct/union/enum tags and typedef/enumerator identifiers live in
two separate name spaces.  The first type to claim a name keeps it; later
ones get ``___2``, ``___3``... in the order their names are first *printed*
(forward declarations and enums without values never take a suffix).

Layout: members are written one per line; gaps that C's natural alignment
would not reproduce are filled with unnamed bitfields (``long: 64;``,
``int: 0;``...), using the largest of long/int/short/char that aligns;
a struct whose members are misaligned for their types, or whose size is
not a multiple of its alignment, gets ``__attribute__((packed))``.

Declarators: a type chain (pointers, arrays, qualifiers, function
prototypes down to a named base type) is turned into C declarator syntax
around the declared name: qualifiers on the base go first (``const char
*``), qualifiers on pointers after the star (``char * const p``), arrays
and function prototypes wrap the inner declarator in parentheses (``int
(*fn)(void)``, ``char (*p)[16]``, ``int m[2][3]``).

Walking and writing are separate: emission records *items* (a type id for
a top-level definition, a negated struct/union id for a forward
declaration), and the text of the items is rendered afterwards.  Nothing
the walk decides depends on text; the only thing text depends on, beyond
the type itself, is the ``___N`` suffixes, which follow print order.

Speed: everything works on the flat, id-indexed word table of
:mod:`bpfinspect.btf.c_table`, never on per-type objects.  Pointers,
arrays, qualifiers and prototypes (which the walks above pass through
every time) are marked done as soon as everything they lead to is, so
later walks stop at once; declarators of plain types are cached as a
(head, tail) pair around the name, with the type's size and alignment.
For a whole dump three more things happen:

* names that more than one type (or enumerator) claims -- a few dozen in a
  kernel -- are printed as placeholders and settled in one pass over the
  finished text, in text order, which is print order; every other name is
  printed as it is.  Rendering thereby stops depending on order, so:
* every definition is rendered ahead, the named structs and unions a
  column at a time (all their members' declarators, sizes, offsets and
  padding as lists, each record then one slice of a joined list);
* on a kernel-sized BTF with two CPUs free (:mod:`bpfinspect.btf.parallel`)
  the walk runs in a forked child, which then renders the enums and
  typedefs it emitted and the last few records -- this process sends it the
  clashing names as soon as it knows them -- while this process renders the
  other records (with ``--sorted`` the child works out the sorted order and
  walks, and this process renders everything).  The child sends back the items and its texts; should it fail,
  this process walks and renders itself.  The output is the same bytes
  whichever way it is made (the tests force each way on every object).

``--sorted`` (what newer bpftool does by default): the roots are taken in
a sorted order instead of id order: by a rank (anonymous enums 0, named
enums 1, ints/floats 2, named structs/unions 3, named function prototypes
4, typedefs/pointers/arrays/qualifiers take the rank of what they name,
everything else 10), then by a sort name (the type's own name, or for an
anonymous enum its first enumerator, or for a typedef/pointer/array/
qualifier the name of what it refers to), then by the type's own name,
then by a structural hash of names (only consulted inside such ties),
then by id.  Each root then goes through the same ordering and emission
as above, so dependencies still come first.  Two deliberate differences
from bpftool >= 7.5: its loop skips the first entry of the sorted list
(an anonymous enum, which then goes missing from the header) and we do
not; it also appends ``extern`` prototypes of kfuncs and ``__ksym``/
``__weak`` macros, which we leave out (types only).

Public API (for the skeleton generators and ``expand``)
=======================================================

``c_text(btf, ids=None, *, guards=True, sort=False) -> str``
    The whole header (``bpftool btf dump file X format c``), or just the
    types ``ids`` and what they need.
``CDumper(btf, table=None)``
    ``dump(ids=None, *, guards=True, sort=False) -> str`` as above;
    ``sorted_ids() -> list[int]``; ``raw_name(type_id) -> str``.
``CDeclarations(btf, table=None, *, abbreviate=False)`` (a CDumper) adds:
    ``decl(type_id, name="", lvl=0, strip_mods=False, *, indent=None) -> str``:
    a C declaration of ``name`` with that type, as bpftool's skeletons and
    headers write it, e.g. ``'char comm[16]'``, ``'int (*cb)(void *)'``,
    ``'struct task_struct *task'``; with no name just the type
    (``'char[16]'``).  Anonymous structs/unions/enums are written in full,
    inline, indented ``indent`` tabs (or ``struct {...}`` when
    ``abbreviate``).  ``strip_mods`` drops const/volatile/restrict/type tags
    everywhere in the declarator (what bpftool's skeleton does for
    ``.rodata`` variables).
    ``definition(type_id) -> str``: the C definition of a struct, union,
    enum or typedef in the printer's style, ending with ``;`` (a forward
    declaration for a FWD).
    ``dependencies(type_ids) -> str``: C text defining everything those
    types need and the types themselves, in printer order, without guards
    (for ``gen-skel --types``).  Calls share one name space: a name printed
    once keeps its ``___N`` suffix, a type defined once is not repeated.
    ``sizeof(type_id) -> int`` and ``alignof(type_id) -> int``: size and
    alignment as libbpf computes them (pointer size guessed from the BTF's
    ``long``; a misaligned or oddly sized record aligns to 1; a 16-byte
    integer aligns to the pointer size).  ``sizeof`` is negative when the
    type has no size (a function, a forward declaration).
All of them raise :class:`~bpfinspect.errors.MalformedInput` on hostile BTF
(cycles, ids out of range, names outside the string table): every walk
is depth-limited, and a RecursionError never escapes.
"""

from __future__ import annotations

import marshal
import os
import re
from bisect import bisect_right
from collections import Counter
from itertools import accumulate, compress, repeat
from operator import eq as _eq, ge as _ge, is_ as _is, lt as _lt, mod as _mod, not_ as _not

from bpfinspect.btf import parallel
from bpfinspect.btf.c_table import Table
from bpfinspect.btf.kinds import Kind
from bpfinspect.errors import MalformedInput

# In a whole dump with a forked walk, the child also renders this share of the records (the
# last ones by id): the walk is shorter than the parent's rendering.
_CHILD_RECORDS = 0.07


def _split_records(records: list) -> tuple:
    """(the parent's records, the forked walk's) of a whole dump's list of records."""
    cut = len(records) - int(len(records) * _CHILD_RECORDS)
    return records[:cut], records[cut:]


# A name settled at the end of a whole dump (see CDumper._settle_names).
_PLACEHOLDER = re.compile("\x01(e?[0-9]+)\x02")

# How deep the type graph may nest before we call it a cycle.
MAX_DEPTH = 300

HEADER = ("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
          "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
          "#endif\n\n")
FOOTER = ("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
          "#endif /* __VMLINUX_H__ */\n")

# Kind numbers, as plain ints (compared in every hot loop).
(INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR,
 DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = (int(k) for k in list(Kind)[1:])

_QUAL_PREFIX = {VOLATILE: "volatile ", CONST: "const ", RESTRICT: "restrict "}
_QUAL_SUFFIX = {VOLATILE: " volatile", CONST: " const", RESTRICT: " restrict"}
_MODS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds a declarator chain walks through (to the type in the third word; arrays aside).
_THROUGH = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})
_TABS = ["\t" * i for i in range(64)]
# More padding than this between two members (64 MiB) is no record any compiler lays out.
_MAX_PAD_BITS = 64 << 23


def _selector(*kinds: int) -> bytes:
    """A bytes.translate table turning a kind byte into 1 for ``kinds``, else 0 (for compress)."""
    sel = bytearray(256)
    for k in kinds:
        sel[k] = 1
    return bytes(sel)


_SEL_REF_THIRD = _selector(PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG)
_SEL_RECORDS = _selector(STRUCT, UNION)
_SEL_PROTOS = _selector(FUNC_PROTO)
_SEL_ARRAYS = _selector(ARRAY)
_SEL_DATASECS = _selector(DATASEC)
_SEL_ROOT_ALWAYS = _selector(STRUCT, UNION, ENUM, ENUM64, FWD, TYPEDEF)
_SEL_ROOT_THIRD = _selector(PTR, VOLATILE, CONST, RESTRICT, TYPE_TAG)
_SEL_FUNCS = _selector(FUNC)
_SEL_SORT_OTHERS = bytes(0 if k in (FUNC, FUNC_PROTO) else 1 for k in range(256))
_ALIGN_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY})
_ROOT_SKIP = frozenset({0, INT, FLOAT, FUNC, VAR, DATASEC, DECL_TAG})


def _tabs(n: int) -> str:
    return _TABS[n] if n < 64 else "\t" * n


class CDumper:
    """Renders the types of a BTF blob as C (see the module docstring)."""

    # Write anonymous records as ``struct {...}`` in declarators (short display names).
    abbreviate = False

    def __init__(self, btf, table: Table | None = None) -> None:
        t = table or Table(btf)
        self.btf = btf
        self.t = t
        self.w = t.w
        self.pos = t.pos
        self.kinds = t.kind
        n = t.count + 1
        self.n = n
        self.ptr_sz = t.ptr_size()
        self.ostate = bytearray(n)   # 0 unseen, 1 ordering, 2 ordered
        self.estate = bytearray(n)   # 0 not emitted, 1 emitting, 2 emitted
        self.fwd = bytearray(n)      # forward declaration (or early typedef) written
        self.ostate[0] = 2
        self.estate[0] = 2
        self._referenced: set | None = None
        self._protos: tuple | None = None
        self.names: dict[int, str] = {}        # resolved (possibly suffixed) names
        self.tag_counts: dict[str, int] = {}   # struct/union/enum tags
        self.ident_counts: dict[str, int] = {}  # typedefs and enumerators
        self._dcache: dict = {}
        self._plain: dict[int, bool] = {}
        self._align: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._minfo: dict[int, tuple] = {}   # member type -> (decl head, tail, bits, align)
        self.queue: list[int] = []
        # In an id-order dump, leaf roots below this id count as visited.
        self._roots_done = 0
        self._strip_all = False   # within a strip_mods declaration
        # What emission writes, in order: a type id for its top-level definition, a negated
        # struct/union id for a forward declaration (see _text_of).
        self.out: list[int] = []
        # Whole dumps print names that may clash as placeholders, settled in one pass at the
        # end (see _settle_names), so that definitions can be rendered ahead, in bulk.
        self._defer = False
        self._dup_tags: frozenset = frozenset()
        self._dup_idents: frozenset = frozenset()
        self._records: list = []
        self._enums: list = []
        self._typedefs: list = []
        self._pre: dict[int, str] = {}   # top-level definitions rendered ahead (whole dumps)

    def __getattr__(self, name: str):
        # The string table is decoded on first use (a walk over the type graph never needs it).
        if name == "strs":
            strs = self.strs = self.t.lazy_strs
            return strs
        raise AttributeError(name)

    # -- errors ---------------------------------------------------------------------------------

    def fail(self, what: str):
        raise MalformedInput(what, path=self.t.path, section=self.t.section)

    def _guard(self, fn, *args):
        """Run ``fn``; turn an out-of-range id (an IndexError in our tables) into MalformedInput."""
        try:
            return fn(*args)
        except IndexError:
            self.fail("a type refers to a type id that does not exist, or a record is cut short")
        except RecursionError:
            self.fail("type graph nests too deeply (cycle?)")

    # -- referenced types (for anonymous enums) -----------------------------------------------

    @property
    def referenced(self) -> set:
        r = self._referenced
        if r is None:
            r = self._referenced = self._find_referenced()
        return r

    def _find_referenced(self) -> set:
        """Every id some other type refers to (libbpf's rule: not a prototype's return type)."""
        w, pos, kinds = self.w, self.pos, self.kinds
        # Kinds that refer through their third word (pointers, typedefs, qualifiers, functions,
        # variables, decl and type tags), then the lists (members, parameters, section
        # variables) and arrays: one comprehension per shape over the records of those kinds.
        ref = set([w[p + 2] for p in compress(pos, kinds.translate(_SEL_REF_THIRD))])
        ref.update([w[q] for p in compress(pos, kinds.translate(_SEL_RECORDS))
                    for q in range(p + 4, p + 3 + 3 * (w[p + 1] & 0xFFFF), 3)])
        ref.update(self._proto_scan()[0])
        for p in compress(pos, kinds.translate(_SEL_ARRAYS)):
            ref.add(w[p + 3])
            ref.add(w[p + 4])
        for p in compress(pos, kinds.translate(_SEL_DATASECS)):
            ref.update(w[p + 3:p + 3 + 3 * (w[p + 1] & 0xFFFF):3])
        return ref

    def _proto_scan(self) -> tuple:
        """(the parameter types of every prototype, the prototypes with a return or parameter
        type whose id is not below their own), for _find_referenced and _id_order_roots."""
        r = self._protos
        if r is None:
            w, pos = self.w, self.pos
            pids = list(compress(range(self.n), self.kinds.translate(_SEL_PROTOS)))
            starts = [pos[t] + 4 for t in pids]
            vlens = [w[q - 3] & 0xFFFF for q in starts]
            params = [w[q] for q0, v in zip(starts, vlens) for q in range(q0, q0 + 2 * v, 2)]
            owners = [t for t, v in zip(pids, vlens) for _ in range(v)]
            late = set(compress(owners, map(_ge, params, owners)))
            late.update([t for t, q in zip(pids, starts) if w[q - 2] >= t])
            r = self._protos = (params, late)
        return r

    # -- names ----------------------------------------------------------------------------------

    def raw_name(self, tid: int) -> str:
        return self.strs[self.w[self.pos[tid]]] if tid else ""

    def _resolve(self, tid: int, counts: dict) -> str:
        r = self.names.get(tid)
        if r is not None:
            return r
        p = self.pos[tid]
        off = self.w[p]
        if not off:
            return ""
        name = self.strs[off]
        k = self.kinds[tid]
        if k == FWD or (k == ENUM and not self.w[p + 1] & 0xFFFF):
            self.names[tid] = name
            return name
        if self._defer:
            dups = self._dup_idents if k == TYPEDEF else self._dup_tags
            r = f"\x01{tid}\x02" if name in dups else name
            self.names[tid] = r
            return r
        c = counts.get(name, 0) + 1
        counts[name] = c
        r = f"{name}___{c}" if c > 1 else name
        self.names[tid] = r
        return r

    def tag_name(self, tid: int) -> str:
        r = self.names.get(tid)
        return r if r is not None else self._resolve(tid, self.tag_counts)

    def ident_name(self, tid: int) -> str:
        r = self.names.get(tid)
        return r if r is not None else self._resolve(tid, self.ident_counts)

    # -- sizes and alignment ------------------------------------------------------------------

    def sizeof(self, tid: int) -> int:
        """libbpf's resolved size; negative when the type has none (kept as libbpf's -errno)."""
        r = self._size.get(tid)
        if r is not None:
            return r
        w, pos, kinds = self.w, self.pos, self.kinds
        x = tid
        nelems = 1
        size = -22
        for _ in range(32):
            if x == 0:
                break
            k = kinds[x]
            p = pos[x]
            if k in (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT):
                size = w[p + 2]
                break
            if k == PTR:
                size = self.ptr_sz
                break
            if k in (TYPEDEF, VOLATILE, CONST, RESTRICT, VAR, DECL_TAG, TYPE_TAG):
                x = w[p + 2]
                continue
            if k == ARRAY:
                ne = w[p + 5]
                if ne and nelems > 0xFFFFFFFF // ne:
                    size = -7
                    nelems = 1
                    break
                nelems *= ne
                x = w[p + 3]
                continue
            break
        else:
            size = -7
        if size >= 0:
            size *= nelems
            if size > 0xFFFFFFFF:
                size = -7
        self._size[tid] = size
        return size

    def alignof(self, tid: int, depth: int = 0) -> int:
        """libbpf's alignment (a misaligned or oddly sized record aligns to 1); 0 when unknown."""
        r = self._align.get(tid)
        if r is not None:
            return r
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (cycle?)")
        w, pos, kinds = self.w, self.pos, self.kinds
        # Typedefs, qualifiers and arrays take the alignment of what they name.
        chain = []
        x = tid
        k = kinds[x]
        while k in _ALIGN_THROUGH:
            chain.append(x)
            if len(chain) > MAX_DEPTH:
                self.fail(f"type [{tid}] is a cycle of typedefs, qualifiers or arrays")
            x = w[pos[x] + 3] if k == ARRAY else w[pos[x] + 2]
            r = self._align.get(x)
            if r is not None:
                break
            k = kinds[x]
        else:
            p = pos[x]
            if k in (INT, ENUM, ENUM64, FLOAT):
                r = min(self.ptr_sz, w[p + 2])
            elif k == PTR:
                r = self.ptr_sz
            elif x and (k == STRUCT or k == UNION):
                r = self._record_align(x, depth)
            else:
                r = 0
            self._align[x] = r
        for y in chain:
            self._align[y] = r
        return r

    def _record_align(self, tid: int, depth: int) -> int:
        w, p = self.w, self.pos[tid]
        self._align[tid] = 1  # provisional: a record containing itself is a cycle
        vlen = w[p + 1] & 0xFFFF
        kflag = w[p + 1] >> 31
        best = 1
        e = p + 3 + 3 * vlen
        aget = self._align.get
        alignof = self.alignof
        d1 = depth + 1
        for mt, off in zip(w[p + 4:e:3], w[p + 5:e:3]):
            if mt == tid:
                self.fail(f"type [{tid}] contains itself (a cycle by value)")
            a = aget(mt)
            if a is None:
                a = alignof(mt, d1)
            if a <= 0:
                return a
            if a > best:
                best = a
            if (not kflag or not off >> 24) and off % (8 * a):
                return 1
        return 1 if w[p + 2] % best else best

    def is_packed(self, tid: int) -> bool:
        """A struct is written packed when a member is misaligned or the size is not a multiple."""
        w, p = self.w, self.pos[tid]
        vlen = w[p + 1] & 0xFFFF
        kflag = w[p + 1] >> 31
        aget = self._align.get
        alignof = self.alignof
        best = 1
        q = p + 3
        e = q + 3 * vlen
        for mt, off in zip(w[q + 1:e:3], w[q + 2:e:3]):
            a = aget(mt)
            if a is None:
                a = alignof(mt)
            if a and (not kflag or not off >> 24) and off % (8 * a):
                return True
            if a > best:
                best = a
        return bool(w[p + 2] % best)

    # -- ordering -------------------------------------------------------------------------------
    #
    # Pointers, arrays, qualifiers and prototypes are never "ordered" or "emitted" in the
    # algorithm above: they are walked through every time.  Once everything they lead to is
    # ordered (emitted), walking them can change nothing and yields the same answer as an
    # ordered (emitted) type, so we mark them too and later visits stop at once.

    def _order(self, tid: int, through_ptr: bool, depth: int) -> int:
        ostate = self.ostate
        st = ostate[tid]
        if st == 2:
            return 1
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (a cycle through typedefs, pointers or arrays?)")
        k = self.kinds[tid]
        w = self.w
        p = self.pos[tid]
        if st == 1:
            if (k == STRUCT or k == UNION) and through_ptr and w[p]:
                return 0
            self.fail(f"unsatisfiable type cycle through type [{tid}]")
        if k == PTR:
            r = self._order(w[p + 2], True, depth + 1)
            ostate[tid] = 2
            return r
        if k == STRUCT or k == UNION:
            if through_ptr and w[p]:
                return 0
            ostate[tid] = 1
            vlen = w[p + 1] & 0xFFFF
            order = self._order
            d1 = depth + 1
            kinds, pos = self.kinds, self.pos
            for mt in w[p + 4:p + 3 + 3 * vlen:3]:
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
                self.queue.append(tid)
            ostate[tid] = 2
            return 1
        if k == TYPEDEF:
            strong = self._order(w[p + 2], through_ptr, depth + 1)
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            ostate[tid] = 2
            return 1
        if k == FUNC_PROTO:
            strong = self._order(w[p + 2], through_ptr, depth + 1) > 0
            vlen = w[p + 1] & 0xFFFF
            params = w[p + 4:p + 3 + 2 * vlen:2]
            for pt in params:
                if self._order(pt, through_ptr, depth + 1) > 0:
                    strong = True
            if ostate[w[p + 2]] == 2 and all(map(ostate.__getitem__, params)):
                ostate[tid] = 2
            return 1 if strong else 0
        if k == ARRAY:
            elem = w[p + 3]
            r = self._order(elem, False, depth + 1)
            if ostate[elem] == 2:
                ostate[tid] = 2
            return r
        if k in (VOLATILE, CONST, RESTRICT, TYPE_TAG):
            target = w[p + 2]
            r = self._order(target, through_ptr, depth + 1)
            if ostate[target] == 2:
                ostate[tid] = 2
            return r
        if k == INT or k == FLOAT:
            ostate[tid] = 2
            # Skipped as a root already (see _dump_all): it counts as ordered.
            return 1 if tid < self._roots_done else 0
        if k == ENUM or k == ENUM64 or k == FWD:
            if w[p] or tid not in self.referenced:
                self.queue.append(tid)
            ostate[tid] = 2
            return 1
        if k in (FUNC, VAR, DATASEC, DECL_TAG):
            ostate[tid] = 2
            return 1 if tid < self._roots_done else 0
        self.fail(f"type [{tid}] has unknown kind {k}")
        return -1

    # -- emission -------------------------------------------------------------------------------

    def _emit(self, tid: int, cont: int, depth: int) -> None:
        estate = self.estate
        es = estate[tid]
        if es == 2:
            return
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (cycle?)")
        k = self.kinds[tid]
        w = self.w
        p = self.pos[tid]
        if es == 1:
            if self.fwd[tid]:
                return
            if k == STRUCT or k == UNION:
                if tid == cont or not w[p]:
                    return
                self.out.append(-tid)
                self.fwd[tid] = 1
            elif k == TYPEDEF:
                self.out.append(tid)
                self.fwd[tid] = 1
            return
        if k == PTR or k == CONST or k == VOLATILE or k == RESTRICT or k == TYPE_TAG:
            target = w[p + 2]
            if estate[target] != 2:
                self._emit(target, cont, depth + 1)
            if estate[target] == 2:
                estate[tid] = 2
        elif k == STRUCT or k == UNION:
            estate[tid] = 1
            top = cont == 0
            named = w[p] != 0
            if top or not named:
                inner = tid if named else cont
                vlen = w[p + 1] & 0xFFFF
                emit = self._emit
                d1 = depth + 1
                kinds, pos, fwd = self.kinds, self.pos, self.fwd
                for mt in w[p + 4:p + 3 + 3 * vlen:3]:
                    if estate[mt] == 2:
                        continue
                    if inner and kinds[mt] == PTR:
                        # A pointer to a named struct/union already forward-declared: nothing to do.
                        tgt = w[pos[mt] + 2]
                        if fwd[tgt] and (kinds[tgt] == STRUCT or kinds[tgt] == UNION):
                            continue
                    emit(mt, inner, d1)
            elif not self.fwd[tid] and tid != cont:
                self.out.append(-tid)
                self.fwd[tid] = 1
            if top:
                self.out.append(tid)
                estate[tid] = 2
            else:
                estate[tid] = 0
        elif k == TYPEDEF:
            estate[tid] = 1
            self._emit(w[p + 2], tid, depth + 1)
            if not self.fwd[tid]:
                self.out.append(tid)
            estate[tid] = 2
        elif k == ARRAY:
            elem = w[p + 3]
            if estate[elem] != 2:
                self._emit(elem, cont, depth + 1)
            if estate[elem] == 2:
                estate[tid] = 2
        elif k == FUNC_PROTO:
            self._emit(w[p + 2], cont, depth + 1)
            vlen = w[p + 1] & 0xFFFF
            params = w[p + 4:p + 3 + 2 * vlen:2]
            for pt in params:
                self._emit(pt, cont, depth + 1)
            if estate[w[p + 2]] == 2 and all(map(estate.__getitem__, params)):
                estate[tid] = 2
        elif k == ENUM or k == ENUM64:
            if cont == 0:
                self.out.append(tid)
            estate[tid] = 2
        elif k == FWD:
            self.out.append(tid)
            estate[tid] = 2
        elif k == INT:
            estate[tid] = 2

    def _blacklisted(self, tid: int) -> bool:
        off = self.w[self.pos[tid]]
        return bool(off) and self.strs[off] == "__builtin_va_list"

    # -- rendering what emission wrote ------------------------------------------------------------

    def _text_of(self, item: int) -> str:
        """The text of one emitted item: a top-level definition, or (negative id) a forward
        declaration of a struct/union."""
        if item < 0:
            return self.struct_fwd(-item) + ";\n\n"
        k = self.kinds[item]
        if k == STRUCT or k == UNION:
            return self.struct_def(item, 0) + ";\n\n"
        if k == TYPEDEF:
            return "" if self._blacklisted(item) else self.typedef_def(item, 0) + ";\n\n"
        if k == ENUM or k == ENUM64:
            return self.enum_def(item, 0, True) + ";\n\n"
        return self.fwd_def(item) + ";\n\n"

    def _render(self, items, whole: bool) -> str:
        """The text of ``items`` in order.  Names are claimed in print order: one item after the
        other, or, for a whole dump, with placeholders settled at the end (definitions are
        then rendered ahead, in bulk, records a column at a time).

        ``items`` may also be a _ForkedWalk, called for them: a whole dump renders ahead while
        the walk that decides the order runs in another process.
        """
        text_of = self._text_of
        # A forked walk in id order shares the rendering; one that sorts first has enough to do.
        share = callable(items) and items.id_order
        deferred = whole and not self._strip_all and self._guard(self._start_deferred)
        if callable(items):
            items.send_names((sorted(self._dup_tags), sorted(self._dup_idents)) if deferred and share
                             else None)
        if deferred:
            try:
                self._guard(self._prerender, share)
                if callable(items):
                    items = items()
                pre = self._pre
                return self._settle_names("".join([pre.get(i) or text_of(i) for i in items]))
            finally:
                self._end_deferred()
        if callable(items):
            items = items()
        return "".join(map(text_of, items))

    # -- definitions ----------------------------------------------------------------------------

    def struct_fwd(self, tid: int) -> str:
        kw = "struct" if self.kinds[tid] == STRUCT else "union"
        return f"{kw} {self.tag_name(tid)}" if self.w[self.pos[tid]] else kw

    def fwd_def(self, tid: int) -> str:
        kw = "union" if self.w[self.pos[tid] + 1] >> 31 else "struct"
        return f"{kw} {self.tag_name(tid)}"

    def typedef_def(self, tid: int, lvl: int) -> str:
        name = self.ident_name(tid)
        target = self.w[self.pos[tid] + 2]
        if target == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self.decl(target, name, lvl)

    def enum_def(self, tid: int, lvl: int, top: bool = False) -> str:
        """An enum's definition; ``top`` when it is a top-level definition (printed once)."""
        w = self.w
        p = self.pos[tid]
        info = w[p + 1]
        vlen = info & 0xFFFF
        head = f"enum {self.tag_name(tid)}" if w[p] else "enum"
        if not vlen:
            return head
        signed = info >> 31
        strs = self.strs
        counts = self.ident_counts
        ind = _tabs(lvl + 1)
        parts = [head, " {"]
        add = parts.append
        q = p + 3
        is64 = self.kinds[tid] == ENUM64
        defer = self._defer
        if defer:
            # Each printing of an enumerator claims its name anew: placeholders for every
            # enumerator of an enum that may be printed more than once (an anonymous one
            # written inline), and for names something else also claims.
            every = not top
            dups = self._dup_idents
            if not is64:
                e = q + 2 * vlen
                offs = w[q:e:2]
                vals = w[q + 1:e:2]
                if every:
                    names = [f"\x01e{o}\x02" for o in offs]
                else:
                    names = [strs[o] for o in offs]
                    if not dups.isdisjoint(names):
                        names = [f"\x01e{o}\x02" if nm in dups else nm for nm, o in zip(names, offs)]
                if signed:
                    vals = [v - 0x100000000 if v & 0x80000000 else v for v in vals]
                nl_ind = "\n" + ind
                add("".join([f"{nl_ind}{nm} = {v}," for nm, v in zip(names, vals)]))
                add(f"\n{_tabs(lvl)}}}")
                return "".join(parts)
        for _ in range(vlen):
            name = strs[w[q]]
            if defer:
                if every or name in dups:
                    name = f"\x01e{w[q]}\x02"
            else:
                c = counts.get(name, 0) + 1
                counts[name] = c
                if c > 1:
                    name = f"{name}___{c}"
            if is64:
                v = w[q + 1] | (w[q + 2] << 32)
                if signed:
                    if v & (1 << 63):
                        v -= 1 << 64
                    add(f"\n{ind}{name} = {v}LL,")
                else:
                    add(f"\n{ind}{name} = {v}ULL,")
                q += 3
            else:
                v = w[q + 1]
                if signed and v & 0x80000000:
                    v -= 0x100000000
                add(f"\n{ind}{name} = {v},")
                q += 2
        add(f"\n{_tabs(lvl)}}}")
        return "".join(parts)

    def _member_info(self, mt: int, lvl1: int) -> tuple:
        """(declarator head, tail, size in bits, alignment, alignment in bits or 1) of a member
        type; head is None when the declarator writes an anonymous definition inline (then it
        is rebuilt every time)."""
        c = self._dcache.get(mt)
        if c is None:
            c = self._simple_decl(mt)
            if c is not None:
                self._dcache[mt] = c
            elif self._is_plain(mt, 0):
                self.decl(mt, "x", lvl1)   # fills the cache (names resolve now, as printed)
                c = self._dcache.get(mt)
        if self.kinds[mt] == PTR:
            sz = a = self.ptr_sz
        else:
            sz = self._size.get(mt)
            if sz is None:
                sz = self.sizeof(mt)
            a = self._align.get(mt)
            if a is None:
                a = self.alignof(mt)
        # a * 8 as the divisor of the misalignment test (1 when the alignment is unknown: no test)
        abits = a << 3 if a > 0 else 1
        if c is None:
            info = (None, None, sz * 8 if sz > 0 else 0, a, abits)
        else:
            info = (c[0], c[1], sz * 8 if sz > 0 else 0, a, abits)
            self._minfo[mt] = info
        return info

    def struct_def(self, tid: int, lvl: int) -> str:
        w = self.w
        p = self.pos[tid]
        info = w[p + 1]
        vlen = info & 0xFFFF
        kflag = info >> 31
        size = w[p + 2]
        is_struct = self.kinds[tid] == STRUCT
        if w[p]:
            head = ("struct " if is_struct else "union ") + self.tag_name(tid) + " {"
        else:
            head = "struct {" if is_struct else "union {"
        # Inside a declaration asked for with strip_mods, inline members lose qualifiers too.
        strip = self._strip_all
        lvl1 = lvl + 1
        items = []
        add = items.append
        strs = self.strs
        decl = self.decl
        mget = self._minfo.get
        minfo = self._member_info
        # Packed-ness needs every member's alignment; it is tracked along the way and only
        # computed up front when a gap needs padding before the last member is seen.
        packed = None if is_struct else False
        best = 1
        misaligned = False
        off = 0
        q = p + 3
        e = q + 3 * vlen
        if not kflag:
            for fo, mt, moff in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3]):
                mi = mget(mt)
                if mi is None:
                    mi = minfo(mt, lvl1)
                h, tl, bits, a, _ = mi
                if a > best:
                    best = a
                if a and moff % (a << 3):
                    misaligned = True
                if off < moff:
                    if packed is None:
                        packed = self.is_packed(tid)
                    self._pad(add, off, moff, 1 if packed else a, False)
                if h is not None and fo and not strip:
                    add(h + strs[fo] + tl)
                else:
                    add(decl(mt, strs[fo], lvl1, strip))
                off = moff + bits
        else:
            prev_bf = False
            for fo, mt, word in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3]):
                bsz = word >> 24
                moff = word & 0xFFFFFF
                mi = mget(mt)
                if mi is None:
                    mi = minfo(mt, lvl1)
                h, tl, bits, a, _ = mi
                if a > best:
                    best = a
                if a and not bsz and moff % (a << 3):
                    misaligned = True
                if off < moff:
                    if packed is None:
                        packed = self.is_packed(tid)
                    self._pad(add, off, moff, 1 if packed else a, prev_bf and bsz != 0)
                if h is not None and fo and not strip:
                    d = h + strs[fo] + tl
                else:
                    d = decl(mt, strs[fo], lvl1, strip)
                if bsz:
                    add(f"{d}: {bsz}")
                    off = moff + bsz
                    prev_bf = True
                else:
                    add(d)
                    off = moff + bits
                    prev_bf = False
        if packed is None:
            packed = misaligned or bool(size % best)
        if is_struct and off < size * 8:
            self._pad(add, off, size * 8, 1 if packed else self.alignof(tid), False)
        if items:
            nl_ind = "\n" + _tabs(lvl1)
            body = nl_ind + (";" + nl_ind).join(items) + ";\n" + _tabs(lvl) + "}"
        elif size:
            body = "\n" + _tabs(lvl) + "}"
        else:
            body = "}"
        if packed:
            return head + body + " __attribute__((packed))"
        return head + body

    def _pad(self, add, cur: int, nxt: int, nxt_align: int, in_bitfield: bool) -> None:
        """Explicit padding from bit ``cur`` to bit ``nxt`` (only what natural alignment won't do)."""
        long_bits = self.ptr_sz * 8
        pads = (("long", long_bits), ("int", 32), ("short", 16), ("char", 8))
        # The widest type whose natural alignment lands at or before the next member.
        new = cur
        pad_type, pad_bits = "char", 8
        for pad_type, pad_bits in pads:
            new = -(-cur // pad_bits) * pad_bits
            if new <= nxt:
                break
        if cur < new <= nxt:
            aligned = -(-cur // (nxt_align * 8)) * (nxt_align * 8) if nxt_align > 0 else cur
            if in_bitfield or (new == nxt and aligned != new) or (new != nxt and nxt - new <= new - cur):
                add(f"{pad_type}: {new - cur if in_bitfield else 0}")
            cur = new
        if nxt - cur > _MAX_PAD_BITS:
            self.fail(f"a member lies {(nxt - cur) // 8} bytes past the previous one: "
                      "not a record a C compiler could lay out")
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                add(f"{pad_type}: {pad_bits}")
                cur += bits
                continue
            for name, nbits in reversed(pads):
                if nbits >= bits:
                    add(f"{name}: {bits}")
                    cur += bits
                    break

    # -- declarators ----------------------------------------------------------------------------

    def decl(self, tid: int, fname: str, lvl: int = 0, strip_mods: bool = False) -> str:
        """C declaration of ``fname`` (may be empty) with type ``tid``."""
        if strip_mods and not self._strip_all:
            self._strip_all = True
            try:
                return self.decl(tid, fname, lvl, True)
            finally:
                self._strip_all = False
        key = tid if not strip_mods else (tid, True)
        c = self._dcache.get(key)
        if c is not None:
            if fname:
                return c[0] + fname + c[1]
            u = c[2]
            if u is None:
                u = c[2] = self._decl(tid, "", lvl, strip_mods, 0)
            return u
        c = self._simple_decl(tid, strip_mods)
        if c is not None:
            self._dcache[key] = c
            return c[0] + fname + c[1] if fname else c[2]
        if not self._is_plain(tid, 0):
            return self._decl(tid, fname, lvl, strip_mods, 0)
        text = self._decl(tid, "\0", lvl, strip_mods, 0)
        head, _, tail = text.partition("\0")
        c = [head, tail, None]
        self._dcache[key] = c
        if fname:
            return head + fname + tail
        u = c[2] = self._decl(tid, "", lvl, strip_mods, 0)
        return u

    def _simple_decl(self, tid: int, strip: bool = False):
        """[head, tail, unnamed] for the common chains, or None: arrays (outermost first) of
        pointers to a named type that may carry const/volatile/restrict itself, e.g.
        ``char comm[16]``, ``const char *name``, ``struct list_head *heads[4]``."""
        w, pos, kinds = self.w, self.pos, self.kinds
        x = tid
        dims = []
        while x and kinds[x] == ARRAY:
            dims.append(w[pos[x] + 5])
            x = w[pos[x] + 3]
            if len(dims) > 8:
                return None
        stars = 0
        while x and kinds[x] == PTR:
            x = w[pos[x] + 2]
            stars += 1
            if stars > 8:
                return None
        mods = []
        while x and kinds[x] in _QUAL_PREFIX:
            mods.append(_QUAL_PREFIX[kinds[x]])
            x = w[pos[x] + 2]
            if len(mods) > 8:
                return None
        if x == 0:
            base = "void"
        else:
            k = kinds[x]
            if k == TYPEDEF:
                base = self.ident_name(x)
            elif k == INT or k == FLOAT:
                base = self.strs[w[pos[x]]]
            elif not w[pos[x]]:
                return None
            elif k == STRUCT or k == UNION:
                base = self.struct_fwd(x)
            elif k == ENUM or k == ENUM64:
                base = "enum " + self.tag_name(x)
            elif k == FWD:
                base = self.fwd_def(x)
            else:
                return None
        if mods and not strip:
            # The qualifier nearest the base type is written first.
            mods.reverse()
            base = "".join(mods) + base
        tail = "".join([f"[{n}]" for n in dims])
        if stars:
            head = base + " " + "*" * stars
            return [head, tail, head + tail]
        return [base + " ", tail, base + tail]

    def _is_plain(self, tid: int, depth: int) -> bool:
        """True when the declarator of ``tid`` writes no anonymous definition inline (cacheable)."""
        r = self._plain.get(tid)
        if r is not None:
            return r
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (cycle?)")
        self._plain[tid] = False  # provisional, for cycles
        w, pos, kinds = self.w, self.pos, self.kinds
        x = tid
        r = True
        for _ in range(MAX_DEPTH):
            if x == 0:
                break
            k = kinds[x]
            p = pos[x]
            if k == FUNC_PROTO:
                vlen = w[p + 1] & 0xFFFF
                for pt in w[p + 4:p + 3 + 2 * vlen:2]:
                    if not self._is_plain(pt, depth + 1):
                        r = False
                        break
                if not r:
                    break
                x = w[p + 2]
            elif k in _THROUGH:
                x = w[p + 2]
            elif k == ARRAY:
                x = w[p + 3]
            else:
                if k in (STRUCT, UNION, ENUM, ENUM64) and not w[p]:
                    r = False
                break
        else:
            self.fail(f"type [{tid}] declarator chain is a cycle")
        self._plain[tid] = r
        return r

    def _decl(self, tid: int, fname: str, lvl: int, strip: bool, depth: int) -> str:
        if depth > MAX_DEPTH:
            self.fail(f"type [{tid}] nests too deeply (cycle?)")
        w, pos, kinds = self.w, self.pos, self.kinds
        stack = []
        x = tid
        while True:
            k = kinds[x]
            if not (strip and k in _MODS):
                stack.append(x)
            if len(stack) > MAX_DEPTH:
                self.fail(f"type [{tid}] declarator chain is a cycle or too long")
            if x == 0:
                break
            if k in _THROUGH:
                x = w[pos[x] + 2]
            elif k == ARRAY:
                x = w[pos[x] + 3]
            else:
                break
        return self._chain(stack, fname, lvl, strip, depth)

    def _chain(self, stack: list, fname: str, lvl: int, strip: bool, depth: int) -> str:
        w, pos, kinds = self.w, self.pos, self.kinds
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
                add(self.ident_name(x))
            elif k == INT or k == FLOAT:
                self._mods(stack, parts)
                add(self.strs[w[pos[x]]])
            elif k == STRUCT or k == UNION:
                self._mods(stack, parts)
                if w[pos[x]]:
                    add(self.struct_fwd(x))
                elif self.abbreviate:
                    add("struct {...}" if k == STRUCT else "union {...}")
                else:
                    add(self.struct_def(x, lvl))
            elif k == CONST or k == VOLATILE or k == RESTRICT:
                add(_QUAL_SUFFIX[k])
            elif k == ENUM or k == ENUM64:
                self._mods(stack, parts)
                if w[pos[x]]:
                    add("enum " + self.tag_name(x))
                elif self.abbreviate:
                    add("enum {...}")
                else:
                    add(self.enum_def(x, lvl))
            elif k == FWD:
                self._mods(stack, parts)
                add(self.fwd_def(x))
            elif k == TYPE_TAG:
                self._mods(stack, parts)
                add(f' __attribute__((btf_type_tag("{self.strs[w[pos[x]]]}")))')
            elif k == ARRAY:
                while stack and kinds[stack[-1]] in _MODS:
                    stack.pop()
                nelems = w[pos[x] + 5]
                if not stack:
                    if fname:
                        add(fname if last_ptr else " " + fname)
                    add(f"[{nelems}]")
                    return "".join(parts)
                multidim = kinds[stack[-1]] == ARRAY
                if fname and not last_ptr:
                    add(" ")
                if multidim:
                    add(self._chain(stack, fname, lvl, strip, depth + 1))
                else:
                    add("(")
                    add(self._chain(stack, fname, lvl, strip, depth + 1))
                    add(")")
                add(f"[{nelems}]")
                return "".join(parts)
            elif k == FUNC_PROTO:
                while stack and kinds[stack[-1]] in _MODS:
                    stack.pop()
                if stack:
                    add(" (")
                    add(self._chain(stack, fname, lvl, strip, depth + 1))
                    add(")")
                elif fname:
                    add(fname if last_ptr else " " + fname)
                p = pos[x]
                vlen = w[p + 1] & 0xFFFF
                if vlen == 0 or (vlen == 1 and w[p + 4] == 0):
                    add("(void)")
                    return "".join(parts)
                add("(")
                strs = self.strs
                q = p + 3
                for i in range(vlen):
                    if i:
                        add(", ")
                    pt = w[q + 1]
                    if i == vlen - 1 and pt == 0:
                        add("...")
                        break
                    if strip:
                        add(self.decl(pt, strs[w[q]], lvl, True))
                    else:
                        add(self.decl(pt, strs[w[q]], lvl))
                    q += 2
                add(")")
                return "".join(parts)
            else:
                # Not a type a declaration can name (FUNC, VAR, DATASEC, DECL_TAG): stop here.
                return "".join(parts)
            last_ptr = k == PTR
        if fname:
            add(fname if last_ptr else " " + fname)
        return "".join(parts)

    def _mods(self, stack: list, parts: list) -> None:
        """Qualifiers applied directly to the base type go before it: ``const volatile int``."""
        kinds = self.kinds
        while stack:
            q = _QUAL_PREFIX.get(kinds[stack[-1]])
            if q is None:
                return
            parts.append(q)
            stack.pop()

    # -- whole dumps ----------------------------------------------------------------------------

    def _dump_all(self, roots, id_order: bool) -> None:
        kinds, ostate, w, pos = self.kinds, self.ostate, self.w, self.pos
        order, emit = self._order, self._emit
        if id_order:
            roots = self._id_order_roots()
        for tid in roots:
            if ostate[tid] == 2:
                continue
            k = kinds[tid]
            if not id_order and k in _ROOT_SKIP:
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
                vlen = w[p + 1] & 0xFFFF
                # Every part already ordered (state 2: nothing is mid-ordering here):
                # ordering the prototype would queue nothing.
                if ostate[w[p + 2]] and all(map(ostate.__getitem__, w[p + 4:p + 3 + 2 * vlen:2])):
                    continue
            if id_order:
                self._roots_done = tid
            queue = self.queue = []
            order(tid, False, 0)
            for q in queue:
                emit(q, 0, 0)
        if id_order:
            self._roots_done = self.n

    def _id_order_roots(self) -> list:
        """The roots of an id-order dump that can do anything when their turn comes.

        Leaf kinds (int, float, func, var, datasec, decl tag) queue nothing as roots; they
        are left out and _order treats those below the current root as visited.  A pointer,
        qualifier, type tag, array or prototype only passes the walk on to the types it
        names; when all of those have smaller ids they were dealt with as roots before it
        (ordered, or leaves that count as ordered), so its own turn would queue nothing and
        mark it ordered, which a later walk through it finds out again at once: it is left
        out too; so is a prototype whose return and parameter types all have smaller ids
        (nearly all of a kernel's, which come right after what they use).  What remains is
        checked in the loop against what is ordered by then.
        """
        w, pos, kinds = self.w, self.pos, self.kinds
        ids = range(self.n)
        roots = list(compress(ids, kinds.translate(_SEL_ROOT_ALWAYS)))
        roots += [t for t in compress(ids, kinds.translate(_SEL_ROOT_THIRD)) if w[pos[t] + 2] > t]
        roots += [t for t in compress(ids, kinds.translate(_SEL_ARRAYS)) if w[pos[t] + 3] > t]
        roots += self._proto_scan()[1]
        roots.sort()
        return roots

    def dump(self, ids=None, *, guards: bool = True, sort: bool = False) -> str:
        """The C text for every type (or for ``ids`` and what they need)."""
        if ids is None:
            # (the sorted order is worked out where the walk runs: see _ForkedWalk)
            roots = None if sort else range(1, self.n)
        else:
            roots = list(ids)
            for tid in roots:
                if not 0 <= tid < self.n:
                    self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        whole = ids is None
        id_order = whole and not sort
        walk = None
        if whole and parallel.worth_it(self.n):
            walk = _ForkedWalk.start(self, roots, id_order)
        if walk is None:
            if roots is None:
                roots = self.sorted_ids()
            self._guard(self._dump_all, roots, id_order)
            items = self.out
            self.out = []
            body = self._guard(self._render, items, whole)
        else:
            try:
                body = self._guard(self._render, walk, whole)
            finally:
                walk.close()
        if guards:
            return HEADER + body + FOOTER
        return body

    # -- whole dumps: names settled at the end, records rendered ahead --------------------------
    #
    # In a whole dump every named struct/union is written once at the top level, so its text
    # can be rendered before its turn comes -- in bulk, a column of all members of all records
    # at a time -- if rendering it does not depend on what was printed before.  Only the
    # ``___N`` suffixes do: a name that more than one type (or enumerator) claims gets its
    # suffix in the order the claims are printed.  Such names are printed as placeholders
    # (``\x01<id>\x02`` for a type, ``\x01e<string offset>\x02`` for an enumerator, every
    # printing of which claims anew) and settled in one pass over the finished text, in text
    # order, which is the order they would have been claimed in.  Names no two claimants
    # share (nearly all) are printed as they are.

    def _ids_by_kind(self, kinds) -> list:
        """The ids of the types of the given kinds, in id order."""
        return list(compress(range(self.n), self.kinds.translate(_selector(*kinds))))

    def _start_deferred(self) -> bool:
        raw = self.strs.raw
        if b"\x01" in raw or b"\x02" in raw:
            return False   # a name holding a placeholder's delimiters: settle names as printed
        w, pos, strs, kinds = self.w, self.pos, self.strs, self.kinds
        named = self._ids_by_kind((STRUCT, UNION, ENUM, ENUM64, TYPEDEF))
        records = [tid for tid in named if kinds[tid] <= UNION]   # STRUCT, UNION
        enums = [tid for tid in named if kinds[tid] == ENUM or kinds[tid] == ENUM64]
        typedefs = [tid for tid in named if kinds[tid] == TYPEDEF]
        tags = [w[pos[tid]] for tid in records]
        idents = [w[pos[tid]] for tid in typedefs]
        for tid in enums:
            p = pos[tid]
            vlen = w[p + 1] & 0xFFFF
            if kinds[tid] == ENUM64:
                idents.extend(w[p + 3:p + 3 + 3 * vlen:3])
            else:
                idents.extend(w[p + 3:p + 3 + 2 * vlen:2])
            if vlen and w[p]:
                tags.append(w[p])
        # Tag names are printed here (decoded now, in one pass, and kept); typedef names and
        # enumerators are only compared here (the enums are rendered by the forked walk).
        strs.prefetch(tags)
        text = strs.terminated_text()
        end = text.index
        nul = "\0" if type(text) is str else 0

        def dups(offsets, decoded: bool):
            # Names are compared through their offsets when no two offsets in use hold the
            # same name (string sections are deduplicated); by name otherwise.
            offsets = list(filter(None, offsets))
            distinct = set(offsets)
            if decoded:
                names = [strs[o] for o in distinct]
            else:
                if max(distinct, default=0) >= len(raw):
                    for o in distinct:
                        strs[o]   # the offset outside the string section raises
                names = [text[o:end(nul, o)] for o in distinct]
            if len(set(names)) == len(distinct):
                if len(distinct) == len(offsets):
                    return frozenset()
                return frozenset(strs[o] for o, c in Counter(offsets).items() if c > 1)
            by_off = dict(zip(distinct, names))
            return frozenset(name if type(name) is str else name.decode("utf-8", "surrogateescape")
                             for name, c in Counter(map(by_off.__getitem__, offsets)).items() if c > 1)

        self._dup_tags = dups(tags, True)
        self._dup_idents = dups(idents, False)
        if "__gnuc_va_list" in self._dup_idents:
            return False   # the typedef is recognised by its printed name
        self._records, self._enums, self._typedefs = records, enums, typedefs
        self._defer = True
        return True

    def _end_deferred(self) -> None:
        """Back to settling names as they are printed; caches holding placeholders go."""
        if not self._defer:
            return
        self._defer = False
        self._pre = {}
        self._dcache = {}
        self._minfo = {}
        for tid, r in list(self.names.items()):
            if r.startswith("\x01"):
                del self.names[tid]

    def _settle_names(self, text: str) -> str:
        """Replace the placeholders in ``text`` by the names as printing in order gives them."""
        if "\x01" not in text:
            return text
        w, pos, kinds, strs = self.w, self.pos, self.kinds, self.strs
        tag_counts, ident_counts = self.tag_counts, self.ident_counts
        settled: dict[int, str] = {}

        def settle(m) -> str:
            key = m.group(1)
            if key[0] == "e":
                name = strs[int(key[1:])]
                c = ident_counts.get(name, 0) + 1
                ident_counts[name] = c
                return f"{name}___{c}" if c > 1 else name
            tid = int(key)
            r = settled.get(tid)
            if r is None:
                name = strs[w[pos[tid]]]
                counts = ident_counts if kinds[tid] == TYPEDEF else tag_counts
                c = counts.get(name, 0) + 1
                counts[name] = c
                r = settled[tid] = f"{name}___{c}" if c > 1 else name
            return r

        text = _PLACEHOLDER.sub(settle, text)
        for tid, r in settled.items():
            self.names[tid] = r
        return text

    def _prerender(self, records_only: bool = False) -> None:
        """Render ahead every top-level definition a whole dump can print (names deferred);
        with ``records_only`` just this process's share of the structs and unions (a forked
        walk does the rest, see _render_small_items)."""
        pre = self._pre
        text_of = self._text_of
        records = self._records
        if records_only:
            records = _split_records(records)[0]
        self._prerender_records(records)
        if not records_only:
            for tid in self._enums:
                pre[tid] = text_of(tid)
            for tid in self._typedefs:
                pre[tid] = text_of(tid)

    def _render_small_items(self, items: list, dups) -> dict:
        """Texts of the enums and typedefs among ``items``, names deferred with the clashing
        names ``dups`` (tags, identifiers): the part of the rendering a forked walk takes on.
        Nothing when ``dups`` is None (names cannot be deferred)."""
        if dups is None:
            return {}
        self._dup_tags, self._dup_idents = frozenset(dups[0]), frozenset(dups[1])
        self._defer = True
        w, pos, kinds = self.w, self.pos, self.kinds
        enums = [tid for tid in items if tid > 0 and (kinds[tid] == ENUM or kinds[tid] == ENUM64)]
        typedefs = [tid for tid in items if tid > 0 and kinds[tid] == TYPEDEF]
        offsets = [w[pos[tid]] for tid in enums]
        offsets += [w[pos[tid]] for tid in typedefs]
        for tid in enums:
            p = pos[tid]
            step = 3 if kinds[tid] == ENUM64 else 2
            offsets += w[p + 3:p + 3 + step * (w[p + 1] & 0xFFFF):step]
        self.strs.prefetch(offsets)
        text_of = self._text_of
        texts = {tid: text_of(tid) for tid in enums}
        fnptr = self._fnptr_parts
        for tid in typedefs:
            # Most of a kernel's typedefs name function pointers.
            target = w[pos[tid] + 2]
            if kinds[target] == PTR and kinds[w[pos[target] + 2]] == FUNC_PROTO and not self._blacklisted(tid):
                parts = fnptr(target)
                if parts is not None:
                    texts[tid] = "typedef " + parts[0] + self.ident_name(tid) + parts[1] + ";\n\n"
                    continue
            texts[tid] = text_of(tid)
        # And the last part of the records (the same list the other process splits).
        pre = self._pre
        self._prerender_records(_split_records(self._ids_by_kind((STRUCT, UNION)))[1])
        texts.update(pre)
        return texts

    def _plain_decl(self, tid: int):
        """The cached [head, tail, unnamed] declarator of a plain chain (see _simple_decl), or
        None for any other type."""
        c = self._dcache.get(tid)
        if c is None:
            c = self._simple_decl(tid)
            if c is not None:
                self._dcache[tid] = c
        return c

    def _fnptr_parts(self, mt: int):
        """(head, tail) of the declarator of ``mt``, a pointer to a function prototype, when
        its return and parameter types are all plain chains: ``ret (*`` and ``)(params)``
        around the declared name; None otherwise (the general declarator path does it)."""
        w, pos = self.w, self.pos
        plain = self._plain_decl
        pp = pos[w[pos[mt] + 2]]
        vlen = w[pp + 1] & 0xFFFF
        c = plain(w[pp + 2])
        if c is None:
            return None
        if vlen == 0 or (vlen == 1 and w[pp + 4] == 0):
            return c[2] + " (*", ")(void)"
        strs = self.strs
        decls = []
        q = pp + 3
        for i in range(vlen):
            pt = w[q + 1]
            if pt == 0 and i == vlen - 1:
                decls.append("...")
                break
            pc = plain(pt)
            if pc is None:
                return None
            name = strs[w[q]]
            decls.append(pc[0] + name + pc[1] if name else pc[2])
            q += 2
        return c[2] + " (*", ")(" + ", ".join(decls) + ")"

    def _member_infos(self, types: set) -> dict:
        """_member_info of each of ``types`` (names deferred), the common member types --
        pointers to named records or typedefs, named records, typedefs and enums -- worked
        out inline; the result also holds anonymous member types (head None)."""
        w, pos, kinds, strs = self.w, self.pos, self.kinds, self.strs
        minfo = self._minfo
        out = dict(minfo)
        dup_tags, dup_idents = self._dup_tags, self._dup_idents
        ptr = self.ptr_sz
        pbits = ptr * 8
        alignof, sizeof = self.alignof, self.sizeof
        fnptr = self._fnptr_parts
        rest = []
        for mt in types.difference(minfo):
            k = kinds[mt]
            if k == PTR:
                t = w[pos[mt] + 2]
                tk = kinds[t]
                if tk == FUNC_PROTO:
                    parts = fnptr(mt)
                    if parts is not None:
                        out[mt] = minfo[mt] = (parts[0], parts[1], pbits, ptr, pbits)
                        continue
                elif t and (tk == STRUCT or tk == UNION or tk == TYPEDEF):
                    off = w[pos[t]]
                    if off:
                        nm = strs[off]
                        if tk == TYPEDEF:
                            head = (self.ident_name(t) if nm in dup_idents else nm) + " *"
                        else:
                            head = ("struct " if tk == STRUCT else "union ") + (
                                self.tag_name(t) if nm in dup_tags else nm) + " *"
                        out[mt] = minfo[mt] = (head, "", pbits, ptr, pbits)
                        continue
            elif k == STRUCT or k == UNION or k == TYPEDEF or k == ENUM:
                off = w[pos[mt]]
                if off and (k != ENUM or w[pos[mt] + 1] & 0xFFFF):
                    nm = strs[off]
                    if k == TYPEDEF:
                        head = (self.ident_name(mt) if nm in dup_idents else nm) + " "
                    else:
                        kw = "struct " if k == STRUCT else "union " if k == UNION else "enum "
                        head = kw + (self.tag_name(mt) if nm in dup_tags else nm) + " "
                    sz = sizeof(mt) if k == TYPEDEF else w[pos[mt] + 2]
                    a = alignof(mt)
                    out[mt] = minfo[mt] = (head, "", sz * 8 if sz > 0 else 0, a, a << 3 if a > 0 else 1)
                    continue
            rest.append(mt)
        member_info = self._member_info
        for mt in rest:
            out[mt] = member_info(mt, 1)
        return out

    def _prerender_records(self, records) -> None:
        """Render ahead the definitions of the named ones of ``records`` (structs/unions): a
        column of all their members at a time; a record with a member whose declarator is
        neither a plain chain nor an anonymous type written inline goes through struct_def."""
        w, pos, strs, kinds = self.w, self.pos, self.strs, self.kinds
        recs = []
        starts = []
        vlens = []
        kflags = []   # record indices whose offset words carry bitfield sizes
        pre = self._pre
        for tid in records:
            p = pos[tid]
            if not w[p]:
                continue
            info = w[p + 1]
            vlen = info & 0xFFFF
            if not vlen:
                pre[tid] = self._text_of(tid)
                continue
            if info >> 31:
                kflags.append(len(recs))
            recs.append(tid)
            starts.append(p + 3)
            vlens.append(vlen)
        if not recs:
            return
        idx = [q for q0, v in zip(starts, vlens) for q in range(q0, q0 + 3 * v, 3)]
        fos = [w[q] for q in idx]
        mts = [w[q + 1] for q in idx]
        offs = [w[q + 2] for q in idx]
        infos = self._member_infos(set(mts))
        firsts = [0]
        firsts += accumulate(vlens)
        nmem = len(idx)
        heads, tails, bits, aligns, abits = zip(*[infos[m] for m in mts])
        # Bitfields: the offset word holds the size above bit 24; a bitfield member ends
        # where its bits end, is written ``decl: size``, never counts as misaligned, and
        # padding between two of them is always written.
        bitfield = {}
        if kflags:
            tails = list(tails)
            bits = list(bits)
            abits = list(abits)
            for r in kflags:
                for i in range(firsts[r], firsts[r + 1]):
                    word = offs[i]
                    offs[i] = word & 0xFFFFFF
                    bsz = word >> 24
                    if bsz:
                        bitfield[i] = bsz
                        bits[i] = bsz
                        abits[i] = 1
        bad = set()
        inline: dict = {}
        if None in heads:
            # A member of an anonymous struct, union or enum type has that type's definition
            # written inline (one tab deeper), then its name if it has one.  Records with any
            # other declarator that is not a plain chain are left to struct_def.
            heads = list(heads)
            tails = list(tails)
            for i in compress(range(nmem), map(_is, heads, repeat(None))):
                mt = mts[i]
                k = kinds[mt]
                if (k == STRUCT or k == UNION or k == ENUM or k == ENUM64) and not w[pos[mt]]:
                    text = inline.get(mt)
                    if text is None:
                        text = inline[mt] = self.struct_def(mt, 1) if k <= UNION else self.enum_def(mt, 1)
                    heads[i] = text + " " if fos[i] else text
                else:
                    bad.add(bisect_right(firsts, i) - 1)
                    heads[i] = ""
                tails[i] = ""
        if bitfield:
            tails = list(tails)
            for i, bsz in bitfield.items():
                tails[i] = f"{tails[i]}: {bsz}"
        if 0 in fos:
            # Unnamed members: only an inline definition may go without a name.
            bad.update(bisect_right(firsts, i) - 1 for i in compress(range(nmem), map(_not, fos))
                       if mts[i] not in inline)
        ends = [o + b for o, b in zip(offs, bits)]
        prev = [0]
        prev += ends
        for f in firsts:
            prev[f] = 0
        misaligned = {bisect_right(firsts, i) - 1 for i in compress(range(nmem), map(_mod, offs, abits))}
        sep = ";\n\t"
        seps = [sep] * nmem
        for f in firsts[:-1]:
            seps[f] = "\n\t"
        packed: dict = {}
        pad = self._pad
        # A gap that the next member's own alignment (1, 2, 4 or 8 bytes, at most a long's)
        # already produces needs no padding member (what _pad would find out the long way).
        natural = {1: 8, 2: 16, 4: 32, 8: 64} if self.ptr_sz == 8 else {1: 8, 2: 16, 4: 32}

        def is_packed(r: int) -> bool:
            pk = packed.get(r)
            if pk is None:
                tid = recs[r]
                if kinds[tid] != STRUCT:
                    pk = False
                elif r in misaligned:
                    pk = True
                else:
                    best = max(aligns[firsts[r]:firsts[r + 1]])
                    pk = best > 1 and w[pos[tid] + 2] % best != 0
                packed[r] = pk
            return pk

        for i in compress(range(nmem), map(_lt, prev, offs)):
            r = bisect_right(firsts, i) - 1
            if r in bad:
                continue
            a = 1 if is_packed(r) else aligns[i]
            cur = prev[i]
            nxt = offs[i]
            in_bitfield = i in bitfield and i - 1 in bitfield and i != firsts[r]
            if not in_bitfield:
                ab = natural.get(a)
                if ab and -(-cur // ab) * ab == nxt:
                    continue
            pads = []
            pad(pads.append, cur, nxt, a, in_bitfield)
            if pads:
                seps[i] += sep.join(pads) + sep
        parts = [None] * (4 * nmem)
        parts[0::4] = seps
        parts[1::4] = heads
        strs.prefetch(fos)
        parts[2::4] = [strs[o] for o in fos]
        parts[3::4] = tails
        dup_tags = self._dup_tags
        join = "".join
        for r, tid in enumerate(recs):
            if r in bad:
                pre[tid] = self._text_of(tid)
                continue
            a = firsts[r]
            b = firsts[r + 1]
            p = pos[tid]
            size = w[p + 2]
            name = strs[w[p]]
            if name in dup_tags:
                name = self.tag_name(tid)
            if kinds[tid] == STRUCT:
                pk = is_packed(r)
                end = ends[b - 1]
                text = "struct " + name + " {" + join(parts[4 * a:4 * b])
                if end < size * 8:
                    ra = 1 if pk else self.alignof(tid)
                    ab = natural.get(ra)
                    if not ab or -(-end // ab) * ab != size * 8:
                        pads = []
                        pad(pads.append, end, size * 8, ra, False)
                        if pads:
                            text += sep + sep.join(pads)
                pre[tid] = text + (";\n} __attribute__((packed));\n\n" if pk else ";\n};\n\n")
            else:
                pre[tid] = "union " + name + " {" + join(parts[4 * a:4 * b]) + ";\n};\n\n"

    # -- sorted order (bpftool >= 7.5) ----------------------------------------------------------

    def sorted_ids(self) -> list[int]:
        return self._guard(self._sorted_ids)

    def _sorted_ids(self) -> list[int]:
        w, pos, kinds, strs = self.w, self.pos, self.kinds, self.strs
        n = self.n

        def rank(x):
            # The rank of type x; a named reference takes the rank of what it names.
            has_name = False
            for _ in range(MAX_DEPTH):
                k = kinds[x]
                p = pos[x]
                if x and w[p]:
                    has_name = True
                if k in (ENUM, ENUM64):
                    return 1 if has_name else 0
                if k in (INT, FLOAT):
                    return 2
                if k in (STRUCT, UNION):
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
            self.fail("type chain is a cycle")

        def sort_name(x):
            from_ref = False
            for _ in range(MAX_DEPTH):
                k = kinds[x]
                p = pos[x]
                if x == 0:
                    return ""
                if k in (ENUM, ENUM64):
                    off = w[p]
                    if not from_ref and not off and w[p + 1] & 0xFFFF:
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
            self.fail("type chain is a cycle")

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
                self.fail("type chain is a cycle")
            p = pos[x]
            k = kinds[x]
            h = nhash(0, w[p]) if x else 0
            if x == 0:
                return 0
            if k in (ENUM, ENUM64):
                step = 2 if k == ENUM else 3
                for i in range(w[p + 1] & 0xFFFF):
                    h = nhash(h, w[p + 3 + step * i])
            elif k in (STRUCT, UNION):
                if members:
                    for i in range(w[p + 1] & 0xFFFF):
                        q = p + 3 + 3 * i
                        h = nhash(h, w[q])
                        h = (h * 31 + dhash(w[q + 1], False, depth + 1)) & mask
            elif k in (TYPE_TAG, CONST, PTR, VOLATILE, RESTRICT, TYPEDEF, DECL_TAG):
                h = (h * 31 + dhash(w[p + 2], members, depth + 1)) & mask
            elif k == ARRAY:
                h = (h * 31 + w[p + 5]) & mask
                h = (h * 31 + dhash(w[p + 3], members, depth + 1)) & mask
            return h

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
        i = 0
        end = len(out)
        tie_starts = list(compress(range(end - 1), map(_eq, heads, heads[1:])))
        for i in tie_starts:
            if i and heads[i - 1] == heads[i]:
                continue   # inside a run already sorted
            j = i + 1
            while j < end and heads[j] == heads[i]:
                j += 1
            out[i:j] = sorted(out[i:j], key=lambda x: (dhash(x, True), x))
        return out


class CDeclarations(CDumper):
    """C declarations and definitions of single types, for code generators.

    ``CDeclarations(btf, abbreviate=True)`` writes anonymous structs, unions and enums met
    in a declarator as ``struct {...}`` (a short display name) instead of in full.
    """

    def __init__(self, btf, table: Table | None = None, *, abbreviate: bool = False) -> None:
        super().__init__(btf, table)
        self.abbreviate = abbreviate

    def decl(self, tid: int, fname: str = "", lvl: int = 0, strip_mods: bool = False, *,
             indent: int | None = None) -> str:
        if indent is not None:
            lvl = indent
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(super().decl, tid, fname, lvl, strip_mods)

    def definition(self, tid: int) -> str:
        if not 0 < tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        k = self.kinds[tid]
        if k in (STRUCT, UNION):
            return self._guard(self.struct_def, tid, 0) + ";"
        if k in (ENUM, ENUM64):
            return self._guard(self.enum_def, tid, 0, True) + ";"
        if k == TYPEDEF:
            return self._guard(self.typedef_def, tid, 0) + ";"
        if k == FWD:
            return self.fwd_def(tid) + ";"
        return self.decl(tid) + ";"

    def dependencies(self, type_ids) -> str:
        return self.dump(list(type_ids), guards=False)

    def sizeof(self, tid: int) -> int:  # type: ignore[override]
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(CDumper.sizeof, self, tid)

    def alignof(self, tid: int, depth: int = 0) -> int:  # type: ignore[override]
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return self._guard(CDumper.alignof, self, tid, depth)


class _ForkedWalk:
    """The ordering and emission walk of a whole dump, run by a forked child.

    The child has the same tables (copy-on-write).  It walks; then, given the names that
    clash (which this process works out first and sends it, see :meth:`send_names`), it
    renders the enums and typedefs it emitted and the last few records, and sends back the
    emitted items (a list of ints) and those texts.  Meanwhile this process renders the
    other records.  Calling the
    object returns the items.  Should the child fail (hostile BTF, most likely), the walk
    is redone here, so that its error is raised here.
    """

    def __init__(self, dumper: "CDumper", roots, id_order: bool, pid: int, rfd: int, names_fd: int) -> None:
        self.dumper = dumper   # ``roots`` None: the sorted order, worked out by the child
        self.roots = roots
        self.id_order = id_order
        self.pid = pid
        self.rfd = rfd
        self.names_fd = names_fd

    @classmethod
    def start(cls, dumper: "CDumper", roots, id_order: bool) -> "_ForkedWalk | None":
        forked = parallel.fork_with_pipes(2)
        if forked is None:
            return None
        pid, [(rfd, wfd), (names_r, names_w)] = forked
        if pid == 0:   # the child: leaves without any clean-up of ours
            status = 1
            try:
                os.close(rfd)
                os.close(names_w)
                if roots is None:
                    roots = dumper.sorted_ids()
                dumper._dump_all(roots, id_order)
                items = dumper.out
                try:
                    names = marshal.loads(parallel.read_all(names_r))
                except (EOFError, ValueError, TypeError):
                    names = None
                texts = dumper._render_small_items(items, names)
                parallel.write_all(wfd, marshal.dumps((items, texts)))
                status = 0
            except BaseException:
                pass
            os._exit(status)
        os.close(wfd)
        os.close(names_r)
        return cls(dumper, roots, id_order, pid, rfd, names_w)

    def send_names(self, dups) -> None:
        """Tell the child the clashing names (tags, identifiers), or None: do not render."""
        if self.names_fd < 0:
            return
        try:
            parallel.write_all(self.names_fd, marshal.dumps(dups))
        except OSError:
            pass   # the child is gone: __call__ finds out
        finally:
            os.close(self.names_fd)
            self.names_fd = -1

    def __call__(self) -> list:
        self.send_names(None)   # (if not sent yet)
        try:
            data = parallel.read_all(self.rfd)
        except OSError:
            data = b""
        status = self._reap(wait=True)
        if status == 0 and data:
            try:
                items, texts = marshal.loads(data)
            except (EOFError, ValueError, TypeError):
                items = texts = None
            if type(items) is list and type(texts) is dict:
                if self.dumper._defer:
                    self.dumper._pre.update(texts)
                return items
        d = self.dumper
        d._dump_all(d.sorted_ids() if self.roots is None else self.roots, self.id_order)
        items = d.out
        d.out = []
        return items

    def _reap(self, wait: bool) -> int:
        if self.names_fd >= 0:
            os.close(self.names_fd)
            self.names_fd = -1
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1
        if self.pid <= 0:
            return -1
        status = parallel.reap(self.pid, kill=not wait)
        self.pid = 0
        return status

    def close(self) -> None:
        """Stop and reap the child if its items were never collected (an error here)."""
        if self.pid > 0:
            self._reap(wait=False)


def c_text(btf, ids=None, *, guards: bool = True, sort: bool = False, table: Table | None = None) -> str:
    """The whole C rendering of ``btf`` (what ``bpftool btf dump file X format c`` prints)."""
    return CDumper(btf, table).dump(ids, guards=guards, sort=sort)
