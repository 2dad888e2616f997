"""bench/run.py: a run of some benchmarks keeps the others' latest blocks, and the goals table
says of each goal whether its figure meets it."""

from __future__ import annotations

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402


def test_blocks_of_an_earlier_file():
    text = ("# Benchmark results\n\n- machine\n\n## Goals\n\n| x |\n\n"
            "<!-- bench: bench_goals.py 2026-01-01 00:00 UTC -->\n## Goals: CPU\n\nA\n\n"
            "<!-- bench: bench_btf.py 2026-01-02 00:00 UTC -->\n## btf\n\nB\n")
    blocks, legacy = run._earlier_blocks(text)
    assert legacy == ""
    assert blocks == {"bench_goals.py": "<!-- bench: bench_goals.py 2026-01-01 00:00 UTC -->\n## Goals: CPU\n\nA\n",
                      "bench_btf.py": "<!-- bench: bench_btf.py 2026-01-02 00:00 UTC -->\n## btf\n\nB\n"}
    # a file from before the markers: its sections (not its goals table) as one block
    blocks, legacy = run._earlier_blocks("# R\n\n- m\n\n## Goals\n\nG\n\n## One\n\n1\n\n## Two\n\n2\n")
    assert blocks == {} and legacy == "## One\n\n1\n\n## Two\n\n2"


def test_goals_table_judges_each_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "FIGURES", tmp_path)
    (tmp_path / "goals.json").write_text(json.dumps({"rows": {
        "sections": {"ratio": 2.5, "goal": 2.0, "reference": "llvm-readelf-19 -S x"},
        "disasm --json": {"ratio": 2.4, "goal": 2.5, "reference": "llvm-objdump-19 -d -r -S x"}}}))
    (tmp_path / "growth.json").write_text(json.dumps({"progs": {"whole": 3.0, "work": 9.2},
                                                     "disasm": {"whole": 5.7, "work": 11.5}}))
    (tmp_path / "batch.json").write_text(json.dumps({"count": 600, "sets": {
        "real": {"ratio_cpu": 9.0, "ratio_wall": 4.0}}}))
    rows = [line.split(" | ") for line in run.goals().splitlines() if line.startswith("| `")]
    assert [(r[0].split("`")[1], r[3]) for r in rows] == [
        ("sections", "no"), ("disasm --json", "yes"), ("progs", "yes"), ("disasm", "no"), ("info --json", "no")]
