"""ftrace probe lines: the definitions written to ``uprobe_events`` and ``kprobe_events``.

A line is split into words at white space, as the kernel does; ``probe_line.lark``
gives each word its structure (one start rule per kind of word) and this module
checks every piece the way the kernel's parser does, in the kernel's order, and
reports the first problem with the kernel's own words and at the column the
kernel's ``error_log`` marks (kernel 6.18; tested against this machine's
``uprobe_events`` for uprobe lines).  What the kernel accepts but ignores (the
rest of ``pfoo``, the event name of ``r5:g/e`` in a uprobe line, text after the
last ``)`` of a dereference) is accepted with a warning.

Beyond the kernel: ``PATH:FUNC[+OFF]`` names a function instead of an offset; it
is resolved as libbpf resolves a function name (:mod:`bpfinspect.probes.uprobe`).

A valid line is given back normalised as the kernel lists it in
``uprobe_events`` (``p:GROUP/EVENT PATH:0x%016lx[(0xREF)] NAME=ARG...``, default
group, event and argument names filled in) and as a structure (:class:`ProbeLine`).

    from bpfinspect.probes.lines import parse_line, LineError
    parse_line("p:myprobe /bin/bash:readline %di").normalised
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass, field, replace

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


# ---------------------------------------------------------------- the grammar

@functools.lru_cache(maxsize=1)
def _parser():
    from bpfinspect.lalr import parser

    return parser(__file__, "probe_line.lark", start=["head", "remove", "uplace", "kplace", "fetch", "type"],
                  propagate_positions=True, maybe_placeholders=False)


class _Syntax(Exception):
    """Where lark stopped reading a piece (index into the piece) and what it met."""

    def __init__(self, pos: int, found: str) -> None:
        self.pos = pos
        self.found = found


def _parse(text: str, start: str):
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

    try:
        return _parser().parse(text, start=start)
    except UnexpectedCharacters as exc:
        raise _Syntax(exc.pos_in_stream, text[exc.pos_in_stream]) from None
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise _Syntax(len(text), "") from None
        raise _Syntax(exc.token.start_pos, str(exc.token)) from None
    except UnexpectedEOF:
        raise _Syntax(len(text), "") from None
    except UnexpectedInput as exc:  # the kinds above are all lark raises; keep a position anyway
        raise _Syntax(getattr(exc, "pos_in_stream", 0) or 0, "") from None


def _tokens(tree) -> dict:
    """Terminal name -> token of a parse tree without repeated terminals (head, places, type)."""
    from lark import Token

    return {t.type: t for t in tree.scan_values(lambda v: isinstance(v, Token))}


# ---------------------------------------------------------------- numbers as the kernel reads them

_UL = re.compile(r"\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")
_L = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


def _int(body: str) -> int:
    return int(body, 8) if len(body) > 1 and body[0] == "0" and body[1] not in "xX" else int(body, 0)


def kstrtoul(text: str, bits: int = 64) -> int | None:
    """The kernel's kstrtoul(s, 0): decimal, 0x hex or 0 octal, a leading '+' allowed; None where it fails."""
    if not _UL.match(text):
        return None
    v = _int(text.lstrip("+"))
    return v if v < (1 << bits) else None


def kstrtol(text: str) -> int | None:
    """The kernel's kstrtol(s, 0)."""
    if not _L.match(text):
        return None
    v = _int(text.lstrip("+-"))
    v = -v if text.startswith("-") else v
    return v if -(1 << 63) <= v < (1 << 63) else None


def _simple_strtoul(text: str) -> tuple[int, int]:
    """simple_strtoul(s, &end, 0): the value and how many characters it read."""
    m = re.match(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", text)
    return (_int(m.group(0)), len(m.group(0))) if m else (0, 0)


def good_name(name: str) -> bool:
    """An event or argument name: a C identifier."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def good_system_name(name: str) -> bool:
    """A group name: a C identifier that may also hold '-'."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name))


# ---------------------------------------------------------------- lines

_WORD = re.compile(r"\S+")


def parse_line(line: str, *, machine: str | None = None, resolve=None, check_files: bool = True) -> ProbeLine:
    """Check one probe line and return it with the kernel's defaults; LineError where the kernel says no.

    ``machine`` picks the register names (default: this machine's); ``resolve(path, func)`` turns
    ``PATH:FUNC`` into an offset (default: libbpf's rules, :func:`bpfinspect.probes.uprobe.resolve_uprobe`);
    ``check_files`` looks for a uprobe's file as the kernel does."""
    bad = next((i for i, c in enumerate(line) if c in "\n\r\0"), -1)
    if bad >= 0:
        raise LineError(line, bad, "a probe line is one line of text")
    hash_at = line.find("#")
    text = line if hash_at < 0 else line[:hash_at]  # the kernel drops everything from a '#'
    words = [(m.start(), m.group(0)) for m in _WORD.finditer(text)]
    if not words:
        raise LineError(line, 0, "empty line" if hash_at < 0 else "only a comment: nothing to define")
    head_col, head = words[0]
    if head[0] == "-":
        return _remove(line, words)
    if head[0] not in "pr":
        kind = {"e": "an event probe", "f": "an fprobe", "t": "a tracepoint probe"}.get(head[0])
        raise LineError(line, head_col, f"{kind} line (dynamic_events), not a uprobe or kprobe line" if kind
                        else "a probe line starts with p, r or -")
    boot = False
    if len(words) == 1 and "," in head:
        # kprobe_event= on the kernel command line: the same definition with ',' for each space
        boot = True
        words = [(m.start(), m.group(0)) for m in re.finditer(r"[^,\s]+", text)]
        head_col, head = words[0]
    if len(words) < 2:
        raise LineError(line, head_col + len(head), "the probe point is missing (PATH:OFFSET or SYMBOL)")
    machine = machine or os.uname().machine
    parsed = _parse_words(line, words, machine, resolve, check_files, boot)
    if hash_at >= 0:
        parsed = replace(parsed, warnings=parsed.warnings + (f"the kernel ignores {line[hash_at:]!r} (a comment)",))
    return parsed


def _parse_words(line, words, machine, resolve, check_files, boot) -> ProbeLine:
    if "/" in words[1][1]:
        if boot:
            raise LineError(line, words[1][0], "the kprobe_event= form (',' for spaces) is for kprobes only")
        return _UprobeParser(line, words, machine, resolve, check_files).parse()
    parsed = _KprobeParser(line, words, machine).parse()
    if boot:
        parsed = replace(parsed, warnings=parsed.warnings + ("read as a kprobe_event= boot parameter "
                                                             "(',' for each space)",))
    return parsed


def _remove(line: str, words) -> ProbeLine:
    col, word = words[0]
    try:
        spec = _tokens(_parse(word, "remove")).get("EVENT_SPEC")
    except _Syntax as s:
        raise LineError(line, col + s.pos, "a removal is -:[GROUP/]EVENT") from None
    if spec is None:
        raise LineError(line, col + len(word), "a removal names its event: -:[GROUP/]EVENT")
    group, event = _event_spec(line, col + spec.start_pos, str(spec))
    if event is None:
        raise LineError(line, col + len(word), "a removal names its event: -:[GROUP/]EVENT")
    if len(words) > 1:
        raise LineError(line, words[1][0], "a removal takes nothing after the event name")
    return ProbeLine(line, "remove", group=group, event=event)


def _event_spec(line: str, col: int, spec: str) -> tuple[str | None, str | None]:
    """[GROUP/ or GROUP.]EVENT as traceprobe_parse_event_name reads it (an empty event after a group
    means the kernel makes one up)."""
    slash = spec.find("/")
    if slash < 0:
        slash = spec.find(".")
    group, event = None, spec
    if slash >= 0:
        if slash == 0:
            raise LineError(line, col, "Group name is not specified")
        if slash + 1 > MAX_EVENT_NAME_LEN:
            raise LineError(line, col, "Group name is too long")
        group = spec[:slash]
        if not good_system_name(group):
            raise LineError(line, col, "Group name must follow the same rules as C identifiers")
        event, col = spec[slash + 1:], col + slash + 1
    if not event:
        if slash >= 0:
            return group, None
        raise LineError(line, col, "Event name is not specified")
    if len(event) >= MAX_EVENT_NAME_LEN:
        raise LineError(line, col, "Event name is too long")
    if not good_name(event):
        raise LineError(line, col, "Event name must follow the same rules as C identifiers")
    return group, event


class _ProbeParser:
    """What uprobe and kprobe lines share: the first word, the fetch arguments."""

    kind = "uprobe"

    def __init__(self, line: str, words, machine: str) -> None:
        self.line = line
        self.words = words
        self.machine = machine
        self.warnings: list[str] = []
        self.entry = False
        self.shift = 0    # how far the kernel's error column has moved through dereference prefixes
        self.kdelta = 0   # the kernel's column less ours, inside +u...( dereferences

    def fail(self, col: int, reason: str, kernel_col: int | None = None):
        raise LineError(self.line, col, reason, col + self.kdelta if kernel_col is None else kernel_col)

    def head(self) -> tuple[bool, str, int]:
        """(return probe, text between p/r and ':', column of the event spec or -1 for none)."""
        col, word = self.words[0]
        try:
            toks = _tokens(_parse(word, "head"))
        except _Syntax as s:
            self.fail(col + s.pos, "the first word is p[:[GROUP/][EVENT]] or r[:[GROUP/][EVENT]]")
        rest = str(toks["HEAD_REST"]) if "HEAD_REST" in toks else ""
        spec = toks.get("EVENT_SPEC")
        spec_col = col + spec.start_pos if spec is not None else (col + len(word) if ":" in word else -1)
        return str(toks["PROBE_TYPE"]) == "r", rest, spec_col

    def event(self, spec_col: int) -> tuple[str | None, str | None]:
        if spec_col < 0:
            return None, None
        col, word = self.words[0]
        return _event_spec(self.line, spec_col, word[spec_col - col:])

    def args(self, is_return: bool) -> tuple[Arg, ...]:
        out: list[Arg] = []
        used: set[str] = set(RESERVED_ARG_NAMES)
        if len(self.words) - 2 > MAX_TRACE_ARGS:
            self.fail(self.words[2 + MAX_TRACE_ARGS][0], "Too many arguments are specified")
        for i, (col, word) in enumerate(self.words[2:]):
            arg = self.arg(i, col, word, is_return, used)
            used.add(arg.name)
            out.append(arg)
        return tuple(out)

    # ---- one fetch argument, in the order of the kernel's traceprobe_parse_probe_arg

    def arg(self, index: int, col: int, word: str, is_return: bool, used: set[str]) -> Arg:
        eq = word.find("=")
        if eq >= 0:
            name, body, body_col = word[:eq], word[eq + 1:], col + eq + 1
            if not name:
                self.fail(col, "Argument name is not specified")
            if len(name) > MAX_ARG_NAME_LEN:
                self.fail(col, "Argument name is too long")
            if not good_name(name):
                self.fail(col, "Argument name must follow the same rules as C identifiers")
        else:
            name, body, body_col = f"arg{index + 1}", word, col
        if name in used:
            self.fail(col, "This argument name is already used")
        if len(body) > MAX_ARGSTR_LEN:
            self.fail(body_col, "Argument expression is too long")
        if not body:
            self.fail(body_col, "No argument expression")
        colon = body.find(":")
        fetch_text = body if colon < 0 else body[:colon]
        type_name, count = None, 0
        if colon >= 0:
            type_name, count = self.type(body[colon + 1:], body_col + colon + 1, fetch_text)
        if not fetch_text:
            self.fail(body_col, "Invalid fetch argument")
        self.shift = self.kdelta = 0
        try:
            tree = _parse(fetch_text, "fetch")
        except _Syntax:
            base, derefs = self.kernel_reading(fetch_text, body_col, is_return)
            self.warnings.append(f"{fetch_text!r} is outside the documented syntax; the kernel reads it as a "
                                 f"{'dereference of a ' * bool(derefs)}{_BASE_NAMES.get(base, base)}")
        else:
            base, derefs = self.fetch(tree, body_col, is_return)
        memory = derefs > 0 or base in ("comm", "data")
        type_col = body_col + colon + 1
        if (type_name in STRING_TYPES or count) and not memory:
            self.fail(type_col, "String accepts only memory argument")
        if type_name is not None and type_name.startswith("b"):
            self.bitfield(type_name, type_col)
        return Arg(name, eq >= 0, body, fetch_text, body[colon + 1:] if colon >= 0 else None, base, derefs, col)

    def type(self, text: str, col: int, fetch_text: str) -> tuple[str, int]:
        """TYPE: the array part, then the type itself (the kernel's order)."""
        try:
            toks = _tokens(_parse(text, "type"))
        except _Syntax as s:
            self.fail(col + s.pos, "Array is not closed" if s.pos == len(text) else "Array has wrong suffix")
        name = str(toks["TYPE_NAME"]) if "TYPE_NAME" in toks else ""
        count = 0
        if "[" in text:
            n = toks.get("ARRAY_LEN")
            lb = col + text.find("[") + 1
            count = kstrtoul(str(n), 32) if n is not None else None
            if not count:
                self.fail(lb, "Invalid array size")
            if count > MAX_ARRAY_LEN:
                self.fail(lb, "Array number is too big")
        if fetch_text in ("$comm", "$COMM") or fetch_text.startswith('\\"'):
            if count or name != "string":
                self.fail(col, "$comm and immediate-string only accepts string type")
        elif not self.known_type(name):
            self.fail(col, "Unknown type is specified")
        return name, count

    def known_type(self, t: str) -> bool:
        if t.startswith("b"):  # any b.../<8|16|32|64> is taken for a bitfield
            slash = t.find("/")
            return slash >= 0 and kstrtoul(t[slash + 1:]) in (8, 16, 32, 64)
        return t in (KERNEL_TYPES if self.kind == "kprobe" else USER_TYPES)

    def bitfield(self, t: str, col: int) -> None:
        """b<width>@<offset>/<container>: a width, an offset, both inside the container."""
        width, n = _simple_strtoul(t[1:])
        rest = t[1 + n:]
        off, m = _simple_strtoul(rest[1:]) if rest.startswith("@") else (0, 0)
        container = kstrtoul(t[t.find("/") + 1:]) or 0
        if width == 0 or m == 0 or not rest[1 + m:].startswith("/") or width + off > container:
            self.fail(col, "Invalid bitfield", col + self.shift)  # where the dereferences left the kernel

    def fetch(self, node, col: int, is_return: bool) -> tuple[str, int]:
        """A fetch tree: its base kind and how many dereferences wrap it."""
        if node.data != "deref":
            tok = node.children[0]
            return self.leaf(node.data, str(tok), col + tok.start_pos, is_return)
        tok = node.children[0]
        inner = next((c for c in node.children if hasattr(c, "data")), None)
        tail = next((t for t in node.children if getattr(t, "type", "") == "DEREF_TAIL"), None)
        if tail is not None:
            self.warnings.append(f"the kernel ignores {str(tail)!r} after the last ')' of a dereference")

        def read_inner(inner_col: int) -> tuple[str, int]:
            if inner is None:
                self.fail(inner_col, "Invalid fetch argument")
            return self.fetch(inner, col, is_return)

        return self.deref(str(tok), col + tok.start_pos, read_inner)

    def deref(self, prefix: str, col: int, read_inner) -> tuple[str, int]:
        """+|-[u]OFFS(...): the offset, then what is inside (``read_inner(column)``), then the kernel's
        limits on what may be dereferenced and how deep."""
        self.deref_offset(prefix, col)
        inner_col = col + len(prefix) + 1
        # the kernel moves its error column past "+OFFS(" as it reads it: it drops a 'u' and a leading
        # '+' without counting them, and counts the '+' back only when the offset does not start with '-'
        text = prefix[0] + prefix[2:] if prefix[1:2] == "u" else prefix
        text = text[1:] if text[0] == "+" else text
        advance = len(text) + 1 + (text[:1] != "-")
        short = len(prefix) + 1 - advance
        self.shift += advance
        self.kdelta -= short
        base, derefs = read_inner(inner_col)
        if base in ("comm", "data"):
            self.fail(inner_col, "$comm can not be dereferenced")
        if _BASE_OPS.get(base, 1) + derefs + 1 > MAX_FETCH_OPS:
            self.fail(inner_col, "Dereference is too much nested")
        self.kdelta += short
        return base, derefs + 1

    def kernel_reading(self, text: str, col: int, is_return: bool) -> tuple[str, int]:
        """A fetch the grammar does not read, read as the kernel reads it (a dereference runs from its first
        '(' to the last ')'): the kernel's complaint, or what it makes of the text."""
        c = text[0]
        if c not in "+-":
            kind = {"%": "reg", "$": "var", "@": "at", "\\": "imm_string" if text.startswith('\\"') else "imm"}
            return self.leaf(kind.get(c, "btf"), text, col, is_return)
        lp = text.find("(")
        if lp < 0:
            self.fail(col, "Dereference needs a brace")
        rp = text.rfind(")")

        def read_inner(inner_col: int) -> tuple[str, int]:
            if rp < lp:
                self.fail(col + len(text), "Dereference brace is not closed")
            if rp == lp + 1:
                self.fail(inner_col, "Invalid fetch argument")
            return self.kernel_reading(text[lp + 1:rp], inner_col, is_return)

        return self.deref(text[:lp], col, read_inner)

    def deref_offset(self, text: str, col: int) -> None:
        """+|-[u]OFFS of a dereference: after '+' the kernel reads a signed number, after '-' an unsigned one."""
        sign, body = text[0], text[1:]
        if body.startswith("u"):
            body = body[1:]
        ok = kstrtol(body) is not None if sign == "+" else body[:1] not in ("+", "-") and kstrtol("-" + body) is not None
        if not ok:
            self.fail(col, "Invalid dereference offset")

    def leaf(self, kind: str, text: str, col: int, is_return: bool) -> tuple[str, int]:
        if kind == "reg":
            if text[1:] not in REGISTERS.get(self.machine, ()):
                self.fail(col, "Invalid register name")
            return "reg", 0
        if kind == "var":
            return self.var(text[1:], col, is_return), 0
        if kind == "at":
            return self.at(text[1:], col)
        if kind == "imm_string":
            if len(text) < 3 or not text.endswith('"'):
                self.fail(col + len(text), "String is not closed with '\"'")
            return "data", 0
        if kind == "imm":
            imm = text[1:]
            if not ((imm[:1].isdigit() and kstrtoul(imm) is not None) or
                    (imm[:1] in ("+", "-") and kstrtol(imm) is not None)):
                self.fail(col + 1, "Invalid immediate value")
            return "imm", 0
        return self.btf(text, col), 0

    def var(self, v: str, col: int, is_return: bool) -> str:
        if v.startswith("retval"):  # the kernel reads only the prefix (the rest would be BTF fields of it)
            if not is_return:
                self.fail(col, "$retval is not available on probe")
            if v != "retval":
                self.warnings.append(f"the kernel reads '${v}' as '$retval'")
            return "retval"
        if v == "stack":
            return "stackp"
        if v.startswith("stack") and v[5:].isdigit() and v[5:].isascii():
            if self.kind == "kprobe" and int(v[5:]) > 2048:
                self.fail(col, "Invalid stack number")
            return "stack"
        if v in ("comm", "COMM"):
            return "comm"
        if v.startswith("arg") and v[3:].isascii() and v[3:].isdigit():
            if int(v[3:]) == 0:
                self.fail(col, "Invalid argument number")
            if not (self.kind == "kprobe" and self.entry):
                self.fail(col, "$arg* can be used only on function entry or exit")
            return "arg"
        self.fail(col, "Invalid $-variable specified")

    def at(self, rest: str, col: int) -> tuple[str, int]:
        if rest[:1].isdigit():
            if kstrtoul(rest) is None:
                self.fail(col, "Invalid memory address")
            return "mem", 1
        if rest.startswith("+"):
            if self.kind == "kprobe":
                self.fail(col, "File offset is not available with kprobe")
            if rest[1:2] == "+" or kstrtol(rest[1:]) is None:
                self.fail(col, "Invalid file offset value")
            return "foffs", 1
        if self.kind == "uprobe":
            self.fail(col, "Symbol is not available with uprobe")
        m = re.fullmatch(r"([^+\-]+)([+-].*)?", rest)
        if not m or (m.group(2) and kstrtol(m.group(2)) is None):
            self.fail(col, "Invalid memory address")
        return "ksym", 1

    def btf(self, text: str, col: int) -> str:
        """A name: a function parameter (or a field through it) the kernel looks up in BTF."""
        if not (text[0].isascii() and (text[0].isalpha() or text[0] in "_(")):  # '(': a type cast
            self.fail(col, "Invalid fetch argument")
        if self.kind == "uprobe":
            self.fail(col, "BTF is not available or not supported")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*((->|\.)[A-Za-z_][A-Za-z0-9_]*)*", text):
            self.fail(col, "Invalid fetch argument")
        if not self.entry:
            self.fail(col, "This variable is not found at this probe point")
        self.warnings.append(f"'{text}' is read through BTF: the kernel checks it against the function's "
                             "parameters when it defines the probe")
        return "btf"


# fetch instructions a base takes before its dereferences (@SYM: the symbol, then its address); the memory
# read of @ADDR and @+OFFS counts as a dereference
_BASE_OPS = {"ksym": 2}
_BASE_NAMES = {"reg": "register", "stack": "stack entry", "stackp": "stack address", "retval": "return value",
               "comm": "task name", "arg": "function argument", "imm": "constant", "data": "constant string",
               "mem": "memory address", "foffs": "file offset", "ksym": "kernel symbol", "btf": "BTF name"}


class _UprobeParser(_ProbeParser):
    kind = "uprobe"

    def __init__(self, line, words, machine, resolve, check_files) -> None:
        super().__init__(line, words, machine)
        self.resolve = resolve
        self.check_files = check_files

    def parse(self) -> ProbeLine:
        is_return, rest, spec_col = self.head()
        head = self.words[0][1]
        if rest:
            why = "uprobes take no MAXACTIVE; " if rest[0].isdigit() else ""
            self.warnings.append(f"{why}the kernel ignores {head[1:]!r} after '{head[0]}' (no ':' right after it), "
                                 "the event name included")
            spec_col = -1
        col, word = self.words[1]
        last = word.rfind(":")
        if last < 0 or last + 1 == len(word) or word[last + 1] in "%(":
            self.fail(col + len(word) if last < 0 else col + last + 1,
                      "PATH:OFFSET needs an offset (or a function name) after the last ':'")
        path = word[:last]
        if self.check_files:
            try:
                st = os.stat(path)
            except OSError:
                self.fail(col, "Failed to find the given file")
            if not stat.S_ISREG(st.st_mode):
                self.fail(col, "Not a regular file")
        try:
            tree = _parse(word, "uplace")
        except _Syntax as s:
            self.place_error(word, col, last, s)
        toks = _tokens(tree)
        ref = None
        if "REFCTR" in toks or "(" in word[last:]:
            text = toks.get("REFCTR")
            ref = kstrtoul(str(text)) if text is not None else None
            if ref is None:
                self.fail(col + word.index("(", last) + 1, "Invalid reference counter offset")
        if "URETURN" in toks:
            if str(toks["URETURN"]) != "%return":
                self.fail(col + toks["URETURN"].start_pos, "Invalid probed address suffix")
            is_return = True
        function, func_off = None, 0
        if "UOFFSET" in toks:
            offset = kstrtoul(str(toks["UOFFSET"]))
            if offset is None:
                self.fail(col + last + 1, "Invalid uprobe offset")
        else:
            function = str(toks["UFUNC"])
            if "UFUNC_OFF" in toks or "+" in word[last:]:
                v = kstrtoul(str(toks.get("UFUNC_OFF", "")))
                if v is None:
                    self.fail(col + last + 2 + len(function), "Invalid offset after the function name")
                func_off = v
            offset = self.resolve_function(path, function, col + last + 1) + func_off
        group, event = self.event(spec_col)
        args = self.args(is_return)
        return ProbeLine(self.line, "uprobe", is_return=is_return, group=group, event=event, path=path,
                         offset=offset, function=function, function_offset=func_off, ref_ctr_offset=ref or None,
                         args=args, warnings=tuple(self.warnings))

    def place_error(self, word: str, col: int, last: int, s: _Syntax):
        """A PATH:OFFSET the grammar does not read, reported as the kernel does: the reference counter's
        braces first, then the suffix."""
        where = word[last + 1:]
        lp = where.find("(")
        if lp >= 0:
            rp = where.find(")", lp)
            if rp < 0:
                self.fail(col + len(word), "Reference counter brace is not closed")
            if rp + 1 != len(where):
                self.fail(col + last + 1 + rp + 1, "Reference counter has wrong suffix")
        self.fail(col + s.pos, f"unexpected {s.found!r} in PATH:OFFSET" if s.found else "PATH:OFFSET ends early")

    def resolve_function(self, path: str, function: str, col: int) -> int:
        resolve = self.resolve
        if resolve is None:
            from bpfinspect.probes.uprobe import resolve_uprobe

            def resolve(p, fn):
                return resolve_uprobe(p, fn).offset
        try:
            return resolve(path, function)
        except UsageError as exc:
            self.fail(col, exc.message)


class _KprobeParser(_ProbeParser):
    kind = "kprobe"

    def parse(self) -> ProbeLine:
        is_return, rest, spec_col = self.head()
        col0, head = self.words[0]
        maxactive = None
        if rest[:1].isdigit():
            if not is_return:
                self.fail(col0 + 1, "Maxactive is only for function exit")
            maxactive = kstrtoul(rest, 32)
            if maxactive is None:
                self.fail(col0 + 1, "Invalid maxactive number")
            if maxactive > KRETPROBE_MAXACTIVE_MAX:
                self.fail(col0 + 1, "Maxactive is too big")
        elif rest:
            self.warnings.append(f"the kernel ignores {rest!r} after '{head[0]}'")
        col, word = self.words[1]
        try:
            tree = _parse(word, "kplace")
        except _Syntax as s:
            self.fail(col + s.pos, "Invalid probed address or symbol")
        toks = _tokens(tree)
        module = symbol = address = None
        offset = 0
        if "KRETURN" in toks:
            if str(toks["KRETURN"]) != "%return":
                self.fail(col + toks["KRETURN"].start_pos, "Invalid probed address suffix")
            is_return = True
        if tree.data == "address":
            address = kstrtoul(str(toks["KADDR"]))
            if address is None:
                self.fail(col, "Invalid probed address or symbol")
        else:
            module = str(toks["KMODULE"]) if "KMODULE" in toks else None
            symbol = str(toks["KSYMBOL"])
            if "KSIGN" in toks:
                offset = kstrtol(str(toks["KSIGN"]) + str(toks.get("KSYM_OFF", "")))
                if offset is None:
                    self.fail(col, "Invalid probed address or symbol")
            if is_return and offset:
                self.fail(col, "Retprobe address must be an function entry")
        self.entry = symbol is not None and offset == 0
        group, event = self.event(spec_col)
        args = self.args(is_return)
        return ProbeLine(self.line, "kprobe", is_return=is_return, group=group, event=event, maxactive=maxactive,
                         module=module, symbol=symbol, offset=offset, address=address, args=args,
                         warnings=tuple(self.warnings))
