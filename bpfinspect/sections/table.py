"""libbpf's table of program section names, as data.

Each row is one entry of libbpf's table, in libbpf's order (the first row
that matches a name wins).  A pattern ending in ``+`` matches the bare name
or ``name/anything``; a pattern ending in ``/`` is a plain prefix; any other
pattern must match the whole name.

Columns:
    pattern      the table entry, as libbpf spells it
    prog_type    libbpf's lower-case program type name
    attach_type  libbpf's expected attach type name, or None when the entry
                 leaves it at 0 (no particular attach type)
    target       how the text after ``<prefix>/`` reads (a start rule of
                 targets.lark, see ``TARGET_KINDS``), or None when the entry
                 takes no target
    sleepable    the entry marks the program sleepable
    frags        the entry sets the XDP frags flag
    attach       libbpf has an attach routine for the entry, so a program
                 with a complete target is attached without extra input
    since        first libbpf release whose table accepts names of this entry
"""

from __future__ import annotations

from collections import namedtuple


class SecDef(namedtuple("SecDef", "pattern prog_type attach_type target sleepable frags attach since",
                        defaults=(None, False, False, False, "0.0.1"))):
    """One entry of libbpf's table (a named tuple: this module is imported by every command that
    reads section names, and a dataclass costs milliseconds of each start to define)."""
    __slots__ = ()

    @property
    def base(self) -> str:
        """The pattern without its trailing ``+``."""
        return self.pattern[:-1] if self.pattern.endswith("+") else self.pattern

    @property
    def attach_kind(self) -> str:
        """The kind of attach point, as the table's section names spell it (kprobe, kretprobe,
        uprobe, uretprobe, usdt, ksyscall, kprobe.multi, tp_btf, fentry, lsm, iter...): the
        pattern without ``+``, without the sleepable ``.s`` and with short aliases spelled out."""
        return attach_kind_of(self.pattern, self.sleepable)

    @property
    def retprobe(self) -> bool | None:
        """For the probe kinds: does libbpf attach the program at the function's return?
        (None for kinds where entry or return does not apply.)"""
        return RETPROBE.get(self.attach_kind)


# Probe kinds and whether libbpf makes them return probes (its attach routines set "retprobe"
# from the same prefixes; a session probe runs at entry and, by its return value, at return).
RETPROBE = {
    "kprobe": False, "kretprobe": True, "uprobe": False, "uretprobe": True,
    "kprobe.multi": False, "kretprobe.multi": True, "uprobe.multi": False, "uretprobe.multi": True,
    "kprobe.session": False, "uprobe.session": False,
    "ksyscall": False, "kretsyscall": True, "usdt": False,
}

_ALIASES = {"tp": "tracepoint", "raw_tp": "raw_tracepoint", "raw_tp.w": "raw_tracepoint.w"}


def attach_kind_of(pattern: str, sleepable: bool) -> str:
    base = pattern[:-1] if pattern.endswith(("+", "/")) else pattern
    if sleepable and base.endswith(".s"):
        base = base[:-2]
    return _ALIASES.get(base, base)


def _d(pattern, prog_type, attach_type=None, target=None, *, s=False, frags=False,
       attach=False, since="0.0.1") -> SecDef:
    return SecDef(pattern, prog_type, attach_type, target, s, frags, attach, since)


# Target kinds (start rules in targets.lark) and the part key each plain
# word-shaped target is reported under.
WORD_KEYS = {
    "raw_tp": "tracepoint",
    "tp_btf": "tracepoint",
    "lsm": "hook",
    "iter": "iter",
    "syscall": "syscall",
    "struct_ops": "program",
    "freplace": "function",
}

SECTION_TABLE: tuple[SecDef, ...] = (
    _d("socket", "socket_filter"),
    _d("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate", since="0.5"),
    _d("sk_reuseport", "sk_reuseport", "sk_reuseport_select", since="0.5"),
    _d("kprobe+", "kprobe", None, "kprobe", attach=True),
    _d("uprobe+", "kprobe", None, "uprobe", attach=True),
    _d("uprobe.s+", "kprobe", None, "uprobe", s=True, attach=True, since="1.0"),
    _d("kretprobe+", "kprobe", None, "kretprobe", attach=True),
    _d("uretprobe+", "kprobe", None, "uprobe", attach=True),
    _d("uretprobe.s+", "kprobe", None, "uprobe", s=True, attach=True, since="1.0"),
    _d("kprobe.multi+", "kprobe", "trace_kprobe_multi", "glob", attach=True, since="0.8"),
    _d("kretprobe.multi+", "kprobe", "trace_kprobe_multi", "glob", attach=True, since="0.8"),
    _d("kprobe.session+", "kprobe", "trace_kprobe_session", "glob", attach=True, since="1.5"),
    _d("uprobe.multi+", "kprobe", "trace_uprobe_multi", "uprobe_multi", attach=True, since="1.3"),
    _d("uretprobe.multi+", "kprobe", "trace_uprobe_multi", "uprobe_multi", attach=True,
       since="1.3"),
    _d("uprobe.session+", "kprobe", "trace_uprobe_session", "uprobe_multi", attach=True,
       since="1.6"),
    _d("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", "uprobe_multi", s=True, attach=True,
       since="1.3"),
    _d("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", "uprobe_multi", s=True,
       attach=True, since="1.3"),
    _d("uprobe.session.s+", "kprobe", "trace_uprobe_session", "uprobe_multi", s=True,
       attach=True, since="1.6"),
    _d("ksyscall+", "kprobe", None, "syscall", attach=True, since="1.0"),
    _d("kretsyscall+", "kprobe", None, "syscall", attach=True, since="1.0"),
    _d("usdt+", "kprobe", None, "usdt", attach=True, since="0.8"),
    _d("usdt.s+", "kprobe", None, "usdt", s=True, attach=True, since="1.7"),
    _d("tc/ingress", "sched_cls", "tcx_ingress", since="1.3"),
    _d("tc/egress", "sched_cls", "tcx_egress", since="1.3"),
    _d("tcx/ingress", "sched_cls", "tcx_ingress", since="1.3"),
    _d("tcx/egress", "sched_cls", "tcx_egress", since="1.3"),
    _d("tc", "sched_cls", since="0.6"),
    _d("classifier", "sched_cls"),
    _d("action", "sched_act"),
    _d("netkit/primary", "sched_cls", "netkit_primary", since="1.3"),
    _d("netkit/peer", "sched_cls", "netkit_peer", since="1.3"),
    _d("tracepoint+", "tracepoint", None, "tracepoint", attach=True),
    _d("tp+", "tracepoint", None, "tracepoint", attach=True),
    _d("tracepoint.s+", "tracepoint", None, "tracepoint", s=True, attach=True, since="1.8"),
    _d("tp.s+", "tracepoint", None, "tracepoint", s=True, attach=True, since="1.8"),
    _d("raw_tracepoint+", "raw_tracepoint", None, "raw_tp", attach=True),
    _d("raw_tp+", "raw_tracepoint", None, "raw_tp", attach=True),
    _d("raw_tracepoint.s+", "raw_tracepoint", None, "raw_tp", s=True, attach=True, since="1.8"),
    _d("raw_tp.s+", "raw_tracepoint", None, "raw_tp", s=True, attach=True, since="1.8"),
    _d("raw_tracepoint.w+", "raw_tracepoint_writable", None, "raw_tp", attach=True,
       since="0.0.3"),
    _d("raw_tp.w+", "raw_tracepoint_writable", None, "raw_tp", attach=True, since="0.0.3"),
    _d("tp_btf+", "tracing", "trace_raw_tp", "tp_btf", attach=True, since="0.0.6"),
    _d("tp_btf.s+", "tracing", "trace_raw_tp", "tp_btf", s=True, attach=True, since="1.8"),
    _d("fentry+", "tracing", "trace_fentry", "btf_func", attach=True, since="0.0.6"),
    _d("fmod_ret+", "tracing", "modify_return", "btf_func", attach=True, since="0.0.8"),
    _d("fexit+", "tracing", "trace_fexit", "btf_func", attach=True, since="0.0.6"),
    _d("fentry.s+", "tracing", "trace_fentry", "btf_func", s=True, attach=True, since="0.2"),
    _d("fmod_ret.s+", "tracing", "modify_return", "btf_func", s=True, attach=True, since="0.2"),
    _d("fexit.s+", "tracing", "trace_fexit", "btf_func", s=True, attach=True, since="0.2"),
    _d("fsession+", "tracing", "trace_fsession", "btf_func", attach=True, since="1.7"),
    _d("fsession.s+", "tracing", "trace_fsession", "btf_func", s=True, attach=True,
       since="1.7"),
    _d("fsession.multi+", "tracing", "trace_fsession_multi", "btf_multi", attach=True,
       since="1.8"),
    _d("fsession.multi.s+", "tracing", "trace_fsession_multi", "btf_multi", s=True,
       attach=True, since="1.8"),
    _d("fentry.multi+", "tracing", "trace_fentry_multi", "btf_multi", attach=True, since="1.8"),
    _d("fexit.multi+", "tracing", "trace_fexit_multi", "btf_multi", attach=True, since="1.8"),
    _d("fentry.multi.s+", "tracing", "trace_fentry_multi", "btf_multi", s=True, attach=True,
       since="1.8"),
    _d("fexit.multi.s+", "tracing", "trace_fexit_multi", "btf_multi", s=True, attach=True,
       since="1.8"),
    _d("freplace+", "ext", None, "freplace", since="0.0.7"),
    _d("lsm+", "lsm", "lsm_mac", "lsm", attach=True, since="0.0.8"),
    _d("lsm.s+", "lsm", "lsm_mac", "lsm", s=True, attach=True, since="0.2"),
    _d("lsm_cgroup+", "lsm", "lsm_cgroup", "lsm", since="1.0"),
    _d("iter+", "tracing", "trace_iter", "iter", attach=True, since="0.0.9"),
    _d("iter.s+", "tracing", "trace_iter", "iter", s=True, attach=True, since="0.7"),
    _d("syscall", "syscall", s=True, since="0.5"),
    _d("xdp.frags/devmap", "xdp", "xdp_devmap", frags=True, since="0.8"),
    _d("xdp/devmap", "xdp", "xdp_devmap", since="0.7"),
    _d("xdp.frags/cpumap", "xdp", "xdp_cpumap", frags=True, since="0.8"),
    _d("xdp/cpumap", "xdp", "xdp_cpumap", since="0.7"),
    _d("xdp.frags", "xdp", "xdp", frags=True, since="0.8"),
    _d("xdp", "xdp", "xdp"),
    _d("perf_event", "perf_event"),
    _d("lwt_in", "lwt_in"),
    _d("lwt_out", "lwt_out"),
    _d("lwt_xmit", "lwt_xmit"),
    _d("lwt_seg6local", "lwt_seg6local"),
    _d("sockops", "sock_ops", "cgroup_sock_ops"),
    _d("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser"),
    _d("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict"),
    _d("sk_skb/verdict", "sk_skb", "sk_skb_verdict", since="1.3"),
    _d("sk_skb", "sk_skb"),
    _d("sk_msg", "sk_msg", "sk_msg_verdict"),
    _d("lirc_mode2", "lirc_mode2", "lirc_mode2"),
    _d("flow_dissector", "flow_dissector", "flow_dissector"),
    _d("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress"),
    _d("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress"),
    _d("cgroup/skb", "cgroup_skb"),
    _d("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", since="0.1"),
    _d("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release", since="0.1"),
    _d("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create"),
    _d("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind"),
    _d("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind"),
    _d("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind"),
    _d("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind"),
    _d("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect"),
    _d("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect"),
    _d("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect", since="1.3"),
    _d("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg"),
    _d("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg"),
    _d("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg", since="1.3"),
    _d("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg", since="0.0.4"),
    _d("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg", since="0.0.4"),
    _d("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg", since="1.3"),
    _d("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername", since="0.0.9"),
    _d("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername", since="0.0.9"),
    _d("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername", since="1.3"),
    _d("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname", since="0.0.9"),
    _d("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname", since="0.0.9"),
    _d("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname", since="1.3"),
    _d("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", since="0.0.3"),
    _d("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", since="0.0.4"),
    _d("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt", since="0.0.4"),
    _d("cgroup/dev", "cgroup_device", "cgroup_device"),
    _d("struct_ops+", "struct_ops", None, "struct_ops", since="0.0.7"),
    _d("struct_ops.s+", "struct_ops", None, "struct_ops", s=True, since="1.4"),
    _d("sk_lookup", "sk_lookup", "sk_lookup", since="0.1"),
    _d("netfilter", "netfilter", "netfilter", since="1.2"),
)

# The libbpf release installed on the reference machine (Debian 12: libbpf1 1.1.2).
INSTALLED_LIBBPF = "1.1"


def version_key(version: str) -> tuple[int, ...]:
    """'0.0.7' -> (0, 0, 7); '1.3' -> (1, 3)."""
    return tuple(int(p) for p in version.split("."))
