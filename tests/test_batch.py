"""Several objects in one run of an inspection command: the same documents as one run per
object, as JSON Lines in argument order (with -j N too), headed human views, the worst exit."""

from __future__ import annotations

import json

import pytest

from conftest import DEBIAN_OBJECTS, FIXTURES, bpfinspect

OBJECTS = [str(FIXTURES / n) for n in ("maps.bpf.o", "calls.bpf.o", "bootstrap.bpf.o", "kprobe.bpf.o")]
if DEBIAN_OBJECTS:
    OBJECTS.append(str(DEBIAN_OBJECTS[0]))

# command, extra arguments (each command that takes objects)
COMMANDS = [("info", []), ("sections", []), ("progs", []), ("maps", []), ("globals", []), ("relocs", []),
            ("disasm", []), ("btf", []), ("core", ["--btf", str(FIXTURES / "core-target-new.o")])]


def _one_by_one(cmd: str, extra: list[str], objects: list[str], *flags: str) -> list[tuple[int, str, str]]:
    out = []
    for o in objects:
        p = bpfinspect(cmd, o, *extra, *flags)
        out.append((p.returncode, p.stdout, p.stderr))
    return out


@pytest.mark.parametrize("cmd,extra", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_json_lines_are_the_single_documents(cmd, extra):
    objects = OBJECTS[:3]
    single = _one_by_one(cmd, extra, objects, "--json")
    batch = bpfinspect(cmd, *objects, *extra, "--json")
    assert batch.returncode == max(code for code, _, _ in single), batch.stderr
    lines = batch.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == len(objects) + 1
    for line, (code, text, _) in zip(lines, single):
        assert json.loads(line) == json.loads(text)
    # spread over processes: the same bytes
    spread = bpfinspect(cmd, *objects, *extra, "--json", "-j", "2")
    assert (spread.returncode, spread.stdout, spread.stderr) == (batch.returncode, batch.stdout, batch.stderr)


@pytest.mark.parametrize("cmd", ["info", "sections", "maps", "disasm"])
def test_human_view_is_headed_per_object(cmd):
    single = _one_by_one(cmd, [], OBJECTS)
    batch = bpfinspect(cmd, *OBJECTS)
    assert batch.returncode == 0, batch.stderr
    expected = "\n".join(f"==> {o} <==\n{text}" for o, (_, text, _) in zip(OBJECTS, single))
    assert batch.stdout == expected
    spread = bpfinspect(cmd, *OBJECTS, "-j", "3")
    assert spread.stdout == expected and spread.returncode == 0


def test_single_object_output_unchanged():
    """One object: the command's own layout (the indented document), not a JSON line."""
    p = bpfinspect("info", OBJECTS[0], "--json", check=True)
    assert p.stdout.startswith('{\n  "schema": 1,')


def test_exit_is_the_worst_and_failures_keep_their_line(tmp_path):
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 40)
    missing = tmp_path / "missing.o"
    objects = [OBJECTS[0], str(junk), OBJECTS[1], str(missing)]
    for jobs in ("1", "2"):
        p = bpfinspect("progs", *objects, "--json", "-j", jobs)
        assert p.returncode == 2
        docs = [json.loads(line) for line in p.stdout.splitlines()]
        assert [d["file"] for d in docs] == objects
        assert "programs" in docs[0] and "programs" in docs[2]
        for d in (docs[1], docs[3]):
            assert set(d) == {"schema", "file", "error", "exit"} and d["exit"] == 2
        # the usual one error line per failed object, in argument order
        errors = p.stderr.splitlines()
        assert len(errors) == 2
        assert errors[0] == f"bpfinspect: {docs[1]['error']}" and str(junk) in errors[0]
        assert errors[1] == f"bpfinspect: {docs[3]['error']}" and str(missing) in errors[1]
    # human view: the failing object's header, its error line on stderr, the others printed
    p = bpfinspect("progs", *objects)
    assert p.returncode == 2
    assert [line for line in p.stdout.splitlines() if line.startswith("==> ")] == [f"==> {o} <==" for o in objects]


def test_jobs_argument_checked():
    p = bpfinspect("info", OBJECTS[0], OBJECTS[1], "-j", "x")
    assert p.returncode == 2 and "number of processes" in p.stderr
