"""Types from C headers or sources given with ``--header FILE``: the third source, after BTF and DWARF.

The files are parsed by libclang as a BPF program's compile sees them (``-target bpf``,
``-D__TARGET_ARCH_<arch>``, with ``expand``'s include directories, definitions and
architecture: :func:`bpfinspect.expand.clangfront.clang_args`), in the child process with
memory, CPU and wall-clock limits that ``expand`` uses (:mod:`bpfinspect.sandbox`; the same
``BPFINSPECT_EXPAND_*`` limits).  The child sends back BTF (:mod:`.clang_btf`), never Python
objects.

One translation unit includes the files in the order given.  Headers written for BPF
programs often use the kernel's types without including them (libbpf-bootstrap's
``bootstrap.h`` uses ``bool`` from ``vmlinux.h``, which the program includes first): when clang
reports errors and none of the files includes a ``vmlinux.h``, the unit is parsed once more
with ``vmlinux.h`` before them (from the include path, else printed from ``--btf`` or the
running kernel's BTF, as ``expand`` does).  Only types declared in the named files are
taken, with what they refer to.
"""

from __future__ import annotations

import base64
import os
import stat

from bpfinspect.errors import UsageError

MAX_HEADER = 16 << 20
MAX_RESULT = 64 << 20


class HeaderOptions:
    """What ``--header`` needs: the files and ``expand``'s parse options."""

    def __init__(self, files=(), *, arch: str | None = None, include_dirs=(), defines=(),
                 btf_path: str | None = None) -> None:
        self.files = list(files)
        self.arch = arch
        self.include_dirs = list(include_dirs)
        self.defines = list(defines)
        self.btf_path = btf_path

    def __bool__(self) -> bool:
        return bool(self.files)

    def label(self) -> str:
        names = ", ".join(os.path.basename(f) for f in self.files)
        return f"--header {names}"


def _check_files(files: list[str]) -> list[str]:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except FileNotFoundError:
            raise UsageError(f"--header {f}: no such file") from None
        except OSError as exc:
            raise UsageError(f"--header {f}: cannot read it ({exc.strerror or exc})") from None
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"--header {f}: not a regular file")
        if st.st_size > MAX_HEADER:
            raise UsageError(f"--header {f}: larger than {MAX_HEADER >> 20} MiB")
        out.append(os.path.abspath(f))
    return out


def parse_headers(opts: HeaderOptions):
    """(BTF, {type id: "file:line"}, calls) of the types the files declare, and of the records their functions send
    (``{"map", "helper", "type", "where"}``), parsed in a limited child."""
    from bpfinspect.btf import parse_btf
    from bpfinspect.expand.limited import limits
    from bpfinspect.sandbox import run_limited

    files = _check_files(opts.files)
    memory_mb, cpu = limits()
    doc = run_limited(lambda: _parse_in_child(files, opts), memory_mb=memory_mb, cpu_seconds=cpu,
                      wall_seconds=3 * cpu + 10, max_result=MAX_RESULT, what=f"parsing {opts.label()}")
    btf = parse_btf(base64.b64decode(doc["btf"]), path=files[0], section=None)
    return btf, {int(k): v for k, v in doc["where"].items()}, [c for c in doc["calls"] if _call_ok(c, btf)]


def _call_ok(call, btf) -> bool:
    return isinstance(call, dict) and isinstance(call.get("map"), str) and isinstance(call.get("type"), int) and \
        0 < call["type"] <= btf.count


def _parse_in_child(files: list[str], opts: HeaderOptions) -> dict:
    from bpfinspect.expand import clangfront, pch
    from bpfinspect.expand.vmlinux import ensure_vmlinux_dir, find_on_path, included_vmlinux
    from bpfinspect.typesrc.clang_btf import convert

    arch = opts.arch or clangfront.host_arch()
    if arch not in clangfront.ARCHES:
        raise UsageError(f"unknown architecture {arch!r} (one of: {', '.join(clangfront.ARCHES)})")
    ci = clangfront._load_cindex()
    resource_dir = clangfront.find_resource_dir(clangfront.libclang_major())
    texts = []
    extra_dirs: list[str] = []
    for f in files:
        with open(f, "rb") as fh:
            texts.append(fh.read(MAX_HEADER + 1).decode("latin-1"))
        wanted = included_vmlinux(texts[-1])
        if wanted is not None:   # a vmlinux.h the include path lacks is printed from BTF, as expand does
            name, quoted = wanted
            source_dir = os.path.dirname(f) if quoted else None
            if find_on_path(name, source_dir, opts.include_dirs) is None and "/" not in name:
                extra_dirs.append(ensure_vmlinux_dir(name, opts.btf_path))
    args = clangfront.clang_args(arch, opts.include_dirs, opts.defines, resource_dir=resource_dir,
                                 extra_include_dirs=sorted(set(extra_dirs)))
    index = ci.Index.create()
    main = os.path.join(os.path.dirname(files[0]), "<bpfinspect-headers>.c")

    def attempt(prefix: str | None):
        lines = [f'#include "{prefix}"'] if prefix else []
        lines += [f'#include "{_c_string(f)}"' for f in files]
        extra = []
        if prefix and pch.enabled():   # vmlinux.h precompiled, as expand loads it
            built = pch.prefix_pch(ci, index, prefix, args, clangfront._version(ci))
            extra = ["-include-pch", built] if built else []
        tu = index.parse(main, args=[*args, *extra], unsaved_files=[(main, "\n".join(lines) + "\n")],
                         options=0)
        return tu, _errors(ci, tu)

    tu, errors = attempt(None)
    if errors and not any(included_vmlinux(t) for t in texts):
        found = find_on_path("vmlinux.h", None, opts.include_dirs)
        prefix = found or os.path.join(ensure_vmlinux_dir("vmlinux.h", opts.btf_path), "vmlinux.h")
        tu2, errors2 = attempt(_c_string(prefix))
        if not errors2:
            tu, errors = tu2, errors2
    if errors:
        raise UsageError(f"{opts.label()}: clang reports {len(errors)} error{'s' * (len(errors) > 1)}; the first: "
                         f"{errors[0]}")
    return convert(ci, tu, files)


def _errors(ci, tu) -> list[str]:
    out = []
    for d in tu.diagnostics:
        if d.severity >= ci.Diagnostic.Error:
            loc = d.location
            where = f"{os.path.basename(loc.file.name)}:{loc.line}:{loc.column}: " if loc.file else ""
            out.append(f"{where}{d.spelling}")
    return out


def _c_string(path: str) -> str:
    """A path inside ``#include "..."``: a quote or backslash in it would end or escape it."""
    if any(c in path for c in '"\\\n'):
        raise UsageError(f"--header {path!r}: the path holds a quote, backslash or newline")
    return path
