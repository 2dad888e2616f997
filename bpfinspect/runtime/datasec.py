"""Global variables of a BPF object: views of .data, .rodata, .bss and friends.

Before load, a section's contents live in a Python-owned buffer (seeded
from the object's initial values) and are handed to libbpf when the object
loads.  After load, writable sections are the kernel map itself, mapped into
our address space (``mmap`` of the map fd, like libbpf's skeletons), so reads
give live values and writes reach the BPF program.  Read-only sections
(``.rodata*``) are frozen by the kernel at load: reads return their values,
writes raise :class:`FrozenSectionError`.

Views are memory-safe: each mapping is a Python ``mmap`` object that the
ctypes views keep alive, so a stray reference never points into unmapped
memory; once the object is closed the section refuses every access.
"""

from __future__ import annotations

import ctypes
import mmap as _mmap

from bpfinspect.errors import OperationFailed

PAGE = _mmap.PAGESIZE


class FrozenSectionError(OperationFailed, AttributeError):
    """A write to a read-only data section after load (the kernel froze it)."""


class ClosedError(OperationFailed):
    """The BPF object behind this view was closed."""


_PROXIED = (ctypes.Structure, ctypes.Union, ctypes.Array)


class _Node:
    """Shared state of one section: the ctypes instance and whether writes are allowed."""

    __slots__ = ("name", "inst", "frozen", "closed", "mm", "ctype", "generation")

    def __init__(self, name: str, ctype, inst) -> None:
        self.name = name
        self.ctype = ctype
        self.inst = inst
        self.frozen = False
        self.closed = False
        self.mm = None
        self.generation = 0


class _View:
    """Attribute/item proxy over a ctypes struct, union or array living in a section."""

    __slots__ = ("_node", "_path", "_gen", "_target")

    def __init__(self, node: _Node, path: tuple, target) -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_gen", node.generation)
        object.__setattr__(self, "_target", target)

    def _live(self):
        node = self._node
        if node.closed:
            raise ClosedError(f"section {node.name}: the BPF object is closed")
        if self._gen != node.generation:
            # The section moved (load mapped the kernel map): walk the path again.
            target = node.inst
            for step in self._path:
                target = target[step] if isinstance(step, int) else getattr(target, step)
            object.__setattr__(self, "_target", target)
            object.__setattr__(self, "_gen", node.generation)
        return self._target

    def _wrap(self, step, value):
        if isinstance(value, _PROXIED):
            return _View(self._node, self._path + (step,), value)
        return value

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._live()
        try:
            value = getattr(target, name)
        except AttributeError:
            raise AttributeError(f"{type(target).__name__} has no member {name!r}") from None
        return self._wrap(name, value)

    def __setattr__(self, name: str, value) -> None:
        target = self._live()
        if self._node.frozen:
            raise FrozenSectionError(f"{self._node.name} is read-only after load; cannot set {name}")
        fields = _field_names(type(target))
        if name not in fields and not isinstance(getattr(type(target), name, None), property):
            raise AttributeError(f"{type(target).__name__} has no member {name!r}")
        if isinstance(value, _View):
            value = value._live()
        setattr(target, name, value)

    def __getitem__(self, index):
        target = self._live()
        if not isinstance(target, ctypes.Array):
            raise TypeError(f"{type(target).__name__} is not an array")
        value = target[index]
        return self._wrap(index, value) if isinstance(index, int) else value

    def __setitem__(self, index, value) -> None:
        target = self._live()
        if self._node.frozen:
            raise FrozenSectionError(f"{self._node.name} is read-only after load")
        if isinstance(value, _View):
            value = value._live()
        target[index] = value

    def __len__(self) -> int:
        target = self._live()
        if isinstance(target, ctypes.Array):
            return len(target)
        return ctypes.sizeof(target)

    def __bytes__(self) -> bytes:
        return bytes(self._live())

    def __dir__(self):
        target = self._live()
        return sorted(set(_field_names(type(target))))

    def __eq__(self, other):
        if isinstance(other, _View):
            other = bytes(other)
        if isinstance(other, (bytes, bytearray)):
            return bytes(self) == bytes(other)
        if isinstance(other, _PROXIED):
            return bytes(self) == bytes(other)
        target = self._live()
        if isinstance(target, ctypes.Array):
            return list(target) == other
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        try:
            target = self._live()
        except ClosedError:
            return f"<{self._node.name} (closed)>"
        if isinstance(target, ctypes.Array):
            return repr(list(target))
        parts = [f"{n}={getattr(target, n)!r}" for n in _field_names(type(target)) if not n.startswith("_")]
        return f"{type(target).__name__}({', '.join(parts)})"


def _field_names(ctype) -> list[str]:
    names: list[str] = []
    for f in getattr(ctype, "_fields_", ()):
        names.append(f[0])
    for n in getattr(ctype, "_anonymous_", ()):
        names.extend(_field_names(dict((f[0], f[1]) for f in ctype._fields_)[n]))
    for n, v in vars(ctype).items():
        if isinstance(v, property):
            names.append(n)
    return names


class DataSection(_View):
    """One data section (a libbpf internal map) of a runtime object, e.g. ``obj.data_sections['.bss']``.

    Access variables as attributes; ``bytes(section)`` gives the raw contents.
    """

    __slots__ = ()

    def __init__(self, name: str, ctype, initial: bytes) -> None:
        size = ctypes.sizeof(ctype)
        buf = bytearray(initial[:size].ljust(size, b"\0"))
        node = _Node(name, ctype, ctype.from_buffer(buf))
        super().__init__(node, (), node.inst)

    # -- used by the runtime object --

    def _contents(self) -> bytes:
        return bytes(self._node.inst)

    def _attach_map(self, fd: int, map_size: int, readonly: bool) -> None:
        """Point the view at the kernel map ``fd`` (after load)."""
        node = self._node
        length = max(PAGE, (map_size + PAGE - 1) // PAGE * PAGE)
        if readonly:
            mm = _mmap.mmap(fd, length, flags=_mmap.MAP_SHARED, prot=_mmap.PROT_READ)
            try:
                inst = node.ctype.from_buffer_copy(mm[:ctypes.sizeof(node.ctype)])
            finally:
                mm.close()
            node.frozen = True
        else:
            mm = _mmap.mmap(fd, length, flags=_mmap.MAP_SHARED, prot=_mmap.PROT_READ | _mmap.PROT_WRITE)
            node.mm = mm
            inst = node.ctype.from_buffer(mm)
        node.inst = inst
        node.generation += 1
        object.__setattr__(self, "_target", inst)
        object.__setattr__(self, "_gen", node.generation)

    def _freeze_copy(self, data: bytes) -> None:
        """Read-only contents known without a mapping (map not mmap-able)."""
        node = self._node
        size = ctypes.sizeof(node.ctype)
        node.inst = node.ctype.from_buffer_copy(data[:size].ljust(size, b"\0"))
        node.frozen = True
        node.generation += 1
        object.__setattr__(self, "_target", node.inst)
        object.__setattr__(self, "_gen", node.generation)

    def _close(self) -> None:
        node = self._node
        node.closed = True
        node.inst = None
        object.__setattr__(self, "_target", None)
        mm, node.mm = node.mm, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                # Someone still holds a ctypes object inside the mapping: the mapping
                # (and the kernel map it pins) goes away when that object does.
                pass

    def _section_name(self) -> str:
        return self._node.name
