"""libbpf at run time, through ctypes: open, load, attach, maps, ring and perf buffers;
and the recorder of the BPF system calls a process makes (:class:`SyscallRecorder`).

Importing this package does not load libbpf; the first object opened does
(``LIBBPF_SO`` overrides which library).  Layouts of BTF types as ctypes
classes live in :mod:`bpfinspect.btf.ctypes_layout` (pure Python).
"""

from bpfinspect.runtime._lib import (LibbpfError, LibbpfUnavailable, NoBpfSyscall, NoPrivilege, errno_name,
                                     journal, lib)
from bpfinspect.runtime.buffers import PerfBuffer, RingBuffer
from bpfinspect.runtime.datasec import ClosedError, DataSection, FrozenSectionError
from bpfinspect.runtime.maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, Map
from bpfinspect.runtime.object import Link, Object, Program, tracefs_mounted, verifier_reason, verifier_stats
from bpfinspect.runtime.systrace import SyscallRecorder, recording

__all__ = [
    "BPF_ANY", "BPF_EXIST", "BPF_F_LOCK", "BPF_NOEXIST", "ClosedError", "DataSection", "FrozenSectionError",
    "LibbpfError", "LibbpfUnavailable", "Link", "Map", "NoBpfSyscall", "NoPrivilege", "Object", "PerfBuffer",
    "Program", "RingBuffer", "SyscallRecorder", "errno_name", "journal", "lib", "recording", "tracefs_mounted",
    "verifier_reason", "verifier_stats",
]
