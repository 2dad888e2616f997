"""Views of a BTF blob: the raw dump, the C header, and the JSON type records.

``raw`` and ``c`` text are byte-compatible with ``bpftool btf dump file X
format raw|c`` (7.1).  On a terminal the text is highlighted with rich when
it is small enough to be read there; piped output is always the plain bytes
(and never imports rich).

JSON (``--json``, schema 1)::

    {"schema": 1, "types": [{"id": 1, "kind": "INT", "name": "int", "size": 4,
                             "bits_offset": 0, "nr_bits": 32, "encoding": "SIGNED"}, ...]}

Small documents are indented; beyond 5000 types (a kernel) the document is
written on one line.  Each record has ``id``, ``kind``, ``name`` (``"(anon)"`` when unnamed, as
bpftool writes it) and the fields of ``bpftool -j btf dump``: ``type_id``
(PTR TYPEDEF VOLATILE CONST RESTRICT TYPE_TAG FUNC VAR DECL_TAG),
``size``/``bits_offset``/``nr_bits``/``encoding`` (INT), ``type_id``/
``index_type_id``/``nr_elems`` (ARRAY), ``size``/``vlen``/``members`` [{``name``,
``type_id``, ``bits_offset``, ``bitfield_size`` when a bitfield}] (STRUCT UNION),
``encoding``/``size``/``vlen``/``values`` [{``name``, ``val``}] (ENUM ENUM64),
``fwd_kind`` (FWD), ``linkage`` (FUNC VAR), ``ret_type_id``/``vlen``/``params``
[{``name``, ``type_id``}] (FUNC_PROTO), ``size``/``vlen``/``vars`` [{``type_id``,
``offset``, ``size``}] (DATASEC), ``size`` (FLOAT), ``component_idx`` (DECL_TAG).
"""

from __future__ import annotations

import sys

from bpfinspect.btf.kinds import ENUM, ENUM64, FLOAT, FWD, INT, STRUCT, TYPEDEF, UNION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf.table import Table

SCHEMA = 1
# Beyond this many characters a terminal gets plain text (highlighting vmlinux.h takes long).
_HIGHLIGHT_LIMIT = 256 * 1024

_PREFIXES = {"struct": (STRUCT,), "union": (UNION,), "enum": (ENUM, ENUM64)}
# Kinds --type takes as roots of a C rendering (what C can define or name).
_C_ROOT_KINDS = (INT, STRUCT, UNION, ENUM, FWD, TYPEDEF, FLOAT, ENUM64)


def find_named(table: Table, name: str, *, c_roots: bool = False) -> list[int]:
    """Ids of the types called ``name`` (``struct foo``/``union foo``/``enum foo`` narrow the kind)."""
    kinds = None
    words = name.split(None, 1)
    if len(words) == 2 and words[0] in _PREFIXES:
        kinds = _PREFIXES[words[0]]
        name = words[1].strip()
    w, pos, strs, kk = table.w, table.pos, table.strs.load_all(), table.kind
    lo = table.start_id if not c_roots else 1
    found = []
    for tid in range(lo, table.count + 1):
        off = w[pos[tid]]
        if off and strs[off] == name:
            k = kk[tid]
            if kinds is not None and k not in kinds:
                continue
            if c_roots and k not in _C_ROOT_KINDS:
                continue
            found.append(tid)
    return found


def func_ids(table: Table) -> dict[str, int]:
    """Name -> id of every FUNC of the table (the first of a name), for calling kfuncs by name."""
    from bpfinspect.btf.kinds import Kind

    w, pos, strs, kk = table.w, table.pos, table.strs.load_all(), table.kind
    out: dict[str, int] = {}
    func = int(Kind.FUNC)
    for tid in range(table.start_id, table.count + 1):
        if kk[tid] == func:
            off = w[pos[tid]]
            if off:
                out.setdefault(strs[off], tid)
    return out


def type_names(table: Table) -> set[str]:
    """The names the table's types carry (to suggest one for a mistyped name)."""
    w, pos, strs = table.w, table.pos, table.strs.load_all()
    names = set()
    for tid in range(table.start_id, table.count + 1):
        off = w[pos[tid]]
        if off:
            names.add(strs[off])
    return names


def raw(btf, ids=None, table: Table | None = None) -> str:
    from bpfinspect.btf.raw import raw_text
    return raw_text(btf, ids, table=table)


def raw_bytes(btf, ids=None, table: Table | None = None) -> bytes:
    """The raw listing as the bytes to write (its names are never decoded)."""
    from bpfinspect.btf.raw import raw_bytes
    return raw_bytes(btf, ids, table=table)


def c(btf, ids=None, *, guards: bool = True, sort: bool = False, table: Table | None = None) -> str:
    from bpfinspect.btf.c_dump import CDumper
    return CDumper(btf, table).dump(ids, guards=guards, sort=sort)


def to_json(btf, ids=None, table: Table | None = None) -> dict:
    from bpfinspect.btf.raw import raw_records
    return {"schema": SCHEMA, "types": raw_records(btf, ids, table=table)}


# Beyond this many types the JSON is written compactly: the indenting encoder is pure Python
# and would take seconds on a kernel's BTF.
_INDENT_LIMIT = 5000


def write_json(doc: dict, stream=None) -> None:
    """The JSON document: indented like the other commands, compact (one line) for kernel-sized BTF."""
    stream = stream or sys.stdout
    from bpfinspect.views import jsonout
    if len(doc.get("types", ())) <= _INDENT_LIMIT:
        jsonout.emit(doc, stream)
        return
    stream.write(jsonout.compact(doc))
    stream.write("\n")


def write_text(text: str | bytes, fmt: str, stream=None) -> None:
    """Print ``text`` (str, or the bytes of it): highlighted on a terminal when small, else the
    exact bytes."""
    stream = stream or sys.stdout
    if len(text) <= _HIGHLIGHT_LIMIT:
        from bpfinspect.views.term import use_color
        if use_color(stream):
            if type(text) is bytes:
                text = text.decode("utf-8", "surrogateescape")
            _write_rich(text, fmt, stream)
            return
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        from bpfinspect.fileio import write_encoded

        stream.flush()
        write_encoded(buf.write, text)
        buf.flush()
    else:
        stream.write(text if type(text) is str else text.decode("utf-8", "surrogateescape"))


def _write_rich(text: str, fmt: str, stream) -> None:
    from bpfinspect.views.term import console as make_console
    console = make_console(stream, highlight=False, soft_wrap=True)
    if fmt == "c":
        from rich.syntax import Syntax
        console.print(Syntax(text, "c", theme="ansi_dark", background_color="default", tab_size=8), end="")
        return
    from rich.text import Text
    t = Text(text)
    t.highlight_regex(r"(?m)^\[\d+\]", "bold cyan")
    t.highlight_regex(r"(?<=\] )[A-Z_0-9]+", "bold magenta")
    t.highlight_regex(r"'[^'\n]*'", "green")
    console.print(t, end="")
