"""`disasm`: the instructions of every program, annotated with what they touch.

Every executable section comes from the object model already decoded
(:class:`bpfinspect.obj.CodeSection`: slots, label symbols, and the
instruction predicates), is printed by the per-opcode formatter table of
:mod:`bpfinspect.isa.printer`, and is cut into its programs and subprograms by
the model's functions (FUNC symbols); instructions no function covers are
listed under an entry named after the section (``xdp+0x40`` past its start),
so every instruction of every code section appears exactly once.

Annotations are collected per section into dicts keyed by (section, index)
from what the model already indexed for that section: its relocations, CO-RE
records and line info, plus what the instruction itself says (helper,
unrelocated call, callback address, pseudo load, packet offset, branch
target, raw-data warning).  Every lookup is a dict or a bisection, so the
listing grows linearly with the object; the printing loops only look the
dicts up.  Nothing here reads the ELF file: section bytes (string literals)
come from the model's data sections.

Output forms:
  human (default)  llvm-style listing with source lines, labels and `; notes`,
                   coloured with rich on a terminal, plain when piped;
  --plain          instruction text only, the lossless form `bpfinspect asm` reads;
  --json           {"schema": 1, "file", "programs": [{"name", "section",
                   "offset", "instructions": [{"index", "text", "annotations"}]}]},
                   whatever is not a plain instruction encoded by one call of the
                   JSON encoder.
"""

from __future__ import annotations

import os
import stat
from bisect import bisect_left

from bpfinspect.errors import UsageError
from bpfinspect.isa import TargetNamer, render
from bpfinspect.isa import decode as isa
from bpfinspect.isa import opcodes as oc
from bpfinspect.isa.helpers import helper_name
from bpfinspect.isa.printer import plain_texts


class Entry:
    """One program (or an uncovered stretch of a code section) and its lines.

    ``lines`` are printer tuples (index, size, text, warning); ``plain`` the
    lossless texts in the same order (None when not asked for).
    """

    __slots__ = ("name", "section", "offset", "is_subprog", "lines", "plain")

    def __init__(self, name, section, offset, is_subprog, lines, plain=None):
        self.name = name
        self.section = section
        self.offset = offset                # byte offset in the section
        self.is_subprog = is_subprog
        self.lines = lines
        self.plain = plain


class Listing:
    """Entries plus what is shown around them, all keyed by (section, index):
    ``notes`` (annotation dicts {"kind", "text", ...}), ``sources`` (BTF line
    info shown before an instruction) and ``labels`` (branch target names)."""

    __slots__ = ("path", "entries", "notes", "sources", "labels")

    def __init__(self, path, entries, notes, sources, labels):
        self.path = path
        self.entries = entries
        self.notes = notes
        self.sources = sources
        self.labels = labels


# --- building ------------------------------------------------------------------------

def _exec_sections(obj) -> list:
    return [s for s in obj.sections if s.flags & 0x4 and s.size and s.type != "NOBITS"]


def build_listing(obj, *, section: str | None = None, prog: str | None = None,
                  annotate: bool = True, need_plain: bool = False, plain_only: bool = False) -> Listing:
    """The listing of an object model, with notes from its relocations, CO-RE records,
    BTF line info, maps and data sections when ``annotate`` is set.

    ``plain_only``: the lines carry the plain (lossless) text instead of llvm's."""
    sections = _exec_sections(obj)
    # Program boundaries are the model's functions (symbols only; obj.programs would also
    # read every section name and relocation, which disasm without notes does not need).
    ranges_of: dict[int, list] = {s.index: [] for s in sections}
    for f in obj.functions:
        if f.section_index in ranges_of:
            ranges_of[f.section_index].append((f.name, f.offset, f.size, f.is_subprog))
    if prog is not None:
        holder = [s for s in sections if any(r[0] == prog for r in ranges_of[s.index])]
        if not holder:
            obj.program(prog)  # raises the model's error naming the programs that exist
            raise UsageError(f"program {prog!r} has no code", path=obj.path)
        sections = holder[:1]
    elif section is not None:
        sections = [s for s in sections if s.name == section]
        if not sections:
            from bpfinspect.suggest import did_you_mean

            have = [s.name for s in _exec_sections(obj)]
            raise UsageError(f"no code section {section!r}" + (did_you_mean(section, have) or
                                                                f" (code sections: {', '.join(have) or 'none'})"),
                             path=obj.path)

    entries: list[Entry] = []
    notes: dict = {}
    sources: dict = {}
    labels: dict = {}
    for sec in sections:
        code = obj.code[sec.index]
        namer = TargetNamer(code.symbols, sec.name, section_addr=code.address, absolute=code.absolute_symbols)
        raw: list = []
        lines = render(code.slots, namer, raw=raw, plain=plain_only)
        plain = plain_texts(code.slots, lines) if need_plain and not plain_only else None
        ranges = ranges_of[sec.index]
        sec_entries = _split(sec.name, len(code), ranges, lines, plain)
        if prog is not None:
            sec_entries = [e for e in sec_entries if e.name == prog]
        entries.extend(sec_entries)
        if annotate:
            _annotate_section(obj, sec, code, lines, ranges, namer, notes, sources, labels)
        else:
            _warnings(sec.name, lines, notes, raw)
    return Listing(obj.path, entries, notes, sources, labels)


def _warnings(section: str, lines, notes: dict, raw: list) -> None:
    """Raw-data warnings are shown even without annotations: nothing is dropped silently."""
    for k in raw:
        i, size, text, warning = lines[k]
        _add(notes, (section, i), {"kind": "warning", "text": f"raw data: {warning}"})


def _split(section: str, nslots: int, ranges, lines, plain) -> list[Entry]:
    """Cut a section's lines into programs; uncovered stretches get their own entry.

    ``ranges``: (name, byte offset, byte size, is_subprog) sorted by offset."""
    bounds = []
    pos = 0
    for name, offset, size, is_sub in ranges:
        start = max(offset // 8, pos)
        end = min((offset + size) // 8, nslots)
        if end <= start:
            continue
        if start > pos:
            bounds.append((_gap_name(section, pos), pos, start, False))
        bounds.append((name, start, end, is_sub))
        pos = end
    if pos < nslots:
        bounds.append((_gap_name(section, pos), pos, nslots, False))
    keys = [line[0] for line in lines]
    texts = plain
    entries = []
    for name, start, end, sub in bounds:
        a, b = bisect_left(keys, start), bisect_left(keys, end)
        if a < b:
            entries.append(Entry(name, section, start * 8, sub, lines[a:b], texts[a:b] if texts is not None else None))
    return entries


def _gap_name(section: str, slot: int) -> str:
    return section if slot == 0 else f"{section}+{slot * 8:#x}"


def _add(notes: dict, key, note: dict) -> None:
    notes.setdefault(key, []).append(note)


def _annotate_section(obj, sec, code, lines, ranges, namer, notes, sources, labels) -> None:
    section = sec.name
    # Programs by start slot, to name call and callback targets without relocations.
    prog_at = {offset // 8: name for name, offset, size, is_sub in ranges}
    for r in obj.relocs_in(sec.index):
        note = _reloc_note(obj, r)
        if note is not None:
            _add(notes, (section, r.insn_index), note)
    slots = code.slots
    role = isa.ROLE
    for i, size, text, warning in lines:
        if warning is not None:
            _add(notes, (section, i), {"kind": "warning", "text": f"raw data: {warning}"})
            continue
        what = role[slots[i][0]]
        if what == isa.CALL:
            helper = code.helper(i)
            if helper is not None:
                name = helper_name(helper)
                _add(notes, (section, i), {"kind": "helper", "id": helper,
                                           "text": name if name else f"unknown helper {helper}"})
            elif obj.reloc_at(sec.index, i) is None:
                target = code.local_call(i)
                if target is not None:
                    _add(notes, (section, i), _target_note("subprog", "call", target, prog_at, namer))
                else:
                    btf_id = code.kfunc(i)
                    if btf_id is not None:
                        _add(notes, (section, i), {"kind": "kfunc", "btf_id": btf_id,
                                                   "text": f"kfunc btf id {btf_id}"})
        elif what == isa.WIDE:
            if size == 2 and obj.reloc_at(sec.index, i) is None:
                target = code.func_address(i)
                if target is not None:
                    _add(notes, (section, i), _target_note("callback", "callback", target, prog_at, namer))
                else:
                    src = slots[i][1] >> 4
                    if src != oc.PSEUDO_NONE:
                        _add(notes, (section, i), {"kind": "pseudo", "text": oc.PSEUDO_NAMES.get(src, str(src))})
        elif what == isa.IND_LOAD:
            op, regs, off, imm = slots[i]
            if imm:
                _add(notes, (section, i), {"kind": "offset", "text": f"packet offset r{regs >> 4} {imm:+#x}"})
        elif what == isa.BRANCH:
            target = code.jump_target(i)
            labels[(section, target)] = namer(target).strip(" <>")
    for c in obj.core_relos_in(section):
        _add(notes, (section, c.insn_index), {"kind": "core", "relo": c.kind, "text": f"CO-RE {c.describe}"})
    _source_lines(obj, section, sources)


def _target_note(kind: str, word: str, target: int, prog_at: dict, namer) -> dict:
    """A call or callback address whose target slot no relocation names: the function starting
    there, else llvm's label for it."""
    name = prog_at.get(target) or namer(target).strip(" <>")
    return {"kind": kind, "name": name, "target": target, "text": f"{word} {name}"}


def _reloc_note(obj, r) -> dict | None:
    kind = r.kind
    if kind == "map":
        return {"kind": "map", "name": r.target, "text": f"map {r.target}"}
    if kind == "global_data":
        return _global_note(obj, r)
    if kind == "subprog_call":
        return {"kind": "subprog", "name": r.target, "target": r.target_offset, "text": f"call {r.target}"}
    if kind == "callback":
        return {"kind": "callback", "name": r.target, "target": r.target_offset, "text": f"callback {r.target}"}
    if kind == "kfunc":
        return {"kind": "kfunc", "name": r.target, "text": f"kfunc {r.target}"}
    if kind in ("kconfig", "ksym"):
        return {"kind": "extern", "name": r.target, "extern": kind, "text": f"{kind} {r.target}"}
    if kind in ("map_slot", "struct_ops_prog", "data_pointer"):
        return None
    return {"kind": "reloc", "name": r.symbol, "text": f"relocation {r.elf_type_name} {r.symbol or r.target}"}


def _global_note(obj, r) -> dict:
    """A global data load: the variable and offset, or the section and offset (with the
    string literal there, for a string pool)."""
    section, offset = r.target_section, r.target_offset
    var_name = r.target if r.target != section else None
    if var_name is None:
        var = obj.variable_at(section, offset)
        if var is not None:
            var_name, offset = var.name, offset - var.offset
    note = {"kind": "global", "section": section, "offset": r.target_offset}
    text = _string_in(obj, section, offset, var_name)
    if text is not None:  # a string constant: shown as the C string (bpf_printk's format...)
        from bpfinspect.quote.c import readable_string

        note["string"] = text.decode("utf-8")
        shown = readable_string(text, limit=STRING_NOTE_LIMIT)
    if var_name is not None:
        note["name"] = var_name
        note["text"] = "global " + (f"{var_name}+{offset:#x}" if offset else var_name)
        if text is not None:  # a macro's hidden array (bpf_printk's ____fmt) is only its text
            note["text"] = shown if var_name.rsplit(".", 1)[-1].startswith("____") else f"{note['text']} {shown}"
        return note
    note["text"] = "global " + (f"{section}+{offset:#x}" if offset else section)
    if text is not None:
        note["text"] += " " + shown
    return note


# a string note shows this many characters at most (the JSON "string" has all of it)
STRING_NOTE_LIMIT = 120


def _string_in(obj, section: str, offset: int, var_name: str | None) -> bytes | None:
    """The C string a load of ``section+offset`` points to: in a string pool (.rodata.str*), or a
    read-only char array variable (the ``____fmt`` of bpf_printk, a ``const char[]``)."""
    if not section.startswith(".rodata"):
        return None
    dsec = obj.datasec(section)
    blob = dsec.initial if dsec is not None else None
    if blob is None:
        return None
    from bpfinspect.quote.c import is_char_array, string_at

    if section.startswith(".rodata.str") or var_name is None:
        return string_at(blob, offset) if section.startswith(".rodata.str") else None
    var = obj.variable(section, var_name)
    if var is None or not is_char_array(var.type):
        return None
    return string_at(blob[:var.offset + var.size], var.offset + offset)


_DISK_CACHE: dict = {}
# The object names the files; only what looks like a source file, is a regular file and is of a
# source file's size is read (never a device, a pipe, /etc/shadow or a log of gigabytes).
SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".inc")
MAX_SOURCE = 8 << 20


def _read_source(path: str) -> list[str] | None:
    if not path.endswith(SOURCE_SUFFIXES):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError):
        return None
    with open(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SOURCE:
            return None
        try:
            return fh.read(MAX_SOURCE).decode("utf-8", "replace").splitlines()
        except OSError:
            return None


def _disk_line(obj, file: str, line: int) -> str | None:
    """The source line from disk, when the file named in BTF exists (see :func:`_read_source`)."""
    candidates = [file]
    if obj.path and not os.path.isabs(file):
        base = os.path.dirname(os.path.abspath(obj.path))
        candidates += [os.path.join(base, file), os.path.join(base, "src", file)]
    for cand in candidates:
        if cand not in _DISK_CACHE:
            _DISK_CACHE[cand] = _read_source(cand)
        text = _DISK_CACHE[cand]
        if text is not None and 0 < line <= len(text):
            return text[line - 1]
    return None


def _source_lines(obj, section: str, sources: dict) -> None:
    try:
        infos = obj.line_info(section)
    except Exception:  # BTF.ext problems are reported by other commands; disasm still works
        return
    last = None
    for li in infos:
        if not li.line:
            continue
        key = (li.file, li.line)
        if key == last:
            continue
        last = key
        text, origin = li.line_text, "btf"
        if not text:
            disk = _disk_line(obj, li.file, li.line)
            if disk is not None:
                text, origin = disk, "disk"
        sources.setdefault((section, li.insn_off // 8), []).append(
            {"kind": "line", "file": li.file, "line": li.line, "col": li.col, "source": text,
             "origin": origin, "text": f"{li.file}:{li.line}"})


# --- output -------------------------------------------------------------------------------

def _marked(listing: Listing) -> dict[str, set]:
    """Section -> indexes that carry a note, a source line or a label."""
    marked: dict[str, set] = {}
    for d in (listing.notes, listing.sources, listing.labels):
        for sec, idx in d:
            marked.setdefault(sec, set()).add(idx)
    return marked


def _instructions(listing: Listing, e: Entry, here, only_marked: bool = False) -> list[dict]:
    """The JSON objects of one entry's instructions (``here``: its section's marked indexes;
    ``only_marked``: only those)."""
    notes, sources, labels = listing.notes, listing.sources, listing.labels
    plains = e.plain if e.plain is not None else [line[2] for line in e.lines]
    out = []
    app = out.append
    for (idx, size, text, warning), plain in zip(e.lines, plains):
        if idx in here:
            key = (e.section, idx)
            ann = list(sources.get(key, ()))
            label = labels.get(key)
            if label is not None:
                ann.append({"kind": "label", "text": label})
            ann.extend(notes.get(key, ()))
        elif only_marked:
            continue
        else:
            ann = []
        item = {"index": idx, "text": text, "annotations": ann}
        if plain != text:
            item["plain"] = plain
        app(item)
    return out


def to_json(listing: Listing) -> dict:
    from bpfinspect.views.jsonout import SCHEMA

    marked = _marked(listing)
    progs = [{"name": e.name, "section": e.section, "offset": e.offset, "subprogram": e.is_subprog,
              "instructions": _instructions(listing, e, marked.get(e.section, ()))}
             for e in listing.entries]
    return {"schema": SCHEMA, "file": listing.path, "programs": progs}


def write_json(listing: Listing, stream) -> None:
    """The to_json() document, one instruction object per line.

    Same document as ``json.dumps(to_json(listing), indent=2)`` would give, laid
    out so that each instruction is one compact line: readable, diffable.  The
    instructions without notes (most of them) are written directly; the file name,
    the program heads and the instructions with notes are encoded together by one
    call of the C encoder, and the result is cut back into its objects at the
    boundaries ``, {"name": `` and ``}, {"index": ``.  That cut is safe: every ``"`` inside a
    JSON string is escaped, so a sequence with a bare quote can only be the
    document's own structure (annotation objects begin with "kind", never with
    "name" or "index").
    """
    import json
    import re
    from json.encoder import encode_basestring

    from bpfinspect.views import jsonout
    from bpfinspect.views.jsonout import SCHEMA

    if jsonout.one_line:  # one document per line: the plain encoder, no layout to cut
        stream.write(jsonout.compact(to_json(listing)) + "\n")
        return
    marked = _marked(listing)
    objects: list[dict] = []  # program heads and noted instructions, in output order
    for e in listing.entries:
        objects.append({"name": e.name, "section": e.section, "offset": e.offset, "subprogram": e.is_subprog})
        here = marked.get(e.section, ())
        for item in _instructions(listing, e, here, only_marked=True):
            objects.append(item)
    encoder = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(", ", ": "))
    path, _, rest = encoder.encode([listing.path, *objects])[1:-1].partition(', {"name": ')
    # (the pattern starts with its literal "}, ", which the regular expression engine looks for
    # quickly; the cut takes the "}" of each part but the last, put back here)
    cut = re.split(r'\}, (?=\{"(?:name|index)": )', '{"name": ' + rest) if objects else []
    parts = iter([part + "}" for part in cut[:-1]] + cut[-1:])
    out = ["{", f'  "schema": {SCHEMA},', f'  "file": {path},', '  "programs": [']
    last = len(listing.entries) - 1
    for n, e in enumerate(listing.entries):
        out.append("    " + next(parts)[:-1] + ', "instructions": [')
        here = marked.get(e.section, ())
        plains = e.plain if e.plain is not None else [line[2] for line in e.lines]
        items = []
        app = items.append
        for (idx, size, text, warning), plain in zip(e.lines, plains):
            if idx in here:
                app("      " + next(parts))
            elif plain == text:
                app('      {"index": %d, "text": %s, "annotations": []}' % (idx, encode_basestring(text)))
            else:
                app('      {"index": %d, "text": %s, "annotations": [], "plain": %s}'
                    % (idx, encode_basestring(text), encode_basestring(plain)))
        out.append(",\n".join(items))
        out.append("    ]}" + ("," if n < last else ""))
    out.append("  ]")
    out.append("}")
    stream.write("\n".join(out) + "\n")


def plain_lines(listing: Listing, with_headers: bool) -> list[str]:
    out: list[str] = []
    section = None
    for e in listing.entries:
        if with_headers and e.section != section:
            out.append(f"# section {e.section}")
            section = e.section
        out.extend(e.plain if e.plain is not None else [line[2] for line in e.lines])
    return out


def _header(e: Entry) -> str:
    if e.is_subprog:
        what = "subprogram"
    elif e.name == e.section or e.name.startswith(e.section + "+0x"):
        what = "code"
    else:
        what = "program"
    slots = e.lines[-1][0] + e.lines[-1][1] - e.lines[0][0] if e.lines else 0
    return f"{e.name}  ({what}, section {e.section}, {slots} slots)"


def human_lines(listing: Listing):
    """(kind, item) pairs of the human listing: kinds header, label, source, insn, blank.

    An ``insn`` item is a tuple (index column, instruction text, note text, is_warning).
    """
    notes, sources, labels = listing.notes, listing.sources, listing.labels
    for n, e in enumerate(listing.entries):
        if n:
            yield ("blank", "")
        yield ("header", _header(e))
        section = e.section
        for idx, size, text, warning in e.lines:
            key = (section, idx)
            label = labels.get(key)
            if label is not None:
                yield ("label", f"{label}:")
            src = sources.get(key)
            if src:
                for s in src:
                    yield ("source", f"; {s['text']}: {s['source'].strip()}" if s["source"] else f"; {s['text']}")
            ann = notes.get(key)
            note = "; ".join(a["text"] for a in ann) if ann else ""
            yield ("insn", (f"{idx:8d}:", text, note, warning is not None))


def write_human(listing: Listing, stream, color: bool) -> None:
    if color:
        _write_rich(listing, stream)
        return
    notes, sources, labels = listing.notes, listing.sources, listing.labels
    marked = _marked(listing)
    out: list[str] = []
    app = out.append
    for n, e in enumerate(listing.entries):
        if n:
            app("")
        app(_header(e))
        section = e.section
        here = marked.get(section)
        if not here:
            out.extend(["%8d:\t%s" % (i, t) for i, _, t, _ in e.lines])
            continue
        for idx, size, text, warning in e.lines:
            if idx not in here:
                app("%8d:\t%s" % (idx, text))
                continue
            key = (section, idx)
            label = labels.get(key)
            if label is not None:
                app(f"{label}:")
            for s in sources.get(key, ()):
                app(f"; {s['text']}: {s['source'].strip()}" if s["source"] else f"; {s['text']}")
            ann = notes.get(key)
            if ann:
                app(f"{idx:8d}:\t{text:<40} ; " + "; ".join([a["text"] for a in ann]))
            else:
                app("%8d:\t%s" % (idx, text))
    app("")
    from bpfinspect.views.table import lines_safe   # names and source lines come from files

    stream.write(lines_safe(out))


def _write_rich(listing: Listing, stream) -> None:
    import re

    from rich.text import Text

    from bpfinspect.views.term import console as make_console

    from rich.table import Table as RTable

    # lines wider than the screen wrap between words (source lines at the margin, an
    # instruction's notes under its text), never cut mid-word by the terminal
    console = make_console(stream, highlight=False)
    width = console.width
    reg = re.compile(r"\b[rw](?:10|[0-9])\b")
    num = re.compile(r"[-+]?0x[0-9a-f]+")
    lab = re.compile(r"<[^>]*>")
    from bpfinspect.views.table import line_safe   # names and source lines come from files

    for kind, item in human_lines(listing):
        item = tuple(line_safe(x) if isinstance(x, str) else x for x in item) if kind == "insn" else line_safe(item)
        if kind == "header":
            console.print(Text(item, style="bold underline"))
        elif kind == "source":
            console.print(Text(item, style="italic blue"), overflow="fold")
        elif kind == "label":
            console.print(Text(item, style="bold yellow"))
        elif kind == "blank":
            console.print()
        else:
            col, text, note, bad = item
            line = Text()
            line.append(col, style="dim")
            line.append("  ")
            body = Text(f"{text:<40}" if note else text, style="red" if bad else None)
            if not bad:
                body.highlight_regex(reg, "cyan")
                body.highlight_regex(num, "magenta")
                body.highlight_regex(lab, "yellow")
            line.append_text(body)
            if note:
                line.append(" ; " + note, style="bold red" if bad else "green")
            if line.cell_len <= width:
                console.print(line, soft_wrap=True)
                continue
            rest = Text()
            rest.append_text(body)
            if note:
                rest.append(" ; " + note, style="bold red" if bad else "green")
            grid = RTable.grid(padding=(0, 2, 0, 0))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            grid.add_row(Text(col, style="dim"), rest)
            console.print(grid)
