"""The kernel's interface as the recorded calls use it: flags and layouts.

Data from the kernel's UAPI headers (``linux/bpf.h`` and
``linux/perf_event.h`` up to Linux 6.19): flag bits, the layout of ``union
bpf_attr`` for each command and of ``struct perf_event_attr``, the perf
ioctl requests.  The enums (commands, program, map and attach types) are in
:mod:`bpfinspect.uapi`.  The tests check every number against the headers
installed on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.uapi import ATTACH_TYPES

ATTACH = {name: number for number, name in enumerate(ATTACH_TYPES)}
# Attach types whose BPF_LINK_CREATE / BPF_PROG_ATTACH target is an interface index, not an fd.
IFINDEX_TARGETS = frozenset(ATTACH[n] for n in ("xdp", "tcx_ingress", "tcx_egress", "netkit_primary",
                                                 "netkit_peer"))
ENABLE_STATS_TYPES = ("run_time",)

MAP_FLAGS = ("no_prealloc", "no_common_lru", "numa_node", "rdonly", "wronly", "stack_build_id", "zero_seed",
             "rdonly_prog", "wronly_prog", "clone", "mmapable", "preserve_elems", "inner_map", "link",
             "path_fd", "vtype_btf_obj_fd", "token_fd", "segv_on_fault", "no_user_conv", "rb_overwrite")
PROG_FLAGS = {0: "strict_alignment", 1: "any_alignment", 2: "test_rnd_hi32", 3: "test_state_freq",
              4: "sleepable", 5: "xdp_has_frags", 6: "xdp_dev_bound_only", 7: "test_reg_invariants",
              16: "token_fd"}
ATTACH_FLAGS = ("allow_override", "allow_multi", "replace", "before", "after", "id", "preorder")
ELEM_FLAGS = {0: "any", 1: "noexist", 2: "exist"}   # BPF_ANY...: values of the low bits; BPF_F_LOCK: bit 2
BPF_F_LOCK = 4


def flag_names(value: int, names, *, bits: dict | None = None) -> list[str]:
    """Names of the bits set in ``value`` (unknown bits as ``bit_N``)."""
    out = []
    for bit in range(64):
        if value >> bit & 1:
            if bits is not None:
                out.append(bits.get(bit, f"bit_{bit}"))
            else:
                out.append(names[bit] if bit < len(names) else f"bit_{bit}")
    return out


# ---------------------------------------------------------------- union bpf_attr

@dataclass(frozen=True, slots=True)
class Field:
    """One member of ``union bpf_attr`` as a command uses it.

    ``kind``: ``u32``/``s32``/``u64`` (plain numbers), ``fd`` (an fd this call
    refers to), ``optfd`` (the same where 0 means none), ``fd_or_ifindex``
    (link and attach targets: an interface index for XDP, tcx and netkit),
    ``ptr`` (a user address: not shown, what it points to is decoded
    separately), ``name`` (char[16]), or an enum: ``map_type``,
    ``prog_type``, ``attach_type``.
    """

    name: str
    offset: int
    size: int
    kind: str = "u32"


def _f(name, offset, kind="u32"):
    size = {"u64": 8, "ptr": 8, "name": 16}.get(kind, 4)
    return Field(name, offset, size, kind)


MAP_CREATE = (
    _f("map_type", 0, "map_type"), _f("key_size", 4), _f("value_size", 8), _f("max_entries", 12),
    _f("map_flags", 16), _f("inner_map_fd", 20, "optfd"), _f("numa_node", 24), _f("map_name", 28, "name"),
    _f("map_ifindex", 44), _f("btf_fd", 48, "optfd"), _f("btf_key_type_id", 52), _f("btf_value_type_id", 56),
    _f("btf_vmlinux_value_type_id", 60), _f("map_extra", 64, "u64"), _f("value_type_btf_obj_fd", 72, "optfd"),
    _f("map_token_fd", 76, "optfd"), _f("excl_prog_hash", 80, "ptr"), _f("excl_prog_hash_size", 88),
)
MAP_ELEM = (_f("map_fd", 0, "fd"), _f("key", 8, "ptr"), _f("value", 16, "ptr"), _f("flags", 24, "u64"))
MAP_BATCH = (
    _f("in_batch", 0, "ptr"), _f("out_batch", 8, "ptr"), _f("keys", 16, "ptr"), _f("values", 24, "ptr"),
    _f("count", 32), _f("map_fd", 36, "fd"), _f("elem_flags", 40, "u64"), _f("flags", 48, "u64"),
)
PROG_LOAD = (
    _f("prog_type", 0, "prog_type"), _f("insn_cnt", 4), _f("insns", 8, "ptr"), _f("license", 16, "ptr"),
    _f("log_level", 24), _f("log_size", 28), _f("log_buf", 32, "ptr"), _f("kern_version", 40),
    _f("prog_flags", 44), _f("prog_name", 48, "name"), _f("prog_ifindex", 64),
    _f("expected_attach_type", 68, "attach_type"), _f("prog_btf_fd", 72, "optfd"), _f("func_info_rec_size", 76),
    _f("func_info", 80, "ptr"), _f("func_info_cnt", 88), _f("line_info_rec_size", 92),
    _f("line_info", 96, "ptr"), _f("line_info_cnt", 104), _f("attach_btf_id", 108),
    _f("attach_prog_fd", 112, "optfd"), _f("core_relo_cnt", 116), _f("fd_array", 120, "ptr"),
    _f("core_relos", 128, "ptr"), _f("core_relo_rec_size", 136), _f("log_true_size", 140),
    _f("prog_token_fd", 144, "optfd"), _f("fd_array_cnt", 148), _f("signature", 152, "ptr"),
    _f("signature_size", 160), _f("keyring_id", 164, "s32"),
)
OBJ = (_f("pathname", 0, "ptr"), _f("bpf_fd", 8, "fd"), _f("file_flags", 12), _f("path_fd", 16, "s32"))
PROG_ATTACH = (
    _f("target_fd", 0, "fd_or_ifindex"), _f("attach_bpf_fd", 4, "fd"), _f("attach_type", 8, "attach_type"),
    _f("attach_flags", 12), _f("replace_bpf_fd", 16, "optfd"), _f("relative_fd", 20),
    _f("expected_revision", 24, "u64"),
)
TEST_RUN = (
    _f("prog_fd", 0, "fd"), _f("retval", 4), _f("data_size_in", 8), _f("data_size_out", 12),
    _f("data_in", 16, "ptr"), _f("data_out", 24, "ptr"), _f("repeat", 32), _f("duration", 36),
    _f("ctx_size_in", 40), _f("ctx_size_out", 44), _f("ctx_in", 48, "ptr"), _f("ctx_out", 56, "ptr"),
    _f("flags", 64), _f("cpu", 68), _f("batch_size", 72),
)
GET_ID = (_f("start_id", 0), _f("next_id", 4), _f("open_flags", 8), _f("fd_by_id_token_fd", 12, "optfd"))
GET_INFO = (_f("bpf_fd", 0, "fd"), _f("info_len", 4), _f("info", 8, "ptr"))
PROG_QUERY = (
    _f("target_fd", 0, "fd_or_ifindex"), _f("attach_type", 4, "attach_type"), _f("query_flags", 8),
    _f("attach_flags", 12), _f("prog_ids", 16, "ptr"), _f("prog_cnt", 24),
)
RAW_TRACEPOINT = (_f("name", 0, "ptr"), _f("prog_fd", 8, "fd"), _f("cookie", 16, "u64"))
BTF_LOAD = (
    _f("btf", 0, "ptr"), _f("btf_log_buf", 8, "ptr"), _f("btf_size", 16), _f("btf_log_size", 20),
    _f("btf_log_level", 24), _f("btf_log_true_size", 28), _f("btf_flags", 32), _f("btf_token_fd", 36, "optfd"),
)
TASK_FD_QUERY = (
    _f("pid", 0), _f("fd", 4), _f("flags", 8), _f("buf_len", 12), _f("buf", 16, "ptr"), _f("prog_id", 24),
    _f("fd_type", 28), _f("probe_offset", 32, "u64"), _f("probe_addr", 40, "u64"),
)
LINK_CREATE = (
    _f("prog_fd", 0, "fd"), _f("target_fd", 4, "fd_or_ifindex"), _f("attach_type", 8, "attach_type"),
    _f("flags", 12),
)
# The rest of BPF_LINK_CREATE's attribute depends on the attach type (a union at offset 16);
# field names are paths below ``link_create`` (the JSON key is the last part).
_TRACING = (_f("tracing.target_btf_id", 16), _f("tracing.cookie", 24, "u64"))
_KPROBE_MULTI = (_f("kprobe_multi.flags", 16), _f("kprobe_multi.cnt", 20))
_UPROBE_MULTI = (_f("uprobe_multi.cnt", 48), _f("uprobe_multi.flags", 52), _f("uprobe_multi.pid", 56))
_RELATIVE = (_f("tcx.relative_fd", 16, "optfd"), _f("tcx.expected_revision", 24, "u64"))
LINK_CREATE_TAIL = {
    "perf_event": (_f("perf_event.bpf_cookie", 16, "u64"),),
    "trace_fentry": _TRACING, "trace_fexit": _TRACING, "modify_return": _TRACING, "lsm_mac": _TRACING,
    "trace_raw_tp": _TRACING, "trace_fsession": _TRACING,
    "trace_iter": (_f("iter_info_len", 24),),
    "trace_kprobe_multi": _KPROBE_MULTI, "trace_kprobe_session": _KPROBE_MULTI,
    "trace_uprobe_multi": _UPROBE_MULTI, "trace_uprobe_session": _UPROBE_MULTI,
    "netfilter": (_f("netfilter.pf", 16), _f("netfilter.hooknum", 20), _f("netfilter.priority", 24, "s32"),
                  _f("netfilter.flags", 28)),
    "tcx_ingress": _RELATIVE, "tcx_egress": _RELATIVE, "netkit_primary": _RELATIVE, "netkit_peer": _RELATIVE,
}

LINK_UPDATE = (_f("link_fd", 0, "fd"), _f("new_prog_fd", 4, "fd"), _f("flags", 8), _f("old_prog_fd", 12, "optfd"))
LINK_DETACH = (_f("link_fd", 0, "fd"),)
ENABLE_STATS = (_f("type", 0),)
ITER_CREATE = (_f("link_fd", 0, "fd"), _f("flags", 4))
PROG_BIND_MAP = (_f("prog_fd", 0, "fd"), _f("map_fd", 4, "fd"), _f("flags", 8))
TOKEN_CREATE = (_f("flags", 0), _f("bpffs_fd", 4, "fd"))
STREAM_READ = (_f("stream_buf", 0, "ptr"), _f("stream_buf_len", 8), _f("stream_id", 12), _f("prog_fd", 16, "fd"))
ASSOC_STRUCT_OPS = (_f("map_fd", 0, "fd"), _f("prog_fd", 4, "fd"), _f("flags", 8))

ATTR_LAYOUTS: dict[str, tuple[Field, ...]] = {
    "BPF_MAP_CREATE": MAP_CREATE,
    "BPF_MAP_LOOKUP_ELEM": MAP_ELEM, "BPF_MAP_UPDATE_ELEM": MAP_ELEM, "BPF_MAP_DELETE_ELEM": MAP_ELEM,
    "BPF_MAP_GET_NEXT_KEY": MAP_ELEM, "BPF_MAP_LOOKUP_AND_DELETE_ELEM": MAP_ELEM,
    "BPF_MAP_FREEZE": MAP_ELEM[:1],
    "BPF_MAP_LOOKUP_BATCH": MAP_BATCH, "BPF_MAP_LOOKUP_AND_DELETE_BATCH": MAP_BATCH,
    "BPF_MAP_UPDATE_BATCH": MAP_BATCH, "BPF_MAP_DELETE_BATCH": MAP_BATCH,
    "BPF_PROG_LOAD": PROG_LOAD,
    "BPF_OBJ_PIN": OBJ, "BPF_OBJ_GET": tuple(f for f in OBJ if f.name != "bpf_fd"),
    "BPF_PROG_ATTACH": PROG_ATTACH, "BPF_PROG_DETACH": PROG_ATTACH,
    "BPF_PROG_TEST_RUN": TEST_RUN,
    "BPF_PROG_GET_NEXT_ID": GET_ID, "BPF_MAP_GET_NEXT_ID": GET_ID, "BPF_BTF_GET_NEXT_ID": GET_ID,
    "BPF_LINK_GET_NEXT_ID": GET_ID,
    "BPF_PROG_GET_FD_BY_ID": GET_ID, "BPF_MAP_GET_FD_BY_ID": GET_ID, "BPF_BTF_GET_FD_BY_ID": GET_ID,
    "BPF_LINK_GET_FD_BY_ID": GET_ID,
    "BPF_OBJ_GET_INFO_BY_FD": GET_INFO,
    "BPF_PROG_QUERY": PROG_QUERY,
    "BPF_RAW_TRACEPOINT_OPEN": RAW_TRACEPOINT,
    "BPF_BTF_LOAD": BTF_LOAD,
    "BPF_TASK_FD_QUERY": TASK_FD_QUERY,
    "BPF_LINK_CREATE": LINK_CREATE,
    "BPF_LINK_UPDATE": LINK_UPDATE,
    "BPF_ENABLE_STATS": ENABLE_STATS,
    "BPF_ITER_CREATE": ITER_CREATE,
    "BPF_LINK_DETACH": LINK_DETACH,
    "BPF_PROG_BIND_MAP": PROG_BIND_MAP,
    "BPF_TOKEN_CREATE": TOKEN_CREATE,
    "BPF_PROG_STREAM_READ_BY_FD": STREAM_READ,
    "BPF_PROG_ASSOC_STRUCT_OPS": ASSOC_STRUCT_OPS,
}

# What the fd a successful command returns holds.
RETURNS_FD = {
    "BPF_MAP_CREATE": "map", "BPF_MAP_GET_FD_BY_ID": "map",
    "BPF_PROG_LOAD": "prog", "BPF_PROG_GET_FD_BY_ID": "prog",
    "BPF_BTF_LOAD": "btf", "BPF_BTF_GET_FD_BY_ID": "btf",
    "BPF_LINK_CREATE": "link", "BPF_RAW_TRACEPOINT_OPEN": "link", "BPF_LINK_GET_FD_BY_ID": "link",
    "BPF_OBJ_GET": "pinned", "BPF_ITER_CREATE": "iter", "BPF_TOKEN_CREATE": "token",
}

# ---------------------------------------------------------------- perf events

PERF_TYPES = ("hardware", "software", "tracepoint", "hw_cache", "raw", "breakpoint")
PERF_TYPE_TRACEPOINT = 2
PERF_FLAGS = ("fd_no_group", "fd_output", "pid_cgroup", "fd_cloexec")

# struct perf_event_attr: the members shown (offset, size, name); the bit
# field word at 40 holds disabled (bit 0), inherit, pinned, exclusive,
# exclude_user, exclude_kernel...
PERF_ATTR = (
    ("type", 0, 4), ("size", 4, 4), ("config", 8, 8), ("sample_period", 16, 8), ("sample_type", 24, 8),
    ("read_format", 32, 8), ("attr_flags", 40, 8), ("wakeup_events", 48, 4), ("bp_type", 52, 4),
    ("config1", 56, 8), ("config2", 64, 8),
)
PERF_ATTR_SIZE_VER0 = 64

_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return direction << 30 | size << 16 | ord("$") << 8 | nr


PERF_IOCTLS = {
    _ioc(_IOC_NONE, 0, 0): "PERF_EVENT_IOC_ENABLE",
    _ioc(_IOC_NONE, 1, 0): "PERF_EVENT_IOC_DISABLE",
    _ioc(_IOC_NONE, 2, 0): "PERF_EVENT_IOC_REFRESH",
    _ioc(_IOC_NONE, 3, 0): "PERF_EVENT_IOC_RESET",
    _ioc(_IOC_WRITE, 4, 8): "PERF_EVENT_IOC_PERIOD",
    _ioc(_IOC_NONE, 5, 0): "PERF_EVENT_IOC_SET_OUTPUT",
    _ioc(_IOC_WRITE, 6, 8): "PERF_EVENT_IOC_SET_FILTER",
    _ioc(_IOC_READ, 7, 8): "PERF_EVENT_IOC_ID",
    _ioc(_IOC_WRITE, 8, 4): "PERF_EVENT_IOC_SET_BPF",
    _ioc(_IOC_WRITE, 9, 4): "PERF_EVENT_IOC_PAUSE_OUTPUT",
    _ioc(_IOC_READ | _IOC_WRITE, 10, 8): "PERF_EVENT_IOC_QUERY_BPF",
    _ioc(_IOC_WRITE, 11, 8): "PERF_EVENT_IOC_MODIFY_ATTRIBUTES",
}
# requests whose argument is an fd: SET_BPF takes a program, SET_OUTPUT another event
IOCTL_FD_ARG = {"PERF_EVENT_IOC_SET_BPF": "prog", "PERF_EVENT_IOC_SET_OUTPUT": "perf_event"}

# ---------------------------------------------------------------- mmap

PROT_BITS = ("read", "write", "exec")
MMAP_FLAGS = {0: "shared", 1: "private", 4: "fixed", 5: "anonymous", 13: "locked", 14: "noreserve",
              15: "populate", 20: "fixed_noreplace"}
