"""Attach targets of a BPF object's programs, checked on this machine without loading anything.

What each section name asks for and where it is looked up:

=====================================  ===============================================================
``kprobe/F``, ``kretprobe/F``          F in /proc/kallsyms; the kernel has kprobes (the ``kprobe`` PMU
                                       or ``kprobe_events``)
``ksyscall/S``, ``kretsyscall/S``      the syscall's entry (``__x64_sys_S`` on x86-64, ``sys_S``) in kallsyms
``kprobe.multi/G``                     a function matching G in tracefs's ``available_filter_functions``
                                       (multi-kprobes go through ftrace), kallsyms where that is unreadable
``uprobe/P:F[+O]``, ``uretprobe``...   P found as libbpf finds it, F resolved as libbpf resolves it
                                       (:func:`bpfinspect.probes.uprobe.resolve_uprobe`), or O inside P;
                                       the kernel has uprobes (the ``uprobe`` PMU)
``uprobe.multi/P:G``                   a function of P matching G
``usdt/P:PROV:NAME``                   a USDT note PROV:NAME in P
``tracepoint/C/N``, ``tp/C/N``         ``events/C/N`` in tracefs
``raw_tp/N``, ``raw_tracepoint/N``,    ``btf_trace_N`` in /sys/kernel/btf/vmlinux (every tracepoint
``tp_btf/N``                           of the kernel has one)
``fentry/F``, ``fexit/F``, ``fmod_ret``  the function F in vmlinux BTF (``MOD:F``: in /sys/kernel/btf/MOD)
``lsm/H``, ``lsm.s/H``                 ``bpf_lsm_H`` in vmlinux BTF
``iter/N``                             ``bpf_iter_N`` in vmlinux BTF
=====================================  ===============================================================

Every program also gets: an unknown section name, a target libbpf cannot read, and a section the
installed libbpf does not know yet.  Other programs (xdp, tc, socket, ...) attach to what their
loader gives them: nothing to look up.

API::

    check_target(program, machine=None) -> list[Problem]      # a Program of bpfinspect.obj
    check_object(obj, machine=None) -> list[ProgramCheck]
    uprobe_target(spec) -> UprobeTarget | None                # binary, function, resolved offset

``Machine`` reads what the checks need once, when first needed (kallsyms, vmlinux BTF, tracefs).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from dataclasses import dataclass, field

from bpfinspect.errors import BpfInspectError

KALLSYMS = "/proc/kallsyms"
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
PMU_DIR = "/sys/bus/event_source/devices"
SYSCALL_PREFIX = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
                  "riscv64": "__riscv_sys_", "ppc64le": "sys_", "i686": "__ia32_sys_"}


@dataclass(frozen=True, slots=True)
class Problem:
    problem: str     # unknown_section, bad_target, old_libbpf, not_found, no_support, unreadable
    message: str


@dataclass(frozen=True, slots=True)
class UprobeTarget:
    """Where a uprobe program's section name attaches: ``path`` (as found) and ``offset``, or ``error``."""
    binary: str
    path: str | None
    function: str | None
    function_offset: int
    offset: int | None
    retprobe: bool
    error: str | None


@dataclass
class ProgramCheck:
    name: str
    section: str
    kind: str | None              # the section's prefix (kprobe, uprobe, tracepoint...), None: nothing to check
    target: str | None
    checked: list[str] = field(default_factory=list)   # what was looked up, and where
    problems: list[Problem] = field(default_factory=list)
    uprobe: UprobeTarget | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class Machine:
    """What this machine offers, read lazily (paths can be changed for tests)."""

    def __init__(self, *, kallsyms: str = KALLSYMS, vmlinux: str = VMLINUX_BTF, pmu_dir: str = PMU_DIR,
                 tracefs: str | None = None) -> None:
        self.kallsyms_path = kallsyms
        self.vmlinux_path = vmlinux
        self.pmu_dir = pmu_dir
        self._tracefs = tracefs
        self.machine = os.uname().machine

    @functools.cached_property
    def tracefs(self) -> str | None:
        if self._tracefs is not None:
            return self._tracefs
        from bpfinspect.probes.tracefs import find_tracefs
        try:
            return find_tracefs()
        except BpfInspectError:
            return None

    @functools.cached_property
    def kallsyms(self) -> frozenset[str] | None:
        names = set()
        try:
            with open(self.kallsyms_path, encoding="utf-8", errors="replace") as f:
                for row in f:
                    parts = row.split()
                    if len(parts) >= 3:
                        names.add(parts[2])
        except OSError:
            return None
        return frozenset(names)

    @functools.cached_property
    def filter_functions(self) -> frozenset[str] | None:
        """Functions ftrace can trace (tracefs's available_filter_functions; None when unreadable)."""
        if self.tracefs is None:
            return None
        names = set()
        try:
            with open(os.path.join(self.tracefs, "available_filter_functions"), encoding="utf-8",
                      errors="replace") as f:
                for row in f:
                    if row.strip():
                        names.add(row.split()[0])
        except OSError:
            return None
        return frozenset(names)

    def pmu(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.pmu_dir, name, "type"))

    @functools.cached_property
    def has_kprobes(self) -> bool:
        return self.pmu("kprobe") or bool(self.tracefs and os.path.exists(os.path.join(self.tracefs,
                                                                                       "kprobe_events")))

    @functools.cached_property
    def _btf_cache(self) -> dict:
        return {}

    def btf_names(self, module: str | None = None) -> dict[str, set[str]] | None:
        """Kind name -> names of that kind in vmlinux BTF (or a module's split BTF); None when unreadable."""
        key = module or "vmlinux"
        cache = self._btf_cache
        if key not in cache:
            cache[key] = self._read_btf(module)
        return cache[key]

    def _read_btf(self, module: str | None) -> dict[str, set[str]] | None:
        from bpfinspect.btf import Kind, load_btf

        try:
            base = load_btf(self.vmlinux_path)
            btf = base if module is None else load_btf(os.path.join(os.path.dirname(self.vmlinux_path), module),
                                                       base=base)
        except (OSError, BpfInspectError):
            return None
        out: dict[str, set[str]] = {"func": set(), "typedef": set()}
        kinds = {Kind.FUNC: out["func"], Kind.TYPEDEF: out["typedef"]}
        for tid in btf.ids():
            bucket = kinds.get(btf.kind(tid))
            if bucket is not None:
                bucket.add(btf.name(tid))
        return out


def uprobe_target(spec) -> UprobeTarget | None:
    """For a uprobe/uretprobe section with a path: the binary as libbpf finds it, the function and the
    offset libbpf attaches to (or why it cannot)."""
    if spec is None or not spec.pattern or not spec.pattern.startswith(("uprobe", "uretprobe")) \
            or spec.pattern.startswith(("uprobe.multi", "uretprobe.multi")):
        return None
    binary = spec.part("path")
    if binary is None:
        return None
    retprobe = spec.pattern.startswith("uretprobe")
    function = spec.part("function")
    raw_off = spec.part("offset")
    try:
        extra = int(raw_off, 0) if raw_off else 0
    except ValueError:
        extra = 0
    from bpfinspect.probes.paths import resolve_binary
    from bpfinspect.probes.uprobe import resolve_uprobe

    try:
        where = resolve_binary(binary)
    except BpfInspectError as exc:
        return UprobeTarget(binary, None, function, extra, None, retprobe, exc.message)
    if retprobe and extra:
        return UprobeTarget(binary, where.path, function, extra, None, retprobe,
                            "libbpf takes no +offset for a uretprobe")
    if function is None:  # libbpf 1.1 reads an address here as a function name
        function, extra = raw_off, 0
    try:
        got = resolve_uprobe(where.path, function)
    except BpfInspectError as exc:
        why = exc.message
        if function == raw_off:
            why = f"libbpf reads {raw_off!r} as a function name (a section attaches by name only): {why}"
        return UprobeTarget(binary, where.path, function, extra, None, retprobe, why)
    return UprobeTarget(binary, where.path, function, extra, got.offset + extra, retprobe, None)


def check_object(obj, machine: Machine | None = None) -> list[ProgramCheck]:
    """Every program (not subprogram) of a BPF object, checked."""
    machine = machine or Machine()
    return [check_program(p, machine) for p in obj.programs if not p.is_subprog]


def check_target(program, machine: Machine | None = None) -> list[Problem]:
    """What keeps one program from attaching on this machine ([] when nothing does)."""
    return check_program(program, machine or Machine()).problems


def check_program(program, machine: Machine) -> ProgramCheck:
    spec = program.spec
    c = ProgramCheck(program.name, program.section, None, spec.target if spec else None)
    if spec is None or not spec.known:
        c.problems.append(Problem("unknown_section", f"libbpf does not know the section name {program.section!r}: "
                                  "it cannot load or attach this program by its name"))
        return c
    if spec.error:
        c.problems.append(Problem("bad_target", spec.error))
        return c
    if not spec.supported_by_installed:
        from bpfinspect.sections.spec import INSTALLED_LIBBPF
        since = f" (it is read since libbpf {spec.libbpf_since})" if spec.libbpf_since else ""
        c.problems.append(Problem("old_libbpf", f"the installed libbpf {INSTALLED_LIBBPF} does not know "
                                  f"{program.section!r}{since}"))
    kind = spec.pattern.rstrip("+/") if spec.pattern else None
    if kind and kind.endswith(".s"):  # sleepable variants
        kind = kind[:-2]
    kind = {"kretprobe": "kprobe", "uretprobe": "uprobe", "kretsyscall": "ksyscall", "tp": "tracepoint",
            "raw_tracepoint": "raw_tp", "raw_tracepoint.w": "raw_tp", "raw_tp.w": "raw_tp", "fexit": "fentry",
            "fmod_ret": "fentry", "kretprobe.multi": "kprobe.multi", "uretprobe.multi": "uprobe.multi",
            "lsm_cgroup": "lsm", "kprobe.session": "kprobe.multi", "uprobe.session": "uprobe.multi"}.get(kind, kind)
    checker = _CHECKS.get(kind)
    if checker is None:
        return c
    c.kind = kind
    if not spec.parts:
        c.checked.append("no target in the section name: the loader gives one when it attaches")
        return c
    checker(c, spec, machine)
    return c


def _not_found(c: ProgramCheck, what: str, where: str) -> None:
    c.problems.append(Problem("not_found", f"{what} is not in {where}"))


def _in_kallsyms(c: ProgramCheck, machine: Machine, names: list[str], what: str) -> bool:
    syms = machine.kallsyms
    if syms is None:
        c.problems.append(Problem("unreadable", f"{KALLSYMS} cannot be read: {what} not checked"))
        return False
    c.checked.append(f"{what} in {KALLSYMS}")
    if not any(n in syms for n in names):
        _not_found(c, " or ".join(names), KALLSYMS)
        return False
    return True


def _kernel_has_kprobes(c: ProgramCheck, machine: Machine) -> None:
    if not machine.has_kprobes:
        c.problems.append(Problem("no_support", "this kernel has no kprobes (no kprobe PMU in "
                                  f"{PMU_DIR}, no kprobe_events: CONFIG_KPROBES is off)"))


def _check_kprobe(c, spec, machine) -> None:
    func = spec.part("function")
    _in_kallsyms(c, machine, [func], f"function {func}")
    _kernel_has_kprobes(c, machine)


def _check_ksyscall(c, spec, machine) -> None:
    name = spec.part("syscall")
    prefix = SYSCALL_PREFIX.get(machine.machine, "sys_")
    _in_kallsyms(c, machine, [prefix + name, "sys_" + name], f"system call {name}")
    _kernel_has_kprobes(c, machine)


def _check_kprobe_multi(c, spec, machine) -> None:
    pattern = spec.part("glob")
    syms, where = machine.filter_functions, "available_filter_functions"
    if syms is None:
        syms, where = machine.kallsyms, KALLSYMS
    if syms is None:
        c.problems.append(Problem("unreadable", f"{KALLSYMS} cannot be read: {pattern} not checked"))
        return
    c.checked.append(f"functions matching {pattern} in {where}")
    if not any(fnmatch.fnmatchcase(s, pattern) for s in syms):
        c.problems.append(Problem("not_found", f"no function matches {pattern!r} in {where}"))
    _kernel_has_kprobes(c, machine)


def _check_uprobe(c, spec, machine) -> None:
    t = uprobe_target(spec)
    c.uprobe = t
    if t is None:
        return
    c.checked.append(f"{t.function} in {t.path or t.binary}" + (f" (offset {t.offset:#x})" if t.offset is not None
                                                                  else ""))
    if t.error:
        c.problems.append(Problem("not_found", t.error))
    if not machine.pmu("uprobe"):
        c.problems.append(Problem("no_support", f"this kernel has no uprobes (no uprobe PMU in {PMU_DIR})"))


def _check_uprobe_multi(c, spec, machine) -> None:
    from bpfinspect.probes.paths import resolve_binary
    from bpfinspect.probes.uprobe import list_functions

    binary, pattern = spec.part("path"), spec.part("glob")
    try:
        listing = list_functions(resolve_binary(binary), [pattern])
    except BpfInspectError as exc:
        c.problems.append(Problem("not_found", exc.message))
        return
    c.checked.append(f"functions matching {pattern} in {listing.binary.path}")
    if not listing.functions:
        c.problems.append(Problem("not_found", f"no function matches {pattern!r} in {listing.binary.path}"))


def _check_usdt(c, spec, machine) -> None:
    from bpfinspect.probes.binary import open_binary
    from bpfinspect.probes.paths import resolve_binary
    from bpfinspect.probes.usdt import read_usdt_notes

    binary, provider, name = spec.part("path"), spec.part("provider"), spec.part("name")
    try:
        where = resolve_binary(binary)
        with open_binary(where.path) as b:
            notes = read_usdt_notes(b)
    except BpfInspectError as exc:
        c.problems.append(Problem("not_found", exc.message))
        return
    c.checked.append(f"USDT note {provider}:{name} in {where.path}")
    if not any(n.provider == provider and n.name == name for n in notes):
        c.problems.append(Problem("not_found", f"{where.path} has no USDT note {provider}:{name}"))
    if not machine.pmu("uprobe"):
        c.problems.append(Problem("no_support", f"this kernel has no uprobes (no uprobe PMU in {PMU_DIR})"))


def _check_tracepoint(c, spec, machine) -> None:
    cat, name = spec.part("category"), spec.part("name")
    if machine.tracefs is None:
        c.problems.append(Problem("no_support", "tracefs is not mounted: tracepoint not checked"))
        return
    where = os.path.join(machine.tracefs, "events", cat, name)
    c.checked.append(f"{where}")
    if os.sep in cat + name or {cat, name} & {".", ".."} or not os.path.isdir(where):
        _not_found(c, f"tracepoint {cat}/{name}", os.path.join(machine.tracefs, "events"))


def _check_raw_tp(c, spec, machine) -> None:
    name = spec.part("tracepoint")
    _btf_has(c, machine, "typedef", f"btf_trace_{name}", f"tracepoint {name}")


def _btf_has(c, machine, kind: str, name: str, what: str, module: str | None = None) -> None:
    names = machine.btf_names(module)
    where = os.path.join(os.path.dirname(machine.vmlinux_path), module) if module else machine.vmlinux_path
    if names is None:
        if module and not os.path.exists(where):
            c.problems.append(Problem("not_found", f"the module {module} is not loaded (no {where})"))
        else:
            c.problems.append(Problem("unreadable", f"{where} cannot be read: {what} not checked"))
        return
    c.checked.append(f"{what} in {where}")
    if name not in names[kind]:
        _not_found(c, f"{what} ({kind} {name})", where)


def _check_tp_btf(c, spec, machine) -> None:
    name = spec.part("tracepoint")
    _btf_has(c, machine, "typedef", f"btf_trace_{name}", f"tracepoint {name}")


def _check_fentry(c, spec, machine) -> None:
    func, module = spec.part("function"), spec.part("module")
    if module == "vmlinux":
        module = None
    if module is not None and not re.fullmatch(r"[A-Za-z0-9_\-]+", module):
        c.problems.append(Problem("not_found", f"{module!r} is not a kernel module name"))
        return
    _btf_has(c, machine, "func", func, f"function {func}", module)


def _check_lsm(c, spec, machine) -> None:
    hook = spec.part("hook")
    _btf_has(c, machine, "func", f"bpf_lsm_{hook}", f"LSM hook {hook}")


def _check_iter(c, spec, machine) -> None:
    name = spec.part("iter")
    _btf_has(c, machine, "func", f"bpf_iter_{name}", f"iterator {name}")


_CHECKS = {
    "kprobe": _check_kprobe, "ksyscall": _check_ksyscall, "kprobe.multi": _check_kprobe_multi,
    "uprobe": _check_uprobe, "uprobe.multi": _check_uprobe_multi, "usdt": _check_usdt,
    "tracepoint": _check_tracepoint, "raw_tp": _check_raw_tp, "tp_btf": _check_tp_btf,
    "fentry": _check_fentry, "lsm": _check_lsm, "iter": _check_iter,
}
