"""Python skeletons: one module holding the object, its types as ctypes classes, and a class to drive it.

``generate(obj)`` returns the module's source.  The module embeds the ELF
bytes exactly (base64, checked by size and SHA-256 at import), defines a
ctypes class for every requested type, for the key and value types of the
maps and for the types of global variables (laid out by
:mod:`bpfinspect.btf.ctypes_layout`, which also checks them at import),
one class per data section named like the C skeleton's structs
(``<obj>__rodata``), and a subclass of
:class:`bpfinspect.runtime.skeleton.Skeleton` named in CamelCase after the
object (``h_boot_bpf`` -> ``HBootBpf``) that knows the data sections, maps
and programs by the names a C skeleton gives them.

Names
=====
Every name from the object (and the file names) reaches the module through
:mod:`bpfinspect.quote.python`: as a literal, in a docstring, or as an
identifier made by its rules.  Identifiers are unique in their scope, a repeat
getting ``_2``, ``_3``... (``__2``... for classes, as the type layouts name
them):

* module level: the class, the ctypes classes and aliases, the data-section
  classes; the builtins and the module's own names (``ctypes``, ``ELF_BYTES``,
  ``_layout``...) are taken;
* ``skel.<section>``: data sections; the attributes of ``Skeleton`` (``load``,
  ``maps``, ``obj``...) are taken;
* ``skel.maps``, ``skel.progs``/``skel.links``: one scope each.

The template receives quoted fragments only: its environment
(:mod:`bpfinspect.skel.c_template`) refuses to write any text that is not
:class:`bpfinspect.quote.python.Code`.

The output depends only on the object and the options: no paths beyond the
file's base name, no dates.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex

from bpfinspect.errors import MalformedInput, UsageError
from bpfinspect.quote import python as q, shown

# A map's value size is 32 bits (struct bpf_map_def, bpf_attr): a data section is one value.
_MAP_VALUE_MAX = 0xFFFFFFFF

LINE = 100  # base64 characters per line

# Names the generated module defines or imports itself.
MODULE_NAMES = frozenset({"ctypes", "ELF_BYTES", "_base64", "_hashlib", "_layout", "_Skeleton", "_DATA_SECTIONS",
                          "_MAPS", "_PROGRAMS", "_RECORDS"})
# Attributes of bpfinspect.runtime.skeleton.Skeleton (a test keeps this in step with the class):
# a data section may not take one.
SKELETON_ATTRS = frozenset({"DATA_SECTIONS", "ELF_BYTES", "MAPS", "OBJECT_NAME", "PROGRAMS", "RECORDS", "attach",
                            "close", "destroy", "detach", "load", "loaded", "open", "open_and_load", "obj", "maps",
                            "progs", "links"})
# Attributes of bpfinspect.runtime.skeleton.Members: a map or program may not take one.
MEMBERS_ATTRS = frozenset({"_set", "_kind", "_items"})


def class_name_for(object_name: str) -> str:
    """``h_boot_bpf`` -> ``HBootBpf`` (not yet checked against keywords or other names)."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+|_", object_name) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "BpfObject"
    if name[0].isdigit():
        name = "Bpf" + name
    return name


def generate(obj, *, types=(), module_name: str | None = None, name: str | None = None, source=None,
             regen_args=None, data: bytes | None = None) -> str:
    """The source of a Python skeleton module for ``obj`` (a :class:`bpfinspect.obj.BpfObject`).

    Types come from ``source`` (a :class:`~bpfinspect.typesrc.TypeSource`: the object's BTF, its DWARF,
    ``--header`` files; made from the object when None): the ``types`` asked for, the record types of
    ring buffers and perf event arrays (handed to ``ring_buffer(cb)``/``perf_buffer(cb)`` callbacks), and
    the types of globals and legacy maps that the object's BTF lacks.  ``data``: the bytes to embed
    instead of the object's own (``--strip-debug``)."""
    from bpfinspect.btf import Kind
    from bpfinspect.btf.ctypes_layout import CtypesLayout
    from bpfinspect.obj.names import internal_map_name
    from bpfinspect.skel.bound import check_output
    from bpfinspect.typesrc import TypeSource

    import sys
    if obj.endian != sys.byteorder:
        raise UsageError(f"the object is {obj.endian}-endian and this machine is {sys.byteorder}-endian: a Python "
                         f"skeleton runs on the machine that loads it", path=obj.path)
    if name is not None and not name.strip():
        raise UsageError("--name must not be empty")
    # --name replaces the object name (as for C skeletons): the class is named after it, and
    # libbpf gets it as the object name (which names the data sections' maps).
    from bpfinspect.obj.names import skeleton_libbpf_name
    object_name = skeleton_libbpf_name(name) if name else obj.name
    module_name = module_name or f"{object_name}_skel"
    if source is None:
        source = TypeSource(obj)
    # Every type first (the source's table grows as types come in), then one layout over the table.
    wanted = [source.find(spec, option="--type") for spec in types]
    records = {r.map: r.type for r in source.record_types().values() if r.type is not None}
    var_types = {}
    if obj.btf is None:
        for ds in obj.datasecs:
            for v in ds.variables:
                if not v.is_static and v.name not in var_types:
                    var_types[v.name] = source.variable_type(v.name)
    map_types = {m.name: source.map_types(m.name) for m in obj.maps
                 if m.section == "maps" and m.key_type_id == 0 and m.value_type_id == 0}
    uses_source = bool(wanted or records or any(var_types.values()) or
                       any(k or v for k, v in map_types.values()))
    btf = source.btf if uses_source else obj.btf
    layout = CtypesLayout(btf, reserved=MODULE_NAMES) if btf is not None else None
    scope = layout.scope if layout is not None else q.Scope(MODULE_NAMES, builtins=True, suffix="__{n}")
    class_name = scope.take(class_name_for(object_name))

    def class_of(ref) -> str:
        k = btf.kind(ref.id)
        return layout.define(ref.id) if k in (Kind.STRUCT, Kind.UNION) else layout.alias(ref.id)

    # Requested types first, in the order asked.
    exports: list[str] = [class_of(ref) for ref in wanted]

    exprs: dict[int, q.Code] = {}   # maps share their key and value types: each is named once

    def type_expr(tid: int) -> q.Code:
        if layout is None or not tid:
            return q.trusted("None")
        code = exprs.get(tid)
        if code is not None:
            return code
        expr = layout.alias(tid) if btf.kind(tid) == Kind.TYPEDEF else layout.expr(tid)
        if expr.isidentifier() and expr not in exports:
            exports.append(expr)
        code = exprs[tid] = q.trusted(expr)
        return code

    maps_scope = q.Scope(MEMBERS_ATTRS)
    maps = []
    for m in obj.maps:
        if m.section not in (".maps", "maps"):
            continue
        key_id, value_id, key, value = m.key_type_id, m.value_type_id, m.key_type, m.value_type
        kref, vref = map_types.get(m.name, (None, None))
        if kref is not None and source.btf.sizeof(kref.id) == m.key_size:
            key_id, key = kref.id, kref.name
        if vref is not None and source.btf.sizeof(vref.id) == m.value_size:
            value_id, value = vref.id, vref.name
        rec = records.get(m.name)
        maps.append({"member": maps_scope.take(m.name), "name": m.name, "type": m.type, "key": key,
                     "value": value, "key_expr": type_expr(key_id), "value_expr": type_expr(value_id),
                     "record": rec.name if rec is not None else None,
                     "record_expr": type_expr(rec.id) if rec is not None else None})

    top_scope = q.Scope(SKELETON_ATTRS)
    datasecs = []
    for ds in obj.datasecs:
        if ds.size > _MAP_VALUE_MAX:
            # (found by fuzz_skel: a .bss of 2**64 - 1 bytes gave a ctypes array no Python can make,
            # and the module raised OverflowError at import)
            raise MalformedInput(f"data section '{shown(ds.name)}' has {ds.size} bytes, more than a map's value "
                                 f"can hold ({_MAP_VALUE_MAX}): no skeleton can map it", path=obj.path)
        member = top_scope.take(ds.skel_name)
        variables = [(v.name, v.offset, v.size, v.type_id or _id_of(var_types.get(v.name), v.size, btf))
                     for v in ds.variables if not v.is_static]
        cname = f"{object_name}__{member}"
        if layout is not None:
            cls = layout.define_datasec(cname, ds.size, variables)
            fields = layout.fields_of(cls)
            for _vname, _off, _size, tid in variables:
                if tid:
                    try:
                        expr = layout.expr(tid)
                    except MalformedInput:
                        continue   # (a type ctypes cannot lay out: the variable is bytes, as above)
                    if expr.isidentifier() and expr not in exports:
                        exports.append(expr)
        else:
            cls = scope.take(cname)
            fields = []
        exports.append(cls)
        # the runtime opens the object under object_name, so libbpf names the map after it
        datasecs.append({"member": member, "section": ds.name, "kind": ds.kind, "size": ds.size,
                         "map_name": internal_map_name(object_name, ds.name), "class_name": cls, "fields": fields})

    if layout is not None:
        types_source = layout.source().strip("\n")
    else:
        # No BTF: data sections are plain byte arrays.
        types_source = "\n\n\n".join(
            f"class {d['class_name']}(ctypes.Structure):\n    _pack_ = 1\n"
            f"    _fields_ = [('__raw', ctypes.c_uint8 * {int(d['size'])})]" for d in datasecs)

    progs_scope = q.Scope(MEMBERS_ATTRS)
    progs = [{"member": progs_scope.take(p.name), "name": p.name, "section": p.section,
              "auto_attach": p.spec.auto_attach} for p in obj.functions if not p.is_subprog]

    embedded = obj.data if data is None else data  # --strip-debug: the object without its DWARF
    b64 = base64.b64encode(embedded).decode("ascii")
    # base64's own alphabet only: each line is a string literal as it stands
    # (the lines cut and wrapped by map over slices: one C-level pass, not a generator)
    cuts = range(0, len(b64), LINE)
    lines = map(b64.__getitem__, map(slice, cuts, range(LINE, len(b64) + LINE, LINE)))
    elf_text = q.trusted("\n".join(map("    '{}'".format, lines)) or "    ''")
    export_list = [class_name]
    for n in exports:
        if n not in export_list:
            export_list.append(n)

    object_file = os.path.basename(obj.path) if obj.path else f"{object_name}.o"
    if regen_args is None:
        regen_args = [f"--type {t}" for t in types]
    regen = " ".join(["bpfinspect gen-skel", shlex.quote(object_file), "--lang python",
                      *(" ".join(shlex.quote(w) for w in a.split(" ", 1)) for a in regen_args)])
    from bpfinspect.skel.c_template import render
    text = render(
        "skel_python.py.j2", code=q.Code,
        title=q.doc_text(f"Python skeleton of the BPF object {object_file} (object name {object_name})."),
        regen=q.doc_text(regen),
        usage=_usage(module_name, class_name, datasecs, maps),
        members=_members_doc(datasecs, maps, progs),
        elf_text=elf_text, elf_size=len(embedded),
        elf_sha256=q.literal(hashlib.sha256(embedded).hexdigest()),
        damaged=q.literal(f"{module_name}: the embedded BPF object is damaged"),
        types_source=q.trusted(types_source),
        data_sections=[q.trusted(f"({q.literal(d['member'])}, {q.literal(d['section'])}, "
                                 f"{q.literal(d['map_name'])}, {d['class_name']}),") for d in datasecs],
        maps=[q.trusted(f"({q.literal(m['member'])}, {q.literal(m['name'])}, {m['key_expr']}, {m['value_expr']}),")
              for m in maps],
        records=[q.trusted(f"({q.literal(m['member'])}, {m['record_expr']}),") for m in maps if m["record_expr"]],
        progs=[q.trusted(f"({q.literal(p['member'])}, {q.literal(p['name'])}),") for p in progs],
        class_name=class_name,
        class_doc=q.doc_text(f"The BPF object {object_name}: open(), load(), attach(), close()."),
        object_name=q.literal(object_name),
        exports=q.literal(export_list),
    )
    check_output(text, obj.data, "Python skeleton")
    return text


def _id_of(ref, size: int, btf) -> int:
    """The id of a variable's type from another source than the object's BTF, when its size is the variable's."""
    if ref is None:
        return 0
    try:
        return ref.id if btf.sizeof(ref.id) == size else 0
    except Exception:   # an unsized type (a function, void): the bytes stay bytes
        return 0


def _usage(module_name: str, class_name: str, datasecs, maps) -> list[q.Code]:
    """The example in the module's docstring, one line each (indented by the template)."""
    lines = [f"from {module_name} import {class_name}", "", f"with {class_name}.open() as skel:"]
    for ds in datasecs:
        if ds["fields"]:
            note = ", set before load" if ds["kind"] == "rodata" else ""
            lines.append(f"    skel.{ds['member']}.{ds['fields'][0]}  # {ds['section']}{note}")
    lines += ["    skel.load()", "    skel.attach()"]
    for m in maps:
        if m["type"] == "ringbuf" and m["record"]:
            lines.append(f"    rb = skel.maps.{m['member']}.ring_buffer(lambda rec: print(rec))  # {m['record']}")
            lines.append("    rb.poll(timeout_ms=100)")
        elif m["type"] == "ringbuf":
            lines.append(f"    rb = skel.maps.{m['member']}.ring_buffer(lambda data: print(len(data)))")
            lines.append("    rb.poll(timeout_ms=100)")
        elif m["type"] == "perf_event_array" and m["record"]:
            lines.append(f"    pb = skel.maps.{m['member']}.perf_buffer(lambda cpu, rec: print(cpu, rec))  "
                         f"# {m['record']}")
            lines.append("    pb.poll(timeout_ms=100)")
    return [q.doc_text(line) for line in lines]


def _members_doc(datasecs, maps, progs) -> list[q.Code]:
    lines = []
    for ds in datasecs:
        ro = ", read-only after load" if ds["kind"] == "rodata" else ""
        names = f": {', '.join(ds['fields'])}" if ds["fields"] else ""
        lines.append(f"skel.{ds['member']}: {ds['section']} ({ds['size']} bytes{ro}){names}")
    for m in maps:
        kv = (f", key {m['key']}" if m["key"] else "") + (f", value {m['value']}" if m["value"] else "") + \
            (f", records {m['record']}" if m["record"] else "")
        lines.append(f"skel.maps.{m['member']}: {m['type']}{kv}")
    for p in progs:
        auto = ", attached by attach()" if p["auto_attach"] else ""
        lines.append(f"skel.progs.{p['member']}: SEC(\"{p['section']}\"){auto}")
    return [q.doc_text(line) for line in lines]
