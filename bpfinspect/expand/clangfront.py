"""What clang knows about a BPF source: diagnostics, macro definitions, macro uses.

libclang (the ``libclang`` wheel) parses the file for the BPF target with the
detailed preprocessing record, which lists, in translation order, every macro
definition that was in effect (conditional branches not taken leave nothing)
and every macro use in the files with its exact extent.  The preprocessing
entities come before the declarations when the translation unit's children
are visited, so the walk stops at the first declaration: the 100,000 types of
a ``vmlinux.h`` are never turned into Python objects.

The wheel ships ``libclang.so`` but not clang's resource headers
(``stddef.h``, ``stdbool.h``...): ``find_resource_dir`` looks for an installed
clang's.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from bpfinspect.errors import EnvironmentProblem, MalformedInput

ARCHES = ("x86", "arm64", "riscv", "s390", "powerpc", "mips", "loongarch")

_MACHINE_TO_ARCH = {
    "x86_64": "x86", "amd64": "x86", "i386": "x86", "i686": "x86",
    "aarch64": "arm64", "arm64": "arm64",
    "riscv64": "riscv",
    "s390x": "s390",
    "ppc64le": "powerpc", "ppc64": "powerpc",
    "mips": "mips", "mips64": "mips", "mipsel": "mips", "mips64el": "mips",
    "loongarch64": "loongarch",
}

_PCH_TROUBLE = re.compile(r"precompiled|PCH|AST file|has been modified|was built|version", re.I)

_FATAL_CATEGORIES = frozenset({"Lexical or Preprocessor Issue", "Parse Issue"})

_KIND_MACRO_DEFINITION = 501
_KIND_MACRO_INSTANTIATION = 502
_KIND_INCLUSION_DIRECTIVE = 503
_KIND_PREPROCESSING_DIRECTIVE = 500


def host_arch() -> str:
    return _MACHINE_TO_ARCH.get(os.uname().machine, "x86")


class SourceDiagnostics(MalformedInput):
    """clang reported errors; ``lines`` holds one ``file:line:col: error: ...`` each."""

    def __init__(self, lines: list[str], *, path: str | None = None) -> None:
        super().__init__(lines[0] if lines else "cannot parse", path=None)
        self.lines = lines
        self.source_path = path

    def one_line(self) -> str:
        return self.lines[0] if self.lines else self.message


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path))


def find_resource_dir(libclang_major: int | None = None) -> str | None:
    """Directory holding clang's ``include/stddef.h``, preferring the version of
    the loaded libclang, else the newest installed."""
    env = os.environ.get("BPFINSPECT_CLANG_RESOURCE_DIR")
    if env and os.path.isfile(os.path.join(env, "include", "stddef.h")):
        return env
    candidates = []
    for pattern in ("/usr/lib/llvm-*/lib/clang/*", "/usr/lib/clang/*", "/usr/local/lib/clang/*",
                    "/usr/lib64/clang/*", "/opt/homebrew/opt/llvm/lib/clang/*",
                    "/usr/local/opt/llvm/lib/clang/*"):
        for d in glob.glob(pattern):
            if os.path.isfile(os.path.join(d, "include", "stddef.h")):
                candidates.append(d)
    if not candidates:
        clang = shutil.which("clang")
        if clang:
            try:
                res = subprocess.run([clang, "-print-resource-dir"], capture_output=True, text=True,
                                     timeout=10)
                d = res.stdout.strip()
                if d and os.path.isfile(os.path.join(d, "include", "stddef.h")):
                    return d
            except (OSError, subprocess.SubprocessError):
                pass
        return None
    candidates = sorted(set(candidates), key=_version_key)
    if libclang_major is not None:
        same = [d for d in candidates if _version_key(os.path.basename(d))[:1] == (libclang_major,)]
        if same:
            return same[-1]
    return candidates[-1]


def _multiarch_include() -> list[str]:
    return [d for d in glob.glob("/usr/include/*-linux-gnu*") if os.path.isdir(os.path.join(d, "asm"))]


def clang_args(arch: str, include_dirs: list[str], defines: list[str], *,
               extra_include_dirs: list[str] = (), resource_dir: str | None = None) -> list[str]:
    """Arguments for parsing a BPF source the way a CO-RE build compiles it."""
    args = ["-target", "bpf", "-O2", f"-D__TARGET_ARCH_{arch}", "-ferror-limit=0"]
    if resource_dir:
        args += ["-resource-dir", resource_dir]
    for d in include_dirs:
        args += ["-I", d]
    for d in defines:
        args.append(f"-D{d}")
    for d in extra_include_dirs:
        args += ["-I", d]
    # Last resort locations for sources that include libbpf headers without
    # the bpf/ prefix, or <asm/...> from the host's multiarch directory.
    for d in ["/usr/include/bpf", *_multiarch_include()]:
        if os.path.isdir(d):
            args += ["-idirafter", d]
    return args


@dataclass
class MacroSite:
    """One use of a macro in the main file, as clang recorded it."""

    name: str
    offset: int           # byte offset of the macro name in the main file
    order: int            # position in the preprocessing record
    definition: object    # the clang Cursor of the definition in effect


@dataclass
class ParsedSource:
    path: str
    args: list[str]
    definitions: dict[str, list[tuple[int, object]]] = field(default_factory=dict)
    sites: list[MacroSite] = field(default_factory=list)
    tu: object = None


def _load_cindex():
    try:
        import clang.cindex as ci  # noqa: PLC0415 - heavy, imported on use
    except ImportError as exc:
        raise EnvironmentProblem(f"libclang Python bindings not available ({exc}); "
                                 "install the 'libclang' package") from exc
    return ci


def libclang_major() -> int | None:
    """Major version of the loaded libclang (the wheel's), or None."""
    m = re.search(r"version (\d+)", _version(_load_cindex()))
    return int(m.group(1)) if m else None


def _version(ci) -> str:
    try:
        fn = ci.conf.lib.clang_getClangVersion
        fn.argtypes = []
        fn.restype = ci._CXString
        return str(ci._CXString.from_result(fn()))
    except Exception:
        return "unknown"


def _errors(ci, tu, path: str) -> list[str]:
    errors = []
    for diag in tu.diagnostics:
        # Only what breaks preprocessing or parsing matters here.  Semantic
        # errors are expected when the vmlinux.h at hand is another
        # architecture's (arm64's struct user_pt_regs is not in x86's BTF).
        if diag.severity >= ci.Diagnostic.Fatal or (
                diag.severity >= ci.Diagnostic.Error and diag.category_name in _FATAL_CATEGORIES):
            loc = diag.location
            where = f"{loc.file.name}:{loc.line}:{loc.column}" if loc.file else path
            errors.append(f"{where}: error: {diag.spelling}")
    return errors


def parse(path: str, args: list[str], *, prefix_header: str | None = None) -> ParsedSource:
    """Parse ``path`` with libclang; raise SourceDiagnostics on errors.

    ``prefix_header`` names the vmlinux.h the source includes: it is then
    loaded precompiled (see ``pch``)."""
    from bpfinspect.expand import pch  # noqa: PLC0415

    ci = _load_cindex()
    try:
        index = ci.Index.create()
    except Exception as exc:  # libclang.so failing to load
        raise EnvironmentProblem(f"cannot load libclang: {exc}") from exc
    options = ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD
    precompiled = None
    if prefix_header and pch.enabled():
        precompiled = pch.prefix_pch(ci, index, prefix_header, args, _version(ci))
    tu = None
    if precompiled:
        try:
            tu = index.parse(path, args=[*args, "-include-pch", precompiled], options=options)
        except ci.TranslationUnitLoadError:
            tu = None
        if tu is None or any(d.severity >= ci.Diagnostic.Fatal and _PCH_TROUBLE.search(d.spelling)
                             for d in tu.diagnostics):
            # a stale or unreadable precompiled header: do without it
            pch.discard(precompiled)
            tu = None
    if tu is None:
        try:
            tu = index.parse(path, args=args, options=options)
        except ci.TranslationUnitLoadError as exc:
            raise SourceDiagnostics([f"{path}: error: clang could not parse the file ({exc})"]) from exc
    errors = _errors(ci, tu, path)
    if errors:
        raise SourceDiagnostics(errors, path=path)
    parsed = ParsedSource(path=path, args=args, tu=tu)
    _collect(ci, tu, parsed)
    return parsed


def _collect(ci, tu, parsed: ParsedSource) -> None:
    main_file = tu.get_file(parsed.path)
    main_name = main_file.name
    entries: list = []

    def visitor(child, _parent, _data):
        kind = child._kind_id
        if kind == _KIND_MACRO_DEFINITION or kind == _KIND_MACRO_INSTANTIATION:
            child._tu = tu
            entries.append(child)
            return 1
        if kind == _KIND_INCLUSION_DIRECTIVE or kind == _KIND_PREPROCESSING_DIRECTIVE:
            return 1
        return 0  # the first declaration: the preprocessing record is over

    ci.conf.lib.clang_visitChildren(tu.cursor, ci.callbacks["cursor_visit"](visitor), None)
    definitions = parsed.definitions
    for order, cur in enumerate(entries):
        if cur._kind_id == _KIND_MACRO_DEFINITION:
            definitions.setdefault(cur.spelling, []).append((order, cur))
        else:
            loc = cur.location
            f = loc.file
            if f is None or f.name != main_name:
                continue
            parsed.sites.append(MacroSite(cur.spelling, loc.offset, order, cur.referenced))
