"""Plain-text and JSON renderings of an expansion (colours are the CLI's job)."""

from __future__ import annotations

import difflib

from bpfinspect.errors import MalformedInput
from bpfinspect.expand.core import ExpandResult

JSON_SCHEMA = 1


def diff_text(result: ExpandResult) -> str:
    """Unified diff from the original source to the expanded one."""
    before = result.as_text(result.original).splitlines(keepends=True)
    after = result.as_text(result.expanded).splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(before, after, fromfile=result.path,
                                     tofile=f"{result.path} (expanded, {result.arch})"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        lines.append(line)
    return "".join(lines)


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


def sites_text(result: ExpandResult) -> str:
    """Each expanded use: ``file:line:col: MACRO``, the use, and its expansion."""
    parts = []
    for site in result.sites:
        parts.append(f"{result.path}:{site.line}:{site.column}: {site.macro}\n")
        parts.append(_indent(result.as_text(site.original)) + "\n")
        parts.append("  expands to:\n")
        parts.append(_indent(result.as_text(site.expansion)) + "\n\n")
    return "".join(parts)


def json_document(result: ExpandResult) -> dict:
    """Schema 1: ``{"schema", "file", "arch", "sites": [...], "expanded"}``; each
    site has ``line``, ``column``, ``end_line``, ``end_column`` (1-based, byte
    columns, the end just past the use), ``macro``, ``original`` and
    ``expansion`` (laid out as C, without the indentation of its line).

    JSON holds text: a source with bytes that are not UTF-8 is refused (the text views keep
    such bytes as they are)."""
    bad = result.first_invalid_utf8()
    if bad is not None:
        line, column, raw = bad
        raise MalformedInput(f"line {line}, column {column}: bytes that are not UTF-8 ({raw.hex(' ')}): "
                             f"--json carries text only; the other views keep such bytes as they are",
                             path=result.path)
    sites = []
    for site in result.sites:
        entry = site.as_json()
        entry["original"] = result.as_text(entry["original"])
        entry["expansion"] = result.as_text(entry["expansion"])
        sites.append(entry)
    return {
        "schema": JSON_SCHEMA,
        "file": result.path,
        "arch": result.arch,
        "sites": sites,
        "expanded": result.as_text(result.expanded),
    }


# -- expand --no-core ---------------------------------------------------------------------------

def nocore_diff_text(result) -> str:
    """Unified diff from the original source to its rewrite without CO-RE."""
    with open(result.path, "rb") as f:
        before = f.read().decode("utf-8", "surrogateescape").splitlines(keepends=True)
    after = result.as_text(result.text).splitlines(keepends=True)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in difflib.unified_diff(before, after, fromfile=result.path,
                                                    tofile=f"{result.path} (without CO-RE, {result.target})"))


def nocore_sites_text(result) -> str:
    """Each rewritten CO-RE use: where (in the original), what, the value and where it came from."""
    parts = []
    for w in result.rewrites:
        parts.append(f"{result.path}:{w.line}:{w.column}: {w.kind} {w.path} = {w.value}"
                     f"{'  (' + w.target_spec + ')' if w.target_spec else '  (not in the target)'}\n")
    return "".join(parts)


def nocore_json(result) -> dict:
    """Schema 1: ``{"schema", "file", "target", "rewrites": [{"line", "column", "builtin", "kind",
    "path", "value", "target_spec", "original", "replacement"}], "rewritten"}``; ``line`` and
    ``column`` (1-based) are those of the use in the original source (the macro's use, for
    a builtin a macro produced).  A source with bytes that are not UTF-8 is refused, as by
    :func:`json_document`."""
    try:
        result.text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"bytes that are not UTF-8 ({exc.object[exc.start:exc.end].hex(' ')}): "
                             f"--json carries text only; the other views keep such bytes as they are",
                             path=result.path) from None
    return {
        "schema": JSON_SCHEMA,
        "file": result.path,
        "target": result.target,
        "rewrites": [{"line": w.line, "column": w.column, "builtin": w.builtin, "kind": w.kind, "path": w.path,
                      "value": w.value, "target_spec": w.target_spec or None,
                      "original": result.as_text(w.original), "replacement": result.as_text(w.replacement)}
                     for w in result.rewrites],
        "rewritten": result.as_text(result.text),
    }
