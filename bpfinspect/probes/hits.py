"""Hits of probe events read from tracefs's per-CPU binary buffers (``per_cpu/cpuN/trace_pipe_raw``).

The text of ``trace_pipe`` cannot be read back exactly: a string argument is printed between
quotes without escaping, and a traced program whose string holds a newline can print a line
that looks like another hit.  The binary buffers hold each hit as the kernel stored it, so every
value is read back byte for byte:

* a buffer page (``events/header_page``): a u64 timestamp, a ``commit`` word (bytes of data;
  bit 31: events were lost before this page, bit 30: their count is stored after the data),
  then the events;
* an event (``events/header_event``): a 32-bit word, ``type_len`` (5 bits) and ``time_delta``
  (27 bits); ``type_len`` 1..28 is a record of ``4 * type_len`` bytes, 0 a record whose length
  (plus 4) is the next word, 29 padding, 30 a time extension, 31 an absolute time stamp;
* a record: ``common_type`` (the event's id), ``common_pid``, then the fields the event's
  ``format`` file lists, at its offsets and sizes; a string is a ``__data_loc`` word (offset in
  the low 16 bits, length with its NUL in the high 16 bits, from the record's start; length 0
  when the kernel could not read it).

Words are in this machine's byte order (the kernel's).  Each field is decoded by its format (size, signedness, ``[]`` arrays, ``__data_loc`` strings);
the ``print fmt`` says which numbers the kernel shows in hex.  The task name comes from
``/proc/PID/comm`` (tracefs's ``saved_cmdlines`` after the task ended), as ``trace_pipe`` does
from its own table.  Values: numbers as ints, strings as text (bytes that are not UTF-8 as
``\\xNN``), ``:char`` as a one-character text, arrays as lists, a string the kernel could not
read as None.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from dataclasses import dataclass, field

RB_MISSED_EVENTS = 1 << 31
RB_MISSED_STORED = 1 << 30
PAGE_HEADER = 16              # u64 timestamp, local_t commit (64-bit kernels)
TYPE_PADDING, TYPE_TIME_EXTEND, TYPE_TIME_STAMP = 29, 30, 31
MAX_COMMS = 4096              # task names remembered


@dataclass(frozen=True, slots=True)
class Hit:
    event: str
    group: str
    pid: int
    comm: str
    cpu: int
    ts: float                   # seconds of the trace clock
    ip: int                     # the probed address (a return probe: where the function returned to)
    func_ip: int | None         # a return probe's function
    args: dict = field(default_factory=dict)
    hex: frozenset = frozenset()  # argument names the kernel prints in hex
    ns: int = 0


@dataclass(frozen=True, slots=True)
class Lost:
    cpu: int
    count: int | None           # None: the kernel did not say how many


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    offset: int
    size: int
    signed: bool


@dataclass
class EventFormat:
    name: str
    id: int
    fields: list[Field]
    hex: frozenset
    chars: frozenset

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


_FIELD = re.compile(r"\tfield:(?P<decl>[^;]*);\toffset:(?P<off>\d+);\tsize:(?P<size>\d+);\tsigned:(?P<signed>\d+);")


def read_format(text: str) -> EventFormat:
    """An event's ``format`` file."""
    name = re.search(r"^name: (\S+)$", text, re.M)
    eid = re.search(r"^ID: (\d+)$", text, re.M)
    if not name or not eid:
        raise ValueError("not an event format (no name or ID)")
    fields = []
    for m in _FIELD.finditer(text):
        decl = m["decl"].strip()
        fname = re.search(r"(\w+)(\[\d*\])*$", decl)
        if not fname:
            continue
        fields.append(Field(fname.group(1), decl[:fname.start()].strip() + (decl[fname.end(1):] or ""),
                            int(m["off"]), int(m["size"]), m["signed"] == "1"))
    fmt = re.search(r'^print fmt: "(.*)",', text, re.M)
    fmt_text = fmt.group(1) if fmt else ""
    hexes = frozenset(re.findall(r'(?:^|\s)(\w+)=\{?0x%', fmt_text))
    chars = frozenset(re.findall(r"(?:^|\s)(\w+)='%c'", fmt_text))
    return EventFormat(name.group(1), int(eid.group(1)), fields, hexes, chars)


_ELEM = {"char": 1, "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8,
         "int": 4, "short": 2, "long": 8, "unsigned long": 8, "unsigned int": 4, "unsigned short": 2,
         "unsigned char": 1}


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


class RecordDecoder:
    """Records of the given events into :class:`Hit` (``events``: id -> (format, argument names, group))."""

    def __init__(self, events: dict[int, tuple[EventFormat, list[str], str]], *, proc: str = "/proc",
                 saved_cmdlines: str | None = None) -> None:
        self.events = events
        self.proc = proc
        self.saved_cmdlines = saved_cmdlines
        self._comms: dict[int, str] = {}

    def record(self, cpu: int, ns: int, data: bytes) -> Hit | None:
        if len(data) < 8:
            return None
        etype, _flags, _preempt, pid = struct.unpack_from("=HBBi", data, 0)
        known = self.events.get(etype)
        if known is None:
            return None
        fmt, names, group = known
        func = fmt.field("__probe_func")
        if func is not None:  # a return probe: __probe_func is the function, __probe_ret_ip where it returned
            func_ip = self._number(data, func, False)
            ip = self._number(data, fmt.field("__probe_ret_ip"), False)
        else:
            func_ip = None
            ip = self._number(data, fmt.field("__probe_ip"), False)
        args = {}
        for name in names:
            f = fmt.field(name)
            args[name] = None if f is None else self._value(data, f, name in fmt.chars)
        return Hit(fmt.name, group, pid, self.comm(pid), cpu, ns / 1e9, ip or 0, func_ip, args, fmt.hex, ns)

    @staticmethod
    def _number(data: bytes, f: Field | None, signed: bool, size: int | None = None, at: int | None = None):
        if f is None:
            return None
        size = size or f.size
        at = f.offset if at is None else at
        if size not in (1, 2, 4, 8) or at + size > len(data):
            return None
        return int.from_bytes(data[at:at + size], sys.byteorder, signed=signed)

    def _value(self, data: bytes, f: Field, char: bool):
        if f.type.startswith("__data_loc"):
            n = max(1, f.size // 4)
            out = [self._string(data, self._number(data, f, False, 4, f.offset + 4 * i)) for i in range(n)]
            return out if "][" in f.type else out[0]
        base = f.type.split("[")[0].strip()
        elem = _ELEM.get(base, f.size)
        if "[" in f.type and elem and f.size // elem > 0:
            values = [self._number(data, f, f.signed, elem, f.offset + i * elem) for i in range(f.size // elem)]
            return [chr(v) if char and v is not None else v for v in values]
        v = self._number(data, f, f.signed)
        return chr(v) if char and v is not None else v

    @staticmethod
    def _string(data: bytes, loc: int | None) -> str | None:
        if loc is None:
            return None
        off, length = loc & 0xFFFF, loc >> 16
        if length == 0 or off + length > len(data):
            return None
        raw = data[off:off + length]
        return _text(raw[:-1] if raw.endswith(b"\0") else raw)

    def comm(self, pid: int) -> str:
        """The task's name: /proc/PID/comm while it lives, else tracefs's saved_cmdlines, else ``<...>``."""
        got = self._comms.get(pid)
        if got is not None:
            return got
        name = None
        try:
            with open(os.path.join(self.proc, str(pid), "comm"), "rb") as f:
                raw = f.read(64)
            name = _text(raw[:-1] if raw.endswith(b"\n") else raw)
        except OSError:
            name = self._saved(pid)
        if name is None:
            return "<...>"
        if len(self._comms) >= MAX_COMMS:
            self._comms.clear()
        self._comms[pid] = name
        return name

    def _saved(self, pid: int) -> str | None:
        """The name saved_cmdlines (``PID NAME`` lines) gives ``pid``; a line that does not start with a
        number continues the name before it (a name holding a newline)."""
        if not self.saved_cmdlines:
            return None
        try:
            with open(self.saved_cmdlines, "rb") as f:
                text = f.read(1 << 22)
        except OSError:
            return None
        want, found = str(pid).encode(), None
        for row in text.split(b"\n"):
            m = re.match(rb"(\d+) ", row)
            if m:
                if found is not None:
                    break
                if m.group(1) == want:
                    found = [row[m.end():]]
            elif found is not None:
                found.append(row)
        return None if found is None else _text(b"\n".join(found).rstrip(b"\n"))


def read_page(page: bytes, cpu: int, decoder: RecordDecoder, header: int = PAGE_HEADER) -> list:
    """Every record of one buffer page: Lost first when the page says events were lost before it.
    ``header``: where the data starts (``events/header_page``; the commit word is 8 bytes on 64-bit
    kernels, 4 on 32-bit ones)."""
    out: list = []
    if len(page) < header or header not in (12, 16):
        return out
    word = "=Q" if header == 16 else "=I"
    ts = struct.unpack_from("=Q", page, 0)[0]
    commit = struct.unpack_from(word, page, 8)[0]
    length = commit & (RB_MISSED_STORED - 1)
    end = min(header + length, len(page))
    if commit & RB_MISSED_EVENTS:
        count = None
        if commit & RB_MISSED_STORED and end + header - 8 <= len(page):
            count = struct.unpack_from(word, page, end)[0]
        out.append(Lost(cpu, count))
    pos = header
    while pos + 4 <= end:
        word = struct.unpack_from("=I", page, pos)[0]
        type_len, delta = word & 0x1F, word >> 5
        if type_len == TYPE_PADDING:
            if delta == 0:  # the rest of the page is unused
                break
            if pos + 8 > end:
                break
            pos += 4 + max(4, struct.unpack_from("=I", page, pos + 4)[0])  # a discarded event
            continue
        if type_len in (TYPE_TIME_EXTEND, TYPE_TIME_STAMP):
            if pos + 8 > end:
                break
            high = struct.unpack_from("=I", page, pos + 4)[0]
            value = (high << 27) | delta
            ts = ts + value if type_len == TYPE_TIME_EXTEND else value | (ts & ~((1 << 59) - 1))
            pos += 8
            continue
        if type_len == 0:
            if pos + 8 > end:
                break
            size = struct.unpack_from("=I", page, pos + 4)[0] - 4
            start = pos + 8
        else:
            size = type_len * 4
            start = pos + 4
        if size < 0 or start + size > end:
            break
        ts += delta
        hit = decoder.record(cpu, ts, page[start:start + size])
        if hit is not None:
            out.append(hit)
        pos = start + ((size + 3) & ~3)
    return out
