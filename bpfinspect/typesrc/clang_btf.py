"""C headers as BTF: the types a header declares, laid out by clang for ``-target bpf``.

This module runs inside the sandboxed child process of :mod:`.headers` (libclang parses
whatever a header asks for).  It turns the translation unit into a BTF type table with
:class:`~bpfinspect.btf.writer.BtfBuilder`, so that types from headers reach the declarator,
the layout engine and the ctypes layouts exactly as the object's own BTF does:

* the roots are the structs, unions, enums, typedefs and variables (as VARs) declared at file scope in the named
  files themselves (not in what they include: a ``vmlinux.h`` is not copied), and every
  type they refer to comes along;
* sizes, member offsets and bitfield widths are clang's for the BPF target
  (``long double`` is 8 bytes there, as in the object);
* integers keep clang's spelling (``unsigned int``, ``long``), typedefs their name,
  anonymous records stay anonymous; a type BTF has no word for (vectors, ``_Complex``,
  atomics) becomes a byte array of its size;
* the walk is bounded (:data:`MAX_TYPES` types, :data:`MAX_DEPTH` levels).

The result is JSON-safe: the raw BTF (base64), for each record, enum or typedef where it is
declared (``file:line``), and the records the functions of a source send to ring buffers and perf
event arrays (``calls``: map, helper, type id, place; see :func:`_record_calls`).
"""

from __future__ import annotations

import base64
import os

from bpfinspect.btf import Kind
from bpfinspect.btf.kinds import INT_BOOL, INT_CHAR, INT_SIGNED
from bpfinspect.btf.writer import BtfBuilder
from bpfinspect.errors import MalformedInput

MAX_TYPES = 200_000
MAX_DEPTH = 200


class _Converter:
    def __init__(self, ci, tu) -> None:
        self.ci = ci
        self.tu = tu
        self.out = BtfBuilder()
        self.ids: dict[str, int] = {}          # clang's canonical spelling/usr -> id
        self.where: dict[int, str] = {}
        self._int_index = 0
        TK = ci.TypeKind
        self._ints = {
            TK.BOOL: ("_Bool", INT_BOOL), TK.CHAR_U: ("char", 0), TK.UCHAR: ("unsigned char", 0),
            TK.CHAR16: ("char16_t", 0), TK.CHAR32: ("char32_t", 0), TK.USHORT: ("unsigned short", 0),
            TK.UINT: ("unsigned int", 0), TK.ULONG: ("unsigned long", 0), TK.ULONGLONG: ("unsigned long long", 0),
            TK.UINT128: ("unsigned __int128", 0), TK.CHAR_S: ("char", INT_SIGNED | INT_CHAR),
            TK.SCHAR: ("signed char", INT_SIGNED), TK.WCHAR: ("wchar_t", INT_SIGNED), TK.SHORT: ("short", INT_SIGNED),
            TK.INT: ("int", INT_SIGNED), TK.LONG: ("long", INT_SIGNED), TK.LONGLONG: ("long long", INT_SIGNED),
            TK.INT128: ("__int128", INT_SIGNED),
        }
        self._floats = {TK.FLOAT: "float", TK.DOUBLE: "double", TK.LONGDOUBLE: "long double",
                        TK.HALF: "_Float16", TK.FLOAT128: "__float128"}

    def _count(self) -> None:
        if len(self.out.types) > MAX_TYPES:
            raise MalformedInput(f"the headers define more than {MAX_TYPES} types")

    def _where(self, cursor) -> str | None:
        loc = cursor.location
        if loc.file is None:
            return None
        return f"{os.path.basename(loc.file.name)}:{loc.line}"

    # -- types ----------------------------------------------------------------------------------

    def type_id(self, t, depth: int = 0) -> int:
        if depth > MAX_DEPTH:
            raise MalformedInput("a type in the headers nests too deeply")
        ci = self.ci
        TK = ci.TypeKind
        k = t.kind
        if k == TK.ELABORATED:
            return self._qualified(t, self.type_id(t.get_named_type(), depth + 1))
        if k == TK.VOID:
            return self._qualified(t, 0)
        if k in self._ints:
            name, enc = self._ints[k]
            return self._qualified(t, self._scalar(("int", name), lambda: self.out.add_int(name, t.get_size(), enc)))
        if k in self._floats:
            name = self._floats[k]
            return self._qualified(t, self._scalar(("float", name), lambda: self.out.add_float(name, t.get_size())))
        if k == TK.POINTER:
            target = self._pointee(t.get_pointee(), depth)
            return self._qualified(t, self._scalar(("ptr", target), lambda: self.out.add_ref(Kind.PTR, target)))
        if k == TK.TYPEDEF:
            decl = t.get_declaration()
            return self._qualified(t, self._typedef(decl, depth))
        if k in (TK.RECORD, TK.ENUM):
            return self._qualified(t, self._tag(t.get_declaration(), depth))
        if k in (TK.CONSTANTARRAY, TK.INCOMPLETEARRAY):
            elem = self.type_id(t.get_array_element_type(), depth + 1)
            n = t.get_array_size() if k == TK.CONSTANTARRAY else 0
            index = self._scalar(("int", "__ARRAY_SIZE_TYPE__"),
                                 lambda: self.out.add_int("__ARRAY_SIZE_TYPE__", 4, 0))
            return self._qualified(t, self._scalar(("array", elem, n), lambda: self.out.add_array(elem, index, n)))
        if k in (TK.FUNCTIONPROTO, TK.FUNCTIONNOPROTO):
            ret = self.type_id(t.get_result(), depth + 1)
            params = [("", self.type_id(a, depth + 1)) for a in t.argument_types()] if k == TK.FUNCTIONPROTO else []
            if k == TK.FUNCTIONPROTO and t.is_function_variadic():
                params.append(("", 0))
            return self.out.add_func_proto(ret, params)
        size = t.get_size()
        if size < 0:
            return self._qualified(t, 0)
        byte = self._scalar(("int", "unsigned char"), lambda: self.out.add_int("unsigned char", 1, 0))
        index = self._scalar(("int", "__ARRAY_SIZE_TYPE__"), lambda: self.out.add_int("__ARRAY_SIZE_TYPE__", 4, 0))
        return self._scalar(("array", byte, size), lambda: self.out.add_array(byte, index, size))

    @staticmethod
    def _tag_key(decl, anonymous: bool) -> str:
        if anonymous:   # anonymous records are told apart by where they are
            loc = decl.location
            return f"anon {loc.file.name if loc.file else ''}:{loc.offset}"
        return "tag " + (decl.get_usr() or decl.spelling)

    def _pointee(self, t, depth: int) -> int:
        """What a pointer points to: a named struct or union only as a forward declaration unless it is
        defined here already (its layout does not matter through a pointer), as clang writes BTF."""
        TK = self.ci.TypeKind
        inner = t.get_named_type() if t.kind == TK.ELABORATED else t
        if inner.kind == TK.RECORD:
            decl = inner.get_declaration()
            name = decl.spelling
            if name and not decl.is_anonymous() and "(" not in name:
                done = self.ids.get(self._tag_key(decl, False))
                if done is None:
                    union = decl.kind == self.ci.CursorKind.UNION_DECL
                    done = self._scalar(("fwd", union, name), lambda: self.out.add_fwd(name, union))
                return self._qualified(t, done)
        return self.type_id(t, depth + 1)

    def _scalar(self, key, make) -> int:
        key = repr(key)
        tid = self.ids.get(key)
        if tid is None:
            self._count()
            tid = self.ids[key] = make()
        return tid

    def _qualified(self, t, tid: int) -> int:
        if t.is_volatile_qualified():
            tid = self._scalar(("volatile", tid), lambda: self.out.add_ref(Kind.VOLATILE, tid))
        if t.is_const_qualified():
            tid = self._scalar(("const", tid), lambda: self.out.add_ref(Kind.CONST, tid))
        return tid

    def _typedef(self, decl, depth: int) -> int:
        key = "typedef " + (decl.get_usr() or decl.spelling)
        tid = self.ids.get(key)
        if tid is not None:
            return tid
        target = self.type_id(decl.underlying_typedef_type, depth + 1)
        tid = self.ids.get(key)   # defined meanwhile, through a record that uses it
        if tid is not None:
            return tid
        self._count()
        tid = self.ids[key] = self.out.add_ref(Kind.TYPEDEF, target, decl.spelling)
        where = self._where(decl)
        if where:
            self.where[tid] = where
        return tid

    def _tag(self, decl, depth: int) -> int:
        ci = self.ci
        CK = ci.CursorKind
        definition = decl.get_definition()
        anonymous = decl.is_anonymous() or not decl.spelling or "(" in decl.spelling
        name = "" if anonymous else decl.spelling
        key = self._tag_key(definition or decl, anonymous)
        tid = self.ids.get(key)
        if tid is not None:
            return tid
        if definition is None:
            self._count()
            tid = self.ids[key] = self.out.add_fwd(name, decl.kind == CK.UNION_DECL)
            return tid
        decl = definition
        self._count()
        if decl.kind == CK.ENUM_DECL:
            underlying = decl.enum_type.get_canonical()
            signed = underlying.kind in (ci.TypeKind.INT, ci.TypeKind.LONG, ci.TypeKind.LONGLONG, ci.TypeKind.SHORT,
                                         ci.TypeKind.SCHAR, ci.TypeKind.CHAR_S, ci.TypeKind.INT128)
            values = [(c.spelling, c.enum_value) for c in decl.get_children() if c.kind == CK.ENUM_CONSTANT_DECL]
            tid = self.ids[key] = self.out.add_enum(name, decl.type.get_size(), signed, values)
        else:
            kind = Kind.UNION if decl.kind == CK.UNION_DECL else Kind.STRUCT
            size = decl.type.get_size()
            tid = self.ids[key] = self.out.add_composite(kind, name, max(size, 0))
            for field in decl.type.get_fields():
                fname = "" if "(" in field.spelling else field.spelling
                if field.is_bitfield() and not fname:
                    continue   # padding (``int : 4;``), as in DWARF and BTF
                ftype = self.type_id(field.type, depth + 1)
                offset = field.get_field_offsetof()
                if offset < 0:
                    raise MalformedInput(f"{self._where(field) or 'a header'}: clang gives no offset for "
                                         f"member {field.spelling or '(anonymous)'}")
                bits = field.get_bitfield_width() if field.is_bitfield() else 0
                self.out.add_member(tid, fname, ftype, offset, bits)
        where = self._where(decl)
        if where:
            self.where[tid] = where
        return tid


# helper -> (argument index of the map, of the data or None: the result is the record)
SENDERS = {"bpf_ringbuf_reserve": (0, None), "bpf_ringbuf_output": (0, 1), "bpf_perf_event_output": (1, 3),
           "bpf_skb_output": (1, 3), "bpf_xdp_output": (1, 3)}
MAX_NODES = 2_000_000


def _strip(cursor, ci):
    """An expression without the implicit casts, parentheses and explicit casts around it."""
    CK = ci.CursorKind
    for _ in range(64):
        if cursor.kind in (CK.UNEXPOSED_EXPR, CK.PAREN_EXPR, CK.CSTYLE_CAST_EXPR):
            inner = [c for c in cursor.get_children() if c.kind.is_expression()]
            if len(inner) != 1:
                return cursor
            cursor = inner[0]
        else:
            return cursor
    return cursor


def _map_name(arg, ci):
    """``&rb`` (or ``rb``) -> ``"rb"`` when it names a variable at file scope; ``(function USR, index)`` when
    it names a parameter of the function (``send(void *ring)``: the callers say which map); else None."""
    arg = _strip(arg, ci)
    if arg.kind == ci.CursorKind.UNARY_OPERATOR:
        kids = list(arg.get_children())
        arg = _strip(kids[0], ci) if len(kids) == 1 else arg
    if arg.kind == ci.CursorKind.DECL_REF_EXPR:
        ref = arg.referenced
        if ref is None:
            return None
        parent = ref.semantic_parent
        if ref.kind == ci.CursorKind.VAR_DECL and parent is not None and \
                parent.kind == ci.CursorKind.TRANSLATION_UNIT:
            return ref.spelling
        if ref.kind == ci.CursorKind.PARM_DECL and parent is not None and parent.kind == ci.CursorKind.FUNCTION_DECL:
            params = [c.get_usr() for c in parent.get_arguments()]
            if ref.get_usr() in params:
                return (parent.get_usr(), params.index(ref.get_usr()))
    return None


def _record_calls(conv: _Converter, cursor, forwards: dict) -> list[dict]:
    """The record each call to a helper of :data:`SENDERS` in a function body sends: the type the data
    argument points to (``&e``), or for a reservation the type the result is stored as (``e =
    bpf_ringbuf_reserve(...)``, ``struct event *e = bpf_ringbuf_reserve(...)``).  A map that arrives as a
    parameter is kept as ``(function USR, index)``; ``forwards`` collects, for every call of a function,
    what its arguments name (a map, or a parameter of the caller in turn)."""
    ci = conv.ci
    CK = ci.CursorKind
    TK = ci.TypeKind
    out: list[dict] = []
    stack = [(cursor, None)]
    seen = 0
    while stack:
        node, holder = stack.pop()   # holder: the pointer type a call's result is stored as
        seen += 1
        if seen > MAX_NODES:
            raise MalformedInput("the sources given with --header are too large to walk")
        kind = node.kind
        if kind == CK.CALL_EXPR and node.spelling not in SENDERS:
            callee = node.referenced
            if callee is not None and callee.kind == CK.FUNCTION_DECL:
                named = [_map_name(a, ci) for a in node.get_arguments()]
                if any(named):
                    forwards.setdefault(callee.get_usr(), []).append(named)
        if kind == CK.CALL_EXPR and node.spelling in SENDERS:
            args = list(node.get_arguments())
            map_at, data_at = SENDERS[node.spelling]
            name = _map_name(args[map_at], ci) if len(args) > map_at else None
            target = None
            if data_at is None:
                target = holder
            elif len(args) > data_at:
                t = _strip(args[data_at], ci).type.get_canonical()
                target = t.get_pointee() if t.kind == TK.POINTER else None
            if name and target is not None and target.kind not in (TK.VOID, TK.INVALID):
                out.append({"map": name, "helper": node.spelling, "type": conv.type_id(target),
                            "where": conv._where(node)})
        if kind == CK.VAR_DECL and node.type.get_canonical().kind == TK.POINTER:
            holder_here = node.type.get_pointee()
        elif kind == CK.BINARY_OPERATOR:
            kids = list(node.get_children())
            lhs = kids[0].type.get_canonical() if kids else None
            holder_here = lhs.get_pointee() if lhs is not None and lhs.kind == TK.POINTER else None
        elif kind in (CK.UNEXPOSED_EXPR, CK.PAREN_EXPR, CK.CSTYLE_CAST_EXPR):
            holder_here = holder
        else:
            holder_here = None
        for child in reversed(list(node.get_children())):
            stack.append((child, holder_here))
    return out


def convert(ci, tu, files: list[str]) -> dict:
    """The types declared in ``files`` (absolute paths) of translation unit ``tu``, as BTF."""
    conv = _Converter(ci, tu)
    wanted = {os.path.realpath(f) for f in files}
    CK = ci.CursorKind
    kinds = {CK.STRUCT_DECL, CK.UNION_DECL, CK.ENUM_DECL, CK.TYPEDEF_DECL, CK.VAR_DECL, CK.FUNCTION_DECL}
    calls: list[dict] = []
    forwards: dict = {}
    real: dict[str, bool] = {}
    for cursor in tu.cursor.get_children():
        if cursor.kind not in kinds:
            continue
        f = cursor.location.file
        if f is None:
            continue
        name = f.name
        mine = real.get(name)
        if mine is None:
            mine = real[name] = os.path.realpath(name) in wanted
        if not mine:
            continue
        if cursor.kind == CK.FUNCTION_DECL:
            if cursor.is_definition():
                calls += _record_calls(conv, cursor, forwards)
        elif cursor.kind == CK.VAR_DECL:
            if cursor.spelling:   # a variable's type, for objects that lack BTF and DWARF
                var = conv.out.add_var(cursor.spelling, conv.type_id(cursor.type), 1)
                conv.where[var] = conv._where(cursor)
        elif cursor.kind == CK.TYPEDEF_DECL:
            conv._typedef(cursor, 0)
        elif cursor.spelling and not cursor.is_anonymous():
            conv._tag(cursor, 0)
    return {"btf": base64.b64encode(conv.out.raw()).decode("ascii"),
            "where": {str(k): v for k, v in conv.where.items()}, "calls": _through_callers(calls, forwards)}


def _through_callers(calls: list[dict], forwards: dict, depth: int = 8) -> list[dict]:
    """Calls whose map is a parameter, resolved through the callers' arguments (``depth`` levels of calls);
    what stays a parameter, or names a parameter nobody passes a map to, is dropped."""
    done = [c for c in calls if isinstance(c["map"], str)]
    pending = [c for c in calls if not isinstance(c["map"], str)]
    for _ in range(depth):
        if not pending:
            break
        nxt = []
        for c in pending:
            usr, index = c["map"]
            for args in forwards.get(usr, ()):
                named = args[index] if index < len(args) else None
                if isinstance(named, str):
                    done.append(dict(c, map=named))
                elif named is not None:
                    nxt.append(dict(c, map=named))
        pending = nxt[:10_000]
    return done
