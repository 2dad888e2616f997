"""A flat, id-indexed table over a decoded BTF blob, built for fast printers.

The raw dumper and the C printer touch every type of a kernel-sized BTF
(about 130,000 types), so they do not go through :meth:`Btf.type` views.
Instead :class:`Table` gives plain lists indexed by type id:

``w``      all record words (a split blob's base words come first),
``pos``    word position of each id's record (``pos[0]`` is unused),
``kind``   kind number per id (0 for void), as bytes,
``strs``   a dict from string offset to string, decoded in one bulk pass
           the first time it is used; offsets that do not start a string are
           decoded on demand and checked against the string section;
``lazy_strs`` the same, decoding each string when first looked up (or a
           batch of them with ``prefetch``).

Strings are decoded as UTF-8 with ``surrogateescape`` so that any byte
sequence round-trips to the exact bytes when written out again.
"""

from __future__ import annotations

import operator
from array import array
from itertools import accumulate, islice, repeat

from bpfinspect.errors import MalformedInput

# The names libbpf accepts for the C ``long`` type when it guesses the pointer size.
_LONG_NAMES = frozenset({
    b"long", b"long int", b"int long", b"unsigned long", b"long unsigned", b"unsigned long int",
    b"unsigned int long", b"long unsigned int", b"long int unsigned", b"int unsigned long",
    b"int long unsigned",
})


class StringTable(dict):
    """Offset -> string; unknown offsets are decoded (and checked) on first use, or a batch
    of them at once with :meth:`prefetch`."""

    def __init__(self, raw: bytes, path, section, items=()) -> None:
        super().__init__(items)
        self.raw = raw
        self.path = path
        self.section = section
        # The section as text with a terminating NUL (ASCII sections: offsets index it), or
        # as bytes with one (others); made on first use.
        self._text: str | bytes | None = None

    def terminated_text(self) -> str | bytes:
        """The whole section with a NUL added at the end: a str when it is ASCII (offsets then
        index it), else bytes."""
        t = self._text
        if t is None:
            raw = self.raw
            t = raw + b"\0"
            if raw.isascii():
                t = t.decode("ascii")
            self._text = t
        return t

    def prefetch(self, offsets) -> None:
        """Decode, in one pass, the strings at those of ``offsets`` not decoded yet."""
        missing = [o for o in set(offsets) if o not in self]
        if not missing:
            return
        if max(missing) >= len(self.raw):
            for o in missing:
                self[o]   # the one outside the section raises
            return
        t = self.terminated_text()
        find = t.index
        if type(t) is str:
            names = [t[o:find("\0", o)] for o in missing]
        else:
            names = [t[o:find(b"\0", o)].decode("utf-8", "surrogateescape") for o in missing]
        self.update(zip(missing, names))

    def with_anon(self, anon: str = "(anon)") -> "StringTable":
        """A copy where offset 0 reads ``anon`` instead of the empty string."""
        t = StringTable(self.raw, self.path, self.section)
        t.update(self)
        t[0] = anon
        return t

    def __missing__(self, off: int) -> str:
        raw = self.raw
        if not 0 <= off < len(raw):
            raise MalformedInput(f"name offset {off} is outside the string section ({len(raw)} bytes)",
                                 path=self.path, section=self.section)
        t = self.terminated_text()
        if type(t) is str:
            s = t[off:t.index("\0", off)]
        else:
            s = t[off:t.index(b"\0", off)].decode("utf-8", "surrogateescape")
        self[off] = s
        return s


def _chain(btf) -> list:
    chain = []
    b = btf
    while b is not None:
        chain.append(b)
        b = b.base
    chain.reverse()
    return chain


class Table:
    """Id-indexed lists over ``btf`` and its bases (see the module docstring)."""

    def __init__(self, btf) -> None:
        self.btf = btf
        self.path = btf.path
        self.section = btf.section
        blobs = _chain(btf)
        if len(blobs) == 1:
            w = btf._w
            pos = [0]
            pos.extend(btf._starts)
            raw = btf._strs
        else:
            w = array("I")
            pos = [0]
            raw_parts = []
            for b in blobs:
                base_len = len(w)
                if base_len:
                    pos.extend([p + base_len for p in b._starts])
                else:
                    pos.extend(b._starts)
                w.extend(b._w)
                raw_parts.append(b._strs)
            raw = b"".join(raw_parts)
        self.w = w
        self.pos = pos
        self.count = len(pos) - 1
        self.start_id = btf.start_id
        # id 0 (void) has no record: its kind is 0 even when there are no records at all
        self.kind = b"\0" + bytes([(w[p + 1] >> 24) & 0x1F for p in islice(pos, 1, None)])
        self._raw_strs = raw

    def __getattr__(self, name: str):
        # ``strs`` is built on first use: a walk over the type graph alone never needs it.
        # ``lazy_strs`` decodes only what is looked up (or prefetched): for printers that
        # need a part of the names.
        if name == "strs":
            strs = self.strs = self._strings(self._raw_strs)
            return strs
        if name == "lazy_strs":
            raw = self._raw_strs
            strs = self.lazy_strs = StringTable(raw, self.path, self.section, () if raw else {0: ""})
            return strs
        raise AttributeError(name)

    def _strings(self, raw: bytes) -> StringTable:
        if not raw:
            return StringTable(raw, self.path, self.section, {0: ""})
        if raw.isascii():
            parts = raw.decode("ascii").split("\0")
        else:
            chunks = raw.split(b"\0")
            parts = [c.decode("utf-8", "surrogateescape") for c in chunks]
            if any(len(c) != len(p) for c, p in zip(chunks, parts)):
                # Multi-byte characters: string offsets count bytes, not characters.
                offsets = accumulate(map(operator.add, map(len, chunks), repeat(1)), initial=0)
                table = StringTable(raw, self.path, self.section, zip(offsets, parts))
                table.pop(len(raw), None)
                return table
        offsets = accumulate(map(operator.add, map(len, parts), repeat(1)), initial=0)
        table = StringTable(raw, self.path, self.section, zip(offsets, parts))
        # The split leaves an empty string just past the end: not a valid offset.
        table.pop(len(raw), None)
        return table

    def fail(self, what: str):
        raise MalformedInput(what, path=self.path, section=self.section)

    def check(self, tid: int, where: int) -> int:
        if not 0 <= tid <= self.count:
            self.fail(f"type [{where}] refers to type id {tid}, out of range (last is {self.count})")
        return tid

    def name(self, tid: int) -> str:
        if tid == 0:
            return ""
        return self.strs[self.w[self.pos[tid]]]

    def ptr_size(self) -> int:
        """Pointer size as libbpf guesses it: the size of the first ``long`` INT (else 8)."""
        w, pos, raw = self.w, self.pos, self._raw_strs
        for tid, k in enumerate(self.kind):
            if k == 1 and tid:
                p = pos[tid]
                off = w[p]
                if w[p + 2] in (4, 8) and off < len(raw):
                    end = raw.find(b"\0", off)
                    if raw[off:end if end >= 0 else len(raw)] in _LONG_NAMES:
                        return w[p + 2]
        return 8
