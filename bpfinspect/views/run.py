"""`run`: the records of a session as JSON Lines, or as a live table on a terminal.

JSON Lines (``--json``): each record exactly as :mod:`bpfinspect.runtime.session` makes it,
one JSON object per line, flushed as it comes.

Human view: attach results as they happen; then one line per event and per printk line
(a header line with the record's field names before the first event of each map, and again
when another map's events came in between); at exit the maps (a log2 histogram with bars as
bpftrace prints ``hist()``), the final values of the globals and the programs' run counts.
Timestamps are wall-clock times of day.  Everything that comes from the kernel or the object
(strings in records, printk text) is shown with control characters escaped.
"""

from __future__ import annotations

import json
import sys
import time

from bpfinspect.btf.values import text as vtext
from bpfinspect.views.table import Table, Text, render

BAR = 52
MAX_COL = 48


def _clean(s: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in s)


def _clock(ts: float) -> str:
    wall = time.time() - (time.monotonic() - ts)
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall * 1e6) % 1_000_000:06d}"


class JsonLines:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, rec: dict) -> None:
        self.stream.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.stream.flush()

    def watching(self, sources: list[str]) -> None:
        pass


class Human:
    def __init__(self, stream=None) -> None:
        from bpfinspect.views.table import use_rich
        self.stream = stream or sys.stdout
        self._rich = use_rich(self.stream)
        self._last_map = None
        self._widths: dict[str, list[int]] = {}
        self._exit_blocks: list = []
        self._stats_table: Table | None = None

    def _cell(self, s: str) -> str:
        """Text for a table cell: control characters escaped, and rich's markup on a terminal."""
        s = _clean(s)
        if self._rich:
            from rich.markup import escape
            s = escape(s)
        return s

    def _line(self, s: str) -> None:
        self.stream.write(s + "\n")
        self.stream.flush()

    def emit(self, rec: dict) -> None:
        getattr(self, "_" + rec["type"], self._other)(rec)

    def _other(self, rec: dict) -> None:
        pass

    def _start(self, rec: dict) -> None:
        pass

    def _error(self, rec: dict) -> None:
        pass

    def _attach(self, rec: dict) -> None:
        target = f" {_clean(rec['target'])}" if rec.get("target") else ""
        prog = _clean(rec["program"])
        if rec["ok"]:
            self._line(f"attached  {prog}{target}")
        else:
            word = "skipped " if str(rec.get("error", "")).startswith("not attached") else "FAILED  "
            self._line(f"{word}  {prog}{target}: {_clean(rec['error'] or '')}")

    def watching(self, sources: list[str]) -> None:
        what = ", ".join(sources) or "nothing to stream (maps are shown at exit)"
        self._line(f"watching {what}; Ctrl-C to stop")

    def _event(self, rec: dict) -> None:
        name = _clean(rec["map"])
        data = rec.get("data")
        if isinstance(data, dict):
            cells = {k: vtext(v) for k, v in data.items()}
        elif "data" in rec:
            cells = {"value": vtext(data)}
        else:
            cells = {"hex": rec.get("hex", "")}
        widths = self._widths.get(name)
        if widths is None or self._last_map != name:
            if widths is None:
                data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
                widths = [min(MAX_COL, max(len(k), len(v), _min_width(data.get(k)))) for k, v in cells.items()]
                self._widths[name] = widths
            header = "  ".join(_clean(k).upper().ljust(w) for k, w in zip(cells, widths))
            self._line(f"{'TIME':<15}  {'MAP':<10}  {header}".rstrip())
            self._last_map = name
        for i, v in enumerate(cells.values()):    # a longer value widens its column from now on
            if i < len(widths) and len(v) > widths[i]:
                widths[i] = min(MAX_COL, len(v))
        row = "  ".join(v.ljust(w) for v, w in zip(cells.values(), widths))
        self._line(f"{_clock(rec['ts']):<15}  {name:<10}  {row}".rstrip())

    def _printk(self, rec: dict) -> None:
        if self._last_map != "printk":
            self._line(f"{'TIME':<15}  {'PRINTK':<10}  TASK-PID [CPU] TEXT")
            self._last_map = "printk"
        self._line(f"{_clock(rec['ts']):<15}  {'printk':<10}  {_clean(rec['comm'])}-{rec['pid']} "
                   f"[{rec['cpu']:03d}] {_clean(rec['text'])}")

    def _lost(self, rec: dict) -> None:
        self._line(f"lost {rec['count']} record(s) of {_clean(rec['map'])} on CPU {rec['cpu']}")

    def _map(self, rec: dict) -> None:
        hist = rec.get("histogram")
        if hist is not None:
            self._exit_blocks.append(Text(histogram_text(_clean(rec["name"]), hist)))
            return
        n = len(rec["entries"])
        more = ", first ones only" if rec.get("truncated") else ""
        t = Table(["Key", "Value"],
                  title=f"map {self._cell(rec['name'])} ({rec['map_type']}, {n} entr{'y' if n == 1 else 'ies'}{more})")
        for e in rec["entries"]:
            t.rows.append([self._cell(vtext(e["key"])), self._cell(vtext(e["value"]))])
        if not t.rows:
            self._exit_blocks.append(Text(f"map {_clean(rec['name'])} ({rec['map_type']}): empty"))
            return
        self._exit_blocks.append(t)

    def _globals(self, rec: dict) -> None:
        t = Table(["Variable", "Value"], title=f"globals {self._cell(rec['section'])}")
        for k, v in rec["values"].items():
            t.rows.append([self._cell(k), self._cell(vtext(v))])
        self._exit_blocks.append(t)

    def _stats(self, rec: dict) -> None:
        if self._stats_table is None:
            self._stats_table = Table(["Program", "Runs", "Run time (ns)", "Average (ns)"], title="run statistics",
                                right=frozenset({"Runs", "Run time (ns)", "Average (ns)"}))
            self._exit_blocks.append(self._stats_table)
        cnt, ns = rec["run_cnt"], rec["run_time_ns"]
        avg = str(ns // cnt) if cnt else "-"
        self._stats_table.rows.append([self._cell(rec["program"]), str(cnt), str(ns), avg])

    def _end(self, rec: dict) -> None:
        if self._exit_blocks:
            self._line("")
            render(self._exit_blocks, self.stream)
        self._line(f"stopped: {rec['reason']}")
        self.stream.flush()


def _min_width(value) -> int:
    """A first guess at a column's width from its first value: room for numbers and short names."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 8
    if isinstance(value, str):
        return 16
    return 0


def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def histogram_text(name: str, buckets: list[dict]) -> str:
    """A log2 histogram the way bpftrace prints ``hist()``: ``[low, high)`` ranges, counts, bars."""
    lines = [f"@{name}:"]
    if not buckets:
        lines.append("(empty)")
        return "\n".join(lines)
    top = max(b["count"] for b in buckets) or 1
    for b in buckets:
        label = f"[{_size(b['low'])}, {_size(b['high'])})"
        bar = "@" * (b["count"] * BAR // top)
        lines.append(f"{label:<20}{b['count']:>8} |{bar:<{BAR}}|")
    return "\n".join(lines)


def make_sink(*, json_lines: bool, stream=None):
    return JsonLines(stream) if json_lines else Human(stream)
