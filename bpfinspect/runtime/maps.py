"""A map of a runtime object: its description, element access, and dict behaviour."""

from __future__ import annotations

import ctypes
import errno
import weakref

from bpfinspect.errors import UsageError
from bpfinspect.runtime._lib import journal, lib, make_error
from bpfinspect.runtime.codec import Codec

BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10

MAP_TYPE_PERF_EVENT_ARRAY = 4
MAP_TYPE_RINGBUF = 27
PERCPU_MAP_TYPES = {5, 6, 10, 21}  # percpu_hash, percpu_array, lru_percpu_hash, percpu_cgroup_storage

_MISSING = object()


class _Part:
    """A program or map of an :class:`Object`: it knows its object by a weak reference
    (the object holds it; a strong reference back would make a cycle, and a dropped object
    would then wait for the garbage collector to be freed)."""

    _what = "part"
    name: str

    @property
    def _owner(self) -> "Object":
        obj = self._owner_ref()
        if obj is None:
            raise UsageError(f"{self._what} '{self.name}': its BPF object was dropped and freed "
                             f"(keep a reference to the object or skeleton while using its parts)")
        return obj


class Map(_Part):
    """One map of a :class:`~bpfinspect.runtime.Object`.

    Works like a dict once the object is loaded: ``m[key]``, ``m[key] = v``,
    ``del m[key]``, ``key in m``, ``len(m)``, ``m.get``, ``m.keys()``,
    ``m.values()``, ``m.items()``.  Per-CPU maps give and take a list with one
    value per possible CPU.
    """

    _what = "map"

    def __init__(self, owner, ptr: int, *, key_type=None, value_type=None) -> None:
        self._owner_ref = weakref.ref(owner)
        self._ptr = ptr
        L = lib()
        self.name: str = L.bpf_map__name(ptr).decode("utf-8", "replace")
        self._key_type = key_type
        self._value_type = value_type
        # the ctypes class of the records a ring buffer or perf event array carries (a generated
        # skeleton sets it when the record type is known): ring_buffer()/perf_buffer() hand those out
        self.record_type = None

    # ---- description (reads libbpf's view, valid before and after load)

    @property
    def type(self) -> int:
        return int(lib().bpf_map__type(self._p()))

    @property
    def type_name(self) -> str:
        return lib().map_type_name(self.type)

    @property
    def key_size(self) -> int:
        return int(lib().bpf_map__key_size(self._p()))

    @property
    def value_size(self) -> int:
        return int(lib().bpf_map__value_size(self._p()))

    @property
    def max_entries(self) -> int:
        return int(lib().bpf_map__max_entries(self._p()))

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        mark = journal.mark()
        res = lib().bpf_map__set_max_entries(self._p(), int(n))
        if res < 0:
            raise make_error(f"map '{self.name}': set max_entries", -res, since=mark)

    @property
    def map_flags(self) -> int:
        return int(lib().bpf_map__map_flags(self._p()))

    @property
    def is_internal(self) -> bool:
        return bool(lib().bpf_map__is_internal(self._p()))

    @property
    def btf_key_type_id(self) -> int:
        return int(lib().bpf_map__btf_key_type_id(self._p()))

    @property
    def btf_value_type_id(self) -> int:
        return int(lib().bpf_map__btf_value_type_id(self._p()))

    @property
    def fd(self) -> int:
        return int(lib().bpf_map__fd(self._p()))

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_MAP_TYPES

    @property
    def key_type(self):
        return self._key_type

    @key_type.setter
    def key_type(self, ctype) -> None:
        self._key_type = ctype
        self.__dict__.pop("_kc_cache", None)

    @property
    def value_type(self):
        return self._value_type

    @value_type.setter
    def value_type(self, ctype) -> None:
        self._value_type = ctype
        self.__dict__.pop("_vc_cache", None)

    def info(self) -> dict:
        """The kernel's bpf_map_info for the created map (id, name, sizes, flags)."""
        from bpfinspect.runtime.info import map_info
        return map_info(self._live_fd())

    def __repr__(self) -> str:
        try:
            return (f"<Map {self.name} {self.type_name} key={self.key_size} value={self.value_size} "
                    f"max_entries={self.max_entries} fd={self.fd}>")
        except Exception:
            return f"<Map {self.name} (closed)>"

    # ---- plumbing

    def _p(self) -> int:
        self._owner._check_open()
        return self._ptr

    def _live_fd(self) -> int:
        fd = self.fd
        if fd < 0:
            raise UsageError(f"map '{self.name}' does not exist in the kernel yet: load the object first")
        return fd

    @property
    def _kc(self) -> Codec:
        c = self.__dict__.get("_kc_cache")
        if c is None:
            c = Codec(self.key_size, self._key_type or self._btf_type(self.btf_key_type_id, self.key_size),
                      what="key")
            self.__dict__["_kc_cache"] = c
        return c

    @property
    def _vc(self) -> Codec:
        c = self.__dict__.get("_vc_cache")
        if c is None:
            c = Codec(self.value_size, self._value_type or self._btf_type(self.btf_value_type_id, self.value_size),
                      what="value")
            self.__dict__["_vc_cache"] = c
        return c

    def _btf_type(self, type_id: int, size: int):
        """The ctypes type BTF gives this key/value, when it matches the map's size (data sections excepted)."""
        if self.is_internal:
            return None
        ctype = self._owner._btf_ctype(type_id)
        if ctype is not None and ctypes.sizeof(ctype) != size:
            return None
        return ctype

    def _slot(self) -> int:
        return (self.value_size + 7) // 8 * 8

    def _value_buf(self):
        n = lib().num_possible_cpus * self._slot() if self.is_percpu else self.value_size
        return ctypes.create_string_buffer(max(n, 1))

    def _key_buf(self, key):
        if self.key_size == 0:
            return None
        return ctypes.create_string_buffer(self._kc.to_bytes(key), self.key_size)

    def _decode_value(self, buf):
        raw = buf.raw
        if self.is_percpu:
            slot = self._slot()
            return [self._vc.decode(raw[i * slot:i * slot + self.value_size])
                    for i in range(lib().num_possible_cpus)]
        return self._vc.decode(raw[:self.value_size])

    def _encode_value(self, value):
        if not self.is_percpu:
            return ctypes.create_string_buffer(self._vc.to_bytes(value), max(self.value_size, 1))
        ncpu = lib().num_possible_cpus
        slot = self._slot()
        if isinstance(value, (list, tuple)):
            if len(value) != ncpu:
                raise UsageError(f"per-CPU map '{self.name}' wants {ncpu} values (one per possible CPU), "
                                 f"got {len(value)}")
            values = list(value)
        else:
            values = [value] * ncpu
        buf = ctypes.create_string_buffer(ncpu * slot)
        for i, v in enumerate(values):
            ctypes.memmove(ctypes.addressof(buf) + i * slot, self._vc.to_bytes(v), self.value_size)
        return buf

    # ---- element operations

    def lookup(self, key, default=_MISSING, *, flags: int = 0):
        """The value at ``key``; ``default`` (or KeyError) when absent."""
        fd = self._live_fd()
        k = self._key_buf(key)
        v = self._value_buf()
        res = lib().bpf_map_lookup_elem_flags(fd, k, v, flags)
        if res < 0:
            if -res == errno.ENOENT:
                if default is _MISSING:
                    raise KeyError(key)
                return default
            raise make_error(f"map '{self.name}': lookup", -res)
        return self._decode_value(v)

    def update(self, key, value, flags: int = BPF_ANY) -> None:
        """Store ``value`` at ``key``; ``flags`` BPF_ANY, BPF_NOEXIST, BPF_EXIST (| BPF_F_LOCK)."""
        fd = self._live_fd()
        k = self._key_buf(key)
        v = self._encode_value(value)
        res = lib().bpf_map_update_elem(fd, k, v, flags)
        if res < 0:
            if -res == errno.EEXIST:
                raise make_error(f"map '{self.name}': update: key exists (BPF_NOEXIST)", -res)
            if -res == errno.ENOENT:
                raise KeyError(key)
            raise make_error(f"map '{self.name}': update", -res)

    def delete(self, key) -> bool:
        """Remove ``key``; False when it was not there."""
        fd = self._live_fd()
        res = lib().bpf_map_delete_elem(fd, self._key_buf(key))
        if res < 0:
            if -res == errno.ENOENT:
                return False
            raise make_error(f"map '{self.name}': delete", -res)
        return True

    def _raw_keys(self):
        fd = self._live_fd()
        size = self.key_size
        if size == 0:
            return
        cur = None
        nxt = ctypes.create_string_buffer(size)
        limit = max(self.max_entries, 1) * 2 + 16
        for _ in range(limit):
            res = lib().bpf_map_get_next_key(fd, cur, nxt)
            if res < 0:
                if -res == errno.ENOENT:
                    return
                raise make_error(f"map '{self.name}': get_next_key", -res)
            raw = nxt.raw
            yield raw
            cur = ctypes.create_string_buffer(raw, size)

    # ---- dict behaviour

    def keys(self):
        for raw in self._raw_keys():
            yield self._kc.decode(raw)

    __iter__ = keys

    def items(self):
        for raw in self._raw_keys():
            try:
                yield self._kc.decode(raw), self.lookup(raw)
            except KeyError:  # deleted meanwhile
                continue

    def raw_items(self):
        """(key bytes, value bytes) per entry -- for a per-CPU map, a list of value bytes per possible
        CPU -- without decoding (entries deleted meanwhile are skipped)."""
        fd = self._live_fd()
        for raw in self._raw_keys():
            k = ctypes.create_string_buffer(raw, max(self.key_size, 1))
            v = self._value_buf()
            res = lib().bpf_map_lookup_elem_flags(fd, k, v, 0)
            if res < 0:
                if -res == errno.ENOENT:
                    continue
                raise make_error(f"map '{self.name}': lookup", -res)
            data = v.raw
            if self.is_percpu:
                slot = self._slot()
                yield raw, [data[i * slot:i * slot + self.value_size] for i in range(lib().num_possible_cpus)]
            else:
                yield raw, data[:self.value_size]

    def values(self):
        for _, v in self.items():
            yield v

    def __getitem__(self, key):
        return self.lookup(key)

    def get(self, key, default=None):
        return self.lookup(key, default)

    def __setitem__(self, key, value) -> None:
        self.update(key, value, BPF_ANY)

    def __delitem__(self, key) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key) -> bool:
        return self.lookup(key, None) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self._raw_keys())

    def clear(self) -> None:
        for raw in list(self._raw_keys()):
            self.delete(raw)

    # ---- buffers

    def _record_type(self, record_type):
        if record_type is None:
            return self.record_type
        return None if record_type is bytes else record_type

    def ring_buffer(self, callback, *, record_type=None):
        """A :class:`RingBuffer` delivering this ring buffer map's records to ``callback(record)``: instances
        of ``record_type`` (default :attr:`record_type`; ``bytes`` for the raw bytes), else bytes."""
        from bpfinspect.runtime.buffers import RingBuffer
        self._live_fd()
        if self.type != MAP_TYPE_RINGBUF:
            raise UsageError(f"map '{self.name}' is {self.type_name}, not ringbuf")
        return RingBuffer(self, callback, record_type=self._record_type(record_type), owner=self._owner)

    def perf_buffer(self, callback, *, lost=None, page_cnt: int = 8, record_type=None):
        """A :class:`PerfBuffer` delivering samples to ``callback(cpu, record)`` (records as for
        :meth:`ring_buffer`)."""
        from bpfinspect.runtime.buffers import PerfBuffer
        self._live_fd()
        if self.type != MAP_TYPE_PERF_EVENT_ARRAY:
            raise UsageError(f"map '{self.name}' is {self.type_name}, not perf_event_array")
        return PerfBuffer(self, callback, lost=lost, page_cnt=page_cnt, record_type=self._record_type(record_type),
                          owner=self._owner)
