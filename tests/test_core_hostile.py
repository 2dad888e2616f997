"""`core` and `gen min-core-btf` on hostile inputs: changed CO-RE records, broken and cyclic
target BTF.  Every run ends with a report or one error line (exit 0, 1 or 2), never a
traceback, a hang or unbounded work."""

from __future__ import annotations

import contextlib
import io
import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfinspect.btf.writer import BtfBuilder
from bpfinspect.btf.kinds import Kind
from bpfinspect.cli.main import main
from core_util import CORE_OBJ, SYNTHETIC

DATA = CORE_OBJ.read_bytes()


def _core_records() -> tuple[int, int]:
    """(file offset of the first CO-RE record, number of records) of core.bpf.o."""
    from bpfinspect.elf import ElfFile

    elf = ElfFile(DATA, path=str(CORE_OBJ))
    sec = elf.section_by_name(".BTF.ext")
    base = sec.offset
    hdr_len = struct.unpack_from("<I", DATA, base + 4)[0]
    cr_off, cr_len = struct.unpack_from("<II", DATA, base + 24)
    start = base + hdr_len + cr_off
    rec_size = struct.unpack_from("<I", DATA, start)[0]
    assert rec_size == 16
    first = start + 4 + 8          # the first group's header (sec_name_off, num_info)
    n = struct.unpack_from("<I", DATA, first - 4)[0]
    return first, n


FIRST, COUNT = _core_records()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rec=st.integers(0, COUNT - 1), field=st.integers(0, 3),
       value=st.one_of(st.integers(0, 400), st.integers(0, 2**32 - 1)))
def test_changed_records(tmp_path, rec, field, value):
    buf = bytearray(DATA)
    struct.pack_into("<I", buf, FIRST + rec * 16 + field * 4, value)
    path = tmp_path / "x.bpf.o"
    path.write_bytes(buf)
    code, out, err = run("core", str(path), "--btf", str(SYNTHETIC[0]), "--json")
    assert code in (0, 1, 2), err
    assert "internal error" not in err
    if code == 2:
        assert err.count("\n") == 1
    code, out, err = run("gen", "min-core-btf", str(path), "--btf", str(SYNTHETIC[0]), "-o", str(tmp_path / "o"))
    assert code in (0, 1, 2) and "internal error" not in err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_broken_target(tmp_path, flips):
    from bpfinspect.btf import load_btf

    raw = tmp_path / "t.btf"
    code, _, err = run("gen", "min-core-btf", str(CORE_OBJ), "--btf", str(SYNTHETIC[0]), "-o", str(raw))
    assert code == 0, err
    buf = bytearray(raw.read_bytes())
    for at, b in flips:
        buf[at % len(buf)] = b
    raw.write_bytes(buf)
    code, _, err = run("core", str(CORE_OBJ), "--btf", str(raw), "--json")
    assert code in (0, 1, 2) and "internal error" not in err, err
    del load_btf


def _cyclic_target() -> bytes:
    """A task_struct whose pid is a typedef of itself, and whose anonymous member opens a
    DAG of anonymous structs too wide to walk."""
    b = BtfBuilder()
    # hand-written records: [1] int, [2] typedef loop -> 2, [3] struct task_struct
    b.types.append([b.add_str("int"), (Kind.INT << 24), 4, 32])
    b.types.append([b.add_str("loop_t"), (Kind.TYPEDEF << 24), 2])
    anon = 5
    b.types.append([b.add_str("task_struct"), (Kind.STRUCT << 24) | 3, 64,
                    b.add_str("pid"), 2, 0,
                    0, anon, 0,
                    b.add_str("real_parent"), 3, 64])
    b.types.append([b.add_str("list_head"), (Kind.STRUCT << 24) | 2, 16,
                    b.add_str("next"), 4, 0, b.add_str("prev"), 4, 64])
    # [5]..[24]: anonymous structs, each with 40 anonymous members of the next one, the last
    # holding an int: no member named real_parent anywhere, 40**20 ways to look for it
    for k in range(5, 25):
        if k < 24:
            b.types.append([0, (Kind.STRUCT << 24) | 40, 8] + [w for _ in range(40) for w in (0, k + 1, 0)])
        else:
            b.types.append([0, (Kind.STRUCT << 24) | 1, 8, b.add_str("x"), 1, 0])
    return b.raw()


def test_cycles_and_dags_end(tmp_path):
    t = tmp_path / "cyclic.btf"
    t.write_bytes(_cyclic_target())
    code, out, err = run("core", str(CORE_OBJ), "--btf", str(t), "--json")
    assert code == 1, err
    doc = json.loads(out)
    reasons = {r["result"]["reason"] for r in doc["targets"][0]["relocations"] if r["result"]["status"] == "error"}
    assert any("work limit" in x for x in reasons), reasons
    assert any("cycle" in x for x in reasons), reasons
    code, out, err = run("gen", "min-core-btf", str(CORE_OBJ), "--btf", str(t), "-o", str(tmp_path / "o"))
    assert code in (0, 1, 2) and "internal error" not in err, err
