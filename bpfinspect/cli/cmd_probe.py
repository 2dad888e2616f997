"""`bpfinspect probe {offsets,usdt,line,trace,check}`: where user-space probes go, and ftrace probe lines.

offsets  functions of an executable or library and the file offset libbpf attaches a uprobe to
usdt     USDT notes: probe and semaphore offsets, arguments per architecture
line     read uprobe_events/kprobe_events lines, normalised, PATH:FUNC turned into the offset
trace    define probe events, stream their hits, remove them again (Ctrl-C ends it: exit 0)
check    every program's attach target of a BPF object checked on this machine, without loading
"""

from __future__ import annotations

from bpfinspect.cli.common import add_json_arg


def register(sub) -> None:
    help_text = "user-space probes: uprobe offsets, USDT notes, ftrace probe lines, tracing, attach checks"
    p = sub.add_parser("probe", help=help_text, description=help_text)
    psub = p.add_subparsers(dest="probe_command", metavar="SUBCOMMAND")
    psub.required = True

    o = psub.add_parser("offsets", help="functions of a binary and the file offset of a uprobe on each",
                        description="The functions of an executable or shared library whose names match the "
                        "glob PATTERNs (all when none): symbol value, size, binding, version, section, the file "
                        "offset libbpf attaches a uprobe to, the SEC() spelling and the uprobe_events line.")
    o.add_argument("binary", metavar="BINARY",
                   help="a path, a program name (searched in PATH) or a library name (libc.so.6)")
    o.add_argument("patterns", metavar="PATTERN", nargs="*", help="glob pattern of function names (foo, 'str*')")
    o.add_argument("--libbpf", metavar="VERSION", default=None,
                   help="follow this libbpf version's rules (default: the installed 1.1; 1.3 and later differ)")
    add_json_arg(o)
    o.set_defaults(run=run_offsets)

    u = psub.add_parser("usdt", help="USDT notes of a binary: offsets, semaphores, arguments",
                        description="USDT probes (.note.stapsdt) of an executable or shared library: provider, "
                        "name, file offset and semaphore offset as libbpf computes them, each argument read for "
                        "the binary's architecture, and the uprobe_events line reading the same arguments.")
    u.add_argument("binary", metavar="BINARY", help="a path, a program name or a library name")
    add_json_arg(u)
    u.set_defaults(run=run_usdt)

    ln = psub.add_parser("line", help="check uprobe_events/kprobe_events lines and print them normalised",
                         description="Read probe definitions as the kernel does (uprobetracer and kprobetrace "
                         "syntax): each valid line is printed as the kernel lists it, with PATH:FUNC[+OFF] turned "
                         "into the file offset; an invalid line gets the kernel's reason, its column and a caret "
                         "(exit 2).")
    ln.add_argument("lines", metavar="LINE", nargs="+", help="a probe line (quote it); - reads lines from stdin")
    ln.add_argument("--machine", metavar="ARCH", default=None,
                    help="register names of this architecture (x86_64, aarch64, riscv, s390x; default: this one)")
    ln.add_argument("--btf", metavar="FILE", default=None,
                    help="kernel BTF a kprobe line's $arg* and $argN are read from, as a kernel with BTF arguments "
                         "reads them (default: /sys/kernel/btf/vmlinux, then the modules' BTF beside it)")
    add_json_arg(ln)
    ln.set_defaults(run=run_line)

    t = psub.add_parser("trace", help="define probe events, stream their hits, remove them again",
                        description="Check each LINE (as probe line does, PATH:FUNC resolved to its offset), write "
                        "the definitions to uprobe_events/kprobe_events, enable them in a tracefs instance of our own "
                        "and print every hit (time, CPU, task, pid, each fetched argument by name) until --duration "
                        "is over, --count hits came, or Ctrl-C (exit 0).  Every definition made is removed at exit, "
                        "on Ctrl-C, SIGTERM and errors too.  Needs root.")
    t.add_argument("lines", metavar="LINE", nargs="+", help="a probe line (quote it); - reads lines from stdin")
    t.add_argument("--duration", metavar="S", type=_positive(float), default=None, help="stop after S seconds")
    t.add_argument("--count", metavar="N", type=_positive(int), default=None, help="stop after N hits")
    t.add_argument("--json", action="store_true",
                   help="JSON Lines: a start record (schema 1), one record per hit, an end record")
    t.set_defaults(run=run_trace)

    c = psub.add_parser("check", help="check every program's attach target on this machine, without loading",
                        description="For each program of a BPF object: does its attach target exist here?  "
                        "Tracepoints in tracefs, kprobe and syscall functions in kallsyms, uprobe functions "
                        "in their binaries (the offset libbpf attaches to), USDT notes, fentry/fexit, LSM hooks, "
                        "raw and BTF tracepoints and iterators in vmlinux BTF; and whether this kernel and libbpf support the "
                        "program's kind.  Nothing is loaded.  Exit 1 when a program cannot attach here.")
    c.add_argument("object", metavar="OBJ", help="a BPF object file (.bpf.o)")
    add_json_arg(c)
    c.set_defaults(run=run_check)


def _positive(kind):
    import argparse

    def read(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not v > 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
        return v
    read.__name__ = kind.__name__
    return read


def _rules(args) -> str:
    from bpfinspect.probes.uprobe import DEFAULT_RULES, rules_for

    return rules_for(args.libbpf) if args.libbpf else DEFAULT_RULES


def run_offsets(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.probes.paths import resolve_binary
    from bpfinspect.probes.uprobe import list_functions

    where = resolve_binary(args.binary)
    listing = list_functions(where, args.patterns, rules=_rules(args))
    if args.json:
        from bpfinspect.views.jsonout import emit
        from bpfinspect.views.probes import offsets_json
        emit(offsets_json(listing))
    else:
        from bpfinspect.views.probes import offsets_blocks
        from bpfinspect.views.table import render
        render(offsets_blocks(listing, patterns=bool(args.patterns)))
    if listing.unmatched:
        left = "only .dynsym is left (stripped), " if listing.stripped else ""
        names = ", ".join(repr(p) for p in listing.unmatched)
        raise UsageError(f"{left}no function matches {names}", path=where.path)
    return 0


def run_usdt(args) -> int:
    from bpfinspect.probes.binary import open_binary
    from bpfinspect.probes.paths import resolve_binary
    from bpfinspect.probes.usdt import ftrace_lines, read_usdt_notes

    where = resolve_binary(args.binary)
    with open_binary(where.path) as b:
        notes = read_usdt_notes(b)
        machine, kind = b.machine_name, b.kind
    lines = ftrace_lines(where.sec_binary if "/" in where.sec_binary else where.path, notes)
    if args.json:
        from bpfinspect.views.jsonout import emit
        from bpfinspect.views.probes import usdt_json
        emit(usdt_json(where.path, where.sec_binary, machine, notes, lines))
    else:
        from bpfinspect.views.probes import usdt_blocks
        from bpfinspect.views.table import render
        render(usdt_blocks(where.path, where.sec_binary, machine, kind, notes, lines))
    return 0


MAX_STDIN_LINES = 10000


def _input_lines(args) -> list[str]:
    import sys

    out: list[str] = []
    for item in args.lines:
        if item == "-":
            for n, raw in enumerate(sys.stdin):
                if n >= MAX_STDIN_LINES:
                    from bpfinspect.errors import UsageError
                    raise UsageError(f"more than {MAX_STDIN_LINES} lines on standard input")
                raw = raw.rstrip("\n")
                if raw.strip() and not raw.lstrip().startswith("#"):
                    out.append(raw)
        else:
            out.append(item)
    return out


def run_line(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.probes.lines import LineError, parse_line

    results = []
    for text in _input_lines(args):
        try:
            results.append((text, parse_line(text, machine=args.machine, btf=args.btf)))
        except LineError as exc:
            results.append((text, exc))
    if args.json:
        from bpfinspect.views.jsonout import emit
        from bpfinspect.views.probes import lines_json
        emit(lines_json(results))
    else:
        from bpfinspect.views.probes import lines_blocks
        from bpfinspect.views.table import render
        render(lines_blocks(results))
    bad = [(i, r) for i, (_t, r) in enumerate(results) if isinstance(r, LineError)]
    if bad:
        i, first = bad[0]
        where = f"line {i + 1}, " if len(results) > 1 else ""
        more = f" ({len(bad)} of {len(results)} lines invalid)" if len(results) > 1 else ""
        raise UsageError(f"{where}column {first.column + 1}: {first.reason}{more}")
    return 0


def _checked_lines(texts: list[str]) -> list:
    """Every line checked before anything is written; the first invalid one is exit 2."""
    from bpfinspect.errors import UsageError
    from bpfinspect.probes.lines import LineError, parse_line

    parsed = []
    for i, text in enumerate(texts):
        where = f"line {i + 1}, " if len(texts) > 1 else ""
        try:
            p = parse_line(text)
        except LineError as exc:
            raise UsageError(f"{where}column {exc.column + 1}: {exc.reason}") from None
        if p.kind == "remove":
            raise UsageError(f"{where}probe trace defines probes: a '-:' line removes one")
        parsed.append(p)
    seen: set[str] = set()
    for p in parsed:
        full = f"{p.group_name}/{p.event_name}"
        if full in seen:
            raise UsageError(f"the event {full} is given twice (give each line its own EVENT name)")
        seen.add(full)
    return parsed


def run_trace(args) -> int:
    import signal
    import sys
    import time

    from bpfinspect import interrupts
    from bpfinspect.errors import OperationFailed
    from bpfinspect.probes.hits import Lost
    from bpfinspect.probes.tracefs import TraceSession, find_tracefs
    from bpfinspect.views import probes as view

    lines = _checked_lines(_input_lines(args))
    tracefs = find_tracefs()
    session = TraceSession(tracefs)
    for kind in sorted({p.kind for p in lines}):
        session.events_file(kind)  # exit 3 before anything is written

    def out(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def record(doc: dict) -> None:
        import json
        out(json.dumps(doc, ensure_ascii=False))

    hits = lost = 0
    per_event = {f"{p.group_name}/{p.event_name}": 0 for p in lines}
    stopped = "duration"
    old_term = signal.getsignal(signal.SIGTERM)
    if interrupts.handler_installed():  # SIGTERM (timeout, kill) ends the trace as Ctrl-C does
        signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    try:
        with session:
            for p in lines:
                session.define(p)
            session.start()
            deadline = None if args.duration is None else time.monotonic() + args.duration
            with interrupts.stop_on_interrupt() as stop:  # from the moment the user is told it traces
                if args.json:
                    record(view.trace_start_json(session, lines))
                else:
                    out(view.trace_start_text(session, lines))
                for r in session.records(deadline=deadline):
                    if isinstance(r, Lost):
                        lost += r.count or 0
                        if args.json:
                            record(view.lost_json(r))
                        else:
                            out(view.lost_text(r))
                        continue
                    hits += 1
                    key = f"{r.group}/{r.event}"
                    per_event[key] = per_event.get(key, 0) + 1
                    if args.json:
                        record(view.hit_json(r))
                    else:
                        out(view.hit_text(r))
                    if args.count is not None and hits >= args.count:
                        stopped = "count"
                        break
            if stop.interrupted:
                stopped = "interrupt"
    finally:
        signal.signal(signal.SIGTERM, old_term)
    if args.json:
        record(view.trace_end_json(hits, lost, stopped, session.leftovers))
    else:
        out(view.trace_end_text(hits, lost, stopped, per_event, session.leftovers))
    if session.leftovers:
        raise OperationFailed("could not remove " + "; ".join(session.leftovers))
    return 0


def run_check(args) -> int:
    from bpfinspect.cli.common import open_obj
    from bpfinspect.errors import OperationFailed
    from bpfinspect.probes.check import check_object

    obj = open_obj(args.object)
    checks = check_object(obj)
    if args.json:
        from bpfinspect.views.jsonout import emit
        from bpfinspect.views.probes import check_json
        emit(check_json(obj.path, checks))
    else:
        from bpfinspect.views.probes import check_blocks
        from bpfinspect.views.table import render
        render(check_blocks(obj.path, checks))
    bad = [c for c in checks if not c.ok]
    if bad:
        from bpfinspect.views.probes import shown
        first = bad[0]
        raise OperationFailed(f"{len(bad)} of {len(checks)} programs cannot attach on this machine "
                              f"({shown(first.name)}: {shown(first.problems[0].message)}"
                              f"{'; ...' if len(bad) > 1 or len(first.problems) > 1 else ''})", path=obj.path)
    return 0
