"""BPF helper functions by id (the kernel UAPI's ``enum bpf_func_id``)."""

from __future__ import annotations

from bpfinspect.isa.helper_table import HELPER_NAMES


def helper_name(helper_id: int) -> str | None:
    """``bpf_map_lookup_elem`` for 1; None for 0 and ids the UAPI does not define."""
    if 0 < helper_id < len(HELPER_NAMES):
        return HELPER_NAMES[helper_id]
    return None
