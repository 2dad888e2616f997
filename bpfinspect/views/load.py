"""Human and JSON renderings of the kernel's verdict on an object (``bpfinspect load``).

Takes the report built by the runtime (any object with the same attributes:
``programs``, ``maps``, ``object_name``...); it does not load anything itself.
"""

from __future__ import annotations

from bpfinspect.views.table import Fields, Table, Text

DEFAULT_TAIL = 20
_STATS_PREFIXES = ("processed ", "verification time ", "stack depth ")


def to_json(report) -> dict:
    return report.to_json()


def _num(v) -> str:
    return "-" if v is None else str(v)


def _verdict(p) -> str:
    if not p.selected:
        return "skipped"
    return "loaded" if p.loaded else "rejected"


def blocks(report, *, verbose: bool = False, tail: int = DEFAULT_TAIL) -> list:
    out: list = []
    selected = [p for p in report.programs if p.selected]
    n_ok = sum(1 for p in selected if p.loaded)
    summary = f"{n_ok}/{len(selected)} program(s) loaded"
    if report.strategy == "isolated":
        summary += " (the whole object was rejected; the programs were then loaded in halves, down to each rejected one alone)"
    out.append(Fields([("object", report.object_name), ("path", report.path or "-"),
                       ("libbpf", report.libbpf), ("verdict", summary)]))
    progs = Table(["PROGRAM", "VERDICT", "TYPE", "INSNS", "XLATED", "JITED", "VERIFIED", "ID", "SECTION"],
                  title="programs", right=frozenset({"INSNS", "XLATED", "JITED", "VERIFIED", "ID"}),
                  styles={"VERDICT": "bold"})
    for p in report.programs:
        progs.rows.append([p.name, _verdict(p), p.type, _num(p.insns), _num(p.insns_xlated),
                           "-" if p.insns_jited is None else f"{p.insns_jited}B", _num(p.verified_insns),
                           _num(p.id), p.section])
    out.append(progs)
    if any(p.stats for p in selected if p.loaded):
        out.append(Text("verifier statistics:\n" + "\n".join(
            f"  {p.name}: {p.stats}" for p in selected if p.loaded and p.stats)))
    if report.object_error:
        out.append(Text(f"object rejected: {report.object_error}", style="bold red"))
    for p in selected:
        if p.loaded:
            continue
        lines = [f"{p.name}: {p.error or 'rejected'}"]
        ex = p.explanation
        if ex is not None:
            lines.append(f"  why: {ex.explanation} [{ex.pattern}]")
            lines.append(f"  fix: {ex.fix}")
            if ex.source is not None:
                where = f"{ex.source['file']}:{ex.source['line']}"
                lines.append(f"  at:  {where}: {ex.source['text']}")
            if ex.insn is not None:
                lines.append(f"       (insn {ex.insn} of the loaded program"
                             + (f", in {ex.function})" if ex.function else ")"))
        if p.stats:
            lines.append(f"  {p.stats}")
        log_lines = (p.log or "").rstrip("\n").splitlines()
        if not verbose:
            # the statistics at the end are shown above; the tail should end at the reason
            while log_lines and log_lines[-1].startswith(_STATS_PREFIXES):
                log_lines.pop()
        if log_lines:
            if verbose or len(log_lines) <= tail:
                head = "verifier log:" if p.log and not p.log.startswith("libbpf") else "log:"
                shown = log_lines
            else:
                head = f"verifier log (last {tail} of {len(log_lines)} lines; -v for all):"
                shown = log_lines[-tail:]
            if p.log_truncated:
                head += " [the kernel kept only the end of a longer log]"
            lines.append("  " + head)
            lines.extend("    " + ln for ln in shown)
        out.append(Text("\n".join(lines), style="red"))
    if report.maps:
        maps = Table(["MAP", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "CREATED", "ID"], title="maps",
                     right=frozenset({"KEY", "VALUE", "MAX_ENTRIES", "ID"}))
        for m in report.maps:
            maps.rows.append([m.name, m.type, str(m.key_size), str(m.value_size), str(m.max_entries),
                              f"{m.map_flags:#x}", "yes" if m.created else "no", _num(m.id)])
        out.append(maps)
    if report.attach_requested:
        att = Table(["PROGRAM", "ATTACH", "DETAIL"], title="attach")
        for p in selected:
            a = p.attach
            if a is None:
                att.rows.append([p.name, "not loaded", ""])
            elif a.attached:
                how = f"link fd {a.link_fd}" if a.link_fd is not None and a.link_fd >= 0 else "tc filter"
                att.rows.append([p.name, "attached", f"{a.target} ({how})" if a.target else how])
            elif a.skipped:
                att.rows.append([p.name, "skipped", a.error or ""])
            else:
                att.rows.append([p.name, "failed", a.error or ""])
        out.append(att)
    if report.environment_problem:
        out.append(Text(f"environment: {report.environment_problem}", style="bold yellow"))
    kept = [p for p in report.pins if p.existed]
    ending = "everything was unloaded again"
    if report.pins and not kept:
        ending += f" (and the {_plural(len(report.pins), 'pin')} it made removed)"
    out.append(Text(ending, style="dim"))
    for p in kept:
        out.append(Text(f"kept: {p.path} (map {p.map}) was pinned before this run; libbpf reused that map, "
                        f"and the pin stays", style="dim"))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
