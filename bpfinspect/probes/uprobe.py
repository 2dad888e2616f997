"""Where a uprobe on a function goes: the file offset libbpf computes for a function name.

The kernel places a uprobe at a *file offset* of an executable or shared
library.  libbpf turns a function name into that offset in
``elf_find_func_offset``; this module does the same computation, rule for rule,
so that ``probe offsets`` shows exactly what ``bpf_program__attach_uprobe_opts``
with ``func_name`` would attach to, and why a name fails.

libbpf 1.1 (installed here) and 1.2:

1. look through ``.dynsym``, then ``.symtab`` (the first section of each type),
   each in index order, at ``STT_FUNC`` symbols only (not ``STT_GNU_IFUNC``);
2. a symbol matches when its string-table name starts with the query and, unless
   the query contains ``@@``, the next character ends the name or is ``@`` (so
   ``foo`` matches ``foo``, ``foo@V1``, ``foo@@V2``; ``.dynsym`` names carry no
   version, so ``foo@@V2`` only ever matches in ``.symtab``);
3. a second match is an error ("ambiguous") unless one of the two is weak: a
   weak symbol never replaces a non-weak one, a non-weak one replaces a weak one;
   two non-weak matches are ambiguous even at the same offset, and the result of
   the first table is still "a match" for the second table (offset 0 of an
   undefined import included);
4. the offset of a match is ``st_value - sh_addr + sh_offset`` of the section its
   ``st_shndx`` names (section 0 for an undefined symbol, so an import gives 0);
5. a positive offset after a table ends the search; 0 at the end is an error
   ("try the shared library's path"), as is no match.

libbpf 1.3 and later differ: the result is reset for each table; a second
match at the *same* offset is not an error; a query ``foo@V``/``foo@@V`` matches
a ``.dynsym`` symbol whose ``.gnu.version`` entry names version ``V`` (hidden or
not) and a ``.symtab`` symbol whose full name equals the query.

The rules are chosen by libbpf version (``rules="1.1"`` or ``"1.3"``);
``DEFAULT_RULES`` follows the installed libbpf.
"""

from __future__ import annotations

import errno
import fnmatch
import re
from dataclasses import dataclass, field

from bpfinspect.errors import MalformedInput, UsageError
from bpfinspect.probes.binary import (STB_WEAK, STT_FUNC, STT_GNU_IFUNC, Binary, Symbol, open_binary)
from bpfinspect.probes.paths import Resolved, resolve_binary

DEFAULT_RULES = "1.1"

# libbpf 1.1's SEC("uprobe/...") parser reads the function as [a-zA-Z0-9_.]+
_SEC_FUNC_11 = re.compile(r"[A-Za-z0-9_.]+\Z")
_EVENT_CHARS = re.compile(r"[^A-Za-z0-9_]")
MAX_EVENT_NAME = 63


def rules_for(version: str) -> str:
    """The rule set of a libbpf version ("1.1", "1.2" -> "1.1"; "1.3" and later -> "1.3")."""
    try:
        parts = tuple(int(p) for p in version.lstrip("v").split(".")[:2])
    except ValueError:
        raise UsageError(f"libbpf version {version!r} does not read as MAJOR.MINOR") from None
    return "1.3" if parts >= (1, 3) else "1.1"


class UprobeTargetError(UsageError):
    """A function name libbpf would not turn into an offset.

    ``reason`` is ``not_found``, ``ambiguous``, ``zero`` (only an undefined
    import or a symbol at offset 0 matched) or ``stripped`` (no table to look
    in); ``candidates`` the matching symbols with their offsets.
    """

    def __init__(self, message: str, *, path: str | None, reason: str, errno_value: int,
                 candidates: tuple = ()) -> None:
        super().__init__(message, path=path)
        self.reason = reason
        self.errno = errno_value
        self.candidates = candidates


@dataclass(frozen=True, slots=True)
class Offset:
    """The answer for one function name: ``offset`` bytes into ``path``."""
    path: str
    name: str
    offset: int
    symbol: Symbol
    rules: str


@dataclass(frozen=True, slots=True)
class Match:
    symbol: Symbol
    offset: int | None  # None: the section index names no section (libbpf skips it)


def _matches_11(sym: Symbol, query: str, qualified: bool) -> bool:
    raw = sym.raw_name
    if not raw.startswith(query):
        return False
    return qualified or len(raw) == len(query) or raw[len(query)] == "@"


def _matches_13(binary: Binary, sym: Symbol, name: str, version: str | None, query: str) -> bool:
    raw = sym.raw_name
    if not raw.startswith(name) or (len(raw) > len(name) and raw[len(name)] != "@"):
        return False
    if version is None:
        return True
    if sym.table == "dynsym":
        return binary.version_definitions.get(sym.version_index) == version
    return raw == query


def find_func_offset(binary: Binary, query: str, rules: str = DEFAULT_RULES) -> Offset:
    """libbpf's offset of function ``query`` in an opened binary (see the module docstring).

    Raises :class:`UprobeTargetError` where libbpf fails, with the reason and the matches."""
    if not query:
        raise UsageError("empty function name")
    tables = [("dynsym", binary.dynsym), ("symtab", binary.symtab)]
    if all(t is None for _, t in tables):
        raise UprobeTargetError(f"'{query}': {binary.path} has no symbol table (.dynsym or .symtab) to look in",
                                path=binary.path, reason="stripped", errno_value=errno.ENOENT)
    seen: list[Match] = []
    ret: int | None = None          # libbpf's `ret` when it holds an offset (>= 0 in 1.1, > 0 in 1.3)
    winner: Symbol | None = None
    at = query.find("@")
    name = query[:at] if at >= 0 else query
    version = (query[at + 2:] if query.startswith("@@", at) else query[at + 1:]) if at >= 0 else None
    qualified = "@@" in query
    for _table, syms in tables:
        if syms is None:
            continue
        last_bind = -1
        if rules != "1.1":
            ret = None  # 1.3: each table starts afresh
        for sym in syms:
            if sym.type != STT_FUNC or not sym.name_ok:
                continue
            ok = (_matches_11(sym, query, qualified) if rules == "1.1"
                  else _matches_13(binary, sym, name, version, query))
            if not ok:
                continue
            off = binary.file_offset_by_section(sym)
            if rules == "1.1":
                seen.append(Match(sym, off))
                if ret is not None and ret >= 0:
                    if last_bind != STB_WEAK and sym.bind != STB_WEAK:
                        raise _ambiguous(binary, query, seen, rules)
                    if sym.bind == STB_WEAK:
                        continue
                if off is None:
                    continue
            else:
                if off is None:
                    continue
                seen.append(Match(sym, off))
                if ret is not None and ret > 0:
                    if off == ret:
                        continue
                    if last_bind != STB_WEAK and sym.bind != STB_WEAK:
                        raise _ambiguous(binary, query, seen, rules)
                    if sym.bind == STB_WEAK:
                        continue
            ret, winner, last_bind = _signed64(off), sym, sym.bind
        if ret is not None and ret > 0:
            break
    if ret is not None and ret > 0 and winner is not None:
        return Offset(binary.path, query, ret, winner, rules)
    if ret == 0 and winner is not None:
        hint = ("should not be 0 in a shared library" if binary.elf_type == "ET_DYN" and not
                any(m.symbol.defined for m in seen) else "try the shared library's path instead")
        if not winner.defined:
            lib = next((_library_of(binary, m.symbol) for m in seen if _library_of(binary, m.symbol)), None)
            hint = f"it is imported{f' from {lib}' if lib else ''}: probe it in that library"
        raise UprobeTargetError(f"'{query}' is at offset 0 in {binary.path}: {hint}", path=binary.path,
                                reason="zero", errno_value=errno.ENOENT, candidates=tuple(seen))
    stripped = binary.symtab is None
    extra = " (stripped: only .dynsym is left)" if stripped else ""
    raise UprobeTargetError(f"no function '{query}' in {binary.path}{extra}", path=binary.path,
                            reason="not_found", errno_value=errno.ENOENT, candidates=tuple(seen))


def _signed64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def _library_of(binary: Binary, sym: Symbol) -> str | None:
    need = binary.version_needs.get(sym.version_index)
    return need[1] if need else None


def _describe(binary: Binary, m: Match) -> str:
    s = m.symbol
    where = f"{m.offset:#x}" if m.offset is not None else "no section"
    return f"{s.bind_name} {s.raw_name or s.name} at {where} ({s.table})"


def _ambiguous(binary: Binary, query: str, seen: list[Match], rules: str) -> UprobeTargetError:
    shown = ", ".join(_describe(binary, m) for m in seen[-2:])
    if any(m.symbol.defined for m in seen):
        advice = "attach by offset"
    else:  # libbpf 1.1 meets an import twice (.dynsym, then .symtab's name@VERSION)
        lib = next((_library_of(binary, m.symbol) for m in seen if _library_of(binary, m.symbol)), None)
        advice = f"it is imported{f' from {lib}' if lib else ''}: probe it in that library"
    return UprobeTargetError(f"'{query}' is ambiguous in {binary.path} for libbpf {rules}: {shown}; {advice}",
                             path=binary.path, reason="ambiguous", errno_value=4001, candidates=tuple(seen))


def resolve_uprobe(binary: str, func: str, *, rules: str = DEFAULT_RULES, env=None) -> Offset:
    """The file offset of ``func`` in ``binary`` as libbpf computes it (``binary`` resolved as libbpf
    resolves a name without ``/``).  Raises UprobeTargetError, or MalformedInput for a damaged file."""
    where = resolve_binary(binary, env)
    with open_binary(where.path) as b:
        return find_func_offset(b, func, rules)


# ---------------------------------------------------------------- listings


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One function of a binary, as ``probe offsets`` shows it."""
    name: str
    version: str | None
    default_version: bool | None
    binding: str
    type: str                 # func or ifunc
    value: int
    size: int
    section: str
    offset: int | None        # this symbol's file offset (libbpf's formula)
    tables: tuple[str, ...]   # dynsym, symtab
    query: str | None         # the func_name that makes libbpf attach here (None: none does)
    libbpf_error: str | None  # what libbpf says for the bare name when it does not pick this symbol
    libbpf_verdict: str | None  # the same in a few words
    sec: str | None           # SEC("...") spelling that attaches here, or None
    ftrace: str | None        # uprobe_events line


@dataclass
class Listing:
    binary: Resolved
    elf_type: str
    kind: str                 # executable, PIE executable, shared library
    machine: str
    rules: str
    stripped: bool
    dynsym_count: int
    symtab_count: int
    functions: list[FunctionRow] = field(default_factory=list)
    imports: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # name, version, library
    unmatched: list[str] = field(default_factory=list)


def _verdict(answer) -> tuple[str, str]:
    """libbpf's answer for a bare name that does not reach this symbol: (the full message, a few words)."""
    if isinstance(answer, Offset):
        s = answer.symbol
        return (f"'{answer.name}' resolves to {answer.offset:#x} ({s.bind_name} {s.raw_name}, {s.table})",
                f"goes to {answer.offset:#x}")
    others = sorted({m.offset for m in answer.candidates if m.offset is not None})
    short = {"ambiguous": "ambiguous (" + ", ".join(f"{o:#x}" for o in others) + ")",
             "zero": "offset 0", "not_found": "not found", "stripped": "no symbol table"}[answer.reason]
    return answer.message, short


def event_name(name: str, version: str | None = None) -> str:
    """A valid trace event name for a function (letters, digits and '_', not starting with a digit)."""
    text = name if version is None else f"{name}_{version}"
    ev = _EVENT_CHARS.sub("_", text.encode("utf-8", "surrogateescape").decode("ascii", "replace")) or "func"
    if ev[0].isdigit():
        ev = "_" + ev
    return ev[:MAX_EVENT_NAME]


def ftrace_line(path: str, offset: int, event: str, *, retprobe: bool = False) -> str | None:
    """``p:EVENT PATH:0xOFFSET`` for uprobe_events, or None when the path cannot be written there (white
    space splits a line, '#' starts a comment; a relative path is read from the writer's directory)."""
    if any(c.isspace() or c == "#" for c in path) or "/" not in path:
        return None
    return f"{'r' if retprobe else 'p'}:{event} {path}:{offset:#x}"


def list_functions(where: Resolved, patterns: list[str] | None = None, *, rules: str = DEFAULT_RULES) -> Listing:
    """The functions of a binary whose names match the glob ``patterns`` (all when none)."""
    with open_binary(where.path) as b:
        dyn, sym = b.dynsym, b.symtab
        listing = Listing(where, b.elf_type, b.kind, b.machine_name, rules, stripped=sym is None,
                          dynsym_count=len(dyn or ()), symtab_count=len(sym or ()))
        pats = list(patterns or [])
        hit = {p: False for p in pats}

        def wanted(s: Symbol) -> bool:
            if not pats:
                return True
            ok = False
            for p in pats:
                if fnmatch.fnmatchcase(s.name, p) or fnmatch.fnmatchcase(s.versioned_name, p):
                    hit[p] = ok = True
            return ok

        merged: dict[tuple, list[Symbol]] = {}
        imports: dict[tuple, tuple] = {}
        exported: dict[tuple, tuple] = {}  # (name, value, shndx) -> key of the default-version dynsym row
        for s in list(dyn or ()) + list(sym or ()):
            if s.type not in (STT_FUNC, STT_GNU_IFUNC) or not s.name or not wanted(s):
                continue
            if not s.defined:
                imports.setdefault((s.name, s.version), (s.name, s.version, _library_of(b, s)))
                continue
            key = (s.name, s.version, s.default_version, s.value, s.shndx)
            if s.table == "dynsym" and s.default_version is not False:
                exported.setdefault((s.name, s.value, s.shndx), key)
            elif s.table == "symtab" and s.version is None and s.bind != 0:
                # the linker writes a default-version symbol into .symtab without its @@VERSION
                key = exported.get((s.name, s.value, s.shndx), key)
            merged.setdefault(key, []).append(s)
        path = where.sec_binary if "/" in where.sec_binary else where.path
        answers: dict[str, Offset | UprobeTargetError] = {}

        def answer(q: str):
            if q not in answers:
                try:
                    answers[q] = find_func_offset(b, q, rules)
                except UprobeTargetError as exc:
                    answers[q] = exc
            return answers[q]

        names: dict[tuple, int] = {}
        for key in merged:
            names[key[:2]] = names.get(key[:2], 0) + 1
        for (name, version, default, value, shndx), syms in sorted(
                merged.items(), key=lambda kv: (kv[0][0], kv[0][3], kv[0][1] or "")):
            s0 = syms[0]
            sec = b.section(shndx)
            offset = b.file_offset_by_section(s0)
            queries = [name] + ([s.raw_name for s in syms if s.raw_name != name] if version else [])
            if version and not any(q != name for q in queries):
                queries.append(f"{name}{'@@' if default else '@'}{version}")
            query, error, verdict = None, None, None
            for q in queries:
                a = answer(q)
                if isinstance(a, Offset) and offset is not None and a.offset == offset:
                    query = q
                    break
                if q == name:
                    error, verdict = _verdict(a)
            if query is not None:
                error = verdict = None
            if s0.type == STT_GNU_IFUNC:
                error = "an IFUNC resolver: libbpf matches STT_FUNC symbols only, and this code runs once at load"
                verdict = "ifunc: not matched"
            sec_text = None
            if query is not None and (rules != "1.1" or _SEC_FUNC_11.match(query)):
                sec_text = f"uprobe/{where.sec_binary}:{query}"
            ev = event_name(name, version if any(k[0] == name and k[1] != version for k in names) else None)
            if names[(name, version)] > 1:  # same-named functions (statics of several files): by offset
                ev = f"{ev[:MAX_EVENT_NAME - 8]}_{offset or 0:x}"
            listing.functions.append(FunctionRow(
                name=name, version=version, default_version=default, binding=s0.bind_name, type=s0.type_name,
                value=value, size=max(s.size for s in syms), section=sec.name if sec is not None else f"[{shndx}]",
                offset=offset, tables=tuple(sorted({s.table for s in syms})), query=query, libbpf_error=error,
                libbpf_verdict=verdict, sec=sec_text, ftrace=ftrace_line(path, offset, ev) if offset is not None else None))
        listing.imports = sorted(imports.values(), key=lambda t: (t[0], t[1] or ""))
        listing.unmatched = [p for p, ok in hit.items() if not ok]
        return listing


__all__ = ["DEFAULT_RULES", "FunctionRow", "Listing", "MalformedInput", "Offset", "UprobeTargetError",
           "event_name", "find_func_offset", "ftrace_line", "list_functions", "resolve_uprobe", "rules_for"]
