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

The output depends only on the object and the options: no paths beyond the
file's base name, no dates.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex

from bpfinspect.errors import UsageError
from bpfinspect.skel.names import sanitize

LINE = 100  # base64 characters per line

# Names the generated module defines itself.
RESERVED = {"ctypes", "ELF_BYTES", "_base64", "_hashlib", "_layout", "_Skeleton", "Skeleton", "_DATA_SECTIONS",
            "_MAPS", "_PROGRAMS"}

def class_name_for(object_name: str) -> str:
    """``h_boot_bpf`` -> ``HBootBpf``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+|_", object_name) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "BpfObject"
    if name[0].isdigit():
        name = "Bpf" + name
    return name


def member_name(name: str) -> str:
    """A Python attribute name for ``name`` (the C skeleton's member rules, Python's keywords)."""
    s = sanitize(name) or "_"
    if s[0].isdigit():
        s = "_" + s
    import keyword
    if keyword.iskeyword(s):
        s += "_"
    return s


def _template():
    import jinja2

    from bpfinspect.skel.c_template import template_text

    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["pyrepr"] = repr
    env.filters["shell_quote"] = shlex.quote
    return env.from_string(template_text("skel_python.py.j2"))


def generate(obj, *, types=(), module_name: str | None = None, name: str | None = None) -> str:
    """The source of a Python skeleton module for ``obj`` (a :class:`bpfinspect.obj.BpfObject`)."""
    from bpfinspect.btf.ctypes_layout import CtypesLayout
    from bpfinspect.btf import Kind
    from bpfinspect.obj.names import internal_map_name

    import sys
    if obj.endian != sys.byteorder:
        raise UsageError(f"the object is {obj.endian}-endian and this machine is {sys.byteorder}-endian: a Python "
                         f"skeleton runs on the machine that loads it", path=obj.path)
    # --name replaces the object name (as for C skeletons): the class is named after it
    object_name = sanitize(name) if name else obj.name
    class_name = class_name_for(object_name)
    module_name = module_name or f"{object_name}_skel"
    btf = obj.btf
    reserved = set(RESERVED) | {class_name}
    layout = CtypesLayout(btf, reserved=reserved) if btf is not None else None

    # Requested types first, in the order asked.
    exports: list[str] = []
    for spec in types:
        if layout is None:
            raise UsageError(f"--type {spec}: the object has no BTF", path=obj.path)
        try:
            exports.append(layout.named(spec))
        except KeyError:
            raise UsageError(f"--type {spec}: no struct, union, enum or typedef of that name in the object's BTF",
                             path=obj.path) from None

    def type_expr(tid: int) -> str:
        if layout is None or not tid:
            return "None"
        if btf.kind(tid) == Kind.TYPEDEF:
            name = layout.alias(tid)
        else:
            name = layout.expr(tid)
        if name.isidentifier() and name not in exports and not name.startswith("ctypes."):
            exports.append(name)
        return name

    maps = []
    for m in obj.maps:
        if m.section not in (".maps", "maps"):
            continue
        member = member_name(m.name)
        maps.append({
            "member": member, "name": m.name, "type": m.type,
            "key": m.key_type, "value": m.value_type,
            "key_expr": type_expr(m.key_type_id), "value_expr": type_expr(m.value_type_id),
        })

    datasecs = []
    for ds in obj.datasecs:
        member = member_name(ds.skel_name)
        variables = [(v.name, v.offset, v.size, v.type_id) for v in ds.variables if not v.is_static]
        cname = f"{object_name}__{member}"
        if layout is not None:
            cls = layout.define_datasec(cname, ds.size, variables)
        else:
            cls = cname
        for v in ds.variables:
            if not v.is_static and v.type_id and layout is not None:
                type_expr_name = layout.expr(v.type_id)
                if type_expr_name.isidentifier() and type_expr_name not in exports:
                    exports.append(type_expr_name)
        exports.append(cls)
        # the runtime opens the object under object_name, so libbpf names the map after it
        datasecs.append({
            "member": member, "section": ds.name, "kind": ds.kind, "size": ds.size,
            "map_name": internal_map_name(object_name, ds.name), "class_name": cls,
            "vars": [v[0] for v in variables], "first_var": variables[0][0] if variables else None,
        })

    types_source = layout.source().strip("\n") if layout is not None else ""
    if layout is None:
        # No BTF: data sections are plain byte arrays.
        chunks = []
        for ds in datasecs:
            chunks.append(f"class {ds['class_name']}(ctypes.Structure):\n    _pack_ = 1\n"
                          f"    _fields_ = [('__raw', ctypes.c_uint8 * {ds['size']})]\n")
        types_source = "\n\n".join(chunks).strip("\n")

    # (the internal maps of data sections are looked up by the runtime through DATA_SECTIONS)
    progs = [{"member": member_name(p.name), "name": p.name, "section": p.section,
              "auto_attach": p.spec.auto_attach} for p in obj.programs if not p.is_subprog]

    b64 = base64.b64encode(obj.data).decode("ascii")
    elf_lines = [b64[i:i + LINE] for i in range(0, len(b64), LINE)] or [""]
    export_list = [class_name]
    for n in exports:
        if n not in export_list:
            export_list.append(n)
    return _template().render(
        object_file=os.path.basename(obj.path) if obj.path else f"{object_name}.o",
        object_name=object_name, class_name=class_name, module_name=module_name,
        requested_types=list(types), elf_lines=elf_lines, elf_size=len(obj.data),
        elf_sha256=hashlib.sha256(obj.data).hexdigest(), types_source=types_source,
        datasecs=datasecs, maps=maps, progs=progs, exports=export_list,
    )
