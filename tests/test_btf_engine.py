"""The BTF-to-C engine's fast paths against its plain paths, and its bounds on hostile BTF.

The declarator writes the commonest chains without building them (``_simple``, pointers to
prototypes) and the record writer writes plain members in one comprehension; both must give
what the general chain and the member-by-member loop give, for every type of every object.
The layout's remembered fillers must be the fillers.  Hostile BTF that once made the C
printer write gigabytes ends in one line and exit 2, quickly, in 1 GiB of address space.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

from btf_util import VMLINUX, BtfBuilder, bpftool_dump, has_btf
from conftest import ALL_OBJECTS, obj_id
from test_btf_dump import stress_objects  # noqa: F401  (the fixture)

from bpfinspect.btf import load_btf
from bpfinspect.btf.c_render import CRenderer, DumpNames
from bpfinspect.btf.decl import MODEL, Declarator
from bpfinspect.btf.kinds import STRUCT, UNION
from bpfinspect.btf.layout import fillers, gap_fillers
from bpfinspect.errors import MalformedInput

BTF_OBJECTS = [p for p in ALL_OBJECTS if has_btf(p)]


def fast_and_general(decl: Declarator, tid: int, strip: bool):
    """(fast path's (head, tail) or None, the general chain's (head, tail))."""
    fast = decl._simple(tid, strip) or decl._function_pointer(tid, strip)
    general = decl._chain(decl._stack(tid, strip), True, 0, strip, 0)
    return fast, general


def check_declarators(btf) -> int:
    """Every type the fast paths take, in both styles, with and without strip_mods; the count."""
    table = btf.table
    checked = 0
    for decl in (CRenderer(table).decl, Declarator(table, style=MODEL)):
        for tid in range(1, table.count + 1):
            for strip in (False, True):
                try:
                    fast, general = fast_and_general(decl, tid, strip)
                except MalformedInput:
                    continue
                if fast is not None:
                    assert fast == general, (tid, strip, decl.style)
                    checked += 1
    return checked


def check_records(btf) -> int:
    """Every named record written by the plain-member comprehension and by the general loop."""
    table = btf.table

    class Hook(DumpNames):
        def member(self, record: int, index: int, name: str) -> str:   # changes nothing, but is a hook
            return name

    fast = CRenderer(table)
    general = CRenderer(table, names=Hook(table))
    assert general._member is not None and fast._member is None
    checked = 0
    for tid in range(1, table.count + 1):
        if table.kind[tid] in (STRUCT, UNION):
            try:
                text = fast.record(tid, 0)
            except (MalformedInput, RecursionError):
                continue
            assert text == general.record(tid, 0), tid
            checked += 1
    return checked


@pytest.mark.parametrize("path", BTF_OBJECTS, ids=obj_id)
def test_fast_paths_match_the_general_paths(path):
    btf = load_btf(path)
    assert check_declarators(btf) > 0
    check_records(btf)


def test_fast_paths_on_the_stress_objects(stress_objects):
    declarators = records = 0
    for path in stress_objects:
        btf = load_btf(path)
        declarators += check_declarators(btf)
        records += check_records(btf)
    assert declarators > 100 and records > 50


@pytest.mark.skipif(not VMLINUX.exists(), reason="this kernel has no /sys/kernel/btf/vmlinux")
def test_fast_paths_on_vmlinux():
    btf = load_btf(VMLINUX)
    assert check_declarators(btf) > 50000
    assert check_records(btf) > 10000


@settings(max_examples=3000, deadline=None)
@given(cur=st.integers(0, 1 << 20), gap=st.integers(0, 4096), align=st.sampled_from([0, 1, 2, 4, 8]),
       in_bitfield=st.booleans(), long_bits=st.sampled_from([32, 64]), packed=st.booleans())
def test_remembered_fillers_are_the_fillers(cur, gap, align, in_bitfield, long_bits, packed):
    assert gap_fillers(cur, cur + gap, align, in_bitfield, long_bits, packed) == \
        fillers(cur, cur + gap, align, in_bitfield, long_bits, packed)


def test_packed_fillers_before_whole_units_say_their_width():
    # (a zero-width filler would align on x86-64 but raise the packed struct's alignment on AArch64)
    assert fillers(84 * 8, 96 * 8, 1, False, 64, packed=True) == [("long", 32, 1), ("long", 64, 1)]
    assert fillers(84 * 8, 96 * 8, 8, False, 64, packed=False) == [("long", 64, 1)]   # bpftool's
    assert fillers(30 * 8, 32 * 8, 1, False, 64, packed=True) == [("long", 0, 1)]     # bpftool's


_CLANG = shutil.which("clang-19") or shutil.which("clang")
# gcc for this machine; clang for 64-bit ABIs that treat bit-fields in packed structs differently
# (AArch64's zero-width bit-fields raise a packed struct's alignment).
_FILLER_COMPILERS = ([["gcc"]] if shutil.which("gcc") else []) + (
    [[_CLANG, f"--target={t}"] for t in ("x86_64-linux-gnu", "aarch64-linux-gnu", "riscv64-linux-gnu",
                                         "s390x-linux-gnu", "powerpc64le-linux-gnu")] if _CLANG else [])


@pytest.mark.skipif(not _FILLER_COMPILERS, reason="neither gcc nor clang is installed")
@pytest.mark.parametrize("compiler", _FILLER_COMPILERS, ids=lambda c: c[-1].replace("--target=", ""))
def test_fillers_move_gcc_to_the_next_member_in_packed_and_plain_structs(tmp_path, compiler):
    """The compiler is the oracle: after ``char pre[P]`` and the fillers for the gap, the next
    member (or the end of the struct) is where BTF put it, and a packed struct keeps alignment
    1 -- in a packed struct too, where a filler that is not zero-width does not align itself (a
    struct whose BTF size is not a multiple of its alignment is written packed: found by
    fuzz_skel, the skeleton's layout assertions failed).  Other ABIs than x86-64's are asked
    about the packed structs whose fillers are all of some width: on AArch64 an unnamed
    ``long`` bit-field raises a plain struct's alignment and a zero-width one a packed
    struct's, which bpftool's padding (and so ours, byte for byte, for kernel BTF) does not
    allow for; the fillers this layout adds to bpftool's (packed structs) have widths."""
    packed_only = compiler[-1].startswith("--target=") and compiler[-1] != "--target=x86_64-linux-gnu"
    import random
    rng = random.Random(20261205)
    types = {1: "char", 2: "short", 4: "int", 8: "long"}
    lines = []
    for n in range(600):
        packed = n % 2 == 0
        if packed_only and not packed:
            continue
        at_end = n % 5 == 0
        pre = rng.randint(1, 40)
        cur = pre * 8
        size = 1 if packed or at_end else rng.choice([1, 2, 4, 8])
        nxt = -(-(cur + rng.randint(0, 300)) // (size * 8)) * (size * 8)
        runs = fillers(cur, nxt, 1 if at_end else size, False, 64, packed)
        if packed_only and any(bits == 0 for _, bits, _ in runs):
            continue
        body = "".join(f"{t}: {b}; " * k for t, b, k in runs)
        last = "" if at_end else f"{types[size]} d; "
        attr = " __attribute__((packed))" if packed else ""
        lines.append(f"struct s{n} {{ char pre[{pre}]; {body}{last}}}{attr};")
        if packed:
            lines.append(f"_Static_assert(_Alignof(struct s{n}) == 1, \"s{n} alignment\");")
        if at_end:
            lines.append(f"_Static_assert(sizeof(struct s{n}) == {nxt // 8}, \"s{n}\");")
        else:
            lines.append(f"_Static_assert(offsetof(struct s{n}, d) == {nxt // 8}, \"s{n}\");")
    src = tmp_path / "fillers.c"
    src.write_text("#include <stddef.h>\n" + "\n".join(lines) + "\n")
    r = subprocess.run([*compiler, "-fsyntax-only", "-w", str(src)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[:3000]


# -- bounds: hostile BTF ends quickly, in one line, exit 2 ------------------------------------

LIMIT_S = 20


def cli_bounded(tmp_path, blob: bytes, fmt: str) -> subprocess.CompletedProcess:
    """`bpfinspect btf` on ``blob`` in 1 GiB of address space (ulimit -v), within the time limit."""
    path = tmp_path / "hostile.btf"
    path.write_bytes(blob)
    cmd = f'ulimit -v 1048576; exec "{sys.executable}" -m bpfinspect btf "{path}" --format {fmt}'
    t0 = time.monotonic()
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=LIMIT_S,
                       env={"BPFINSPECT_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})
    assert time.monotonic() - t0 < LIMIT_S
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr[-2000:]
    return r


def assert_refused(r: subprocess.CompletedProcess, words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert len(r.stderr.splitlines()) == 1 and words in r.stderr, r.stderr
    assert len(r.stdout) < 1 << 20


def many_padded_structs(count: int, size: int) -> bytes:
    """``count`` structs of ``size`` bytes holding one int at offset 0: each needs size/8 fillers."""
    b = BtfBuilder()
    i = b.int_("int")
    for n in range(count):
        b.struct(f"s{n}", size, [("a", i, 0)])
    return b.blob()


def test_padding_within_each_record_but_gigabytes_in_all(tmp_path):
    """What once took 46 s and 4.3 GB: a small file of structs whose padding adds up."""
    blob = many_padded_structs(1200, 60 << 20)
    assert len(blob) < 40_000
    assert_refused(cli_bounded(tmp_path, blob, "c"), "would exceed")


def test_one_record_of_four_gigabytes(tmp_path):
    assert_refused(cli_bounded(tmp_path, many_padded_structs(1, 0xFFFFFFF0), "c"), "would exceed")


def test_a_member_past_the_end_of_its_record(tmp_path):
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("past", 8, [("a", i, 0), ("b", i, 1 << 30)])
    assert_refused(cli_bounded(tmp_path, b.blob(), "c"), "more padding than")


def test_nested_anonymous_records(tmp_path):
    """Each level (a union) holds the one below 64 times, anonymous: written inline 64**6 times."""
    b = BtfBuilder()
    i = b.int_("int")
    inner = b.struct("", 4, [("x", i, 0)])
    for _ in range(6):
        inner = b.struct("", 4, [(f"m{k}", inner, 0) for k in range(64)], union=True)
    b.struct("bomb", 4, [("all", inner, 0)])
    assert_refused(cli_bounded(tmp_path, b.blob(), "c"), "would exceed")


def test_prototypes_of_prototypes(tmp_path):
    """A prototype with 60,000 parameters, each a pointer to one with 60,000: one declaration
    would be 3.6 billion parameters long."""
    b = BtfBuilder()
    i = b.int_("int")                                                     # 1
    p0 = b.raw_type(0, 13, 60000, i, struct.pack("<II", 0, i) * 60000)     # 2
    ptr0 = b.ptr(p0)                                                      # 3
    p1 = b.raw_type(0, 13, 60000, i, struct.pack("<II", 0, ptr0) * 60000)  # 4
    ptr1 = b.ptr(p1)
    b.struct("holder", 8, [("fn", ptr1, 0)])
    assert_refused(cli_bounded(tmp_path, b.blob(), "c"), "MiB")


def test_a_long_name_repeated(tmp_path):
    """One 2 MB name used by 60,000 members: 120 GB of listing, raw or C."""
    b = BtfBuilder()
    i = b.int_("int")
    long_name = b.s("n" * (2 << 20))
    members = struct.pack("<III", long_name, i, 0) * 60000
    b.raw_type(b.s("wide"), 4, 60000, 4, members)
    blob = b.blob()
    for fmt in ("raw", "c"):
        assert_refused(cli_bounded(tmp_path, blob, fmt), "would exceed")


def test_bounded_dumps_still_print_what_real_btf_needs(tmp_path):
    """The bounds leave room: a page of padding (kernels have such structs) prints as bpftool
    prints it."""
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("page_aligned", 8192, [("a", i, 0), ("b", i, 4096 * 8)])
    r = cli_bounded(tmp_path, b.blob(), "c")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("long: 64;") > 1000
    assert r.stdout.encode() == bpftool_dump(tmp_path / "hostile.btf", "c")


# -- strings by chunk, kinds by top byte ----------------------------------------------------------

_STRING_BYTES = st.sampled_from([0, 0, 0, 0x61, 0x62, 0xC3, 0xA9, 0xFF])


@settings(max_examples=400, deadline=None)
@given(raw=st.lists(_STRING_BYTES, max_size=60).map(bytes), shift=st.integers(0, 5))
def test_strings_by_chunk_are_the_strings(raw, shift):
    """Decoding a chunk of the section on first use gives, for every offset (a string's start,
    the inside of a string, past the end), what decoding all strings at once and decoding one
    string on demand give; and ``longest`` bounds every string it can give.  (Chunks of 1 to
    32 bytes here, so that strings cross their edges.)"""
    from bpfinspect.btf import table as table_module
    from bpfinspect.btf.table import StringTable

    def get(strings, off):
        try:
            return strings[off]
        except MalformedInput:
            return MalformedInput

    saved = table_module.CHUNK_SHIFT
    table_module.CHUNK_SHIFT = shift
    try:
        every = StringTable(raw, None, None).load_all()
        chunked = StringTable(raw, None, None).load_by_chunk()
        lazy = StringTable(raw, None, None)
        bound = chunked.longest
        for off in [-1, *range(len(raw) + 2)]:
            got = get(chunked, off)
            assert got == get(every, off) == get(lazy, off), off
            if got is not MalformedInput:
                assert len(got.encode("utf-8", "surrogateescape")) <= bound
    finally:
        table_module.CHUNK_SHIFT = saved


def test_a_header_decodes_half_of_the_kernels_strings():
    """A whole C header of this kernel's BTF leaves the chunks holding only functions' names
    undecoded (and prints the same text as with every string decoded first)."""
    if not VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    from bpfinspect.btf.c_dump import CDumper

    btf = load_btf(VMLINUX)
    text = CDumper(btf).dump()
    strings = btf.table.strs
    assert sum(span is not None for span in strings._chunks) >= len(strings._chunks) // 4
    every = load_btf(VMLINUX)
    every.table.strs.load_all()
    renderer = CDumper(every)
    assert renderer.t.strs._all and renderer.dump() == text


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.integers(0, 0xFFFFFFFF), max_size=50))
def test_kinds_from_the_top_bytes_are_the_kinds(words):
    from array import array

    from bpfinspect.btf.kinds import KIND_MASK, KIND_SHIFT, info_kinds

    assert info_kinds(array("I", words)) == bytes((w >> KIND_SHIFT) & KIND_MASK for w in words)
