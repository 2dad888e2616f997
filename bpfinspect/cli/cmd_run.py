"""`bpfinspect run OBJ ...`: load, attach and watch an object work, until Ctrl-C.

Loads the object through libbpf (after ``--set`` wrote its variables), attaches every
program (from its section, ``--attach PROG=TARGET``, ``--iface``), streams ring-buffer and
perf-buffer records decoded with their record type and ``bpf_printk`` lines, and at exit
shows the maps (log2 histograms with bars), the globals and the programs' run statistics,
then detaches and unloads everything.  ``--json``: JSON Lines, one record per line.

Exit 0 on a normal stop (Ctrl-C, ``--duration``, ``--count``); 1 when something failed to
load or attach (after showing what did); 2 bad input; 3 environment (no privilege, no
tracefs, a kernel without kprobes for a kprobe asked for).
"""

from __future__ import annotations

from bpfinspect.cli.common import (ATTACH_TARGETS, add_header_args, add_json_arg, add_object_arg,
                                   add_trace_syscalls_arg, header_options)


def register(sub) -> None:
    help_text = "load an object, attach its programs and watch them work: events, printk, maps at exit"
    p = sub.add_parser("run", help=help_text, description=help_text)
    add_object_arg(p)
    p.add_argument("--prog", action="append", metavar="NAME", default=[],
                   help="load and attach only this program (repeatable)")
    p.add_argument("--attach", action="append", metavar="PROG=TARGET", default=[],
                   help=f"where PROG attaches: {ATTACH_TARGETS}; repeatable")
    p.add_argument("--iface", metavar="IFNAME", help="attach XDP and tc programs to this network interface")
    p.add_argument("--set", action="append", metavar="VAR=VALUE", default=[], dest="sets",
                   help="write a .rodata/.data/.bss variable before load (integers in any base, true/false, "
                        "enumerator names, strings for char arrays); repeatable")
    p.add_argument("--type", action="append", metavar="MAP=TYPE", default=[], dest="types",
                   help="record type of a ring buffer or perf event array (e.g. rb='struct event'); repeatable")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--count", type=int, metavar="N", help="stop after N events and printk lines")
    p.add_argument("--no-printk", dest="printk", action="store_false", help="do not read bpf_printk output")
    p.add_argument("--no-maps", dest="maps", action="store_false",
                   help="do not show maps and globals at exit")
    add_header_args(p)
    add_trace_syscalls_arg(p)
    add_json_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.runtime.session import Options, Session
    from bpfinspect.views.run import make_sink

    if args.duration is not None and not args.duration >= 0:
        raise UsageError("--duration must be a number of seconds, 0 or more")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be 1 or more")
    sink = make_sink(json_lines=args.json)
    opts = Options(programs=args.prog, attach=args.attach, iface=args.iface, sets=args.sets, types=args.types,
                   headers=header_options(args), duration=args.duration, count=args.count, printk=args.printk,
                   maps=args.maps)
    session = Session(args.object, opts, sink.emit)
    with _sigterm_as_sigint():
        return _run(args, session, sink)


class _closing:
    """Close the session however the block ends (a defect of ours included)."""

    def __init__(self, session) -> None:
        self.session = session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc) -> None:
        self.session.close()


class _sigterm_as_sigint:
    """SIGTERM (``kill``, ``timeout``, a service manager) stops the run as Ctrl-C does: through the
    same protections, so the clean-up (tc filters, the tracefs instance) still happens."""

    def __enter__(self):
        import os
        import signal
        try:
            self.old = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
        except ValueError:  # not the main thread: nothing to change
            self.old = None
        return self

    def __exit__(self, *exc) -> None:
        import signal
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def _run(args, session, sink) -> int:
    import sys

    from bpfinspect import interrupts
    from bpfinspect.errors import BpfInspectError, EnvironmentProblem
    from bpfinspect.runtime.systrace import recording

    reason = "error"
    error: BpfInspectError | None = None
    trace = None
    with recording(args.trace_syscalls is not None) as recorder, _closing(session):
        with interrupts.stop_on_interrupt() as stop:
            try:
                session.prepare()
                session.load()
                # the consumers first: a perf event array drops what a program outputs before its
                # buffer is open (a ring buffer would keep it), so nothing may fire before then
                session.open_buffers()
                session.attach_all()
                sink.watching(session.sources())
                reason = session.stream()
            except BpfInspectError as exc:
                error = exc
        if stop.interrupted:
            reason = "interrupted"
        with interrupts.stop_on_interrupt():
            try:
                session.finish()
            except BpfInspectError as exc:
                error = error or exc
    if recorder is not None:
        trace = recorder.trace
    if error is not None:
        if args.json:
            sink.emit({"type": "error", "error": error.one_line() if error.path else
                       f"{args.object}: {error.one_line()}", "exit_code": error.exit_code})
        sink.emit({"type": "end", "reason": "error"})
        raise error
    if trace is not None:
        if args.json:
            sink.emit({"type": "syscalls", "syscalls": trace.to_json(), "lost": trace.lost})
        else:
            from bpfinspect.views import syscalls
            from bpfinspect.views.table import render
            render(syscalls.blocks(trace, show_probes=args.trace_syscalls == "all"))
    sink.emit({"type": "end", "reason": reason})
    if session.env_failed:
        print(f"bpfinspect: {args.object}: {session.first_failure}", file=sys.stderr)
        return EnvironmentProblem.exit_code
    if session.failed:
        print(f"bpfinspect: {args.object}: {session.first_failure}", file=sys.stderr)
        return 1
    return 0
