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


def import_package() -> None:
    """Import every bpfinspect module a target may reach (instrumented when atheris runs).

    The package imports heavy modules lazily, inside functions; importing them here,
    up front, is what puts them under coverage.
    """
    import contextlib
    import importlib
    import pkgutil

    atheris = atheris_module()
    ctx = atheris.instrument_imports(include=["bpfinspect"]) if atheris is not None else contextlib.nullcontext()
    with ctx:
        import bpfinspect
        for mod in pkgutil.walk_packages(bpfinspect.__path__, "bpfinspect."):
            if mod.name.startswith(("bpfinspect.expand", "bpfinspect.runtime", "bpfinspect.cli")):
                continue
            if mod.name.endswith(("conftest", "_util", "__main__")) or ".test_" in mod.name:
                continue
            importlib.import_module(mod.name)


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


def main(name: str, one_input, seeds, *, elf_mutator: bool = False, max_len: int = 72 * 1024) -> None:
    """Run ``one_input`` under atheris (or Hypothesis), with ``seeds()`` as starting inputs."""
    argv = list(sys.argv)
    atheris = atheris_module()
    if atheris is None:
        _hypothesis_main(name, one_input, seeds, argv)
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
            return mutate_elf(data, max_size, seed, atheris.Mutate)
        kwargs["custom_mutator"] = custom
    atheris.Setup(argv, run, **kwargs)
    atheris.Fuzz()


def _hypothesis_main(name: str, one_input, seeds, argv) -> None:
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
            data = mutate_elf(data, len(data) + 64, seed, lambda d, m: d)
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
