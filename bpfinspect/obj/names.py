"""Names libbpf and bpftool derive from file and section names."""

from __future__ import annotations

import os
import re

BPF_OBJ_NAME_LEN = 16


def skeleton_object_name(path: str | None) -> str:
    """bpftool's object name: file name without ``.o``, every non-alphanumeric -> ``_``."""
    base = os.path.basename(path or "object.o")
    if base.endswith(".o"):
        base = base[:-2]
    return re.sub(r"[^A-Za-z0-9]", "_", base)


def skeleton_libbpf_name(raw: str) -> str:
    """The object name a skeleton gives libbpf for ``--name`` (bpftool's rule: other characters
    than ASCII letters and digits become ``_``); it names the data sections' maps."""
    return re.sub(r"[^A-Za-z0-9_]", "_", raw) or "_"


def libbpf_object_name(path: str | None) -> str:
    """libbpf's object name when opening a file: the base name up to its first dot."""
    base = os.path.basename(path or "object.o")
    return base.split(".", 1)[0]


def internal_map_name(obj_name: str, section: str) -> str:
    """libbpf's name for the map backing a data section (``bootstra.rodata``).

    A section name with a second dot (``.rodata.cfg``) is used alone; otherwise
    the object name is put in front, cut so that prefix plus at least seven
    characters of suffix fit in 15 (``bootstra.bss``, as the kernel shows).  What
    the kernel does not accept in a name becomes ``_``.
    """
    sfx = section[:BPF_OBJ_NAME_LEN - 1]
    if "." in section[1:]:
        pfx = ""
    else:
        # The suffix is reserved at least 7 characters, so the prefix is at most 8.
        pfx = obj_name[:max(0, BPF_OBJ_NAME_LEN - 1 - max(7, len(sfx)))]
    name = pfx + sfx
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def skeleton_section_name(section: str) -> str:
    """The member a C skeleton gives a data section: ``.data.foo`` -> ``data_foo``."""
    return re.sub(r"[^A-Za-z0-9]", "_", section.lstrip("."))
