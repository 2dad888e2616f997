"""`bpfinspect load OBJ [--prog NAME]... [--attach[=PROG=TARGET]]... [--iface IFNAME] [--trace-syscalls[=all]]
[--json] [-v]`: the kernel's verdict.

Loads the object through the system's libbpf, reports each program as
loaded (with instruction counts and verifier statistics) or rejected (with
the verifier's reason and log), lists the maps created, optionally attaches
what can be attached, then unloads everything; with --trace-syscalls, also
the system calls that took (a timeline, and ``"syscalls"`` in JSON).  Exit 0:
all loaded; 1: something rejected or failed to attach, or libbpf could not
open the object; 2: not a BPF object, or a damaged one; 3: no libbpf, no
privilege, no bpf(), or tracefs missing for an attach or for recording.
"""

from __future__ import annotations

from bpfinspect.cli.common import ATTACH_TARGETS, add_json_arg, add_trace_syscalls_arg


def register(sub) -> None:
    help_text = "load an object through libbpf and report the kernel's verdict per program, then unload"
    p = sub.add_parser("load", help=help_text, description=help_text)
    # OBJ may come after a bare --attach, which would take it as its value: run() gives it back
    p.add_argument("object", metavar="OBJ", nargs="?", help="compiled BPF object (x.bpf.o)")
    p.add_argument("--prog", action="append", metavar="NAME", default=[],
                   help="load only this program (repeatable); default: every autoload program")
    p.add_argument("--attach", action="append", nargs="?", const="", metavar="PROG=TARGET",
                   help="also attach every loaded program that can be, and report; with PROG=TARGET (repeatable), "
                        f"attach PROG there: {ATTACH_TARGETS}")
    p.add_argument("--iface", metavar="IFNAME", help="attach XDP and tc programs to this interface (implies --attach)")
    p.add_argument("-v", "--verbose", action="store_true", help="show whole verifier logs, not only their end")
    p.add_argument("--tail", type=int, default=20, metavar="N", help="verifier log lines shown without -v (20)")
    add_trace_syscalls_arg(p)
    add_json_arg(p)
    p.set_defaults(run=run)


def _object_after_attach(args) -> None:
    """``load --attach x.bpf.o``: argparse gave the object to --attach; a target has an '='."""
    from bpfinspect.errors import UsageError
    if args.object is not None:
        return
    taken = [v for v in args.attach or [] if v and "=" not in v]
    if not taken:
        raise UsageError("the object to load is missing: bpfinspect load OBJ [options]")
    args.object = taken[-1]
    args.attach = [v for v in args.attach if v != taken[-1]] + [""]


def run(args) -> int:
    from bpfinspect.errors import EnvironmentProblem
    _object_after_attach(args)
    from bpfinspect.obj import open_object
    from bpfinspect.obj.names import libbpf_object_name

    path = args.object
    # The same checks as every command (bounded read, "not a BPF object", a damaged section
    # or symbol table: exit 2) before libbpf sees the bytes.
    name = libbpf_object_name(path)  # the name libbpf gives a file: up to its first dot
    try:
        elf = open_object(path).elf
        elf.sections, elf.symbols
    except Exception as exc:  # not a BPF object, a damaged one: --json still gets its document
        if args.json:
            from bpfinspect.errors import BpfInspectError

            if isinstance(exc, BpfInspectError):
                from bpfinspect.runtime.loadcheck import failed_report
                from bpfinspect.views.jsonout import emit

                if exc.path is None:
                    exc.path = path
                report = failed_report(exc, path=path, name=name)
                report.object_error = exc.one_line()
                emit(report.to_json())
        raise
    from bpfinspect.runtime import LibbpfError

    try:
        if not _bpf_syscall_available():
            raise EnvironmentProblem("the kernel offers no bpf() system call here "
                                     "(/proc/sys/kernel/unprivileged_bpf_disabled missing or bpf() "
                                     "returned ENOSYS)")
        from bpfinspect.runtime.loadcheck import check_load
        from bpfinspect.runtime.systrace import recording

        with recording(args.trace_syscalls is not None) as recorder:
            targets = [t for t in (args.attach or []) if t]
            report = check_load(elf.data, name=name, programs=args.prog or None, attach=args.attach is not None,
                                full_log=args.verbose, targets=targets, iface=args.iface)
    except (EnvironmentProblem, LibbpfError) as exc:
        # No privilege, no libbpf, no bpf(), or an object libbpf cannot open: --json still
        # gets its document, with the reason in "environment_problem" or "error".
        if not args.json:
            raise
        from bpfinspect.runtime.loadcheck import failed_report
        from bpfinspect.views.jsonout import emit

        report = failed_report(exc, path=path, name=name)
        emit(report.to_json())
        raise
    report.path = path
    trace = recorder.trace if recorder is not None else None
    if args.json:
        from bpfinspect.views.jsonout import emit
        doc = report.to_json()
        if trace is not None:
            doc["syscalls"] = trace.to_json()
            doc["syscalls_lost"] = trace.lost
        emit(doc)
    else:
        from bpfinspect.views.load import blocks
        from bpfinspect.views.table import render
        out = blocks(report, verbose=args.verbose, tail=max(1, args.tail))
        if trace is not None:
            from bpfinspect.views import syscalls
            out[-1:-1] = syscalls.blocks(trace, show_probes=args.trace_syscalls == "all")
        render(out)
    if report.environment_problem:
        import sys
        print(f"bpfinspect: {report.environment_problem}", file=sys.stderr)
    return report.exit_code()


def _bpf_syscall_available() -> bool:
    """bpf() exists when the kernel exports its sysctl; ENOSYS otherwise shows up at load."""
    import os
    return os.path.exists("/proc/sys/kernel/unprivileged_bpf_disabled") or not os.path.exists("/proc/sys/kernel")
