"""The layout of BTF types: sizes, alignment, packing, member placement and C's explicit padding.

One :class:`Layout` per type table answers every layout question the
package has: ``Btf.sizeof``/``alignof``, the C printer (which members need
padding before them, whether a struct is packed), the skeleton generators
and the ctypes classes (where each member and bitfield lies).  The rules
are libbpf's, so that what we print matches what bpftool prints:

Size (``btf__resolve_size``)
    Sized kinds (int, struct, union, enum, enum64, datasec, float) give their
    size word; a pointer gives the pointer size; typedefs, qualifiers, type
    tags, variables and decl tags give the size of what they name; an array
    multiplies by its element count (a total beyond 32 bits is ``-E2BIG``).
    Anything else -- void, a function, a forward declaration -- has no size
    (``-EINVAL``), as does a chain more than 32 steps long.

Pointer size
    libbpf's guess: the size of the first 4- or 8-byte integer called
    ``long`` (in any of its spellings), else 8 (:attr:`Table.ptr_size`).

Alignment (``btf__align_of``)
    Integers, enums and floats align to their size but at most to the
    pointer size (so a 16-byte integer aligns to 8); pointers to the pointer
    size; typedefs, qualifiers, type tags and arrays to what they name.  A
    struct or union aligns to its most aligned member -- unless a
    non-bitfield member is misaligned for its type, or the size is not a
    multiple of that alignment: then it was packed, and aligns to 1.  Other
    kinds have no alignment (0); a record with such a member has none
    either.  A record that contains itself by value is a cycle (an error).

Packing (``btf_is_struct_packed``)
    A struct is written ``__attribute__((packed))`` when a non-bitfield member
    is misaligned for its type or its size is not a multiple of its largest
    member alignment.

Placement (:meth:`Layout.members`)
    Each member's bit offset and bitfield size (``kind_flag`` records keep
    the bitfield size in the top 8 bits of the offset word; otherwise a
    member is never a bitfield here), and the bit where it ends: offset plus
    bitfield size, or plus its type's size (0 when it has none).

Explicit padding (:meth:`Layout.plan`, :func:`fillers`)
    A C compiler places members at their natural alignment; where BTF puts
    a member later than that, or a struct's size goes past its last member,
    the C text must say so with unnamed bitfields.  Between the end of one
    member and the start of the next (or the end of the struct): take the
    widest of long, int, short, char whose alignment boundary at or after the
    current bit is not past the next offset; if getting to that boundary
    needs saying (inside a run of bitfields, or when the next member's own
    alignment would not land exactly there, or when the filler that follows
    would fit in the hole before the boundary anyway) write ``<type>: 0``
    (``<type>: N`` inside bitfields); then fill whole ``<type>: <width>``
    units and finish with the narrowest type that holds the remainder.
    Members of a packed struct count as aligned to 1 here.  In a packed
    struct a filler that is not zero-width does not align itself either (gcc
    and clang place it at the current bit), so there the way to the boundary
    before whole units is always said, as its width (``long: 32``), as inside
    bit-fields (a zero-width filler would raise a packed struct's alignment on
    AArch64); bpftool does not say it, and its text then lays such a struct
    out shorter than its BTF.

Bounds (hostile BTF): a record whose gaps add up to more than its own size
(members past its end, or going back and forth) is refused, so the padding
of a record never exceeds the record's size; fillers come back as runs
(type, bits, count), never one item per unit.
"""

from __future__ import annotations



from bpfinspect.btf.kinds import (ARRAY, BIT_OFFSET_MASK, BITFIELD_SHIFT, CONST, DATASEC, DECL_TAG, ENUM,
                                  ENUM64, FLOAT, INT, KFLAG_SHIFT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF,
                                  UNION, VAR, VLEN_MASK, VOLATILE)
from bpfinspect.btf.table import Filled, TableView

# libbpf's negative errno values for a type without a size.
EINVAL = -22
E2BIG = -7
# libbpf's MAX_RESOLVE_DEPTH: longest chain btf__resolve_size follows.
MAX_RESOLVE_DEPTH = 32
# How long a chain of typedefs, qualifiers and arrays may be before we call it a cycle.
MAX_DEPTH = 300
# How deep records may nest by value (a struct holding a struct holding ...): real kernels nest
# fewer than 20.  The bound is explicit, not Python's recursion limit, so that the compiled
# engine (bpfinspect.compiled), which does not count every call, stops where the interpreter does.
MAX_NESTING = 100
_U32_MAX = 0xFFFFFFFF

_SIZED = frozenset({INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT})

_SIZE_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, VAR, DECL_TAG, TYPE_TAG})
_ALIGN_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY})
_SCALARS = frozenset({INT, ENUM, ENUM64, FLOAT})

# The plans of records that need no padding (shared: most records have one of them).
_PLAIN = (False, None)
_PACKED = (True, None)


def fillers(cur: int, nxt: int, nxt_align: int, in_bitfield: bool, long_bits: int, packed: bool = False) -> list:
    """The unnamed bitfields that move a C struct from bit ``cur`` to bit ``nxt``, as runs
    ``(type, bits, count)``: bpftool's explicit padding (see the module docstring).
    ``nxt_align`` is the next member's alignment in bytes (0 when unknown)."""
    if cur >= nxt:
        return []
    pads = (("long", long_bits), ("int", 32), ("short", 16), ("char", 8))
    out = []
    new = cur
    pad_type, pad_bits = "char", 8
    for pad_type, pad_bits in pads:
        new = -(-cur // pad_bits) * pad_bits
        if new <= nxt:
            break
    if cur < new <= nxt:
        aligned = -(-cur // (nxt_align * 8)) * (nxt_align * 8) if nxt_align > 0 else cur
        # In a packed struct a filler that is not zero-width does not align itself: the way to
        # the boundary is said as its width, as inside bit-fields (a zero-width one would raise
        # the struct's alignment on some ABIs, AArch64's among them).
        exact = in_bitfield or (packed and new != nxt)
        if exact or (new == nxt and aligned != new) or (new != nxt and nxt - new <= new - cur):
            out.append((pad_type, new - cur if exact else 0, 1))
        cur = new
    whole = (nxt - cur) // pad_bits
    if whole:
        out.append((pad_type, pad_bits, whole))
        cur += whole * pad_bits
    rest = nxt - cur
    if rest:
        # The remainder, in the narrowest type that holds it.
        for name, nbits in reversed(pads):
            if nbits >= rest:
                out.append((name, rest, 1))
                break
    return out


# fillers() looks at bit positions only through multiples of 8, 16, 32 and 64 bits (when the
# next alignment is 1, 2, 4 or 8 bytes and a long is 4 or 8): the same gap 64 bits further on
# gets the same runs.  Kept by (position within 64 bits, gap, alignment, in a bitfield, long).
_RUNS: dict = {}


def gap_fillers(cur: int, nxt: int, nxt_align: int, in_bitfield: bool, long_bits: int,
                packed: bool = False) -> list:
    """:func:`fillers`, remembered for gaps that look alike."""
    if nxt_align in (0, 1, 2, 4, 8):
        key = (cur & 63, nxt - cur, nxt_align, in_bitfield, long_bits, packed)
        r = _RUNS.get(key)
        if r is None:
            if len(_RUNS) > 4096:
                _RUNS.clear()
            r = _RUNS[key] = fillers(cur & 63, (cur & 63) + nxt - cur, nxt_align, in_bitfield, long_bits, packed)
        return r
    return fillers(cur, nxt, nxt_align, in_bitfield, long_bits, packed)


class Layout(TableView):
    """Sizes, alignments and member placement over a :class:`~bpfinspect.btf.table.Table`."""

    def __init__(self, table) -> None:
        super().__init__(table)
        self.ptr_size = table.ptr_size
        self.long_bits = self.ptr_size * 8
        self._size: dict[int, int] = {}
        # type id -> alignment (a record being looked at holds -1 meanwhile); fills itself.
        self._align = self.aligns = Filled(self.alignof)
        self._align[0] = 0
        self._plans: dict[int, tuple] = {}
        self._nesting = 0   # records being planned, one inside the other
        # Member facts, filled on demand: the size in bits (0 when the type has none) and the
        # alignment in bits as a divisor (1 when the type has none).
        self.bits = Filled(self._bits_of)
        self.align_bits = Filled(self._align_bits_of)

    def _bits_of(self, tid: int) -> int:
        k = self.kinds[tid] if 0 < tid < self.n else -1
        if k == PTR:
            b = self.long_bits
        elif k == STRUCT or k == UNION or k == INT or k == ENUM:
            b = self.w[self.pos[tid] + 2] * 8
        else:
            s = self.sizeof(tid)
            b = s * 8 if s > 0 else 0
        self.bits[tid] = b
        return b

    def _align_bits_of(self, tid: int) -> int:
        k = self.kinds[tid] if 0 < tid < self.n else -1
        if k == PTR:
            # (the two commonest member types answered here, as alignof would)
            a = self._align[tid] = self.ptr_size
        elif k in _SCALARS:
            a = self._align[tid] = min(self.ptr_size, self.w[self.pos[tid] + 2])
        else:
            a = self.alignof(tid)
        b = self.align_bits[tid] = a * 8 if a > 0 else 1
        return b

    def check(self, tid: int) -> int:
        if not 0 <= tid < self.n:
            self.fail(f"type id {tid} out of range (last is {self.n - 1})")
        return tid

    # -- size ----------------------------------------------------------------------------------

    def sizeof(self, tid: int) -> int:
        """libbpf's resolved size in bytes; negative (``-EINVAL``, ``-E2BIG``) when none."""
        r = self._size.get(tid)
        if r is not None:
            return r
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        x = tid
        nelems = 1
        size = -1
        for _ in range(MAX_RESOLVE_DEPTH):
            if x == 0:
                break
            if not 0 < x < n:
                self.fail(f"type [{tid}] refers to type id {x}, which does not exist")
            k = kinds[x]
            p = pos[x]
            if k in _SIZED:
                size = w[p + 2]
                break
            if k == PTR:
                size = self.ptr_size
                break
            if k in _SIZE_THROUGH:
                x = w[p + 2]
            elif k == ARRAY:
                ne = w[p + 5]
                if nelems and ne > _U32_MAX // nelems:
                    size = E2BIG
                    break
                nelems *= ne
                x = w[p + 3]
            else:
                break
        if size == E2BIG:
            r = E2BIG
        elif size < 0:
            r = EINVAL
        elif nelems and size > _U32_MAX // nelems:
            r = E2BIG
        else:
            r = nelems * size
        self._size[tid] = r
        return r

    # -- alignment -----------------------------------------------------------------------------

    def alignof(self, tid: int) -> int:
        """libbpf's alignment in bytes (1 for a packed record); 0 when the type has none."""
        r = self._align.get(tid)
        if r is not None:
            return r
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        # Typedefs, qualifiers, tags and arrays take the alignment of what they name.
        chain = []
        x = tid
        while True:
            if not 0 <= x < n:
                self.fail(f"type [{tid}] refers to type id {x}, which does not exist")
            r = self._align.get(x)
            if r is not None:
                if r < 0:
                    self.fail(f"type [{x}] contains itself (a cycle by value)")
                break
            k = kinds[x]
            if k not in _ALIGN_THROUGH:
                p = pos[x]
                if k in _SCALARS:
                    r = min(self.ptr_size, w[p + 2])
                elif k == PTR:
                    r = self.ptr_size
                elif k == STRUCT or k == UNION:
                    self.plan(x)
                    r = self._align[x]
                else:
                    r = 0
                self._align[x] = r
                break
            chain.append(x)
            if len(chain) > MAX_DEPTH:
                self.fail(f"type [{tid}] is a cycle of typedefs, qualifiers or arrays")
            x = w[pos[x] + 3] if k == ARRAY else w[pos[x] + 2]
        for y in chain:
            self._align[y] = r
        return r

    # -- records -------------------------------------------------------------------------------

    def members(self, tid: int) -> list[tuple[int, int, int, int, int]]:
        """Each member of a struct or union as ``(name offset, type id, bit offset, bitfield
        size, end bit)``; the bitfield size is 0 for a plain member."""
        w, p = self.w, self.pos[tid]
        info = w[p + 1]
        q = p + 3
        e = q + 3 * (info & VLEN_MASK)
        bits = self.bits
        if info >> KFLAG_SHIFT:
            out = []
            for no, mt, word in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3]):
                bsz = word >> BITFIELD_SHIFT
                off = word & BIT_OFFSET_MASK
                out.append((no, mt, off, bsz, off + (bsz or bits[mt])))
            return out
        return [(no, mt, off, 0, off + bits[mt]) for no, mt, off in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3])]

    def plan(self, tid: int) -> tuple:
        """How a struct or union is written in C: ``(packed, pads)`` where ``pads`` is None when
        no member needs explicit padding, else a dict from member index (the member count for
        the end of a struct) to the filler runs to write before it (see :func:`fillers`)."""
        r = self._plans.get(tid)
        if r is not None:
            return r
        # While its members are looked at, a record is in progress (alignment -1): meeting it
        # again by value is a cycle.  A look that fails leaves nothing in progress (a later
        # question about the same record fails the same way, instead of reading the -1).
        aligns = self._align
        a = aligns.get(tid)
        if a is None:
            aligns[tid] = -1
        elif a < 0:
            self.fail(f"type [{tid}] contains itself (a cycle by value)")
        if self._nesting >= MAX_NESTING:
            if a is None:
                del aligns[tid]
            self.fail(f"type [{tid}] nests records by value more than {MAX_NESTING} deep (a cycle?)")
        self._nesting += 1
        try:
            return self._plan(tid, a)
        except BaseException:
            if aligns.get(tid) == -1:
                del aligns[tid]
            raise
        finally:
            self._nesting -= 1

    def _plan(self, tid: int, a) -> tuple:
        """:meth:`plan` of a record not planned yet (``a``: its alignment, if known)."""
        aligns = self._align
        w, p = self.w, self.pos[tid]
        info = w[p + 1]
        vlen = info & VLEN_MASK
        kflag = info >> KFLAG_SHIFT
        size_bits = w[p + 2] * 8
        is_struct = self.kinds[tid] == STRUCT
        q = p + 3
        e = q + 3 * vlen
        bits = self.bits
        align_bits = self.align_bits
        # Member by member: where each ends, whether a gap precedes it, whether it is
        # misaligned for its type, and the largest alignment (as bits: a packed struct is one
        # with a misaligned member or a size that is not a multiple of that).
        gaps = None
        off = 0
        misaligned = False
        zero = False   # a member without alignment (align_bits 1)
        best = 8
        if kflag:
            prev_bf = False
            for i, (mt, word) in enumerate(zip(w[q + 1:e:3], w[q + 2:e:3])):
                bsz = word >> BITFIELD_SHIFT
                moff = word & BIT_OFFSET_MASK
                ab = align_bits[mt]
                if ab > best:
                    best = ab
                elif ab == 1:
                    zero = True
                if off < moff:
                    if gaps is None:
                        gaps = []
                    gaps.append((i, off, moff, mt, prev_bf and bsz != 0))
                if bsz:
                    off = moff + bsz
                    prev_bf = True
                else:
                    if moff % ab:
                        misaligned = True
                    off = moff + bits[mt]
                    prev_bf = False
        else:
            gap = False
            mts = w[q + 1:e:3]
            offs = w[q + 2:e:3]
            for mt, moff in zip(mts, offs):
                ab = align_bits[mt]
                if moff % ab:
                    misaligned = True
                if ab > best:
                    best = ab
                elif ab == 1:
                    zero = True
                if off < moff:
                    gap = True
                off = moff + bits[mt]
            if not gap and (off >= size_bits or not is_struct):
                # Nearly every record: no bitfields, no gap, no tail: no padding to write.
                packed = is_struct and (misaligned or size_bits % best != 0)
                if a is None:
                    aligns[tid] = (best >> 3 if not (zero or misaligned or size_bits % best)
                                   else self._record_align(tid, misaligned, zero, best, size_bits))
                r = self._plans[tid] = _PACKED if packed else _PLAIN
                return r
            if gap:
                gaps = []
                off = 0
                for i, (mt, moff) in enumerate(zip(mts, offs)):
                    if off < moff:
                        gaps.append((i, off, moff, mt, False))
                    off = moff + bits[mt]
        if is_struct and off < size_bits:
            if gaps is None:
                gaps = []
            gaps.append((vlen, off, size_bits, tid, False))
        packed = is_struct and (misaligned or size_bits % best != 0)
        if aligns[tid] < 0:
            aligns[tid] = self._record_align(tid, misaligned, zero, best, size_bits)
        pads = None
        if gaps is not None:
            if sum([nxt - cur for _, cur, nxt, _, _ in gaps]) > size_bits:
                self.fail(f"type [{tid}] has members past its end or overlapping gaps: more padding than "
                          f"its {size_bits // 8} bytes")
            pads = {}
            long_bits = self.long_bits
            for i, cur, nxt, mt, in_bf in gaps:
                # The alignment the next member would get by itself (1 in a packed struct);
                # at the end, the struct's own alignment.
                a = self.alignof(mt) if i == vlen or not packed else 1
                runs = gap_fillers(cur, nxt, a, in_bf, long_bits, packed)
                if runs:
                    pads[i] = runs
            if not pads:
                pads = None
        r = self._plans[tid] = (packed, pads)
        return r

    def _record_align(self, tid: int, misaligned: bool, zero: bool, best: int, size_bits: int) -> int:
        """libbpf's alignment of a record from what :meth:`plan` found: 0 when a member has none,
        1 when a member is misaligned or the size is not a multiple of the largest member
        alignment, else that alignment.  (When both of the first two happen, the member met
        first decides, as libbpf stops at it.)"""
        if zero and misaligned:
            w, p = self.w, self.pos[tid]
            info = w[p + 1]
            kflag = info >> KFLAG_SHIFT
            e = p + 3 + 3 * (info & VLEN_MASK)
            align_bits = self.align_bits
            for mt, word in zip(w[p + 4:e:3], w[p + 5:e:3]):
                ab = align_bits[mt]
                if ab == 1:
                    return 0
                if (not kflag or not word >> BITFIELD_SHIFT) and word % ab:
                    return 1
        if zero:
            return 0
        if misaligned or size_bits % best:
            return 1
        return best >> 3
