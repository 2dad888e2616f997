"""Checking a probe line's first word and fetch arguments, as the kernel does.

:class:`ProbeParser` holds what uprobe and kprobe lines share
(:mod:`bpfinspect.probes.lines` subclasses it for each): the first word
(``p``/``r``, ``MAXACTIVE``, ``[GROUP/]EVENT``) and each fetch argument
(``[NAME=]FETCH[:TYPE]``), checked in the order of the kernel's
``traceprobe_parse_probe_arg`` -- name, length, type (arrays, bitfields),
then the fetch expression (registers, stack, ``$`` variables, ``@``
addresses and symbols, ``+|-OFFS(...)`` dereferences, immediates, BTF names)
-- failing with the kernel's words at the kernel's column
(:class:`~bpfinspect.probes.line_model.LineError`).  What the kernel accepts
outside its documented syntax is read as the kernel reads it, with a warning.
"""

from __future__ import annotations

import re

from bpfinspect.probes.line_model import (KERNEL_TYPES, MAX_ARG_NAME_LEN, MAX_ARGSTR_LEN, MAX_ARRAY_LEN,
                                          MAX_FETCH_OPS, MAX_TRACE_ARGS, REGISTERS, RESERVED_ARG_NAMES,
                                          STRING_TYPES, USER_TYPES, Arg, LineError)
from bpfinspect.probes.line_syntax import (Syntax, event_spec, good_name, kstrtol, kstrtoul, parse,
                                           simple_strtoul, tokens)


class ProbeParser:
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
        self.from_btf: set[str] = set()   # parameter names $arg*/$argN were read as (said once already)
        self.kernel_at = None             # after $arg*: argument index -> where the kernel's caret goes

    def fail(self, col: int, reason: str, kernel_col: int | None = None):
        raise LineError(self.line, col, reason, col + self.kdelta if kernel_col is None else kernel_col)

    def head(self) -> tuple[bool, str, int]:
        """(return probe, text between p/r and ':', column of the event spec or -1 for none)."""
        col, word = self.words[0]
        try:
            toks = tokens(parse(word, "head"))
        except Syntax as s:
            self.fail(col + s.pos, "the first word is p[:[GROUP/][EVENT]] or r[:[GROUP/][EVENT]]")
        rest = str(toks["HEAD_REST"]) if "HEAD_REST" in toks else ""
        spec = toks.get("EVENT_SPEC")
        spec_col = col + spec.start_pos if spec is not None else (col + len(word) if ":" in word else -1)
        return str(toks["PROBE_TYPE"]) == "r", rest, spec_col

    def event(self, spec_col: int) -> tuple[str | None, str | None]:
        if spec_col < 0:
            return None, None
        col, word = self.words[0]
        return event_spec(self.line, spec_col, word[spec_col - col:])

    def args(self, is_return: bool) -> tuple[Arg, ...]:
        out: list[Arg] = []
        used: set[str] = set(RESERVED_ARG_NAMES)
        if len(self.words) - 2 > MAX_TRACE_ARGS:
            self.fail(self.words[2 + MAX_TRACE_ARGS][0], "Too many arguments are specified")
        for i, (col, word) in enumerate(self.words[2:]):
            try:
                arg = self.arg(i, col, word, is_return, used)
            except LineError as e:
                if self.kernel_at is None:
                    raise
                # after $arg* the kernel still points into the words as written: argument i at
                # the i-th written argument's place, or past the end of the line
                k = self.kernel_at(i)
                raise LineError(e.line, e.column, e.reason,
                                k + (e.kernel_column - col) if k < len(self.line) else k) from None
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
            # unnamed: a kernel with BTF arguments (the only kind that reads a name, kprobes only)
            # names it after the name it reads, anything else argN
            bare = word.partition(":")[0]
            name = bare if self.kind == "kprobe" and good_name(bare) else f"arg{index + 1}"
            body, body_col = word, col
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
            tree = parse(fetch_text, "fetch")
        except Syntax:
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
            toks = tokens(parse(text, "type"))
        except Syntax as s:
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
        width, n = simple_strtoul(t[1:])
        rest = t[1 + n:]
        off, m = simple_strtoul(rest[1:]) if rest.startswith("@") else (0, 0)
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
        if text not in self.from_btf:
            self.warnings.append(f"'{text}' is read through BTF: the kernel checks it against the function's "
                                 "parameters when it defines the probe")
        return "btf"


# fetch instructions a base takes before its dereferences (@SYM: the symbol, then its address); the memory
# read of @ADDR and @+OFFS counts as a dereference
_BASE_OPS = {"ksym": 2}
_BASE_NAMES = {"reg": "register", "stack": "stack entry", "stackp": "stack address", "retval": "return value",
               "comm": "task name", "arg": "function argument", "imm": "constant", "data": "constant string",
               "mem": "memory address", "foffs": "file offset", "ksym": "kernel symbol", "btf": "BTF name"}
