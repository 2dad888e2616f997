"""Section names: our reading of libbpf's table against libbpf itself and the UAPI."""

from __future__ import annotations

import glob
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bpfinspect.sections import (
    INSTALLED_LIBBPF,
    SECTION_TABLE,
    installed_libbpf_accepts,
    is_program_section,
    match_entry,
    parse_section,
    program_type_of,
    version_key,
)
from sections_util import (
    BPF_H,
    Libbpf,
    attach_type_enum_name,
    generated_names,
    kernel_enums,
    libbpf_type_names,
    prog_type_enum_name,
    section_names_of_objects,
    uapi_enums,
)

REPO = Path(__file__).resolve().parent.parent

# name -> expected (known, prog_type, attach_type, pattern, target, parts, sleepable,
#                   autoload, auto_attach, frags, has_error)
CASES = {
    "kprobe/do_unlinkat": (True, "kprobe", None, "kprobe+", "do_unlinkat",
                           (("function", "do_unlinkat"),), False, True, True, False, False),
    "kprobe/do_unlinkat+0x10": (True, "kprobe", None, "kprobe+", "do_unlinkat+0x10",
                                (("function", "do_unlinkat"), ("offset", "0x10")),
                                False, True, True, False, False),
    "kretprobe/do_unlinkat": (True, "kprobe", None, "kretprobe+", "do_unlinkat",
                              (("function", "do_unlinkat"),), False, True, True, False, False),
    "kretprobe/do_unlinkat+4": (True, "kprobe", None, "kretprobe+", "do_unlinkat+4", (),
                                False, True, False, False, True),
    "?kprobe/x": (True, "kprobe", None, "kprobe+", "x", (("function", "x"),),
                  False, False, True, False, False),
    "kprobe": (True, "kprobe", None, "kprobe+", None, (), False, True, False, False, False),
    "uprobe": (True, "kprobe", None, "uprobe+", None, (), False, True, False, False, False),
    "tp": (True, "tracepoint", None, "tp+", None, (), False, True, False, False, False),
    "usdt": (True, "kprobe", None, "usdt+", None, (), False, True, False, False, False),
    "uprobe//usr/lib/libc.so.6:malloc": (
        True, "kprobe", None, "uprobe+", "/usr/lib/libc.so.6:malloc",
        (("path", "/usr/lib/libc.so.6"), ("function", "malloc")), False, True, True, False,
        False),
    "uprobe.s//usr/bin/bash:readline": (
        True, "kprobe", None, "uprobe.s+", "/usr/bin/bash:readline",
        (("path", "/usr/bin/bash"), ("function", "readline")), True, True, True, False, False),
    "uretprobe/libc.so.6:malloc+0x8": (
        True, "kprobe", None, "uretprobe+", "libc.so.6:malloc+0x8",
        (("path", "libc.so.6"), ("function", "malloc"), ("offset", "0x8")),
        False, True, True, False, False),
    "uprobe/libc.so.6:0x1234": (
        True, "kprobe", None, "uprobe+", "libc.so.6:0x1234",
        (("path", "libc.so.6"), ("offset", "0x1234")), False, True, True, False, False),
    "uprobe/nocolon": (True, "kprobe", None, "uprobe+", "nocolon", (), False, True, False,
                       False, True),
    "usdt/./a.out:prov:probe": (
        True, "kprobe", None, "usdt+", "./a.out:prov:probe",
        (("path", "./a.out"), ("provider", "prov"), ("name", "probe")),
        False, True, True, False, False),
    "usdt.s/libc.so.6:libc:setjmp": (
        True, "kprobe", None, "usdt.s+", "libc.so.6:libc:setjmp",
        (("path", "libc.so.6"), ("provider", "libc"), ("name", "setjmp")),
        True, True, True, False, False),
    "kprobe.multi/do_*": (True, "kprobe", "trace_kprobe_multi", "kprobe.multi+", "do_*",
                          (("glob", "do_*"),), False, True, True, False, False),
    "kprobe.session/bpf_fentry_test?": (
        True, "kprobe", "trace_kprobe_session", "kprobe.session+", "bpf_fentry_test?",
        (("glob", "bpf_fentry_test?"),), False, True, True, False, False),
    "uprobe.multi//usr/bin/bash:read*": (
        True, "kprobe", "trace_uprobe_multi", "uprobe.multi+", "/usr/bin/bash:read*",
        (("path", "/usr/bin/bash"), ("glob", "read*")), False, True, True, False, False),
    "ksyscall/openat": (True, "kprobe", None, "ksyscall+", "openat",
                        (("syscall", "openat"),), False, True, True, False, False),
    "fentry/bpf_testmod:bpf_testmod_test_read": (
        True, "tracing", "trace_fentry", "fentry+", "bpf_testmod:bpf_testmod_test_read",
        (("module", "bpf_testmod"), ("function", "bpf_testmod_test_read")),
        False, True, True, False, False),
    "fexit/do_unlinkat": (True, "tracing", "trace_fexit", "fexit+", "do_unlinkat",
                          (("function", "do_unlinkat"),), False, True, True, False, False),
    "fmod_ret.s/x": (True, "tracing", "modify_return", "fmod_ret.s+", "x",
                     (("function", "x"),), True, True, True, False, False),
    "freplace/handler": (True, "ext", None, "freplace+", "handler",
                         (("function", "handler"),), False, True, False, False, False),
    "tp/sched/sched_process_exec": (
        True, "tracepoint", None, "tp+", "sched/sched_process_exec",
        (("category", "sched"), ("name", "sched_process_exec")), False, True, True, False,
        False),
    "tracepoint/syscalls/sys_enter_openat": (
        True, "tracepoint", None, "tracepoint+", "syscalls/sys_enter_openat",
        (("category", "syscalls"), ("name", "sys_enter_openat")), False, True, True, False,
        False),
    "tp/sched": (True, "tracepoint", None, "tp+", "sched", (), False, True, False, False, True),
    "tp_btf/sched_switch": (True, "tracing", "trace_raw_tp", "tp_btf+", "sched_switch",
                            (("tracepoint", "sched_switch"),), False, True, True, False,
                            False),
    "raw_tp/sched_switch": (True, "raw_tracepoint", None, "raw_tp+", "sched_switch",
                            (("tracepoint", "sched_switch"),), False, True, True, False,
                            False),
    "raw_tp.w/foo": (True, "raw_tracepoint_writable", None, "raw_tp.w+", "foo",
                     (("tracepoint", "foo"),), False, True, True, False, False),
    "lsm.s/file_open": (True, "lsm", "lsm_mac", "lsm.s+", "file_open",
                        (("hook", "file_open"),), True, True, True, False, False),
    "lsm_cgroup/socket_bind": (True, "lsm", "lsm_cgroup", "lsm_cgroup+", "socket_bind",
                               (("hook", "socket_bind"),), False, True, False, False, False),
    "iter/task": (True, "tracing", "trace_iter", "iter+", "task", (("iter", "task"),),
                  False, True, True, False, False),
    "iter.s/task_vma": (True, "tracing", "trace_iter", "iter.s+", "task_vma",
                        (("iter", "task_vma"),), True, True, True, False, False),
    "struct_ops/x": (True, "struct_ops", None, "struct_ops+", "x", (("program", "x"),),
                     False, True, False, False, False),
    "struct_ops.s/init": (True, "struct_ops", None, "struct_ops.s+", "init",
                          (("program", "init"),), True, True, False, False, False),
    "syscall": (True, "syscall", None, "syscall", None, (), True, True, False, False, False),
    "socket": (True, "socket_filter", None, "socket", None, (), False, True, False, False,
               False),
    "tc": (True, "sched_cls", None, "tc", None, (), False, True, False, False, False),
    "classifier": (True, "sched_cls", None, "classifier", None, (), False, True, False, False,
                   False),
    "action": (True, "sched_act", None, "action", None, (), False, True, False, False, False),
    "tc/ingress": (True, "sched_cls", "tcx_ingress", "tc/ingress", None, (), False, True,
                   False, False, False),
    "tcx/egress": (True, "sched_cls", "tcx_egress", "tcx/egress", None, (), False, True, False,
                   False, False),
    "netkit/primary": (True, "sched_cls", "netkit_primary", "netkit/primary", None, (), False,
                       True, False, False, False),
    "xdp": (True, "xdp", "xdp", "xdp", None, (), False, True, False, False, False),
    "xdp.frags": (True, "xdp", "xdp", "xdp.frags", None, (), False, True, False, True, False),
    "xdp.frags/devmap": (True, "xdp", "xdp_devmap", "xdp.frags/devmap", None, (), False, True,
                         False, True, False),
    "xdp/cpumap": (True, "xdp", "xdp_cpumap", "xdp/cpumap", None, (), False, True, False,
                   False, False),
    "sk_skb/verdict": (True, "sk_skb", "sk_skb_verdict", "sk_skb/verdict", None, (), False,
                       True, False, False, False),
    "sk_skb/stream_parser": (True, "sk_skb", "sk_skb_stream_parser", "sk_skb/stream_parser",
                             None, (), False, True, False, False, False),
    "sockops": (True, "sock_ops", "cgroup_sock_ops", "sockops", None, (), False, True, False,
                False, False),
    "cgroup/connect4": (True, "cgroup_sock_addr", "cgroup_inet4_connect", "cgroup/connect4",
                        None, (), False, True, False, False, False),
    "cgroup/sendmsg6": (True, "cgroup_sock_addr", "cgroup_udp6_sendmsg", "cgroup/sendmsg6",
                        None, (), False, True, False, False, False),
    "cgroup/connect_unix": (True, "cgroup_sock_addr", "cgroup_unix_connect",
                            "cgroup/connect_unix", None, (), False, True, False, False, False),
    "cgroup/sock": (True, "cgroup_sock", "cgroup_inet_sock_create", "cgroup/sock", None, (),
                    False, True, False, False, False),
    "cgroup/skb": (True, "cgroup_skb", None, "cgroup/skb", None, (), False, True, False, False,
                   False),
    "cgroup_skb/egress": (True, "cgroup_skb", "cgroup_inet_egress", "cgroup_skb/egress", None,
                          (), False, True, False, False, False),
    "cgroup/dev": (True, "cgroup_device", "cgroup_device", "cgroup/dev", None, (), False, True,
                   False, False, False),
    "sk_reuseport/migrate": (True, "sk_reuseport", "sk_reuseport_select_or_migrate",
                             "sk_reuseport/migrate", None, (), False, True, False, False,
                             False),
    "sk_lookup": (True, "sk_lookup", "sk_lookup", "sk_lookup", None, (), False, True, False,
                  False, False),
    "netfilter": (True, "netfilter", "netfilter", "netfilter", None, (), False, True, False,
                  False, False),
    "lwt_seg6local": (True, "lwt_seg6local", None, "lwt_seg6local", None, (), False, True,
                      False, False, False),
    # wrongly used known prefixes and unknown names
    "tc/x": (False, None, None, None, None, (), False, True, False, False, True),
    "xdp/foo": (False, None, None, None, None, (), False, True, False, False, True),
    "cgroup/foo": (False, None, None, None, None, (), False, True, False, False, True),
    "kprobex/foo": (False, None, None, None, None, (), False, True, False, False, False),
    "foo/bar": (False, None, None, None, None, (), False, True, False, False, False),
    "socket1": (False, None, None, None, None, (), False, True, False, False, True),
    "socket/2": (False, None, None, None, None, (), False, True, False, False, True),
    "xdp_devmap/x": (False, None, None, None, None, (), False, True, False, False, True),
    "?foo": (False, None, None, None, None, (), False, False, False, False, False),
    ".text": (False, None, None, None, None, (), False, True, False, False, False),
}

FIELDS = ("known", "prog_type", "attach_type", "pattern", "target", "parts", "sleepable",
          "autoload", "auto_attach", "frags")


@pytest.mark.parametrize("name", sorted(CASES))
def test_section_table(name):
    spec = parse_section(name)
    expected = CASES[name]
    got = tuple(getattr(spec, f) for f in FIELDS)
    assert got == expected[:10], name
    assert (spec.error is not None) == expected[10], (name, spec.error)
    assert spec.name == name
    assert program_type_of(name) == expected[1]


def test_spec_is_frozen_and_cached():
    a = parse_section("kprobe/do_unlinkat")
    assert a is parse_section("kprobe/do_unlinkat")
    with pytest.raises(AttributeError):
        a.known = False  # type: ignore[misc]
    assert a.part("function") == "do_unlinkat" and a.part("offset") is None


def test_first_match_wins_and_plus_rule():
    # '+' entries need the bare name or a '/' right after it.
    assert match_entry("kprobe.multi/x").pattern == "kprobe.multi+"
    assert match_entry("kprobex") is None
    assert match_entry("uprobe.multi.s/x").pattern == "uprobe.multi.s+"
    # exact entries take nothing after them; earlier rows win over later ones.
    assert match_entry("sk_reuseport/migrate").pattern == "sk_reuseport/migrate"
    assert match_entry("cgroup/sock").pattern == "cgroup/sock"
    assert match_entry("cgroup/sock_create").pattern == "cgroup/sock_create"


def test_program_sections_and_versions():
    assert is_program_section("kprobe/x") and is_program_section("foo")
    assert not is_program_section(".text")
    assert installed_libbpf_accepts(parse_section("xdp"))
    assert not installed_libbpf_accepts(parse_section("tcx/ingress"))
    assert not installed_libbpf_accepts(parse_section("foo/bar"))
    assert parse_section("netfilter").supported_by_installed is False
    for entry in SECTION_TABLE:
        version_key(entry.since)  # every version reads as numbers


def test_lark_grammar_is_packaged_and_parser_cached():
    from bpfinspect.sections import spec as mod

    assert (REPO / "bpfinspect" / "sections" / "targets.lark").is_file()
    assert mod._parser() is mod._parser()
    # Reading many distinct names stays cheap.
    names = [f"kprobe/func_{i}+{i}" for i in range(300)]
    t0 = time.perf_counter()
    for n in names:
        assert parse_section(n).part("offset") == str(names.index(n))
    assert time.perf_counter() - t0 < 3.0


def _all_names_we_emit():
    prog = {e.prog_type for e in SECTION_TABLE}
    attach = {e.attach_type for e in SECTION_TABLE if e.attach_type}
    return prog, attach


def test_names_match_kernel_uapi():
    """Every program/attach type name we give is an enum member of the UAPI.

    Names older than the installed header (Linux 6.1) must be in it; newer
    ones must be in the running kernel's BTF; names newer than this kernel
    must belong to table rows of libbpf releases after 1.6.
    """
    assert BPF_H.is_file(), "linux-libc-dev provides /usr/include/linux/bpf.h"
    uapi_prog, uapi_attach = uapi_enums()
    kern_prog, kern_attach = kernel_enums()
    prog, attach = _all_names_we_emit()
    for p in prog:
        enum = prog_type_enum_name(p)
        assert enum in uapi_prog or enum in kern_prog, p
    newer_than_kernel = set()
    for a in attach:
        enum = attach_type_enum_name(a)
        if enum not in uapi_attach and enum not in kern_attach:
            newer_than_kernel.add(a)
    for entry in SECTION_TABLE:
        if entry.attach_type in newer_than_kernel:
            assert version_key(entry.since) >= (1, 7), entry
    # Rows the installed libbpf knows only use names the installed header has.
    for entry in SECTION_TABLE:
        if version_key(entry.since) <= version_key(INSTALLED_LIBBPF):
            assert prog_type_enum_name(entry.prog_type) in uapi_prog, entry
            if entry.attach_type:
                assert attach_type_enum_name(entry.attach_type) in uapi_attach, entry


@pytest.fixture(scope="module")
def libbpf():
    lib = Libbpf()
    yield lib
    lib.close()


def _reference_names():
    bases = sorted({e.base.rstrip("/") for e in SECTION_TABLE})
    extra = ["xdp_devmap/x", "xdp_cpumap/x", "cgroup_skb", "sk_msg/x", "socket/x",
             "socketx", "perf_event/x", "lsm", "lsm/", "?kprobe/x", "?xdp", "??xdp",
             "kprobe//", "tp//", "fentry/vmlinux:do_unlinkat", "uprobe.s", "raw_tp.w",
             "license", "maps", ".maps", ".data", ".rodata", ".bss", ".BTF", ".text"]
    objects = [Path(p) for p in sorted(
        glob.glob(str(REPO / "fixtures" / "*.bpf.o"))
        + glob.glob("/usr/lib/x86_64-linux-gnu/bpf/*.o") + glob.glob("/usr/lib/bpf/*.o")
        + glob.glob("/usr/share/gocode/src/github.com/cilium/ebpf/**/testdata/*.elf",
                    recursive=True))]
    real = section_names_of_objects(objects)
    return sorted(set(generated_names(bases)) | set(extra) | real), real


def test_against_installed_libbpf(libbpf):
    """libbpf 1.1 itself decides: same program and attach type, same acceptance."""
    assert libbpf.version() == "v" + INSTALLED_LIBBPF
    uapi_prog, uapi_attach = uapi_enums()
    names, real = _reference_names()
    assert len(names) > 2000 and len(real) > 20
    accepted = rejected_newer = rejected_unknown = 0
    for name in names:
        spec = parse_section(name)
        bare = name[1:] if name.startswith("?") else name
        ref = libbpf.prog_type_by_name(bare)
        ours = installed_libbpf_accepts(spec)
        assert (ref is not None) == ours, (name, ref, spec.pattern, spec.libbpf_since)
        if ref is None:
            if spec.known:
                rejected_newer += 1
            else:
                rejected_unknown += 1
            continue
        accepted += 1
        pt, at = ref
        assert pt == uapi_prog[prog_type_enum_name(spec.prog_type)], name
        if spec.attach_type is None:
            assert at == 0, name
        else:
            assert at == uapi_attach[attach_type_enum_name(spec.attach_type)], name
        lib_pt, lib_at = libbpf_type_names(libbpf, pt, at)
        assert lib_pt == spec.prog_type, name
        if spec.attach_type is not None:
            assert lib_at == spec.attach_type, name
    assert accepted > 300 and rejected_newer > 50 and rejected_unknown > 500, (
        accepted, rejected_newer, rejected_unknown)


def test_rows_after_installed_release_are_rejected_by_it(libbpf):
    for entry in SECTION_TABLE:
        names = [entry.base]
        if entry.pattern.endswith("+"):
            names.append(entry.base + "/x")
        for name in names:
            newer = version_key(entry.since) > version_key(INSTALLED_LIBBPF)
            assert (libbpf.prog_type_by_name(name) is None) == newer, (name, entry.since)


@settings(max_examples=3000, deadline=None)
@given(start=st.sampled_from([("word", "raw_tp"), ("word", "lsm"), ("kprobe", "kprobe"), ("kprobe", "kretprobe"),
                              ("tracepoint", "tracepoint")]),
       text=st.text(alphabet="aZ_.09+xX/:*? \n-", max_size=14))
def test_plain_target_shapes_read_as_the_grammar_reads_them(start, text):
    """A target the plain patterns read gets the parts the grammar gives it; one they do not read
    goes to the grammar (so every answer is the grammar's)."""
    from bpfinspect.sections.spec import _grammar_parts, _plain_parts

    plain = _plain_parts(start[0], start[1], text)
    if plain is not None:
        assert _grammar_parts(start[0], start[1], text) == plain, (start, text)


@pytest.mark.parametrize("start,kind,text", [("kprobe", "kprobe", "do_unlinkat"), ("kprobe", "kprobe", "f+0x10"),
                                             ("kprobe", "kprobe", "f.isra.0+16"), ("tracepoint", "tracepoint", "a/b/c"),
                                             ("word", "raw_tp", "sys_exit"), ("word", "lsm", "file open")])
def test_plain_target_shapes_are_taken(start, kind, text):
    from bpfinspect.sections.spec import _grammar_parts, _plain_parts

    assert _plain_parts(start, kind, text) is not None
    assert _plain_parts(start, kind, text) == _grammar_parts(start, kind, text)


def test_lark_only_loaded_for_targets():
    import subprocess
    import sys

    code = ("import sys\n"
            "from bpfinspect.sections import parse_section, program_type_of\n"
            "parse_section('xdp'); parse_section('kprobe'); parse_section('foo/bar')\n"
            "program_type_of('kprobe/do_unlinkat')\n"
            # the plain shapes read without the grammar
            "parse_section('kprobe/do_unlinkat+0x10'); parse_section('tp/sched/sched_switch')\n"
            "parse_section('raw_tp/sys_exit')\n"
            "assert 'lark' not in sys.modules\n"
            "parse_section('uprobe//bin/bash:readline')\n"
            "assert 'lark' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ---------------------------------------------------------------- attach kinds

# libbpf's attach routines: the prefixes that make a return probe (attach_kprobe, attach_uprobe,
# attach_ksyscall, attach_kprobe_multi, attach_uprobe_multi), and the session kinds (entry and return)
_PROBE_FACTS = {
    "kprobe/do_unlinkat": ("kprobe", False), "kretprobe/do_unlinkat": ("kretprobe", True),
    "uprobe//bin/bash:readline": ("uprobe", False), "uretprobe//bin/bash:readline": ("uretprobe", True),
    "uprobe.s//bin/bash:readline": ("uprobe", False), "uretprobe.s//bin/bash:readline": ("uretprobe", True),
    "usdt//usr/lib/libc.so.6:libc:setjmp": ("usdt", False), "usdt": ("usdt", False),
    "ksyscall/openat": ("ksyscall", False), "kretsyscall/openat": ("kretsyscall", True),
    "kprobe.multi/vfs_*": ("kprobe.multi", False), "kretprobe.multi/vfs_*": ("kretprobe.multi", True),
    "uprobe.multi//bin/bash:read*": ("uprobe.multi", False),
    "uretprobe.multi//bin/bash:read*": ("uretprobe.multi", True),
    "kprobe.session/vfs_*": ("kprobe.session", False),
    "tp_btf/sched_wakeup": ("tp_btf", None), "fentry/do_unlinkat": ("fentry", None),
    "fexit/do_unlinkat": ("fexit", None), "fmod_ret/do_unlinkat": ("fmod_ret", None),
    "fentry.s/do_unlinkat": ("fentry", None), "lsm/file_open": ("lsm", None), "lsm.s/file_open": ("lsm", None),
    "iter/task": ("iter", None), "tp/sched/sched_switch": ("tracepoint", None),
    "raw_tp/sys_exit": ("raw_tracepoint", None), "xdp": ("xdp", None), "socket": ("socket", None),
}


@pytest.mark.parametrize("name", sorted(_PROBE_FACTS))
def test_attach_kind_and_retprobe(name):
    from bpfinspect.sections import parse_section

    spec = parse_section(name)
    assert (spec.attach_kind, spec.retprobe) == _PROBE_FACTS[name]
    # the kind names a section prefix libbpf's table knows, and the same program type
    assert parse_section(spec.attach_kind).prog_type == spec.prog_type or spec.attach_kind == "usdt"


def test_attach_kind_is_a_prefix_of_every_known_name_in_the_fixture():
    from bpfinspect.obj import open_object

    from conftest import FIXTURES

    for p in open_object(FIXTURES / "sections.bpf.o").programs:
        spec = p.spec
        if spec is None or not spec.known:
            continue
        aliases = {"tracepoint": ("tp", "tracepoint"), "raw_tracepoint": ("raw_tp", "raw_tracepoint"),
                   "raw_tracepoint.w": ("raw_tp.w", "raw_tracepoint.w")}
        bare = spec.name.lstrip("?")
        assert bare.startswith(aliases.get(spec.attach_kind, (spec.attach_kind,))), (bare, spec.attach_kind)


def test_match_entry_is_the_first_matching_entry_of_the_table():
    """The index by first word finds what a scan of libbpf's table in order finds, for every
    pattern with every kind of continuation and for random names."""
    import random

    from bpfinspect.sections import spec
    from bpfinspect.sections.table import SECTION_TABLE

    def scan(name):
        return next((e for e in SECTION_TABLE if spec._matches(e, name)), None)

    names = set()
    for e in SECTION_TABLE:
        for stem in (e.pattern, e.pattern.rstrip("/+")):
            for tail in ("", "/", "/x", "x", ".x", "/a/b", "_x", "+", "+x", "-1"):
                names.add(stem + tail)
    rng = random.Random(0)
    alphabet = "abcdefgkprstux_/.+019?-"
    for _ in range(5000):
        p = rng.choice(SECTION_TABLE).pattern
        names.add(p[:rng.randrange(len(p) + 1)] + "".join(rng.choice(alphabet) for _ in range(rng.randrange(5))))
    assert [n for n in sorted(names) if spec.match_entry(n) is not scan(n)] == []
    assert spec.match_entry("kprobe/do_sys_open").pattern == "kprobe+"


# The plain shapes as regular expressions (what sections.spec reads with str methods instead).
_PLAIN_AS_RE = {
    "kprobe": (r"([A-Za-z_.][A-Za-z0-9_.]*)(?:\+(0[xX][0-9a-fA-F]+|[0-9]+))?", ("function", "offset")),
    "tracepoint": (r"([^:/]+)/(.+)", ("category", "name")),
    "word": (r"([^:/]+)", (None,)),
}


@settings(max_examples=3000, deadline=None)
@given(start=st.sampled_from(["kprobe", "tracepoint", "word"]),
       text=st.text(alphabet="aZ_.09+xXfF/:*? \n\r-\u00e9", max_size=14))
def test_plain_target_shapes_match_their_regular_expressions(start, text):
    import re

    from bpfinspect.sections.spec import _first_word, _plain_parts

    pattern, keys = _PLAIN_AS_RE[start]
    m = re.fullmatch(pattern, text)
    want = None if m is None else tuple((key or "target", value) for key, value in zip(keys, m.groups())
                                        if value is not None)
    got = _plain_parts(start, "raw_tp", text)
    if got is not None and start == "word":
        got = tuple(("target", value) for _, value in got)
    assert got == want, (start, text)
    assert _first_word(text) == re.match(r"\w*", text, re.ASCII).group()
