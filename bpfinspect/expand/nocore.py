"""``expand --no-core``: a BPF C source rewritten without CO-RE.

What the tutorial did by hand when a kernel is too old for CO-RE: every CO-RE read
becomes a plain ``bpf_probe_read_kernel`` (or ``_str``/``_user``, as the macro said) at
the offset the target BTF gives, every CO-RE query becomes its constant.

1. The CO-RE macros (``BPF_CORE_READ*``, ``bpf_core_read*``, ``bpf_core_field_*``,
   ``bpf_core_type_*``, ``bpf_core_enum_value*``) are expanded like ``expand`` does; what
   is left of CO-RE are clang's builtins (``__builtin_preserve_access_index``,
   ``__builtin_preserve_field_info``, ``__builtin_btf_type_id``,
   ``__builtin_preserve_type_info``, ``__builtin_preserve_enum_value``).
2. The source is compiled once (clang, the same flags) for its own BTF: the local types
   that the relocations name, flavours included.
3. clang parses the expanded text; each builtin's argument gives the root type and the
   member path (names and array indices) with their types.  The path becomes the access
   string clang would have written; the CO-RE engine (:mod:`bpfinspect.core`) resolves it
   against the target exactly as libbpf would, and the builtin is replaced by the
   address ``(char *)base + offset`` or by the value, with a comment naming the path and
   where the number came from.
4. ``#define BPF_NO_PRESERVE_ACCESS_INDEX`` goes first (vmlinux.h's types lose the
   attribute) and explicit ``preserve_access_index`` attributes are removed, so that
   direct member accesses are plain too.

A relocation that finds nothing in the target is an error naming it, except the
``*_exists`` queries, which become 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field

from bpfinspect.errors import EnvironmentProblem, UsageError
from bpfinspect.quote.c import comment_text

CORE_MACROS = (
    # the tracing macros that use CO-RE reads inside (for the syscall wrappers' registers)
    "BPF_KSYSCALL", "BPF_KPROBE_SYSCALL", "BPF_KPROBE", "BPF_KRETPROBE", "BPF_UPROBE", "BPF_URETPROBE",
    "BPF_CORE_READ", "BPF_CORE_READ_USER", "BPF_CORE_READ_INTO", "BPF_CORE_READ_USER_INTO",
    "BPF_CORE_READ_STR_INTO", "BPF_CORE_READ_USER_STR_INTO", "BPF_CORE_READ_BITFIELD",
    "BPF_CORE_READ_BITFIELD_PROBED",
    "bpf_core_read", "bpf_core_read_user", "bpf_core_read_str", "bpf_core_read_user_str",
    "bpf_core_field_exists", "bpf_core_field_size", "bpf_core_field_offset",
    "bpf_core_type_id_local", "bpf_core_type_id_kernel", "bpf_core_type_exists", "bpf_core_type_size",
    "bpf_core_type_matches", "bpf_core_enum_value_exists", "bpf_core_enum_value",
)

BUILTINS = {
    "__builtin_preserve_access_index", "__builtin_preserve_field_info", "__builtin_btf_type_id",
    "__builtin_preserve_type_info", "__builtin_preserve_enum_value",
}
# clang's second arguments -> CO-RE relocation kinds
_TYPE_ID_KINDS = {0: 6, 1: 7}                # BPF_TYPE_ID_LOCAL, BPF_TYPE_ID_TARGET
_TYPE_INFO_KINDS = {0: 8, 1: 9, 2: 12}       # BPF_TYPE_EXISTS, BPF_TYPE_SIZE, BPF_TYPE_MATCHES
_ENUM_KINDS = {0: 10, 1: 11}                 # BPF_ENUMVAL_EXISTS, BPF_ENUMVAL_VALUE
_EXISTS = {2, 8, 10, 12}
_PAI_ATTR = re.compile(r"__attribute__\s*\(\(\s*(?:__)?preserve_access_index(?:__)?\s*\)\)")
COMPILE_TIMEOUT = 120
MAX_SITES = 100_000


class NoCoreError(UsageError):
    """A CO-RE use that cannot be rewritten for the target (exit 2)."""


@dataclass
class Rewrite:
    line: int
    column: int
    builtin: str
    kind: str               # the CO-RE kind (byte_off, field_exists...)
    path: str               # task_struct.real_parent, enum bpf_map_type::BPF_MAP_TYPE_RINGBUF
    value: int
    target_spec: str        # libbpf's text of the matched target spec ('' when not found)
    original: str
    replacement: str


@dataclass
class NoCoreResult:
    path: str
    target: str
    text: str               # the rewritten source (latin-1 form, like ExpandResult)
    rewrites: list[Rewrite] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @staticmethod
    def as_text(s: str) -> str:
        """As :meth:`bpfinspect.expand.core.ExpandResult.as_text`: bytes that are not UTF-8 become
        lone surrogates, written back as the same bytes."""
        return s.encode("latin-1").decode("utf-8", "surrogateescape")


# -- the source's own BTF ------------------------------------------------------------------------

def find_clang() -> str:
    """The clang to compile with: $BPFINSPECT_CLANG, else the newest clang-N, else clang."""
    import shutil

    env = os.environ.get("BPFINSPECT_CLANG")
    if env:
        return env
    for v in range(30, 13, -1):
        found = shutil.which(f"clang-{v}")
        if found:
            return found
    found = shutil.which("clang")
    if not found:
        raise EnvironmentProblem("no clang to compile the source with (install clang, or set BPFINSPECT_CLANG)")
    return found


def compile_args(clang_args: list[str]) -> list[str]:
    """expand's libclang arguments as a compiler command line (without libclang-only ones)."""
    out: list[str] = []
    skip = False
    for a in clang_args:
        if skip:
            skip = False
            continue
        if a == "-resource-dir":
            skip = True
            continue
        if a.startswith("-ferror-limit"):
            continue
        out.append(a)
    return out


def local_btf(path: str, clang_args: list[str]):
    """The BTF clang writes for ``path`` (its local types: what its CO-RE relocations name)."""
    from bpfinspect.btf import load_btf
    from bpfinspect.errors import MalformedInput

    with tempfile.TemporaryDirectory(prefix="bpfinspect-nocore-") as d:
        out = os.path.join(d, "local.o")
        # the newest instruction set, so that sources written for it compile (the BTF is the same)
        base = [find_clang(), *compile_args(clang_args), "-g", "-c", path, "-o", out]
        for cmd in ([*base, "-mcpu=v4"], base):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise UsageError(f"compiling {path} took longer than {COMPILE_TIMEOUT} s") from None
            except OSError as exc:
                raise EnvironmentProblem(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
            if p.returncode == 0 or "mcpu" not in p.stderr:
                break
        if p.returncode != 0:
            first = next((ln for ln in p.stderr.splitlines() if "error" in ln), p.stderr.strip()[:300])
            raise UsageError(f"{path} does not compile: {first}")
        try:
            return load_btf(out)
        except MalformedInput as exc:
            raise UsageError(f"the compiled {path} has no usable BTF: {exc.what}") from None


# -- clang's view of the builtins -----------------------------------------------------------------

@dataclass
class _Step:
    name: str | None     # member name, or None for an array index
    index: int = 0


@dataclass
class _Site:
    builtin: str
    start: int
    end: int
    line: int
    column: int
    kind: int                       # CO-RE relocation kind
    root_kind: str = ""             # struct, union, enum, typedef
    root_name: str = ""
    steps: list = field(default_factory=list)
    root_index: int = 0
    base: tuple[int, int] | None = None    # extent of the root pointer expression (access index)
    arg: tuple[int, int] = (0, 0)          # extent of the first argument
    enumerator: str = ""


def _strip(c, ci):
    """Through parentheses and implicit conversions."""
    K = ci.CursorKind
    for _ in range(64):
        if c.kind in (K.PAREN_EXPR, K.UNEXPOSED_EXPR):
            kids = list(c.get_children())
            if len(kids) == 1:
                c = kids[0]
                continue
        return c
    return c


def _int_value(c, ci) -> int:
    K = ci.CursorKind
    c = _strip(c, ci)
    if c.kind == K.INTEGER_LITERAL:
        tok = next(iter(c.get_tokens()), None)
        if tok is not None:
            text = tok.spelling.rstrip("uUlL")
            try:
                return int(text, 0)
            except ValueError:
                pass
    if c.kind == K.DECL_REF_EXPR and c.referenced is not None and c.referenced.kind == K.ENUM_CONSTANT_DECL:
        return c.referenced.enum_value
    if c.kind == K.UNARY_OPERATOR:
        toks = [t.spelling for t in c.get_tokens()]
        kids = list(c.get_children())
        if toks and toks[0] == "-" and len(kids) == 1:
            return -_int_value(kids[0], ci)
    raise NoCoreError("a CO-RE use with an index or kind that is not a plain constant")


def _record_of(t, ci) -> tuple[str, str]:
    """(struct|union|enum|typedef, name) of a C type as written (typedef names kept)."""
    TK = ci.TypeKind
    for _ in range(32):
        if t.kind == TK.ELABORATED:
            t = t.get_named_type()
            continue
        if t.kind == TK.TYPEDEF:
            return "typedef", t.get_declaration().spelling
        break
    canon = t.get_canonical()
    decl = canon.get_declaration()
    kind = {ci.CursorKind.STRUCT_DECL: "struct", ci.CursorKind.UNION_DECL: "union",
            ci.CursorKind.ENUM_DECL: "enum"}.get(decl.kind)
    if kind is None or not decl.spelling or decl.is_anonymous():
        raise NoCoreError(f"a CO-RE use whose type ({t.spelling}) is not a named struct, union, enum or typedef")
    return kind, decl.spelling


def _plain_base(c, ci) -> None:
    """The root pointer must be a variable or a constant seen through casts and parentheses:
    a member access or a dereference there would be a load at the source's own layout."""
    K = ci.CursorKind
    for _ in range(64):
        kids = list(c.get_children())
        if c.kind in (K.PAREN_EXPR, K.UNEXPOSED_EXPR) and len(kids) == 1:
            c = kids[0]
            continue
        if c.kind == K.CSTYLE_CAST_EXPR and kids:
            c = kids[-1]     # the operand (a typeof() in the type comes first, unevaluated)
            continue
        break
    if c.kind in (K.DECL_REF_EXPR, K.INTEGER_LITERAL, K.CALL_EXPR):
        return
    raise NoCoreError("a CO-RE access whose base is itself read through memory (a dereference inside "
                      "one access): read it in steps, as BPF_CORE_READ does")


def _member_chain(c, ci, site: _Site) -> None:
    """Fill the root type, the steps and the root pointer's extent from a member expression."""
    K = ci.CursorKind
    steps: list[_Step] = []
    cur = _strip(c, ci)
    for _ in range(256):
        if cur.kind == K.MEMBER_REF_EXPR:
            kids = list(cur.get_children())
            ref = cur.referenced
            anonymous = ref is not None and (ref.is_anonymous() or not ref.spelling
                                             or "(anonymous" in cur.spelling)
            if not anonymous:
                steps.append(_Step(cur.spelling))
            if not kids:
                raise NoCoreError("a CO-RE access through an implicit base")
            base = kids[0]
            bt = base.type.get_canonical()
            if bt.kind == ci.TypeKind.POINTER:
                site.root_kind, site.root_name = _record_of(base.type.get_pointee() if base.type.kind ==
                                                            ci.TypeKind.POINTER else bt.get_pointee(), ci)
                site.base = (base.extent.start.offset, base.extent.end.offset)
                _plain_base(base, ci)
                break
            cur = _strip(base, ci)
            continue
        if cur.kind == K.ARRAY_SUBSCRIPT_EXPR:
            kids = list(cur.get_children())
            if len(kids) != 2:
                raise NoCoreError("an array index clang did not expose")
            idx = _int_value(kids[1], ci)
            base = kids[0]
            inner = _strip(base, ci)
            if inner.kind in (K.MEMBER_REF_EXPR, K.ARRAY_SUBSCRIPT_EXPR) and \
                    inner.type.get_canonical().kind in (ci.TypeKind.CONSTANTARRAY, ci.TypeKind.INCOMPLETEARRAY):
                steps.append(_Step(None, idx))
                cur = inner
                continue
            # p[idx].x: the first index of the access string steps through the root pointer
            site.root_index = idx
            site.root_kind, site.root_name = _record_of(base.type.get_canonical().get_pointee(), ci)
            site.base = (base.extent.start.offset, base.extent.end.offset)
            _plain_base(base, ci)
            break
        raise NoCoreError("a CO-RE access that is not a chain of members and constant indices "
                          "(a dereference inside one access: read it in steps, as BPF_CORE_READ does)")
    else:
        raise NoCoreError("a CO-RE access nested too deeply")
    steps.reverse()
    site.steps = steps


def _describe(c, ci, text: str, line_of) -> _Site:
    K = ci.CursorKind
    name = c.spelling
    args = list(c.get_arguments())
    start, end = c.extent.start.offset, c.extent.end.offset
    line, col = line_of(start)
    if text[start:start + len(name)] != name:
        macro = re.match(r"[A-Za-z_]\w*", text[start:start + 200])
        raise NoCoreError(f"a CO-RE use inside the macro {macro.group() if macro else '?'}, which is not "
                          f"expanded (add -m {macro.group() if macro else 'NAME'})")
    if not args:
        raise NoCoreError(f"{name} without arguments")
    arg = args[0]
    site = _Site(name, start, end, line, col, 0, arg=(arg.extent.start.offset, arg.extent.end.offset))
    if name == "__builtin_preserve_access_index":
        site.kind = 0
        inner = _strip(arg, ci)
        toks = [t.spelling for t in inner.get_tokens()]
        if inner.kind != K.UNARY_OPERATOR or not toks or toks[0] != "&":
            raise NoCoreError("__builtin_preserve_access_index of something other than the address of a member")
        _member_chain(list(inner.get_children())[0], ci, site)
        return site
    if len(args) != 2:
        raise NoCoreError(f"{name} with {len(args)} arguments")
    code = _int_value(args[1], ci)
    if name == "__builtin_preserve_field_info":
        if not 0 <= code <= 5:
            raise NoCoreError(f"unknown field information kind {code}")
        site.kind = code
        _member_chain(arg, ci, site)
        return site
    table = {"__builtin_btf_type_id": _TYPE_ID_KINDS, "__builtin_preserve_type_info": _TYPE_INFO_KINDS,
             "__builtin_preserve_enum_value": _ENUM_KINDS}[name]
    if code not in table:
        raise NoCoreError(f"unknown {name} kind {code}")
    site.kind = table[code]
    site.root_kind, site.root_name = _record_of(arg.type, ci)
    if name == "__builtin_preserve_enum_value":
        refs = [d for d in arg.walk_preorder() if d.kind == K.DECL_REF_EXPR and d.referenced is not None
                and d.referenced.kind == K.ENUM_CONSTANT_DECL]
        if not refs:
            raise NoCoreError("__builtin_preserve_enum_value without an enumerator")
        site.enumerator = refs[-1].spelling
    return site


# -- access strings in the local BTF --------------------------------------------------------------

_KIND_OF = {"struct": "STRUCT", "union": "UNION", "enum": "ENUM", "typedef": "TYPEDEF"}


def _local_root(btf, site: _Site) -> int:
    from bpfinspect.btf.kinds import Kind

    kinds = [Kind[_KIND_OF[site.root_kind]]] + ([Kind.ENUM64] if site.root_kind == "enum" else [])
    for k in kinds:
        ids = btf.find(site.root_name, k)
        if ids:
            return ids[0]
    raise NoCoreError(f"{site.root_kind} {site.root_name} is not in the source's BTF")


def _find_member(btf, tid: int, name: str, depth: int = 0) -> list[int] | None:
    """Member indices leading to ``name`` in a struct/union, through anonymous members."""
    from bpfinspect.core.types import COMPOSITE_KINDS, skip_mods

    if depth > 32:
        return None
    tid = skip_mods(btf, tid)
    if btf.kind(tid) not in COMPOSITE_KINDS:
        return None
    members = btf.type(tid).members
    for i, m in enumerate(members):
        if m.name == name:
            return [i]
        if not m.name:
            inner = _find_member(btf, m.type, name, depth + 1)
            if inner is not None:
                return [i] + inner
    return None


def _access(btf, root: int, site: _Site) -> tuple[str, str]:
    """(access string, readable path) of a member chain in the local BTF."""
    from bpfinspect.btf.kinds import Kind
    from bpfinspect.core.types import skip_mods

    raw = [site.root_index]
    path = site.root_name + (f"[{site.root_index}]" if site.root_index else "")
    tid = root
    for step in site.steps:
        tid = skip_mods(btf, tid)
        if step.name is None:
            if btf.kind(tid) != Kind.ARRAY:
                raise NoCoreError(f"{path}: indexing something that is not an array")
            raw.append(step.index)
            path += f"[{step.index}]"
            tid = btf.type(tid).array.type
            continue
        idx = _find_member(btf, tid, step.name)
        if idx is None:
            raise NoCoreError(f"{path} has no member {step.name} in the source's BTF")
        for i in idx:
            t = btf.type(skip_mods(btf, tid))
            tid = t.members[i].type
        raw.extend(idx)
        path += f".{step.name}"
    return ":".join(str(x) for x in raw), path


# -- the rewrite ---------------------------------------------------------------------------------

def _original_position(expanded):
    """offset in the expanded text -> (line, column) in the original source: the macro use
    an offset falls in, or the same place shifted back by the expansions before it."""
    import bisect

    line_starts = [0] + [m.end() for m in re.finditer("\n", expanded.original)]
    spans = [(s.out_start, s.out_end, s.line, s.column, s.end - s.start) for s in expanded.sites]
    starts = [sp[0] for sp in spans]
    shift = []
    total = 0
    for out_start, out_end, _l, _c, orig_len in spans:
        total += (out_end - out_start) - orig_len
        shift.append(total)

    def position(offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset < spans[i][1]:
            return spans[i][2], spans[i][3]
        orig = offset - (shift[i] if i >= 0 else 0)
        ln = bisect.bisect_right(line_starts, orig)
        return ln, orig - line_starts[ln - 1] + 1

    return position


def _replacement(site: _Site, value: int, text: str, comment: str) -> str:
    if site.builtin == "__builtin_preserve_access_index":
        arg = text[site.arg[0]:site.arg[1]]
        base = text[site.base[0]:site.base[1]]
        return f"((typeof({arg}))((unsigned long)({base}) + {value} /* {comment} */))"
    suffix = "ULL" if value > 0xFFFFFFFF else "U"
    return f"({value}{suffix} /* {comment} */)"


def rewrite(path: str, *, target: str | None = None, arch: str | None = None, include_dirs=(), defines=(),
            macros=(), resource_dir: str | None = None) -> NoCoreResult:
    """``path`` rewritten without CO-RE for the target BTF ``target`` (default: this kernel's);
    ``macros`` are expanded too (macros of the source's own that use the CO-RE ones)."""
    from bpfinspect.core.resolve import Resolver
    from bpfinspect.core.targets import DEFAULT_TARGET, iter_targets
    from bpfinspect.expand import clangfront
    from bpfinspect.expand.core import expand_source

    target = target or DEFAULT_TARGET
    targets = list(iter_targets([target]))
    if len(targets) != 1 or targets[0].btf is None:
        raise UsageError(f"--btf {target}: one readable target BTF is needed")
    tbtf = targets[0].btf
    expanded = expand_source(path, macros=[*CORE_MACROS, *macros], arch=arch, include_dirs=list(include_dirs),
                             defines=list(defines), btf_path=target if target != DEFAULT_TARGET else None,
                             resource_dir=resource_dir)
    text = expanded.expanded
    # --btf is the target here, whether or not vmlinux.h is printed from it
    expanded.warnings = [w for w in expanded.warnings if not w.startswith("--btf ")]
    lbtf = local_btf(path, expanded.clang_args)
    ci = clangfront._load_cindex()
    index = ci.Index.create()
    data = text.encode("latin-1")
    try:
        tu = index.parse(path, args=expanded.clang_args, unsaved_files=[(path, data)])
    except ci.TranslationUnitLoadError as exc:
        raise UsageError(f"{path}: clang could not parse the expanded source ({exc})") from None
    line_of = _original_position(expanded)

    main = tu.get_file(path)
    sites: list[_Site] = []
    for c in tu.cursor.walk_preorder():
        if c.kind != ci.CursorKind.CALL_EXPR or c.spelling not in BUILTINS:
            continue
        f = c.location.file
        if f is None or f.name != main.name:
            continue
        try:
            sites.append(_describe(c, ci, text, line_of))
        except NoCoreError as exc:
            ln, col = line_of(c.extent.start.offset)
            raise NoCoreError(f"{path}:{ln}:{col}: {exc.message}") from None
        if len(sites) > MAX_SITES:
            raise NoCoreError(f"more than {MAX_SITES} CO-RE uses")
    sites.sort(key=lambda s: s.start)
    for a, b in zip(sites, sites[1:]):
        if b.start < a.end:
            raise NoCoreError(f"{path}:{b.line}:{b.column}: a CO-RE use inside another one")

    resolver = Resolver(None, btf=lbtf)
    target_name = comment_text(targets[0].name)
    result = NoCoreResult(path, targets[0].name, "", warnings=list(expanded.warnings))
    pieces: list[str] = []
    pos = 0
    for s in sites:
        root = _local_root(lbtf, s)
        where = f"{path}:{s.line}:{s.column}"
        if s.kind in (0, 1, 2, 3, 4, 5):
            access, readable = _access(lbtf, root, s)
        elif s.kind in (10, 11):
            values = lbtf.type(lbtf.resolve(root)).values
            names = [v.name for v in values]
            if s.enumerator not in names:
                raise NoCoreError(f"{where}: {s.enumerator} is not in enum {s.root_name}")
            access, readable = str(names.index(s.enumerator)), f"enum {s.root_name}::{s.enumerator}"
        else:
            access, readable = "0", f"{s.root_kind} {s.root_name}"
        r = resolver.resolve_access(tbtf, root, access, s.kind)
        kind_name = r.kind
        if r.status in ("ambiguous", "error"):
            raise NoCoreError(f"{where}: {readable}: {r.status} in {targets[0].name}: {r.reason}")
        if r.poisoned or r.value is None:
            raise NoCoreError(f"{where}: {readable} ({kind_name}) is not in {targets[0].name}: {r.reason}")
        value = r.value
        spec = r.target_spec.text() if r.target_spec is not None else ""
        if r.status == "not_found":
            comment = f"{comment_text(readable)}: {kind_name} = {value}, not in {target_name}"
        else:
            tid = r.target_spec.root_type_id if r.target_spec is not None else 0
            comment = f"{comment_text(readable)}: {kind_name} {value} from {target_name} [{tid}]"
        repl = _replacement(s, value, text, comment)
        pieces.append(text[pos:s.start])
        pieces.append(repl)
        pos = s.end
        result.rewrites.append(Rewrite(s.line, s.column, s.builtin, kind_name, readable, value, spec,
                                       text[s.start:s.end], repl))
    pieces.append(text[pos:])
    out = _PAI_ATTR.sub("", "".join(pieces))
    result.text = "#define BPF_NO_PRESERVE_ACCESS_INDEX /* bpfinspect expand --no-core */\n" + out
    return result
