"""Raw calls decoded: command names, attributes, and what every fd is.

One pass in recording order keeps a table of the fds the recorded calls
returned (a map, a program, BTF, a link, a perf event...) and retires an fd
when a recorded ``close`` closes it, so an fd number reused later names its
new object.  Each call lists the fds it refers to (``refs``), each resolved
to the object the table holds at that moment, or to nothing when no earlier
recorded call returned it.  Calls that touch nothing the trace knows (a
``close`` or ``mmap`` of an ordinary file, a ``munmap`` of memory no
recorded ``mmap`` returned) are left out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from bpfinspect.errors import errno_name
from bpfinspect.isa import opcodes as oc
from bpfinspect.systrace import records as R
from bpfinspect.systrace import uapi as U
from bpfinspect.uapi import ATTACH_TYPES, BPF_CMDS, MAP_TYPES, PROG_TYPES, enum_name

MAX_ERRNO = 4095


@dataclass
class FdObject:
    """What an fd held while it was open: ``kind`` map, prog, btf, link, perf_event, pinned, iter, token."""

    kind: str
    name: str
    fd: int
    seq: int                 # the call that returned it
    closed_by: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name or None}


@dataclass
class FdRef:
    """An fd a call passes to the kernel, and what the trace knows it held then."""

    field: str
    fd: int
    object: FdObject | None

    def to_json(self) -> dict:
        d = {"field": self.field, "fd": self.fd, "seq": self.object.seq if self.object else None}
        d.update({"kind": None, "name": None} if self.object is None else self.object.to_json())
        return d


@dataclass
class Call:
    """One system call, decoded.

    ``args`` holds the attributes that matter, under the kernel's field names
    (enums under libbpf's names); ``fd``/``object`` the fd a successful call
    returned and what it holds; ``attempted`` what a creating call was to
    create, even when it failed; ``refs`` the fds it refers to.
    """

    seq: int
    syscall: str
    cmd: str | None
    args: dict
    ret: int | None
    tid: int
    time_ns: int
    errno: str | None = None
    probe: bool = False
    fd: int | None = None
    object: FdObject | None = None
    attempted: str | None = None
    refs: list[FdRef] = field(default_factory=list)
    closes: FdObject | None = None      # for close(): what it closed
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ret is not None and self.errno is None

    def to_json(self) -> dict:
        return {
            "seq": self.seq, "syscall": self.syscall, "cmd": self.cmd, "args": self.args, "ret": self.ret,
            "errno": self.errno, "probe": self.probe, "fd": self.fd,
            "object": self.object.to_json() if self.object else None,
            "refs": [r.to_json() for r in self.refs], "tid": self.tid, "time_ns": self.time_ns,
            "notes": self.notes,
        }


# ---------------------------------------------------------------- attribute decoding

def _int(data: bytes, off: int, size: int, signed: bool = False) -> int:
    return int.from_bytes(data[off:off + size], "little", signed=signed)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def _cstr(raw: bytes) -> str:
    """A NUL-terminated string from the recorded process, safe to print: names come from the
    object being loaded (hostile input), so control characters are shown as ``\\xNN``."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").translate(_CONTROL)


def _fields(layout, attr: bytes, limit: int, args: dict, fds: list) -> int | None:
    """Decode ``layout`` from ``attr`` into ``args``/``fds``; returns the attach type number seen, if any."""
    attach_type = None
    for f in layout:
        if f.offset + f.size > limit:
            break
        key = f.name.rsplit(".", 1)[-1]
        if f.kind == "ptr":
            continue
        if f.kind == "name":
            args[key] = _cstr(attr[f.offset:f.offset + f.size])
            continue
        value = _int(attr, f.offset, f.size, signed=f.kind in ("s32", "fd", "optfd", "fd_or_ifindex"))
        if f.kind == "map_type":
            value = enum_name(MAP_TYPES, value)
        elif f.kind == "prog_type":
            value = enum_name(PROG_TYPES, value)
        elif f.kind == "attach_type":
            attach_type = value
            value = enum_name(ATTACH_TYPES, value, "attach_type")
        elif f.kind == "fd" or (f.kind == "optfd" and value):
            fds.append((key, value))
        args[key] = value
    return attach_type


def decode_attr(cmd: str, attr: bytes, size: int) -> tuple[dict, list[tuple[str, int]]]:
    """The fields of ``union bpf_attr`` a command uses, within the ``size`` bytes passed.

    Returns ``(args, fd_fields)``: the values (pointers left out: what they
    point to is decoded separately), and the ``(field, fd)`` pairs the call
    refers to.
    """
    args: dict = {}
    fds: list[tuple[str, int]] = []
    limit = min(size, len(attr))
    layout = U.ATTR_LAYOUTS.get(cmd, ())
    attach_type = _fields(layout, attr, limit, args, fds)
    if cmd == "BPF_LINK_CREATE" and attach_type is not None:
        tail = U.LINK_CREATE_TAIL.get(enum_name(ATTACH_TYPES, attach_type, "attach_type"), ())
        _fields(tail, attr, limit, args, fds)
    # A link or attach target is an interface index for some attach types, else an fd.
    for f in layout:
        if f.kind == "fd_or_ifindex" and f.name in args:
            value = args[f.name]
            if attach_type in U.IFINDEX_TARGETS:
                args["target_ifindex"] = args.pop(f.name) & 0xFFFFFFFF
            elif value:
                fds.append((f.name, value))
    return args, fds


def _flags(value: int, names) -> list[str]:
    return U.flag_names(value, names)


def _map_fds_of_insns(code: bytes, fd_array: list[int] | None) -> tuple[list[tuple[str, int]], int]:
    """The fds a program's instructions name: maps (ld_imm64 pseudo sources), BTF objects of kfuncs and ksyms.

    Returns ``((field, fd) pairs, instructions decoded)``.
    """
    from bpfinspect.isa.decode import iter_insns, unpack_slots

    code = code[:len(code) // 8 * 8]
    out: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()

    def add(what: str, fd: int) -> None:
        if (what, fd) not in seen:
            seen.add((what, fd))
            out.append((what, fd))

    def from_array(idx: int) -> int | None:
        if fd_array is not None and 0 <= idx < len(fd_array):
            return fd_array[idx]
        return None

    slots = unpack_slots(code)
    for insn in iter_insns(slots):
        if insn.is_ld_imm64:
            if insn.src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_VALUE):
                add("insns", insn.imm)
            elif insn.src in (oc.PSEUDO_MAP_IDX, oc.PSEUDO_MAP_IDX_VALUE):
                fd = from_array(insn.imm)
                if fd is not None:
                    add("fd_array", fd)
            elif insn.src == oc.PSEUDO_BTF_ID and insn.next_imm:
                add("ksym_btf", insn.next_imm)
        elif insn.is_call and insn.src == oc.CALL_KFUNC and insn.off:
            fd = from_array(insn.off)
            if fd is not None:
                add("kfunc_btf", fd)
    return out, len(slots)


def _btf_summary(blob: bytes, size: int) -> dict:
    """The number of types and their kinds (in id order), when the whole (small) BTF blob was copied."""
    if len(blob) < size or size < 24:
        return {}
    try:
        from bpfinspect.btf import parse_btf
        btf = parse_btf(blob, section=None)
        kinds = [btf.kind(t).name for t in btf.ids()]
    except Exception:  # a probe's deliberately odd BTF, or bytes we cannot read: no summary
        return {}
    return {"btf_types": len(kinds), "btf_kinds": list(dict.fromkeys(kinds))}


def _hex(b: bytes | None, n: int | None) -> str | None:
    if b is None:
        return None
    return (b[:n] if n is not None else b).hex()


# ---------------------------------------------------------------- the decoder

class _Decoder:
    def __init__(self, tracepoints: dict[int, str], pmus: dict[int, str]) -> None:
        self.tracepoints = tracepoints
        self.pmus = pmus
        self.live: dict[int, FdObject] = {}
        self.maps: dict[int, dict] = {}      # fd -> the MAP_CREATE args (key and value sizes)
        self.mappings: dict[int, tuple[int, FdObject]] = {}   # address -> (length, the map)
        self.calls: list[Call] = []

    def ref(self, call: Call, fld: str, fd: int) -> None:
        call.refs.append(FdRef(fld, fd, self.live.get(fd) if fd >= 0 else None))

    def new_fd(self, call: Call, kind: str, name: str) -> None:
        if call.ret is None or call.ret < 0:
            return
        fd = int(call.ret)
        obj = FdObject(kind, name, fd, call.seq)
        old = self.live.get(fd)
        if old is not None:   # closed in a way the trace did not see (dup2, a child, a lost record)
            call.notes.append(f"fd {fd} was {old.label} (its close was not recorded)")
        self.live[fd] = obj
        call.fd, call.object = fd, obj

    def add(self, raw: R.RawCall, t0: int) -> None:
        call = Call(len(self.calls) + 1, raw.call, None, {}, raw.ret, raw.tid, raw.ts - t0)
        if raw.ret is not None and -MAX_ERRNO <= raw.ret < 0:
            call.errno = errno_name(-raw.ret)
        elif raw.ret is None:
            call.notes.append("no result recorded (the trace stopped first, or the record was lost)")
        if getattr(self, "_" + raw.call)(call, raw):
            self.calls.append(call)

    # ---- bpf()

    def _bpf(self, call: Call, raw: R.RawCall) -> bool:
        number = raw.args[0] & 0xFFFFFFFF
        cmd = enum_name(BPF_CMDS, number, "BPF_CMD")
        call.cmd = cmd
        size = raw.args[2] & 0xFFFFFFFF
        attr = raw.blob(R.D_ATTR) or b""
        args, fds = decode_attr(cmd, attr, size)
        call.args = args
        args["attr_size"] = size
        if R.D_ATTR in raw.errors:
            call.notes.append("the attribute could not be read")
        extra = getattr(self, "_cmd_" + cmd[4:].lower(), None)
        if extra is not None:
            fds += extra(call, raw, args) or []
        for fld, fd in fds:
            self.ref(call, fld, fd)
        kind = U.RETURNS_FD.get(cmd)
        if kind is not None:
            call.attempted = kind
            self.new_fd(call, kind, self._name_of(call, cmd, args))
            if cmd == "BPF_MAP_CREATE" and call.fd is not None:
                self.maps[call.fd] = args
        return True

    def _name_of(self, call: Call, cmd: str, args: dict) -> str:
        if cmd == "BPF_MAP_CREATE":
            return args.get("map_name", "")
        if cmd == "BPF_PROG_LOAD":
            return args.get("prog_name", "")
        if cmd in ("BPF_LINK_CREATE", "BPF_RAW_TRACEPOINT_OPEN"):
            prog = next((r.object for r in call.refs if r.field == "prog_fd"), None)
            return prog.name if prog is not None else ""
        if cmd == "BPF_OBJ_GET":
            return args.get("pathname", "")
        if cmd.endswith("_GET_FD_BY_ID"):
            return f"id {args.get('start_id', '?')}"
        return ""

    def _cmd_map_create(self, call, raw, args):
        if "map_flags" in args:
            args["map_flags_names"] = _flags(args["map_flags"], U.MAP_FLAGS)
        return []

    def _cmd_prog_load(self, call, raw, args):
        license_ = raw.blob(R.D_LICENSE)
        if license_ is not None:
            args["license"] = _cstr(license_)
        if "prog_flags" in args:
            args["prog_flags_names"] = U.flag_names(args["prog_flags"], (), bits=U.PROG_FLAGS)
        fd_array = None
        blob = raw.blob(R.D_FD_ARRAY)
        if blob is not None and R.D_FD_ARRAY not in raw.errors:
            fd_array = [v for (v,) in struct.iter_unpack("<i", blob[:len(blob) // 4 * 4])]
        code = raw.blob(R.D_INSNS) or b""
        fds, decoded = _map_fds_of_insns(code, fd_array)
        want = args.get("insn_cnt", 0)
        args["map_fds"] = sorted({fd for what, fd in fds if what in ("insns", "fd_array")})
        if decoded < want:
            call.notes.append(f"only the first {decoded} of {want} instructions were recorded")
        if R.D_INSNS in raw.errors:
            call.notes.append("the instructions could not be read")
        return fds

    def _cmd_prog_attach(self, call, raw, args):
        if "attach_flags" in args:
            args["attach_flags_names"] = _flags(args["attach_flags"], U.ATTACH_FLAGS)
        return []

    _cmd_prog_detach = _cmd_prog_attach

    def _cmd_btf_load(self, call, raw, args):
        blob = raw.blob(R.D_BTF)
        if blob is not None and "btf_size" in args:
            args.update(_btf_summary(blob, args["btf_size"]))
        return []

    def _elem(self, call, raw, args):
        info = self.maps.get(args.get("map_fd", -1), {})
        key = raw.blob(R.D_KEY)
        if key is not None and R.D_KEY not in raw.errors:
            args["key"] = _hex(key, info.get("key_size"))
        value = raw.blob(R.D_VALUE)
        if value is not None and R.D_VALUE not in raw.errors:
            size = info.get("value_size")
            args["value"] = _hex(value, size)
            if size is not None and size > len(value):
                args["value_truncated"] = True
        if "flags" in args:
            low = args["flags"] & 3
            names = [U.ELEM_FLAGS.get(low, f"mode_{low}")]
            if args["flags"] & U.BPF_F_LOCK:
                names.append("f_lock")
            args["flags_names"] = names
        return []

    _cmd_map_lookup_elem = _cmd_map_update_elem = _cmd_map_delete_elem = _elem
    _cmd_map_get_next_key = _cmd_map_lookup_and_delete_elem = _elem

    def _path(self, call, raw, args, key):
        s = raw.blob(R.D_STRING)
        if s is not None:
            args[key] = _cstr(s)
        return []

    def _cmd_obj_pin(self, call, raw, args):
        return self._path(call, raw, args, "pathname")

    _cmd_obj_get = _cmd_obj_pin

    def _cmd_raw_tracepoint_open(self, call, raw, args):
        return self._path(call, raw, args, "name")

    def _cmd_enable_stats(self, call, raw, args):
        if "type" in args:
            args["type"] = enum_name(U.ENABLE_STATS_TYPES, args["type"], "stats")
        return []

    # ---- perf_event_open()

    def _perf_event_open(self, call: Call, raw: R.RawCall) -> bool:
        attr = raw.blob(R.D_PERF_ATTR) or b""
        args: dict = {}
        for name, off, size in U.PERF_ATTR:
            if off + size <= len(attr):
                args[name] = _int(attr, off, size)
        type_ = args.get("type")
        if type_ is not None:
            args["type"] = U.PERF_TYPES[type_] if type_ < len(U.PERF_TYPES) else self.pmus.get(type_, f"pmu_{type_}")
        name = ""
        if type_ == U.PERF_TYPE_TRACEPOINT and "config" in args:
            tp = self.tracepoints.get(args["config"])
            if tp:
                args["tracepoint"] = tp
            name = f"tracepoint {tp or 'id ' + str(args['config'])}"
        elif args.get("type") in ("kprobe", "uprobe"):
            s = raw.blob(R.D_STRING)
            where = _cstr(s) if s is not None else None
            key = "func" if args["type"] == "kprobe" else "path"
            args[key] = where
            args["offset"] = args.get("config2", 0)
            args["retprobe"] = bool(args.get("config", 0) & 1)
            suffix = f"+{args['offset']:#x}" if args["offset"] else ""
            name = f"{args['type']}{' (return)' if args['retprobe'] else ''} {where or '?'}{suffix}"
        elif type_ is not None:
            name = f"{args['type']} config {args.get('config', 0):#x}"
        args["pid"] = _s32(raw.args[1])
        args["cpu"] = _s32(raw.args[2])
        args["group_fd"] = _s32(raw.args[3])
        args["flags"] = raw.args[4] & 0xFFFFFFFF
        args["flags_names"] = _flags(args["flags"], U.PERF_FLAGS)
        call.args = args
        if args["group_fd"] >= 0:
            self.ref(call, "group_fd", args["group_fd"])
        call.attempted = "perf_event"
        self.new_fd(call, "perf_event", name)
        return True

    # ---- ioctl() on perf events

    def _ioctl(self, call: Call, raw: R.RawCall) -> bool:
        fd, request, arg = _s32(raw.args[0]), raw.args[1] & 0xFFFFFFFF, raw.args[2]
        name = U.PERF_IOCTLS.get(request)
        if name is None:
            return False
        call.cmd = name
        call.args = {"fd": fd, "request": request}
        self.ref(call, "fd", fd)
        if name in U.IOCTL_FD_ARG:
            call.args["arg"] = _s32(arg)
            self.ref(call, "arg", _s32(arg))
        else:
            call.args["arg"] = arg
        return fd in self.live

    # ---- memory of maps

    def _mmap(self, call: Call, raw: R.RawCall) -> bool:
        addr, length, prot, flags, fd, off = raw.args
        fd = _s32(fd)
        obj = self.live.get(fd)
        if obj is None or obj.kind != "map":
            return False
        call.args = {"addr": addr, "length": length, "prot": prot, "prot_names": _flags(prot, U.PROT_BITS),
                     "flags": flags, "flags_names": U.flag_names(flags, (), bits=U.MMAP_FLAGS), "fd": fd,
                     "offset": off}
        self.ref(call, "fd", fd)
        if call.ok:
            self.mappings[call.ret & 0xFFFFFFFFFFFFFFFF] = (length, obj)
        return True

    def _munmap(self, call: Call, raw: R.RawCall) -> bool:
        addr, length = raw.args[0], raw.args[1]
        known = self.mappings.get(addr)
        if known is None:
            return False
        call.args = {"addr": addr, "length": length, "map": known[1].name}
        if call.ok:
            del self.mappings[addr]
        return True

    # ---- close()

    def _close(self, call: Call, raw: R.RawCall) -> bool:
        fd = _s32(raw.args[0])
        obj = self.live.get(fd)
        if obj is None:
            return False
        call.args = {"fd": fd}
        self.ref(call, "fd", fd)
        call.closes = obj
        if call.errno != "EBADF":   # any other outcome closes it (Linux frees the fd even on EINTR)
            obj.closed_by = call.seq
            del self.live[fd]
            self.maps.pop(fd, None)
        return True


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def decode(raws: list[R.RawCall], *, tracepoints: dict[int, str] | None = None,
           pmus: dict[int, str] | None = None) -> list[Call]:
    """Decoded calls in recording order (``seq`` from 1), unmarked as probes."""
    dec = _Decoder(tracepoints or {}, pmus or {})
    t0 = raws[0].ts if raws else 0
    for raw in raws:
        dec.add(raw, t0)
    return dec.calls
