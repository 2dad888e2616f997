"""What a probe line is: the kernel's limits, registers and types, and the checked line.

:class:`ProbeLine` is a line :mod:`bpfinspect.probes.lines` accepted, with the
kernel's defaults filled in and written back as the kernel lists it
(:attr:`ProbeLine.normalised`); :class:`Arg` one of its fetch arguments;
:class:`LineError` the refusal, at the column the kernel's ``error_log``
marks.  The limits are the kernel's (``trace_probe.h``, kernel 6.18).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from bpfinspect.errors import UsageError

MAX_EVENT_NAME_LEN = 64
MAX_ARG_NAME_LEN = 32
MAX_ARGSTR_LEN = 63
MAX_ARRAY_LEN = 64
MAX_TRACE_ARGS = 128
MAX_FETCH_OPS = 15
KRETPROBE_MAXACTIVE_MAX = 4096
RESERVED_ARG_NAMES = ("common_type", "common_flags", "common_preempt_count", "common_pid", "common_tgid",
                      "__probe_ip", "__probe_ret_ip", "__probe_func")

# registers the kernel's probe events read (regs_query_register_offset), per machine
_X86_64_REGS = frozenset("ax bx cx dx si di bp sp r8 r9 r10 r11 r12 r13 r14 r15 ip flags cs ss orig_ax".split())
REGISTERS = {
    "x86_64": _X86_64_REGS,
    "i386": frozenset("ax bx cx dx si di bp sp ip flags cs ss ds es fs gs orig_ax".split()),
    "aarch64": frozenset([f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]),
    "riscv": frozenset("epc ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 "
                       "s11 t3 t4 t5 t6 status badaddr cause orig_a0".split()),
    "s390x": frozenset(f"r{i}" for i in range(16)),
}
BASIC_TYPES = {f"{k}{n}": n // 8 for k in "usx" for n in (8, 16, 32, 64)}
USER_TYPES = frozenset(BASIC_TYPES) | {"string", "ustring", "char"}
KERNEL_TYPES = USER_TYPES | {"symbol", "symstr", "%pd", "%pD"}
STRING_TYPES = frozenset({"string", "ustring", "symstr"})


class LineError(UsageError):
    """An invalid probe line: ``column`` (0-based index into ``line``) and the kernel's ``reason``.

    ``kernel_column`` is where the kernel's error_log puts its caret (in the line with its words joined
    by single spaces, as the kernel prints it): the same place, except after a user-memory dereference
    ``+u...(`` (one column short) and for a bitfield inside dereferences (moved right by their prefixes).
    """

    def __init__(self, line: str, column: int, reason: str, kernel_column: int | None = None) -> None:
        self.line = line
        self.column = max(0, min(column, len(line)))
        self.reason = reason
        self.kernel_column = self.column if kernel_column is None else kernel_column
        super().__init__(f"column {self.column + 1}: {reason}")

    def caret(self) -> str:
        """The line and a caret under the column (tabs kept so the caret lines up)."""
        pad = "".join(c if c == "\t" else " " for c in self.line[:self.column])
        return f"{self.line}\n{pad}^"


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    name_given: bool
    body: str               # what follows NAME= (the kernel lists it as written)
    fetch: str              # the fetch part, before ':'
    type: str | None        # after the first ':'
    base: str               # reg, stack, stackp, retval, comm, arg, mem, foffs, ksym, imm, data, btf
    derefs: int
    column: int


@dataclass(frozen=True, slots=True)
class ProbeLine:
    """A checked probe line.  ``kind``: ``uprobe``, ``kprobe`` or ``remove``."""
    text: str
    kind: str
    is_return: bool = False
    group: str | None = None
    event: str | None = None
    maxactive: int | None = None
    path: str | None = None
    offset: int | None = None
    function: str | None = None       # PATH:FUNC[+OFF] as written (resolved into offset)
    function_offset: int = 0
    ref_ctr_offset: int | None = None
    module: str | None = None
    symbol: str | None = None
    address: int | None = None
    args: tuple[Arg, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def default_group(self) -> str:
        return "uprobes" if self.kind == "uprobe" else "kprobes"

    @property
    def event_name(self) -> str:
        """The event the kernel creates (the given name or the one it makes up)."""
        if self.event:
            return self.event
        if self.kind == "uprobe":
            tail = os.path.basename(self.path or "")
            tail = re.split(r"[.\-_]", tail, maxsplit=1)[0]
            return f"p_{tail}_{self.offset:#x}"[:MAX_EVENT_NAME_LEN - 1]
        if self.symbol is not None:
            sym = f"{self.module}:{self.symbol}" if self.module else self.symbol
            name = f"{'r' if self.is_return else 'p'}_{sym}_{self.offset or 0}"
        else:
            name = f"{'r' if self.is_return else 'p'}_0x{self.address:x}"
        return re.sub(r"[^A-Za-z0-9_]", "_", name)[:MAX_EVENT_NAME_LEN - 1]

    @property
    def group_name(self) -> str:
        return self.group or self.default_group

    @property
    def normalised(self) -> str:
        """The line as the kernel lists it in uprobe_events / kprobe_events."""
        if self.kind == "remove":
            return f"-:{self.group + '/' if self.group else ''}{self.event or ''}"
        head = f"{'r' if self.is_return else 'p'}"
        if self.kind == "kprobe" and self.is_return and self.maxactive:
            head += str(self.maxactive)
        head += f":{self.group_name}/{self.event_name}"
        if self.kind == "uprobe":
            place = f"{self.path}:0x{self.offset:016x}"
            if self.ref_ctr_offset:
                place += f"({self.ref_ctr_offset:#x})"
        elif self.symbol is not None:
            sym = f"{self.module}:{self.symbol}" if self.module else self.symbol
            place = f"{sym}+{self.offset}" if self.offset else sym
        else:
            place = f"0x{self.address:x}"
        return " ".join([head, place] + [f"{a.name}={a.body}" for a in self.args])
