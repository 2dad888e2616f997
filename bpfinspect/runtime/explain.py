"""The verifier's "no", explained: its log classified into the usual mistakes.

:func:`classify` reads a verifier log and names the pattern of the rejection (a map value
used without its NULL check, a packet read without a bounds check, stack read before it
is written, a loop the verifier cannot see the end of, a helper the program type may not
call, a GPL-only helper under another license, a reference never released, frames too
large…), with one sentence saying what happened and the usual fix.

:func:`rejected_insn` finds the instruction the verifier stopped at (its index counts the
program as loaded: the entry function, then the subprograms libbpf appended), and
:func:`source_of` the source line of it: from the log's own ``; text @ file:line`` echo of
BTF line info, or else from the object's line info through the loaded program's layout.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    name: str
    match: re.Pattern
    explanation: str      # may use {groups} of the match and {license}
    fix: str


def _p(name: str, regex: str, explanation: str, fix: str) -> Pattern:
    return Pattern(name, re.compile(regex, re.M), explanation, fix)


# The first pattern whose expression matches the log's reason (then the whole log) wins.
PATTERNS = (
    _p("null_check", r"R(?P<reg>\d+) invalid mem access '(?P<type>\w*_or_null\w*)'",
       "R{reg} may be NULL here ({type}: what bpf_map_lookup_elem() and similar helpers return) and it is "
       "dereferenced before any test for NULL.",
       "test the pointer right after the call and leave on NULL (`if (!v) return 0;`), then use it"),
    _p("packet_bounds", r"invalid access to packet|R\d+ offset is outside of the packet",
       "A packet byte is accessed before the program proved it lies before data_end.",
       "compare the end of what you read with data_end first (`if ((void *)(p + 1) > data_end) return ...;`) "
       "and access the packet only through the checked pointer"),
    _p("uninit_stack", r"invalid (?:indirect )?read from stack|invalid indirect access to stack|"
       r"invalid read from stack off",
       "Stack memory is read, or passed to a helper, before every byte of it was written on this path "
       "(the kernel allows that only to loaders with CAP_PERFMON or CAP_SYS_ADMIN).",
       "initialise the variable or buffer before use (`= {}` or __builtin_memset), on every path; "
       "padding inside structs counts"),
    _p("uninit_register", r"R(?P<reg>\d+) !read_ok",
       "R{reg} is read before anything was written to it (at exit: the program returns no value; after a "
       "call: r1-r5 are clobbered by every call).",
       "give the register a value on every path (a return value, or keep the value in a callee-saved "
       "register or on the stack across calls)"),
    _p("unbounded_loop", r"BPF program is too large\. Processed (?P<n>\d+) insn|infinite loop detected|"
       r"back-edge from insn|The sequence of \d+ jumps is too complex",
       "The verifier walked the program past its limit (a loop it cannot see the end of: each iteration "
       "is a new state to check).",
       "bound the loop by a constant (`for (i = 0; i < MAX && i < n; i++)`), or use bpf_loop() or "
       "bpf_for() so the verifier checks the body once"),
    _p("helper_not_allowed", r"program of this type cannot use helper (?P<helper>\w+)#(?P<id>\d+)|"
       r"unknown func (?P<helper2>\w+)#(?P<id2>\d+)",
       "This program type may not call that helper on this kernel.",
       "use a helper this program type has (`bpftool feature probe` lists them per type), or move the call "
       "to a program type that has it"),
    _p("gpl_only", r"cannot call GPL-restricted function from non-GPL compatible program|"
       r"kernel function \S+ is not GPL|is not GPL compatible",
       "The helper or kfunc is GPL-only and the object's license ({license}) is not one the kernel counts "
       "as GPL-compatible.",
       "declare a GPL-compatible license: `char LICENSE[] SEC(\"license\") = \"GPL\";` (or \"Dual BSD/GPL\")"),
    _p("unreleased_reference", r"Unreleased reference id=(?P<id>\d+) alloc_insn=(?P<insn>\d+)",
       "A reference taken at insn {insn} (bpf_ringbuf_reserve(), bpf_sk_lookup_*(), an acquiring kfunc) "
       "is not released on every path to the exit.",
       "release it on every path: bpf_ringbuf_submit()/bpf_ringbuf_discard(), bpf_sk_release(), or the "
       "kfunc that releases what was acquired"),
    _p("stack_too_deep", r"combined stack size of (?P<calls>\d+) calls is (?P<size>\d+)\. Too large",
       "The stack frames of a chain of {calls} bpf-to-bpf calls add up to {size} bytes, over the kernel's 512.",
       "move large buffers into a per-CPU array map, or let the compiler inline the functions "
       "(`bpfinspect budget` shows the chain)"),
    _p("stack_too_large", r"invalid (?:write|read) to stack R10 off=(?P<off>-\d+)",
       "A function uses more than the 512 bytes of stack the kernel gives it.",
       "move large buffers into a per-CPU array map"),
    _p("tail_call_stack", r"tail_calls are not allowed when call stack of previous frames is (?P<size>\d+) bytes",
       "A tail call is made from a called function while the frames before it hold {size} bytes; with tail "
       "calls the kernel allows less than 256.",
       "make the tail call from the program's own function, or shrink the callers' stack (per-CPU array map)"),
    _p("scalar_deref", r"R(?P<reg>\d+) invalid mem access 'scalar'|R(?P<reg2>\d+) invalid mem access 'inv'",
       "R{reg} holds a plain number, not a pointer the verifier knows, and it is dereferenced (kernel "
       "memory read directly).",
       "read kernel memory with BPF_CORE_READ() or bpf_probe_read_kernel(), or through a BTF-typed pointer "
       "(tp_btf, fentry)"),
    _p("ctx_access", r"invalid bpf_context access|dereference of modified ctx ptr",
       "The program reads or writes a field of its context that this program type does not allow, or "
       "through a moved context pointer.",
       "access only the context fields of this program type, with constant offsets from the context "
       "pointer itself"),
    _p("sleepable_only", r"helper call might sleep in a non-sleepable prog|"
       r"program must be sleepable to call sleepable",
       "A helper or kfunc that may sleep is called from a program that is not sleepable.",
       "use the sleepable section (`SEC(\"uprobe.s/...\")`, `lsm.s/`, `fentry.s/`) or a non-sleeping "
       "variant"),
)


@dataclass
class Explanation:
    pattern: str
    explanation: str
    fix: str
    message: str                       # the log line that matched
    insn: int | None = None            # index of the rejected instruction in the loaded program
    function: str | None = None        # the function of the object it belongs to
    source: dict | None = None         # {"file", "line", "text"}

    def to_json(self) -> dict:
        return {"pattern": self.pattern, "text": self.explanation, "fix": self.fix, "message": self.message,
                "insn": self.insn, "function": self.function}


def classify(log: str, reason: str | None = None, *, license: str | None = None) -> Explanation | None:
    """The pattern of a verifier rejection (None: none of the known ones)."""
    for text in ([reason] if reason else []) + [log or ""]:
        for pat in PATTERNS:
            m = pat.match.search(text)
            if m is None:
                continue
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            for k in ("reg", "helper", "id"):
                if k not in groups and f"{k}2" in groups:
                    groups[k] = groups[f"{k}2"]
            groups["license"] = repr(license) if license else "none"
            try:
                sentence = pat.explanation.format_map(_Default(groups))
            except (ValueError, IndexError):
                sentence = pat.explanation
            if pat.name == "helper_not_allowed" and "helper" in groups:
                sentence = f"{groups['helper']} (helper #{groups['id']}) is not available to this program type on " \
                           f"this kernel."
            line = text[text.rfind("\n", 0, m.start()) + 1:]
            line = line.split("\n", 1)[0].strip()
            return Explanation(pat.name, sentence, pat.fix, line)
    return None


class _Default(dict):
    def __missing__(self, key):
        return "?"


_INSN_LINE = re.compile(r"^(\d+): \((?:[0-9a-f]{2})\)", re.M)
_SOURCE_LINE = re.compile(r"^; (?P<text>.*?) @ (?P<file>[^\s:]+):(?P<line>\d+)$")


def rejected_insn(log: str, message: str | None = None) -> int | None:
    """The index of the last instruction the verifier printed before ``message`` (or the end)."""
    cut = len(log)
    if message:
        at = log.rfind(message)
        if at >= 0:
            cut = at
    found = None
    for m in _INSN_LINE.finditer(log, 0, cut):
        found = m
    return int(found.group(1)) if found else None


def log_source(log: str, insn: int) -> dict | None:
    """The ``; text @ file:line`` echo of BTF line info the verifier printed last before ``insn``."""
    lines = log.splitlines()
    last_insn = None
    for k, ln in enumerate(lines):
        m = _INSN_LINE.match(ln)
        if m and int(m.group(1)) == insn:
            last_insn = k
    if last_insn is None:
        return None
    for ln in reversed(lines[:last_insn]):
        m = _SOURCE_LINE.match(ln)
        if m and int(m.group("line")):          # line 0: code the compiler made, no source
            return {"file": m.group("file"), "line": int(m.group("line")), "text": m.group("text").strip()}
    return None


def object_source(obj, program: str, insn: int) -> tuple[str | None, dict | None]:
    """(function, source line) of instruction ``insn`` of ``program`` as libbpf loads it: the entry
    function, then each subprogram it reaches, appended depth first in the order of the calls."""
    from bpfinspect.flow.budget import object_budget

    budgets = object_budget(obj, [program])
    if not budgets:
        return None, None
    at = 0
    for f in budgets[0].functions:
        if at <= insn < at + f.insns:
            section, first = f.where
            return f.name, _line_at(obj, section, first + (insn - at), first)
        at += f.insns
    return None, None


def _line_at(obj, section: str, slot: int, first: int) -> dict | None:
    best = None
    for li in obj.line_info(section):
        if li.insn_off // 8 <= slot:
            best = li
        else:
            break
    if best is None or best.insn_off // 8 < first:
        return None
    # the kernel's echo of line info names the file without its directory: so do we
    return {"file": os.path.basename(best.file), "line": best.line, "text": best.line_text.strip()}


def _place_from_budget(ex: Explanation, obj, program: str) -> None:
    """Rejections the log ties to no instruction (or to an arbitrary one): the loop without a
    bound, the function where the stack peaks, the tail call under too deep frames."""
    from bpfinspect.flow.budget import object_budget

    budgets = object_budget(obj, [program])
    if not budgets:
        return
    b = budgets[0]
    funcs = {f.name: f for f in b.functions}
    starts, at = {}, 0
    for f in b.functions:
        starts[f.name] = at
        at += f.insns
    if ex.pattern == "unbounded_loop":
        loops = [lp for lp in b.loops if not lp.bounded] or b.loops
        if loops:
            lp = loops[0]
            f = funcs[lp.function]
            ex.function = lp.function
            ex.insn = starts[lp.function] + lp.latch - f.where[1]
            ex.source = _line_at(obj, f.where[0], lp.latch, f.where[1])
            why = re.sub(r" at insn \d+", "", lp.reason) if lp.reason else f"its bound: {lp.bound}"
            ex.explanation += f" The loop ends at insn {ex.insn}: {why}."
    elif ex.pattern in ("stack_too_deep", "stack_too_large") and b.stack_path:
        name = max(b.stack_path, key=lambda s: s["frame"])["function"]
        f = funcs[name]
        chain = " -> ".join(f"{s['function']} ({s['frame']})" for s in b.stack_path)
        ex.function, ex.insn = name, starts[name]
        ex.source = _line_at(obj, f.where[0], f.where[1], f.where[1])
        ex.explanation += f" The chain: {chain}; the largest frame is {name}'s."
    elif ex.pattern == "tail_call_stack" and b.tail_calls:
        t = max(b.tail_calls, key=lambda x: x["depth_before"])
        f = funcs[t["function"]]
        ex.function, ex.insn = t["function"], starts[t["function"]] + t["insn"] - f.where[1]
        ex.source = _line_at(obj, f.where[0], t["insn"], f.where[1])


def explain(log: str, reason: str | None, *, license: str | None = None, obj=None,
            program: str | None = None) -> Explanation | None:
    """Classify a rejection and place it in the source (``obj``: the object model, for the
    function and for line info when the log has no source echo)."""
    ex = classify(log, reason, license=license)
    if ex is None:
        return None
    ex.insn = rejected_insn(log, ex.message)
    if ex.pattern == "unreleased_reference":
        m = re.search(r"alloc_insn=(\d+)", ex.message)
        if m:
            ex.insn = int(m.group(1))
    if ex.insn is not None:
        ex.source = log_source(log, ex.insn)
        if obj is not None and program is not None:
            func, src = object_source(obj, program, ex.insn)
            ex.function = func
            if ex.source is None:
                ex.source = src
    if obj is not None and program is not None and ex.pattern in ("unbounded_loop", "stack_too_deep",
                                                                   "stack_too_large", "tail_call_stack"):
        _place_from_budget(ex, obj, program)
    return ex
