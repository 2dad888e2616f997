"""The recorded system calls as a timeline (``--trace-syscalls``) and as JSON.

One row per step, in the order the kernel saw them: what was asked, with fds
named by what they hold (``fd 4 (map exec_start)``), and what came back
(``fd 4 = map exec_start``).  Runs of feature probes fold into one row
(``all=True`` lists them, marked), and so do runs of ``close``.
"""

from __future__ import annotations

from collections import Counter

from bpfinspect.views.table import Table, Text

MAX_HEX = 32          # hex digits of a key or value shown in the timeline
CLOSE_ROW = 100       # characters of fds one folded row of closes lists before the next row starts


def to_json(trace) -> list[dict]:
    return trace.to_json()


def fd_text(fd: int, obj) -> str:
    return f"fd {fd} ({obj.label})" if obj is not None else f"fd {fd}"


def _ref(call, field: str) -> str | None:
    for r in call.refs:
        if r.field == field:
            return fd_text(r.fd, r.object)
    return None


def _hexval(text: str | None) -> str:
    if text is None:
        return "?"
    return text if len(text) <= MAX_HEX else text[:MAX_HEX] + "…"


def _join(parts) -> str:
    return ", ".join(p for p in parts if p)


# ---------------------------------------------------------------- one line per call

def _btf_load(c) -> str:
    a = c.args
    parts = [f"{a.get('btf_size', '?')} bytes of BTF"]
    if a.get("btf_types") is not None:
        kinds = "/".join(a.get("btf_kinds", []))
        parts.append(f"{a['btf_types']} type{'s' if a['btf_types'] != 1 else ''} ({kinds})")
    if a.get("btf_log_level"):
        parts.append(f"log level {a['btf_log_level']}")
    return _join(parts)


def _map_create(c) -> str:
    a = c.args
    name = a.get("map_name") or "(no name)"
    parts = [f"{name}: {a.get('map_type', '?')}", f"key {a.get('key_size', '?')}",
             f"value {a.get('value_size', '?')}", f"max_entries {a.get('max_entries', '?')}"]
    if a.get("map_flags"):
        parts.append("flags " + "|".join(a.get("map_flags_names", [])))
    btf = next((r for r in c.refs if r.field == "btf_fd"), None)
    if btf is not None:
        ids = [f"{k.replace('_', ' ')} type {a[f'btf_{k}_type_id']}" for k in ("key", "value", "vmlinux_value")
               if a.get(f"btf_{k}_type_id")]
        parts.append(f"BTF fd {btf.fd}" + (f": {', '.join(ids)}" if ids else ""))
    inner = _ref(c, "inner_map_fd")
    if inner:
        parts.append(f"inner map {inner}")
    if a.get("map_extra"):
        parts.append(f"map_extra {a['map_extra']:#x}")
    return _join(parts)


def _prog_load(c) -> str:
    a = c.args
    name = a.get("prog_name") or "(no name)"
    parts = [f"{name}: {a.get('prog_type', '?')}"]
    if a.get("expected_attach_type") and a["expected_attach_type"] != "cgroup_inet_ingress":
        parts.append(f"expected attach {a['expected_attach_type']}")
    parts.append(f"{a.get('insn_cnt', '?')} insns")
    if a.get("license") is not None:
        parts.append(f'license "{a["license"]}"')
    if a.get("prog_flags"):
        parts.append("flags " + "|".join(a.get("prog_flags_names", [])))
    if a.get("attach_btf_id"):
        parts.append(f"attach btf id {a['attach_btf_id']}")
    target = _ref(c, "attach_prog_fd")
    if target:
        parts.append(f"attach to {target}")
    btf = next((r for r in c.refs if r.field == "prog_btf_fd"), None)
    if btf is not None:
        parts.append(f"BTF fd {btf.fd}")
    maps = [f"fd {r.fd} {r.object.name}" if r.object is not None and r.object.kind == "map" else fd_text(r.fd, r.object)
            for r in sorted(c.refs, key=lambda r: r.fd) if r.field in ("insns", "fd_array")]
    if maps:
        parts.append("maps " + ", ".join(maps))
    btfs = [fd_text(r.fd, r.object) for r in c.refs if r.field in ("kfunc_btf", "ksym_btf")]
    if btfs:
        parts.append("module btf " + ", ".join(btfs))
    if a.get("log_level"):
        parts.append(f"log level {a['log_level']}")
    return _join(parts)


def _elem(c) -> str:
    a = c.args
    parts = [_ref(c, "map_fd")]
    if "key" in a:
        parts.append(f"key {_hexval(a['key'])}")
    if "value" in a:
        parts.append(f"value {_hexval(a['value'])}")
    if c.cmd == "BPF_MAP_UPDATE_ELEM" and a.get("flags_names"):
        parts.append("|".join(a["flags_names"]))
    return _join(parts)


def _bind_map(c) -> str:
    return f"{_ref(c, 'prog_fd')} uses {_ref(c, 'map_fd')}"


def _link_create(c) -> str:
    a = c.args
    target = _ref(c, "target_fd")
    if target is None and "target_ifindex" in a:
        target = f"ifindex {a['target_ifindex']}"
    parts = [f"{_ref(c, 'prog_fd')} → {target or 'no target'}", f"attach {a.get('attach_type', '?')}"]
    if a.get("flags"):
        parts.append(f"flags {a['flags']:#x}")
    return _join(parts)


def _raw_tp(c) -> str:
    return f"{_ref(c, 'prog_fd')} → raw tracepoint {c.args.get('name') or '?'}"


def _generic(c) -> str:
    """Any other command: its numbers that are set and the fds it names."""
    shown = {r.field for r in c.refs}
    parts = [fd_text(r.fd, r.object) if r.field in ("bpf_fd", "map_fd", "prog_fd", "link_fd", "fd")
             else f"{r.field} {fd_text(r.fd, r.object)}" for r in c.refs]
    for k, v in c.args.items():
        if k in shown or k == "attr_size" or k.endswith("_names") or v in (0, "", None, []):
            continue
        parts.append(f"{k} {v}")
    return _join(parts)


def _perf_event_open(c) -> str:
    a = c.args
    what = c.object.name if c.object is not None else None
    if what is None:
        if a.get("type") == "tracepoint":
            what = f"tracepoint {a.get('tracepoint') or 'id ' + str(a.get('config', '?'))}"
        else:
            what = f"{a.get('type', '?')} {a.get('func') or a.get('path') or ''}".strip()
    if a.get("type") == "tracepoint" and "config" in a:
        what += f" (id {a['config']})"
    return _join([what, f"pid {a.get('pid')}", f"cpu {a.get('cpu')}"])


def _ioctl(c) -> str:
    text = _ref(c, "fd") or f"fd {c.args.get('fd')}"
    arg = _ref(c, "arg")
    if arg:
        text += f", {arg}"
    return text


def _mmap(c) -> str:
    a = c.args
    return _join([_ref(c, "fd"), f"{a['length']} bytes", "|".join(a.get("prot_names", [])) or "none",
                  "|".join(a.get("flags_names", []))])


def _munmap(c) -> str:
    a = c.args
    return f"{a['addr']:#x} ({a.get('map', '?')} memory), {a['length']} bytes"


_DETAILS = {
    "BPF_BTF_LOAD": _btf_load, "BPF_MAP_CREATE": _map_create, "BPF_PROG_LOAD": _prog_load,
    "BPF_MAP_LOOKUP_ELEM": _elem, "BPF_MAP_UPDATE_ELEM": _elem, "BPF_MAP_DELETE_ELEM": _elem,
    "BPF_MAP_GET_NEXT_KEY": _elem, "BPF_MAP_LOOKUP_AND_DELETE_ELEM": _elem, "BPF_MAP_FREEZE": _elem,
    "BPF_PROG_BIND_MAP": _bind_map, "BPF_LINK_CREATE": _link_create, "BPF_RAW_TRACEPOINT_OPEN": _raw_tp,
}
_SYSCALL_DETAILS = {"perf_event_open": _perf_event_open, "ioctl": _ioctl, "mmap": _mmap, "munmap": _munmap}


def call_name(c) -> str:
    if c.syscall == "bpf":
        return c.cmd
    if c.syscall == "ioctl":
        return f"ioctl {c.cmd}"
    return c.syscall


def details(c) -> str:
    if c.syscall == "bpf":
        return _DETAILS.get(c.cmd, _generic)(c)
    if c.syscall == "close":
        return _ref(c, "fd") or ""
    return _SYSCALL_DETAILS[c.syscall](c)


def result(c) -> str:
    if c.ret is None:
        return "no result recorded"
    if c.errno is not None:
        return c.errno
    if c.object is not None:
        return f"fd {c.fd} = {c.object.label}"
    if c.syscall == "mmap":
        return f"{c.ret & 0xFFFFFFFFFFFFFFFF:#x}"
    return "ok" if c.ret == 0 else str(c.ret)


# ---------------------------------------------------------------- the timeline

def _fold(seqs: list[int]) -> str:
    return f"{seqs[0]}" if len(seqs) == 1 else f"{seqs[0]}-{seqs[-1]}"


def _probe_row(run: list) -> list[str]:
    counts = Counter(call_name(c) for c in run if c.syscall != "close")
    what = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in counts.items())
    closes = sum(1 for c in run if c.syscall == "close")
    if closes:
        what += f", close ×{closes}" if closes > 1 else ", close"
    return [_fold([c.seq for c in run]), "feature probes", what, f"{len(run)} calls"]


def _close_row(run: list) -> list[str]:
    return [_fold([c.seq for c in run]), "close", ", ".join(details(c) for c in run),
            "ok" if all(c.ok for c in run) else ", ".join(result(c) for c in run)]


def timeline(trace, *, show_probes: bool = False) -> Table:
    table = Table(["#", "CALL", "WHAT", "RESULT"], title="system calls", right=frozenset({"#"}),
                  nowrap=frozenset({"CALL"}), records_when_wide=False)
    calls = trace.calls
    i = 0
    while i < len(calls):
        c = calls[i]
        if c.probe and not show_probes:
            j = i
            while j < len(calls) and calls[j].probe:
                j += 1
            table.rows.append(_probe_row(calls[i:j]))
            i = j
            continue
        if c.syscall == "close" and not c.probe:
            j, width = i, 0
            while j < len(calls) and calls[j].syscall == "close" and not calls[j].probe:
                width += len(details(calls[j])) + 2
                if j > i and width > CLOSE_ROW:
                    break
                j += 1
            table.rows.append(_close_row(calls[i:j]))
            i = j
            continue
        name = call_name(c) + (" (probe)" if c.probe else "")
        row = [str(c.seq), name, details(c), result(c)]
        if c.notes:
            row[2] += " [" + "; ".join(c.notes) + "]"
        table.rows.append(row)
        i += 1
    return table


def summary(trace, *, show_probes: bool = False) -> str:
    n = len(trace.calls)
    probes = trace.probes
    text = f"{n} system call{'s' if n != 1 else ''} recorded"
    if probes:
        text += (f", {probes} of them libbpf's feature probes"
                 + ("" if show_probes else " (folded; --trace-syscalls=all lists them)"))
    if trace.lost:
        text += f"; {trace.lost} record{'s' if trace.lost != 1 else ''} lost (the recorder's ring buffer was full)"
    if trace.unusable:
        text += f"; {trace.unusable} record{'s' if trace.unusable != 1 else ''} could not be paired with a call"
    return text


def blocks(trace, *, show_probes: bool = False) -> list:
    out: list = [Text(summary(trace, show_probes=show_probes))]
    if trace.calls:
        out.append(timeline(trace, show_probes=show_probes))
    return out
