"""The names a C skeleton gives an object's BTF types, members and enumerators.

The C printer writes what BTF says; a skeleton must write only names that
compile and mean nothing else.  So every name the skeleton's types are written
with is decided here, once per language, through the C quoting layer
(:mod:`bpfinspect.quote.c`); the printer asks for them through its identifier
hook (:class:`bpfinspect.skel.c_types.SkelNames`), one for the C text and one
for the C++ text of a header.  The rules, applied in type id order:

Tags (struct, union, enum) and file-scope identifiers (typedefs, enumerators;
in C++ the tags share their name space):
  * a name is made an identifier by :func:`bpfinspect.quote.c.ident` (other
    characters become ``_``; keywords, the includes' and compilers' macros and
    the skeleton's own macros get ``_`` appended), and must also avoid every
    name the includes declare at file scope;
  * a type the includes already define -- same tag kind or a typedef, and the
    same size on the generating machine -- keeps its name and is not defined
    again (``__u32``, ``struct bpf_spin_lock``, ``bool``...);  a tag the includes
    only declare (``struct bpf_map``) keeps its name and may be defined;
  * the first type to claim a name keeps it; a later one gets ``___2``,
    ``___3``... (bpftool's way), skipping names taken; forward declarations
    take the name of the definition they announce;
  * a name of the shape ``E___N`` where ``E`` is an enumerator of an anonymous
    enum gets ``_`` appended: the printer gives that shape to the enumerators
    of an anonymous enum it writes out more than once.

Members (per struct or union; members of anonymous struct/union members count
as the enclosing record's, as in C):
  * identifiers by the same rules (the includes' declarations do not matter
    here), unique in the record: a repeat gets ``_2``, ``_3``...;
  * an unnamed member that is not an anonymous struct/union (or a bit-field)
    is given a name, ``__unnamed_<position>``, since C would otherwise drop it;
    so is an anonymous struct/union member whose members clash with names in
    the record (or, in C++, with the record's own name);
  * in C++, members avoid the enumerators of anonymous enums (written inline,
    they belong to the record's scope there).

Integer and floating-point types keep their BTF spelling when it is a C
spelling of a type of that size (``long unsigned int``, ``_Bool``); otherwise
they are written as the C type of their size and signedness.  Parameter names
of function prototypes are left out.  Other names (variables, functions, tags)
are not printed by a skeleton but are made identifiers all the same.
"""

from __future__ import annotations

import re

from bpfinspect.btf import Kind
from bpfinspect.errors import MalformedInput
from bpfinspect.quote import c as qc

# Tags and typedefs that <bpf/libbpf.h> and <linux/bpf.h> (of kernels up to 6.x) define:
# kept and not defined again even where the generating machine's headers are older.
PROVIDED_TAGS = frozenset("""
__sk_buff bpf_adj_room_mode bpf_attach_type bpf_attr bpf_btf_info bpf_cgroup_dev_ctx bpf_cgroup_iter_order
bpf_cgroup_storage_key bpf_check_mtu_ret bpf_cmd bpf_core_relo bpf_core_relo_kind bpf_cpumap_val bpf_devmap_val
bpf_dynptr bpf_fib_lookup bpf_flow_keys bpf_func_id bpf_func_info bpf_hdr_start_off bpf_insn bpf_iter_attach_opts
bpf_iter_link_info bpf_kprobe_multi_opts bpf_kprobe_opts bpf_ksyscall_opts bpf_line_info bpf_link_info
bpf_link_type bpf_linker_file_opts bpf_linker_opts bpf_lpm_trie_key bpf_lpm_trie_key_hdr bpf_lpm_trie_key_u8
bpf_lwt_encap_mode bpf_map_info bpf_map_skeleton bpf_map_type bpf_object_open_opts bpf_object_skeleton
bpf_object_subskeleton bpf_perf_event_opts bpf_perf_event_ret bpf_perf_event_value bpf_pidns_info bpf_prog_info
bpf_prog_skeleton bpf_prog_type bpf_raw_tracepoint_args bpf_redir_neigh bpf_ret_code bpf_sk_lookup bpf_sock
bpf_sock_addr bpf_sock_ops bpf_sock_tuple bpf_sockopt bpf_spin_lock bpf_stack_build_id bpf_stack_build_id_status
bpf_stats_type bpf_sysctl bpf_task_fd_type bpf_tc_attach_point bpf_tc_flags bpf_tc_hook bpf_tc_opts bpf_tcp_sock
bpf_timer bpf_trace_opts bpf_tracepoint_opts bpf_tunnel_key bpf_uprobe_opts bpf_usdt_opts bpf_var_skeleton
bpf_xdp_attach_opts bpf_xdp_query_opts bpf_xdp_set_link_opts bpf_xdp_sock bpf_xfrm_state btf_ptr gen_loader_opts
libbpf_errno libbpf_print_level libbpf_prog_handler_opts libbpf_strict_mode libbpf_tristate perf_buffer_opts
perf_buffer_raw_opts ring_buffer_opts sk_action sk_msg_md sk_reuseport_md user_ring_buffer_opts xdp_action xdp_md
bpf_list_head bpf_list_node bpf_rb_root bpf_rb_node bpf_refcount bpf_wq bpf_iter_num bpf_res_spin_lock
bpf_task_work bpf_link_create_opts bpf_netfilter_opts bpf_tcx_opts bpf_netkit_opts bpf_token_create_opts
""".split())
# (name, size): typedefs of <linux/types.h> and <stdbool.h>'s bool.
PROVIDED_TYPEDEFS = {"bool": 1, "__s8": 1, "__u8": 1, "__s16": 2, "__u16": 2, "__s32": 4, "__u32": 4, "__s64": 8,
                     "__u64": 8, "__be16": 2, "__le16": 2, "__be32": 4, "__le32": 4, "__be64": 8, "__le64": 8,
                     "__sum16": 2, "__wsum": 4, "__poll_t": 4}

# C spellings of arithmetic types, as sets of words, and their sizes on an LP64 host.
_SPELLINGS: dict[frozenset, int] = {}
for _words, _size in (
        ("char", 1), ("signed char", 1), ("unsigned char", 1), ("_Bool", 1), ("bool", 1),
        ("short", 2), ("short int", 2), ("signed short", 2), ("signed short int", 2), ("unsigned short", 2),
        ("unsigned short int", 2),
        ("int", 4), ("signed", 4), ("signed int", 4), ("unsigned", 4), ("unsigned int", 4),
        ("long", 8), ("long int", 8), ("signed long", 8), ("signed long int", 8), ("unsigned long", 8),
        ("unsigned long int", 8),
        ("__int128", 16), ("signed __int128", 16), ("unsigned __int128", 16),
        ("float", 4), ("double", 8), ("long double", 16)):
    _SPELLINGS[frozenset(_words.split())] = _size
_INT_BY_SIZE = {(1, True): "signed char", (1, False): "unsigned char", (2, True): "short",
                (2, False): "unsigned short", (4, True): "int", (4, False): "unsigned int", (8, True): "long long",
                (8, False): "unsigned long long", (16, True): "__int128", (16, False): "unsigned __int128"}
_FLOAT_BY_SIZE = {4: "float", 8: "double", 16: "long double"}
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4

_TAG_KINDS = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD)
_SUFFIXED = re.compile(r"(.*)___(\d+)\Z")


def arithmetic_spelling(name: str, size: int) -> bool:
    """True when ``name`` is a C spelling of an integer or floating type of ``size`` bytes."""
    words = name.split()
    if not words or " ".join(words) != name:
        return False
    if words.count("long") >= 2:
        # (counted in words: a regular expression's word boundaries also stop at characters
        # that split() keeps inside a word -- ``long\x81long`` was found by fuzz_skel)
        rest = list(words)
        rest.remove("long")
        key = frozenset(rest)
        if len(rest) != len(key) or key not in _SPELLINGS or "long" not in key:
            return False
        return size == 8 and not key & {"double", "char", "short", "__int128", "_Bool", "bool", "float"}
    key = frozenset(words)
    return len(key) == len(words) and _SPELLINGS.get(key) == size


class _Taken(set):
    """The names taken in one scope, and for each ``(base, suffix)`` the number its next numbered
    form starts from: a scope only grows, so the first free ``base___N`` is never below it, and
    a name repeated N times costs N steps, not N**2 / 2 (found by fuzz_skel)."""

    __slots__ = ("next",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.next: dict[tuple[str, str], int] = {}


class _FileScope:
    """The names a file-scope name must avoid besides keywords and macros: the skeleton's own
    macros and everything the includes declare (as a container, for ``in``)."""

    def __init__(self, avoid: frozenset) -> None:
        self.avoid = avoid

    def __contains__(self, name) -> bool:
        return name in self.avoid or name in qc.header_names() or qc.header_tag(name) is not None


class BtfNames:
    """The names of one object's BTF in a skeleton's C (``cxx=False``) or C++ text.

    ``avoid``: more names nothing may take (the skeleton's own macros).
    """

    def __init__(self, btf, *, cxx: bool = False, avoid=()) -> None:
        self.btf = btf
        self.cxx = cxx
        self.avoid = frozenset(avoid)
        self._file_scope = _FileScope(self.avoid)
        self.names: dict[int, str] = {}            # type id -> its name in the text
        self.items: dict[tuple[int, int], str] = {}  # (type id, member/enumerator index) -> name
        self.provided: set[int] = set()           # types the includes define: not defined again
        self._tags_taken = _Taken()
        self._ords_taken = _Taken() if not cxx else self._tags_taken
        self._records: dict[int, frozenset] = {}  # record id -> every member name in its scope
        self._busy: set[int] = set()
        # by scope (member: 0, file: 1): raw name -> identifier, and the identifiers so made
        self._idents: tuple[dict, dict] = ({}, {})
        self._made: tuple[set, set] = (set(), set())
        self._name_everything()

    # -- the result --------------------------------------------------------------------------

    def provided_names(self) -> frozenset:
        return frozenset(self.names[t] for t in self.provided)

    # -- helpers -----------------------------------------------------------------------------

    def _reserved(self, name: str, file_scope: bool) -> bool:
        return qc.is_reserved(name, self.cxx, self._file_scope if file_scope else self.avoid)

    def _ident(self, raw: str, file_scope: bool) -> str:
        """The identifier of ``raw`` (the same raw name recurs: members named ``type`` or
        ``key`` in many records, so each answer is kept); known not to be reserved."""
        known = self._idents[file_scope]
        r = known.get(raw)
        if r is None:
            r = known[raw] = qc.ident(raw, cxx=self.cxx, extra=self._file_scope if file_scope else self.avoid)
            self._made[file_scope].add(r)
        return r

    def _unique(self, base: str, taken: _Taken, suffix: str, file_scope: bool, also=frozenset()) -> str:
        if base not in taken and base not in also and base in self._made[file_scope]:
            taken.add(base)   # (an identifier _ident made: not reserved)
            return base
        name = base
        if name in taken or name in also or self._reserved(name, file_scope):
            # (found by fuzz_skel: ``__builtin`` taken, then ``__builtin___2``... without end)
            base = qc.numbering_base(base, suffix)
            key = (base, suffix)
            n = taken.next.get(key, 2)
            name = f"{base}{suffix}{n}"
            while name in taken or name in also or self._reserved(name, file_scope):
                n += 1
                name = f"{base}{suffix}{n}"
            taken.next[key] = n + 1
        taken.add(name)
        return name

    def _anonymous(self, tid: int) -> bool:
        """Whether type ``tid`` has no name offset: what the printer writes inline (a type whose
        offset reads as an empty string is written by tag, like any named one)."""
        table = self.btf.table
        return not table.w[table.pos[tid]]

    def _size(self, tid: int) -> int | None:
        try:
            return self.btf.sizeof(tid)
        except MalformedInput:
            return None

    # -- the passes ---------------------------------------------------------------------------

    def _name_everything(self) -> None:
        btf = self.btf
        ids = btf.ids()
        kinds = btf.table.kind   # kind numbers by id
        # Tags: definitions first (in id order), then forward declarations join them.
        claimed: dict[tuple[str, str], str] = {}
        forwards = []
        for tid in btf.ids_of_kind(*_TAG_KINDS):
            k = kinds[tid]
            if self._anonymous(tid) and k != Kind.FWD:
                self.names[tid] = ""
                continue
            # (a name offset that reads as "" names the type all the same: the printer
            # writes it by tag, so it gets one; the quoting layer spells "" as "_"; so does a
            # forward declaration without a name, which C cannot write -- ``struct ;`` was found
            # by fuzz_skel -- and the kernel refuses)
            raw = btf.name(tid)
            kw = self._tag_keyword(tid, k)
            if k == Kind.FWD or (k in (Kind.ENUM, Kind.ENUM64) and not btf.vlen(tid)):
                forwards.append((tid, kw, raw))
                continue
            self.names[tid] = self._tag(tid, kw, raw, claimed, complete=True)
        for tid, kw, raw in forwards:
            self.names[tid] = claimed.get((kw, raw)) or self._tag(tid, kw, raw, claimed, complete=False)
        # C++ has no incomplete enum without an underlying type.  An enum only ever declared
        # (none of that name defined here or by the includes) gets ``enum NAME : int;``; one
        # defined too is written out in full where its declaration stands (forward_definitions:
        # declaration id -> the definition's), as ``enum NAME : int;`` could not meet a later
        # definition without a type.
        defined: dict[str, int] = {}
        for t in btf.ids_of_kind(Kind.ENUM, Kind.ENUM64):
            if btf.vlen(t):
                defined.setdefault(self.names[t], t)
        self.opaque_enums: list[int] = []
        self.forward_definitions: dict[int, int] = {}
        declared = set()
        for tid, kw, _raw in forwards:
            name = self.names[tid]
            if kw != "enum" or tid in self.provided:
                continue
            d = defined.get(name)
            if d is None:
                if name not in declared:
                    declared.add(name)
                    self.opaque_enums.append(tid)
            elif d not in self.provided:
                self.forward_definitions[tid] = d

        # File-scope identifiers: typedefs and enumerators, in id order.
        anon_enumerators: set[str] = set()
        for tid in btf.ids_of_kind(Kind.TYPEDEF, Kind.ENUM, Kind.ENUM64):
            k = kinds[tid]
            if k == Kind.TYPEDEF:
                self.names[tid] = self._typedef(tid, btf.name(tid))
            elif k in (Kind.ENUM, Kind.ENUM64):
                provided = tid in self.provided
                for i, v in enumerate(btf.type(tid).values):
                    if provided:
                        # not printed: the includes' enum stands in for it
                        self.items[(tid, i)] = qc.sanitize(v.name)
                        continue
                    name = self._unique(self._ident(v.name, True), self._ords_taken, "___", True)
                    self.items[(tid, i)] = name
                    if self._anonymous(tid):
                        anon_enumerators.add(name)
        self._free_printer_suffixes(ids, kinds, anon_enumerators)

        # Members of records are named when a record is first asked about (:meth:`member`):
        # their names are the record's own scope (anonymous members' names counting as its), so
        # the order records are named in changes none of them, and a skeleton without --types
        # writes few records of many.
        self._anon_enumerators = anon_enumerators

        # Arithmetic types.  (Parameters go unnamed; functions, variables and data sections are
        # never written by name: theirs are not asked for.)
        for tid in btf.ids_of_kind(Kind.INT, Kind.FLOAT):
            self.names[tid] = self._arithmetic(tid, kinds[tid])

    def member(self, record: int, index: int) -> str:
        """The name member ``index`` of struct or union ``record`` has in the text ("" for one
        written without a name)."""
        name = self.items.get((record, index))
        if name is None:
            if record not in self._records:
                self._record(record)
            name = self.items.get((record, index), "")
        return name

    def _tag_keyword(self, tid: int, k: Kind) -> str:
        if k == Kind.FWD:
            return "union" if self.btf.kflag(tid) else "struct"
        return {Kind.STRUCT: "struct", Kind.UNION: "union"}.get(k, "enum")

    def _tag(self, tid: int, kw: str, raw: str, claimed: dict, complete: bool) -> str:
        key = (kw, raw)
        if key not in claimed:
            header = qc.header_tag(raw)
            keep = False
            if raw in PROVIDED_TAGS and qc.is_ident(raw):
                keep = header is None or header[0] == kw
                if keep and complete and header is not None and header[1] is not None:
                    # the object's own version of an included type (an older or newer kernel's, an
                    # ENUM64 where the includes have a 4-byte enum): its own definition, renamed
                    keep = self._size(tid) == header[1]
                provided = keep
            elif header is not None and header[0] == kw:
                size = self._size(tid) if complete else None
                provided = header[1] is not None and (not complete or size == header[1])
                keep = provided or header[1] is None   # the includes only declare it: defining is fine
            if keep and raw not in self._tags_taken and not qc.is_reserved(raw, self.cxx, self.avoid):
                self._tags_taken.add(raw)
                if provided:
                    self.provided.add(tid)
                claimed[key] = raw
                return raw
        name = self._unique(self._ident(raw, True), self._tags_taken, "___", True)
        claimed.setdefault(key, name)
        return name

    def _typedef(self, tid: int, raw: str) -> str:
        if not raw:
            # C has no typedef without a name, and the kernel's BTF check refuses one
            raise MalformedInput(f"BTF typedef [{tid}] has no name: a skeleton cannot declare it",
                                 path=self.btf.path, section=".BTF")
        want = PROVIDED_TYPEDEFS.get(raw)
        if want is None:
            want = qc.header_typedef_size(raw)
        if want is not None and raw not in self._ords_taken and self._size(self.btf.ref(tid)) == want:
            self._ords_taken.add(raw)
            self.provided.add(tid)
            return raw
        return self._unique(self._ident(raw, True), self._ords_taken, "___", True)

    def _free_printer_suffixes(self, ids, kinds, anon_enumerators: set) -> None:
        """Names like ``E___2`` (E an anonymous enum's enumerator) get ``_`` appended: the
        printer gives them to E where it writes that enum out again."""
        if not anon_enumerators:
            return   # (no name clashes with one)

        def clashes(name: str) -> bool:
            m = _SUFFIXED.match(name)
            return bool(m) and m.group(1) in anon_enumerators and int(m.group(2)) >= 2

        for tid in ids:
            if kinds[tid] == Kind.TYPEDEF or (self.cxx and kinds[tid] in _TAG_KINDS):
                name = self.names.get(tid, "")
                if name and clashes(name) and tid not in self.provided:
                    while clashes(name) or name in self._ords_taken:
                        name += "_"
                    self._ords_taken.add(name)
                    self.names[tid] = name
            elif kinds[tid] in (Kind.ENUM, Kind.ENUM64) and not self._anonymous(tid) and tid not in self.provided:
                for i in range(self.btf.vlen(tid)):
                    name = self.items[(tid, i)]
                    if clashes(name):
                        while clashes(name) or name in self._ords_taken:
                            name += "_"
                        self._ords_taken.add(name)
                        self.items[(tid, i)] = name

    def _record(self, tid: int) -> frozenset:
        """Name the members of record ``tid``; every name in its scope (for a parent)."""
        done = self._records.get(tid)
        if done is not None:
            return done
        if tid in self._busy:
            return frozenset()   # a record containing itself: the printer refuses it anyway
        self._busy.add(tid)
        btf = self.btf
        t = btf.type(tid)
        scope = _Taken()
        reserved_members = self._anon_enumerators if self.cxx else frozenset()
        own = self.names.get(tid, "")
        for i, m in enumerate(t.members):
            name = ""
            if m.name:
                name = self._unique(self._ident(m.name, False), scope, "_", False, reserved_members)
            else:
                mt = m.type if btf.valid(m.type) else 0
                mk = btf.kind(mt) if mt else Kind.UNKN
                if mk in (Kind.STRUCT, Kind.UNION) and self._anonymous(mt):
                    inner = self._record(mt)
                    if not inner or inner & scope or (self.cxx and own in inner) or inner & reserved_members:
                        name = self._unique(f"__unnamed_{i}", scope, "_", False, reserved_members)
                    else:
                        scope |= inner
                elif not (t.kflag and m.bitfield_size):
                    name = self._unique(f"__unnamed_{i}", scope, "_", False, reserved_members)
            self.items[(tid, i)] = name
        self._busy.discard(tid)
        result = frozenset(scope)
        self._records[tid] = result
        return result

    def _arithmetic(self, tid: int, k: Kind) -> str:
        t = self.btf.type(tid)
        size = t.size
        if arithmetic_spelling(t.name, size):
            return t.name
        if k == Kind.FLOAT:
            return _FLOAT_BY_SIZE.get(size, "double")
        enc = t.int_encoding
        if enc & INT_BOOL and size == 1:
            return "_Bool"
        if enc & INT_CHAR and size == 1:
            return "char"
        return _INT_BY_SIZE.get((size, bool(enc & INT_SIGNED)), "unsigned char")
