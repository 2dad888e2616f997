"""`probe line`: the grammar of uprobe_events/kprobe_events lines, against the documents and the kernel.

Every example line of the kernel's uprobetracer and kprobetrace documents (Linux 6.x) is read.
For uprobe lines the oracle is this machine's kernel: each line of a corpus (hand-written cases
and seeded mutations of valid lines) is written to uprobe_events; the kernel's accept/reject must
equal ours, its error_log column ours, and the line it lists our normalised line.  Every event a
test line creates is named after this process and removed at once.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from probes_util import built, kernel_verdict, uprobe_events_reason  # noqa: F401

from bpfinspect.probes.lines import LineError, parse_line
from bpfinspect.probes.uprobe import resolve_uprobe

BPFI = [sys.executable, "-m", "bpfinspect"]

# ---------------------------------------------------------------- the documents' example lines

UPROBETRACER_EXAMPLES = [
    "p /bin/bash:0x4245c0",
    "r /bin/bash:0x4245c0",
    "-:p_bash_0x4245c0",
    "p:zfree_entry /bin/zsh:0x46420 %ip %ax",
    "r:zfree_exit /bin/zsh:0x46420 %ip %ax",
    "p:uprobes/zfree_entry /bin/zsh:0x00046420 arg1=%ip arg2=%ax",
    "r:uprobes/zfree_exit /bin/zsh:0x00046420 arg1=%ip arg2=%ax",
    # the synopsis' forms, with values in
    "p:grp/event /bin/bash:0x4245c0%return",
    "p:grp/event /bin/bash:0x4245c0(0x1234) %di",
    "p /bin/bash:0x4245c0 @0x601040 @+0x1040 $stack0 $stack $comm +8(%di) -8(%sp) +u4(%si) \\42 name=%dx "
    "t=%di:u8 s=+0(%si):string b=%di:b3@4/32",
    "r /bin/bash:0x4245c0 $retval",
]
KPROBETRACE_EXAMPLES = [
    "p:myprobe do_sys_open dfd=%ax filename=%dx flags=%cx mode=+4($stack)",
    "p:myprobe,do_sys_open,dfd=%ax,filename=%dx,flags=%cx,mode=+4($stack)",   # the kprobe_event= boot form
    "r:myretprobe do_sys_open $retval",
    "-:myprobe",
    # inline examples of the Types section
    "p do_sys_open +0(%di):x32[1]",
    "p do_sys_open +0(%di):x32",
    "p do_sys_open +0(%di):string[1]",
    "p do_sys_open +0(+0(%di)):string",
    "p do_sys_open +u4(%si)",
    "p do_sys_open +u0(%si):string",
    "p do_sys_open +0(%si):ustring",
    "p do_sys_open +8($stack):x8[8]",
    "p do_sys_open +0(%di):x16[4]",
    # the synopsis' forms, with values in
    "r5:grp/ev do_sys_open+0",
    "p:grp/ev ext4:ext4_sync_file+8 %di",
    "p:grp/ev 0xffffffff81000000",
    "p:grp/ev do_sys_open%return $retval",
    "p do_sys_open @jiffies @jiffies+8 $arg1 $arg2 $comm \\\"imm\" \\-3 d=%di:symbol s=+0(%si):symstr "
    "c=+0(%di):char f=%di:%pd",
]


@pytest.mark.parametrize("line", UPROBETRACER_EXAMPLES + KPROBETRACE_EXAMPLES)
def test_document_examples_are_read(line):
    p = parse_line(line, check_files=False, machine="x86_64")
    assert p.kind in ("uprobe", "kprobe", "remove")


def test_document_counter_example():
    """kprobetrace.rst: '$stack1:x8[8]' is wrong (arrays need memory), '+8($stack):x8[8]' is right."""
    with pytest.raises(LineError) as info:
        parse_line("p do_sys_open $stack1:x8[8]", machine="x86_64")
    assert info.value.reason == "String accepts only memory argument" and info.value.column == 22


def test_normalised_forms():
    p = parse_line("p:zfree_entry /bin/zsh:0x46420 %ip %ax", check_files=False, machine="x86_64")
    assert p.normalised == "p:uprobes/zfree_entry /bin/zsh:0x0000000000046420 arg1=%ip arg2=%ax"
    p = parse_line("r /bin/bash:0x4245c0", check_files=False, machine="x86_64")
    assert p.normalised == "r:uprobes/p_bash_0x4245c0 /bin/bash:0x00000000004245c0"
    p = parse_line("p:myprobe,do_sys_open,dfd=%ax,mode=+4($stack)", machine="x86_64")
    assert p.normalised == "p:kprobes/myprobe do_sys_open dfd=%ax mode=+4($stack)"
    p = parse_line("r5 ext4:ext4_sync_file", machine="x86_64")
    assert p.normalised == "r5:kprobes/r_ext4_ext4_sync_file_0 ext4:ext4_sync_file"


def test_columns_and_caret():
    with pytest.raises(LineError) as info:
        parse_line("p:g/ev /bin/bash:0x10 a=%di b=+0(%si:u8", machine="x86_64")
    e = info.value
    assert (e.column, e.reason) == (36, "Dereference brace is not closed")
    assert e.caret().splitlines()[1] == " " * 36 + "^"
    assert e.message == "column 37: Dereference brace is not closed"


def test_function_names_resolve(built):
    exe = str(built["exe_nopie"])
    off = resolve_uprobe(exe, "func_1").offset
    p = parse_line(f"p:g/ev {exe}:func_1+4 %di")
    assert p.offset == off + 4 and p.function == "func_1" and p.function_offset == 4
    with pytest.raises(LineError) as info:
        parse_line(f"p {exe}:dup")
    assert "ambiguous" in info.value.reason and info.value.column == len(exe) + 3


# ---------------------------------------------------------------- the kernel

def _corpus(path: str, off: int, g: str) -> list[str]:
    P, O = path, f"{off:#x}"
    lines = [
        f"p {P}:{O}", f"r {P}:{O}", f"pfoo {P}:{O}", f"p:{g}/ {P}:{O}", f"p:{g}/ev1 {P}:{O} %di",
        f"p:{g}/ev1 {P}:{O}%return", f"r:{g}/ev1 {P}:{O} $retval", f"p:{g}/ev1 {P}:{O} $retval",
        f"r5:{g}/ev1 {P}:{O}", f"r5 {P}:{O}", f"p:{g}.ev2 {P}:{O}", f"p:1bad{g} {P}:{O}",
        f"p:{g}/ev {P}:{O} a=%di b=%si:u32 c=+0(%di):string d=$stack3 e=$stack f=$comm g=@+0x10:u64 h=\\5",
        f"p:{g}/ev {P}:{O} +0(%zz)", f"p:{g}/ev {P}:{O} +0(%di", f"p:{g}/ev {P}:{O} a=%di:foo",
        f"p:{g}/ev {P}:{O} $arg1", f"p:{g}/ev {P}:{O} %di:x8[4]", f"p:{g}/ev {P}:{O} +0(%di):x8[4]",
        f"p:{g}/ev {P}:{O} +0(%di):b3@2/8", f"p:{g}/ev {P}:{O} +0(%di):b3@7/8", f"p:{g}/ev {P}:{O} @0x1234",
        f"p:{g}/ev {P}:{O} @sym", f"p:{g}/ev {P}:{O} +u4(%si):string", f"p:{g}/ev {P}:{O} +0(%si):ustring",
        f"p:{g}/ev {P}:{O} +0(%si):symstr", f"p:{g}/ev {P}:{O} %di:symbol", f"p:{g}/ev {P}:{O} %di:char",
        f"p:{g}/ev {P}:{O} %di:%pd", f"p:{g}/ev {P}:{O}(0x4010)", f"p:{g}/ev {P}:{O}(0x4010",
        f"p:{g}/ev {P}:{O}(zz)", f"p:{g}/ev {P}:{O}%retur", f"p:{g}/ev /nonexistent{g}:0x10", f"p:{g}/ev /tmp:0x10",
        f"p:{g}/ev {P}", f"-:{g}/nonexist",
        f"p {P}:{O} %di:string", f"p {P}:{O} @0x10:string", f"p {P}:{O} @+0x10:string", f"p {P}:{O} $stack1:string",
        f"p {P}:{O} $stack1:x8[8]", f"p {P}:{O} +8($stack):x8[8]", f"p {P}:{O} @0x10:x8[65]",
        f"p {P}:{O} @0x10:x8[64]", f"p {P}:{O} @0x10:x8[0]", f"p {P}:{O} @0x10:x8[4", f"p {P}:{O} @0x10:x8[4]x",
        f"p {P}:{O} @0x10:x8[]", f"p {P}:{O} $comm:u32", f"p {P}:{O} $comm:string", f"p {P}:{O} $COMM",
        f"p {P}:{O} +0($comm)", f"p {P}:{O} $stackx", f"p {P}:{O} $stack99999", f"p {P}:{O} $foo",
        f"p {P}:{O} %rax", f"p {P}:{O} %eax", f"p {P}:{O} %al", f"p {P}:{O} %r16", f"p {P}:{O} %ds",
        f"p {P}:{O} %orig_ax", f"p {P}:{O} common_pid=%di", f"p {P}:{O} ip=%di", f"p {P}:{O} __probe_ip=%di",
        f"p {P}:{O} a=%di a=%si", f"p {P}:{O} 1a=%di", f"p {P}:{O} a-b=%di", f"p {P}:{O} =%di", f"p {P}:{O} a=",
        f"p {P}:{O} \\0x10", f"p {P}:{O} \\-5", f"p {P}:{O} \\+7", f"p {P}:{O} \\abc", f"p {P}:{O} \\",
        f"p {P}:{O} -8(%sp)", f"p {P}:{O} +0x10(%sp)", f"p {P}:{O} -u8(%sp)", f"p {P}:{O} +u0x8(%sp)",
        f"p {P}:{O} +(%sp)", f"p {P}:{O} +z(%sp)", f"p {P}:{O} +8", f"p {P}:{O} +8%sp)",
        f"p {P}:{O} +0(+8(%di)):u32", f"p {P}:{O} +0(+0(+0(%di))):string", f"p {P}:{O} \\\"hello\"",
        f"p {P}:{O} \\\"hello", f"p {P}:{O} \\\"hello\":u32", f"p {P}:{O} \\\"\"",
        f"p {P}:{O} %di:b1@0/32", f"p {P}:{O} %di:b32@0/32", f"p {P}:{O} %di:b33@0/32", f"p {P}:{O} %di:b0@0/32",
        f"p {P}:{O} %di:b4@4/16", f"p {P}:{O} %di:b4@4/12", f"p {P}:{O} %di:b4@/32", f"p {P}:{O} %di:b4",
        f"p {P}:{O} %di:b4@4", f"p {P}:{O} %di:bogus/32", f"p {P}:{O} %di:b0x4@4/32", f"p {P}:{O} %di:b4@4/0x20",
        f"p {P}:{O} %di:u24", f"p {P}:{O} %di:string[2]", f"p {P}:{O} +0(%di):string[2]",
        f"p {P}:{O} +0(%di):ustring[2]", f"p {P}:{O} @+-16", f"p {P}:{O} @-5", f"p {P}:{O} @0x", f"p {P}:{O} @+0x",
        f"p {P}:{O} @+", f"p {P}:{O} @012", f"p {P}:{O} %di:", f"p {P}:{O} :u32", f"p {P}:{O} %", f"p {P}:{O} $",
        f"p {P}:{O} @", f"p {P}:{O} +", f"p {P}:{O} foo", f"p {P}:{O} +0(%di)x", f"p {P}:{O} %di)",
        f"p {P}:{O} +8()", f"p {P}:{O} +8(%di)(%si)", f"p {P}:{O} +0(%di)(", f"p {P}:{O} ab=:u8",
        f"p {P}:{O} {'a' * 32}=%di", f"p {P}:{O} {'a' * 33}=%di",
        f"p {P}:{O} +0(%di):{'x' * 55}", f"p {P}:{O} +0(%di):{'x' * 56}",
        f"p {P}:{O} " + "+0(" * 14 + "%di" + ")" * 14, f"p {P}:{O} " + "+0(" * 15 + "%di" + ")" * 15,
        f"p {P}:{O} " + "+0(" * 13 + "@0x10" + ")" * 13, f"p {P}:{O} " + "+0(" * 14 + "@0x10" + ")" * 14,
        f"p {P}:{O} arg2=%di %si", f"p {P}:{O} %di arg1=%si", f"p {P}:{O} a=%di a=%zz",
        f"p {P}:{O} $retval:u32", f"p {P}:{O} $arg0", f"p {P}:{O} $argx", f"p {P}:{O} $Comm",
        f"p {P}:{O} $comm:string[1]", f"p {P}:{O} +0(%di):char[3]", f"p {P}:{O} %di:x64[1]",
        f"p {P}:{O} @0x10:x64[1]", f"p {P}:{O} +0(\\\"ab\")", f"p {P}:{O} +0(\\5)", f"p {P}:{O} +0(@0x10)",
        f"p {P}:{O} +0(@+0x10)", f"p {P}:{O} +0($stack)", f"p {P}:{O} -0x8(%sp):u8", f"p {P}:{O} -(%sp)",
        f"p {P}:{O} +u(%sp)", f"p {P}:{O} +uu8(%sp)", f"p {P}:{O} +08(%sp)", f"p {P}:{O} +0x8(%sp",
        f"p:{g}.e.v {P}:{O}", f"p:{g}/e.v {P}:{O}", f"p:_{g}/_ {P}:{O}", f"p:{g}/ {P}:{O}",
        f"p:{g}{'a' * (64 - len(g))}/ev {P}:{O}", f"p:{g}{'a' * (63 - len(g))}/ev {P}:{O}",
        f"p:{g}/{'e' * 64} {P}:{O}", f"p:{g}/{'e' * 63} {P}:{O}", f"p:{g}1/ev-1 {P}:{O}", f"p:{g}-1/ev {P}:{O}",
        f"p:1{g}/ev {P}:{O}", f"p:/ev {P}:{O}", f"p:{g}/ev/x {P}:{O}", f"p: {P}:{O}",
        f"p:{g}/ev {P}:{O} a=%di:u32:u8", f"p:{g}/ev {P}:1151", f"p:{g}/ev {P}:0x", f"p:{g}/ev {P}:{O}+4",
        f"p:{g}/ev {P}:-5", f"p:{g}/ev {P}:{O}%return(0x10)", f"p:{g}/ev {P}:{O}(0x10)%return",
        f"p:{g}/ev {P}:{O}()", f"p:{g}/ev {P}:{O}(0x10)x", f"p:{g}/ev {P}:0777", f"p:{g}/ev {P}:{'9' * 23}",
        f"p:{g}/ev {P}::{O}", f"p:{g}/ev {P}:{O}  %di", f"p:{g}/ev {P}:{O}% %di",
        f"p:{g}/ev {P}:{O} " + " ".join(f"%{r}" for r in "di si dx cx r8 r9 ax bx bp sp ip r10 r11 r12 r13 r14 r15 "
                                          "flags cs ss".split()),
        f"p:{g}/ev {P}:{O} " + " ".join(f"%di:{t}" for t in "u8 u16 u32 u64 s8 s16 s32 s64 x8 x16 x32 x64".split()),
        "p", f"p:{g}/ev", f"x {P}:{O}", f"e:{g}/ev sched.sched_switch", "-:", "-",
    ]
    return lines


def _mutations(seeds: list[str], n: int, rng: random.Random) -> list[str]:
    alphabet = "%$@+-():[]\\\"=/u0123456789abdfpsrx_."
    out = []
    for _ in range(n):
        line = rng.choice(seeds)
        head = line.index(" ", line.index(" ") + 1) + 1 if line.count(" ") > 1 else len(line)
        chars = list(line)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(0 if rng.random() < 0.15 else min(head, len(chars)), len(chars) + 1)
            op = rng.random()
            if op < 0.4 and i < len(chars):
                del chars[i]
            elif op < 0.8:
                chars.insert(i, rng.choice(alphabet))
            elif i < len(chars):
                chars[i] = rng.choice(alphabet)
        out.append("".join(chars))
    return out


@pytest.fixture(scope="module")
def oracle_binary(built, tmp_path_factory):
    """A copy of the test executable under a name unique to this process (the kernel names events
    after it), and the offset of func_1."""
    reason = uprobe_events_reason()
    if reason is not None:
        pytest.skip(reason)
    token = f"bpfi{os.getpid()}"
    path = tmp_path_factory.mktemp("lines") / token
    shutil.copy(built["exe_pie"], path)
    return str(path), resolve_uprobe(str(path), "func_1").offset, token


def _compare(line: str, token: str) -> str | None:
    """None when we and the kernel agree on ``line``, else what differs."""
    ok, col, msg, listed = kernel_verdict(line, token)
    if not ok and msg == "ENOENT" and line.startswith("-"):
        ok = True  # removing an event that is not there: a valid line, nothing to remove
    try:
        ours = parse_line(line)
    except LineError as exc:
        ours = exc
    if ok != (not isinstance(ours, LineError)):
        return f"kernel {'accepts' if ok else 'rejects'} ({msg}), we {'reject: ' + ours.message if not ok is False else ''}" \
            if isinstance(ours, LineError) else f"kernel rejects (col {col}: {msg}), we accept"
    if ok and listed is not None and listed != ours.normalised:
        return f"kernel lists {listed!r}, we normalise to {ours.normalised!r}"
    if not ok and col is not None and (col, msg) != (_single_spaced(line, ours.kernel_column), ours.reason):
        return f"kernel says col {col}: {msg}; we say col {ours.column} (kernel's {ours.kernel_column}): {ours.reason}"
    return None


def _single_spaced(line: str, column: int) -> int:
    """Our column (in the line as written) in the kernel's copy of the line, its words joined by one space."""
    pos = 0
    for m in re.finditer(r"\S+", line):
        if column <= m.end():
            return pos + max(0, column - m.start())
        pos += len(m.group(0)) + 1
    return pos - 1 + (column - len(line.rstrip()))


def test_kernel_agrees_on_corpus(oracle_binary):
    path, off, token = oracle_binary
    lines = _corpus(path, off, token)
    wrong = {line: d for line in lines if (d := _compare(line, token))}
    assert not wrong, "\n".join(f"{k!r}: {v}" for k, v in wrong.items())


def test_kernel_agrees_on_mutations(oracle_binary):
    path, off, token = oracle_binary
    seeds = [line for line in _corpus(path, off, token) if line.startswith(("p ", "r ", "p:", "r:"))
             and f" {path}:" in line]
    lines = _mutations(seeds, 400, random.Random(20240514))
    wrong = {line: d for line in lines if (d := _compare(line, token))}
    assert not wrong, "\n".join(f"{k!r}: {v}" for k, v in list(wrong.items())[:40])


# ---------------------------------------------------------------- the command

def test_line_command(built):
    exe = str(built["exe_nopie"])
    off = resolve_uprobe(exe, "func_1").offset
    p = subprocess.run(BPFI + ["probe", "line", f"p:tut/func1 {exe}:func_1 a=%di:s32", "r:tut/ret "
                               f"{exe}:func_1 $retval"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert f"p:tut/func1 {exe}:0x{off:016x} a=%di:s32" in p.stdout
    p = subprocess.run(BPFI + ["probe", "line", "--json", f"p {exe}:func_1", f"p {exe}:0x10 +0(%di"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert [x["valid"] for x in doc["lines"]] == [True, False]
    assert doc["lines"][1]["error"] == {"column": len(exe) + 15, "reason": "Dereference brace is not closed"}
    assert p.stderr.count("\n") == 1 and "line 2, column" in p.stderr


def test_line_human_caret():
    p = subprocess.run(BPFI + ["probe", "line", "p:g/ev /bin/bash:0x10 %zz"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 2
    out = p.stdout.splitlines()
    assert out[0] == "invalid: column 23: Invalid register name"
    assert out[2].index("^") == out[1].index("%zz")


# -- $arg* and $argN through BTF (a kernel with BTF arguments), and arguments named after a BTF name

_OBJ_BTF = str(Path(__file__).resolve().parent.parent / "fixtures" / "bootstrap.bpf.o")   # handle_exec(ctx)


@pytest.mark.parametrize("line, normalised", [
    ("p handle_exec $arg*", "p:kprobes/p_handle_exec_0 handle_exec ctx=ctx"),
    ("p:g/e handle_exec $arg1:u64 %di", "p:g/e handle_exec ctx=ctx:u64 arg2=%di"),
    ("r:g/e handle_exec $arg*", "r:g/e handle_exec ctx=ctx"),
    ("p:g/e nosuch_function $arg1", "p:g/e nosuch_function arg1=$arg1"),   # no BTF for it: a register read
    ("p:g/e do_x count pos:u32 file->f_flags", "p:g/e do_x count=count pos=pos:u32 arg3=file->f_flags"),
])
def test_arg_meta_variables_read_through_btf(line, normalised):
    p = parse_line(line, machine="x86_64", btf=_OBJ_BTF)
    assert p.normalised == normalised


@pytest.mark.parametrize("line, column, reason", [
    ("p handle_exec $arg2", 14, "This variable is not found at this probe point"),
    ("p handle_exec $arg* $arg*", 20, "$arg* can be used only once in the parameters"),
    ("p handle_exec+8 $arg1", 16, "$arg* can be used only on function entry or exit"),
    ("p handle_exec x=$arg*", 16, "Invalid $-variable specified"),
    ("p handle_exec $argv", 14, "Invalid $-variable specified"),
    ("p nosuch_function $arg*", 18, "BTF is not available or not supported"),
    ("p handle_exec ctx $arg*", 18, "This argument name is already used"),
])
def test_arg_meta_variable_errors(line, column, reason):
    with pytest.raises(LineError) as info:
        parse_line(line, machine="x86_64", btf=_OBJ_BTF)
    assert (info.value.reason, info.value.column) == (reason, column)


def _btf_func(tmp_path, name: str, params: list[str], variadic: bool = False) -> str:
    """A raw BTF file with int and one global function ``name(int PARAM, ...)``."""
    import struct

    strs = bytearray(b"\0int\0")
    def add(text):
        off = len(strs)
        strs.extend(text.encode() + b"\0")
        return off
    fn = add(name)
    items = [(add(p), 1) for p in params] + ([(0, 0)] if variadic else [])
    types = struct.pack("<IIII", 1, 1 << 24, 4, 32)                                   # [1] int
    types += struct.pack("<III", 0, (13 << 24) | len(items), 1)                       # [2] proto
    types += b"".join(struct.pack("<II", n, t) for n, t in items)
    types += struct.pack("<III", fn, (12 << 24) | 1, 2)                               # [3] func
    blob = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs)) + types + strs
    path = tmp_path / "kernel.btf"
    path.write_bytes(blob)
    return str(path)


def test_arg_star_longer_than_the_kernels_buffer(tmp_path):
    btf = _btf_func(tmp_path, "f", [f"parameter_number_{k:02d}" for k in range(8)])   # 8 x 20 bytes
    with pytest.raises(LineError) as info:
        parse_line("p f $arg*", machine="x86_64", btf=btf)
    assert (info.value.reason, info.value.column) == ("$arg* failed because the argument list is too long", 4)
    assert parse_line("p f $arg1 $arg8", machine="x86_64", btf=btf).normalised.endswith(
        "parameter_number_00=parameter_number_00 parameter_number_07=parameter_number_07")


def test_arg_star_of_a_variadic_function_has_an_empty_argument(tmp_path):
    """The kernel counts "..." as a parameter without a name: the empty argument is refused."""
    btf = _btf_func(tmp_path, "logf", ["fmt"], variadic=True)
    for line in ("p logf $arg*", "p logf $arg2"):
        with pytest.raises(LineError) as info:
            parse_line(line, machine="x86_64", btf=btf)
        assert info.value.reason == "No argument expression"
    assert parse_line("p logf $arg1", machine="x86_64", btf=btf).normalised.endswith(" logf fmt=fmt")


def test_errors_after_arg_star_point_where_the_kernel_points(tmp_path):
    """The kernel keeps the words as written for its caret: an argument after the expansion is
    placed by its new index (past the end of the line here); ours stays on the word."""
    btf = _btf_func(tmp_path, "f", ["a", "b", "c"])
    line = "p f $arg* %zz"
    with pytest.raises(LineError) as info:
        parse_line(line, machine="x86_64", btf=btf)
    assert info.value.reason == "Invalid register name"
    assert info.value.column == line.index("%zz") and info.value.kernel_column == len(line) + 1


def test_module_functions_and_unreadable_btf(tmp_path):
    """MOD:SYM is looked up by that whole name (the kernel finds no BTF for it); a --btf that
    cannot be read is an error, not "no BTF"."""
    from bpfinspect.errors import BpfInspectError

    btf = _btf_func(tmp_path, "f", ["a"])
    assert parse_line("p mod:f $arg1", machine="x86_64", btf=btf).normalised.endswith(" mod:f arg1=$arg1")
    with pytest.raises(LineError):
        parse_line("p mod:f $arg*", machine="x86_64", btf=btf)
    with pytest.raises(BpfInspectError) as info:
        parse_line("p f $arg*", machine="x86_64", btf=str(tmp_path / "missing.btf"))
    assert not isinstance(info.value, LineError)


def test_arg_star_is_the_functions_parameters_as_bpftool_lists_them():
    """$arg* against this machine's vmlinux BTF: the parameter names bpftool lists for the function."""
    vmlinux = "/sys/kernel/btf/vmlinux"
    if not os.access(vmlinux, os.R_OK) or shutil.which("bpftool") is None:
        pytest.skip("needs a readable /sys/kernel/btf/vmlinux and bpftool")
    raw = subprocess.run(["bpftool", "btf", "dump", "file", vmlinux, "format", "raw"], capture_output=True,
                         text=True, check=True).stdout
    proto = re.search(r"^\[\d+\] FUNC 'vfs_read' type_id=(\d+)", raw, re.M).group(1)
    block = re.search(rf"^\[{proto}\] FUNC_PROTO .*\n((?:\t.*\n)*)", raw, re.M).group(1)
    names = re.findall(r"^\t'([^']*)' type_id=\d+", block, re.M)
    p = parse_line("p:g/e vfs_read $arg*", machine="x86_64")
    assert [a.name for a in p.args] == names and names
