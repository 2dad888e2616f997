"""A flat, id-indexed table over a decoded BTF blob: what the layout, declarator and printers read.

The printers touch every type of a kernel-sized BTF (about 130,000 types),
so they never build per-type objects.  :class:`Table` gives plain sequences
indexed by type id, a split blob's base ids included:

``w``          every record word (a split blob's base words first),
``pos``        the word position of each id's record (``pos[0]`` is unused),
``kind``       the kind number of each id as bytes (0 for void, id 0),
``strs``       offset -> string (a :class:`StringTable`): a string is decoded
               when first looked up (and its offset checked against the
               string section); a printer that needs every name has them all
               decoded in one pass first (:meth:`StringTable.load_all`), one
               that needs many of them a chunk of the section at a time
               (:meth:`StringTable.load_by_chunk`).

Strings are decoded as UTF-8 with ``surrogateescape``, so any byte sequence
round-trips to the exact bytes when written out again.

The table of a :class:`~bpfinspect.btf.btf.Btf` is made once and kept
(``Btf.table``); ``ptr_size`` is libbpf's guess of the pointer size.
"""

from __future__ import annotations

import operator
from array import array
from itertools import accumulate, repeat

from bpfinspect.btf.kinds import INT, info_kinds
from bpfinspect.errors import MalformedInput

# The names libbpf accepts for the C ``long`` type when it guesses the pointer size.
_LONG_NAMES = frozenset({
    b"long", b"long int", b"int long", b"unsigned long", b"long unsigned", b"unsigned long int",
    b"unsigned int long", b"long unsigned int", b"long int unsigned", b"int unsigned long",
    b"int long unsigned",
})


# What a rendering of a BTF blob (raw or C) may write: this many bytes plus this many per byte
# of BTF.  A kernel's C header is about half the size of its BTF, its raw listing about twice;
# more comes from hostile BTF (a long name repeated, anonymous types nested).
OUTPUT_BASE = 64 << 20
OUTPUT_PER_BYTE = 16


def output_limit(btf) -> int:
    """How many characters a rendering of ``btf`` (bases included) may have."""
    size = 0
    b = btf
    while b is not None:
        size += len(b.raw)
        b = b.base
    return OUTPUT_BASE + OUTPUT_PER_BYTE * size


# The strings of a section decoded together when one of them is first asked for, in chunk mode.
CHUNK_SHIFT = 16


class StringTable(dict):
    """Offset -> string; unknown offsets are decoded (and checked) on first use, or a batch
    of them at once with :meth:`prefetch`, or every string of the section with
    :meth:`load_all`, or those of one chunk of the section on first use with
    :meth:`load_by_chunk`."""

    def __init__(self, raw: bytes, path, section, items=()) -> None:
        super().__init__(items)
        self.raw = raw
        self.path = path
        self.section = section
        # The section as text with a terminating NUL (ASCII sections: offsets index it), or
        # as bytes with one (others); made on first use.
        self._text: str | bytes | None = None
        self._all = False
        # In chunk mode, where the strings starting in each chunk lie (None once decoded).
        self._chunks: list | None = None
        # No string is longer than this (the section's size until all strings are decoded, or
        # in chunk mode the longest run of strings starting in one chunk).
        self.longest = len(raw)

    def terminated_text(self) -> str | bytes:
        """The whole section with a NUL added at the end: a str when it is ASCII (offsets then
        index it), else bytes."""
        t = self._text
        if t is None:
            raw = self.raw
            # (a section ends with its last string's NUL: then it is its own terminated text,
            # and no copy of it is made)
            t = raw if raw[-1:] == b"\0" else raw + b"\0"
            if raw.isascii():
                t = t.decode("ascii")
            self._text = t
        return t

    def load_all(self) -> "StringTable":
        """Decode every string of the section in one pass (offsets that do not start a string
        are still decoded on demand)."""
        if self._all:
            return self
        self._all = True
        self._chunks = None
        raw = self.raw
        if not raw:
            return self
        if raw.isascii():
            parts = raw.decode("ascii").split("\0")
            lengths = map(len, parts)
        else:
            chunks = raw.split(b"\0")
            parts = [c.decode("utf-8", "surrogateescape") for c in chunks]
            # string offsets count bytes, not characters
            lengths = map(len, chunks)
        offsets = accumulate(map(operator.add, lengths, repeat(1)), initial=0)
        self.update(zip(offsets, parts))
        self.longest = max(map(len, parts))
        # The split leaves an empty string just past the end: not a valid offset.
        self.pop(len(raw), None)
        return self

    def load_by_chunk(self) -> "StringTable":
        """From now on, a string not decoded yet is decoded with every other string starting in
        the same 64 KiB of the section, in one pass.  A C header of a kernel prints about half
        of its strings (never a function's name), and those it prints lie together: this
        decodes about half the section, at the cost per string of :meth:`load_all`."""
        if self._all or self._chunks is not None or not self.raw:
            return self
        raw = self.raw
        size = len(raw)
        chunks = []
        longest = 0
        for start in range(0, size, 1 << CHUNK_SHIFT):
            end = start + (1 << CHUNK_SHIFT)
            # The first string starting in the chunk, and the NUL ending the last one.
            if start == 0 or raw[start - 1] == 0:
                first = start
            else:
                nul = raw.find(b"\0", start)
                first = nul + 1 if nul >= 0 else size
            if first >= min(end, size):
                chunks.append(None)   # one string runs through the whole chunk
                continue
            stop = raw.find(b"\0", min(end, size) - 1)
            if stop < 0:
                stop = size   # (a last string without its NUL runs to the end)
            chunks.append((first, stop))
            longest = max(longest, stop - first)
        self._chunks = chunks
        # No string is longer than the strings of the chunk it starts in (or, for an offset
        # inside a string, than that string).
        self.longest = longest
        return self

    def _load_chunk(self, index: int) -> None:
        span = self._chunks[index]
        self._chunks[index] = None
        if span is None:
            return
        first, stop = span
        t = self.terminated_text()
        if type(t) is str:
            parts = t[first:stop].split("\0")
            lengths = map(len, parts)
        else:
            pieces = t[first:stop].split(b"\0")
            parts = [c.decode("utf-8", "surrogateescape") for c in pieces]
            lengths = map(len, pieces)
        self.update(zip(accumulate(map(operator.add, lengths, repeat(1)), initial=first), parts))

    def prefetch(self, offsets) -> None:
        """Decode, in one pass, the strings at those of ``offsets`` not decoded yet."""
        missing = [o for o in set(offsets) if o not in self]
        if not missing:
            return
        if max(missing) >= len(self.raw) or min(missing) < 0:
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

    def __missing__(self, off: int) -> str:
        raw = self.raw
        if not 0 <= off < len(raw):
            raise MalformedInput(f"name offset {off} is outside the string section ({len(raw)} bytes)",
                                 path=self.path, section=self.section)
        chunks = self._chunks
        if chunks is not None and chunks[off >> CHUNK_SHIFT] is not None:
            self._load_chunk(off >> CHUNK_SHIFT)
            s = dict.get(self, off)
            if s is not None:
                return s
        t = self.terminated_text()
        if type(t) is str:
            s = t[off:t.index("\0", off)]
        else:
            s = t[off:t.index(b"\0", off)].decode("utf-8", "surrogateescape")
        self[off] = s
        return s


def kind_selector(*kinds: int) -> bytes:
    """A ``bytes.translate`` table turning a kind byte into 1 for ``kinds``, else 0: with
    :func:`itertools.compress`, the ids (or record positions) of those kinds, at C speed."""
    sel = bytearray(256)
    for k in kinds:
        sel[k] = 1
    return bytes(sel)


class TableView:
    """What every walker over a :class:`Table` reads: its words, record positions, kinds, id
    count and strings, as plain attributes."""

    def __init__(self, table) -> None:
        self.table = table
        self.w = table.w
        self.pos = table.pos
        self.kinds = table.kind
        self.n = table.count + 1
        self.strs = table.strs

    def fail(self, what: str):
        raise MalformedInput(what, path=self.table.path, section=self.table.section)


class Filled(dict):
    """A cache that fills itself: ``cache[key]`` calls ``fill(key)`` for a key it lacks (which
    stores the value), so that loops can map over it at C speed."""

    __slots__ = ("fill",)

    def __init__(self, fill) -> None:
        super().__init__()
        self.fill = fill

    def __missing__(self, key):
        return self.fill(key)


class ByteNames(dict):
    """Offset -> the bytes of the name there (every string start at once; any other offset
    inside the section on first use)."""

    def __init__(self, raw: bytes, path, section) -> None:
        parts = raw.split(b"\0")
        lens = list(map(len, parts))
        super().__init__(zip(accumulate(map(operator.add, lens, repeat(1)), initial=0), parts))
        self.pop(len(raw), None)
        self.raw = raw
        self.path = path
        self.section = section
        self.longest = max(lens)

    def __missing__(self, off: int) -> bytes:
        raw = self.raw
        if not 0 <= off < len(raw):
            raise MalformedInput(f"name offset {off} is outside the string section ({len(raw)} bytes)",
                                 path=self.path, section=self.section)
        end = raw.find(b"\0", off)
        b = self[off] = raw[off:end if end >= 0 else len(raw)]
        return b


def _chain(btf) -> list:
    chain = []
    b = btf
    while b is not None:
        chain.append(b)
        b = b.base
    chain.reverse()
    return chain


class Table:
    """Id-indexed sequences over ``btf`` and its bases (see the module docstring)."""

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
            infos = btf._info_words
        else:
            w = array("I")
            pos = [0]
            raw_parts = []
            infos = array("I")
            for b in blobs:
                infos += b._info_words
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
        # The info word of each id from 1 (``infos[id - 1]``), and each id's kind as bytes (id 0,
        # void, has kind 0).
        self.infos = infos
        self.kind = b"\0" + info_kinds(infos)
        self._raw_strs = raw
        self._ptr_size: int | None = None

    def __getattr__(self, name: str):
        # The string table is made on first use: a walk over the type graph never needs it.
        if name == "strs":
            raw = self._raw_strs
            strs = self.strs = StringTable(raw, self.path, self.section, () if raw else {0: ""})
            return strs
        raise AttributeError(name)

    def byte_names(self) -> "ByteNames":
        """offset -> name as bytes, every string of the section decoded at once (for listings
        written as bytes: nothing to decode or encode).  Made once."""
        r = self.__dict__.get("_byte_names")
        if r is None:
            r = self._byte_names = ByteNames(self._raw_strs, self.path, self.section)
        return r

    def fail(self, what: str):
        raise MalformedInput(what, path=self.path, section=self.section)

    def name(self, tid: int) -> str:
        if tid == 0:
            return ""
        return self.strs[self.w[self.pos[tid]]]

    @property
    def ptr_size(self) -> int:
        """The pointer size as libbpf guesses it: the size of the first ``long`` INT (else 8)."""
        r = self._ptr_size
        if r is None:
            r = self._ptr_size = self._guess_ptr_size()
        return r

    def _guess_ptr_size(self) -> int:
        w, pos, raw = self.w, self.pos, self._raw_strs
        for tid, k in enumerate(self.kind):
            if k == INT and tid:
                p = pos[tid]
                off = w[p]
                if w[p + 2] in (4, 8) and off < len(raw):
                    end = raw.find(b"\0", off)
                    if raw[off:end if end >= 0 else len(raw)] in _LONG_NAMES:
                        return w[p + 2]
        return 8
