"""A BPF object through libbpf: open, load, attach, close.

Lifetime rules (nothing may leak, even on exceptions or Ctrl-C):

* every libbpf pointer we create is recorded in the object's ``_State`` right
  after the call that made it, with SIGINT/SIGTERM held back in between
  (:class:`bpfinspect.interrupts.shielded`);
* ``close()`` (also run by ``with``, and by a ``weakref.finalize`` when the
  Python object is collected) frees in dependency order: ring/perf buffers,
  links, data-section mappings, the pins this object made when it was asked
  not to keep them, then ``bpf_object__close`` which releases programs and
  maps; a Ctrl-C cannot cut it short (:func:`bpfinspect.interrupts.protect`);
* nothing the finalizer holds refers back to the :class:`Object`, and the
  object is in no reference cycle: its programs and maps (and through them its
  links) know it by a weak reference.  An object dropped without ``close()``
  is therefore freed at once by reference counting, attached or not, without
  waiting for the cyclic garbage collector.

Pins: a map with ``LIBBPF_PIN_BY_NAME`` is pinned by libbpf at load under
``/sys/fs/bpf/<name>`` (or reuses the map already pinned there).  libbpf leaves
its pins in place when the object closes; ``Object(..., keep_pins=False)``
removes the pins this object created at close -- and only those: a pin that
existed before the load, or that now holds another map, stays.

Verifier logs: before load each program gets its own log buffer
(``bpf_program__set_log_buf``).  With the default log level 0 libbpf first
loads without a log and, only when the kernel rejects a program, loads it
again with level 1 into that buffer; so a successful load costs nothing and a
rejection comes with the verifier's explanation.
"""

from __future__ import annotations

import ctypes
import errno
import os
import weakref

from bpfinspect import interrupts
from bpfinspect.errors import BpfInspectError, MalformedInput, UsageError
from bpfinspect.runtime._lib import OpenOpts, _last_meaningful_line, c_size_t, journal, last_errno, lib, make_error
from bpfinspect.runtime.maps import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, Map
# Programs and links live in their own module; their names stay importable from here.
from bpfinspect.runtime.attachdiag import kprobes_supported  # noqa: F401 - public here too
from bpfinspect.runtime.program import (DEFAULT_LOG_SIZE, MAX_LOG_SIZE, TRACEFS_DIRS, Link, Program,  # noqa: F401
                                        TcLink, tracefs_mounted)

# The kernel refuses an array map value over INT_MAX bytes (E2BIG), so a data section
# beyond it is a damaged object; its initial bytes are not copied out of libbpf (which
# ctypes.string_at could not do anyway: its size is a C int).
MAX_DATA_SECTION = (1 << 31) - 1

class _State:
    """Everything that must be released, without a reference to the Object."""

    def __init__(self) -> None:
        self.ptr = None
        self.links: list = []          # Link objects
        self.buffers: list = []        # weak references to ring/perf buffers
        self.sections: list = []       # DataSection views
        self.keep: list = []           # memory libbpf points into (names, ELF bytes, log buffers)
        self.unpin: list = []          # (map pointer, pin path) this object may pin and must unpin

    @interrupts.protect
    def close(self) -> None:
        with interrupts.shielded():
            for ref in self.buffers:
                buf = ref()
                if buf is not None:
                    buf.close()
            self.buffers.clear()
            for link in reversed(self.links):
                link._destroy()
            self.links.clear()
            for sec in self.sections:
                sec._close()
            ptr, self.ptr = self.ptr, None
            if ptr:
                self._unpin_created()
                lib().bpf_object__close(ptr)
            self.keep.clear()

    def _unpin_created(self) -> None:
        """Remove the pins listed in ``unpin`` that hold this object's map (libbpf pinned them)."""
        from bpfinspect.runtime.info import map_info
        L = lib()
        todo, self.unpin = self.unpin, []
        for map_ptr, path in todo:
            if not L.bpf_map__is_pinned(map_ptr):
                continue
            ours = int(L.bpf_map__fd(map_ptr))
            pinned = int(L.bpf_obj_get(path.encode()))
            if ours < 0 or pinned < 0:
                continue
            try:
                if map_info(ours)["id"] == map_info(pinned)["id"]:
                    os.unlink(path)
            except (OSError, BpfInspectError):
                pass
            finally:
                os.close(pinned)


class Object:
    """A BPF object opened through libbpf.

    ``Object.open(bytes_or_path)``, then optionally adjust programs/maps,
    ``load()``, ``attach()``; ``close()`` (or ``with``) releases everything.
    """

    def __init__(self, source, *, name: str | None = None, log_size: int = DEFAULT_LOG_SIZE,
                 log_level: int = 0, btf_custom_path: str | None = None, kconfig: str | None = None,
                 capture_logs: bool = True, btf=None, sections: dict | None = None,
                 keep_pins: bool = True, typed_sections: bool = False) -> None:
        L = lib()
        self._state = _State()
        self.keep_pins = keep_pins
        self.pins: list[Pin] = []
        self.loaded = False
        self._btf = btf
        self._btf_tried = btf is not None
        self._elf_bytes = None
        self._btf_types: dict[int, object] = {}
        state = self._state
        opts = OpenOpts()
        opts.sz = ctypes.sizeof(OpenOpts)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._elf_bytes = data
            self.path = None
            if name is None:
                name = "bpf_object"
        else:
            data = None
            self.path = os.fspath(source)
        if name is not None:
            cname = ctypes.create_string_buffer(name.encode())
            state.keep.append(cname)
            opts.object_name = ctypes.cast(cname, ctypes.c_char_p)
        for field, value in (("btf_custom_path", btf_custom_path), ("kconfig", kconfig)):
            if value is not None:
                b = ctypes.create_string_buffer(value.encode())
                state.keep.append(b)
                setattr(opts, field, ctypes.cast(b, ctypes.c_char_p))
        if log_level:
            opts.kernel_log_level = int(log_level)
        mark = journal.mark()
        with interrupts.shielded():
            if data is not None:
                buf = ctypes.create_string_buffer(data, len(data))
                state.keep.append(buf)
                ptr = L.bpf_object__open_mem(buf, len(data), ctypes.byref(opts))
            else:
                ptr = L.bpf_object__open_file(self.path.encode(), ctypes.byref(opts))
            err = last_errno() if not ptr else 0
            state.ptr = ptr or None
            self._finalizer = weakref.finalize(self, state.close)
        if not ptr:
            raise make_error(f"cannot open BPF object {self.path or name}", err, since=mark)
        try:
            if typed_sections and sections is None:
                sections = self._btf_section_types()
            self._populate(ptr, log_size, log_level, capture_logs, sections)
        except BaseException:
            self.close()
            raise

    def _populate(self, ptr, log_size: int, log_level: int, capture_logs: bool, sections) -> None:
        L = lib()
        self.name: str = L.bpf_object__name(ptr).decode("utf-8", "replace")
        self.programs: dict[str, Program] = {}
        p = L.bpf_object__next_program(ptr, None)
        while p:
            prog = Program(self, p)
            self.programs[prog.name] = prog
            p = L.bpf_object__next_program(ptr, p)
        self.maps: dict[str, Map] = {}
        m = L.bpf_object__next_map(ptr, None)
        while m:
            mp = Map(self, m)
            self.maps[mp.name] = mp
            m = L.bpf_object__next_map(ptr, m)
        self._log_owner = None
        if capture_logs and self.programs:
            if log_level:
                for prog in self.programs.values():
                    prog.set_log(log_size, log_level)
            else:
                shared = ctypes.create_string_buffer(max(256, min(int(log_size), MAX_LOG_SIZE)))
                for prog in self.programs.values():
                    prog.set_log(buffer=shared)
        self.data_sections: dict = {}
        self._setup_sections(sections or {})

    # ---- constructors

    @classmethod
    def open(cls, source, **kw) -> "Object":
        """Open from bytes (the ELF image) or a path."""
        return cls(source, **kw)

    @classmethod
    def from_bytes(cls, data: bytes, **kw) -> "Object":
        return cls(bytes(data), **kw)

    @classmethod
    def from_path(cls, path, **kw) -> "Object":
        return cls(os.fspath(path), **kw)

    # ---- state

    @property
    def closed(self) -> bool:
        return self._state.ptr is None

    def _check_open(self) -> None:
        if self._state.ptr is None:
            raise UsageError("the BPF object is closed")

    def _track(self, buffer) -> None:
        self._state.buffers.append(weakref.ref(buffer))

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Detach, unload and free everything (idempotent)."""
        self._finalizer()
        self.loaded = False

    def program(self, name: str) -> Program:
        try:
            return self.programs[name]
        except KeyError:
            from bpfinspect.suggest import did_you_mean

            raise UsageError(f"no program named '{name}'" + (did_you_mean(name, list(self.programs)) or
                                                             f" (have: {', '.join(self.programs) or 'none'})")) from None

    def map(self, name: str) -> Map:
        try:
            return self.maps[name]
        except KeyError:
            from bpfinspect.suggest import did_you_mean

            raise UsageError(f"no map named '{name}'" + (did_you_mean(name, list(self.maps)) or
                                                         f" (have: {', '.join(self.maps) or 'none'})")) from None

    # ---- BTF-typed values

    def _model(self):
        """The object as bpfinspect reads it (:mod:`bpfinspect.obj`), made on first need."""
        model = self.__dict__.get("_model_cache")
        if model is None:
            from bpfinspect.obj import from_bytes, open_object
            model = from_bytes(self._elf_bytes) if self._elf_bytes is not None else open_object(self.path)
            self.__dict__["_model_cache"] = model
        return model

    def _object_btf(self):
        """The object's BTF (ours, not libbpf's), parsed on first need; ids match libbpf's."""
        if self._btf is None and not self._btf_tried:
            self._btf_tried = True
            try:
                self._btf = self._model().btf
            except BpfInspectError:  # BTF we cannot read: keys and values stay bytes
                self._btf = None
        return self._btf

    def section(self, name: str):
        """The data section view of ELF section ``name`` (``.rodata``, ``.bss``, ``.data.cfg``...); libbpf's
        own map names (``obj.rodata``) work too.  Typed (variables as attributes) when the object was opened
        with ``typed_sections=True``."""
        if name in self.data_sections:
            return self.data_sections[name]
        for d in self._model().datasecs:
            if d.name == name and d.map_name in self.data_sections:
                return self.data_sections[d.map_name]
        raise UsageError(f"no data section {name} (have: "
                         f"{', '.join(d.name for d in self._model().datasecs) or 'none'})")

    def record_type(self, map_name: str, type_name: str | None = None, headers=()):
        """The ctypes class of the records ring buffer or perf event array ``map_name`` carries, as the
        object says (inferred from the calls that send them, the types from BTF or DWARF); None when
        unknown.  Give it to :meth:`Map.ring_buffer` / :meth:`Map.perf_buffer` as ``record_type``.
        ``type_name`` (``"struct event"``) names the type instead; ``headers``: C headers to look for
        types in after BTF and DWARF (``--header``: for an object built without ``-g`` or stripped)."""
        from bpfinspect.btf.ctypes_layout import ctype_for
        from bpfinspect.typesrc import TypeSource
        if type_name is not None or headers:
            from bpfinspect.typesrc.headers import HeaderOptions
            ts = TypeSource(self._model(), overrides={map_name: type_name} if type_name else None,
                            headers=HeaderOptions(headers) if headers else None)
        else:
            ts = self.__dict__.get("_typesrc")
            if ts is None:
                ts = self.__dict__["_typesrc"] = TypeSource(self._model())
        rec = ts.record_types().get(map_name)
        if rec is None or rec.type is None:
            return None
        return ctype_for(ts.btf, rec.type.id)

    def _btf_section_types(self) -> dict:
        """libbpf map name -> ctypes class of each data section, its variables at their offsets with
        their BTF types (as the Python skeleton lays them out); sections without BTF are left out."""
        from bpfinspect.btf.ctypes_layout import CtypesLayout
        out: dict = {}
        try:
            model = self._model()
            btf = model.btf
        except BpfInspectError:
            return out
        if btf is None:
            return out
        layout = CtypesLayout(btf)
        for d in model.datasecs:
            variables = [(v.name, v.offset, v.size, v.type_id) for v in d.variables if not v.is_static]
            try:
                ctype = layout.get(layout.define_datasec(f"section_{d.map_name}", d.size, variables))
            except Exception:  # a layout we cannot express: the section stays bytes
                continue
            if ctypes.sizeof(ctype) == d.size:
                out[d.map_name] = ctype
        return out

    def _btf_ctype(self, type_id: int):
        if not type_id or self._object_btf() is None:
            return None
        if type_id not in self._btf_types:
            try:
                from bpfinspect.btf.ctypes_layout import ctype_for
                self._btf_types[type_id] = ctype_for(self._btf, type_id)
            except Exception:
                self._btf_types[type_id] = None
        return self._btf_types[type_id]

    # ---- data sections

    def _setup_sections(self, sections: dict) -> None:
        """Create a view for each internal mmap-able map (``.data``, ``.rodata``, ``.bss``...).

        ``sections`` maps a libbpf map name to the ctypes type describing it;
        sections without one are viewed as a byte array.
        """
        from bpfinspect.runtime.datasec import DataSection
        L = lib()
        for mp in self.maps.values():
            if not mp.is_internal:
                continue
            size = c_size_t(0)
            addr = L.bpf_map__initial_value(mp._ptr, ctypes.byref(size))
            if not addr:
                continue
            n = int(size.value)
            if n > MAX_DATA_SECTION:
                raise MalformedInput(f"data section {mp.name} claims {n} bytes, more than any kernel maps",
                                     path=self.path)
            ctype = sections.get(mp.name)
            if ctype is None:
                ctype = ctypes.c_uint8 * n
            elif ctypes.sizeof(ctype) != n:
                raise UsageError(f"data section {mp.name}: layout is {ctypes.sizeof(ctype)} bytes, "
                                 f"libbpf says {n}")
            sec = DataSection(mp.name, ctype, ctypes.string_at(addr, n))
            self.data_sections[mp.name] = sec
            self._state.sections.append(sec)

    def _sync_sections_in(self) -> None:
        L = lib()
        for name, sec in self.data_sections.items():
            mp = self.maps[name]
            if mp.name.endswith(".kconfig"):
                continue
            data = sec._contents()
            mark = journal.mark()
            res = L.bpf_map__set_initial_value(mp._ptr, data, len(data))
            if res < 0:
                raise make_error(f"data section {name}: set initial value", -res, since=mark)

    def _map_sections_out(self) -> None:
        for name, sec in self.data_sections.items():
            mp = self.maps[name]
            fd = mp.fd
            if fd < 0:
                continue
            flags = mp.map_flags
            readonly = bool(flags & BPF_F_RDONLY_PROG)
            if flags & BPF_F_MMAPABLE:
                size = (mp.value_size + 7) // 8 * 8 * max(mp.max_entries, 1)
                sec._attach_map(fd, size, readonly)
            else:
                value = mp.lookup(0) if mp.key_size == 4 else None
                sec._freeze_copy(bytes(value) if value is not None else sec._contents())

    # ---- load and attach

    def load(self) -> "Object":
        """Load every autoload program and create the maps.

        On rejection raises a :class:`~bpfinspect.runtime.LibbpfError` whose
        ``.log`` is the verifier log of the rejected program and ``.program``
        its name.
        """
        self._check_open()
        if self.loaded:
            raise UsageError("the BPF object is already loaded")
        self._sync_sections_in()
        mark = journal.mark()
        for prog in self.programs.values():
            if prog._log_buf is not None:
                ctypes.memset(prog._log_buf, 0, 1)
        self._log_owner = None
        self._note_pins()
        res = lib().bpf_object__load(self._state.ptr)
        if res < 0:
            failed = self._failed_program(mark)
            self._log_owner = failed
            log = failed.log if failed is not None else ""
            what = f"loading {self.name}"
            if failed is not None:
                what += f": program '{failed.name}' (SEC(\"{failed.section}\")) rejected"
            exc = make_error(what, -res, since=mark, log=log, program=failed.name if failed else None)
            exc.reason = verifier_reason(log) if log else _last_meaningful_line(exc.libbpf_message)
            if exc.reason and exc.reason not in exc.message:
                exc.message += f": {exc.reason}"
            if -res == errno.ENOSPC and log:
                exc.message += (" (the verifier log filled its buffer and the kernel kept its end; "
                                "open with a larger log_size to see all of it)")
            raise exc
        self.loaded = True
        self._map_sections_out()
        return self

    def _note_pins(self) -> None:
        """Before load: the pins libbpf will make or reuse, and (``keep_pins=False``) the
        ones to remove at close because they do not exist yet."""
        L = lib()
        getter = L.bpf_map__pin_path or L.bpf_map__get_pin_path
        self.pins = []
        unpin = []
        for mp in self.maps.values():
            raw = getter(mp._ptr) if getter is not None else None
            if not raw:
                continue
            path = raw.decode("utf-8", "surrogateescape")
            existed = os.path.lexists(path)
            self.pins.append(Pin(mp.name, path, existed))
            if not existed:
                unpin.append((mp._ptr, path))
        if not self.keep_pins:
            self._state.unpin = unpin

    def _failed_program(self, mark: int):
        """Which program libbpf was loading when it gave up (from its messages, else from the logs)."""
        text = journal.text_since(mark)
        for prog in self.programs.values():
            for marker in ("BPF program load failed", "failed to load", "-- BEGIN PROG LOAD LOG"):
                if f"prog '{prog.name}': {marker}" in text:
                    return prog
        for prog in self.programs.values():
            if prog.log:
                return prog
        return None

    def attach(self, *, skip_unsupported: bool = True) -> dict[str, Link]:
        """Attach every loaded program whose section says where (``SEC("tp/sched/...")`` etc.).

        Programs with autoattach off, not loaded, or whose section gives no
        target (``SEC("kprobe")``) are skipped.  Returns {program name: Link}.
        """
        if not self.loaded:
            raise UsageError("load the object before attaching")
        links = {}
        for prog in self.programs.values():
            if prog.fd < 0 or not prog.autoattach or prog.links:
                continue
            try:
                links[prog.name] = prog.attach()
            except Exception as exc:
                if skip_unsupported and getattr(exc, "not_auto_attachable", False):
                    continue
                raise
        return links

    def detach(self) -> None:
        for link in list(self._state.links):
            link.destroy()
        for prog in self.programs.values():
            prog.links.clear()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("loaded" if self.loaded else "opened")
        return f"<Object {getattr(self, 'name', '?')} {state}>"


class Pin:
    """A map pinned by name: ``map`` (its name), ``path``, and whether the pin ``existed``
    before the load (libbpf then reused the map pinned there)."""

    __slots__ = ("map", "path", "existed")

    def __init__(self, map_name: str, path: str, existed: bool) -> None:
        self.map = map_name
        self.path = path
        self.existed = existed

    def __repr__(self) -> str:
        return f"<Pin {self.map} {self.path}{' (existed)' if self.existed else ''}>"


def verifier_reason(log: str) -> str:
    """The verifier's own explanation: the last log line that is not statistics or a source echo."""
    skip = ("processed ", "verification time", "stack depth", "max_states_per_insn", "-- ")
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        s = ln.strip()
        if s.startswith(skip) or s.startswith(";") or s.startswith("Live regs"):
            continue
        return s
    return ""


def verifier_stats(log: str) -> str:
    """The verifier's statistics line ('processed N insns (limit ...) ...'), or ''."""
    for ln in log.splitlines():
        if ln.startswith("processed ") and " insns" in ln:
            return ln.strip()
    return ""
