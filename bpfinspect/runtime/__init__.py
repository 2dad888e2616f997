"""libbpf at run time, through ctypes: open, load, attach (``Program.attach()`` from the section,
``attach_uprobe``, ``attach_kprobe``, ``attach_tracepoint``, ``attach_raw_tracepoint``, ``attach_xdp``,
``attach_tc``: each returns a link that detaches on ``close()``), maps, ring and perf buffers,
``bpf_printk`` output (:class:`PrintkReader`), the kernel's run statistics (:class:`RunStats`);
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
from bpfinspect.runtime.attachdiag import AttachError, NoKprobes, NoTracefs, WrongProgramType
from bpfinspect.runtime.object import Link, Object, Program, TcLink, tracefs_mounted, verifier_reason, verifier_stats
from bpfinspect.runtime.tracepipe import PrintkLine, PrintkReader, RunStats
from bpfinspect.runtime.systrace import SyscallRecorder, recording

__all__ = [
    "AttachError", "NoKprobes", "NoTracefs", "PrintkLine", "PrintkReader", "RunStats", "TcLink", "WrongProgramType",
    "BPF_ANY", "BPF_EXIST", "BPF_F_LOCK", "BPF_NOEXIST", "ClosedError", "DataSection", "FrozenSectionError",
    "LibbpfError", "LibbpfUnavailable", "Link", "Map", "NoBpfSyscall", "NoPrivilege", "Object", "PerfBuffer",
    "Program", "RingBuffer", "SyscallRecorder", "errno_name", "journal", "lib", "recording", "tracefs_mounted",
    "verifier_reason", "verifier_stats",
]
