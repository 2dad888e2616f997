"""What the kernel says about a loaded program or a created map (BPF_OBJ_GET_INFO_BY_FD)."""

from __future__ import annotations

import ctypes

from bpfinspect.runtime._lib import lib, make_error

u8, u32, u64 = ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint64


class BpfProgInfo(ctypes.Structure):
    """struct bpf_prog_info (linux/bpf.h); the kernel fills as much as it knows and we ask for."""

    _fields_ = [
        ("type", u32), ("id", u32), ("tag", u8 * 8), ("jited_prog_len", u32), ("xlated_prog_len", u32),
        ("jited_prog_insns", u64), ("xlated_prog_insns", u64), ("load_time", u64),
        ("created_by_uid", u32), ("nr_map_ids", u32), ("map_ids", u64), ("name", ctypes.c_char * 16),
        ("ifindex", u32), ("gpl_compatible", u32), ("netns_dev", u64), ("netns_ino", u64),
        ("nr_jited_ksyms", u32), ("nr_jited_func_lens", u32), ("jited_ksyms", u64), ("jited_func_lens", u64),
        ("btf_id", u32), ("func_info_rec_size", u32), ("func_info", u64), ("nr_func_info", u32),
        ("nr_line_info", u32), ("line_info", u64), ("jited_line_info", u64), ("nr_jited_line_info", u32),
        ("line_info_rec_size", u32), ("jited_line_info_rec_size", u32), ("nr_prog_tags", u32),
        ("prog_tags", u64), ("run_time_ns", u64), ("run_cnt", u64), ("recursion_misses", u64),
        ("verified_insns", u32), ("attach_btf_obj_id", u32), ("attach_btf_id", u32), ("_pad", u32),
    ]


class BpfMapInfo(ctypes.Structure):
    """struct bpf_map_info (linux/bpf.h)."""

    _fields_ = [
        ("type", u32), ("id", u32), ("key_size", u32), ("value_size", u32), ("max_entries", u32),
        ("map_flags", u32), ("name", ctypes.c_char * 16), ("ifindex", u32), ("btf_vmlinux_value_type_id", u32),
        ("netns_dev", u64), ("netns_ino", u64), ("btf_id", u32), ("btf_key_type_id", u32),
        ("btf_value_type_id", u32), ("_pad", u32), ("map_extra", u64),
    ]


assert ctypes.sizeof(BpfProgInfo) == 228 + 4  # 232: the 6.x layout, 8-byte aligned
assert ctypes.sizeof(BpfMapInfo) == 88


def prog_info(fd: int) -> dict:
    info = BpfProgInfo()
    res = lib().info_by_fd(fd, info, "prog")
    if res < 0:
        raise make_error("bpf_prog_get_info_by_fd", -res)
    L = lib()
    return {
        "id": info.id,
        "type": L.prog_type_name(info.type),
        "name": info.name.decode("utf-8", "replace"),
        "tag": bytes(info.tag).hex(),
        "insns_xlated": info.xlated_prog_len // 8,
        "xlated_bytes": info.xlated_prog_len,
        "jited_bytes": info.jited_prog_len,
        "verified_insns": info.verified_insns,
        "btf_id": info.btf_id,
        "gpl_compatible": bool(info.gpl_compatible & 1),
        "nr_map_ids": info.nr_map_ids,
        "load_time": info.load_time,
    }


def map_info(fd: int) -> dict:
    info = BpfMapInfo()
    res = lib().info_by_fd(fd, info, "map")
    if res < 0:
        raise make_error("bpf_map_get_info_by_fd", -res)
    return {
        "id": info.id,
        "type": lib().map_type_name(info.type),
        "name": info.name.decode("utf-8", "replace"),
        "key_size": info.key_size,
        "value_size": info.value_size,
        "max_entries": info.max_entries,
        "map_flags": info.map_flags,
        "btf_id": info.btf_id,
    }
