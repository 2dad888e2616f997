"""BTF types as ctypes classes, with exactly BTF's sizes and offsets.

One algorithm serves two clients: the Python skeleton generator (which
writes the class definitions into a module) and the runtime (which needs
classes for typed map keys and values).  Both get the same Python source;
the runtime simply executes it.  That source only uses ``ctypes`` and the
three helpers at the end of this module.

Layout rules, chosen so that ctypes never guesses:

* every Structure and Union has ``_pack_ = 1``; alignment is never left to
  ctypes.  Holes before a member and at the end are explicit ``__padN`` byte
  arrays, so every member lands on the byte offset BTF gives it and the size
  is BTF's size;
* integers map to the fixed-width ctypes integer of their size and
  signedness (``char`` arrays to ``c_char`` arrays, so they read as bytes),
  enums to the integer of their size, pointers to ``c_uint64`` (BPF pointers
  are 64-bit), floats to ``c_float``/``c_double``, anything else of odd size
  to a byte array;
* bitfields: consecutive bitfields are grouped in storage units starting at
  the byte of the first one.  A unit that is 1, 2, 4 or 8 bytes and does not
  run into the next member becomes ctypes bitfields of that width, with
  unnamed bits filled in explicitly.  Anything else (units of 3 bytes,
  bitfields crossing what fits in 64 bits, bitfields in unions) becomes a
  byte array with Python properties that extract and insert the bits.  Each
  class is built immediately and checked against BTF; a bitfield unit that
  ctypes lays out differently is redone as bytes with properties;
* anonymous struct/union members are listed in ``_anonymous_`` so their
  fields read as the parent's, as in C, unless a BTF member name they bring
  repeats one the parent has (hostile BTF): then they are read through their
  stand-in name.  The parent's own names avoid every name its anonymous members
  bring: ctypes replaces a field by a same-named one it brings up, and then
  reads the one it freed;
* names go through :mod:`bpfinspect.quote.python`: a struct named ``event``
  becomes class ``event``; anonymous ones are named after their BTF id
  (``anon_struct_12``); other characters than ASCII letters, digits and ``_``
  become ``_``; keywords, the builtins and names taken already get ``_`` or a
  ``__2`` suffix.  Field names are identifiers by the same rules, unique in
  their class, and never one of ctypes' own attributes (``_fields_``,
  ``from_buffer_copy``...); docstrings show names with their escapes.

Every emitted class is followed by a ``_layout(...)`` call that installs the
bit properties and raises ``ImportError`` at import if sizes, member offsets or
bit positions differ from BTF's (a different Python or ctypes would show up
there, not as silently wrong values).
"""

from __future__ import annotations

import ctypes

from bpfinspect.btf import Btf, Kind
from bpfinspect.btf.kinds import INT_BOOL, INT_SIGNED
from bpfinspect.errors import MalformedInput
from bpfinspect.quote import python as q

MAX_DEPTH = 64
MAX_CHECK_BYTES = 1 << 20
# A field may not take a name ctypes gives a meaning to (the class's or its metaclass's attributes).
CTYPES_ATTRS = frozenset(dir(ctypes.Structure)) | frozenset(dir(ctypes.Union)) | \
    frozenset(dir(type(ctypes.Structure))) | frozenset(dir(type(ctypes.Union))) | \
    {"_fields_", "_pack_", "_anonymous_", "_swappedbytes_", "_align_", "_layout_", "_b_base_", "_objects"}

_INT_NAMES = {(1, False): "ctypes.c_uint8", (1, True): "ctypes.c_int8", (2, False): "ctypes.c_uint16",
              (2, True): "ctypes.c_int16", (4, False): "ctypes.c_uint32", (4, True): "ctypes.c_int32",
              (8, False): "ctypes.c_uint64", (8, True): "ctypes.c_int64"}


class CtypesLayout:
    """Accumulates ctypes class definitions for BTF types, in dependency order."""

    def __init__(self, btf: Btf, *, reserved=(), little_endian: bool = True) -> None:
        self.btf = btf
        self.reserved = set(reserved)
        self.little = little_endian
        self.chunks: list[str] = []
        self.class_of: dict[int, str] = {}     # struct/union/datasec id -> class name
        # Module-level names: classes and aliases (the builtins taken, repeats get __2...).
        self.scope = q.Scope(self.reserved, builtins=True, suffix="__{n}")
        self.aliases: dict[str, str] = {}       # typedef name -> expression
        self._fields: dict[str, list[str]] = {}  # class name -> its (named) fields
        # class name -> (every name, the BTF members' names) it brings as an anonymous member
        self._promoted: dict[str, tuple[frozenset, frozenset]] = {}
        self.ns: dict = namespace()
        self._busy: set[int] = set()

    # ---------------------------------------------------------------- names

    def _unique(self, base: str) -> str:
        return self.scope.take(base)

    def fields_of(self, class_name: str) -> list[str]:
        """The named fields of a class defined here (identifiers), in order."""
        return list(self._fields.get(class_name, ()))

    # ---------------------------------------------------------------- expressions

    def expr(self, tid: int, depth: int = 0) -> str:
        """The ctypes expression for type ``tid`` (defining classes as needed)."""
        btf = self.btf
        if depth > MAX_DEPTH:
            raise MalformedInput(f"type [{tid}] nests too deeply", path=btf.path)
        tid = btf.resolve(tid)
        if tid == 0:
            return "(ctypes.c_uint8 * 0)"
        k = btf.kind(tid)
        if k == Kind.INT:
            t = btf.type(tid)
            size = t.size
            if t.int_encoding & INT_BOOL and size == 1:
                return "ctypes.c_bool"
            key = (size, bool(t.int_encoding & INT_SIGNED))
            return _INT_NAMES.get(key, f"(ctypes.c_uint8 * {size})")
        if k in (Kind.ENUM, Kind.ENUM64):
            size = btf.size(tid)
            return _INT_NAMES.get((size, bool(btf.kflag(tid))), f"(ctypes.c_uint8 * {size})")
        if k == Kind.PTR:
            return "ctypes.c_uint64"
        if k == Kind.FLOAT:
            return {4: "ctypes.c_float", 8: "ctypes.c_double"}.get(btf.size(tid), f"(ctypes.c_uint8 * {btf.size(tid)})")
        if k == Kind.ARRAY:
            arr = btf.type(tid).array
            elem = btf.resolve(arr.type)
            if btf.kind(elem) == Kind.INT and btf.size(elem) == 1 and btf.name(elem) == "char":
                inner = "ctypes.c_char"
            else:
                inner = self.expr(arr.type, depth + 1)
            return f"({inner} * {arr.nelems})"
        if k in (Kind.STRUCT, Kind.UNION, Kind.DATASEC):
            return self.define(tid, depth + 1)
        if k == Kind.VAR:
            return self.expr(btf.ref(tid), depth + 1)
        # FWD, FUNC, FUNC_PROTO and the like have no value representation.
        try:
            size = btf.sizeof(tid)
        except MalformedInput:
            size = 0
        return f"(ctypes.c_uint8 * {size})"

    def named(self, spec: str) -> str:
        """Define the type the user named (``event``, ``struct event``, ``union u``, ``pid_t``); its Python name."""
        btf = self.btf
        spec = " ".join(spec.split())
        # a bare name means what it means in C: a typedef first, then a tag
        kinds: tuple = (Kind.TYPEDEF, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)
        name = spec
        for prefix, ks in (("struct ", (Kind.STRUCT,)), ("union ", (Kind.UNION,)),
                           ("enum ", (Kind.ENUM, Kind.ENUM64))):
            if spec.startswith(prefix):
                name, kinds = spec[len(prefix):], ks
        for kind in kinds:
            ids = btf.find(name, kind)
            if ids:
                tid = ids[0]
                if kind in (Kind.STRUCT, Kind.UNION):
                    return self.define(tid)
                return self.alias(tid)
        raise KeyError(spec)

    def alias(self, tid: int) -> str:
        """A module-level name for a typedef/enum (``pid_t = ctypes.c_int32``); returns that name."""
        btf = self.btf
        name = btf.name(tid)
        target = self.expr(tid)
        if btf.kind(tid) in (Kind.ENUM, Kind.ENUM64):
            return self._enum_class(tid, target)
        pname = q.ident(name)
        if pname == target:
            return pname
        if pname in self.aliases:
            return pname if self.aliases[pname] == target else target
        pname = self._unique(name if pname not in self.scope else f"{name}_t")
        self.aliases[pname] = target
        self._emit(f"{pname} = {target}\n")
        return pname

    def _enum_class(self, tid: int, target: str) -> str:
        btf = self.btf
        t = btf.type(tid)
        base = t.name or f"anon_enum_{tid}"
        if tid in self.class_of:
            return self.class_of[tid]
        name = self._unique(base)
        self.class_of[tid] = name
        doc = q.doc_text(f"enum {t.name or '(anonymous)'}: the constants; values are {target}.")
        lines = [f"class {name}:", f'    """{doc}"""', f"    ctype = {target}"]
        # Constants are unique in the class; a name with two leading underscores is set
        # after the class body, where Python does not mangle it.
        consts = q.Scope({"ctype", "mro"})
        after = []
        for v in t.values:
            ident = consts.take(v.name)
            line = f"{ident} = {int(v.value)}"
            if ident.startswith("__"):
                after.append(f"{name}.{line}")
            else:
                lines.append("    " + line)
        self._emit("\n".join(lines + after) + "\n")
        return name

    # ---------------------------------------------------------------- records

    def define(self, tid: int, depth: int = 0) -> str:
        """Define (once) the class for a STRUCT, UNION or DATASEC; its name."""
        if tid in self.class_of:
            return self.class_of[tid]
        btf = self.btf
        if tid in self._busy:
            raise MalformedInput(f"type [{tid}] contains itself", path=btf.path)
        self._busy.add(tid)
        try:
            k = btf.kind(tid)
            t = btf.type(tid)
            if k == Kind.DATASEC:
                base = "datasec_" + t.name
            else:
                base = t.name or f"anon_{'union' if k == Kind.UNION else 'struct'}_{tid}"
            members = self._members(tid, depth)
            name = self._unique(base)
            self._build(name, t.size, members, k == Kind.UNION, f"{k.name.lower()} {t.name or '(anonymous)'}")
            # (only once the class is defined: a record that cannot be laid out, refused here
            # and written as bytes by a caller, must not be named by a later one; found by
            # fuzz_skel: a Python skeleton named a class it never defined, NameError at import)
            self.class_of[tid] = name
            return name
        finally:
            self._busy.discard(tid)

    def define_datasec(self, class_name: str, size: int, variables) -> str:
        """A class for a data section from (name, offset, size, type_id) entries."""
        members = []
        for name, offset, vsize, type_id in variables:
            if type_id:
                try:
                    e = self.expr(type_id)
                    real = self.btf.sizeof(type_id)
                except MalformedInput:
                    e, real = f"(ctypes.c_uint8 * {vsize})", vsize
            else:
                e, real = f"(ctypes.c_uint8 * {vsize})", vsize
            members.append(_M(name, offset * 8, 0, e, real, False))
        name = self._unique(class_name)
        self._build(name, size, members, False, f"data section {class_name}")
        return name

    def _members(self, tid: int, depth: int) -> list:
        btf = self.btf
        t = btf.type(tid)
        out = []
        if t.kind == Kind.DATASEC:
            for v in t.vars:
                vt = btf.type(v.type)
                if vt.kind != Kind.VAR:
                    continue
                out.append(_M(vt.name, v.offset * 8, 0, self.expr(vt.type, depth), btf.sizeof(vt.type), False))
            return out
        # Where each member lies comes from the one layout engine (bit offset, bitfield size).
        string = btf.string
        sizeof = btf.sizeof
        for name_off, mt, bit_off, bits, _ in btf.layout.members(tid):
            name = string(name_off)
            rt = btf.resolve(mt)
            signed = False
            rk = btf.kind(rt)
            if rk == Kind.INT:
                it = btf.type(rt)
                signed = bool(it.int_encoding & INT_SIGNED)
                if not bits and (it.int_offset or (it.int_bits and it.int_bits < it.size * 8)):
                    # An old-style bitfield: the bits are in the int's own encoding.
                    bits = it.int_bits
                    bit_off += it.int_offset
            elif rk in (Kind.ENUM, Kind.ENUM64):
                signed = bool(btf.kflag(rt))
            if bits:
                out.append(_M(name, bit_off, bits, None, 0, signed))
            else:
                out.append(_M(name, bit_off, 0, self.expr(mt, depth), sizeof(mt),
                              False, anon=not name and rk in (Kind.STRUCT, Kind.UNION)))
        return out

    # ---------------------------------------------------------------- emitting one class

    def _build(self, name: str, size: int, members: list, is_union: bool, what: str) -> None:
        # Field names: identifiers unique in the class (the helper fields avoid them).
        names = q.Scope(CTYPES_ATTRS)
        members = [m.named(names.take(m.name)) if m.name else m for m in members]
        self._fields[name] = [m.name for m in members if m.name]
        for force_raw in (False, True):
            src, brings = self._class_source(name, size, members, is_union, what, force_raw)
            try:
                exec(compile(src, f"<layout {name}>", "exec"), self.ns)  # noqa: S102 - our own generated code
            except ImportError:
                if not force_raw:
                    continue
                raise MalformedInput(f"{what}: cannot be laid out as ctypes", path=self.btf.path) from None
            except (OverflowError, ValueError, TypeError, MemoryError, AttributeError) as exc:
                raise MalformedInput(f"{what}: cannot be laid out as ctypes ({exc})", path=self.btf.path) from None
            self._promoted[name] = brings
            self._emit(src)
            return

    def _class_source(self, name, size, members, is_union, what, force_raw) -> tuple[str, tuple]:
        """The class's source, and (every name, the BTF members' names) it brings into a class
        it is an anonymous member of."""
        fields: list[str] = []
        anonymous: list[str] = []
        offsets: dict[str, int] = {}
        bitchecks: list[tuple] = []
        rawbits: list[tuple] = []
        used = {m.name for m in members if m.name}
        # An anonymous member's fields become this class's: ctypes sets them on it (and so on
        # down).  None may replace a field of this class: ctypes then reads, with some nestings,
        # a field it has freed (found by fuzz_skel: a crash of the interpreter, or "unexpected
        # type").  So this class's own names avoid every name its anonymous members bring, and a
        # member is made anonymous only when its names leave the members' own names (BTF's, not
        # the fillers this module names) as they are: C allows no repeat among them either, and
        # only hostile BTF has one.  Fillers of two members may share a name.
        anonymous_ok: set[int] = set()
        real = set(used)       # names of BTF members this class has, its own or brought
        every = set(used)      # every name it has, its own or brought
        for index, m in enumerate(members):
            if not m.name and m.anon and m.expr in self._promoted:
                inner_every, inner_real = self._promoted[m.expr]
                if not (inner_every & real or inner_real & every):
                    real |= inner_real
                    every |= inner_every
                    anonymous_ok.add(index)
        used |= every
        field_names: list[str] = []
        brought: list[tuple[frozenset, frozenset]] = []   # what the anonymous members bring
        counter = [0]

        def field(fname: str, text: str) -> None:
            field_names.append(fname)
            fields.append(f"({q.literal(fname)}, {text})")

        def member(index: int, m) -> None:
            """A member that is no bitfield, by its name (a stand-in without one)."""
            fname = m.name or fresh("_anon")
            if index in anonymous_ok:
                anonymous.append(fname)
                brought.append(self._promoted[m.expr])
            field(fname, m.expr)

        def fresh(prefix: str) -> str:
            while True:
                n = f"{prefix}{counter[0]}"
                counter[0] += 1
                if n not in used:
                    used.add(n)
                    return n

        def pad(nbytes: int) -> None:
            field(fresh('__pad'), f"ctypes.c_uint8 * {nbytes}")

        if is_union:
            bitmembers = [m for m in members if m.bits]
            for index, m in enumerate(members):
                if m.bits:
                    continue
                if m.bit_off % 8 or m.bit_off // 8 + m.size > size:
                    continue
                member(index, m)
                if m.name:
                    offsets[m.name] = m.bit_off // 8
            # a byte array over the whole union fixes its size and holds any bitfields
            store = fresh("__bits") if bitmembers else fresh("__size")
            field(store, f"ctypes.c_uint8 * {size}")
            for m in bitmembers:
                if m.name and m.bit_off + m.bits <= size * 8:
                    rawbits.append((m.name, store, 0, m.bit_off, m.bits, m.signed))
                    bitchecks.append((m.name, m.bit_off, m.bits, m.signed))
        else:
            cursor = 0  # bytes
            i = 0
            n = len(members)
            while i < n:
                m = members[i]
                if not m.bits:
                    off = m.bit_off // 8
                    if m.bit_off % 8 or off < cursor or off + m.size > size:
                        i += 1  # overlapping or misplaced (hostile BTF): leave those bytes as padding
                        continue
                    if off > cursor:
                        pad(off - cursor)
                    member(i, m)
                    if m.name:
                        offsets[m.name] = off
                    cursor = off + m.size
                    i += 1
                    continue
                # a run of bitfields
                j = i
                while j < n and members[j].bits:
                    j += 1
                limit = size
                for k in range(j, n):
                    if members[k].bit_off // 8 >= cursor:
                        limit = min(limit, members[k].bit_off // 8)
                        break
                run = [m2 for m2 in members[i:j] if m2.bit_off >= cursor * 8 and m2.bit_off + m2.bits <= limit * 8]
                i = j
                if not run:
                    continue
                units = [] if force_raw else _ctypes_units(run, cursor, limit)
                if units is None or force_raw:
                    start = min(m2.bit_off for m2 in run) // 8
                    end = (max(m2.bit_off + m2.bits for m2 in run) + 7) // 8
                    if start > cursor:
                        pad(start - cursor)
                    store = fresh("__bits")
                    field(store, f"ctypes.c_uint8 * {end - start}")
                    for m2 in run:
                        if m2.name:
                            rawbits.append((m2.name, store, start, m2.bit_off - start * 8, m2.bits, m2.signed))
                            bitchecks.append((m2.name, m2.bit_off, m2.bits, m2.signed))
                    cursor = end
                    continue
                for ustart, usize, ubits in units:
                    # a zero-length separator closes any bitfield ctypes still has open
                    field(fresh('__pad'), f"ctypes.c_uint8 * {ustart - cursor}")
                    pos = 0
                    for m2 in ubits:
                        rel = m2.bit_off - ustart * 8
                        if rel > pos:
                            field(fresh('__bits'), f"{_INT_NAMES[(usize, False)]}, {rel - pos}")
                        fname = m2.name or fresh("__bits")
                        field(fname, f"{_INT_NAMES[(usize, m2.signed)]}, {m2.bits}")
                        if m2.name:
                            bitchecks.append((m2.name, m2.bit_off, m2.bits, m2.signed))
                        pos = rel + m2.bits
                    if pos < usize * 8:
                        field(fresh('__bits'), f"{_INT_NAMES[(usize, False)]}, {usize * 8 - pos}")
                    cursor = ustart + usize
            if cursor < size:
                pad(size - cursor)

        # What this class brings into one it is an anonymous member of: its fields but its
        # anonymous ones (whose names it brings instead), the bit properties _layout installs.
        brings = (frozenset().union(*(b[0] for b in brought), (f for f in field_names if f not in anonymous),
                                    (r[0] for r in rawbits)),
                  frozenset().union(*(b[1] for b in brought), (m.name for m in members if m.name)))
        base = "ctypes.Union" if is_union else "ctypes.Structure"
        lines = [f"class {name}({base}):", f'    """{q.doc_text(what)}"""', "    _pack_ = 1"]
        if anonymous:
            lines.append(f"    _anonymous_ = {q.literal(tuple(anonymous))}")
        lines.append("")
        # _fields_ is set outside the class body: names like __u32 would be mangled inside it
        if fields:
            lines.append(f"{name}._fields_ = [")
            for f in fields:
                lines.append(f"    {f},")
            lines.append("]")
        else:
            lines.append(f"{name}._fields_ = []")
        lines.append(f"_layout({name}, {size}, {q.literal(offsets)},")
        lines.append(f"        bits={q.literal(tuple(bitchecks))},")
        lines.append(f"        raw={q.literal(tuple(rawbits))})")
        return "\n".join(lines) + "\n", brings

    def _emit(self, src: str) -> None:
        if not src.endswith("\n"):
            src += "\n"
        if not any(src.startswith(p) for p in ("class ", "_layout")):
            exec(compile(src, "<layout alias>", "exec"), self.ns)  # noqa: S102
        self.chunks.append(src)

    def source(self) -> str:
        text = ""
        prev_class = False
        for i, c in enumerate(self.chunks):
            is_class = c.startswith("class ")
            if i:
                text += "\n\n\n" if (is_class or prev_class) else "\n"
            text += c.rstrip("\n")
            prev_class = is_class
        return text + "\n" if text else ""

    def get(self, name_or_expr: str):
        """The live ctypes type for a name or expression produced by this layout."""
        return eval(name_or_expr, self.ns)  # noqa: S307 - our own generated expression


class _M:
    __slots__ = ("name", "bit_off", "bits", "expr", "size", "signed", "anon")

    def __init__(self, name, bit_off, bits, expr, size, signed, anon=False) -> None:
        self.name = name
        self.bit_off = bit_off
        self.bits = bits
        self.expr = expr
        self.size = size
        self.signed = signed
        self.anon = anon

    def named(self, name: str) -> "_M":
        return _M(name, self.bit_off, self.bits, self.expr, self.size, self.signed, self.anon)


def _ctypes_units(run: list, cursor: int, limit: int):
    """Group a run of bitfields into ctypes storage units (start byte, size, members), or None."""
    units = []
    cur: list = []
    ustart = usize = 0
    floor = cursor
    for m in run:
        if cur:
            end_bit = m.bit_off + m.bits
            need = (end_bit + 7) // 8 - ustart
            size = next((s for s in (1, 2, 4, 8) if s >= need), None)
            if size is not None and m.bit_off >= max(x.bit_off + x.bits for x in cur) and \
                    ustart + size <= limit:
                usize = max(usize, size)
                cur.append(m)
                continue
            units.append((ustart, usize, cur))
            floor = ustart + usize
        ustart = m.bit_off // 8
        if ustart < floor:
            return None  # shares a byte with the previous unit
        need = (m.bit_off + m.bits + 7) // 8 - ustart
        usize = next((s for s in (1, 2, 4, 8) if s >= need), None)
        if usize is None or ustart + usize > limit:
            return None
        cur = [m]
    if cur:
        units.append((ustart, usize, cur))
    # widen each unit's size to cover all its members (done incrementally) and check they do not overlap
    prev_end = cursor
    for ustart, usize, _ in units:
        if ustart < prev_end:
            return None
        prev_end = ustart + usize
    if prev_end > limit:
        return None
    return units


# ---------------------------------------------------------------- helpers used by generated code


def _bit_property(store: str, start: int, bit: int, bits: int, signed: bool, name: str):
    mask = (1 << bits) - 1

    def get(self):
        arr = getattr(self, store)
        lo = bit // 8
        chunk = bytes(arr[lo:(bit + bits + 7) // 8])
        v = (int.from_bytes(chunk, "little") >> (bit - lo * 8)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return v

    def set_(self, value):
        value = int(value)
        if signed:
            if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
                raise ValueError(f"{name}: {value} does not fit in a signed {bits}-bit field")
        elif not 0 <= value <= mask:
            raise ValueError(f"{name}: {value} does not fit in an unsigned {bits}-bit field")
        arr = getattr(self, store)
        lo = bit // 8
        hi = (bit + bits + 7) // 8
        shift = bit - lo * 8
        cur = int.from_bytes(bytes(arr[lo:hi]), "little")
        cur = (cur & ~(mask << shift)) | ((value & mask) << shift)
        arr[lo:hi] = list(cur.to_bytes(hi - lo, "little"))

    return property(get, set_, doc=f"{bits}-bit {'signed' if signed else 'unsigned'} bitfield")


def _forward(anon: str, name: str):
    def get(self):
        return getattr(getattr(self, anon), name)

    def set_(self, value):
        setattr(getattr(self, anon), name, value)

    return property(get, set_)


def _layout(cls, size: int, offsets: dict, *, bits=(), raw=()) -> None:
    """Install bit properties and check the class against BTF's layout (ImportError when it differs)."""
    for name, store, start, bit, nbits, signed in raw:
        setattr(cls, name, _bit_property(store, start, bit, nbits, signed, name))
    fields = dict((f[0], f[1]) for f in cls._fields_)
    for anon in getattr(cls, "_anonymous_", ()):
        inner = fields.get(anon)
        for pname, val in list(vars(inner).items()) if inner is not None else ():
            if isinstance(val, property) and not hasattr(cls, pname):
                setattr(cls, pname, _forward(anon, pname))
    if ctypes.sizeof(cls) != size:
        raise ImportError(f"{cls.__name__}: ctypes size {ctypes.sizeof(cls)} != BTF size {size}")
    for name, off in offsets.items():
        got = getattr(cls, name).offset
        if got != off:
            raise ImportError(f"{cls.__name__}.{name}: ctypes offset {got} != BTF offset {off}")
    if size > MAX_CHECK_BYTES:
        return  # too big to instantiate just to check bit positions
    for name, bit, nbits, signed in bits:
        inst = cls()
        setattr(inst, name, -1 if signed else (1 << nbits) - 1)
        want = ((1 << nbits) - 1) << bit
        if int.from_bytes(bytes(inst), "little") != want:
            raise ImportError(f"{cls.__name__}.{name}: bitfield not at bits {bit}..{bit + nbits - 1}")
        if getattr(inst, name) != (-1 if signed else (1 << nbits) - 1):
            raise ImportError(f"{cls.__name__}.{name}: bitfield reads back wrong")


HELPERS = {"_layout": _layout}


def namespace() -> dict:
    return {"ctypes": ctypes, "_layout": _layout, "__name__": "bpfinspect_layout"}


_CACHE: dict = {}


def ctype_for(btf: Btf, type_id: int):
    """A live ctypes type for BTF type ``type_id`` (classes cached per BTF)."""
    layout = _CACHE.get(id(btf))
    if layout is None or layout[0] is not btf:
        layout = (btf, CtypesLayout(btf))
        _CACHE.clear()
        _CACHE[id(btf)] = layout
    lay = layout[1]
    return lay.get(lay.expr(type_id))
