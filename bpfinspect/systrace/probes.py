"""Which recorded calls are feature probes: calls made only to learn what the kernel supports.

libbpf asks the kernel questions before and while it loads an object: can a
program have a name, can BTF hold a FLOAT or an ENUM64, can an array map be
mmapped, are perf links supported...  It asks by creating something tiny and
closing it at once, whatever the answer.  Such a question is recognised by
its shape in the trace, not by libbpf's messages:

A **probe episode** is a run of consecutive recorded calls that

1. starts with a creating call (one that returns a new fd: BTF, map,
   program, link, perf event), and ends as soon as every fd the episode
   created is closed again; a creation that failed created nothing, so a
   failed creation is an episode of its own;
2. refers to no fd other than those it created (an invalid fd such as -1 is
   allowed: libbpf's perf-link probe passes one on purpose);
3. has at most four calls besides its closes;
4. creates only what libbpf's probes create: programs of at most 16
   instructions, BTF of at most 512 bytes, maps of at most one entry or
   named ``libbpf_*``, links, and kprobe perf events on the bpf() system
   call itself (the syscall-wrapper probe).

Every call of a probe episode, its closes included, is a probe.  Anything an
object really uses outlives its creation (later calls refer to it: a map fd
in a program's instructions, BTF in a map), so it never forms an episode.

Limits of the rule: libbpf caches what it learned for the life of the
process, so only the first load in a process shows probes; and a user
object with no BTF whose tiny programs fail to load would look like probes.
"""

from __future__ import annotations

from bpfinspect.systrace.calls import Call

MAX_CALLS = 4
MAX_PROBE_INSNS = 16
MAX_PROBE_BTF = 512


def _tiny(call: Call) -> bool:
    a = call.args
    if call.cmd == "BPF_PROG_LOAD":
        return a.get("insn_cnt", MAX_PROBE_INSNS + 1) <= MAX_PROBE_INSNS
    if call.cmd == "BPF_BTF_LOAD":
        return a.get("btf_size", MAX_PROBE_BTF + 1) <= MAX_PROBE_BTF
    if call.cmd == "BPF_MAP_CREATE":
        return a.get("max_entries", 2) <= 1 or a.get("map_name", "").startswith("libbpf_")
    if call.cmd in ("BPF_LINK_CREATE", "BPF_RAW_TRACEPOINT_OPEN"):
        return True
    if call.syscall == "perf_event_open":
        return a.get("type") == "kprobe" and (a.get("func") or "").endswith("sys_bpf")
    return False


def _is_close(call: Call) -> bool:
    return call.syscall == "close"


def _episode(calls: list[Call], start: int) -> int | None:
    """The index just past the probe episode that starts at ``start``, or None."""
    first = calls[start]
    if first.attempted is None or not _tiny(first):
        return None
    created: set[int] = set()
    open_: set[int] = set()
    others = 0
    i = start
    while i < len(calls):
        c = calls[i]
        if _is_close(c):
            fd = c.args.get("fd")
            if fd not in open_:
                return None
            open_.discard(fd)
        else:
            others += 1
            if others > MAX_CALLS:
                return None
            if any(r.fd >= 0 and r.fd not in created for r in c.refs):
                return None
            if c.attempted is not None:
                if not _tiny(c):
                    return None
                if c.fd is not None:
                    created.add(c.fd)
                    open_.add(c.fd)
        i += 1
        if not open_:
            return i
    return None


def mark_probes(calls: list[Call]) -> None:
    """Set ``probe`` on every call of a probe episode (see the module's rule)."""
    i = 0
    while i < len(calls):
        end = _episode(calls, i)
        if end is None:
            i += 1
            continue
        for c in calls[i:end]:
            c.probe = True
        i = end
