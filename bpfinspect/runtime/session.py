"""Load, attach and watch an object work: the engine of ``bpfinspect run``.

:class:`Session` goes through the stages in order, handing each thing worth showing to
``emit`` as a record (a dict shaped exactly as ``run --json`` prints it, one per line):

1. ``start``; open the object with libbpf, keep only the programs asked for (``--prog``),
   write the data-section variables given (``--set``, typed from BTF: :func:`parse_value`);
2. load; open a :class:`~bpfinspect.runtime.tracepipe.PrintkReader` first when a program
   calls ``bpf_trace_printk``/``bpf_trace_vprintk``; turn on the kernel's run statistics; open
   the ring and perf buffers (:meth:`Session.open_buffers`, before anything attaches: a perf
   event array drops what a program outputs before its buffer is open);
3. attach every loaded program: with its ``--attach`` target, on the ``--iface`` interface
   (XDP, tc), or from its section; an ``attach`` record for each, failures in words
   (:mod:`~bpfinspect.runtime.attachdiag`).  A program whose section names no target and
   that got none is reported as not attached (``ok`` false) without making the run fail;
4. stream ``event`` records from every ring buffer and perf event array (decoded with the
   record type :mod:`bpfinspect.typesrc.records` infers, or ``--type``) and ``printk``
   records, until the caller stops it (Ctrl-C), ``duration`` seconds or ``count`` records;
5. at exit: a ``map`` record for each hash, array, per-CPU and LRU map (with a
   ``histogram`` when :func:`histogram_of` recognises a log2 histogram), ``globals`` per
   data section, ``stats`` per program, then everything is detached and unloaded, and
   ``end`` with the reason.

Stage 5 runs however stage 4 ended (Ctrl-C, an error), and the object is always closed.
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field

from bpfinspect.btf import Kind
from bpfinspect.btf import values as V
from bpfinspect.errors import BpfInspectError, EnvironmentProblem, UsageError
from bpfinspect.runtime.targets import PROG_SCHED_CLS, PROG_XDP, Target, attach_target, parse_target, parse_targets

SCHEMA = 1
PRINTK_HELPERS = frozenset({"bpf_trace_printk", "bpf_trace_vprintk"})
DUMP_MAP_TYPES = {"hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash"}
PERCPU_MAP_TYPES = {"percpu_hash", "percpu_array", "lru_percpu_hash"}
MAX_MAP_ENTRIES = 1024          # entries shown per map at exit
HIST_MAX_SLOTS = 64
HIST_WORDS = ("hist", "slot")
POLL_MS = 100



# ---------------------------------------------------------------- --set


@dataclass(frozen=True)
class Settable:
    name: str
    section: str          # ELF section (.rodata)
    map_name: str         # libbpf's map name (obj.rodata)
    offset: int
    size: int
    type_id: int | None
    type_name: str


def settable_variables(obj, ts) -> dict[str, Settable]:
    out: dict[str, Settable] = {}
    for d in obj.datasecs:
        if d.name == ".kconfig" or d.name.startswith(".ksyms"):
            continue
        for v in d.variables:
            tid = v.type_id or None
            tname = v.type
            if tid is None:
                ref = ts.variable_type(v.name)
                if ref is not None:
                    tid, tname = ref.id, ref.name
            out.setdefault(v.name, Settable(v.name, d.name, d.map_name, v.offset, v.size, tid, tname or "?"))
    return out


def parse_value(btf, tid: int | None, size: int, text: str, name: str) -> bytes:
    """``text`` as ``size`` bytes of type ``tid``: integers in any base, booleans, enums by name,
    char arrays from strings, floats.  UsageError when it does not fit."""
    import struct

    def bad(why: str) -> UsageError:
        return UsageError(f"--set {name}={text}: {why}")

    if tid is None or btf is None:
        raise bad("the object gives this variable no type")
    t = btf.type(btf.resolve(tid))
    tname = btf.type_name(btf.strip_cv(tid))
    order = getattr(btf, "endian", "little")
    if t.kind == Kind.INT:
        from bpfinspect.btf.kinds import INT_BOOL, INT_SIGNED
        if t.int_encoding & INT_BOOL:
            word = text.strip().lower()
            if word in ("1", "true", "yes", "on"):
                v = 1
            elif word in ("0", "false", "no", "off"):
                v = 0
            else:
                raise bad("a bool is true or false")
            return v.to_bytes(t.size, order)
        signed = bool(t.int_encoding & INT_SIGNED)
        if len(text) == 3 and text[0] == text[2] == "'" and t.size == 1:
            v = ord(text[1])
        else:
            try:
                v = int(text.replace("_", ""), 0)
            except ValueError:
                raise bad(f"not an integer (type {tname})") from None
        bits = t.size * 8
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= v <= hi:
            raise bad(f"{v} does not fit in {tname} ({lo}..{hi})")
        return v.to_bytes(t.size, order, signed=signed)
    if t.kind in (Kind.ENUM, Kind.ENUM64):
        names = {ev.name: ev.value for ev in t.values}
        if text in names:
            v = names[text]
        else:
            try:
                v = int(text, 0)
            except ValueError:
                raise bad(f"not an enumerator of {tname} (have: {', '.join(names) or 'none'})") \
                    from None
        return (v % (1 << (8 * t.size))).to_bytes(t.size, order)
    if t.kind == Kind.FLOAT and t.size in (4, 8):
        try:
            f = float(text)
        except ValueError:
            raise bad("not a number") from None
        return struct.pack(("<" if order == "little" else ">") + ("f" if t.size == 4 else "d"), f)
    if t.kind == Kind.ARRAY and V.is_char(btf, t.array.type) and btf.sizeof(t.array.type) == 1:
        data = text.encode("utf-8")
        if len(data) > size:
            raise bad(f"{len(data)} bytes do not fit in {tname}")
        return data.ljust(size, b"\0")
    if t.kind == Kind.PTR:
        raise bad("a pointer cannot be set")
    raise bad(f"a {tname} cannot be set from the command line (integers, booleans, enums, "
              "floats and char arrays can)")


# ---------------------------------------------------------------- histograms


def histogram_of(name: str, map_type: str, btf, key_tid: int | None, value_tid: int | None,
                 max_entries: int) -> bool:
    """Whether a map is a log2 histogram, printed with bars at exit.

    The rule: an ``array`` or ``percpu_array`` map of 2 to 64 entries whose key is a 4-byte
    integer and whose value an integer, with ``hist`` or ``slot`` in its name (the names
    bpftrace and libbpf-tools give them).  Index ``i`` counts values in [2^i, 2^(i+1)) (0
    and 1 both in slot 0), as libbpf-tools' ``log2()`` buckets them."""
    if map_type not in ("array", "percpu_array") or btf is None or not key_tid or not value_tid:
        return False
    if not 2 <= max_entries <= HIST_MAX_SLOTS:
        return False
    low = name.lower()
    if not any(w in low for w in HIST_WORDS):
        return False
    k = btf.type(btf.resolve(key_tid))
    v = btf.type(btf.resolve(value_tid))
    return k.kind == Kind.INT and k.size == 4 and v.kind == Kind.INT and v.size in (4, 8)


def log2_buckets(counts: list[int]) -> list[dict]:
    """The non-empty span of a log2 histogram: ``{"low", "high", "count"}`` per slot (high excluded)."""
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return []
    out = []
    for i in range(nz[0], nz[-1] + 1):
        low = 0 if i == 0 else 1 << i
        out.append({"low": low, "high": 1 << (i + 1), "count": int(counts[i])})
    return out


# ---------------------------------------------------------------- the session


@dataclass
class Options:
    programs: list[str] = field(default_factory=list)
    attach: list[str] = field(default_factory=list)
    iface: str | None = None
    sets: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    headers: object = None   # a typesrc.headers.HeaderOptions (--header), or None
    duration: float | None = None
    count: int | None = None
    printk: bool = True
    maps: bool = True


class Session:
    """One ``run``: see the module docstring.  ``emit(record)`` receives every record."""

    def __init__(self, path: str, options: Options, emit) -> None:
        self.path = path
        self.opt = options
        self.emit = emit
        self.failed = False          # something did not load or attach
        self.env_failed = False      # ... for a reason of the machine
        self.first_failure = ""      # the first attach failure, in words
        self.records = 0
        self._obj = None
        self._rt = None
        self._printk = None
        self._stats = None
        self._buffers: list = []
        self._ts = None
        self._record_types: dict = {}

    # -- stage 1 and 2

    def prepare(self) -> None:
        """Everything before load: open, --prog, --set, --attach parsed, the printk reader opened.  Raises
        on bad input (exit 2) or an environment problem (exit 3)."""
        from bpfinspect.obj import open_object
        from bpfinspect.obj.names import libbpf_object_name
        from bpfinspect.typesrc import TypeSource
        from bpfinspect.typesrc.records import parse_overrides

        self.emit({"type": "start", "schema": SCHEMA, "file": self.path})
        obj = open_object(self.path)
        self._obj = obj
        from bpfinspect.runtime._lib import has_bpf_privilege
        if not has_bpf_privilege():
            raise EnvironmentProblem("running an object needs privilege for bpf(): run as root, or with CAP_BPF "
                                     "plus CAP_PERFMON (and CAP_NET_ADMIN for XDP and tc)")
        overrides = parse_overrides(self.opt.types)
        self._ts = TypeSource(obj, overrides=overrides, headers=self.opt.headers)
        self._record_types = self._ts.record_types()
        settable = settable_variables(obj, self._ts)
        writes = self._parse_sets(settable)
        from bpfinspect.runtime import Object
        rt = Object(obj.elf.data, name=libbpf_object_name(self.path), btf=obj.btf)
        self._rt = rt
        wanted = set(self.opt.programs)
        unknown = wanted - set(rt.programs)
        if unknown:
            raise UsageError(f"--prog: no program named {', '.join(sorted(unknown))} "
                             f"(have: {', '.join(rt.programs) or 'none'})")
        if wanted:  # exactly these: also one whose SEC("?...") turned autoload off
            for name, prog in rt.programs.items():
                prog.autoload = name in wanted
        self.targets = self._parse_targets()
        for var, data in writes:
            sec = rt.data_sections.get(var.map_name)
            if sec is None:
                raise UsageError(f"--set {var.name}: libbpf has no data section {var.map_name}")
            for i, b in enumerate(data):
                sec[var.offset + i] = b
        if self.opt.printk and self._uses_printk():
            from bpfinspect.runtime.tracepipe import PrintkReader
            self._printk = PrintkReader()

    def _parse_sets(self, settable: dict) -> list:
        out = []
        for item in self.opt.sets:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(f"--set {item!r}: write VAR=VALUE")
            var = settable.get(name)
            if var is None:
                listing = ", ".join(f"{v.name} ({v.type_name}, {v.section})" for v in settable.values())
                raise UsageError(f"--set {name}: no such variable; settable: {listing or 'none'}")
            out.append((var, parse_value(self._ts.btf, var.type_id, var.size, text, name)))
        return out

    def _parse_targets(self) -> dict:
        return parse_targets(self._rt.programs, self.opt.attach)

    def _uses_printk(self) -> bool:
        """Whether a program that will load calls a printk helper (itself or through its subprograms)."""
        loading = {name for name, p in self._rt.programs.items() if p.autoload}
        return any(p.name in loading and PRINTK_HELPERS.intersection(p.helpers) for p in self._obj.programs)

    def load(self) -> None:
        self._rt.load()

    # -- stage 3

    def attach_all(self) -> None:
        from bpfinspect.runtime.tracepipe import RunStats
        try:
            self._stats = RunStats()
        except BpfInspectError:
            self._stats = None
        for prog in self._rt.programs.values():
            if prog.fd < 0:
                continue
            for target in self.targets.get(prog.name, ()):
                self._attach_one(prog, target.text, lambda t=target, p=prog: attach_target(p, t))
            if prog.name in self.targets:
                continue
            if prog.type in (PROG_XDP, PROG_SCHED_CLS) and self.opt.iface:
                t = parse_target(prog.name, self.opt.iface, prog.type, prog.section)
                self._attach_one(prog, t.text, lambda t=t, p=prog: attach_target(p, t))
                continue
            self._attach_auto(prog)

    def _failure(self, exc: BpfInspectError) -> None:
        self.failed = True
        if isinstance(exc, EnvironmentProblem):
            if not self.env_failed:
                self.first_failure = exc.one_line()
            self.env_failed = True
        elif not self.first_failure:
            self.first_failure = exc.one_line()

    def _attach_one(self, prog, target: str, do) -> None:
        try:
            do()
        except BpfInspectError as exc:
            self._failure(exc)
            self.emit({"type": "attach", "program": prog.name, "target": target, "ok": False,
                       "error": exc.one_line()})
            return
        self.emit({"type": "attach", "program": prog.name, "target": target, "ok": True, "error": None})

    def _attach_auto(self, prog) -> None:
        target = _section_target(prog.section)
        if prog.type in (PROG_XDP, PROG_SCHED_CLS) and not prog.section.startswith(("xdp/", "xdp.frags/")):
            self.emit({"type": "attach", "program": prog.name, "target": None, "ok": False,
                       "error": f"not attached: a {prog.type_name} program needs an interface "
                                f"(--iface IFNAME or --attach {prog.name}=IFNAME)"})
            return
        try:
            prog.attach()
        except BpfInspectError as exc:
            if getattr(exc, "not_auto_attachable", False):
                self.emit({"type": "attach", "program": prog.name, "target": None, "ok": False,
                           "error": f"not attached: SEC(\"{prog.section}\") names no target "
                                    f"(give one with --attach {prog.name}=TARGET)"})
                return
            self._failure(exc)
            self.emit({"type": "attach", "program": prog.name, "target": target, "ok": False,
                       "error": exc.one_line()})
            return
        self.emit({"type": "attach", "program": prog.name, "target": target, "ok": True, "error": None})

    # -- stage 4

    def sources(self) -> list[str]:
        """What :meth:`stream` reads, in words."""
        out = []
        for name, rec in sorted(self._record_types.items()):
            mp = self._rt.maps.get(name)
            if mp is None or mp.fd < 0:
                continue
            kind = "ring buffer" if mp.type == 27 else "perf buffer"
            out.append(f"{kind} {name} ({rec.name or 'type unknown: hex'})")
        if self._printk is not None:
            out.append("bpf_printk" + (" (shared trace_pipe)" if self._printk.shared else ""))
        return out

    def open_buffers(self) -> None:
        rt = self._rt
        for name, rec in sorted(self._record_types.items()):
            mp = rt.maps.get(name)
            if mp is None or mp.fd < 0:
                continue
            tid = rec.type.id if rec.type is not None else None
            if mp.type == 27:
                self._buffers.append(mp.ring_buffer(self._on_record(name, tid)))
            else:
                cb = self._on_record(name, tid)
                self._buffers.append(mp.perf_buffer(lambda cpu, data, cb=cb: cb(data),
                                                    lost=self._on_lost(name)))

    def _on_record(self, name: str, tid: int | None):
        btf = self._ts.btf

        def on(data: bytes):
            if self._done():
                return
            rec = {"type": "event", "map": name, "ts": round(time.monotonic(), 6)}
            value = None
            if tid is not None:
                try:
                    value = V.read(btf, tid, data)
                except BpfInspectError:  # a type the reader refuses (a damaged BTF): the bytes
                    value = None
            if value is not None:
                rec["data"] = value
            else:
                rec["hex"] = bytes(data).hex()
            self.records += 1
            self.emit(rec)
        return on

    def _on_lost(self, name: str):
        def lost(cpu: int, count: int) -> None:
            self.emit({"type": "lost", "map": name, "cpu": int(cpu), "count": int(count)})
        return lost

    def _done(self) -> bool:
        return self.opt.count is not None and self.records >= self.opt.count

    def stream(self) -> str:
        """Deliver records until ``duration``/``count``; the reason it stopped (Ctrl-C propagates)."""
        deadline = time.monotonic() + self.opt.duration if self.opt.duration is not None else None
        fds = {}
        for buf in self._buffers:
            fds[buf.fileno()] = buf
        if self._printk is not None:
            fds[self._printk.fileno()] = self._printk
        while True:
            if self._done():
                return "count"
            timeout = POLL_MS / 1000
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._drain()
                    return "duration"
                timeout = min(timeout, left)
            if fds:
                ready, _, _ = select.select(list(fds), [], [], timeout)
            else:
                time.sleep(timeout)
                ready = []
            for fd in ready:
                self._service(fds[fd])

    def _service(self, src) -> None:
        from bpfinspect.runtime.tracepipe import PrintkReader
        if isinstance(src, PrintkReader):
            for line in src.read():
                if self._done():
                    return
                self.records += 1
                self.emit({"type": "printk", "ts": line.ts, "cpu": line.cpu, "pid": line.pid, "comm": line.comm,
                           "text": line.text})
        else:
            src.consume()

    def _drain(self) -> None:
        for buf in self._buffers:
            buf.consume()
        if self._printk is not None:
            self._service(self._printk)

    # -- stage 5

    def finish(self) -> None:
        """Maps, globals, stats; then close everything (always safe to call)."""
        try:
            if self._rt is not None and self._rt.loaded:
                if self.opt.maps:
                    self._dump_maps()
                    self._dump_globals()
                self._dump_stats()
        finally:
            self.close()

    def _dump_maps(self) -> None:
        btf = self._ts.btf
        for mp in self._rt.maps.values():
            if mp.is_internal or mp.fd < 0 or mp.type_name not in DUMP_MAP_TYPES:
                continue
            key_tid = mp.btf_key_type_id or None
            value_tid = mp.btf_value_type_id or None
            if key_tid is None and value_tid is None:
                k, v = self._ts.map_types(mp.name)
                key_tid = k.id if k else None
                value_tid = v.id if v else None
            percpu = mp.type_name in PERCPU_MAP_TYPES
            entries = []
            truncated = False
            for i, (kraw, vraw) in enumerate(mp.raw_items()):
                if i >= MAX_MAP_ENTRIES:
                    truncated = True
                    break
                key = _decode(btf, key_tid, kraw)
                if percpu:
                    per = [_decode(btf, value_tid, b) for b in vraw]
                    value = {"per_cpu": per, "sum": _sum(per)}
                else:
                    value = _decode(btf, value_tid, vraw)
                entries.append({"key": key, "value": value})
            rec = {"type": "map", "name": mp.name, "map_type": mp.type_name, "entries": entries,
                   "truncated": truncated}
            if histogram_of(mp.name, mp.type_name, btf, key_tid, value_tid, mp.max_entries):
                counts = [0] * mp.max_entries
                for e in entries:
                    k = e["key"]
                    val = e["value"]["sum"] if percpu else e["value"]
                    if isinstance(k, int) and 0 <= k < len(counts) and isinstance(val, int):
                        counts[k] = val
                rec["histogram"] = log2_buckets(counts)
            self.emit(rec)

    def _dump_globals(self) -> None:
        obj = self._obj
        btf = self._ts.btf
        settable = settable_variables(obj, self._ts)
        for d in obj.datasecs:
            sec = self._rt.data_sections.get(d.map_name)
            if sec is None or not d.variables:
                continue
            try:
                raw = bytes(sec)
            except BpfInspectError:
                continue
            values = {}
            for v in d.variables:
                s = settable.get(v.name)
                tid = s.type_id if s is not None and s.section == d.name else (v.type_id or None)
                values[v.name] = _decode(btf, tid, raw[v.offset:v.offset + v.size])
            self.emit({"type": "globals", "section": d.name, "values": values})

    def _dump_stats(self) -> None:
        from bpfinspect.runtime.tracepipe import program_stats
        if self._stats is None:
            return
        for prog in self._rt.programs.values():
            fd = prog.fd
            if fd < 0:
                continue
            try:
                cnt, ns = program_stats(fd)
            except BpfInspectError:
                continue
            self.emit({"type": "stats", "program": prog.name, "run_cnt": cnt, "run_time_ns": ns})

    def close(self) -> None:
        from bpfinspect import interrupts
        with interrupts.shielded():
            for buf in self._buffers:
                buf.close()
            self._buffers.clear()
            if self._rt is not None:
                self._rt.close()
            if self._stats is not None:
                self._stats.close()
                self._stats = None
            if self._printk is not None:
                self._printk.close()
                self._printk = None


def _section_target(section: str) -> str | None:
    """What a section says the program attaches to (``sched/sched_process_exec``), or None."""
    _, slash, rest = section.partition("/")
    return rest if slash and rest else None


def _decode(btf, tid, data: bytes):
    if tid is None or btf is None:
        return bytes(data).hex()
    try:
        return V.read(btf, tid, data)
    except BpfInspectError:
        return bytes(data).hex()


def _sum(values: list):
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return sum(values)
    if values and all(isinstance(v, dict) for v in values):
        out = {}
        for k in values[0]:
            out[k] = _sum([v.get(k) for v in values])
        return out
    return None


__all__ = ["Options", "Session", "Target", "attach_target", "histogram_of", "log2_buckets", "parse_target",
           "parse_targets", "parse_value", "settable_variables"]
