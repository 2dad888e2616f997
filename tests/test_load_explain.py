"""`load` explains a rejection: each common mistake, compiled by clang and refused by the
kernel's verifier on this machine, is classified, explained, and placed on its source line;
the line from the verifier's own echo of line info and the line found through the object's
layout (the instruction index counts the program as libbpf loads it) agree."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import FIXTURES, ROOT, bpfinspect, needs_bpf
from bpfinspect.runtime.explain import classify, log_source, object_source, rejected_insn

REJECTS = FIXTURES / "verifier_no.bpf.o"
SRC = FIXTURES / "src" / "verifier_no.bpf.c"

# program -> (pattern, a unique piece of the source line the explanation must point at)
EXPECTED = {
    "no_null_check": ("null_check", "*v += 1;"),
    "no_bounds_check": ("packet_bounds", "return data[12] == 0x08"),
    "unbounded_loop": ("unbounded_loop", "for (i = 0; i < n; i++)"),
    "wrong_helper": ("helper_not_allowed", "return bpf_get_socket_cookie(ctx) & 1;"),
    "leaked_ref": ("unreleased_reference", "bpf_ringbuf_reserve(&events"),
    "stack_too_deep": ("stack_too_deep", "int stack_too_deep("),
    "tail_big_frame": ("tail_call_stack", "bpf_tail_call(skb, &jumps, 0);"),
}


def line_of(path, piece: str) -> int:
    found = [i + 1 for i, ln in enumerate(path.read_text().splitlines()) if piece in ln]
    assert len(found) == 1, (piece, found)
    return found[0]


@pytest.fixture(scope="module")
def verdicts():
    p = bpfinspect("load", str(REJECTS), "--json")
    assert p.returncode == 1, p.stderr
    return {x["name"]: x for x in json.loads(p.stdout)["programs"]}


@needs_bpf
@pytest.mark.parametrize("prog", sorted(EXPECTED))
def test_each_rejection_is_classified_and_placed(verdicts, prog):
    v = verdicts[prog]
    assert v["loaded"] is False and v["log"], v["error"]
    pattern, piece = EXPECTED[prog]
    ex = v["explanation"]
    assert ex is not None and ex["pattern"] == pattern, (ex, v["reason"])
    assert ex["text"] and ex["fix"] and ex["message"] in v["log"]
    assert v["source"]["line"] == line_of(SRC, piece), v["source"]
    assert v["source"]["file"].endswith("verifier_no.bpf.c")


@needs_bpf
def test_the_accepted_program_has_no_explanation(verdicts):
    assert verdicts["fine"]["loaded"] is True and verdicts["fine"]["explanation"] is None
    assert verdicts["uninit_stack"]["loaded"] is True   # root may read uninitialised stack


@needs_bpf
@pytest.mark.parametrize("prog", ["no_null_check", "no_bounds_check", "wrong_helper", "leaked_ref"])
def test_log_echo_and_object_layout_agree(verdicts, prog):
    """The verifier's `; text @ file:line` echo before the rejected instruction, and the object's
    line info at that index of the loaded program, name the same line."""
    from bpfinspect.obj import open_object

    v = verdicts[prog]
    ex = classify(v["log"], v["reason"])
    insn = rejected_insn(v["log"], ex.message)
    if prog == "leaked_ref":
        insn = int(ex.message.split("alloc_insn=")[1])
    echo = log_source(v["log"], insn)
    func, ours = object_source(open_object(REJECTS), prog, insn)
    assert echo is not None and ours is not None
    assert (echo["line"], echo["text"]) == (ours["line"], ours["text"]) and func == prog


@needs_bpf
def test_human_view_says_why_fix_and_where(verdicts):
    out = bpfinspect("load", str(REJECTS), "--prog", "no_null_check").stdout
    line = line_of(SRC, "*v += 1;")
    assert "  why: R0 may be NULL here" in out and "[null_check]" in out
    assert "  fix: test the pointer right after the call" in out
    assert f"  at:  verifier_no.bpf.c:{line}: *v += 1;" in out
    assert "(insn 7 of the loaded program, in no_null_check)" in out


@needs_bpf
def test_gpl_only_helper_under_another_license():
    p = bpfinspect("load", str(FIXTURES / "verifier_nogpl.bpf.o"), "--json")
    assert p.returncode == 1
    [v] = json.loads(p.stdout)["programs"]
    assert v["explanation"]["pattern"] == "gpl_only" and "'Proprietary'" in v["explanation"]["text"]
    assert v["source"]["line"] == line_of(FIXTURES / "src" / "verifier_nogpl.bpf.c", "bpf_probe_read_kernel(")


@needs_bpf
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_uninitialised_stack_without_cap_perfmon():
    """Root may read uninitialised stack; without CAP_PERFMON and CAP_SYS_ADMIN (CAP_BPF kept)
    the verifier refuses it."""
    p = subprocess.run(["setpriv", "--bounding-set", "-sys_admin,-perfmon", str(ROOT / ".venv" / "bin" / "bpfinspect"),
                        "load", str(REJECTS), "--prog", "uninit_stack", "--json"], capture_output=True, text=True)
    if p.returncode == 3:
        pytest.skip(f"no BPF without CAP_SYS_ADMIN here: {p.stderr.strip()}")
    assert p.returncode == 1, p.stderr
    v = {x["name"]: x for x in json.loads(p.stdout)["programs"]}["uninit_stack"]
    assert v["explanation"]["pattern"] == "uninit_stack", v["reason"]
    assert v["source"]["line"] == line_of(SRC, "bpf_map_update_elem(&counts, &key, &val, BPF_ANY);")


@pytest.mark.parametrize("message,pattern", [
    ("R1 invalid mem access 'ptr_or_null_'", "null_check"),        # older kernels' spelling
    ("back-edge from insn 12 to 5", "unbounded_loop"),             # before bounded loops (5.3)
    ("infinite loop detected at insn 7", "unbounded_loop"),
    ("unknown func bpf_get_current_task#35", "helper_not_allowed"),
    ("R0 !read_ok", "uninit_register"),
    ("R3 invalid mem access 'scalar'", "scalar_deref"),
    ("invalid bpf_context access off=76 size=4", "ctx_access"),
    ("something no pattern knows", None),
])
def test_messages_of_other_kernels(message, pattern):
    ex = classify(f"0: (85) call x\n{message}\nprocessed 1 insns", None)
    assert (ex.pattern if ex else None) == pattern
