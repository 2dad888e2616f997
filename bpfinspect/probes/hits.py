"""Hits of probe events as tracefs's ``trace_pipe`` prints them, read back into fields.

The kernel prints one hit of a uprobe or kprobe event as::

    <comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <seconds>.<micros>: <event>: (<ip>[ <- <ret ip>]) NAME=VALUE...

``comm`` is at most 15 characters (TASK_COMM_LEN) and may hold any byte but NUL, so the header
is read with that bound; the arguments are read with the names and types of the definition
that made the event, in its order (the kernel prints them in that order): a string argument
is printed between double quotes without escaping, so its end is the quote before the next
argument's `` NAME=`` (the last one's is the last quote of the hit).  A string holding a
newline continues the hit on the next lines: :class:`HitReader` joins to a hit the lines that
do not start a record, and those that do while the hit's arguments do not read yet.  What text
cannot tell apart: a string argument holding a newline and then a whole line shaped as a hit of
a traced event (or a ``LOST`` line) after arguments that already read completely; the traced
program can forge such a record.  ``CPU:N [LOST M EVENTS]`` lines (a full buffer) are read too.

Values: ``0x..`` and decimal numbers become ints, ``{a,b}`` arrays lists, strings their text
(bytes that are not UTF-8 as ``\\xNN``), ``(fault)`` (the kernel could not read it) None;
what reads as none of these stays text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_PENDING = 1 << 16   # bytes of a hit kept while its continuation lines arrive

_HEAD = re.compile(
    rb"^\s*(?P<comm>.{1,16}?)-(?P<pid>\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    rb"(?:(?P<flags>\S{4,6})\s+)?(?P<ts>\d+\.\d+):\s(?P<event>[A-Za-z_][A-Za-z0-9_]*):\s"
    rb"\((?P<ip>0x[0-9a-f]+|[0-9a-f]+)(?: <- (?P<from>0x[0-9a-f]+|[0-9a-f]+))?\)", re.S)
_LOST = re.compile(rb"^CPU:(?P<cpu>\d+) \[LOST (?P<count>\d+) EVENTS\]\s*$")
_NUM = re.compile(r"-?(0x[0-9a-fA-F]+|\d+)\Z")


@dataclass(frozen=True, slots=True)
class Hit:
    event: str
    pid: int
    comm: str
    cpu: int
    ts: float
    ip: int
    func_ip: int | None         # a return probe's function (``ip`` is then where it returned to)
    args: dict = field(default_factory=dict)     # name -> value (see the module docstring)
    texts: dict = field(default_factory=dict)    # name -> the value as the kernel printed it
    raw: str = ""               # the text of the arguments when they did not read as the definition says


@dataclass(frozen=True, slots=True)
class Lost:
    cpu: int
    count: int


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


def _int(text: str) -> int:
    neg = text.startswith("-")
    body = text[1:] if neg else text
    v = int(body, 16) if body[:2] in ("0x", "0X") else int(body)
    return -v if neg else v


def value_of(text: str):
    """One printed argument value as data (see the module docstring)."""
    if text == "(fault)":
        return None
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    if _NUM.match(text):
        return _int(text)
    if len(text) >= 2 and text[0] == "{" and text[-1] == "}":
        return [value_of(x) for x in _split_array(text[1:-1])]
    if len(text) == 3 and text[0] == text[2] == "'":
        return text[1]
    return text


def _split_array(body: str) -> list[str]:
    if not body:
        return []
    if body.startswith('"'):  # an array of strings: "a","b"
        return [x if x.endswith('"') else x + '"' for x in re.split(r'(?<="),(?=")', body)]
    return body.split(",")


def read_args(rest: str, names: list[str]) -> dict | None:
    """``NAME=VALUE`` pairs of ``rest`` (the text after the ``(ip)``) for the definition's argument
    names in order, each value as printed; None when the text does not have that shape.  Where a string's text could end
    at more than one quote, the latest end after which the rest still reads is taken (a bounded
    number of tries)."""
    budget = [MAX_TRIES]
    values = _read_from(rest.rstrip("\n"), 0, names, 0, budget)
    return None if values is None else dict(zip(names, values))


MAX_TRIES = 256


def _read_from(rest: str, pos: int, names: list[str], i: int, budget: list[int]) -> list | None:
    if i == len(names):
        return [] if pos == len(rest) else None
    budget[0] -= 1
    if budget[0] < 0:
        return None
    key = f" {names[i]}="
    if not rest.startswith(key, pos):
        return None
    pos += len(key)
    nxt = f" {names[i + 1]}=" if i + 1 < len(names) else None
    if nxt is None:
        return [rest[pos:]]
    quoted = rest.startswith('"', pos)
    sep = '"' + nxt if quoted else nxt
    end = len(rest)
    while True:
        at = rest.rfind(sep, pos + (1 if quoted else 0), end)
        if at < 0:
            return None
        stop = at + 1 if quoted else at
        tail = _read_from(rest, stop, names, i + 1, budget)
        if tail is not None:
            return [rest[pos:stop]] + tail
        if budget[0] < 0:
            return None
        end = at + len(sep) - 1


class HitReader:
    """Turns the bytes read from ``trace_pipe`` into :class:`Hit` and :class:`Lost` records.

    ``events`` maps an event name to its argument names in order.  ``feed(data)`` returns the
    records complete so far; a hit is complete when the next line starts a record or
    ``flush()`` is called (the pipe had nothing more to give)."""

    def __init__(self, events: dict[str, list[str]]) -> None:
        self.events = events
        self._partial = b""          # an unfinished last line
        self._pending: bytes | None = None

    def feed(self, data: bytes) -> list:
        out: list = []
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()[:MAX_PENDING]
        for line in lines:
            self._line(line, out)
        return out

    def flush(self) -> list:
        out: list = []
        if self._partial:
            self._line(self._partial, out)
            self._partial = b""
        self._finish(out)
        return out

    def _line(self, line: bytes, out: list) -> None:
        lost = _LOST.match(line)
        head = None if lost else _HEAD.match(line)
        starts = lost is not None or (head is not None and head["event"].decode() in self.events)
        if starts and self._pending is not None and self._incomplete():
            starts = False  # text of a string argument that looks like a record: the hit goes on
        if lost is not None and starts:
            self._finish(out)
            out.append(Lost(int(lost["cpu"]), int(lost["count"])))
        elif starts:
            self._finish(out)
            self._pending = line
        elif self._pending is not None and len(self._pending) < MAX_PENDING:
            self._pending = (self._pending + b"\n" + line)[:MAX_PENDING]

    def _incomplete(self) -> bool:
        """The pending hit's arguments do not read yet (a string argument's text goes on)."""
        hit = parse_hit(self._pending, self.events)
        return hit is None or bool(hit.raw)

    def _finish(self, out: list) -> None:
        if self._pending is None:
            return
        hit = parse_hit(self._pending, self.events)
        self._pending = None
        if hit is not None:
            out.append(hit)


def parse_hit(text: bytes, events: dict[str, list[str]]) -> Hit | None:
    """One hit (its header line and any continuation lines) of one of ``events``."""
    m = _HEAD.match(text)
    if not m:
        return None
    event = m["event"].decode()
    names = events.get(event)
    if names is None:
        return None
    rest = _text(text[m.end():])
    texts = read_args(rest, names)
    ip, frm = m["ip"].decode(), m["from"]
    return Hit(event=event, pid=int(m["pid"]), comm=_text(m["comm"]).lstrip(), cpu=int(m["cpu"]),
               ts=float(m["ts"]), ip=int(ip, 16), func_ip=int(frm, 16) if frm else None,
               args={k: value_of(v) for k, v in (texts or {}).items()}, texts=texts or {},
               raw="" if texts is not None else rest.strip())
