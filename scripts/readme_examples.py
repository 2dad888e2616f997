"""Refresh the example outputs in README.md by running the commands they show.

A block looks like::

    <!-- run: bpfinspect progs fixtures/bootstrap.bpf.o -->
    ```
    ...output...
    ```

Everything between the marker and the end of the following code block is
replaced by the command and its real output.  ``--check`` exits 1 when the
README is stale instead of rewriting it (the tests use it).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- run: (?P<cmd>.+?)(?: \| (?P<opts>[a-z0-9=,]+))? -->\n```[a-z]*\n(?:.*?\n)??```\n", re.S)
MAX_LINES = 60


def run(cmd: str, opts: dict) -> str:
    argv = shlex.split(cmd)
    if argv[0] == "bpfinspect":
        argv = [sys.executable, "-m", "bpfinspect"] + argv[1:]
    env = dict(os.environ, BPFINSPECT_PLAIN="1", COLUMNS="120")
    p = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    out = p.stdout + p.stderr
    lines = out.rstrip("\n").splitlines()
    limit = int(opts.get("lines", MAX_LINES))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
    return "\n".join(lines)


def refresh(text: str) -> str:
    def sub(m: re.Match) -> str:
        opts = dict(kv.split("=") for kv in (m.group("opts") or "").split(",") if "=" in kv)
        lang = opts.get("lang", "")
        return (f"<!-- run: {m.group('cmd')}{' | ' + m.group('opts') if m.group('opts') else ''} -->\n"
                f"```{lang}\n$ {m.group('cmd')}\n{run(m.group('cmd'), opts)}\n```\n")
    return MARK.sub(sub, text)


def main() -> int:
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = refresh(old)
    if "--check" in sys.argv:
        if new != old:
            print("README.md examples are stale: run scripts/readme_examples.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
