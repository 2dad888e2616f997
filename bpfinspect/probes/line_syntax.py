"""The pieces of a probe line as the kernel reads them: grammar, numbers, names.

Words are parsed by ``probe_line.lark`` (:func:`parse`, one start rule per kind
of word; :class:`Syntax` says where it stopped); numbers are read as the
kernel's ``kstrtoul``/``kstrtol``/``simple_strtoul`` read them (decimal, ``0x``
hex, ``0`` octal); event, group and argument names follow the kernel's
rules, and ``[GROUP/]EVENT`` is split and checked as
``traceprobe_parse_event_name`` does (:func:`event_spec`).  lark is imported
only when a line is parsed.
"""

from __future__ import annotations

import functools
import re

from bpfinspect.probes.line_model import MAX_EVENT_NAME_LEN, LineError

# ---------------------------------------------------------------- the grammar

@functools.lru_cache(maxsize=1)
def _parser():
    from bpfinspect.lalr import parser

    return parser(__file__, "probe_line.lark", start=["head", "remove", "uplace", "kplace", "fetch", "type"],
                  propagate_positions=True, maybe_placeholders=False)


class Syntax(Exception):
    """Where lark stopped reading a piece (index into the piece) and what it met."""

    def __init__(self, pos: int, found: str) -> None:
        self.pos = pos
        self.found = found


def parse(text: str, start: str):
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

    try:
        return _parser().parse(text, start=start)
    except UnexpectedCharacters as exc:
        raise Syntax(exc.pos_in_stream, text[exc.pos_in_stream]) from None
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise Syntax(len(text), "") from None
        raise Syntax(exc.token.start_pos, str(exc.token)) from None
    except UnexpectedEOF:
        raise Syntax(len(text), "") from None
    except UnexpectedInput as exc:  # the kinds above are all lark raises; keep a position anyway
        raise Syntax(getattr(exc, "pos_in_stream", 0) or 0, "") from None


def tokens(tree) -> dict:
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


def simple_strtoul(text: str) -> tuple[int, int]:
    """simple_strtoul(s, &end, 0): the value and how many characters it read."""
    m = re.match(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", text)
    return (_int(m.group(0)), len(m.group(0))) if m else (0, 0)


def good_name(name: str) -> bool:
    """An event or argument name: a C identifier."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def good_system_name(name: str) -> bool:
    """A group name: a C identifier that may also hold '-'."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name))


def event_spec(line: str, col: int, spec: str) -> tuple[str | None, str | None]:
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
