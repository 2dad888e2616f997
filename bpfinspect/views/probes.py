"""Human and JSON views of user-space probe targets: ``probe offsets`` and ``probe usdt``."""

from __future__ import annotations

from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, Text

def shown(text: str | None) -> str:
    """Text from a binary made safe for a terminal: control characters and undecodable bytes escaped."""
    if text is None:
        return ""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _hex(v: int | None) -> str:
    return "" if v is None else f"{v:#x}"


# ---------------------------------------------------------------- probe offsets

def offsets_json(listing) -> dict:
    b = listing.binary
    return {
        "schema": SCHEMA,
        "binary": b.path,
        "given": b.given,
        "found_by": b.how,
        "libbpf_path": b.libbpf_path,
        "note": b.note,
        "elf_type": listing.elf_type,
        "kind": listing.kind,
        "machine": listing.machine,
        "libbpf_rules": listing.rules,
        "stripped": listing.stripped,
        "symbols": {"dynsym": listing.dynsym_count, "symtab": listing.symtab_count},
        "functions": [
            {"name": f.name, "version": f.version, "binding": f.binding, "value": f.value, "size": f.size,
             "section": f.section, "offset": f.offset, "sec": f.sec, "ftrace": f.ftrace,
             "default_version": f.default_version, "type": f.type, "tables": list(f.tables), "query": f.query,
             "libbpf_error": f.libbpf_error, "libbpf_verdict": f.libbpf_verdict}
            for f in listing.functions
        ],
        "imports": [{"name": n, "version": v, "library": lib} for n, v, lib in listing.imports],
        "unmatched": list(listing.unmatched),
    }


def _version_text(f) -> str:
    if f.version is None:
        return ""
    return ("@@" if f.default_version else "@") + f.version


def offsets_blocks(listing, *, patterns: bool) -> list[Block]:
    b = listing.binary
    tables = [f".dynsym {listing.dynsym_count} symbols" if listing.dynsym_count or not listing.stripped else
              "no .dynsym"]
    tables.append("stripped: no .symtab, only .dynsym is left" if listing.stripped
                  else f".symtab {listing.symtab_count} symbols")
    head = (f"{shown(b.path)} ({listing.kind}, {listing.machine}): "
            f"{len(listing.functions)} functions; {', '.join(tables)}")
    out: list[Block] = []
    if b.how != "path":
        head += f"\nfound by {b.how}" + (f"; {b.note}" if b.note else "")
    t = Table(["Function", "Version", "Bind", "Value", "Size", "Section", "Offset", f"libbpf {listing.rules}"],
              title=head, right=frozenset({"Value", "Size", "Offset"}),
              styles={"Function": "bold", "Offset": "green"}, nowrap=frozenset({"Offset"}))
    for f in listing.functions:
        verdict = f"\"{shown(f.query)}\"" if f.query is not None else shown(f.libbpf_verdict)
        name = shown(f.name) + (" (ifunc)" if f.type == "ifunc" else "")
        t.rows.append([name, shown(_version_text(f)), f.binding, _hex(f.value), str(f.size), shown(f.section),
                       _hex(f.offset), verdict])
    out.append(t)
    attach = Table(["Function", "SEC()", "uprobe_events"], title="attach",
                   styles={"Function": "bold", "SEC()": "cyan"})
    for f in listing.functions:
        if f.sec or f.ftrace:
            attach.rows.append([shown(f.name) + shown(_version_text(f)),
                                f"SEC(\"{shown(f.sec)}\")" if f.sec else "-", shown(f.ftrace) or "-"])
    if attach.rows:
        out.append(attach)
    if any(f.query is not None and f.sec is None for f in listing.functions):
        out.append(Text("SEC() '-' with a func_name above: libbpf 1.1 reads only [A-Za-z0-9_.] after the ':' "
                        "of SEC(\"uprobe/...\"); give that func_name to bpf_program__attach_uprobe_opts()",
                        style="dim"))
    if listing.imports and patterns:
        imp = Table(["Import", "Version", "From"], title="imported (no code here: probe them in their library)")
        for name, version, lib in listing.imports:
            imp.rows.append([shown(name), shown(version), shown(lib)])
        out.append(imp)
    elif listing.imports:
        out.append(Text(f"{len(listing.imports)} imported functions not shown (name one to see its library)",
                        style="dim"))
    return out


# ---------------------------------------------------------------- probe usdt

def usdt_json(path: str, sec_binary: str, machine: str, notes, lines) -> dict:
    return {
        "schema": SCHEMA,
        "binary": path,
        "machine": machine,
        "notes": [
            {"provider": n.provider, "name": n.name, "offset": n.offset, "semaphore_offset": n.semaphore_offset,
             "args": [_arg_json(a) for a in n.args],
             "address": n.address, "base": n.base, "semaphore": n.semaphore or None, "arguments": n.args_text,
             "error": n.error, "libbpf_ok": n.libbpf_ok,
             "sec": f"usdt/{sec_binary}:{n.provider}:{n.name}" if n.name else None, "ftrace": line}
            for n, line in zip(notes, lines)
        ],
    }


def _arg_json(a) -> dict:
    return {"spec": a.spec, "size": a.size, "signed": a.signed, "kind": a.kind, "register": a.register,
            "pt_regs_field": a.pt_regs_field, "pt_regs_offset": a.pt_regs_offset, "offset": a.offset,
            "value": a.value, "index_register": a.index_register, "scale": a.scale, "symbol": a.symbol,
            "libbpf_error": a.libbpf_error, "fetcharg": a.fetcharg}


def _operand(a) -> str:
    if a.kind == "const":
        return f"constant {a.value}"
    if a.kind == "reg":
        return f"register {a.register}" + (f" (pt_regs.{a.pt_regs_field} @ {a.pt_regs_offset})"
                                            if a.pt_regs_field else "")
    if a.kind == "reg_deref":
        return f"memory at {a.register} {a.offset:+d}" + (f" (pt_regs.{a.pt_regs_field} @ {a.pt_regs_offset})"
                                                          if a.pt_regs_field else "")
    if a.kind == "sib":
        return f"memory at {a.register} + {a.index_register}*{a.scale} {a.offset:+d}"
    if a.kind == "rip_symbol":
        return f"memory at {a.symbol}" + (f" {a.offset:+d}" if a.offset else "")
    return "?"


def usdt_blocks(path: str, sec_binary: str, machine: str, kind: str, notes, lines) -> list[Block]:
    t = Table(["Provider", "Name", "Address", "Offset", "Semaphore", "Sem. offset", "Arguments"],
              title=f"{shown(path)} ({kind}, {machine}): {len(notes)} USDT probes",
              right=frozenset({"Address", "Offset", "Semaphore", "Sem. offset"}),
              styles={"Name": "bold", "Offset": "green"})
    for n in notes:
        t.rows.append([shown(n.provider), shown(n.name), _hex(n.address), _hex(n.offset),
                       _hex(n.semaphore) if n.semaphore else "", _hex(n.semaphore_offset),
                       shown(n.args_text) if not n.error else f"error: {shown(n.error)}"])
    out: list[Block] = [t]
    for n, line in zip(notes, lines):
        if n.error:
            continue
        title = f"{shown(n.provider)}:{shown(n.name)} at {_hex(n.offset)}"
        if n.name:
            title += f"  SEC(\"usdt/{shown(sec_binary)}:{shown(n.provider)}:{shown(n.name)}\")"
        if not n.args:
            out.append(Text(title + "\n  no arguments" + (f"\n  {shown(line)}" if line else "")))
            continue
        a_t = Table(["#", "Spec", "Type", "Operand", "ftrace fetch", "libbpf 1.1"], title=title,
                    right=frozenset({"#"}))
        for a in n.args:
            a_t.rows.append([str(a.index + 1), shown(a.spec), a.type_text, shown(_operand(a)), shown(a.fetcharg) or "-",
                             shown(a.libbpf_error) if a.libbpf_error else "ok"])
        out.append(a_t)
        if line:
            out.append(Text("  " + shown(line)))
    return out


# ---------------------------------------------------------------- probe line

def line_json(p) -> dict:
    return {"kind": p.kind, "normalised": p.normalised, "return": p.is_return,
            "group": p.group_name if p.kind != "remove" else p.group,
            "event": p.event_name if p.kind != "remove" else p.event,
            "path": p.path, "offset": p.offset, "function": p.function, "function_offset": p.function_offset or None,
            "ref_ctr_offset": p.ref_ctr_offset, "module": p.module, "symbol": p.symbol, "address": p.address,
            "maxactive": p.maxactive,
            "args": [{"name": a.name, "fetch": a.fetch, "type": a.type, "base": a.base, "derefs": a.derefs}
                     for a in p.args],
            "warnings": list(p.warnings)}


def lines_json(results) -> dict:
    out = []
    for text, r in results:
        if isinstance(r, Exception):
            out.append({"line": text, "valid": False, "error": {"column": r.column + 1, "reason": r.reason}})
        else:
            out.append({"line": text, "valid": True, **line_json(r)})
    return {"schema": SCHEMA, "lines": out}


def lines_blocks(results) -> list[Block]:
    out: list[Block] = []
    for text, r in results:
        if isinstance(r, Exception):
            caret = r.caret().split("\n")
            out.append(Text(f"invalid: column {r.column + 1}: {shown(r.reason)}\n  {shown(caret[0])}\n  "
                            f"{caret[1]}", style="red"))
            continue
        lines = [shown(r.normalised)]
        if r.function is not None:
            plus = f"+{r.function_offset:#x}" if r.function_offset else ""
            lines.append(f"  {shown(r.function)}{plus} is at offset {r.offset:#x} of {shown(r.path)}")
        lines.extend(f"  warning: {shown(w)}" for w in r.warnings)
        out.append(Text("\n".join(lines)))
    return out


# ---------------------------------------------------------------- probe trace (JSON Lines and one line per hit)

def trace_start_json(session, lines) -> dict:
    return {"type": "start", "schema": SCHEMA, "tracefs": session.tracefs, "instance": session.instance,
            "events": [{"group": p.group_name, "event": p.event_name, "kind": p.kind, "line": p.normalised,
                        "args": [a.name for a in p.args]} for p in lines],
            "warnings": list(session.warnings)}


def hit_json(h) -> dict:
    return {"type": "hit", "event": h.event, "group": h.group, "pid": h.pid, "comm": h.comm,
            "cpu": h.cpu, "ts": h.ts, "ip": h.ip, "func_ip": h.func_ip, "args": dict(h.args)}


def lost_json(r) -> dict:
    return {"type": "lost", "cpu": r.cpu, "count": r.count}  # count null: the kernel did not say


def trace_end_json(hits: int, lost: int, stopped: str, leftovers: list[str]) -> dict:
    return {"type": "end", "hits": hits, "lost": lost, "stopped": stopped, "leftovers": list(leftovers)}


def trace_start_text(session, lines) -> str:
    where = f"instance {session.instance}" if session.instance else f"{session.tracefs} (top level)"
    out = [f"tracing {len(lines)} event{'s' if len(lines) != 1 else ''} in {shown(where)}:"]
    out += [f"  {shown(p.normalised)}" for p in lines]
    out += [f"  warning: {shown(w)}" for w in session.warnings]
    return "\n".join(out)


def _quoted(s: str) -> str:
    return '"' + shown(s).replace('"', '\\"') + '"'


def _value_text(v, hexa: bool) -> str:
    if v is None:
        return "(fault)"
    if isinstance(v, list):
        return "{" + ",".join(_value_text(x, hexa) for x in v) + "}"
    if isinstance(v, str):
        return _quoted(v) if len(v) != 1 else repr(v) if v.isprintable() else _quoted(v)
    return f"{v:#x}" if hexa else str(v)


def hit_text(h) -> str:
    """One hit as one line (strings quoted, control characters escaped; numbers as the kernel shows them)."""
    args = " ".join(f"{k}={_value_text(v, k in h.hex)}" for k, v in h.args.items())
    where = f"{h.ip:#x} <- {h.func_ip:#x}" if h.func_ip is not None else f"{h.ip:#x}"
    return f"{h.ts:.6f} [{h.cpu:03d}] {shown(h.comm)}-{h.pid} {shown(h.group)}/{shown(h.event)} ({where}) {args}".rstrip()


def lost_text(r) -> str:
    return f"CPU {r.cpu}: {r.count if r.count is not None else 'some'} events lost (the buffer was full)"


def trace_end_text(hits: int, lost: int, stopped: str, per_event: dict, leftovers: list[str]) -> str:
    why = {"count": "--count reached", "duration": "--duration over", "interrupt": "interrupted"}[stopped]
    each = ", ".join(f"{shown(e)} {n}" for e, n in per_event.items())
    extra = f", {lost} lost" if lost else ""
    gone = f"{len(leftovers)} definitions left behind" if leftovers else "definitions removed"
    return f"{hits} hit{'s' if hits != 1 else ''}{extra} ({each}); {why}; {gone}"


# ---------------------------------------------------------------- probe check

def uprobe_json(t) -> dict | None:
    if t is None:
        return None
    return {"binary": t.binary, "path": t.path, "function": t.function,
            "function_offset": t.function_offset or None, "offset": t.offset, "retprobe": t.retprobe,
            "error": t.error}


def check_json(path: str, checks) -> dict:
    return {"schema": SCHEMA, "file": path, "ok": all(c.ok for c in checks),
            "programs": [{"name": c.name, "section": c.section, "kind": c.kind, "target": c.target, "ok": c.ok,
                          "checked": list(c.checked),
                          "problems": [{"problem": p.problem, "message": p.message} for p in c.problems],
                          "uprobe": uprobe_json(c.uprobe)} for c in checks]}


def check_blocks(path: str, checks) -> list[Block]:
    bad = sum(1 for c in checks if not c.ok)
    title = f"{shown(path)}: {len(checks)} programs, " + (f"{bad} cannot attach here" if bad else "all can attach here")
    t = Table(["Name", "Section", "Result", "Checked"], title=title,
              styles={"Name": "bold"})
    for c in checks:
        if c.problems:
            result = "; ".join(shown(p.message) for p in c.problems)
        elif c.kind is None:
            result = "ok (attached where its loader says: nothing to look up)"
        else:
            result = "ok"
        t.rows.append([shown(c.name), shown(c.section), result, "; ".join(shown(x) for x in c.checked)])
    return [t]
