"""`bpfinspect load OBJ [--prog NAME]... [--attach] [--trace-syscalls[=all]] [--json] [-v]`: the kernel's verdict.

Loads the object through the system's libbpf, reports each program as
loaded (with instruction counts and verifier statistics) or rejected (with
the verifier's reason and log), lists the maps created, optionally attaches
what can be attached, then unloads everything; with --trace-syscalls, also
the system calls that took (a timeline, and ``"syscalls"`` in JSON).  Exit 0:
all loaded; 1: something rejected or failed to attach; 3: no libbpf, no
privilege, no bpf(), or tracefs missing for an attach or for recording.
"""

from __future__ import annotations

import os

from bpfinspect.cli.common import add_json_arg, add_object_arg, add_trace_syscalls_arg


def register(sub) -> None:
    help_text = "load an object through libbpf and report the kernel's verdict per program, then unload"
    p = sub.add_parser("load", help=help_text, description=help_text)
    add_object_arg(p)
    p.add_argument("--prog", action="append", metavar="NAME", default=[],
                   help="load only this program (repeatable); default: every autoload program")
    p.add_argument("--attach", action="store_true", help="also attach every loaded program that can be, and report")
    p.add_argument("-v", "--verbose", action="store_true", help="show whole verifier logs, not only their end")
    p.add_argument("--tail", type=int, default=20, metavar="N", help="verifier log lines shown without -v (20)")
    add_trace_syscalls_arg(p)
    add_json_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from bpfinspect.errors import EnvironmentProblem, MalformedInput

    from bpfinspect.fileio import read_input

    path = args.object
    data = read_input(path)  # bounded, and never blocks on a pipe nobody writes to
    if data[:4] != b"\x7fELF":
        raise MalformedInput("not an ELF file", path=path, offset=0)
    if not _bpf_syscall_available():
        raise EnvironmentProblem("the kernel offers no bpf() system call here "
                                 "(/proc/sys/kernel/unprivileged_bpf_disabled missing or bpf() returned ENOSYS)")
    from bpfinspect.runtime.loadcheck import check_load
    from bpfinspect.runtime.systrace import recording

    with recording(args.trace_syscalls is not None) as recorder:
        # the bytes just read, under the name libbpf gives a file (up to its first dot)
        report = check_load(data, name=os.path.basename(path).split(".", 1)[0], programs=args.prog or None,
                            attach=args.attach, full_log=args.verbose)
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
