"""The kernel's verdict on every program of an object (the engine of ``bpfinspect load``).

libbpf loads an object as a whole: ``bpf_object__load`` creates the maps,
then loads programs one after another and stops at the first rejection
(unloading what it had loaded).  To give a verdict per program we proceed in
up to three steps:

1. Load the whole object once, every selected program with verifier log
   level 4 (statistics only: small, and enough for "processed N insns") into
   its own buffer.  If that succeeds, every program is accepted; the kernel's
   ``bpf_prog_info`` gives the instruction counts.
2. If it fails, find the rejected programs by bisection: open the object again
   with half of the selected programs' autoload on and load it; a half that
   loads is accepted as a whole (its programs get their numbers from that
   load), a half that fails is split again, down to single programs, which
   stand or fall by themselves.  One rejected program among N costs about
   2·log2(N) loads instead of N.  When the whole load failed on a map libbpf
   could not create, no program can load (libbpf creates every map first):
   that map's failure is the verdict, without re-loads.
3. For each program rejected in step 2, load it alone once more with log
   level 1|4 (the full verifier trace plus statistics) to show why.  The
   buffer grows if the log does not fit; since Linux 6.4 the kernel keeps the
   tail of an overflowing log, which is the part that explains a rejection.

A failure with an empty verifier log means libbpf gave up before the kernel
saw the program (a map it could not create, a CO-RE relocation, BTF): the
libbpf messages captured during that attempt become the reason.

Functions in ``.text`` are subprograms (libbpf's strict mode, as ``progs`` and bpftool read
them): an object whose only code is there has no programs, and loads its maps only.

Pins: maps pinned by name are pinned (or reused) by libbpf as they would be in
real use; every pin a load created is removed again when its object closes,
and a pin that existed before stays (the report lists both).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from bpfinspect.errors import EnvironmentProblem, UsageError
from bpfinspect.runtime._lib import (LibbpfError, NoBpfSyscall, NoPrivilege, describe_errno, has_bpf_privilege,
                                     journal, lib)
from bpfinspect.runtime.object import Object, tracefs_mounted, verifier_reason, verifier_stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.runtime.explain import Explanation

STATS_LOG_SIZE = 64 * 1024
FULL_LOG_SIZE = 4 << 20
MAX_FULL_LOG_SIZE = 256 << 20
LOG_LEVEL_STATS = 4
LOG_LEVEL_FULL = 1 | 4


@dataclass
class AttachResult:
    attached: bool
    skipped: bool = False
    error: str | None = None
    errno_name: str | None = None
    link_fd: int | None = None
    tracefs_missing: bool = False
    target: str | None = None     # as given with --attach PROG=TARGET or --iface (None: from the section)

    def to_json(self) -> dict:
        return {"attached": self.attached, "skipped": self.skipped, "error": self.error,
                "errno": self.errno_name, "target": self.target}


@dataclass
class ProgramVerdict:
    name: str
    section: str
    type: str
    selected: bool = True
    loaded: bool = False
    error: str | None = None
    errno_name: str | None = None
    reason: str | None = None
    insns: int | None = None          # instructions in the object (before libbpf's fixups)
    insns_xlated: int | None = None
    insns_jited: int | None = None    # size of the JIT image in bytes
    verified_insns: int | None = None
    stats: str = ""
    log: str = ""
    log_truncated: bool = False
    id: int | None = None
    tag: str | None = None
    isolated: bool = False            # verdict from loading this program alone
    attach: AttachResult | None = None
    explanation: "Explanation | None" = None   # a rejection classified (runtime.explain)

    def to_json(self) -> dict:
        d = {
            "name": self.name, "section": self.section, "type": self.type, "selected": self.selected,
            "loaded": self.loaded, "error": self.error, "errno": self.errno_name, "reason": self.reason,
            "insns": self.insns, "insns_xlated": self.insns_xlated, "insns_jited": self.insns_jited,
            "verified_insns": self.verified_insns, "stats": self.stats or None, "log": self.log,
            "log_truncated": self.log_truncated, "id": self.id, "tag": self.tag, "isolated": self.isolated,
            "explanation": self.explanation.to_json() if self.explanation is not None else None,
            "source": self.explanation.source if self.explanation is not None else None,
        }
        if self.attach is not None:
            d["attach"] = self.attach.to_json()
        return d


@dataclass
class MapResult:
    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    created: bool = False
    id: int | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "key_size": self.key_size, "value_size": self.value_size,
                "max_entries": self.max_entries, "map_flags": self.map_flags, "created": self.created,
                "id": self.id}


@dataclass
class LoadReport:
    object_name: str
    path: str | None
    libbpf: str
    programs: list[ProgramVerdict] = field(default_factory=list)
    maps: list[MapResult] = field(default_factory=list)
    strategy: str = "whole"          # "whole" or "isolated"
    object_error: str | None = None
    attach_requested: bool = False
    environment_problem: str | None = None
    pins: list = field(default_factory=list)   # runtime.object.Pin: maps pinned by name
    opened: bool = True              # False: libbpf never got the object (see failed_report)

    @property
    def all_loaded(self) -> bool:
        return self.opened and self.object_error is None and all(p.loaded for p in self.programs if p.selected)

    @property
    def attach_failed(self) -> bool:
        return any(p.attach is not None and not p.attach.attached and not p.attach.skipped
                   for p in self.programs)

    def exit_code(self) -> int:
        if self.environment_problem:
            return 3
        if not self.opened:
            return 1
        if not self.all_loaded or self.attach_failed:
            return 1
        return 0

    def to_json(self) -> dict:
        return {
            "schema": 1, "object": self.object_name, "path": self.path, "libbpf": self.libbpf,
            "strategy": self.strategy if self.opened else None, "loaded": self.all_loaded, "error": self.object_error,
            "environment_problem": self.environment_problem,
            "programs": [p.to_json() for p in self.programs], "maps": [m.to_json() for m in self.maps],
            "pins": [{"map": p.map, "path": p.path, "kept": p.existed} for p in self.pins],
        }


def failed_report(exc: BaseException, *, path: str | None, name: str) -> LoadReport:
    """The report of a run that never got to load: the environment stopped it (``exc`` an
    EnvironmentProblem: no libbpf, no privilege, no bpf()) or libbpf could not open the object."""
    try:
        version = lib().version_string()
    except EnvironmentProblem:
        version = None
    report = LoadReport(object_name=name, path=path, libbpf=version, opened=False)
    message = getattr(exc, "message", str(exc))
    if isinstance(exc, EnvironmentProblem):
        report.environment_problem = message
    else:
        report.object_error = message
    return report


def _raise_environment(exc: BaseException) -> None:
    if isinstance(exc, (NoPrivilege, NoBpfSyscall)):
        raise exc


def _open(source, name, selected: set[str] | None, level: int, size: int, btf_custom_path=None) -> Object:
    obj = Object.open(source, name=name, capture_logs=False, btf_custom_path=btf_custom_path, keep_pins=False)
    try:
        for prog in obj.programs.values():
            if selected is not None and prog.name not in selected:
                prog.autoload = False
            elif prog.autoload:
                prog.set_log(size, level)
    except BaseException:
        obj.close()
        raise
    return obj


def _fill_loaded(v: ProgramVerdict, prog) -> None:
    info = prog.info()
    v.loaded = True
    v.error = v.errno_name = v.reason = None
    v.insns_xlated = info["insns_xlated"]
    v.insns_jited = info["jited_bytes"]
    v.verified_insns = info["verified_insns"]
    v.id = info["id"]
    v.tag = info["tag"]
    log = prog.log
    v.stats = verifier_stats(log)
    v.log = log


def check_load(source, *, name: str | None = None, programs: list[str] | None = None, attach: bool = False,
               full_log: bool = False, btf_custom_path: str | None = None, targets: list[str] | None = None,
               iface: str | None = None) -> LoadReport:
    """Load ``source`` (bytes or path) and report the verdict per program; everything is unloaded after.

    With ``attach``, every loaded program is attached: where ``targets`` (``PROG=TARGET`` items, as
    ``run --attach`` takes them) or ``iface`` (XDP and tc programs) say, else from its section."""
    if targets or iface:
        attach = True
    L = lib()
    report = LoadReport(object_name="", path=None if isinstance(source, (bytes, bytearray)) else str(source),
                        libbpf=L.version_string(), attach_requested=attach)
    obj = _open(source, name, None, LOG_LEVEL_STATS, STATS_LOG_SIZE, btf_custom_path)
    try:
        report.object_name = obj.name
        if programs:
            unknown = [p for p in programs if p not in obj.programs]
            if unknown:
                from bpfinspect.suggest import did_you_mean

                raise UsageError(f"no program named {', '.join(repr(u) for u in unknown)} in {obj.name}"
                                 + (did_you_mean(unknown[0], list(obj.programs)) or
                                    f" (have: {', '.join(obj.programs) or 'none'})"))
        for prog in obj.programs.values():
            if prog.section == ".text":  # a subprogram, never a program of its own
                prog.autoload = False
        entries = {n: p for n, p in obj.programs.items() if p.section != ".text"}
        if programs:
            subs = [p for p in programs if p not in entries]
            if subs:
                raise UsageError(f"{', '.join(repr(s) for s in subs)} is a function of .text (a subprogram), "
                                 "not a program")
        selected = set(programs) if programs else {p.name for p in entries.values() if p.autoload}
        for prog in entries.values():
            v = ProgramVerdict(prog.name, prog.section, prog.type_name, selected=prog.name in selected,
                               insns=prog.insn_cnt if prog.insn_cnt >= 0 else None)
            report.programs.append(v)
            if not v.selected:
                v.error = "not selected" if programs else "autoload off (SEC(\"?...\"))"
                prog.autoload = False
            elif not prog.autoload:
                prog.autoload = True
                prog.set_log(STATS_LOG_SIZE, LOG_LEVEL_STATS)
        for mp in obj.maps.values():
            report.maps.append(MapResult(mp.name, mp.type_name, mp.key_size, mp.value_size, mp.max_entries,
                                         mp.map_flags))
        try:
            obj.load()
        except LibbpfError as exc:
            report.pins = list(obj.pins)
            _raise_environment(exc)
            first_error = exc
            map_failure = _map_failure(exc.libbpf_message)
            if map_failure is not None:  # every load would fail on it: that is the verdict
                report.object_error = map_failure
                for v in report.programs:
                    if v.selected:
                        v.errno_name = exc.errno_name
                        v.reason = map_failure
                        v.error = f"not loaded: {map_failure}"
                return report
        else:
            report.pins = list(obj.pins)
            first_error = None
            for v in report.programs:
                if v.selected:
                    _fill_loaded(v, obj.programs[v.name])
            _fill_maps(report, obj)
            if attach:
                _attach_all(report, obj, targets=targets, iface=iface)
            return report
    finally:
        obj.close()

    # Step 2 and 3: find the rejected programs by bisection, then explain each.
    report.strategy = "isolated"
    model: list = []          # the object model, made once if a rejection needs it
    state = {"maps": False}

    def try_group(group: list[ProgramVerdict]) -> None:
        try:
            with _open(source, name, {v.name for v in group}, LOG_LEVEL_STATS, STATS_LOG_SIZE,
                       btf_custom_path) as some:
                some.load()
                for v in group:
                    _fill_loaded(v, some.programs[v.name])
                if not state["maps"]:
                    _fill_maps(report, some)
                    state["maps"] = True
                if attach:
                    _attach_all(report, some, only={v.name for v in group}, targets=targets, iface=iface)
                return
        except LibbpfError as exc:
            _raise_environment(exc)
            if len(group) == 1:
                v = group[0]
                v.errno_name = exc.errno_name
                v.error = exc.message
                _explain(v, source, name, full_log, btf_custom_path)
                if v.log and v.reason and not v.loaded:
                    v.explanation = _classify(v, source, model)
                return
        half = len(group) // 2
        try_group(group[:half])
        try_group(group[half:])

    chosen = [v for v in report.programs if v.selected]
    for v in chosen:
        v.isolated = True
    if len(chosen) > 1:  # the whole selection failed already: start with its halves
        half = len(chosen) // 2
        try_group(chosen[:half])
        try_group(chosen[half:])
    elif chosen:
        try_group(chosen)
    if not any(v.loaded for v in report.programs if v.selected) and \
            all(not v.log for v in report.programs if v.selected):
        report.object_error = first_error.message if first_error is not None else "load failed"
    return report


def _explain(v: ProgramVerdict, source, name, full_log: bool, btf_custom_path) -> None:
    """Load the rejected program alone with the full verifier log."""
    size = FULL_LOG_SIZE
    while True:
        mark = journal.mark()
        try:
            with _open(source, name, {v.name}, LOG_LEVEL_FULL, size, btf_custom_path) as one:
                one.load()
                # Accepted with the full log: the rejection came from the other settings (rare).
                _fill_loaded(v, one.programs[v.name])
                return
        except LibbpfError as exc:
            _raise_environment(exc)
            log = exc.log
            if exc.errno == errno.ENOSPC and full_log and size < MAX_FULL_LOG_SIZE:
                size *= 4
                continue
            v.log_truncated = exc.errno == errno.ENOSPC
            v.log = log
            v.stats = verifier_stats(log)
            if v.errno_name is None or v.errno_name == "ENOSPC":
                v.errno_name = exc.errno_name
            if log and verifier_reason(log):
                v.reason = verifier_reason(log)
                v.error = f"rejected by the verifier ({v.errno_name}): {v.reason}"
            elif log:
                v.reason = (f"the kernel refused it ({describe_errno(exc.errno)}) and its log gives no reason "
                            f"beyond the statistics")
                v.error = f"rejected by the kernel ({v.errno_name}): {v.reason}"
            else:
                msg = journal.text_since(mark)
                v.log = msg
                if f"prog '{v.name}': BPF program load failed" in msg:
                    v.reason = f"the kernel refused it without a verifier log: {describe_errno(exc.errno)}"
                    if exc.errno == errno.EPERM and has_bpf_privilege():
                        v.reason += (" although this process has CAP_BPF/CAP_SYS_ADMIN (lockdown, an LSM, or a "
                                     "kernel that does not allow this program type or attach target)")
                    v.error = f"rejected by the kernel ({v.errno_name}): {v.reason}"
                else:
                    v.reason = _libbpf_reason(msg) or exc.message
                    v.error = f"libbpf failed before the kernel saw the program ({v.errno_name}): {v.reason}"
            return


def _classify(v: ProgramVerdict, source, model: list):
    """The rejection's pattern, explanation, fix and source line (None: not a known pattern)."""
    from bpfinspect.errors import BpfInspectError
    from bpfinspect.runtime.explain import explain

    if not model:
        from bpfinspect.obj import from_bytes, open_object
        try:
            model.append(from_bytes(bytes(source)) if isinstance(source, (bytes, bytearray))
                         else open_object(source))
        except BpfInspectError:        # libbpf took it, our model does not: the log alone
            model.append(None)
    obj = model[0]
    if obj is not None:
        try:
            return explain(v.log, v.reason, license=obj.license, obj=obj, program=v.name)
        except BpfInspectError:
            pass
    return explain(v.log, v.reason)


def _map_failure(text: str) -> str | None:
    """libbpf's line for a map it could not create (``map 'start': failed to create: ...``)."""
    import re

    m = re.search(r"map '[^'\n]*': failed to create[^\n]*", text or "")
    return m.group(0).strip()[:300] if m else None


def _libbpf_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln[len("libbpf: "):] if ln.startswith("libbpf: ") else ln for ln in lines]
    failure = _map_failure(text)
    if failure:
        return failure
    lines = [ln for ln in lines if "Retrying" not in ln]  # a notice of libbpf's next try, not the reason
    for ln in lines:
        if "failed" in ln or "error" in ln.lower() or "unsupported" in ln:
            return ln
    return lines[-1] if lines else ""


def _fill_maps(report: LoadReport, obj: Object) -> None:
    by_name = {m.name: m for m in report.maps}
    for mp in obj.maps.values():
        r = by_name.get(mp.name)
        if r is None or mp.fd < 0:
            continue
        try:
            info = mp.info()
        except LibbpfError:
            continue
        r.created = True
        r.id = info["id"]
        r.max_entries = info["max_entries"]
        r.map_flags = info["map_flags"]


def _attach_targeted(v: "ProgramVerdict", prog, targets: list, report: LoadReport) -> None:
    from bpfinspect.errors import BpfInspectError
    from bpfinspect.runtime.targets import attach_target
    for t in targets:
        try:
            link = attach_target(prog, t)
        except BpfInspectError as exc:
            v.attach = AttachResult(False, error=exc.one_line(), errno_name=getattr(exc, "errno_name", None) or None,
                                    target=t.text)
            if isinstance(exc, EnvironmentProblem):
                report.environment_problem = exc.message
            return
        v.attach = AttachResult(True, link_fd=link.fd, target=t.text)


def _attach_all(report: LoadReport, obj: Object, only: set[str] | None = None, targets=None,
                iface: str | None = None) -> None:
    from bpfinspect.runtime.targets import PROG_SCHED_CLS, PROG_XDP, parse_target, parse_targets
    given = parse_targets(obj.programs, targets)
    for v in report.programs:
        if not v.loaded or (only is not None and v.name not in only):
            continue
        prog = obj.programs[v.name]
        if v.name in given:
            _attach_targeted(v, prog, given[v.name], report)
            continue
        if iface and prog.type in (PROG_XDP, PROG_SCHED_CLS):
            _attach_targeted(v, prog, [parse_target(v.name, iface, prog.type, prog.section)], report)
            continue
        try:
            link = prog.attach()
            v.attach = AttachResult(True, link_fd=link.fd)
        except LibbpfError as exc:
            if getattr(exc, "not_auto_attachable", False):
                v.attach = AttachResult(False, skipped=True,
                                        error=f"SEC(\"{v.section}\") names no attach target",
                                        errno_name=exc.errno_name)
            else:
                v.attach = AttachResult(False, error=exc.message, errno_name=exc.errno_name)
        except EnvironmentProblem as exc:
            v.attach = AttachResult(False, error=exc.message, errno_name=getattr(exc, "errno_name", None),
                                    tracefs_missing=bool(getattr(exc, "tracefs_missing", False)))
            report.environment_problem = exc.message
