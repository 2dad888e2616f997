"""Expand chosen macros in a BPF C source, leaving everything else as written.

1. clang (libclang, ``clangfront``) parses the file for ``-target bpf`` and the
   chosen architecture, and reports the macro definitions in effect and the
   uses of macros in the file, in translation order.  A ``vmlinux.h`` missing
   from the include path is printed from BTF (``vmlinux``); a large one is
   loaded precompiled (``pch``).
2. The file is split into preprocessing tokens (``lexer``) that keep their
   byte offsets.  Each use of a chosen macro that clang saw (so nothing in an
   ``#if 0`` branch or a ``#define``) is expanded from that token by our
   expander (``macros``), using for every name the last definition clang
   recorded before the use.
3. Each expansion is laid out as C (``formatter``) at the indentation of its
   line and put in place of the text it replaces.  The rest of the file,
   comments included, is copied byte for byte.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field

from bpfinspect.errors import EnvironmentProblem, MalformedInput, UsageError
from bpfinspect.expand import clangfront
from bpfinspect.expand.formatter import detect_indent_unit, format_expansion
from bpfinspect.expand.lexer import Tok, lex
from bpfinspect.expand.macros import ExpandError, Expander, MacroDef, parse_definition
from bpfinspect.expand.vmlinux import ensure_vmlinux_dir, find_on_path, included_vmlinux
from bpfinspect.fileio import read_input

# A BPF source is kilobytes (vmlinux.h, which is made here, not read, is a few MB): larger
# sources are refused before clang sees them, and the expanded text is bounded too.
MAX_SOURCE = 16 << 20
MAX_OUTPUT = 64 << 20

DEFAULT_MACROS = (
    "SEC",
    "BPF_KPROBE", "BPF_KRETPROBE", "BPF_KSYSCALL", "BPF_KPROBE_SYSCALL",
    "BPF_UPROBE", "BPF_URETPROBE",
    "BPF_PROG", "BPF_PROG2",
    "BPF_CORE_READ", "BPF_CORE_READ_USER", "BPF_PROBE_READ", "BPF_PROBE_READ_USER",
    "BPF_CORE_READ_INTO", "BPF_CORE_READ_USER_INTO", "BPF_PROBE_READ_INTO", "BPF_PROBE_READ_USER_INTO",
    "BPF_CORE_READ_STR_INTO", "BPF_CORE_READ_USER_STR_INTO", "BPF_PROBE_READ_STR_INTO",
    "BPF_PROBE_READ_USER_STR_INTO", "BPF_CORE_READ_BITFIELD", "BPF_CORE_READ_BITFIELD_PROBED",
    "bpf_core_read", "bpf_core_read_user", "bpf_core_read_str", "bpf_core_read_user_str",
    "bpf_printk",
    "__uint", "__type", "__array",
)


@dataclass
class Site:
    """One expanded use.  Lines and columns are 1-based byte positions like
    clang's; ``end_line``/``end_column`` point just past the last character."""

    line: int
    column: int
    end_line: int
    end_column: int
    macro: str
    original: str
    expansion: str
    start: int = field(repr=False, default=0)        # offsets in the original text
    end: int = field(repr=False, default=0)
    out_start: int = field(repr=False, default=0)    # offsets in the expanded text
    out_end: int = field(repr=False, default=0)
    tokens: list[Tok] = field(repr=False, default_factory=list)
    top_level: bool = field(repr=False, default=True)  # outside any brace in the file

    def as_json(self) -> dict:
        return {"line": self.line, "column": self.column, "end_line": self.end_line,
                "end_column": self.end_column, "macro": self.macro, "original": self.original,
                "expansion": self.expansion}


@dataclass
class ExpandResult:
    path: str
    arch: str
    original: str          # latin-1 decoded bytes of the source
    expanded: str          # same encoding
    sites: list[Site]
    clang_args: list[str]
    warnings: list[str] = field(default_factory=list)   # uses left as written, and why

    @staticmethod
    def as_text(s: str) -> str:
        """Back from the internal one-byte-per-character form to text; bytes that are not
        UTF-8 become lone surrogates (``surrogateescape``), so writing the text with that
        error handler gives back exactly the bytes of the source."""
        return s.encode("latin-1").decode("utf-8", "surrogateescape")

    def first_invalid_utf8(self) -> tuple[int, int, bytes] | None:
        """(line, column, bytes) of the first bytes of the source that are not UTF-8, or None."""
        raw = self.original.encode("latin-1")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            return line, column, raw[exc.start:exc.end]
        return None


class _Definitions:
    """Macro definitions by name, as clang recorded them, parsed on demand."""

    def __init__(self, parsed: clangfront.ParsedSource) -> None:
        self.by_name = parsed.definitions
        self.cache: dict[int, MacroDef | None] = {}
        self.files: dict[str, str] = {}

    def at(self, name: str, order: int) -> MacroDef | None:
        """The definition of ``name`` in effect at preprocessing-record position ``order``."""
        entries = self.by_name.get(name)
        if not entries:
            return None
        chosen = None
        for entry_order, cursor in entries:
            if entry_order >= order:
                break
            chosen = (entry_order, cursor)
        if chosen is None:
            return None
        key = chosen[0]
        if key not in self.cache:
            self.cache[key] = self._parse(chosen[1])
        return self.cache[key]

    def _parse(self, cursor) -> MacroDef | None:
        extent = cursor.extent
        f = extent.start.file
        if f is not None:
            name = f.name
            text = self.files.get(name)
            if text is None:
                try:
                    with open(name, "rb") as fh:
                        text = fh.read().decode("latin-1")
                except OSError:
                    text = None
                self.files[name] = text or ""
            if text:
                toks = lex(text, start=extent.start.offset, end=extent.end.offset)
                return parse_definition(toks)
        # Built-in and command-line macros: ask clang for the tokens.
        toks = []
        last_end = None
        for ct in cursor.get_tokens():
            if ct.kind.name == "COMMENT":
                continue
            ext = ct.extent
            piece = lex(ct.spelling)
            if not piece:
                continue
            tok = piece[0]
            tok.ws = last_end is not None and ext.start.offset > last_end
            last_end = ext.end.offset
            toks.append(tok)
        return parse_definition(toks)


def _site_brace_depths(tokens: list[Tok]) -> list[int]:
    depth = 0
    out = []
    for t in tokens:
        out.append(depth)
        if t.directive:
            continue
        if t.text == "{" or t.text == "<%":
            depth += 1
        elif (t.text == "}" or t.text == "%>") and depth > 0:
            depth -= 1
    return out


def expand_source(path: str, *, macros: list[str] | None = None, keep: list[str] = (),
                  arch: str | None = None, include_dirs: list[str] = (), defines: list[str] = (),
                  btf_path: str | None = None, resource_dir: str | None = None) -> ExpandResult:
    """Expand the uses of ``macros`` (default: DEFAULT_MACROS; ``"default"`` in
    the list stands for them) in the C file ``path`` as clang preprocesses it for
    ``-target bpf -D__TARGET_ARCH_<arch>``.  Macros in ``keep`` stay as written
    inside expansions.  A ``vmlinux.h`` the source includes and the include path
    lacks is printed from ``btf_path`` (default: the running kernel's BTF)."""
    arch = arch or clangfront.host_arch()
    if arch not in clangfront.ARCHES:
        raise UsageError(f"unknown architecture {arch!r} (one of: {', '.join(clangfront.ARCHES)})")
    raw = read_input(path, limit=MAX_SOURCE)  # refused from its size when larger
    text = raw.decode("latin-1")

    include_dirs = list(include_dirs)
    extra_dirs: list[str] = []
    warnings: list[str] = []
    header = None  # the vmlinux.h the source gets
    wanted = included_vmlinux(text)
    if wanted is not None:
        name, quoted = wanted
        source_dir = os.path.dirname(os.path.abspath(path)) if quoted else None
        found = find_on_path(name, source_dir, include_dirs)
        if found is None and not _plain_relative(name):
            pass  # "../x/vmlinux.h" or an absolute path: nothing to provide, clang will say
        elif found is None:
            extra_dirs.append(ensure_vmlinux_dir(name, btf_path))
            header = os.path.join(extra_dirs[-1], name)
        else:
            header = found
        if found is not None and btf_path:
            warnings.append(f"--btf {btf_path} not used: the source gets {name} from {found}")
    elif btf_path:
        warnings.append(f"--btf {btf_path} not used: the source does not include vmlinux.h")

    if resource_dir is None:
        resource_dir = clangfront.find_resource_dir(clangfront.libclang_major())
    args = clangfront.clang_args(arch, include_dirs, list(defines), extra_include_dirs=extra_dirs,
                                 resource_dir=resource_dir)
    try:
        parsed = clangfront.parse(path, args, prefix_header=header)
    except clangfront.SourceDiagnostics as exc:
        if resource_dir is None and any(h in line for line in exc.lines
                                        for h in ("'stddef.h'", "'stdbool.h'", "'stdint.h'", "'stdarg.h'")):
            raise EnvironmentProblem(
                "clang's resource headers (stddef.h...) were not found: install clang, or point "
                "BPFINSPECT_CLANG_RESOURCE_DIR at a directory holding include/stddef.h") from None
        if any("Must specify a BPF target arch" in line for line in exc.lines):
            exc.lines.append(f"note: the bpf_tracing.h on the include path does not know "
                             f"__TARGET_ARCH_{arch} (a newer libbpf may; add it with -I)")
        raise

    chosen = set(DEFAULT_MACROS if macros is None else _resolve_macro_names(macros))
    keep_set = frozenset(keep)
    tokens = lex(text, keep_positions=True)
    by_offset = {t.start: t.pos for t in tokens}
    depths = _site_brace_depths(tokens)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    unit = detect_indent_unit(text)
    defs = _Definitions(parsed)

    def position(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(line_starts, offset)
        return line, offset - line_starts[line - 1] + 1

    sites: list[Site] = []
    consumed = 0
    for use in sorted(parsed.sites, key=lambda s: s.offset):
        if use.name not in chosen or use.name in keep_set:
            continue
        idx = by_offset.get(use.offset)
        if idx is None or idx < consumed or tokens[idx].directive or tokens[idx].text != use.name:
            continue
        line, col = position(tokens[idx].start)
        order = use.order
        expander = Expander(lambda name, _o=order: defs.at(name, _o), keep=keep_set, line=line,
                            file_name=path)
        try:
            result = expander.expand_at(tokens, idx)
        except ExpandError as exc:
            warnings.append(f"{path}:{line}:{col}: {use.name} left as written: {exc}")
            continue
        if result is None:
            continue
        out_toks, end_idx = result
        consumed = end_idx
        start = tokens[idx].start
        end = tokens[end_idx - 1].end
        end_line, end_col = position(end)
        sites.append(Site(line=line, column=col, end_line=end_line, end_column=end_col,
                          macro=use.name, original=text[start:end], expansion="",
                          start=start, end=end, tokens=out_toks, top_level=depths[idx] == 0))

    pieces = []
    pos = 0
    out_len = 0
    for site in sites:
        pieces.append(text[pos:site.start])
        out_len += site.start - pos
        line_begin = line_starts[site.line - 1]
        prefix = text[line_begin:site.start]
        indent = prefix[:len(prefix) - len(prefix.lstrip(" \t"))]
        body, break_due = format_expansion(site.tokens, indent=indent, unit=unit,
                                           line_start=not prefix.strip(),
                                           top_level=site.top_level,
                                           first_column=len(prefix.expandtabs(8)))
        pieces.append(body)
        # the use on its own: continuation lines without the line's indentation
        site.expansion = "\n".join(line[len(indent):] if line.startswith(indent) else line
                                   for line in body.split("\n"))
        site.out_start = out_len
        out_len += len(body)
        if out_len > MAX_OUTPUT:
            raise MalformedInput(f"the expansion grows beyond {MAX_OUTPUT >> 20} MiB", path=path)
        site.out_end = out_len
        pos = site.end
        if break_due:
            nl = text.find("\n", pos)
            rest = text[pos:nl if nl >= 0 else len(text)]
            if rest.strip() and not rest.lstrip().startswith(("//", "/*")):
                pieces.append("\n" + indent)
                out_len += 1 + len(indent)
                pos += len(rest) - len(rest.lstrip(" \t"))
    pieces.append(text[pos:])
    if out_len + len(text) - pos > MAX_OUTPUT:
        raise MalformedInput(f"the expansion grows beyond {MAX_OUTPUT >> 20} MiB", path=path)
    return ExpandResult(path=path, arch=arch, original=text, expanded="".join(pieces), sites=sites,
                        clang_args=args, warnings=warnings)


def _plain_relative(name: str) -> bool:
    """A path that stays below the directory it is joined to."""
    parts = name.split("/")
    return not os.path.isabs(name) and ".." not in parts and all(parts)


def _resolve_macro_names(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for part in name.split(","):
            part = part.strip()
            if not part:
                continue
            if part == "default":
                out.extend(DEFAULT_MACROS)
            else:
                out.append(part)
    return out
