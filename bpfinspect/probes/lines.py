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

This module reads a line into words and checks the probe point of each kind
(uprobe ``PATH:OFFSET``/``PATH:FUNC``, kprobe ``[MOD:]SYM[+OFFS]``/address,
removal ``-:EVENT``); the rest is in the modules it builds on:
:mod:`~bpfinspect.probes.line_model` (the line, its arguments, the error, the
kernel's limits), :mod:`~bpfinspect.probes.line_syntax` (grammar, numbers,
names), :mod:`~bpfinspect.probes.line_args` (the first word and the fetch
arguments).

    from bpfinspect.probes.lines import parse_line, LineError
    parse_line("p:myprobe /bin/bash:readline %di").normalised
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace

from bpfinspect.errors import UsageError
from bpfinspect.probes.line_args import ProbeParser
from bpfinspect.probes.line_model import KRETPROBE_MAXACTIVE_MAX, MAX_TRACE_ARGS, Arg, LineError, ProbeLine
from bpfinspect.probes.line_syntax import Syntax, event_spec, kstrtol, kstrtoul, parse, tokens

__all__ = ["Arg", "LineError", "ProbeLine", "parse_line"]

_WORD = re.compile(r"\S+")
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
# The kernel's buffer for the arguments $arg* and $argN expand to (MAX_BTF_ARGS_LEN).
MAX_BTF_ARGS_LEN = 128


def parse_line(line: str, *, machine: str | None = None, resolve=None, check_files: bool = True,
               btf: str | None = None) -> ProbeLine:
    """Check one probe line and return it with the kernel's defaults; LineError where the kernel says no.

    ``machine`` picks the register names (default: this machine's); ``resolve(path, func)`` turns
    ``PATH:FUNC`` into an offset (default: libbpf's rules, :func:`bpfinspect.probes.uprobe.resolve_uprobe`);
    ``check_files`` looks for a uprobe's file as the kernel does; ``btf`` is the kernel BTF a kprobe's
    ``$argN`` and ``$arg*`` are read from (default ``/sys/kernel/btf/vmlinux``; a module's function
    from the module's file beside it)."""
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
    parsed = _parse_words(line, words, machine, resolve, check_files, boot, btf)
    if hash_at >= 0:
        parsed = replace(parsed, warnings=parsed.warnings + (f"the kernel ignores {line[hash_at:]!r} (a comment)",))
    return parsed


def _parse_words(line, words, machine, resolve, check_files, boot, btf) -> ProbeLine:
    if "/" in words[1][1]:
        if boot:
            raise LineError(line, words[1][0], "the kprobe_event= form (',' for spaces) is for kprobes only")
        return _UprobeParser(line, words, machine, resolve, check_files).parse()
    parsed = _KprobeParser(line, words, machine, btf).parse()
    if boot:
        parsed = replace(parsed, warnings=parsed.warnings + ("read as a kprobe_event= boot parameter "
                                                             "(',' for each space)",))
    return parsed


def _remove(line: str, words) -> ProbeLine:
    col, word = words[0]
    try:
        spec = tokens(parse(word, "remove")).get("EVENT_SPEC")
    except Syntax as s:
        raise LineError(line, col + s.pos, "a removal is -:[GROUP/]EVENT") from None
    if spec is None:
        raise LineError(line, col + len(word), "a removal names its event: -:[GROUP/]EVENT")
    group, event = event_spec(line, col + spec.start_pos, str(spec))
    if event is None:
        raise LineError(line, col + len(word), "a removal names its event: -:[GROUP/]EVENT")
    if len(words) > 1:
        raise LineError(line, words[1][0], "a removal takes nothing after the event name")
    return ProbeLine(line, "remove", group=group, event=event)


class _UprobeParser(ProbeParser):
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
            tree = parse(word, "uplace")
        except Syntax as s:
            self.place_error(word, col, last, s)
        toks = tokens(tree)
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

    def place_error(self, word: str, col: int, last: int, s: Syntax):
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


class _KprobeParser(ProbeParser):
    kind = "kprobe"

    def __init__(self, line, words, machine, btf: str | None) -> None:
        super().__init__(line, words, machine)
        self.btf_path = btf or VMLINUX_BTF
        self.btf_given = btf is not None

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
            tree = parse(word, "kplace")
        except Syntax as s:
            self.fail(col + s.pos, "Invalid probed address or symbol")
        toks = tokens(tree)
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
        self.meta_args(symbol, module)
        args = self.args(is_return)
        return ProbeLine(self.line, "kprobe", is_return=is_return, group=group, event=event, maxactive=maxactive,
                         module=module, symbol=symbol, offset=offset, address=address, args=args,
                         warnings=tuple(self.warnings))

    def meta_args(self, symbol: str | None, module: str | None) -> None:
        """``$arg*`` and ``$argN`` as a kernel with BTF arguments reads them, before the arguments
        are parsed: ``$arg*`` becomes every parameter of the function, by name, ``$argN[:TYPE]`` the
        Nth parameter's name; without BTF for the function ``$argN`` stays a function argument
        and ``$arg*`` is refused.  The kernel looks the function up by the name as written
        (``MOD:SYM`` finds nothing), in vmlinux and then in the modules."""
        found = [(i, col, w) for i, (col, w) in enumerate(self.words[2:], 2) if w.startswith("$arg")]
        if not found:
            return
        star = None
        for i, col, w in found:
            if not self.entry:
                self.fail(col, "$arg* can be used only on function entry or exit")
            if w[4:5].isdigit() and w[4:5].isascii():
                continue
            if w[4:5] != "*":
                self.fail(col, "Invalid $-variable specified")
            if star is not None:
                self.fail(col, "$arg* can be used only once in the parameters")
            star = i
        found_in = None if module is not None else function_params(self.btf_path, symbol, strict=self.btf_given)
        if found_in is None:
            if star is not None:   # (the kernel notes it at the last $arg word)
                self.fail(found[-1][1], "BTF is not available or not supported")
            return
        where, params = found_in
        words = list(self.words[:2])
        room = MAX_BTF_ARGS_LEN    # the kernel writes the new arguments into a buffer of this size
        for i, (col, w) in enumerate(self.words[2:], 2):
            if i == star:
                texts = list(params)
                self.warnings.append(f"$arg* read as the parameters of {symbol} in {where}: "
                                     f"{' '.join(p or '(no name)' for p in params)}")
            elif w.startswith("$arg"):
                digits = re.match(r"[0-9]*", w[4:]).group()
                rest = w[4 + len(digits):]
                if rest and rest[0] != ":":
                    self.fail(col, "Invalid $-variable specified")
                n = int(digits)
                if n == 0:
                    self.fail(col, "Invalid argument number")
                if n > len(params):
                    self.fail(col, "This variable is not found at this probe point")
                texts = [params[n - 1] + rest]
                self.warnings.append(f"{w.partition(':')[0]} read as {params[n - 1]!r}, parameter {n} of "
                                     f"{symbol} in {where}")
            else:
                words.append((col, w))
                continue
            for text in texts:
                if len(text) >= room:
                    self.fail(col, "$arg* failed because the argument list is too long")
                room -= len(text) + 1
                words.append((col, text))
        if len(words) - 2 > MAX_TRACE_ARGS:
            self.fail(self.words[2][0], "Too many arguments are specified")
        written = self.words
        end = len(" ".join(w for _, w in written)) + 1
        self.kernel_at = lambda k: written[2 + k][0] if 2 + k < len(written) else end
        self.from_btf = set(params)
        self.words = words


def function_params(btf_path: str, symbol: str | None, *, strict: bool = False) -> tuple[str, tuple[str, ...]] | None:
    """(where, parameter names) of kernel function ``symbol``: in the BTF at ``btf_path``, then
    (for this machine's ``/sys/kernel/btf/vmlinux``) in the modules' BTF beside it, as the
    kernel searches; a variadic function's last parameter is the nameless ``...``.  None when
    there is no BTF for it; ``strict``: a BTF file that cannot be read is an error, not "no BTF"."""
    if symbol is None:
        return None
    from bpfinspect.btf import Kind
    from bpfinspect.errors import BpfInspectError

    try:
        places = [(btf_path, _kernel_btf(btf_path, None))]
    except (BpfInspectError, OSError):
        if strict:
            raise
        return None
    if btf_path == VMLINUX_BTF:
        places = _chain_modules(places)
    for where, btf in places:
        for tid in btf.find(symbol, Kind.FUNC):
            proto = btf.type(btf.type(tid).type)
            if proto.kind == Kind.FUNC_PROTO and proto.params:
                return where, tuple(p.name for p in proto.params)
            if proto.kind == Kind.FUNC_PROTO:
                return None   # no parameters: nothing $arg* could be
    return None


def _chain_modules(places):
    """vmlinux, then each module's BTF (read only when vmlinux lacks the function)."""
    yield from places
    directory = os.path.dirname(VMLINUX_BTF)
    try:
        modules = sorted(n for n in os.listdir(directory) if n != "vmlinux")
    except OSError:
        return
    from bpfinspect.errors import BpfInspectError

    for name in modules:
        try:
            yield os.path.join(directory, name), _kernel_btf(VMLINUX_BTF, name)
        except (BpfInspectError, OSError):
            continue


_BTF_CACHE: dict = {}


def _kernel_btf(btf_path: str, module: str | None):
    from bpfinspect.btf import load_btf

    key = (btf_path, module)
    if key not in _BTF_CACHE:
        _BTF_CACHE[key] = (load_btf(btf_path) if module is None else
                           load_btf(os.path.join(os.path.dirname(btf_path), module), _kernel_btf(btf_path, None)))
    return _BTF_CACHE[key]
