"""`bpfinspect budget`: stack, call chains, tail calls, instructions and loops, checked against
the kernel's verifier on this machine (its per-function `stack depth` line, its combined-stack
and tail-call refusals, libbpf's count of the instructions it loads)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, bpfinspect, needs_bpf
from bpfinspect.flow.budget import frame_size, object_budget
from bpfinspect.obj import open_object

BUDGET = FIXTURES / "budget.bpf.o"
REJECTS = FIXTURES / "verifier_no.bpf.o"


def budgets(path):
    return {b.name: b for b in object_budget(open_object(path))}


def test_frame_rounding():
    assert [frame_size(s) for s in (0, 8, 24, 104, 120, 480)] == [0, 16, 32, 112, 128, 480]
    assert [frame_size(s, jit=False) for s in (0, 8, 40)] == [32, 32, 64]


# Objects every program of which loads here, without CO-RE guards that leave code dead once
# relocated (core.bpf.o: the verifier never walks the guarded calls, so their stack counts 0).
VERIFIED = ["budget.bpf.o", "calls.bpf.o", "v4.bpf.o", "bootstrap.bpf.o", "maps.bpf.o"]


@needs_bpf
@pytest.mark.parametrize("name", VERIFIED)
def test_stack_per_function_is_the_verifiers(name):
    """The verifier prints each function's stack in the order the functions sit in the loaded
    program (libbpf appends callees depth first): `stack depth 24+64+120+40+8`.  calls.bpf.o's
    bpf_loop() callers and v4.bpf.o's may_goto loop carry the slots the kernel adds."""
    from bpfinspect.runtime.loadcheck import check_load

    path = FIXTURES / name
    report = check_load(str(path))
    ours = budgets(path)
    assert {p.name for p in report.programs if p.selected} == set(ours)
    for p in report.programs:
        if not p.selected:
            continue
        assert p.loaded, p.error
        m = re.search(r"^stack depth ([\d+]+)$", p.log, re.M)
        assert m, p.log
        kernel = [int(x) for x in m.group(1).split("+")]
        assert [f.stack for f in ours[p.name].functions] == kernel, p.name


def test_the_budget_fixtures_figures():
    """What budget.bpf.o was written for: a five-frame chain and a 480-byte buffer."""
    ours = budgets(BUDGET)
    assert ours["chain_deep"].stack == 32 + 64 + 128 + 48 + 16 and ours["chain_deep"].peak == "level4"
    assert ours["big_buffer"].stack == 480


@needs_bpf
@pytest.mark.parametrize("name", ["budget.bpf.o", "calls.bpf.o"])
def test_instructions_are_what_libbpf_loads(name):
    from bpfinspect.runtime.object import Object

    ours = budgets(FIXTURES / name)
    with Object.open(str(FIXTURES / name), capture_logs=True) as obj:
        obj.load()
        for pname, prog in obj.programs.items():
            assert prog.insn_cnt == ours[pname].insns, pname


@needs_bpf
def test_combined_stack_and_tail_call_refusals_match_the_kernel():
    """The kernel refuses `stack_too_deep` naming the sum of its rounded frames, and
    `tail_big_frame` naming the frames before the function with the tail call."""
    from bpfinspect.runtime.loadcheck import check_load

    report = check_load(str(REJECTS), programs=["stack_too_deep", "tail_big_frame", "fine"])
    by = {p.name: p for p in report.programs}
    ours = budgets(REJECTS)
    m = re.search(r"combined stack size of (\d+) calls is (\d+)\. Too large", by["stack_too_deep"].log)
    assert m, by["stack_too_deep"].log
    deep = ours["stack_too_deep"]
    assert (int(m.group(1)), int(m.group(2))) == (len(deep.stack_path), deep.stack) == (3, 624)
    assert any("combined stack of 3 frames is 624 bytes" in w for w in deep.warnings)
    m = re.search(r"call stack of previous frames is (\d+) bytes", by["tail_big_frame"].log)
    assert m, by["tail_big_frame"].log
    tail = ours["tail_big_frame"]
    assert [t["depth_before"] for t in tail.tail_calls] == [int(m.group(1))] == [304]
    assert any(w.startswith("tail call in tail_from_sub") for w in tail.warnings)
    # and what the kernel accepts gets no warning
    assert by["fine"].loaded and ours["fine"].warnings == []
    assert all(not b.warnings for n, b in budgets(BUDGET).items() if n != "loops")


@needs_bpf
def test_loops_bounded_by_a_constant_and_not():
    """`loops` has a loop of 16 iterations and one bounded only by a masked map value (the
    kernel accepts both); `unbounded_loop` counts up to skb->len, which the kernel refuses."""
    from bpfinspect.runtime.loadcheck import check_load

    lp = budgets(BUDGET)["loops"].loops
    assert [(x.bounded, x.iterations) for x in lp] == [(True, 16), (False, None)]
    assert lp[0].bound == "r1 != 16"
    bad = budgets(REJECTS)["unbounded_loop"]
    assert len(bad.loops) == 1 and not bad.loops[0].bounded
    report = check_load(str(REJECTS), programs=["unbounded_loop"])
    assert not report.programs[[p.name for p in report.programs].index("unbounded_loop")].loaded


def test_longest_path_counts_callees():
    """Each function of the chain is straight code with one early return that skips forward, so
    its longest path is all its instructions plus the longest paths of what it calls."""
    b = budgets(BUDGET)["chain_deep"]
    f = {x.name: x for x in b.functions}
    assert f["level4"].longest_path == f["level4"].insns
    assert f["level3"].longest_path == f["level3"].insns + f["level4"].longest_path
    assert f["level2"].longest_path == f["level2"].insns + f["level3"].longest_path
    assert f["level1"].longest_path == f["level1"].insns + f["level2"].longest_path + f["level4"].longest_path
    assert b.longest_path == f["chain_deep"].insns + f["level1"].longest_path == 95
    assert b.insns == sum(x.insns for x in b.functions) == 83


def test_cli_json_schema_and_human_view():
    p = bpfinspect("budget", str(BUDGET), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1
    for prog in doc["programs"]:
        assert {"name", "stack", "stack_path", "tail_calls", "insns", "longest_path", "loops", "warnings"} <= set(prog)
    by = {x["name"]: x for x in doc["programs"]}
    assert [s["function"] for s in by["chain_deep"]["stack_path"]] == ["chain_deep", "level1", "level2", "level3",
                                                                       "level4"]
    assert by["tail_mix"]["tail_calls"] == [{"function": "dispatch", "insn": 33, "depth_before": 112}]
    human = bpfinspect("budget", str(BUDGET)).stdout
    assert re.search(r"^chain_deep\s+288\s+level4\s+5\s+0\s+83\s", human, re.M), human
    assert "bounded: r1 != 16, 16 iterations" in human


def test_cli_errors():
    p = bpfinspect("budget", str(BUDGET), "--prog", "nope")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no program named 'nope'" in p.stderr
    p = bpfinspect("budget", "/bin/ls")
    assert p.returncode == 2 and "not a BPF object" in p.stderr


@pytest.mark.parametrize("fixture", ["calls.bpf.o", "v4.bpf.o", "core.bpf.o", "sections.bpf.o", "legacy_maps.bpf.o"])
def test_every_fixture_has_a_budget(fixture):
    p = bpfinspect("budget", str(FIXTURES / fixture), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    obj = open_object(FIXTURES / fixture)
    assert {x["name"] for x in doc["programs"]} == {q.name for q in obj.programs if not q.is_subprog}
