"""Shared driver of the fuzz targets in this directory.

Each ``fuzz_<name>.py`` defines ``one_input(data: bytes)`` and a seed list, then
calls :func:`main`.  Run one as libFuzzer is run::

    python tests/fuzz/fuzz_obj.py -max_total_time=60 -rss_limit_mb=2048 -timeout=10 CORPUS_DIR

With atheris installed, the target runs under libFuzzer with coverage of the
bpfinspect package; the seeds (fixtures, Debian-shipped objects) are written
to a directory next to the corpus and given to libFuzzer as a second corpus,
so an empty CORPUS_DIR is fine.  ELF-shaped targets add a mutator that knows
where the ELF header, the section headers and the BTF headers are and writes
interesting numbers there, which reaches the bounds checks much sooner than
flipping random bits of a 30 KB file.  Without atheris (or with
``BPFI_FUZZ_DRIVER=hypothesis``) a Hypothesis-driven loop runs instead
(``-max_total_time`` is honoured, other flags ignored).

The only exceptions a target may raise are bpfinspect's own
(:class:`bpfinspect.errors.BpfInspectError`); anything else is a defect.

A target starts with :func:`import_package` (which instruments the package
when atheris runs) and ends with :func:`main`.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"



def atheris_module():
    """atheris, unless it is missing or ``BPFI_FUZZ_DRIVER=hypothesis`` asks for Hypothesis."""
    if os.environ.get("BPFI_FUZZ_DRIVER") == "hypothesis":
        return None
    try:
        import atheris
    except ImportError:
        return None
    return atheris


def debian_objects() -> list[Path]:
    out = []
    for pkg in ("libxdp1", "xdp-tools", "golang-github-cilium-ebpf-dev"):
        try:
            listing = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            continue
        for line in listing.splitlines():
            if line.endswith((".o", ".elf")) and os.path.isfile(line):
                with open(line, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        out.append(Path(line))
    return sorted(set(out))


def all_objects() -> list[Path]:
    return sorted(FIXTURES.glob("*.bpf.o")) + debian_objects()


def small_object_bytes(path: Path, limit: int = 64 * 1024) -> bytes | None:
    """The object's bytes, without DWARF when it is big (llvm-strip -g keeps BTF)."""
    data = path.read_bytes()
    if len(data) <= limit:
        return data
    for strip in ("llvm-strip-19", "llvm-strip"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "o"
            try:
                r = subprocess.run([strip, "-g", "-o", str(out), str(path)], capture_output=True, check=False)
            except FileNotFoundError:
                continue
            if r.returncode == 0 and out.stat().st_size <= limit:
                return out.read_bytes()
    return None


def object_seeds(limit: int = 64 * 1024) -> list[bytes]:
    seeds = []
    for p in all_objects():
        b = small_object_bytes(p, limit)
        if b is not None and b not in seeds:
            seeds.append(b)
    return seeds


def is_ours(exc: BaseException) -> bool:
    from bpfinspect.errors import BpfInspectError
    return isinstance(exc, BpfInspectError)


def import_package(instrument=("bpfinspect",)) -> None:
    """Import every bpfinspect module a target may reach, those under the packages of
    ``instrument`` instrumented when atheris runs (coverage guides the fuzzer through them).

    The package imports heavy modules lazily, inside functions; importing them here,
    up front, is what puts them under coverage.
    """
    import contextlib
    import importlib
    import pkgutil

    atheris = atheris_module()
    ctx = contextlib.nullcontext()
    if atheris is not None:
        # (atheris takes only top-level packages to include; modules are excluded by full name,
        # found here from the files: walking the package would import it uninstrumented)
        every = _module_names()
        left_out = [m for m in every if not any(m == p or m.startswith(p + ".") for p in instrument)]
        ctx = atheris.instrument_imports(include=["bpfinspect"], exclude=left_out)
    with ctx:
        import bpfinspect
        for mod in pkgutil.walk_packages(bpfinspect.__path__, "bpfinspect."):
            if mod.name.startswith(("bpfinspect.expand", "bpfinspect.runtime", "bpfinspect.cli")):
                continue
            if mod.name.endswith(("conftest", "_util", "__main__")) or ".test_" in mod.name:
                continue
            importlib.import_module(mod.name)


def _module_names() -> list[str]:
    """The full names of bpfinspect's modules and packages, from its files (nothing imported)."""
    import importlib.util

    root = os.path.dirname(importlib.util.find_spec("bpfinspect").origin)
    names = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.exists(os.path.join(d, x, "__init__.py"))]
        rel = os.path.relpath(d, root)
        pkg = ".".join(["bpfinspect", *([] if rel == "." else rel.split(os.sep))])
        for f in files:
            if f.endswith(".py"):
                names.append(pkg if f == "__init__.py" else f"{pkg}.{f[:-3]}")
    return names


def guard(fn):
    """Call ``fn(data)``: bpfinspect's errors are the expected outcome of bad input; any other
    exception is a defect and goes through."""

    def run(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - the point is to sort them
            if not is_ours(exc):
                raise
    return run


# -- an ELF-aware mutator ----------------------------------------------------------------------

INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 15, 16, 24, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF,
                 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def _interesting(rng: random.Random, old: int, bits: int) -> int:
    mask = (1 << bits) - 1
    c = rng.randrange(6)
    if c == 0:
        return rng.choice(INTERESTING32) & mask
    if c == 1:
        return (old + rng.choice((-1, 1, -4, 4, -8, 8, 16, 0x1000))) & mask
    if c == 2:
        return (old * rng.choice((2, 16, 256, 4096))) & mask
    if c == 3:
        return mask
    if c == 4:
        return rng.getrandbits(bits)
    return (old ^ (1 << rng.randrange(bits))) & mask


def _elf_fields(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, width in bytes, byte order) of numbers worth changing in an ELF image."""
    out: list[tuple[int, int, str]] = []
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return out
    e = "<" if data[5] == 1 else ">"
    is64 = data[4] == 2
    if is64:
        out += [(16, 2, e), (18, 2, e), (40, 8, e), (58, 2, e), (60, 2, e), (62, 2, e)]
        shoff, = struct.unpack_from(e + "Q", data, 40)
        shentsize, shnum, _ = struct.unpack_from(e + "HHH", data, 58)
        layout = [(0, 4), (4, 4), (8, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8), (56, 8)]
    else:
        out += [(16, 2, e), (18, 2, e), (32, 4, e), (46, 2, e), (48, 2, e), (50, 2, e)]
        shoff, = struct.unpack_from(e + "I", data, 32)
        shentsize, shnum, _ = struct.unpack_from(e + "HHH", data, 46)
        layout = [(0, 4), (4, 4), (8, 4), (16, 4), (20, 4), (24, 4), (28, 4), (32, 4), (36, 4)]
    if shentsize < (64 if is64 else 40) or shoff + shnum * shentsize > len(data):
        return out
    for i in range(min(shnum, 512)):
        base = shoff + i * shentsize
        out += [(base + o, w, e) for o, w in layout]
        # words inside the section's bytes (tables: symbols, relocations, BTF, BTF.ext, maps)
        if is64:
            stype, = struct.unpack_from(e + "I", data, base + 4)
            off, size = struct.unpack_from(e + "QQ", data, base + 24)
        else:
            stype, = struct.unpack_from(e + "I", data, base + 4)
            off, size = struct.unpack_from(e + "II", data, base + 16)
        if stype != 8 and off + size <= len(data) and size >= 4:
            first = min(size, 64)
            out += [(off + k, 4, e) for k in range(0, first - 3, 4)]
            out += [(off + k, 4, e) for k in range(first, size - 3, max(4, (size // 64) & ~3))]
    return out


def mutate_elf(data: bytes, max_size: int, seed: int, fallback) -> bytes:
    rng = random.Random(seed)
    try:
        fields = _elf_fields(data) if rng.random() < 0.7 else []
    except struct.error:
        fields = []
    if not fields:
        return fallback(data, max_size)
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        off, width, e = rng.choice(fields)
        fmt = e + {2: "H", 4: "I", 8: "Q"}[width]
        old, = struct.unpack_from(fmt, buf, off)
        struct.pack_into(fmt, buf, off, _interesting(rng, old, width * 8))
    if rng.random() < 0.05:
        del buf[rng.randrange(len(buf)):]
    return bytes(buf[:max_size])


# -- drivers ------------------------------------------------------------------------------------

def _write_seeds(name: str, seeds: list[bytes]) -> str:
    d = Path(tempfile.gettempdir()) / f"bpfinspect-fuzz-seeds-{name}"
    d.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds):
        (d / f"seed{i:03d}").write_bytes(s)
    return str(d)


def main(name: str, one_input, seeds, *, elf_mutator: bool = False, mutator=None, max_len: int = 72 * 1024) -> None:
    """Run ``one_input`` under atheris (or Hypothesis), with ``seeds()`` as starting inputs.

    ``mutator(data, max_size, seed, fallback)`` replaces :func:`mutate_elf` for ELF-shaped
    targets (``elf_mutator``)."""
    mutator = mutator or mutate_elf
    argv = list(sys.argv)
    atheris = atheris_module()
    if atheris is None:
        _hypothesis_main(name, one_input, seeds, argv, mutator)
        return
    run = guard(one_input)
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    if all(os.path.isdir(c) for c in corpus):  # fuzzing (not re-running crash files)
        argv.append(_write_seeds(name, seeds()))
        if not any(a.startswith("-max_len=") for a in argv):
            argv.append(f"-max_len={max_len}")
    if not any(a.startswith("-rss_limit_mb=") for a in argv):
        argv.append("-rss_limit_mb=2048")
    if not any(a.startswith("-timeout=") for a in argv):
        argv.append("-timeout=10")
    kwargs = {}
    if elf_mutator:
        def custom(data, max_size, seed):
            return mutator(data, max_size, seed, atheris.Mutate)
        kwargs["custom_mutator"] = custom
    atheris.Setup(argv, run, **kwargs)
    atheris.Fuzz()


def _hypothesis_main(name: str, one_input, seeds, argv, mutator=None) -> None:
    import time

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    budget = 60.0
    for a in argv[1:]:
        if a.startswith("-max_total_time="):
            budget = float(a.split("=", 1)[1])
    run = guard(one_input)
    base = seeds()
    deadline = time.monotonic() + budget

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(base) - 1), st.integers(0, 2 ** 32 - 1))
    def check(i, seed):
        if time.monotonic() > deadline:
            return
        data = base[i]
        if data[:4] == b"\x7fELF":
            data = (mutator or mutate_elf)(data, len(data) + 64, seed, lambda d, m: d)
        else:
            rng = random.Random(seed)
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                if b:
                    b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        run(data)
        count[0] += 1

    count = [0]
    while time.monotonic() < deadline:
        check()
    print(f"{name}: {count[0]} inputs in {budget:.0f} s, no defect (Hypothesis driver)")


# -- hostile names: a mutator that writes them into an object's string tables ----------------------

# Pieces of names that mean something in C, C++ or Python: quotes, comment and docstring ends,
# line breaks, escapes, trigraphs, keywords, macros of a skeleton's includes, the includes'
# declarations, the generated module's own names, ctypes' attributes, non-ASCII text.
HOSTILE_PIECES = [
    b'"', b"'", b'"""', b"'''", b"*/", b"/*", b"//", b"\n", b"\r", b"\t", b"\\", b"\\N{BULLET}", b"\\x41",
    b"\\u0041", b"??/", b"#error INJECTED", b'_Static_assert(0,"INJECTED");', b"INJECTED()", b"-", b".", b" ",
    b"int", b"class", b"new", b"delete", b"None", b"True", b"lambda", b"match", b"case", b"type", b"_",
    b"__init__", b"__builtins__", b"__class__", b"__slots__", b"ctypes", b"ELF_BYTES", b"_layout", b"_fields_",
    b"from_buffer_copy", b"load", b"maps", b"obj", b"_items", b"linux", b"unix", b"i386", b"errno", b"NULL",
    b"true", b"bool", b"EINVAL", b"SIZE_MAX", b"BYTE_ORDER", b"stdin", b"offsetof", b"free", b"bpf_object",
    b"size_t", b"pid_t", b"__builtin_x", b"__attribute__", b"0", b"9", "\u00e9".encode(), "\u202e".encode(),
    "\U0001f600".encode(), b"\xff", b"\xc3",
]


def _sections(data: bytes):
    """(name offset, type, file offset, size, header offset) of each section, or [] if not ELF64/32."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return [], "<", 0
    e = "<" if data[5] == 1 else ">"
    is64 = data[4] == 2
    if is64:
        shoff, = struct.unpack_from(e + "Q", data, 40)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 58)
    else:
        shoff, = struct.unpack_from(e + "I", data, 32)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 46)
    out = []
    if shentsize < (64 if is64 else 40) or shoff + shnum * shentsize > len(data) or shnum > 4096:
        return [], e, 0
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            name, stype = struct.unpack_from(e + "II", data, base)
            off, size = struct.unpack_from(e + "QQ", data, base + 24)
        else:
            name, stype = struct.unpack_from(e + "II", data, base)
            off, size = struct.unpack_from(e + "II", data, base + 16)
        out.append((name, stype, off, size, base))
    return out, e, shstrndx


def _string_starts(table: bytes) -> list[int]:
    starts = [0]
    for i, b in enumerate(table[:-1]):
        if b == 0:
            starts.append(i + 1)
    return [s for s in starts if s < len(table) and table[s] != 0]


def _hostile_name(rng: random.Random, old: bytes) -> bytes:
    c = rng.randrange(10)
    if c == 0 and old:
        return old.replace(b"_", b"-") if b"_" in old else old + b"-"       # gives old's identifier again
    if c == 1:
        return rng.choice(HOSTILE_PIECES) * rng.choice((1, 64, 700))          # long names
    parts = [rng.choice(HOSTILE_PIECES) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5 and old:
        parts.insert(rng.randrange(len(parts) + 1), old[:rng.randint(1, len(old))])
    return b"".join(parts)


def mutate_names(data: bytes, seed: int) -> bytes:
    """:func:`_mutate_names`, or ``data`` itself where the input is too broken to find names in."""
    try:
        return _mutate_names(data, seed)
    except (struct.error, IndexError, ValueError, OverflowError):
        return data


def _mutate_names(data: bytes, seed: int) -> bytes:
    """Write a hostile name over one string of the object's .strtab, .shstrtab or .BTF string
    section: in place (cut or NUL-padded to the old length, so every offset still holds), or,
    one time in four, appended at the end of the table, which moves to the end of the file,
    with one reference (a symbol, a section or a BTF type name) pointing at it."""
    rng = random.Random(seed)
    secs, e, shstrndx = _sections(data)
    if not secs or shstrndx >= len(secs):
        return data
    _, _, sh_off, sh_size, _ = secs[shstrndx]
    shstr = data[sh_off:sh_off + sh_size]

    def name_of(i):
        off = secs[i][0]
        end = shstr.find(b"\0", off)
        return shstr[off:end] if 0 <= off < len(shstr) and end >= 0 else b""

    tables = []   # (section index, start of the string area in the section, its length)
    for i, (_, stype, off, size, _) in enumerate(secs):
        if off + size > len(data):
            continue
        if stype == 3:   # STRTAB
            tables.append((i, 0, size))
        elif name_of(i) == b".BTF" and size >= 24:
            hdr_len, _, _, str_off, str_len = struct.unpack_from(e + "IIIII", data, off + 4)
            if hdr_len + str_off + str_len <= size:
                tables.append((i, hdr_len + str_off, str_len))
    if not tables:
        return data
    index, start, length = rng.choice(tables)
    sec_off = secs[index][2]
    area = data[sec_off + start:sec_off + start + length]
    # Names first: strings that name a symbol, a section, or a BTF type, member, enumerator
    # or parameter (not file names and source lines of line info, local labels...).
    starts = _name_offsets(data, secs, e, shstrndx, index, start, length) if rng.random() < 0.9 else []
    starts = [o for o in starts if 0 <= o < length and area[o] != 0] or _string_starts(area)
    if not starts:
        return data
    s = rng.choice(starts)
    end = area.find(b"\0", s)
    old = area[s:end if end >= 0 else len(area)]
    new = _hostile_name(rng, old).replace(b"\0", b"")
    buf = bytearray(data)
    if rng.random() < 0.75 or not new:
        fitted = new[:len(old)].ljust(len(old), b"\0") if len(new) <= len(old) else new[:len(old)]
        buf[sec_off + start + s:sec_off + start + s + len(old)] = fitted
        return bytes(buf)
    return _append_and_point(buf, secs, e, shstrndx, index, start, length, s, new)


def _name_offsets(data: bytes, secs, e, shstrndx: int, index: int, start: int, length: int) -> list[int]:
    """Offsets, in string table ``index``, of the strings used as names."""
    from bpfinspect.btf.kinds import EXTRA_FIXED, EXTRA_PER_VLEN, MAX_KIND

    is64 = data[4] == 2
    out: list[int] = []
    sec_off = secs[index][2]
    if start:   # .BTF: every name slot of every type record
        hdr_len, type_off, type_len = struct.unpack_from(e + "III", data, sec_off + 4)
        t = sec_off + hdr_len + type_off
        end = min(t + type_len, len(data))
        items = {4: 3, 5: 3, 6: 2, 19: 3, 13: 2}
        while t + 12 <= end and len(out) < 4096:
            name_off, info = struct.unpack_from(e + "II", data, t)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind > MAX_KIND:
                break
            out.append(name_off)
            step = items.get(kind)
            if step:
                first = t + 12 + 4 * EXTRA_FIXED[kind]
                out += [struct.unpack_from(e + "I", data, first + 4 * step * i)[0]
                        for i in range(vlen) if first + 4 * step * i + 4 <= end]
            t += 12 + 4 * (EXTRA_FIXED[kind] + EXTRA_PER_VLEN[kind] * vlen)
    elif index == shstrndx:
        out = [nm for nm, *_ in secs]
    else:
        ent = 24 if is64 else 16
        for _, st, soff, ssize, shdr in secs:
            link, = struct.unpack_from(e + "I", data, shdr + (40 if is64 else 24))
            if st == 2 and link == index and soff + ssize <= len(data):
                out += [struct.unpack_from(e + "I", data, soff + k * ent)[0] for k in range(min(ssize // ent, 4096))]
    return out


def _append_and_point(buf: bytearray, secs, e, shstrndx, index, start, length, s, new) -> bytes:
    """Append ``new`` to string table ``index`` (the section moves to the end of the file) and
    point the first reference to string ``s`` of that table at it instead: a BTF type's name,
    a symbol's name or a section's name."""
    from bpfinspect.btf.kinds import EXTRA_FIXED, EXTRA_PER_VLEN, MAX_KIND

    is64 = buf[4] == 2
    _, _, off, size, hdr = secs[index]
    sec = bytes(buf[off:off + size])
    pad = b"" if length == 0 or sec[start + length - 1] == 0 else b"\0"
    new_off = length + len(pad)
    grown = bytearray(sec[:start + length] + pad + new + b"\0" + sec[start + length:])
    if start:   # .BTF: the string section grows; one type's name moves to the new string
        hdr_len, type_off, type_len, _, str_len = struct.unpack_from(e + "IIIII", grown, 4)
        struct.pack_into(e + "I", grown, 20, str_len + len(pad) + len(new) + 1)
        t = hdr_len + type_off
        while t + 12 <= min(hdr_len + type_off + type_len, len(grown)):
            name_off, info = struct.unpack_from(e + "II", grown, t)
            if name_off == s:
                struct.pack_into(e + "I", grown, t, new_off)
                break
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind > MAX_KIND:
                break
            t += 12 + 4 * (EXTRA_FIXED[kind] + EXTRA_PER_VLEN[kind] * vlen)
    elif index == shstrndx:
        for nm, st, _, _, shdr in secs:
            if nm == s and st != 0:
                struct.pack_into(e + "I", buf, shdr, new_off)
                break
    else:
        ent = 24 if is64 else 16
        for _, st, soff, ssize, shdr in secs:
            link, = struct.unpack_from(e + "I", buf, shdr + (40 if is64 else 24))
            if st != 2 or link != index or soff + ssize > len(buf):   # the SYMTAB using this table
                continue
            for k in range(ssize // ent):
                if struct.unpack_from(e + "I", buf, soff + k * ent)[0] == s:
                    struct.pack_into(e + "I", buf, soff + k * ent, new_off)
                    break
    while len(buf) % 8:
        buf.append(0)
    where = len(buf)
    buf += grown
    if is64:
        struct.pack_into(e + "QQ", buf, hdr + 24, where, len(grown))
    else:
        struct.pack_into(e + "II", buf, hdr + 16, where, len(grown))
    return bytes(buf)
