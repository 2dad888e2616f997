"""Why an attach failed, in words.

libbpf reports an attach failure as an errno (ENOENT, EINVAL...) and a line in its log.  The
functions here are called with that errno after the failure, look at the machine (tracefs,
the kernel's tracepoints and symbols, the binary, the network interfaces) and return the
exception to raise: an :class:`AttachError` (exit 1) naming what is missing -- no such
tracepoint (with the closest names), no such function in kallsyms or in the binary, no such
interface -- or an :class:`~bpfinspect.errors.EnvironmentProblem` (exit 3) for what the
machine lacks: tracefs not mounted, a kernel without kprobe support.  When nothing specific
is found, libbpf's own error (:func:`~bpfinspect.runtime._lib.make_error`) is returned.

Every file read here is bounded (the lists are the kernel's, but a hostile mount could make
them anything).
"""

from __future__ import annotations

import difflib
import errno
import os

from bpfinspect.errors import EnvironmentProblem, OperationFailed, UsageError
from bpfinspect.runtime._lib import LibbpfError, _last_meaningful_line, errno_name, make_error

TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
KPROBE_PMU = "/sys/bus/event_source/devices/kprobe"
KALLSYMS = "/proc/kallsyms"
MAX_EVENTS = 100_000
MAX_KALLSYMS_BYTES = 256 << 20
CLOSEST = 5


class AttachError(OperationFailed):
    """An attach the kernel refused, with the reason in words; ``errno`` (0 when the check came
    first) and ``reason`` (``no_tracepoint``, ``no_function``, ``no_binary``, ``no_interface``...)."""

    def __init__(self, message: str, *, reason: str, err: int = 0, closest=()) -> None:
        super().__init__(message)
        self.reason = reason
        self.errno = err
        self.errno_name = errno_name(err) if err else ""
        self.closest = tuple(closest)


class WrongProgramType(UsageError):
    """The program's type cannot be attached the way asked (an XDP program as a tracepoint)."""

    reason = "wrong_program_type"


class NoKprobes(EnvironmentProblem):
    """This kernel offers no kprobes (no kprobe PMU and no kprobe_events)."""

    reason = "no_kprobes"


class NoTracefs(EnvironmentProblem):
    """tracefs is not mounted where libbpf looks for it."""

    reason = "no_tracefs"


def tracefs_root() -> str | None:
    """Where tracefs is mounted (the first of libbpf's two places that has ``events``), or None."""
    for d in TRACEFS_DIRS:
        if os.path.isdir(os.path.join(d, "events")):
            return d
    return None


def _mounted_tracefs() -> str | None:
    """Where tracefs is mounted (from /proc/self/mounts), readable or not."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f.read(1 << 20).splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "tracefs" and parts[1] in TRACEFS_DIRS:
                    return parts[1]
    except OSError:
        pass
    return None


def _no_tracefs(what: str) -> NoTracefs:
    mounted = _mounted_tracefs()
    if mounted is not None:
        return NoTracefs(f"{what} needs tracefs, which is mounted at {mounted} but not readable here "
                         f"(run as root)")
    return NoTracefs(f"{what} needs tracefs, which is not mounted; mount it with: "
                     f"mount -t tracefs tracefs /sys/kernel/tracing")


def no_tracefs(what: str) -> NoTracefs:
    """The error for ``what`` without a usable tracefs: not mounted (how to mount it), or not readable."""
    return _no_tracefs(what)


def kprobes_supported() -> bool | None:
    """Whether the kernel has kprobes: libbpf uses the kprobe PMU, else tracefs's kprobe_events;
    a kernel without CONFIG_KPROBES has neither.  None when that cannot be told (no PMU and no
    tracefs to look in)."""
    if os.path.isdir(KPROBE_PMU):
        return True
    root = tracefs_root()
    if root is None:
        return None
    return os.path.exists(os.path.join(root, "kprobe_events"))


def tracepoint_names(root: str) -> list[str]:
    """``category/name`` of every tracepoint tracefs lists (bounded)."""
    out: list[str] = []
    events = os.path.join(root, "events")
    try:
        cats = sorted(os.listdir(events))
    except OSError:
        return out
    for cat in cats:
        d = os.path.join(events, cat)
        if not os.path.isdir(d):
            continue
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in sorted(names):
            if name in ("enable", "filter"):
                continue
            out.append(f"{cat}/{name}")
            if len(out) >= MAX_EVENTS:
                return out
    return out


def _closest(word: str, choices, n: int = CLOSEST) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)


def _named(prog) -> str:
    return f"program '{prog.name}' (SEC(\"{prog.section}\"))"


def tracepoint(prog, category: str, name: str, err: int, text: str):
    root = tracefs_root()
    if root is None:
        return _no_tracefs(f"{_named(prog)}: attaching to tracepoint {category}/{name}")
    if not os.path.isdir(os.path.join(root, "events", category, name)):
        names = tracepoint_names(root)
        closest = _closest(f"{category}/{name}", names)
        if not closest:  # the same name in another category, or names of the category
            closest = [n for n in names if n.split("/", 1)[1] == name][:CLOSEST] or \
                _closest(name, [n for n in names if n.startswith(category + "/")])
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        return AttachError(f"{_named(prog)}: no such tracepoint {category}/{name}{hint}", reason="no_tracepoint",
                           err=err, closest=closest)
    return _libbpf(prog, f"attach to tracepoint {category}/{name}", err, text)


def raw_tracepoint(prog, name: str, err: int, text: str):
    if err == errno.ENOENT:
        root = tracefs_root()
        closest = []
        if root is not None:
            closest = _closest(name, sorted({n.split("/", 1)[1] for n in tracepoint_names(root)}))
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        return AttachError(f"{_named(prog)}: no such raw tracepoint {name}{hint}", reason="no_tracepoint",
                           err=err, closest=closest)
    return _libbpf(prog, f"attach to raw tracepoint {name}", err, text)


def kallsyms_has(func: str) -> bool | None:
    """Whether /proc/kallsyms lists ``func`` (None when it cannot be read)."""
    want = func.encode()
    try:
        with open(KALLSYMS, "rb") as f:
            data = f.read(MAX_KALLSYMS_BYTES)
    except OSError:
        return None
    for line in data.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == want:
            return True
    return False


def kprobe(prog, func: str, err: int, text: str):
    if not kprobes_supported():
        return NoKprobes(f"{_named(prog)}: kprobe on {func}: this kernel has no kprobe support "
                         f"(CONFIG_KPROBES is off: no kprobe PMU in /sys/bus/event_source/devices and no "
                         f"kprobe_events in tracefs)")
    if kallsyms_has(func) is False:
        return AttachError(f"{_named(prog)}: no such function {func} in /proc/kallsyms", reason="no_function",
                           err=err)
    return _libbpf(prog, f"kprobe on {func}", err, text)


def uprobe(prog, binary: str, func: str | None, offset: int, err: int, text: str):
    from bpfinspect.errors import BpfInspectError
    from bpfinspect.probes import resolve_binary, resolve_uprobe

    where = f"uprobe on {binary}" + (f":{func}" if func else f":{offset:#x}")
    try:
        path = resolve_binary(binary).path
    except BpfInspectError:
        return AttachError(f"{_named(prog)}: {where}: no such binary {binary!r} (not a path, not found in "
                           f"PATH or the library search path)", reason="no_binary", err=err)
    if not os.path.exists(path):
        return AttachError(f"{_named(prog)}: {where}: no such binary {path}", reason="no_binary", err=err)
    if func:
        try:
            resolve_uprobe(path, func)
        except BpfInspectError as exc:
            reason = getattr(exc, "reason", "")
            if reason == "not_found":
                msg = f"no such function {func} in {path}"
            else:
                msg = exc.message
            return AttachError(f"{_named(prog)}: {where}: {msg}", reason="no_function", err=err,
                               closest=tuple(getattr(exc, "candidates", ()) or ()))
    return _libbpf(prog, where, err, text)


def ifindex(ifname: str) -> int:
    """The interface index of ``ifname``; AttachError naming the interfaces there are when none."""
    import socket

    try:
        return socket.if_nametoindex(ifname)
    except (OSError, ValueError):
        try:
            have = sorted(n for _, n in socket.if_nameindex())
        except OSError:
            have = []
        closest = _closest(ifname, have) if have else []
        listed = ", ".join(have[:20]) + (" ..." if len(have) > 20 else "")
        raise AttachError(f"no such network interface {ifname!r} (have: {listed or 'none'})",
                          reason="no_interface", err=errno.ENODEV, closest=closest) from None


def netdev(prog, how: str, ifname: str, err: int, text: str):
    return _libbpf(prog, f"{how} on {ifname}", err, text)


def _libbpf(prog, what: str, err: int, text: str):
    """libbpf's own error (errno and its last log line) when no check above explains it."""
    exc = make_error(f"{_named(prog)}: {what}", err)
    if isinstance(exc, LibbpfError) and text:
        hint = _last_meaningful_line(text)
        if hint and hint not in exc.message:
            exc.message += f"; libbpf: {hint}"
        exc.libbpf_message = text
    return exc
