"""From a :class:`~bpfinspect.obj.BpfObject` to the :class:`SkelModel` a C template renders.

The ordering and naming rules are described in :mod:`bpfinspect.skel.c_model`.
"""

from __future__ import annotations

import sys

from bpfinspect.errors import MalformedInput, UsageError
from bpfinspect.obj.names import internal_map_name
from bpfinspect.skel.c_model import (RESERVED_TOP, NameSpace, SkelDatasec, SkelMap, SkelMember, SkelModel,
                                     SkelProg, member_name)
from bpfinspect.skel.names import c_ident, guard_macro, sanitize



def build_model(obj, name: str | None = None, types: bool = False) -> SkelModel:
    warnings: list[str] = []
    raw = obj.name if name is None else name
    if name is not None and not name.strip():
        raise UsageError("--name must not be empty")
    libbpf_name = sanitize(raw) or "_"
    ident = c_ident(raw)

    typer = typer_cxx = None
    if obj.btf is not None:
        from bpfinspect.skel.c_types import Types
        typer = Types(obj.btf)
        if types:
            typer_cxx = Types(obj.btf, cxx=True)

    if obj.endian != sys.byteorder:
        warnings.append(f"{obj.endian}-endian object: libbpf opens it only on a {obj.endian}-endian host")

    # -- maps (libbpf order) -------------------------------------------------------------------
    entries: list[dict] = []
    legacy = [m for m in obj.maps if m.section == "maps"]
    if legacy:
        warnings.append("legacy 'maps' section: libbpf 1.0 and later refuse to open this object")
    for m in legacy:
        entries.append(dict(raw=m.name, libbpf=m.name, kind="legacy"))
    for m in obj.maps:
        if m.section == ".maps":
            entries.append(dict(raw=m.name, libbpf=m.name, kind="user"))

    datasecs = []
    for ds in obj.datasecs:
        if ds.size == 0:
            continue
        if (ds.kind == "bss") != (obj.sections[ds.index].type == "NOBITS"):
            continue  # a .bss with bytes or a .data without: libbpf would not map it as such
        datasecs.append(ds)
        entries.append(dict(raw=ds.skel_name, libbpf=_data_map_name(libbpf_name, ds.name), kind="data", ds=ds))

    kconfig = [e for e in obj.externs if e.kind == "kconfig"]
    if kconfig:
        entries.append(dict(raw="kconfig", libbpf=internal_map_name(libbpf_name, ".kconfig"), kind="kconfig"))
    for secname, kind in ((".struct_ops", "struct_ops"), (".struct_ops.link", "struct_ops_link")):
        for m in obj.maps:
            if m.section == secname:
                entries.append(dict(raw=m.name, libbpf=m.name, kind=kind))

    # Member names: names from the source first, derived ones after.
    ns = NameSpace()
    for e in entries:
        if e["kind"] not in ("data", "kconfig"):
            e["member"] = ns.take(e["raw"])
    for e in entries:
        if e["kind"] in ("data", "kconfig"):
            e["member"] = ns.take(e["raw"])

    # -- programs and links ----------------------------------------------------------------------
    pns = NameSpace()
    lns = NameSpace()
    skel_progs = []
    for pname in program_names(obj):
        member = pns.take(pname)
        link = lns.take(pname)
        skel_progs.append(SkelProg(member, link, pname))

    # -- data sections --------------------------------------------------------------------------
    top = NameSpace(RESERVED_TOP)
    skel_datasecs: list[SkelDatasec] = []
    skel_maps: list[SkelMap] = []
    type_ids: list[int] = []
    for e in entries:
        kind = e["kind"]
        sm = SkelMap(e["member"], e["libbpf"], kind)
        if kind in ("data", "kconfig") and sm.member.c != member_name(e["raw"]).c:
            src = e['ds'].name if kind == 'data' else '.kconfig'
            sm.note = f" /* {src}: {e['raw']!r} is another map's member */"
            warnings.append(f"map member {e['raw']!r} is taken by another map; "
                            f"the map of {src} is maps.{sm.member.c}")
        if kind == "struct_ops_link":
            sm.note = " /* .struct_ops.link: NULL with libbpf before 1.3 */"
        if kind in ("struct_ops", "struct_ops_link"):
            sm.link = lns.take(e["raw"])
            sm.in_skeleton = kind == "struct_ops"
        if kind == "data":
            ds = e["ds"]
            top_name = top.take(ds.skel_name)
            sec = SkelDatasec(top_name, f"{ident}__{top_name.c}", ds.name, ds.size)
            _fill_datasec(sec, ds, typer, warnings, type_ids)
            skel_datasecs.append(sec)
            sm.mmaped = top_name
        elif kind == "kconfig":
            top_name = top.take("kconfig")
            sec = SkelDatasec(top_name, f"{ident}__{top_name.c}", ".kconfig", 0)
            _fill_kconfig(sec, kconfig, typer, warnings, type_ids)
            skel_datasecs.append(sec)
            sm.mmaped = top_name
        skel_maps.append(sm)

    if obj.btf is not None:
        clash = _tag_clash(obj.btf, type_ids, ident)
        if clash:
            raise UsageError(f"skeleton name {ident!r} is also {clash}, a type the object's globals use: "
                             "the header could not compile; choose another name with --name")

    types_text = types_text_cxx = ""
    if types and typer is not None:
        types_text = typer.definitions(type_ids)
        types_text_cxx = typer_cxx.definitions(type_ids)
        # The declarations above were written before the definitions: names the printer
        # suffixes while defining (___2) must be the ones the members use, so write again.
        for sec in skel_datasecs:
            for m in sec.members:
                if m.type_id:
                    m.decl = typer.decl(m.type_id, m.name.c, 2, strip_mods=m.strip)
                    m.decl_cxx = typer_cxx.decl(m.type_id, m.name.cxx, 2, strip_mods=m.strip)

    return SkelModel(ident=ident, libbpf_name=libbpf_name, guard=guard_macro(ident), maps=skel_maps,
                     progs=skel_progs, datasecs=skel_datasecs, types_text=types_text,
                     types_text_cxx=types_text_cxx, data=obj.data,
                     warnings=warnings)


def program_names(obj) -> list[str]:
    """Names of the programs (functions outside ``.text``) in libbpf's order, from the
    model's symbol-only function list (no section-name decoding needed)."""
    return [f.name for f in obj.functions if not f.is_subprog]


def _data_map_name(obj_name: str, section: str) -> str:
    """The name the skeleton gives libbpf for a data section's map.

    libbpf's own name for it (``bootstra.rodata``) when the object name is part of
    it; otherwise the section name itself, untruncated and unsanitised: libbpf
    looks names that start with a dot up by section name, and its own name for
    such a map is cut to 15 characters and, from libbpf 1.2, sanitised
    (``.data.a-b`` -> ``.data.a_b``), so it would miss or hit another map.
    """
    name = internal_map_name(obj_name, section)
    return section if name.startswith(".") else name


def _tag_clash(btf, type_ids, ident: str) -> str | None:
    """``struct X`` (or union/enum) named ``ident`` among the types ``type_ids`` reach, if any."""
    from bpfinspect.btf import Kind
    seen: set[int] = set()
    stack = list(type_ids)
    tags = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}
    while stack:
        tid = stack.pop()
        if not tid or tid in seen or not btf.valid(tid):
            continue
        seen.add(tid)
        k = btf.kind(tid)
        if k in tags or k == Kind.FWD:
            if btf.name(tid) == ident:
                kw = tags.get(k) or ("union" if btf.kflag(tid) else "struct")
                return f"{kw} {ident}"
        if k in (Kind.STRUCT, Kind.UNION):
            stack.extend(m.type for m in btf.type(tid).members)
        elif k == Kind.ARRAY:
            stack.append(btf.type(tid).array.type)
        elif k == Kind.FUNC_PROTO:
            t = btf.type(tid)
            stack.append(t.type)
            stack.extend(p.type for p in t.params)
        elif k in (Kind.PTR, Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG, Kind.VAR):
            stack.append(btf.ref(tid))
    return None


def _fill_datasec(sec: SkelDatasec, ds, typer, warnings, type_ids) -> None:
    # the model already places each variable in the section of its symbol, with its BTF type
    rows = [(v.offset, v.name, v.size, v.type_id) for v in ds.variables
            if not v.is_static and v.linkage == "global"]
    rows.sort()
    _layout(sec, rows, typer, warnings, type_ids, strip_mods=True)


def _fill_kconfig(sec: SkelDatasec, externs, typer, warnings, type_ids) -> None:
    """Kconfig externs as libbpf lays them out: by alignment (largest first), size, name."""
    items = []
    for e in externs:
        if typer is None or not e.type_id:
            continue
        try:
            size, align = typer.sizeof(e.type_id), typer.alignof(e.type_id)
        except MalformedInput:
            size = align = 0
        if size <= 0 or align <= 0:  # the C printer's "unknown": size -EINVAL, alignment 0
            warnings.append(f".kconfig: extern {e.name!r} has no size; left out")
            continue
        items.append((-align, size, e.name, e.type_id, align))
    items.sort(key=lambda t: (t[0], t[1], t[2].encode()))
    off = 0
    rows = []
    for _, size, nm, tid, align in items:
        off = (off + align - 1) // align * align
        rows.append((off, nm, size, tid))
        off += size
    sec.size = off
    _layout(sec, rows, typer, warnings, type_ids, strip_mods=False)


def _layout(sec: SkelDatasec, rows, typer, warnings, type_ids, strip_mods: bool) -> None:
    ns = NameSpace()
    for _, nm, _, _ in rows:
        ns.taken.add(nm)
    pad_no = 0

    def pad_name() -> str:
        nonlocal pad_no
        while f"__pad{pad_no}" in ns.taken:
            pad_no += 1
        name = f"__pad{pad_no}"
        pad_no += 1
        return name

    off = 0
    members = sec.members
    for need, nm, size, tid in rows:
        if need < off:
            warnings.append(f"{sec.section}: variable {nm!r} at offset {need} overlaps the previous one "
                            f"(which ends at {off}); left out")
            continue
        align = 1
        if typer is not None and tid:
            try:
                t_align, t_size = typer.alignof(tid), typer.sizeof(tid)
            except MalformedInput:
                t_align = t_size = -1
            if t_align <= 0 or t_size < 0:  # the C printer's "unknown": alignment 0, size -EINVAL
                tid = 0
            else:
                align, size = t_align, t_size
        if not tid or typer is None:
            align = 1
        if (off + align - 1) // align * align != need:
            p = pad_name()
            members.append(SkelMember(f"char {p}[{need - off}]", f"char {p}[{need - off}]", None, off, need - off))
        name = member_name(nm)
        if tid and typer is not None:
            decl_c = typer.decl(tid, name.c, 2, strip_mods=strip_mods)
            decl_cxx = decl_c if not name.differs else typer.decl(tid, name.cxx, 2, strip_mods=strip_mods)
            type_ids.append(tid)
        else:
            # No type known: the bytes are still there.
            decl_c = f"unsigned char {name.c}[{max(size, 1)}]"
            decl_cxx = f"unsigned char {name.cxx}[{max(size, 1)}]"
        members.append(SkelMember(decl_c, decl_cxx, name, need, size, tid if typer is not None else 0,
                                  strip_mods))
        off = need + size
    if not members:
        # Nothing to show (only static variables, or no BTF): keep the struct non-empty
        # (ISO C has no empty structs) by covering the section's bytes.
        n = max(sec.size, 1)
        members.append(SkelMember(f"char __pad0[{n}]", f"char __pad0[{n}]", None, 0, n))

