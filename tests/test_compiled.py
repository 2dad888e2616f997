"""The compiled engine (bpfinspect/compiled.py) against the same source run by the interpreter.

The set-up compiles the BTF engine's hot modules with Cython into the installed package; the
checkout holds only their source.  A process that imports bpfinspect from the checkout runs the
pure engine, a process that imports the install runs the compiled one, and both must give the
same bytes, or the same error, for every fixture, this kernel's BTF and hostile BTF (cycles,
nesting far deeper than the engine's limits, corrupted records, ids out of range).
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from btf_util import VMLINUX, BtfBuilder, has_btf
from conftest import ALL_OBJECTS, ROOT, cannot_compile_reason as _cannot_compile

from bpfinspect import compiled

PURE = bool(os.environ.get("BPFINSPECT_PURE"))


def _installed(expr: str) -> str:
    """``expr`` evaluated in a process that imports the install (``-P``, away from the checkout)."""
    p = subprocess.run([sys.executable, "-P", "-c", f"import json, bpfinspect, bpfinspect.compiled as c; print({expr})"],
                       capture_output=True, text=True, cwd="/", timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_the_installed_engine_is_compiled_where_it_can_be():
    package = _installed("bpfinspect.__path__[0]")
    assert Path(package).resolve() != (ROOT / "bpfinspect").resolve(), "the install is the checkout itself"
    status = json.loads(_installed("json.dumps(c.status())"))
    assert list(status) == list(compiled.MODULES)
    if PURE:
        assert set(status.values()) == {"python"}, status
        return
    why = _cannot_compile()
    if why:
        pytest.skip(f"the set-up could not compile the engine here: {why}")
    assert set(status.values()) == {"compiled"}, status
    assert json.loads(_installed("json.dumps(c.stale(bpfinspect.__path__[0]))")) == []


def test_the_checkout_is_the_pure_engine():
    # (what the comparison below runs as the reference: no extension module in the checkout)
    from importlib.machinery import EXTENSION_SUFFIXES

    for m in compiled.MODULES:
        base = ROOT.joinpath(*m.split("."))
        assert base.with_suffix(".py").is_file(), m
        assert not [s for s in EXTENSION_SUFFIXES if base.with_name(base.name + s).exists()], m


def test_a_changed_source_is_stale(tmp_path):
    # A copy of the installed package's layout: one module's source edited after its build.
    pkg = tmp_path / "bpfinspect"
    m = compiled.MODULES[0]
    src = tmp_path.joinpath(*m.split(".")).with_suffix(".py")
    src.parent.mkdir(parents=True)
    src.write_text("X = 1\n")
    from importlib.machinery import EXTENSION_SUFFIXES

    src.with_name(src.stem + EXTENSION_SUFFIXES[0]).write_bytes(b"")
    (pkg / compiled.MANIFEST).write_text(json.dumps({m: compiled.source_hash(str(src))}))
    assert compiled.stale(str(pkg)) == []
    src.write_text("X = 2\n")
    assert compiled.stale(str(pkg)) == [m]
    assert compiled.remove(str(pkg)) == [m]
    assert compiled.stale(str(pkg)) == [] and not (pkg / compiled.MANIFEST).exists()


def test_a_module_that_fails_to_compile_leaves_the_whole_engine_to_the_source(tmp_path, monkeypatch):
    """The compiled modules import each other's extension types: one left as source beside
    compiled ones would break the imports, so a failure keeps no extension at all."""
    why = _cannot_compile()
    if why:
        pytest.skip(f"nothing can be compiled here: {why}")
    pkg = tmp_path / "bpfinspect"
    (pkg / "btf").mkdir(parents=True)
    for name in ("__init__.py", "btf/__init__.py"):
        (pkg / name).write_text("")
    (pkg / "btf" / "kinds.py").write_text("X = 1\n")
    (pkg / "btf" / "table.py").write_text("def broken(:\n")
    monkeypatch.setattr(compiled, "MODULES", ("bpfinspect.btf.kinds", "bpfinspect.btf.table"))
    logged = []
    assert compiled.build(str(pkg), log=logged.append) == []
    assert len(logged) == 1 and "bpfinspect.btf.table not compiled" in logged[0], logged
    assert not list(pkg.rglob("*.so")) and not (pkg / compiled.MANIFEST).exists()
    # Mended, both are built, and recorded.
    (pkg / "btf" / "table.py").write_text("Y = 2\n")
    assert compiled.build(str(pkg), log=logged.append) == list(compiled.MODULES)
    assert len(list(pkg.rglob("*.so"))) == 2 and compiled.stale(str(pkg)) == []
    assert compiled.build(str(pkg), log=logged.append) == []   # nothing changed: nothing rebuilt


def _assigned_attributes(cls) -> set[str]:
    """The attributes a class's own methods assign on ``self``."""
    import ast

    out = set()
    for sub in ast.walk(cls):
        targets = sub.targets if isinstance(sub, ast.Assign) else \
            [sub.target] if isinstance(sub, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            for e in ast.walk(t):
                if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == "self":
                    out.add(e.attr)
    return out


def test_extension_types_declare_every_attribute_their_methods_set():
    """A class a .pxd declares as an extension type takes only the attributes declared there
    (an undeclared one is an AttributeError in the compiled engine alone): every attribute its
    methods set, and its bases', must be declared."""
    import ast
    import re

    declared: dict[str, tuple[str | None, set[str]]] = {}   # class -> (base, attributes)
    for pxd in sorted((ROOT / "bpfinspect" / "btf").glob("*.pxd")):
        current = None
        for line in pxd.read_text().splitlines():
            m = re.match(r"cdef class (\w+)(?:\((\w+)\))?:", line)
            if m:
                current = m.group(1)
                declared[current] = (m.group(2), set())
            elif current and (m := re.match(r"\s+cdef public object (.+)", line)):
                declared[current][1].update(a.strip() for a in m.group(1).split(","))
    assert declared, "no extension type declared"

    def all_declared(name):
        base, attrs = declared[name]
        return attrs | (all_declared(base) if base in declared else set())

    found = set()
    for py in sorted((ROOT / "bpfinspect" / "btf").glob("*.py")):
        for node in ast.parse(py.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name in declared and py.with_suffix(".pxd").exists() \
                    and f"cdef class {node.name}" in py.with_suffix(".pxd").read_text():
                found.add(node.name)
                missing = _assigned_attributes(node) - all_declared(node.name)
                assert not missing, f"{py.name}: {node.name} sets {sorted(missing)}, not declared in its .pxd"
    assert found == set(declared), set(declared) - found


# Renders every input given on the command line (files of BTF or ELF objects) every way the
# engine can, and prints one line per input: a digest of every output, or the error.
_RENDER = r"""
import hashlib, json, sys
from bpfinspect import compiled
from bpfinspect.btf import load_btf
from bpfinspect.btf.c_dump import CDeclarations, CDumper
from bpfinspect.btf.raw import raw_bytes, raw_records
from bpfinspect.errors import MalformedInput
print(json.dumps(compiled.status()))
def digest(path):
    h = hashlib.sha256()
    # Inputs nested beyond what the interpreter's recursion limit reaches: each step's own
    # digest, or "refused" (compared step by step, see the test).
    nested = "/nest-" in path
    steps = []
    def step(name, fn):
        try:
            out = fn()
        except MalformedInput as exc:
            out = "MalformedInput: " + str(exc)
            if nested:
                steps.append("refused")
                return
        data = name.encode() + b"\0" + (out if isinstance(out, bytes) else repr(out).encode()) + b"\0"
        h.update(data)
        if nested:
            steps.append(hashlib.sha256(data).hexdigest()[:16])
    try:
        btf = load_btf(path)
    except MalformedInput as exc:
        return "load: " + str(exc)
    step("c", lambda: CDumper(btf).dump())
    step("sorted", lambda: CDumper(btf).dump(sort=True))
    step("raw", lambda: raw_bytes(btf))
    step("records", lambda: raw_records(btf))
    d = CDeclarations(btf)
    last = min(btf.count, 3000)
    step("deps", lambda: d.dependencies(range(1, last + 1)))
    for tid in range(1, last + 1):
        step("decl", lambda: d.decl(tid, "x"))
        step("sizeof", lambda: d.sizeof(tid))
        step("alignof", lambda: d.alignof(tid))
        step("type_name", lambda: btf.type_name(tid))
    return ",".join(steps) if nested else h.hexdigest()
for path in sys.argv[1:]:
    print(path, digest(path), flush=True)
"""


def _render(paths: list[str], pure: bool) -> tuple[dict, list[str]]:
    env = dict(os.environ)
    if pure:
        # The checkout first on the path: its package has no extension modules.
        env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run([sys.executable, "-P", "-c", _RENDER, *paths], capture_output=True, text=True, env=env,
                       cwd="/", timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    first, *lines = p.stdout.splitlines()
    return json.loads(first), lines


def _hostile(tmp_path: Path) -> list[str]:
    """BTF blobs made to break a walk: deep chains of every kind that nests, forwards and
    backwards, cycles, and random corruptions of a real blob."""
    out = []

    def save(name: str, blob: bytes) -> None:
        f = tmp_path / f"{name}.btf"
        f.write_bytes(blob)
        out.append(str(f))

    for shape in ("struct", "anon", "union", "array", "ptr", "typedef", "const", "mixed"):
        for backwards in (False, True):
            b = BtfBuilder()
            i = b.int_("int")
            n = 20000
            for k in range(n):
                nxt = (i + k + 2 if k < n - 1 else i) if backwards else i + k
                kind = shape if shape != "mixed" else ("struct", "array", "typedef", "const", "anon", "ptr")[k % 6]
                if kind == "struct":
                    b.struct(f"s{k}", 4, [("m", nxt, 0)])
                elif kind == "anon":
                    b.struct("", 4, [("m", nxt, 0)])
                elif kind == "union":
                    b.struct(f"u{k}", 4, [("m", nxt, 0)], union=True)
                elif kind == "array":
                    b.array(nxt, i, 1)
                elif kind == "ptr":
                    b.ptr(nxt)
                elif kind == "typedef":
                    b.typedef(f"t{k}", nxt)
                else:
                    b.const(nxt)
            save(f"deep-{shape}-{'back' if backwards else 'fwd'}", b.blob())
    # Prototypes nested in parameters, with anonymous records written inline between them:
    # the depth of one declaration counts across the records it writes (the compiled engine
    # once overflowed the C stack here).
    def proto(b, ret, params):
        return b.raw_type(0, 13, len(params), ret,
                          b"".join(struct.pack("<II", b.s(n) if n else 0, t) for n, t in params))

    for records, protos in ((70, 250), (5000, 3), (1, 20000)):
        b = BtfBuilder()
        i = b.int_("int")
        inner = b.struct("", 4, [("x", i, 0)])
        for _ in range(records):
            pr = proto(b, i, [("s", inner)])
            for _ in range(protos):
                pr = proto(b, i, [("f", b.ptr(pr))])
            inner = b.struct("", 8, [("m", b.ptr(pr), 0)])
        b.typedef("top", inner)
        save(f"nest-{records}x{protos}", b.blob())
    # Cycles by value and through pointers.
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("a", 8, [("b", 3, 0)])        # [2] holds [3]
    b.struct("b", 8, [("a", 2, 0)])        # [3] holds [2]
    b.ptr(5)                               # [4]
    b.struct("c", 8, [("p", 4, 0)])        # [5] points at itself
    b.typedef("loop", 7)                   # [6] -> [7]
    b.const(6)                             # [7] -> [6]
    save("cycles", b.blob())
    # Corruptions of a real blob: bytes flipped, words overwritten, the blob cut short.
    real = next((p for p in ALL_OBJECTS if has_btf(p)), None)
    if real is not None:
        from bpfinspect.elf import ElfFile

        elf = ElfFile(real.read_bytes(), path=str(real))
        blob = bytes(elf.section_by_name(".BTF").data())
        rng = random.Random(20261206)
        for n in range(120):
            b = bytearray(blob)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(24, len(b) - 4)
                if rng.random() < 0.5:
                    b[at] ^= 1 << rng.randrange(8)
                else:
                    b[at:at + 4] = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 32)]).to_bytes(4, "little")
            if n % 10 == 9:
                b = b[:rng.randrange(24, len(b))]
            save(f"corrupt-{n}", bytes(b))
    return out


@pytest.mark.skipif(PURE, reason="BPFINSPECT_PURE: the install runs the pure engine, nothing to compare")
def test_compiled_and_pure_engines_agree(tmp_path):
    why = _cannot_compile()
    if why:
        pytest.skip(f"the set-up could not compile the engine here: {why}")
    paths = [str(p) for p in ALL_OBJECTS if has_btf(p)]
    if os.access(VMLINUX, os.R_OK):
        paths.append(VMLINUX)
    paths += _hostile(tmp_path)
    status, fast = _render(paths, pure=False)
    assert set(status.values()) == {"compiled"}, status
    status, slow = _render(paths, pure=True)
    assert set(status.values()) == {"python"}, status
    assert len(fast) == len(slow) == len(paths)
    differ = []
    for a, b in zip(fast, slow):
        path, a, b = a.split(" ", 1)[0], a.split(" ", 1)[1], b.split(" ", 1)[1]
        if a == b:
            continue
        if "/nest-" in path:
            # Past its own bounds the source engine may stop at Python's recursion limit, on a
            # declaration the compiled engine writes within the bounds: a refusal of the source
            # is allowed there, never one of the compiled engine, and never different text.
            steps_a, steps_b = a.split(","), b.split(",")
            if len(steps_a) == len(steps_b) and all(x == y or y == "refused" for x, y in zip(steps_a, steps_b)):
                continue
        differ.append(path)
    assert not differ, f"the compiled engine differs from its source on {len(differ)} inputs: {differ[:5]}"
    # Not everything was refused at the door: most inputs reached the printers.
    assert sum(" load: " in line for line in fast) < len(fast) // 4
    # And the compiled engine met its bounds on the nestings (a refusal in some step of each).
    nests = [line for line in fast if "/nest-" in line.split(" ", 1)[0]]
    assert len(nests) == 3 and all("refused" in line for line in nests), nests


def _source_function(module: str, name: str):
    """Function ``name`` of ``bpfinspect.btf.<module>`` as the interpreter runs it: the module's
    source from the checkout, loaded under another name (its imports are the install's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_source_{module}", ROOT / "bpfinspect" / "btf" / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except Exception as exc:   # (compared: both engines must fail the same way)
        return type(exc).__name__, str(exc)


def _compiled_function(module: str, name: str):
    import importlib

    mod = importlib.import_module(f"bpfinspect.btf.{module}")
    if PURE:
        pytest.skip("BPFINSPECT_PURE: the install runs the pure engine, nothing to compare")
    why = _cannot_compile()
    if why:
        pytest.skip(f"the set-up could not compile the engine here: {why}")
    if not mod.__file__.endswith(".so"):
        pytest.skip("this session imports the checkout, not the install (run `python -P -m pytest`, as make test does)")
    return getattr(mod, name)


def test_typed_record_walk_matches_its_source():
    """btf._walk_records runs with C locals when compiled (btf.pxd): on random words (kinds that do
    not exist, vlen up to 0xffff, sections cut anywhere) it gives the same positions, info words
    and end, or the same exception, as its source."""
    from array import array

    from bpfinspect.btf.kinds import EXTRA_FIXED, EXTRA_PER_VLEN, MAX_KIND

    fast = _compiled_function("btf", "_walk_records")
    slow = _source_function("btf", "_walk_records")
    rng = random.Random(61206)
    for case in range(400):
        words = array("I")
        for _ in range(rng.randint(0, 40)):
            kind = rng.choice([1, 2, 3, 4, 5, 6, 13, 14, 15, 17, 19] if case % 4 else [0, 20, 31, rng.randrange(32)])
            vlen = rng.choice([0, 1, 2, 5, 0xFFFF, rng.randrange(8)])
            info = rng.choice([0, 1 << 31]) | kind << 24 | vlen
            words.extend([rng.randrange(1 << 32), info, rng.randrange(1 << 32)])
            # (the words the record's kind and vlen take, in half the cases; any number else)
            extra = (EXTRA_FIXED[kind] + EXTRA_PER_VLEN[kind] * vlen if case % 2 and kind <= MAX_KIND
                     else rng.randrange(0, 7))
            words.extend(rng.randrange(1 << 32) for _ in range(min(extra, 64)))
        n = len(words) if case % 3 else rng.randint(0, len(words))
        a_starts, a_infos, b_starts, b_infos = [], array("I"), [], array("I")
        a = _outcome(fast, words, n, a_starts, a_infos)
        b = _outcome(slow, words, n, b_starts, b_infos)
        assert (a[0], a_starts, a_infos) == (b[0], b_starts, b_infos), case
        if a[0] == "ok":
            assert a == b, case
    # A record that starts at the last word: its info word lies past the end.
    for words in (array("I", [0]), array("I", [0, 1 << 24, 0, 32, 7])):
        a_starts, b_starts = [], []
        a = _outcome(fast, words, len(words), a_starts, array("I"))
        b = _outcome(slow, words, len(words), b_starts, array("I"))
        assert a[0] == b[0] == "IndexError" and a_starts == b_starts


def test_typed_reference_scan_matches_its_source():
    """order.references runs with C locals when compiled (order.pxd): on random tables (every
    kind, words that name ids far out of range, 0xffffffff, records that run past the words) it
    marks the same ids and finds the same late prototypes, or fails the same way, as its source."""
    from array import array

    fast = _compiled_function("order", "references")
    slow = _source_function("order", "references")
    rng = random.Random(20261206)
    for case in range(400):
        n = rng.randint(1, 60)
        kinds = bytes([0] + [rng.randrange(20) for _ in range(n - 1)])
        words = array("I")
        pos = [0]
        for t in range(1, n):
            pos.append(len(words))
            vlen = rng.randrange(6)
            words.extend([rng.randrange(1 << 32), vlen, 0])
            for _ in range(3 + 3 * vlen):
                words.append(rng.choice([0, rng.randrange(n), rng.randrange(2 * n), 0xFFFFFFFF, t, t + 1]))
        if case % 7 == 6 and len(words) > 3:
            del words[rng.randrange(len(words) // 2, len(words)):]   # records past the end
        a = _outcome(fast, words, pos, kinds, n)
        b = _outcome(slow, words, pos, kinds, n)
        assert a[0] == b[0], (case, a, b)
        if a[0] == "ok":
            assert (bytes(a[1][0]), a[1][1]) == (bytes(b[1][0]), b[1][1]), case
