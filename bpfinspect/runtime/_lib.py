"""The system's libbpf, reached through ctypes.

The binding targets the libbpf 1.1 ABI (the oldest we support) and only
reaches for newer entry points when the loaded library has them.  Every
function used is declared here once with its argument and return types; the
rest of the runtime calls ``lib().<name>``.

libbpf reports problems in two ways: a negative errno as return value (or
NULL with ``errno`` set, for pointer-returning calls), and free-text messages
through its print callback.  We install one print callback for the whole
process that records messages in a bounded journal instead of writing them to
stderr; an operation that fails collects the messages printed since it began
and puts them into the exception it raises.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import errno as _errno
import os
import threading

from bpfinspect import interrupts
from bpfinspect.errors import EnvironmentProblem, OperationFailed, errno_name

c_int, c_uint, c_size_t, c_void_p, c_char_p, c_bool = (ctypes.c_int, ctypes.c_uint, ctypes.c_size_t,
                                                       ctypes.c_void_p, ctypes.c_char_p, ctypes.c_bool)
c_u32, c_u64 = ctypes.c_uint32, ctypes.c_uint64

LIBBPF_NAMES = ("libbpf.so.1", "libbpf.so")

LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2

# ---------------------------------------------------------------- errors


def describe_errno(err: int) -> str:
    """strerror(), with words for the kernel-internal codes the bpf() call can leak (524 ENOTSUPP)."""
    err = abs(err)
    if err == 524:
        return "operation not supported by this kernel"
    if 512 <= err < 4000 and os.strerror(err).startswith("Unknown error"):
        return f"kernel-internal error {errno_name(err)}"
    if err >= 4000:
        return errno_name(err)
    return os.strerror(err)


class LibbpfError(OperationFailed):
    """A libbpf call failed.

    ``errno`` is the positive error number, ``errno_name`` its symbolic name
    (``EACCES``), ``libbpf_message`` the text libbpf printed while the call ran
    and ``log`` the verifier log when there is one.
    """

    def __init__(self, what: str, err: int, *, libbpf_message: str = "", log: str = "",
                 program: str | None = None) -> None:
        err = abs(int(err))
        self.errno = err
        self.errno_name = errno_name(err)
        self.libbpf_message = libbpf_message
        self.log = log
        self.program = program
        detail = describe_errno(err)
        text = f"{what}: {self.errno_name} ({detail})"
        hint = _last_meaningful_line(libbpf_message)
        if hint and hint not in text:
            text += f"; libbpf: {hint}"
        super().__init__(text)


class NoPrivilege(LibbpfError, EnvironmentProblem):
    """The kernel refused for lack of privilege (EPERM)."""

    exit_code = 3


class NoBpfSyscall(LibbpfError, EnvironmentProblem):
    """The kernel has no bpf() system call (ENOSYS) or it is disabled."""

    exit_code = 3


class LibbpfUnavailable(EnvironmentProblem):
    """libbpf.so.1 could not be found or lacks a required entry point."""

    exit_code = 3


def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("libbpf: "):
            line = line[len("libbpf: "):]
        if line and not line.startswith("--") and "PROG LOAD LOG" not in line:
            return line[:300]
    return ""


def make_error(what: str, err: int, *, since: int | None = None, log: str = "",
               program: str | None = None) -> LibbpfError:
    """Build the right exception class for ``err`` with the messages printed since ``since``."""
    message = journal.text_since(since) if since is not None else ""
    err = abs(err)
    cls = LibbpfError
    privileged = has_bpf_privilege()
    if err == _errno.EPERM and not privileged:
        cls = NoPrivilege
    elif err == _errno.ENOSYS:
        cls = NoBpfSyscall
    exc = cls(what, err, libbpf_message=message, log=log, program=program)
    if cls is NoPrivilege:
        exc.message += " (no privilege for bpf(): run as root, or with CAP_BPF plus CAP_PERFMON or CAP_NET_ADMIN)"
    elif err == _errno.EPERM:
        exc.message += (" (this process has CAP_BPF/CAP_SYS_ADMIN, so the kernel refused this particular operation: "
                        "lockdown, an LSM, or a feature this kernel does not allow)")
    elif cls is NoBpfSyscall:
        exc.message += " (this kernel has no bpf() system call, or it is disabled by seccomp or sysctl)"
    return exc


CAP_SYS_ADMIN = 21
CAP_BPF = 39


def has_bpf_privilege() -> bool:
    """Whether this process's effective capabilities include CAP_BPF or CAP_SYS_ADMIN."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps & (1 << CAP_SYS_ADMIN) or caps & (1 << CAP_BPF))
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


# ---------------------------------------------------------------- print journal


class _Journal:
    """Bounded record of libbpf's printed messages, numbered so callers can take 'everything since N'."""

    def __init__(self, keep: int = 4000) -> None:
        self._lines: collections.deque[tuple[int, int, str]] = collections.deque(maxlen=keep)
        self._next = 0
        self._lock = threading.Lock()
        self.echo = False  # print to stderr as well (debugging)

    def add(self, level: int, text: str) -> None:
        with self._lock:
            self._lines.append((self._next, level, text))
            self._next += 1
        if self.echo:
            import sys
            sys.stderr.write(text)

    def mark(self) -> int:
        with self._lock:
            return self._next

    def since(self, mark: int, *, max_level: int = LIBBPF_INFO) -> list[str]:
        with self._lock:
            return [t for n, lvl, t in self._lines if n >= mark and lvl <= max_level]

    def text_since(self, mark: int, *, max_level: int = LIBBPF_INFO) -> str:
        return "".join(self.since(mark, max_level=max_level))


journal = _Journal()

# ---------------------------------------------------------------- the library

PRINT_FN = ctypes.CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
RINGBUF_SAMPLE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
PERF_SAMPLE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_u32)
PERF_LOST_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_u64)


class OpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts as of libbpf 1.1 (newer libraries accept the shorter size)."""

    _fields_ = [
        ("sz", c_size_t),
        ("object_name", c_char_p),
        ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p),
        ("_unused_attach_prog_fd", c_u32),
        ("kconfig", c_char_p),
        ("btf_custom_path", c_char_p),
        ("kernel_log_buf", c_void_p),
        ("kernel_log_size", c_size_t),
        ("kernel_log_level", c_u32),
    ]


class SizedOpts(ctypes.Structure):
    """The many libbpf option structs that only hold their own size."""

    _fields_ = [("sz", c_size_t)]


class UprobeOpts(ctypes.Structure):
    """struct bpf_uprobe_opts as of libbpf 1.1."""

    _fields_ = [
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", c_u64),
        ("retprobe", c_bool),
        ("func_name", c_char_p),
    ]


class UsdtOpts(ctypes.Structure):
    """struct bpf_usdt_opts as of libbpf 1.1."""

    _fields_ = [("sz", c_size_t), ("usdt_cookie", c_u64)]


class KprobeOpts(ctypes.Structure):
    """struct bpf_kprobe_opts as of libbpf 1.1."""

    _fields_ = [("sz", c_size_t), ("bpf_cookie", c_u64), ("offset", c_size_t), ("retprobe", c_bool)]


class TcHook(ctypes.Structure):
    """struct bpf_tc_hook (libbpf 0.6+)."""

    _fields_ = [("sz", c_size_t), ("ifindex", c_int), ("attach_point", c_int), ("parent", c_u32)]


class TcOpts(ctypes.Structure):
    """struct bpf_tc_opts (libbpf 0.6+)."""

    _fields_ = [("sz", c_size_t), ("prog_fd", c_int), ("flags", c_u32), ("prog_id", c_u32), ("handle", c_u32),
                ("priority", c_u32)]


BPF_TC_INGRESS, BPF_TC_EGRESS = 1, 2
BPF_STATS_RUN_TIME = 0

P = c_void_p  # opaque libbpf pointers
_PRINT_CALLBACKS: list = []

# name: (restype, argtypes, required)
_SIGNATURES: dict[str, tuple] = {
    "libbpf_major_version": (c_u32, [], False),
    "libbpf_minor_version": (c_u32, [], False),
    "libbpf_version_string": (c_char_p, [], False),
    "libbpf_strerror": (c_int, [c_int, c_char_p, c_size_t], True),
    "libbpf_set_print": (P, [PRINT_FN], True),
    "libbpf_num_possible_cpus": (c_int, [], True),
    "libbpf_bpf_prog_type_str": (c_char_p, [c_int], False),
    "libbpf_bpf_map_type_str": (c_char_p, [c_int], False),
    "bpf_object__open_mem": (P, [c_void_p, c_size_t, ctypes.POINTER(OpenOpts)], True),
    "bpf_object__open_file": (P, [c_char_p, ctypes.POINTER(OpenOpts)], True),
    "bpf_object__load": (c_int, [P], True),
    "bpf_object__close": (None, [P], True),
    "bpf_object__name": (c_char_p, [P], True),
    "bpf_object__next_program": (P, [P, P], True),
    "bpf_object__next_map": (P, [P, P], True),
    "bpf_object__find_program_by_name": (P, [P, c_char_p], True),
    "bpf_object__find_map_by_name": (P, [P, c_char_p], True),
    "bpf_program__name": (c_char_p, [P], True),
    "bpf_program__section_name": (c_char_p, [P], True),
    "bpf_program__autoload": (c_bool, [P], True),
    "bpf_program__set_autoload": (c_int, [P, c_bool], True),
    "bpf_program__autoattach": (c_bool, [P], False),
    "bpf_program__set_autoattach": (None, [P, c_bool], False),
    "bpf_program__fd": (c_int, [P], True),
    "bpf_program__type": (c_int, [P], True),
    "bpf_program__expected_attach_type": (c_int, [P], True),
    "bpf_program__insn_cnt": (c_size_t, [P], False),
    "bpf_program__log_level": (c_u32, [P], False),
    "bpf_program__set_log_level": (c_int, [P, c_u32], False),
    "bpf_program__set_log_buf": (c_int, [P, c_void_p, c_size_t], False),
    "bpf_program__attach": (P, [P], True),
    "bpf_program__attach_uprobe_opts": (P, [P, c_int, c_char_p, c_size_t, ctypes.POINTER(UprobeOpts)], False),
    "bpf_program__attach_usdt": (P, [P, c_int, c_char_p, c_char_p, c_char_p, ctypes.POINTER(UsdtOpts)], False),
    "bpf_program__attach_kprobe_opts": (P, [P, c_char_p, ctypes.POINTER(KprobeOpts)], False),
    "bpf_program__attach_tracepoint": (P, [P, c_char_p, c_char_p], True),
    "bpf_program__attach_raw_tracepoint": (P, [P, c_char_p], True),
    "bpf_program__attach_xdp": (P, [P, c_int], False),
    "bpf_tc_hook_create": (c_int, [ctypes.POINTER(TcHook)], False),
    "bpf_tc_hook_destroy": (c_int, [ctypes.POINTER(TcHook)], False),
    "bpf_tc_attach": (c_int, [ctypes.POINTER(TcHook), ctypes.POINTER(TcOpts)], False),
    "bpf_tc_detach": (c_int, [ctypes.POINTER(TcHook), ctypes.POINTER(TcOpts)], False),
    "bpf_tc_query": (c_int, [ctypes.POINTER(TcHook), ctypes.POINTER(TcOpts)], False),
    "bpf_xdp_query_id": (c_int, [c_int, c_int, ctypes.POINTER(c_u32)], False),
    "bpf_enable_stats": (c_int, [c_int], False),
    "bpf_link__destroy": (c_int, [P], True),
    "bpf_link__fd": (c_int, [P], True),
    "bpf_map__name": (c_char_p, [P], True),
    "bpf_map__fd": (c_int, [P], True),
    "bpf_map__type": (c_int, [P], True),
    "bpf_map__key_size": (c_u32, [P], True),
    "bpf_map__value_size": (c_u32, [P], True),
    "bpf_map__max_entries": (c_u32, [P], True),
    "bpf_map__set_max_entries": (c_int, [P, c_u32], True),
    "bpf_map__map_flags": (c_u32, [P], True),
    "bpf_map__btf_key_type_id": (c_u32, [P], True),
    "bpf_map__btf_value_type_id": (c_u32, [P], True),
    "bpf_map__is_internal": (c_bool, [P], True),
    "bpf_map__set_initial_value": (c_int, [P, c_void_p, c_size_t], True),
    "bpf_map__initial_value": (c_void_p, [P, ctypes.POINTER(c_size_t)], True),
    "bpf_map__autocreate": (c_bool, [P], False),
    "bpf_map__pin_path": (c_char_p, [P], False),
    "bpf_map__get_pin_path": (c_char_p, [P], False),
    "bpf_map__is_pinned": (c_bool, [P], True),
    "bpf_obj_get": (c_int, [c_char_p], True),
    "bpf_map__set_autocreate": (c_int, [P, c_bool], False),
    "bpf_map_lookup_elem_flags": (c_int, [c_int, c_void_p, c_void_p, c_u64], True),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_u64], True),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p], True),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p], True),
    "bpf_obj_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_u32)], True),
    "bpf_prog_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_u32)], False),
    "bpf_map_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_u32)], False),
    "ring_buffer__new": (P, [c_int, RINGBUF_SAMPLE_FN, c_void_p, ctypes.POINTER(SizedOpts)], True),
    "ring_buffer__free": (None, [P], True),
    "ring_buffer__add": (c_int, [P, c_int, RINGBUF_SAMPLE_FN, c_void_p], True),
    "ring_buffer__poll": (c_int, [P, c_int], True),
    "ring_buffer__consume": (c_int, [P], True),
    "ring_buffer__epoll_fd": (c_int, [P], True),
    "perf_buffer__new": (P, [c_int, c_size_t, PERF_SAMPLE_FN, PERF_LOST_FN, c_void_p,
                             ctypes.POINTER(SizedOpts)], True),
    "perf_buffer__free": (None, [P], True),
    "perf_buffer__poll": (c_int, [P, c_int], True),
    "perf_buffer__consume": (c_int, [P], True),
    "perf_buffer__epoll_fd": (c_int, [P], True),
}


class Libbpf:
    """The loaded library with every known function typed; missing optional ones are ``None``."""

    def __init__(self, path: str | None = None) -> None:
        wanted = path or os.environ.get("LIBBPF_SO")
        candidates = [wanted] if wanted else list(LIBBPF_NAMES)
        found = ctypes.util.find_library("bpf")
        if not wanted and found and found not in candidates:
            candidates.append(found)
        errors = []
        self.cdll = None
        for name in candidates:
            try:
                self.cdll = ctypes.CDLL(name, use_errno=True)
                self.path = name
                break
            except OSError as exc:
                errors.append(str(exc))
        if self.cdll is None:
            raise LibbpfUnavailable(
                "cannot load libbpf (" + "; ".join(errors) + "); install libbpf1 (apt install libbpf1) "
                "or point LIBBPF_SO at libbpf.so.1")
        for name, (restype, argtypes, required) in _SIGNATURES.items():
            try:
                fn = getattr(self.cdll, name)
            except AttributeError:
                if required:
                    raise LibbpfUnavailable(f"{self.path} lacks {name}(); libbpf 1.1 or newer is needed") from None
                setattr(self, name, None)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        self.version = self._version()
        libc = ctypes.CDLL(None, use_errno=True)
        self._vsnprintf = libc.vsnprintf
        self._vsnprintf.restype = c_int
        self._vsnprintf.argtypes = [c_void_p, c_size_t, c_char_p, c_void_p]
        self.libc = libc
        self._print_buf = ctypes.create_string_buffer(1 << 16)
        self._print_cb = PRINT_FN(self._on_print)
        _PRINT_CALLBACKS.append(self._print_cb)  # libbpf keeps it in a process global: never freed
        self.libbpf_set_print(self._print_cb)
        self.num_possible_cpus = self._possible_cpus()

    def _version(self) -> tuple[int, int]:
        if self.libbpf_major_version is not None and self.libbpf_minor_version is not None:
            return int(self.libbpf_major_version()), int(self.libbpf_minor_version())
        return (1, 0)

    def _possible_cpus(self) -> int:
        n = int(self.libbpf_num_possible_cpus())
        if n <= 0:
            n = os.cpu_count() or 1
        return n

    @interrupts.protect  # a Ctrl-C while C calls this is raised once the libbpf call returns
    def _on_print(self, level, fmt, va):
        try:
            n = self._vsnprintf(self._print_buf, len(self._print_buf), fmt, va)
            text = self._print_buf.value.decode("utf-8", "replace")
            if n >= len(self._print_buf):
                text += "\n... (message truncated)\n"
            journal.add(int(level), text)
        except BaseException:  # never let anything escape into C
            pass
        return 0

    def version_string(self) -> str:
        if self.libbpf_version_string is not None:
            return self.libbpf_version_string().decode()
        return "v%d.%d" % self.version

    def prog_type_name(self, t: int) -> str:
        if self.libbpf_bpf_prog_type_str is not None:
            s = self.libbpf_bpf_prog_type_str(t)
            if s:
                return s.decode()
        return f"type_{t}"

    def map_type_name(self, t: int) -> str:
        if self.libbpf_bpf_map_type_str is not None:
            s = self.libbpf_bpf_map_type_str(t)
            if s:
                return s.decode()
        return f"type_{t}"

    def info_by_fd(self, fd: int, buf, kind: str = "prog") -> int:
        """bpf_{prog,map}_get_info_by_fd when present (1.2+), else bpf_obj_get_info_by_fd."""
        fn = self.bpf_prog_get_info_by_fd if kind == "prog" else self.bpf_map_get_info_by_fd
        if fn is None:
            fn = self.bpf_obj_get_info_by_fd
        size = c_u32(ctypes.sizeof(buf))
        return int(fn(fd, ctypes.byref(buf), ctypes.byref(size)))


_LIB: Libbpf | None = None
_LIB_LOCK = threading.Lock()


def lib() -> Libbpf:
    """The process-wide libbpf binding (loaded on first use)."""
    global _LIB
    if _LIB is None:
        with _LIB_LOCK:
            if _LIB is None:
                # the protections of bpfinspect.interrupts (callbacks, clean-up) need its handler;
                # a program with its own SIGINT handler keeps it
                interrupts.install()
                _LIB = Libbpf()
    return _LIB


def last_errno(default: int = _errno.EINVAL) -> int:
    e = ctypes.get_errno()
    return e if e else default
