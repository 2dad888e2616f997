"""The recorder's ring-buffer records, paired into one raw call per system call.

The layout is the one ``bpfinspect/runtime/tracer/syscalls.bpf.c`` writes
(little-endian, as the recorder runs only where BPF is little-endian):

    head   u16 kind, u16 call, u32 tid, u64 ts          16 bytes
    ENTER  head, u64 args[6]                            64 bytes
    EXIT   head, s64 ret                                24 bytes
    DATA   head, u16 tag, u16 0, s32 err, u32 len, u32 off, then len bytes

A thread makes one system call at a time, so its ENTER, the DATA records
that follow, and the next EXIT of the same call belong together.  An ENTER
whose EXIT never came (the trace stopped, or the ring buffer was full) gives a
call without a result; an EXIT without its ENTER (a request the recorder does
not follow, such as a terminal ioctl) is dropped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

REC_ENTER, REC_EXIT, REC_DATA = 1, 2, 3
SYSCALLS = {1: "bpf", 2: "perf_event_open", 3: "ioctl", 4: "mmap", 5: "munmap", 6: "close"}
# DATA tags
D_ATTR, D_PERF_ATTR, D_INSNS, D_LICENSE, D_STRING, D_KEY, D_VALUE, D_BTF, D_FD_ARRAY = range(1, 10)

_HEAD = struct.Struct("<HHIQ")
_ARGS = struct.Struct("<6Q")
_RET = struct.Struct("<q")
_DATA = struct.Struct("<HHiII")

# What one call may accumulate from DATA records (the recorder copies at most
# 1 MiB of instructions; anything beyond this bound is not ours).
MAX_CALL_DATA = 2 << 20


@dataclass
class RawCall:
    """One system call as recorded: its raw arguments, the bytes copied for it, its result."""

    call: str
    tid: int
    ts: int
    args: tuple[int, ...]
    ret: int | None = None
    data: dict[int, bytearray] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)   # tag -> error of a copy that faulted

    def add(self, tag: int, err: int, off: int, payload: bytes) -> None:
        if err:
            self.errors[tag] = err
        buf = self.data.setdefault(tag, bytearray())
        if tag == D_INSNS and off != len(buf):
            return  # a chunk out of order (one was lost): keep the contiguous prefix only
        if len(buf) + len(payload) <= MAX_CALL_DATA:
            buf += payload

    def blob(self, tag: int) -> bytes | None:
        b = self.data.get(tag)
        return bytes(b) if b is not None else None


def pair(records) -> tuple[list[RawCall], int]:
    """Raw calls in the order they were entered, and the number of records that could not be used."""
    calls: list[RawCall] = []
    pending: dict[int, RawCall] = {}
    bad = 0
    for rec in records:
        if len(rec) < _HEAD.size:
            bad += 1
            continue
        kind, call_id, tid, ts = _HEAD.unpack_from(rec, 0)
        name = SYSCALLS.get(call_id)
        if name is None:
            bad += 1
            continue
        if kind == REC_ENTER and len(rec) >= _HEAD.size + _ARGS.size:
            raw = RawCall(name, tid, ts, _ARGS.unpack_from(rec, _HEAD.size))
            pending[tid] = raw
            calls.append(raw)
        elif kind == REC_EXIT and len(rec) >= _HEAD.size + _RET.size:
            raw = pending.get(tid)
            if raw is not None and raw.call == name:
                raw.ret = _RET.unpack_from(rec, _HEAD.size)[0]
                del pending[tid]
        elif kind == REC_DATA and len(rec) >= _HEAD.size + _DATA.size:
            tag, _, err, length, off = _DATA.unpack_from(rec, _HEAD.size)
            start = _HEAD.size + _DATA.size
            payload = bytes(rec[start:start + length])
            raw = pending.get(tid)
            if raw is not None and raw.call == name and len(payload) == length:
                raw.add(tag, err, off, payload)
            else:
                bad += 1
        else:
            bad += 1
    return calls, bad
