"""The system calls a process made to set up BPF, decoded from the recorder's records.

The recorder (``bpfinspect.runtime.systrace``) gives the raw ring-buffer
records; this package turns them into a :class:`Trace` of :class:`Call`\\ s:

  records.py  the record layout, paired per thread into raw calls
  uapi.py     bpf() commands, types and flags, ``union bpf_attr`` layouts, perf
  calls.py    decoding: attributes, the fds each call creates and refers to
  probes.py   the rule that marks libbpf's feature probes

Pure Python: nothing here talks to the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.systrace.calls import Call, FdObject, FdRef

__all__ = ["Call", "FdObject", "FdRef", "Trace", "decode_records"]


@dataclass
class Trace:
    """What a recording saw: the calls in order, and what it could not see."""

    calls: list[Call] = field(default_factory=list)
    lost: int = 0          # records the ring buffer had no room for
    unusable: int = 0      # records that could not be paired with a call

    def to_json(self) -> list[dict]:
        return [c.to_json() for c in self.calls]

    @property
    def probes(self) -> int:
        return sum(1 for c in self.calls if c.probe)


def decode_records(records, *, lost: int = 0, tracepoints: dict[int, str] | None = None,
                   pmus: dict[int, str] | None = None) -> Trace:
    """Decode raw recorder records (an iterable of ``bytes``) into a :class:`Trace`.

    ``tracepoints`` maps tracepoint ids to ``category/name`` and ``pmus``
    dynamic perf event types to their PMU names (``kprobe``, ``uprobe``), as
    the machine that recorded them numbers them.
    """
    from bpfinspect.systrace.calls import decode
    from bpfinspect.systrace.probes import mark_probes
    from bpfinspect.systrace.records import pair

    raws, unusable = pair(records)
    calls = decode(raws, tracepoints=tracepoints, pmus=pmus)
    mark_probes(calls)
    return Trace(calls, lost=lost, unusable=unusable)
