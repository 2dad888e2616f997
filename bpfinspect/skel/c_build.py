"""From a :class:`~bpfinspect.obj.BpfObject` to the :class:`SkelModel` a C template renders.

The ordering and naming rules are described in :mod:`bpfinspect.skel.c_model`.
Everything the model holds for the template is :class:`bpfinspect.quote.c.Code`:
identifiers, literals and comments made by :mod:`bpfinspect.quote.c`, and
declarations and definitions written by the BTF-to-C engine with the
skeleton's options and identifier hook (:mod:`bpfinspect.skel.c_types`; the
names decided in :mod:`bpfinspect.skel.c_names`), each once: the definitions
first, then the variables' declarations, in the header's order.
"""

from __future__ import annotations

import sys

from bpfinspect.errors import MalformedInput, UsageError
from bpfinspect.obj.names import internal_map_name, skeleton_libbpf_name
from bpfinspect.quote import c as qc, shown
from bpfinspect.quote.c import Code
from bpfinspect.skel.c_types import HOST_SAFE_NOTE
from bpfinspect.skel.bound import Budget, decl_weight, definitions_weight, reachable
from bpfinspect.skel.c_model import (RESERVED_TOP, NameSpace, SkelDatasec, SkelMap, SkelMember, SkelModel,
                                     SkelProg, member_name)

# The functions a skeleton defines: <name>__<function>.
SKEL_FUNCTIONS = ("destroy", "create_skeleton", "open_opts", "open", "load", "open_and_load", "detach", "attach",
                  "elf_bytes", "assert")


def guard_macro(ident: str) -> str:
    """The include guard for a skeleton named ``ident``: ``__IDENT_SKEL_H__``."""
    return f"__{ident.upper()}_SKEL_H__"


def skeleton_macros(ident: str) -> tuple[str, ...]:
    """The macros a skeleton named ``ident`` defines (no other name may take one)."""
    return (guard_macro(ident), f"{ident}__N", f"{ident}__ASSERT", f"{ident}__SEC")


def _file_scope_taken(name: str) -> bool:
    return qc.is_reserved(name, True) or name in qc.header_names() or qc.header_tag(name) is not None


def skeleton_ident(raw: str) -> Code:
    """The skeleton's identifier (struct tag and function prefix) for ``raw``: valid in C and
    C++, not a name the includes declare, and none of the names made from it a macro."""
    ident = qc.ident(raw, cxx=True)
    while _file_scope_taken(ident) or any(_file_scope_taken(n) for n in skeleton_macros(ident)) or \
            any(_file_scope_taken(f"{ident}__{f}") for f in SKEL_FUNCTIONS):
        ident += "_"
    return Code(ident)


class _Strings:
    """Names handed to libbpf, as C expressions (static arrays for the long ones)."""

    def __init__(self, avoid) -> None:
        self.n = 0
        self.avoid = avoid

    def __call__(self, text: str) -> tuple[Code, Code | None]:
        var = f"name{self.n}"
        while qc.is_reserved(var, True, self.avoid):
            var += "_"
        decl, expr = qc.string_expr(text, var)
        if decl is not None:
            self.n += 1
        return expr, decl


def _message(what: str, name: str) -> Code:
    short = name if len(name) <= 64 else name[:64] + "..."
    return qc.string(f"unexpected {what} of '{short}'")


def build_model(obj, name: str | None = None, types: bool = False, *, source=None, type_specs=()) -> SkelModel:
    """``source``: the :class:`~bpfinspect.typesrc.TypeSource` the types come from (made from the object when
    None); ``type_specs``: types to define too (``struct event``), with asserts on their layout."""
    warnings: list[str] = []
    extra = []
    if type_specs:
        types = True
        if source is None:
            from bpfinspect.typesrc import TypeSource
            source = TypeSource(obj)
        for spec in type_specs:
            extra.append(source.find(spec, option="--type"))
    table = source.btf if source is not None and extra else obj.btf
    raw = obj.name if name is None else name
    if name is not None and not name.strip():
        raise UsageError("--name must not be empty")
    libbpf_name = skeleton_libbpf_name(raw)
    ident = skeleton_ident(raw)
    avoid = frozenset(skeleton_macros(ident))

    # The text grows with the object; only BTF can make it grow faster: every declaration and
    # the definitions are charged what they will take at least before they are printed.
    budget = Budget(obj.data, "C skeleton")
    budget.charge(len(obj.data) + len(obj.data) // 76)   # the object, as string rows: a byte or more per byte
    typer = typer_cxx = None
    if table is not None:
        from bpfinspect.skel.c_types import Types, check_declarators, check_records, check_sizes
        table.check_name_offsets()   # (the object's was checked when it was read)
        typer = Types(table, avoid=avoid, host_safe_types=types)
        check_sizes(typer.btf)
        check_records(typer.btf)
        check_declarators(typer.btf)
        typer_cxx = Types(table, cxx=True, avoid=avoid, host_safe_types=types)
        for t in (typer, typer_cxx):
            t.budget, t.weights = budget, {}

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
    ns = NameSpace(avoid=avoid)
    for e in entries:
        if e["kind"] not in ("data", "kconfig"):
            e["member"] = ns.take(e["raw"])
    for e in entries:
        if e["kind"] in ("data", "kconfig"):
            e["member"] = ns.take(e["raw"])

    # -- programs and links ----------------------------------------------------------------------
    strings = _Strings(avoid)
    pns = NameSpace(avoid=avoid)
    lns = NameSpace(avoid=avoid)
    skel_progs = []
    for pname in program_names(obj):
        member = pns.take(pname)
        link = lns.take(pname)
        expr, decl = strings(pname)
        skel_progs.append(SkelProg(member, link, pname, expr, decl))

    # -- data sections --------------------------------------------------------------------------
    top = NameSpace(RESERVED_TOP, avoid=avoid)
    skel_datasecs: list[SkelDatasec] = []
    skel_maps: list[SkelMap] = []
    type_ids: list[int] = []
    for e in entries:
        kind = e["kind"]
        sm = SkelMap(e["member"], e["libbpf"], kind)
        sm.name_expr, sm.name_decl = strings(e["libbpf"])
        if kind in ("data", "kconfig") and sm.member.c != member_name(e["raw"], avoid).c:
            src = e['ds'].name if kind == 'data' else '.kconfig'
            sm.note = Code(" " + qc.comment(f"{src}: '{e['raw']}' is another map's member"))
            warnings.append(f"map member '{shown(e['raw'])}' is taken by another map; "
                            f"the map of {shown(src)} is maps.{sm.member.c}")
        if kind == "struct_ops_link":
            sm.note = qc.trusted(" /* .struct_ops.link: NULL with libbpf before 1.3 */")
        if kind in ("struct_ops", "struct_ops_link"):
            sm.link = lns.take(e["raw"])
            sm.in_skeleton = kind == "struct_ops"
        if kind == "data":
            ds = e["ds"]
            top_name = top.take(ds.skel_name)
            sec = SkelDatasec(top_name, Code(f"{ident}__{top_name.c}"), ds.name, ds.size)
            _fill_datasec(sec, ds, typer, typer_cxx, warnings, type_ids, avoid)
            skel_datasecs.append(sec)
            sm.mmaped = top_name
        elif kind == "kconfig":
            top_name = top.take("kconfig")
            sec = SkelDatasec(top_name, Code(f"{ident}__{top_name.c}"), ".kconfig", 0)
            _fill_kconfig(sec, kconfig, typer, typer_cxx, warnings, type_ids, avoid)
            skel_datasecs.append(sec)
            sm.mmaped = top_name
        skel_maps.append(sm)

    if typer is not None:
        own = [(ident, f"struct {ident}")] + [(d.tag, f"struct {d.tag}") for d in skel_datasecs] + \
            [(f"{ident}__{f}", f"the function {ident}__{f}") for f in SKEL_FUNCTIONS]
        for t in (typer, typer_cxx):
            clash = _clash(t, type_ids, dict(own))
            if clash:
                mine, theirs = clash
                made = "is" if mine == f"struct {ident}" else f"makes {mine}, which is"
                raise UsageError(f"skeleton name {ident!r} {made} also {theirs}, a type the object's globals use: "
                                 "the header could not compile; choose another name with --name")

    type_ids.extend(ref.id for ref in extra)
    types_text = types_text_cxx = Code("")
    type_asserts: list[tuple[Code, Code]] = []
    if types and typer is not None:
        for t in (typer, typer_cxx):
            budget.charge(definitions_weight(t.btf, type_ids, t.weights, t.name))
        types_text = Code(typer.definitions(type_ids))
        types_text_cxx = Code(typer_cxx.definitions(type_ids))
        for ref in extra:
            if ref.id in typer.names.provided or ref.id in typer_cxx.names.provided:
                # the includes define it (<linux/bpf.h>'s union bpf_attr...): their layout is the host's
                warnings.append(f"--type {shown(ref.name)}: the skeleton's includes define it; not defined again, "
                                "and its layout is not asserted")
                continue
            # A name not free (a keyword, the includes' own type of another size, another type of
            # the object first): the type is defined under another name, which the user must know.
            wanted = ref.name.rsplit(" ", 1)[-1]
            c_name, cxx_name = typer.name(ref.id), typer_cxx.name(ref.id)
            texts = [(lang, written) for lang, written in (("C", c_name), ("C++", cxx_name))
                     if written and written != wanted]
            if len(texts) == 2 and c_name == cxx_name:
                texts = [("C and C++", c_name)]
            for lang, written in texts:
                where = f"the {lang} texts" if " and " in lang else f"the {lang} text"
                warnings.append(f"--type {shown(ref.name)}: written as {shown(written)} in {where}, since its name is "
                                "not free there (a keyword, a name of the includes, or another type's)")
            type_asserts.append((_type_asserts(typer, ref.id, ident), _type_asserts(typer_cxx, ref.id, ident)))
    # The variables' declarations, each written once, after the definitions (the header's
    # order: an anonymous enum the definitions wrote keeps its enumerators' names there).
    if typer is not None:
        for sec in skel_datasecs:
            for m in sec.members:
                if m.type_id:
                    m.decl = Code(typer.decl(m.type_id, m.name.c, 2, strip_mods=m.strip))
                    m.decl_cxx = Code(typer_cxx.decl(m.type_id, m.name.cxx, 2, strip_mods=m.strip))
    if types and typer is not None:
        # The aligned typedefs of members of anonymous records the declarations wrote inline.
        types_text = Code("\n".join(filter(None, (types_text, typer.pending()))))
        types_text_cxx = Code("\n".join(filter(None, (types_text_cxx, typer_cxx.pending()))))
        if typer.host_safe or typer_cxx.host_safe:
            types_text = Code(qc.comment(HOST_SAFE_NOTE) + "\n\n" + types_text)
            types_text_cxx = Code(qc.comment(HOST_SAFE_NOTE) + "\n\n" + types_text_cxx)

    name_expr, name_decl = strings(libbpf_name)
    return SkelModel(ident=ident, libbpf_name=libbpf_name, guard=Code(guard_macro(ident)), maps=skel_maps,
                     progs=skel_progs, datasecs=skel_datasecs, types_text=types_text,
                     types_text_cxx=types_text_cxx, type_asserts=type_asserts, data=obj.data, warnings=warnings,
                     name_expr=name_expr,
                     name_decl=name_decl, banner=qc.comment_text(libbpf_name))


def _type_asserts(typer, tid: int, ident: str) -> Code:
    """Static asserts that a type given with ``--type`` has BPF's size, and its named members that are
    not bitfields their offsets (one per line, with the template's ``<ident>__ASSERT`` macro)."""
    from bpfinspect.btf import Kind
    btf = typer.btf
    spelled = _spelling(typer, tid)
    size = typer.sizeof(tid)
    lines = [f"\t{ident}__ASSERT(sizeof({spelled}) == {size}, {qc.string(f'size of {spelled}')});"]
    rid = btf.resolve(tid)
    if btf.kind(rid) in (Kind.STRUCT, Kind.UNION):
        for i, m in enumerate(btf.type(rid).members):
            member = typer.names.member(rid, i)   # the name the definition writes
            if member and not m.bitfield_size and m.bit_offset % 8 == 0:
                lines.append(f"\t{ident}__ASSERT(offsetof({spelled}, {member}) == {m.bit_offset // 8}, "
                             f"{qc.string(f'offset of {spelled}.{member}')});")
    return Code("\n".join(lines))


def _spelling(typer, tid: int) -> str:
    """How the header names type ``tid`` (``struct event``, ``pid_t``)."""
    from bpfinspect.btf import Kind
    k = typer.btf.kind(tid)
    name = typer.name(tid)
    if k == Kind.TYPEDEF:
        return name
    if typer.cxx:
        return name
    word = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}.get(k, "")
    return f"{word} {name}" if word else name


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


def _clash(typer, type_ids, own: dict) -> tuple[str, str] | None:
    """(the skeleton's name, the type's) when a type ``type_ids`` reach is named like one of
    the names the skeleton defines (``own``: name -> what it is), else None."""
    from bpfinspect.btf import Kind
    btf = typer.btf
    tags = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}
    for tid in reachable(btf, type_ids):
        k = btf.kind(tid)
        name = typer.name(tid)
        if name and name in own and (k in tags or k in (Kind.FWD, Kind.TYPEDEF)):
            kw = tags.get(k) or ("typedef" if k == Kind.TYPEDEF else "union" if btf.kflag(tid) else "struct")
            return own[name], f"{kw} {name}"
        if k in (Kind.ENUM, Kind.ENUM64) and tid not in typer.names.provided:
            for i in range(btf.vlen(tid)):
                item = typer.names.items.get((tid, i), "")
                if item in own:
                    return own[item], f"the enumerator {item}"
    return None


def _charge_decl(typer, tid: int, name: str) -> None:
    """Charge the skeleton's budget what a declaration of ``name`` with type ``tid`` takes."""
    typer.budget.charge(decl_weight(typer.btf, tid, typer.weights, typer.name) + len(name))


def _fill_datasec(sec: SkelDatasec, ds, typer, typer_cxx, warnings, type_ids, avoid) -> None:
    # the model already places each variable in the section of its symbol, with its BTF type
    rows = [(v.offset, v.name, v.size, v.type_id) for v in ds.variables
            if not v.is_static and v.linkage == "global"]
    rows.sort(key=lambda r: r[0])
    _layout(sec, rows, typer, typer_cxx, warnings, type_ids, avoid, strip_mods=True)


def _fill_kconfig(sec: SkelDatasec, externs, typer, typer_cxx, warnings, type_ids, avoid) -> None:
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
            warnings.append(f".kconfig: extern '{shown(e.name)}' has no size; left out")
            continue
        items.append((-align, size, e.name, e.type_id, align))
    items.sort(key=lambda t: (t[0], t[1], t[2].encode("utf-8", "surrogateescape")))
    off = 0
    rows = []
    for _, size, nm, tid, align in items:
        off = (off + align - 1) // align * align
        rows.append((off, nm, size, tid))
        off += size
    sec.size = off
    _layout(sec, rows, typer, typer_cxx, warnings, type_ids, avoid, strip_mods=False)


def _layout(sec: SkelDatasec, rows, typer, typer_cxx, warnings, type_ids, avoid, strip_mods: bool) -> None:
    # Variables' names first (unique in the struct), so that padding can avoid them.
    ns = NameSpace(avoid=avoid)
    names = [ns.take(nm) for _, nm, _, _ in rows]
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
    for (need, nm, size, tid), name in zip(rows, names):
        if need < off:
            warnings.append(f"{shown(sec.section)}: variable '{shown(nm)}' at offset {need} overlaps the previous "
                            f"one (which ends at {off}); left out")
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
            if size <= 0:
                # (found by fuzz_skel: written as one byte, it moved every member after it)
                warnings.append(f"{shown(sec.section)}: variable '{shown(nm)}' has neither a size nor a type "
                                "the skeleton can write; left out")
                continue
        if sec.size and need + size > sec.size:
            warnings.append(f"{shown(sec.section)}: variable '{shown(nm)}' ({size} bytes at offset {need}) ends past "
                            f"the section's {sec.size} bytes; left out")
            continue
        if need % align:
            # (no C declaration places a member off its type's alignment in a plain struct)
            warnings.append(f"{shown(sec.section)}: variable '{shown(nm)}' at offset {need} is not aligned for its "
                            f"type ({align} bytes); left out")
            continue
        # as bpftool does: a 32-bit host aligns 8-byte types to 4, so a gap before one is written out
        align = min(align, 4)
        if (off + align - 1) // align * align != need:
            p = pad_name()
            members.append(SkelMember(Code(f"char {p}[{need - off}]"), Code(f"char {p}[{need - off}]"), None, off,
                                      need - off))
        if tid and typer is not None:
            # (declared once the definitions are written: build_model)
            _charge_decl(typer, tid, name.c)
            _charge_decl(typer_cxx, tid, name.cxx)
            decl_c = decl_cxx = None
            type_ids.append(tid)
        else:
            # No type known: the bytes are still there.
            decl_c = Code(f"unsigned char {name.c}[{size}]")
            decl_cxx = Code(f"unsigned char {name.cxx}[{size}]")
        members.append(SkelMember(decl_c, decl_cxx, name, need, size, tid if typer is not None else 0,
                                  strip_mods, _message("size", name.c), _message("offset", name.c)))
        off = need + size
    if not members:
        # Nothing to show (only static variables, or no BTF): keep the struct non-empty
        # (ISO C has no empty structs) by covering the section's bytes.
        n = max(sec.size, 1)
        members.append(SkelMember(Code(f"char __pad0[{n}]"), Code(f"char __pad0[{n}]"), None, 0, n))
