"""``PROG=TARGET`` attach targets, as ``run --attach`` and ``load --attach`` take them.

One parser (:func:`parse_targets`, :func:`parse_target`) and one dispatcher
(:func:`attach_target`) for both commands: uprobe ``BIN:FUNC[+OFF]`` or ``BIN:0xOFF`` (with
``pid=N``), uretprobe likewise, tracepoint ``CAT/NAME``, raw tracepoint ``NAME``, kprobe
``FUNC[+OFF]``, and an interface name for XDP and tc programs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.errors import UsageError

PROG_XDP, PROG_SCHED_CLS, PROG_KPROBE, PROG_TRACEPOINT = 6, 3, 2, 5
PROG_RAW_TP = {17, 24}

# ---------------------------------------------------------------- attach targets


@dataclass(frozen=True)
class Target:
    """Where ``--attach PROG=TARGET`` puts a program."""
    program: str
    kind: str                 # uprobe, kprobe, tracepoint, raw_tracepoint, xdp, tc
    text: str                 # as given
    binary: str | None = None
    func: str | None = None
    offset: int = 0
    pid: int = -1
    retprobe: bool = False
    ingress: bool = True
    ifname: str | None = None
    tracepoint: str | None = None


def split_attach(item: str) -> tuple[str, str]:
    prog, sep, target = item.partition("=")
    if not sep or not prog or not target:
        raise UsageError(f"--attach {item!r}: write PROG=TARGET (uprobe BIN:FUNC[+OFF] or BIN:0xOFF[,pid=N], "
                         "tracepoint CAT/NAME, raw tracepoint NAME, kprobe FUNC[+OFF], XDP/tc IFNAME)")
    return prog, target


def parse_targets(programs: dict, items) -> dict[str, list[Target]]:
    """``--attach PROG=TARGET`` items, for the runtime programs ``programs`` (by name): name -> targets."""
    out: dict = {}
    for item in items or ():
        prog_name, text = split_attach(item)
        prog = programs.get(prog_name)
        if prog is None:
            raise UsageError(f"--attach {item}: no program named {prog_name!r} "
                             f"(have: {', '.join(programs) or 'none'})")
        out.setdefault(prog_name, []).append(parse_target(prog_name, text, prog.type, prog.section))
    return out


_KIND_PREFIXES = {"uprobe": ("uprobe", False), "uretprobe": ("uprobe", True), "kprobe": ("kprobe", False),
                  "kretprobe": ("kprobe", True), "tp": ("tracepoint", False), "tracepoint": ("tracepoint", False),
                  "raw_tp": ("raw_tracepoint", False), "raw_tracepoint": ("raw_tracepoint", False)}


def parse_target(program: str, text: str, prog_type: int, section: str) -> Target:
    """The target ``text`` means for a program of libbpf type ``prog_type`` in ``section``."""
    body = text.strip()
    pid = -1
    for sep in (",pid=", " pid="):
        if sep in body:
            body, _, p = body.rpartition(sep)
            try:
                pid = int(p, 0)
            except ValueError:
                raise UsageError(f"--attach {program}={text}: pid {p!r} is not a number") from None
    kind = retprobe = None
    head, colon, rest = body.partition(":")
    if colon and head in _KIND_PREFIXES and rest:
        kind, retprobe = _KIND_PREFIXES[head]
        body = rest
    sec = section.split("/", 1)[0]
    if kind is None:
        if prog_type == PROG_XDP:
            kind = "xdp"
        elif prog_type == PROG_SCHED_CLS:
            kind = "tc"
        elif prog_type == PROG_TRACEPOINT:
            kind = "tracepoint"
        elif prog_type in PROG_RAW_TP:
            kind = "raw_tracepoint"
        elif prog_type == PROG_KPROBE:
            kind = "uprobe" if sec.startswith(("uprobe", "uretprobe")) or ":" in body else "kprobe"
            retprobe = sec.startswith(("uretprobe", "kretprobe"))
        else:
            raise UsageError(f"--attach {program}={text}: a program of section {section!r} cannot be given a "
                             "target (uprobe, kprobe, tracepoint, raw tracepoint, XDP and tc programs can)")
    retprobe = bool(retprobe)
    if kind == "uprobe":
        binary, c, spec = body.rpartition(":")
        if not c or not binary or not spec:
            raise UsageError(f"--attach {program}={text}: a uprobe target is BIN:FUNC[+OFF] or BIN:0xOFF")
        func, offset = _func_offset(program, text, spec)
        return Target(program, kind, text, binary=binary, func=func, offset=offset, pid=pid, retprobe=retprobe)
    if kind == "kprobe":
        func, offset = _func_offset(program, text, body)
        if func is None:
            raise UsageError(f"--attach {program}={text}: a kprobe target is FUNC[+OFF]")
        return Target(program, kind, text, func=func, offset=offset, retprobe=retprobe)
    if kind == "tracepoint":
        cat, s, name = body.partition("/")
        if not s or not cat or not name:
            raise UsageError(f"--attach {program}={text}: a tracepoint target is CATEGORY/NAME")
        return Target(program, kind, text, tracepoint=body)
    if kind == "raw_tracepoint":
        return Target(program, kind, text, tracepoint=body)
    ifname, c, where = body.partition(":")
    if kind == "tc" and c:
        if where not in ("ingress", "egress"):
            raise UsageError(f"--attach {program}={text}: a tc target is IFNAME, IFNAME:ingress or IFNAME:egress")
        return Target(program, kind, text, ifname=ifname, ingress=where == "ingress")
    return Target(program, kind, text, ifname=body)


def attach_target(prog, t: Target):
    """Attach ``prog`` where ``t`` says, through the runtime's attach API; the link."""
    if t.kind == "uprobe":
        return prog.attach_uprobe(t.binary, t.func, t.offset, t.pid, t.retprobe)
    if t.kind == "kprobe":
        return prog.attach_kprobe(t.func, t.offset, t.retprobe)
    if t.kind == "tracepoint":
        return prog.attach_tracepoint(t.tracepoint)
    if t.kind == "raw_tracepoint":
        return prog.attach_raw_tracepoint(t.tracepoint)
    if t.kind == "xdp":
        return prog.attach_xdp(t.ifname)
    return prog.attach_tc(t.ifname, t.ingress)


def _func_offset(program: str, text: str, spec: str) -> tuple[str | None, int]:
    """``FUNC``, ``FUNC+OFF`` or ``0xOFF`` (a file offset: no function)."""
    if spec[:1].isdigit():
        try:
            return None, int(spec, 0)
        except ValueError:
            raise UsageError(f"--attach {program}={text}: {spec!r} is not an offset") from None
    func, plus, off = spec.partition("+")
    if not func:
        raise UsageError(f"--attach {program}={text}: no function name")
    try:
        return func, int(off, 0) if plus else 0
    except ValueError:
        raise UsageError(f"--attach {program}={text}: {off!r} is not an offset") from None
