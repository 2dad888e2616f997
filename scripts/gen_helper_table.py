#!/usr/bin/env python3
"""Regenerate bpfinspect/isa/helper_table.py from the kernel UAPI header.

The helper ids are the positions in the ``__BPF_FUNC_MAPPER`` list of
``linux/bpf.h``.  Older headers write ``FN(name)`` (ids implied by order),
newer ones ``FN(name, id, ...)``; both are read, and an explicit id must
agree with the position.

    python3 scripts/gen_helper_table.py [/usr/include/linux/bpf.h]
"""

from __future__ import annotations

import pathlib
import re
import sys

HEADER = "/usr/include/linux/bpf.h"

# Helpers added after the header Debian 12 ships (Linux 6.1); the kernel froze the
# list after these two (Linux 6.2), new functionality comes as kfuncs.
LATER = ["cgrp_storage_get", "cgrp_storage_delete"]
OUT = pathlib.Path(__file__).resolve().parent.parent / "bpfinspect" / "isa" / "helper_table.py"


def read_names(text: str) -> list[str]:
    start = text.find("#define __BPF_FUNC_MAPPER(FN")
    if start < 0:
        raise SystemExit("no __BPF_FUNC_MAPPER in the header")
    body = []
    for line in text[start:].splitlines()[1:]:
        body.append(line)
        if not line.rstrip().endswith("\\"):
            break
    names: list[str] = []
    for m in re.finditer(r"FN\(\s*(\w+)\s*(?:,\s*(\d+))?", "\n".join(body)):
        name, explicit = m.group(1), m.group(2)
        if explicit is not None and int(explicit) != len(names):
            raise SystemExit(f"helper {name}: id {explicit} out of order")
        names.append(name)
    return names


def main(argv: list[str]) -> int:
    header = argv[1] if len(argv) > 1 else HEADER
    names = read_names(pathlib.Path(header).read_text())
    for name in LATER:
        if name not in names:
            names.append(name)
    lines = [
        '"""BPF helper function names by id, from the __BPF_FUNC_MAPPER list of linux/bpf.h.',
        "",
        "Regenerate with scripts/gen_helper_table.py; id 0 (unspec) is not a callable helper.",
        '"""',
        "",
        "HELPER_NAMES: tuple[str, ...] = (",
    ]
    for i, name in enumerate(names):
        lines.append(f'    "bpf_{name}",  # {i}' if name != "unspec" else f'    "",  # {i} (unspec)')
    lines.append(")")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(names)} ids")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
