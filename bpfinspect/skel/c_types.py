"""C declarations and definitions of BTF types, as a user-space header needs them.

A thin layer over :class:`bpfinspect.btf.c_dump.CDeclarations` (the BTF to C
printer) with what a header compiled by gcc/g++ for the host needs on top:

* ``btf_type_tag``/``btf_decl_tag`` attributes are dropped (only clang
  targeting BPF knows them; gcc warns about unknown attributes);
* a ``typedef ... bool;`` (vmlinux.h has one) is left out: ``bool`` is a
  macro of ``<stdbool.h>``, which ``<bpf/libbpf.h>`` includes, and C++ has
  it built in;
* the definitions are wrapped so that ``-Wpedantic`` accepts what BTF
  legitimately describes but ISO C does not (64-bit enumerators, bit-fields
  of types other than ``int``, ``__attribute__((packed))``): they stand
  between ``#pragma GCC diagnostic push``/``pop`` with ``-Wpedantic``
  ignored, which gcc and clang both understand.
"""

from __future__ import annotations

import re

from bpfinspect.btf.c_dump import CDeclarations

# An attribute of one tag: the string may contain escaped quotes.
_TAG_ATTR = re.compile(r'\s*__attribute__\(\(btf_(?:type|decl)_tag\("(?:[^"\\]|\\.)*"\)\)\)')
# Names the headers a skeleton includes already define: <stdbool.h>'s macros, and the
# typedefs, struct/union/enum tags of <linux/types.h>, <linux/bpf.h> and <bpf/libbpf.h>
# (<linux/bpf.h> of kernels up to 6.x included). Redefining them would not compile.
_PROVIDED_TYPEDEFS = frozenset("""
bool true false
__be16 __be32 __be64 __le16 __le32 __le64 __poll_t __s16 __s32 __s64 __s8 __sum16 __u16 __u32 __u64 __u8 __wsum
""".split())
_PROVIDED_TAGS = frozenset("""
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
_TAG_BLOCK = re.compile(r"(?:struct|union|enum) (\w+)\b[^;]*\{")
_TYPEDEF_BLOCK = re.compile(r"typedef [^{]*?\b(\w+)(?:\[[^\]]*\])*;\s*")
def _cxx_only_keywords() -> frozenset:
    from bpfinspect.skel.c_model import _C_KEYWORDS
    from bpfinspect.skel.names import KEYWORDS
    return frozenset(KEYWORDS - _C_KEYWORDS)


_CXX_ONLY = _cxx_only_keywords()
_CXX_WORD = re.compile(r"\b(?:" + "|".join(sorted(_CXX_ONLY)) + r")\b")
# A member declarator's name (before ';', '[', ':' or ' =' at the end of a line) or an enumerator.
_CXX_MEMBER = re.compile(r"(?m)^(\t+(?:[^\n;]*[\s*)])?)(" + "|".join(sorted(_CXX_ONLY)) +
                         r")((?:\[[^\]\n]*\])*(?::\s*\d+)?;$|\s*=\s*[^\n]*,$)")
_CXX_FNPTR = re.compile(r"(?m)^(\t+[^\n]*?\(\*\s*)(" + "|".join(sorted(_CXX_ONLY)) + r")\)")
_EMPTY_RECORD = re.compile(r"(?:struct|union) \w+ \{\};")
# ISO C has no negative integer literals: -9223372036854775808LL is minus an out-of-range value.
_INT64_MIN = "-9223372036854775808LL"


def _strip_tags(text: str) -> str:
    if "btf_" not in text:
        return text
    return _TAG_ATTR.sub("", text)


def _cxx_member_names(block: str) -> str:
    """Members and enumerators named like C++-only keywords get ``_`` appended (C++ text only)."""
    if not _CXX_WORD.search(block):
        return block
    block = _CXX_MEMBER.sub(lambda m: m.group(1) + m.group(2) + "_" + m.group(3), block)
    return _CXX_FNPTR.sub(lambda m: m.group(1) + m.group(2) + "_)", block)


class Types:
    """Declarations (``decl``) and definitions (``definitions``) of one object's BTF types."""

    def __init__(self, btf, cxx: bool = False) -> None:
        self.btf = btf
        self.cd = CDeclarations(btf)
        if cxx:
            # C++ has one name space for tags and typedefs: let the printer's clash
            # suffixes (___2...) see both.
            self.cd.ident_counts = self.cd.tag_counts
        self._sized_enums = None
        self.cxx = cxx

    def decl(self, type_id: int, name: str, indent: int = 2, strip_mods: bool = True) -> str:
        return _strip_tags(self.cd.decl(type_id, name, indent, strip_mods=strip_mods))

    def sizeof(self, type_id: int) -> int:
        return self.cd.sizeof(type_id)

    def alignof(self, type_id: int) -> int:
        return self.cd.alignof(type_id)

    def definitions(self, type_ids) -> str:
        """C text defining every type ``type_ids`` need, ready for a host header."""
        ids = [t for t in dict.fromkeys(type_ids) if t]
        if not ids:
            return ""
        text = _strip_tags(self.cd.dependencies(ids))
        text = text.replace(_INT64_MIN, "(-9223372036854775807LL - 1)")
        blocks = [b for b in text.split("\n\n") if b.strip()]
        kept = []
        sized = self.sized_enums()
        for b in blocks:
            b = b.strip("\n")
            m = _TYPEDEF_BLOCK.fullmatch(b)
            if m and m.group(1) in _PROVIDED_TYPEDEFS:
                continue
            m = _TAG_BLOCK.match(b)
            if m:
                if m.group(1) in _PROVIDED_TAGS:
                    continue
                if b.startswith("enum ") and m.group(1) in sized and b.endswith("};"):
                    # An enum whose BTF size is not what C would choose for its values
                    # (packed enums; 64-bit enums from compilers without ENUM64).
                    mode, fixes = sized[m.group(1)]
                    for old, new in fixes:
                        b = b.replace(old, new)
                    b = b[:-1] + f" __attribute__((mode({mode})));"
                if self.cxx:
                    b = _cxx_member_names(b)
                if self.cxx and _EMPTY_RECORD.fullmatch(b):
                    # An empty struct has size 0 in GNU C but 1 in C++; a zero-length
                    # array member (a GNU extension g++ and clang++ share) keeps it at 0.
                    b = b[:-2] + "\n\tchar __empty[0];\n};"
            kept.append(b)
        return "\n\n".join(kept) + "\n" if kept else ""

    def sized_enums(self) -> dict[str, tuple[str, list]]:
        """Enum name -> machine mode for enums C would not give their BTF size by itself."""
        if self._sized_enums is None:
            from bpfinspect.btf import Kind
            out = {}
            btf = self.btf
            modes = {1: "__QI__", 2: "__HI__", 8: "__DI__"}
            for tid in btf.ids():
                k = btf.kind(tid)
                if k not in (Kind.ENUM, Kind.ENUM64):
                    continue
                size = btf.size(tid)
                if size not in modes:
                    continue
                name = self.cd.names.get(tid) or btf.name(tid)
                if not name:
                    continue
                values = [(v.name, v.value) for v in btf.type(tid).values]
                fixes = []
                if size == 8:
                    if any(not -(1 << 31) <= v < (1 << 32) for _, v in values):
                        continue  # C already needs 8 bytes for these values
                else:
                    lo, hi = -(1 << (8 * size - 1)), 1 << (8 * size)
                    for vname, v in values:
                        if not lo <= v < hi and (1 << 31) <= v < (1 << 32) and lo <= v - (1 << 32):
                            # Old compilers do not record signedness: a negative value
                            # reads as a large 32-bit unsigned one.
                            fixes.append((f"\t{vname} = {v},", f"\t{vname} = {v - (1 << 32)},"))
                        elif not lo <= v < hi:
                            break
                    else:
                        out[name] = (modes[size], fixes)
                    continue
                out[name] = (modes[size], fixes)
            self._sized_enums = out
        return self._sized_enums
