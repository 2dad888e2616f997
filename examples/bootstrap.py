#!/usr/bin/env python3
"""Trace process starts and exits, the libbpf-bootstrap "bootstrap" tool in Python.

Loads the fixture object fixtures/bootstrap.bpf.o through bpfinspect's runtime (public API
only: ``bpfinspect.runtime.Object``) and prints one line per exec and exit:

    TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE
    12:01:02 EXEC  ls               4242    4100    /usr/bin/ls
    12:01:02 EXIT  ls               4242    4100    [0] (3ms)

The record type, ``struct event``, is only the type of local variables in the BPF program:
BTF does not have it, the object's DWARF does, and ``Object.record_type("rb")`` finds it
there (from the size the programs reserve in the ring buffer); for an object built without
``-g`` or stripped, ``--header fixtures/src/bootstrap.h`` gives it from the source's header.

``-d MIN_DURATION_MS`` reports only processes that lived at least that long (exec events
are then not reported at all).  Needs root (or CAP_BPF and CAP_PERFMON) and tracefs mounted
at /sys/kernel/tracing.  Works after a plain ``pip install .``.  Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OBJECT = os.path.join(HERE, "..", "fixtures", "bootstrap.bpf.o")

try:
    import bpfinspect  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(HERE, ".."))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Trace process exec and exit events.")
    parser.add_argument("-d", "--duration", type=int, default=0, metavar="MIN_DURATION_MS",
                        help="minimum process duration (ms) to report")
    parser.add_argument("-v", "--verbose", action="store_true", help="show libbpf's debug messages")
    parser.add_argument("--object", default=DEFAULT_OBJECT, help="the bootstrap BPF object (default: the fixture)")
    parser.add_argument("--header", action="append", default=[], metavar="FILE",
                        help="a header defining struct event, for an object without DWARF "
                             "(e.g. fixtures/src/bootstrap.h)")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                        help="stop after this many seconds (default: run until Ctrl-C)")
    args = parser.parse_args(argv)
    if args.duration < 0:
        parser.error("MIN_DURATION_MS must not be negative")

    from bpfinspect.errors import BpfInspectError
    from bpfinspect.runtime import Object, journal

    journal.echo = args.verbose
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    try:
        with Object.open(args.object, typed_sections=True) as obj:
            # parameterize the BPF code with the minimum duration, before load
            obj.section(".rodata").min_duration_ns = args.duration * 1_000_000
            obj.load()
            obj.attach()
            if args.header:
                event_type = obj.record_type("rb", "struct event", headers=args.header)
            else:
                event_type = obj.record_type("rb")
            if event_type is None:
                print("bootstrap: the object does not say what its ring buffer carries (an object without "
                      "DWARF?): give the header that defines struct event with --header FILE", file=sys.stderr)
                return 2

            def handle_event(e) -> None:
                ts = time.strftime("%H:%M:%S")
                comm = e.comm.decode("utf-8", "backslashreplace")
                if e.exit_event:
                    line = f"{ts:<8} {'EXIT':<5} {comm:<16} {e.pid:<7} {e.ppid:<7} [{e.exit_code}]"
                    if e.duration_ns:
                        line += f" ({e.duration_ns // 1_000_000}ms)"
                else:
                    fname = e.filename.decode("utf-8", "backslashreplace")
                    line = f"{ts:<8} {'EXEC':<5} {comm:<16} {e.pid:<7} {e.ppid:<7} {fname}"
                print(line, flush=True)

            rb = obj.maps["rb"].ring_buffer(handle_event, record_type=event_type)
            print(f"{'TIME':<8} {'EVENT':<5} {'COMM':<16} {'PID':<7} {'PPID':<7} FILENAME/EXIT CODE", flush=True)
            deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
            while not stop:
                rb.poll(timeout_ms=100)
                if deadline is not None and time.monotonic() >= deadline:
                    break
    except KeyboardInterrupt:
        pass
    except BpfInspectError as exc:
        print(f"bootstrap: {exc.one_line()}", file=sys.stderr)
        log = getattr(exc, "log", "")
        if log:
            print(log, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
