"""Section names -> what libbpf makes of them."""

from __future__ import annotations

import functools
from collections import namedtuple

from .table import INSTALLED_LIBBPF, SECTION_TABLE, WORD_KEYS, SecDef, version_key


class SectionSpec(namedtuple("SectionSpec", "name known prog_type attach_type pattern target parts sleepable "
                                          "autoload auto_attach libbpf_since frags error")):
    """What libbpf makes of one program section name.

    ``known`` is False for a name libbpf's table does not match; such a name
    has no program type (it is never guessed).  ``error`` explains a name
    that uses a known prefix wrongly, or whose attach target libbpf could not
    read.  ``parts`` are the (key, value) pairs of the name's attach target.
    """
    __slots__ = ()

    def part(self, key: str) -> str | None:
        for k, v in self.parts:
            if k == key:
                return v
        return None

    @property
    def attach_kind(self) -> str | None:
        """libbpf's attach kind (kprobe, kretprobe, uprobe, uretprobe, usdt, tp_btf, fentry...)."""
        if self.pattern is None:
            return None
        from .table import attach_kind_of

        return attach_kind_of(self.pattern, self.sleepable)

    @property
    def retprobe(self) -> bool | None:
        """For probe kinds, whether it is a return probe; None where that does not apply."""
        from .table import RETPROBE

        return RETPROBE.get(self.attach_kind) if self.attach_kind else None

    @property
    def supported_by_installed(self) -> bool:
        return installed_libbpf_accepts(self)


def _matches(entry: SecDef, name: str) -> bool:
    pat = entry.pattern
    if pat.endswith("/"):
        return name.startswith(pat)
    if pat.endswith("+"):
        base = pat[:-1]
        if not name.startswith(base):
            return False
        rest = name[len(base):]
        return rest == "" or rest[0] == "/"
    return name == pat


# (str methods rather than re here: `sections` reads every name and imports nothing it can do without)
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _first_word(name: str) -> str:
    """The longest start of ``name`` made of ASCII letters, digits and "_"."""
    for i, c in enumerate(name):
        if c not in _WORD_CHARS:
            return name[:i]
    return name


@functools.lru_cache(maxsize=1)
def _entries_by_word() -> dict[str, tuple[SecDef, ...]]:
    """The table's entries (in table order) by the word their pattern starts with.  A name can
    only match an entry whose pattern starts with the name's own first word: a pattern ending
    in "/" has that word before its slash, the others match the name whole or up to a "/"."""
    out: dict[str, list[SecDef]] = {}
    for entry in SECTION_TABLE:
        out.setdefault(_first_word(entry.pattern), []).append(entry)
    return {word: tuple(entries) for word, entries in out.items()}


@functools.lru_cache(maxsize=4096)
def match_entry(name: str) -> SecDef | None:
    """The first table entry matching ``name`` (without any leading '?')."""
    for entry in _entries_by_word().get(_first_word(name), ()):
        if _matches(entry, name):
            return entry
    return None


def program_type_of(name: str) -> str | None:
    """libbpf's program type for a section name, without parsing its target."""
    entry = match_entry(name[1:] if name.startswith("?") else name)
    return entry.prog_type if entry else None


def is_program_section(name: str) -> bool:
    """Would libbpf make programs from an executable section of this name?

    libbpf turns every non-empty executable section into programs, except
    ``.text``, whose functions are subprograms.  A name libbpf's table does not
    know still makes programs (of no type: the user must set one before load).
    """
    return bool(name) and name != ".text"


def installed_libbpf_accepts(spec: SectionSpec, version: str = INSTALLED_LIBBPF) -> bool:
    """Would libbpf ``version`` (default: the installed 1.1) accept this name?"""
    if not spec.known or spec.libbpf_since is None:
        return False
    return version_key(spec.libbpf_since) <= version_key(version)


@functools.lru_cache(maxsize=1)
def _parser():
    from bpfinspect.lalr import parser  # lark is imported only when a target has to be read

    # LALR with the contextual lexer: each parser state only admits the terminals that can
    # follow, which is what tells a path from a function name here; a hundred times faster
    # than Earley on the thousands of names a large object has.
    return parser(__file__, "targets.lark", start=["kprobe", "uprobe", "uprobe_multi", "usdt", "glob",
                                                   "btf_func", "btf_multi", "tracepoint", "word"])


# Target kind -> grammar start rule (kinds sharing the plain word shape use "word").
_START = {kind: "word" for kind in WORD_KEYS}
_START["kretprobe"] = "kprobe"
_START.update({k: k for k in ("kprobe", "uprobe", "uprobe_multi", "usdt", "glob",
                              "btf_func", "btf_multi", "tracepoint")})

_RULE_KEYS = {
    "symbol": "function",
    "offset": "offset",
    "address": "offset",
    "path": "path",
    "provider": "provider",
    "name": "name",
    "category": "category",
    "module": "module",
    "pattern": "glob",
}

_KIND_TEXT = {
    "kprobe": "<function>[+<offset>]",
    "kretprobe": "<function>",
    "uprobe": "<path>:<function>[+<offset>]",
    "uprobe_multi": "<path>:<glob>",
    "usdt": "<path>:<provider>:<name>",
    "glob": "<glob>",
    "btf_func": "[<module>:]<function>",
    "btf_multi": "[<module>:]<glob>",
    "tracepoint": "<category>/<name>",
}


# The commonest shapes (a function with an optional offset, a tracepoint's category and name, a
# plain word) read without the grammar: each reader below checks its start rule's terminals in sequence,
# so a text it matches whole parses, into the same parts, as the grammar parses it (a test
# compares the two); any other text goes to the grammar, which says what is wrong.
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.")
_IDENT = _IDENT_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_HEX = _DIGITS | frozenset("abcdefABCDEF")


def _plain_function(text: str) -> tuple[tuple[str, str], ...] | None:
    """FUNCTION[+OFFSET]: FUNCTION ``[A-Za-z_.][A-Za-z0-9_.]*``, OFFSET ``0[xX]HEX+`` or ``DIGIT+``."""
    function, plus, offset = text.partition("+")
    if not function or function[0] not in _IDENT_START or not _IDENT.issuperset(function):
        return None
    if not plus:
        return (("function", function),)
    if offset[:2] in ("0x", "0X") and len(offset) > 2 and _HEX.issuperset(offset[2:]):
        return (("function", function), ("offset", offset))
    if offset and _DIGITS.issuperset(offset):
        return (("function", function), ("offset", offset))
    return None


def _plain_tracepoint(text: str) -> tuple[tuple[str, str], ...] | None:
    """CATEGORY/NAME: CATEGORY without ":" or "/", NAME anything on one line."""
    category, slash, name = text.partition("/")
    if not category or ":" in category or not name or "\n" in name:
        return None
    return (("category", category), ("name", name))


_PLAIN = {"kprobe": _plain_function, "tracepoint": _plain_tracepoint}


def _plain_parts(start: str, kind: str, text: str) -> tuple[tuple[str, str], ...] | None:
    if start == "word":
        return ((WORD_KEYS[kind], text),) if text and ":" not in text and "/" not in text else None
    plain = _PLAIN.get(start)
    return None if plain is None else plain(text)


def _read_target(kind: str, text: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """Parts of an attach target, or an error text."""
    start = _START[kind]
    parts = _plain_parts(start, kind, text)
    if parts is None:
        parts = _grammar_parts(start, kind, text)
        if parts is None:
            shape = _KIND_TEXT.get(kind, "<" + WORD_KEYS.get(kind, "name") + ">")
            return (), f"attach target {text!r} does not read as {shape}"
    return _checked(kind, parts)


def _grammar_parts(start: str, kind: str, text: str) -> tuple[tuple[str, str], ...] | None:
    """The parts of ``text`` as the grammar reads it from ``start``; None when it does not."""
    from lark.exceptions import LarkError

    try:
        tree = _parser().parse(text, start=start)
    except LarkError:
        return None
    if start == "word":
        return ((WORD_KEYS[kind], str(tree.children[0])),)
    return tuple((_RULE_KEYS[sub.data], str(sub.children[0])) for sub in tree.iter_subtrees_topdown()
                 if sub.data in _RULE_KEYS)


def _checked(kind: str, parts: tuple[tuple[str, str], ...]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    if kind == "kretprobe" and any(k == "offset" for k, _ in parts):
        return (), "return probes take no offset"
    return parts, None


# Names libbpf before 1.0 accepted under another spelling.
_RENAMED = {"xdp_devmap/": "xdp/devmap", "xdp_cpumap/": "xdp/cpumap"}


def _misuse(name: str) -> str | None:
    """Explain an unknown name that starts like a known entry."""
    head = name.split("/", 1)[0]
    related = [e.pattern for e in SECTION_TABLE
               if e.base == head or e.base.startswith(head + "/")]
    if not related:
        for legacy, now in _RENAMED.items():
            if name.startswith(legacy):
                return f"'{legacy}' was renamed '{now}'; libbpf 1.0 and later reject it"
        older = next((e for e in SECTION_TABLE
                      if e.pattern[-1] not in "+/" and name.startswith(e.base)), None)
        if older is not None:
            return (f"libbpf before 1.0 read this as '{older.base}' (prefix match); "
                    "libbpf 1.0 and later reject it")
        return None
    if "/" in name and any(p == head for p in related) and not any(
            p.endswith("+") for p in related):
        others = [p for p in related if p != head]
        tail = f"; known forms: {', '.join(related)}" if others else ""
        return f"'{head}' takes no '/...' suffix{tail}"
    return f"unknown '{head}' section; known forms: {', '.join(related)}"


def _unknown(name: str, autoload: bool, bare: str) -> SectionSpec:
    return SectionSpec(name=name, known=False, prog_type=None, attach_type=None, pattern=None,
                       target=None, parts=(), sleepable=False, autoload=autoload,
                       auto_attach=False, libbpf_since=None, frags=False,
                       error=_misuse(bare))


@functools.lru_cache(maxsize=4096)
def parse_section(name: str) -> SectionSpec:
    """Read a program section name the way libbpf does (newest libbpf's table)."""
    autoload = True
    bare = name
    if bare.startswith("?"):
        autoload = False
        bare = bare[1:]
    entry = match_entry(bare)
    if entry is None:
        return _unknown(name, autoload, bare)

    target: str | None = None
    parts: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    auto_attach = False
    if entry.pattern.endswith("+"):
        rest = bare[len(entry.base):]
        if rest.startswith("/"):
            target = rest[1:]
    elif entry.pattern.endswith("/"):
        target = bare[len(entry.pattern):]

    if target is not None and entry.target is not None:
        if target == "":
            error = "empty attach target after '/'"
        else:
            parts, error = _read_target(entry.target, target)
        auto_attach = entry.attach and error is None

    return SectionSpec(name=name, known=True, prog_type=entry.prog_type,
                       attach_type=entry.attach_type, pattern=entry.pattern, target=target,
                       parts=parts, sleepable=entry.sleepable, autoload=autoload,
                       auto_attach=auto_attach, libbpf_since=entry.since, frags=entry.frags,
                       error=error)
