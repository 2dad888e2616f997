"""Hostile BTF built by hand: every rendering fails with one clear MalformedInput, quickly."""

from __future__ import annotations

import struct
import subprocess
import sys
import time

import pytest

from btf_util import BtfBuilder

from bpfinspect.btf import parse_btf
from bpfinspect.btf.c_dump import CDeclarations, CDumper
from bpfinspect.btf.raw import raw_records, raw_text
from bpfinspect.errors import MalformedInput


def render_all(blob: bytes):
    """Try every rendering; return the MalformedInput raised (None if all succeeded)."""
    try:
        btf = parse_btf(blob)
        raw_text(btf)
        raw_records(btf)
        CDumper(btf).dump()
        CDumper(btf).dump(sort=True)
        decls = CDeclarations(btf)
        for tid in range(1, btf.count + 1):
            decls.decl(tid, "x")
            decls.sizeof(tid)
            decls.alignof(tid)
    except MalformedInput as exc:
        return exc
    return None


def assert_rejected(blob: bytes, words: str):
    t0 = time.monotonic()
    exc = render_all(blob)
    assert exc is not None, "hostile BTF was accepted"
    assert words in str(exc), str(exc)
    assert time.monotonic() - t0 < 5


def test_builder_makes_valid_btf():
    b = BtfBuilder()
    i = b.int_("int")
    s = b.struct("pair", 8, [("a", i, 0), ("b", i, 32)])
    b.typedef("pair_t", s)
    assert render_all(b.blob()) is None
    text = CDumper(parse_btf(b.blob())).dump(guards=False)
    assert text == "struct pair {\n\tint a;\n\tint b;\n};\n\ntypedef struct pair pair_t;\n\n"


def test_typedef_cycle():
    b = BtfBuilder()
    # [1] typedef a -> [2], [2] typedef b -> [1]
    b.typedef("a", 2)
    b.typedef("b", 1)
    assert_rejected(b.blob(), "cycle")


def test_const_and_pointer_cycles():
    b = BtfBuilder()
    b.const(2)   # [1] const -> [2]
    b.const(1)   # [2] const -> [1]
    assert_rejected(b.blob(), "cycle")
    b = BtfBuilder()
    b.ptr(1)     # [1] a pointer to itself
    assert_rejected(b.blob(), "cycle")


def test_struct_containing_itself_by_value():
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("loop", 8, [("x", i, 0), ("self", 2, 32)])   # [2] contains [2]
    assert_rejected(b.blob(), "cycle")


def test_mutual_structs_by_value_and_array():
    b = BtfBuilder()
    i = b.int_("int")                                # 1
    b.struct("a", 8, [("b", 3, 0)])                  # 2: struct a { struct b b; }
    b.struct("b", 8, [("arr", 4, 0)])                # 3: struct b { struct a arr[1]; }
    b.array(2, i, 1)                                 # 4
    assert_rejected(b.blob(), "cycle")


def test_array_of_itself():
    b = BtfBuilder()
    i = b.int_("int")
    b.array(2, i, 4)   # [2] array of [2]
    assert_rejected(b.blob(), "cycle")


def test_long_chain_is_bounded_not_a_recursion_error():
    b = BtfBuilder()
    i = b.int_("int")
    prev = i
    for _ in range(5000):
        prev = b.const(prev)
    b.typedef("deep", prev)
    exc = render_all(b.blob())
    assert isinstance(exc, MalformedInput)
    assert "deep" in str(exc) or "cycle" in str(exc)


def test_type_id_out_of_range():
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("s", 8, [("x", i, 0), ("y", 99, 32)])
    assert_rejected(b.blob(), "does not exist")
    b = BtfBuilder()
    b.typedef("t", 1234)
    assert_rejected(b.blob(), "does not exist")


def test_absurd_vlen():
    b = BtfBuilder()
    i = b.int_("int")
    b.raw_type(b.s("huge"), 4, 0xFFFF, 8, struct.pack("<III", 0, i, 0))
    with pytest.raises(MalformedInput, match="runs past"):
        parse_btf(b.blob())


def test_name_outside_string_table():
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("", 4, [("x", i, 0)], name_off=10_000)
    assert_rejected(b.blob(), "outside the string section")
    b = BtfBuilder()
    i = b.int_("int")
    b.typedef("t", i)
    b.raw_type(0, 4, 1, 4, struct.pack("<III", 77_777, i, 0))   # a member name off the end
    assert_rejected(b.blob(), "outside the string section")


def test_unknown_kind_and_truncation():
    b = BtfBuilder()
    b.raw_type(0, 25, 0, 0)
    with pytest.raises(MalformedInput, match="unknown kind"):
        parse_btf(b.blob())
    blob = BtfBuilder()
    blob.int_("int")
    data = blob.blob()
    with pytest.raises(MalformedInput):
        parse_btf(data[:30])


def test_cli_reports_one_line(tmp_path):
    b = BtfBuilder()
    b.typedef("a", 2)
    b.typedef("b", 1)
    path = tmp_path / "cycle.btf"
    path.write_bytes(b.blob())
    for fmt in ("raw", "c"):
        r = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", str(path), "--format", fmt],
                           capture_output=True, text=True, timeout=60)
        if fmt == "raw":
            # The raw listing does not follow references: a cycle is still printable.
            assert r.returncode == 0
            assert "[1] TYPEDEF 'a' type_id=2" in r.stdout
        else:
            assert r.returncode == 2
            assert r.stderr.count("\n") == 1 and "cycle" in r.stderr and "Traceback" not in r.stderr


def test_deeply_nested_anonymous_records():
    b = BtfBuilder()
    i = b.int_("int")
    inner = b.struct("", 4, [("x", i, 0)])
    for _ in range(3000):
        inner = b.struct("", 4, [("", inner, 0)])
    b.struct("outer", 4, [("deep", inner, 0)])
    exc = render_all(b.blob())
    assert isinstance(exc, MalformedInput)
    assert "deep" in str(exc) or "cycle" in str(exc)


def test_anonymous_record_pointing_at_itself():
    b = BtfBuilder()
    i = b.int_("int")
    b.ptr(3)                                        # [2] pointer to [3]
    b.struct("", 16, [("x", i, 0), ("me", 2, 64)])  # [3] anonymous, holds a pointer to itself
    b.typedef("t", 3)
    assert_rejected(b.blob(), "cycle")


@pytest.mark.parametrize("given_ids", [False, True])
def test_raw_listing_limit_counts_every_part(given_ids):
    """The raw listing is made a run of types at a time (4,096, or one by one for ids given):
    what every part writes counts against one limit for the whole, and the error names it."""
    from bpfinspect.btf.raw import raw_bytes

    b = BtfBuilder()
    i = b.int_("int")
    for k in range(9000):   # more than two runs of 4,096
        b.typedef("t" + "x" * 150 + str(k), i)
    btf = parse_btf(b.blob())
    ids = range(1, btf.count + 1) if not given_ids else list(range(1, btf.count + 1))
    whole = raw_bytes(btf, None if not given_ids else ids)
    # (the check is an estimate that takes each value as 12 digits: a limit of twice the text)
    assert raw_bytes(btf, ids if given_ids else None, limit=2 * len(whole)) == whole
    # Each run alone fits in three quarters of the listing; together they do not (the message
    # names the limit of the whole, over 1 MiB here, not what was left of it at the last part).
    assert len(whole) * 3 // 4 >> 20 == 1
    with pytest.raises(MalformedInput, match=r"would exceed 1 MiB"):
        raw_bytes(btf, ids if given_ids else None, limit=len(whole) * 3 // 4)
