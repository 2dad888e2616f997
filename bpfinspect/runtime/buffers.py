"""Ring buffers and perf buffers: records from the kernel delivered to Python callbacks.

A callback runs inside libbpf's poll loop, in C.  An exception raised there
cannot cross back into C, so it is caught, kept, the poll is stopped (for a
ring buffer by returning an error to libbpf), and re-raised when ``poll`` or
``consume`` returns to Python; a Ctrl-C during a callback is raised there too
(:func:`bpfinspect.interrupts.protect`).  Each record is copied into ``bytes``
before the callback sees it: libbpf reuses the memory as soon as the callback
returns.

The C callbacks refer to a small shared box for the pending exception, never to
the buffer object itself: a buffer dropped without ``close()`` is freed (and its
libbpf ring or perf buffer with it) by reference counting alone.
"""

from __future__ import annotations

import ctypes
import errno
import weakref

from bpfinspect import interrupts
from bpfinspect.runtime._lib import (PERF_LOST_FN, PERF_SAMPLE_FN, RINGBUF_SAMPLE_FN, SizedOpts, journal,
                                     last_errno, lib, make_error)


@interrupts.protect
def _free_ring(ptr_box: list) -> None:
    with interrupts.shielded():
        ptr, ptr_box[0] = ptr_box[0], None
        if ptr:
            lib().ring_buffer__free(ptr)


@interrupts.protect
def _free_perf(ptr_box: list) -> None:
    with interrupts.shielded():
        ptr, ptr_box[0] = ptr_box[0], None
        if ptr:
            lib().perf_buffer__free(ptr)


class _Buffer:
    _kind = "buffer"

    def __init__(self) -> None:
        self._error: list = [None]   # the exception a callback raised, re-raised by poll()
        self._box: list = [None]
        self._finalizer = None

    @property
    def closed(self) -> bool:
        return self._box[0] is None

    def _ptr(self):
        p = self._box[0]
        if not p:
            raise make_error(f"{self._kind} is closed", errno.EBADF)
        return p

    def _raise_pending(self) -> None:
        exc, self._error[0] = self._error[0], None
        if exc is not None:
            raise exc

    def _check(self, res: int, what: str, mark: int) -> int:
        self._raise_pending()
        if res == -errno.EINTR:
            return 0
        if res < 0:
            raise make_error(f"{self._kind} {what}", -res, since=mark)
        return res

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RingBuffer(_Buffer):
    """A libbpf ``ring_buffer`` over one or more BPF_MAP_TYPE_RINGBUF maps.

    ``callback(record)`` gets each record as ``bytes`` (or as an instance of
    ``record_type`` when given, built from the record's first bytes); a
    negative int returned from the callback stops the current poll.
    """

    _kind = "ring buffer"

    def __init__(self, map_, callback, *, record_type=None, owner=None) -> None:
        super().__init__()
        self._callbacks = []  # C callbacks must outlive the ring buffer
        self._owner = owner
        fd = map_.fd
        cb = self._make_cb(callback, record_type)
        mark = journal.mark()
        opts = SizedOpts(ctypes.sizeof(SizedOpts))
        with interrupts.shielded():
            ptr = lib().ring_buffer__new(fd, cb, None, ctypes.byref(opts))
            if ptr:
                self._box[0] = ptr
                self._finalizer = weakref.finalize(self, _free_ring, self._box)
        if not ptr:
            raise make_error(f"ring_buffer__new on map '{map_.name}'", last_errno(), since=mark)
        if owner is not None:
            owner._track(self)

    def _make_cb(self, callback, record_type):
        size_needed = ctypes.sizeof(record_type) if record_type is not None else 0
        error = self._error

        @interrupts.protect
        def on_sample(_ctx, data, size):
            if error[0] is not None:
                return -1
            try:
                raw = ctypes.string_at(data, size)
                if record_type is not None:
                    rec = record_type.from_buffer_copy(raw[:size_needed].ljust(size_needed, b"\0"))
                else:
                    rec = raw
                ret = callback(rec)
                return int(ret) if isinstance(ret, int) and ret < 0 else 0
            except BaseException as exc:  # re-raised from poll()
                error[0] = exc
                return -1

        cb = RINGBUF_SAMPLE_FN(on_sample)
        self._callbacks.append(cb)
        return cb

    def add(self, map_, callback, *, record_type=None) -> None:
        """Also read ``map_`` (another ring buffer map) in the same poll."""
        cb = self._make_cb(callback, record_type)
        mark = journal.mark()
        res = lib().ring_buffer__add(self._ptr(), map_.fd, cb, None)
        if res < 0:
            raise make_error(f"ring_buffer__add on map '{map_.name}'", -res, since=mark)

    def poll(self, timeout_ms: int = 100) -> int:
        """Wait up to ``timeout_ms`` for records, deliver them; returns how many were consumed."""
        mark = journal.mark()
        res = lib().ring_buffer__poll(self._ptr(), int(timeout_ms))
        return self._check(res, "poll", mark)

    def consume(self) -> int:
        """Deliver every available record without waiting."""
        mark = journal.mark()
        res = lib().ring_buffer__consume(self._ptr())
        return self._check(res, "consume", mark)

    def fileno(self) -> int:
        """The epoll fd: becomes readable when records are available."""
        return lib().ring_buffer__epoll_fd(self._ptr())


class PerfBuffer(_Buffer):
    """A libbpf ``perf_buffer`` over a BPF_MAP_TYPE_PERF_EVENT_ARRAY map.

    ``callback(cpu, record)`` gets each sample; ``lost(cpu, count)`` (optional)
    hears about samples the kernel dropped.
    """

    _kind = "perf buffer"

    def __init__(self, map_, callback, *, lost=None, page_cnt: int = 8, record_type=None, owner=None) -> None:
        super().__init__()
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            from bpfinspect.errors import UsageError
            raise UsageError(f"perf buffer page count must be a power of two, not {page_cnt}")
        size_needed = ctypes.sizeof(record_type) if record_type is not None else 0
        error = self._error

        @interrupts.protect
        def on_sample(_ctx, cpu, data, size):
            if error[0] is not None:
                return
            try:
                raw = ctypes.string_at(data, size)
                if record_type is not None:
                    raw = record_type.from_buffer_copy(raw[:size_needed].ljust(size_needed, b"\0"))
                callback(cpu, raw)
            except BaseException as exc:
                error[0] = exc

        @interrupts.protect
        def on_lost(_ctx, cpu, count):
            if lost is None or error[0] is not None:
                return
            try:
                lost(cpu, count)
            except BaseException as exc:
                error[0] = exc

        self._cbs = (PERF_SAMPLE_FN(on_sample), PERF_LOST_FN(on_lost))
        opts = SizedOpts(ctypes.sizeof(SizedOpts))
        mark = journal.mark()
        with interrupts.shielded():
            ptr = lib().perf_buffer__new(map_.fd, page_cnt, self._cbs[0], self._cbs[1], None, ctypes.byref(opts))
            if ptr:
                self._box[0] = ptr
                self._finalizer = weakref.finalize(self, _free_perf, self._box)
        if not ptr:
            raise make_error(f"perf_buffer__new on map '{map_.name}'", last_errno(), since=mark)
        if owner is not None:
            owner._track(self)

    def poll(self, timeout_ms: int = 100) -> int:
        mark = journal.mark()
        res = lib().perf_buffer__poll(self._ptr(), int(timeout_ms))
        return self._check(res, "poll", mark)

    def consume(self) -> int:
        mark = journal.mark()
        res = lib().perf_buffer__consume(self._ptr())
        return self._check(res, "consume", mark)

    def fileno(self) -> int:
        return lib().perf_buffer__epoll_fd(self._ptr())
