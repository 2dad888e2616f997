"""Programs of a loaded object and the links that attach them.

A :class:`Program` is part of an :class:`~bpfinspect.runtime.object.Object` and knows it by a
weak reference (see the lifetime rules there).  Each ``attach_*`` method returns a
:class:`Link` recorded in the object's state right after libbpf made it, with SIGINT held
back in between; closing the link (or the object) detaches it.  tc attachments are a
:class:`TcLink`: they remove the clsact qdisc they created.  Attach failures are explained in
words by :mod:`bpfinspect.runtime.attachdiag`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import weakref

from bpfinspect import interrupts
from bpfinspect.errors import UsageError
from bpfinspect.runtime import _lib, attachdiag
from bpfinspect.runtime._lib import errno_name, journal, last_errno, lib, make_error
from bpfinspect.runtime.maps import _Part

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.runtime.object import Object

DEFAULT_LOG_SIZE = 1 << 20
MAX_LOG_SIZE = (1 << 30) - 1

TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
PROG_TYPE_KPROBE, PROG_TYPE_SCHED_CLS, PROG_TYPE_TRACEPOINT, PROG_TYPE_XDP = 2, 3, 5, 6
_UPROBE_TYPES = frozenset({PROG_TYPE_KPROBE})
_RAW_TP_TYPES = frozenset({17, 24})  # raw_tracepoint, raw_tracepoint_writable


def tracefs_mounted(dirs=TRACEFS_DIRS) -> bool:
    return any(os.path.exists(os.path.join(d, "events")) for d in dirs)

class Link:
    """An attachment of a program (``bpf_link``); ``destroy()`` detaches it."""

    def __init__(self, program: "Program", ptr: int) -> None:
        self.program = program
        self._ptr = ptr

    @property
    def fd(self) -> int:
        if not self._ptr:
            return -1
        return int(lib().bpf_link__fd(self._ptr))

    @property
    def destroyed(self) -> bool:
        return not self._ptr

    def _destroy(self) -> None:
        with interrupts.shielded():
            ptr, self._ptr = self._ptr, None
            if ptr:
                lib().bpf_link__destroy(ptr)

    def destroy(self) -> None:
        """Detach now (also happens when the object closes)."""
        self._destroy()
        obj = self.program._owner_ref()
        if obj is not None and self in obj._state.links:
            obj._state.links.remove(self)

    detach = destroy
    close = destroy

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"<Link {self.program.name} fd={self.fd}>"


def _destroy_tc_hook(ifindex: int) -> None:
    hook = _lib.TcHook(sz=ctypes.sizeof(_lib.TcHook), ifindex=ifindex,
                       attach_point=_lib.BPF_TC_INGRESS | _lib.BPF_TC_EGRESS)
    lib().bpf_tc_hook_destroy(ctypes.byref(hook))


class TcLink(Link):
    """A tc classifier attachment (netlink, not a ``bpf_link``): ``destroy()`` detaches the filter
    and removes the clsact qdisc when the attach created it."""

    def __init__(self, program: "Program", ifindex: int, point: int, handle: int, priority: int,
                 created_hook: bool) -> None:
        self.program = program
        self._ptr = True  # alive
        self.ifindex = ifindex
        self.ingress = point == _lib.BPF_TC_INGRESS
        self.handle = handle
        self.priority = priority
        self.created_hook = created_hook

    @property
    def fd(self) -> int:
        return -1

    def _destroy(self) -> None:
        with interrupts.shielded():
            alive, self._ptr = self._ptr, None
            if not alive:
                return
            L = lib()
            point = _lib.BPF_TC_INGRESS if self.ingress else _lib.BPF_TC_EGRESS
            hook = _lib.TcHook(sz=ctypes.sizeof(_lib.TcHook), ifindex=self.ifindex, attach_point=point)
            opts = _lib.TcOpts(sz=ctypes.sizeof(_lib.TcOpts), handle=self.handle, priority=self.priority)
            L.bpf_tc_detach(ctypes.byref(hook), ctypes.byref(opts))
            if self.created_hook:
                _destroy_tc_hook(self.ifindex)

    def __repr__(self) -> str:
        where = "ingress" if self.ingress else "egress"
        return f"<TcLink {self.program.name} ifindex={self.ifindex} {where} handle={self.handle}>"


class Program(_Part):
    """One program of an :class:`Object` (libbpf's ``bpf_program``)."""

    _what = "program"

    def __init__(self, owner: "Object", ptr: int) -> None:
        self._owner_ref = weakref.ref(owner)
        self._ptr = ptr
        L = lib()
        self.name: str = L.bpf_program__name(ptr).decode("utf-8", "replace")
        self.section: str = (L.bpf_program__section_name(ptr) or b"").decode("utf-8", "replace")
        self._log_buf = None
        self._log_shared = False
        self.links: list[Link] = []

    def _p(self) -> int:
        self._owner._check_open()
        return self._ptr

    @property
    def type(self) -> int:
        return int(lib().bpf_program__type(self._p()))

    @property
    def type_name(self) -> str:
        return lib().prog_type_name(self.type)

    @property
    def expected_attach_type(self) -> int:
        return int(lib().bpf_program__expected_attach_type(self._p()))

    @property
    def fd(self) -> int:
        return int(lib().bpf_program__fd(self._p()))

    @property
    def loaded(self) -> bool:
        return self._owner.loaded and self.fd >= 0

    @property
    def autoload(self) -> bool:
        return bool(lib().bpf_program__autoload(self._p()))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        if self._owner.loaded:
            raise UsageError(f"program '{self.name}': autoload can only change before load")
        res = lib().bpf_program__set_autoload(self._p(), bool(value))
        if res < 0:
            raise make_error(f"program '{self.name}': set autoload", -res)

    @property
    def autoattach(self) -> bool:
        fn = lib().bpf_program__autoattach
        return bool(fn(self._p())) if fn is not None else True

    @autoattach.setter
    def autoattach(self, value: bool) -> None:
        fn = lib().bpf_program__set_autoattach
        if fn is None:
            raise UsageError("this libbpf cannot change autoattach")
        fn(self._p(), bool(value))

    @property
    def insn_cnt(self) -> int:
        fn = lib().bpf_program__insn_cnt
        return int(fn(self._p())) if fn is not None else -1

    @property
    def log(self) -> str:
        """The verifier log captured for this program during the last load ('' if none)."""
        buf = self._log_buf
        if buf is None or (self._log_shared and self._owner._log_owner is not self):
            return ""
        return buf.value.decode("utf-8", "replace")

    def set_log(self, size: int = DEFAULT_LOG_SIZE, level: int | None = None, *, buffer=None) -> None:
        """Give the program a log buffer of ``size`` bytes (and a log level) before load.

        ``buffer`` (a ctypes char array) is shared with other programs: fine at log
        level 0, where only a rejected program writes, and libbpf stops at the first.
        """
        L = lib()
        if L.bpf_program__set_log_buf is None:
            return
        if buffer is None:
            size = max(256, min(int(size), MAX_LOG_SIZE))
            buf = ctypes.create_string_buffer(size)
        else:
            buf, size = buffer, ctypes.sizeof(buffer)
        res = L.bpf_program__set_log_buf(self._p(), buf, size)
        if res < 0:
            raise make_error(f"program '{self.name}': set log buffer", -res)
        self._log_buf = buf
        self._log_shared = buffer is not None
        if level is not None:
            res = L.bpf_program__set_log_level(self._p(), int(level))
            if res < 0:
                raise make_error(f"program '{self.name}': set log level", -res)

    def info(self) -> dict:
        """The kernel's bpf_prog_info: id, tag, xlated/jited sizes, verified_insns..."""
        from bpfinspect.runtime.info import prog_info
        fd = self.fd
        if fd < 0:
            raise UsageError(f"program '{self.name}' is not loaded")
        return prog_info(fd)

    def attach(self) -> Link:
        """Attach as the section name says (``bpf_program__attach``); returns the :class:`Link`."""
        return self._attach_with(lambda: lib().bpf_program__attach(self._p()))

    def attach_uprobe(self, binary: str, func: str | None = None, offset: int = 0, pid: int = -1,
                      retprobe: bool = False, *, func_name: str | None = None, ref_ctr_offset: int = 0,
                      cookie: int = 0) -> Link:
        """A uprobe (``retprobe``: a uretprobe) on ``binary`` (``bpf_program__attach_uprobe_opts``).

        Without ``func``, ``offset`` is a file offset into ``binary``; with ``func``, it is the offset
        into that function as libbpf finds it (a bare ``binary`` name is searched as libbpf does).
        ``pid`` -1 traces every process.  ``func_name`` is another spelling of ``func``.  A failure
        says why in words (no such binary, no such function in it, ...)."""
        fn = lib().bpf_program__attach_uprobe_opts
        if fn is None:
            raise UsageError("this libbpf has no bpf_program__attach_uprobe_opts()")
        func = func if func is not None else func_name
        self._check_type("attach_uprobe", _UPROBE_TYPES)
        opts = _lib.UprobeOpts(sz=ctypes.sizeof(_lib.UprobeOpts), ref_ctr_offset=int(ref_ctr_offset),
                               bpf_cookie=int(cookie), retprobe=bool(retprobe),
                               func_name=func.encode() if func is not None else None)
        path = os.fsencode(binary)
        return self._attach_with(lambda: fn(self._p(), int(pid), path, int(offset), ctypes.byref(opts)),
                                 diagnose=lambda err, text: attachdiag.uprobe(self, binary, func, offset, err, text))

    def attach_kprobe(self, func: str, offset: int = 0, retprobe: bool = False, *, cookie: int = 0) -> Link:
        """A kprobe (``retprobe``: a kretprobe) on kernel function ``func`` at ``offset`` bytes into it
        (``bpf_program__attach_kprobe_opts``)."""
        fn = lib().bpf_program__attach_kprobe_opts
        if fn is None:
            raise UsageError("this libbpf has no bpf_program__attach_kprobe_opts()")
        self._check_type("attach_kprobe", _UPROBE_TYPES)
        opts = _lib.KprobeOpts(sz=ctypes.sizeof(_lib.KprobeOpts), bpf_cookie=int(cookie), offset=int(offset),
                               retprobe=bool(retprobe))
        name = func.encode()
        return self._attach_with(lambda: fn(self._p(), name, ctypes.byref(opts)),
                                 diagnose=lambda err, text: attachdiag.kprobe(self, func, err, text))

    def attach_tracepoint(self, category: str, name: str | None = None) -> Link:
        """The tracepoint ``category/name`` (also accepted as one ``"category/name"`` string)."""
        if name is None:
            category, sep, name = category.partition("/")
            if not sep:
                raise UsageError(f"tracepoint {category!r}: write CATEGORY/NAME (for example sched/sched_switch)")
        self._check_type("attach_tracepoint", {PROG_TYPE_TRACEPOINT})
        cat, nm = category.encode(), name.encode()
        return self._attach_with(lambda: lib().bpf_program__attach_tracepoint(self._p(), cat, nm),
                                 diagnose=lambda err, text: attachdiag.tracepoint(self, category, name, err, text))

    def attach_raw_tracepoint(self, name: str) -> Link:
        """The raw tracepoint ``name`` (``sched_switch``)."""
        self._check_type("attach_raw_tracepoint", _RAW_TP_TYPES)
        nm = name.encode()
        return self._attach_with(lambda: lib().bpf_program__attach_raw_tracepoint(self._p(), nm),
                                 diagnose=lambda err, text: attachdiag.raw_tracepoint(self, name, err, text))

    def attach_xdp(self, ifname: str) -> Link:
        """The XDP hook of network interface ``ifname`` (a BPF link: gone when the link is)."""
        fn = lib().bpf_program__attach_xdp
        if fn is None:
            raise UsageError("this libbpf has no bpf_program__attach_xdp()")
        self._check_type("attach_xdp", {PROG_TYPE_XDP})
        ifindex = attachdiag.ifindex(ifname)
        return self._attach_with(lambda: fn(self._p(), ifindex),
                                 diagnose=lambda err, text: attachdiag.netdev(self, "XDP", ifname, err, text))

    def attach_tc(self, ifname: str, ingress: bool = True, *, priority: int = 0, handle: int = 0) -> "TcLink":
        """A tc classifier on ``ifname`` (ingress, or egress), through libbpf's ``bpf_tc_hook_create``
        and ``bpf_tc_attach``; closing the link detaches it and removes the clsact qdisc if this
        attach created it."""
        L = lib()
        if L.bpf_tc_attach is None:
            raise UsageError("this libbpf has no bpf_tc_attach()")
        self._check_type("attach_tc", {PROG_TYPE_SCHED_CLS})
        owner = self._owner
        if not owner.loaded or self.fd < 0:
            raise UsageError(f"program '{self.name}': load it before attaching")
        ifindex = attachdiag.ifindex(ifname)
        point = _lib.BPF_TC_INGRESS if ingress else _lib.BPF_TC_EGRESS
        hook = _lib.TcHook(sz=ctypes.sizeof(_lib.TcHook), ifindex=ifindex, attach_point=point)
        mark = journal.mark()
        with interrupts.shielded():
            res = int(L.bpf_tc_hook_create(ctypes.byref(hook)))
            created = res == 0
            if res < 0 and -res != errno.EEXIST:
                raise attachdiag.netdev(self, "tc", ifname, -res, journal.text_since(mark))
            opts = _lib.TcOpts(sz=ctypes.sizeof(_lib.TcOpts), prog_fd=self.fd, priority=int(priority),
                               handle=int(handle))
            res = int(L.bpf_tc_attach(ctypes.byref(hook), ctypes.byref(opts)))
            if res < 0:
                if created:
                    _destroy_tc_hook(ifindex)
                raise attachdiag.netdev(self, "tc", ifname, -res, journal.text_since(mark))
            link = TcLink(self, ifindex, point, opts.handle, opts.priority, created)
            owner._state.links.append(link)
            self.links.append(link)
        return link

    def attach_usdt(self, binary: str, provider: str, name: str, *, pid: int = -1, cookie: int = 0) -> Link:
        """``bpf_program__attach_usdt``: every site of USDT ``provider:name`` in ``binary``."""
        fn = lib().bpf_program__attach_usdt
        if fn is None:
            raise UsageError("this libbpf has no bpf_program__attach_usdt()")
        opts = _lib.UsdtOpts(sz=ctypes.sizeof(_lib.UsdtOpts), usdt_cookie=int(cookie))
        args = (os.fsencode(binary), provider.encode(), name.encode())
        return self._attach_with(lambda: fn(self._p(), int(pid), *args, ctypes.byref(opts)))

    def _check_type(self, how: str, types) -> None:
        t = self.type
        if t not in types:
            raise attachdiag.WrongProgramType(
                f"program '{self.name}' (SEC(\"{self.section}\")) is of type {self.type_name}: {how} needs "
                + " or ".join(sorted(lib().prog_type_name(x) for x in types)))

    def _attach_with(self, call, diagnose=None) -> Link:
        owner = self._owner
        if not owner.loaded:
            raise UsageError(f"program '{self.name}': load the object before attaching")
        if self.fd < 0:
            raise UsageError(f"program '{self.name}' was not loaded (autoload off)")
        mark = journal.mark()
        with interrupts.shielded():
            ptr = call()
            err = last_errno() if not ptr else 0
            if ptr:
                link = Link(self, ptr)
                owner._state.links.append(link)
                self.links.append(link)
        if not ptr:
            if diagnose is not None:
                raise diagnose(err, journal.text_since(mark))
            raise self._attach_error(err, mark)
        return link

    def _attach_error(self, err: int, mark: int):
        from bpfinspect.errors import EnvironmentProblem
        if err == errno.EOPNOTSUPP:
            exc = make_error(f"program '{self.name}' (SEC(\"{self.section}\")) cannot be attached automatically",
                             err, since=mark, program=self.name)
            exc.not_auto_attachable = True
            return exc
        text = journal.text_since(mark)
        kind = self.section.lstrip("?").split("/", 1)[0]
        if kind in ("kprobe", "kretprobe", "ksyscall", "kretsyscall") and attachdiag.kprobes_supported() is False:
            exc = attachdiag.NoKprobes(
                f"program '{self.name}' (SEC(\"{self.section}\")): this kernel has no kprobe support "
                f"(CONFIG_KPROBES is off: no kprobe PMU in /sys/bus/event_source/devices and no kprobe_events "
                f"in tracefs); kprobe programs load but cannot attach here")
            exc.errno = err
            exc.errno_name = errno_name(err)
            return exc
        needs_tracefs = self.type == PROG_TYPE_TRACEPOINT or "tracing/" in text or "/tracefs" in text
        if needs_tracefs and not tracefs_mounted():
            exc = EnvironmentProblem(
                f"program '{self.name}' (SEC(\"{self.section}\")): attaching needs tracefs, which is not "
                f"mounted; mount it with: mount -t tracefs tracefs /sys/kernel/tracing")
            exc.errno = err
            exc.errno_name = errno_name(err)
            exc.tracefs_missing = True
            return exc
        return make_error(f"program '{self.name}' (SEC(\"{self.section}\")): attach", err, since=mark,
                          program=self.name)

    def __repr__(self) -> str:
        return f"<Program {self.name} SEC(\"{self.section}\")>"
