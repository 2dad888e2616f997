#!/usr/bin/env python3
"""Trace process starts and exits, the libbpf-bootstrap "bootstrap" tool in Python.

Runs the fixture object fixtures/bootstrap.bpf.o through a Python skeleton
made at start-up with ``bpfinspect gen-skel --lang python`` (into a temporary
directory, so a fresh checkout needs nothing else), and prints one line per
exec and exit:

    TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE
    12:01:02 EXEC  ls               4242    4100    /usr/bin/ls
    12:01:02 EXIT  ls               4242    4100    [0] (3ms)

``-d MIN_DURATION_MS`` reports only processes that lived at least that long
(exec events are then not reported at all).  Needs root (or CAP_BPF and
CAP_PERFMON) and tracefs mounted at /sys/kernel/tracing.  Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OBJECT = os.path.join(HERE, "..", "fixtures", "bootstrap.bpf.o")
MODULE = "bootstrap_bpf_skel"

try:
    import bpfinspect  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(HERE, ".."))


def make_skeleton(object_path: str, workdir: str, headers=()):
    """Write the skeleton module for ``object_path`` into ``workdir`` and import it.

    The ring buffer's records arrive as ``struct event`` objects: the skeleton knows the type from
    the object's DWARF (the size the program reserves, matched with its local ``struct event *e``),
    or, for an object built without ``-g`` or stripped, from the ``headers`` that define it."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel.python import generate
    from bpfinspect.typesrc import TypeSource
    from bpfinspect.typesrc.headers import HeaderOptions

    obj = open_object(object_path)
    source = TypeSource(obj, overrides={"rb": "struct event"} if headers else None,
                        headers=HeaderOptions(headers) if headers else None)
    path = os.path.join(workdir, MODULE + ".py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(generate(obj, module_name=MODULE, source=source))
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Trace process exec and exit events.")
    parser.add_argument("-d", "--duration", type=int, default=0, metavar="MIN_DURATION_MS",
                        help="minimum process duration (ms) to report")
    parser.add_argument("-v", "--verbose", action="store_true", help="show libbpf's debug messages")
    parser.add_argument("--object", default=DEFAULT_OBJECT, help="the bootstrap BPF object (default: the fixture)")
    parser.add_argument("--header", action="append", default=[], metavar="FILE",
                        help="a header defining struct event, for an object without DWARF (e.g. fixtures/src/bootstrap.h)")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                        help="stop after this many seconds (default: run until Ctrl-C)")
    args = parser.parse_args(argv)
    if args.duration < 0:
        parser.error("MIN_DURATION_MS must not be negative")

    try:
        from bpfinspect.errors import BpfInspectError
        import elftools  # noqa: F401  (bpfinspect reads ELF through pyelftools)
        import jinja2  # noqa: F401  (and writes skeletons with jinja2)
        from bpfinspect.runtime import journal
    except ImportError as exc:
        print(f"bootstrap: bpfinspect is not usable here ({exc}); install it with: pip install .", file=sys.stderr)
        return 3

    journal.echo = args.verbose
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    try:
        with tempfile.TemporaryDirectory(prefix="bootstrap-skel-") as tmp:
            skel_module = make_skeleton(args.object, tmp, args.header)
            skeleton = getattr(skel_module, skel_module.__all__[0])   # BootstrapBpf, named after the object
            if not dict(skeleton.RECORDS).get("rb"):
                print("bootstrap: the record type of the ring buffer is unknown (an object without DWARF?): "
                      "give the header that defines struct event with --header FILE", file=sys.stderr)
                return 2
            with skeleton.open() as skel:
                # parameterize the BPF code with the minimum duration, before load
                skel.rodata.min_duration_ns = args.duration * 1_000_000
                skel.load()
                skel.attach()

                def handle_event(e) -> None:
                    ts = time.strftime("%H:%M:%S")
                    comm = e.comm.decode("utf-8", "replace")
                    if e.exit_event:
                        line = f"{ts:<8} {'EXIT':<5} {comm:<16} {e.pid:<7} {e.ppid:<7} [{e.exit_code}]"
                        if e.duration_ns:
                            line += f" ({e.duration_ns // 1_000_000}ms)"
                    else:
                        fname = e.filename.decode("utf-8", "replace")
                        line = f"{ts:<8} {'EXEC':<5} {comm:<16} {e.pid:<7} {e.ppid:<7} {fname}"
                    print(line, flush=True)

                rb = skel.maps.rb.ring_buffer(handle_event)   # records arrive as struct event objects
                print(f"{'TIME':<8} {'EVENT':<5} {'COMM':<16} {'PID':<7} {'PPID':<7} FILENAME/EXIT CODE",
                      flush=True)
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
