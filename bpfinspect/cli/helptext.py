"""The longer part of each command's ``--help``: what it shows, its columns, examples, exit codes.

Applied to the parsers the command modules register (description and epilog), so each
command's module keeps only its options.  Paragraphs are separated by a blank line;
indented lines (examples) are printed as written.
"""

from __future__ import annotations

EXIT_CODES = """\
exit status: 0 done; 1 an operation ran and failed (a program the verifier rejects, an attach
that failed); 2 bad input or usage (not a BPF object, a damaged one, an unknown name); 3 an
environment problem (no libbpf, no privilege, no bpf(), no tracefs); 70 a defect of bpfinspect
(BPFINSPECT_DEBUG=1 shows the traceback); 130 interrupted (Ctrl-C).

On a terminal, output longer than the screen goes through $BPFINSPECT_PAGER, $PAGER or
'less -FRX' (--no-pager stops it); colours follow --color, NO_COLOR and FORCE_COLOR;
BPFINSPECT_PLAIN=1 prints the plain layout used for pipes.  --json documents carry
"schema": 1."""

_JSON = "With --json: one JSON document (\"schema\": 1) with every field the table shows and more."

# command -> (description or None to keep the module's, epilog)
_TEXTS: dict[str, tuple[str | None, str]] = {
    "info": (
        "A one-screen summary of a BPF object: its name as libbpf derives it, license, kernel version, "
        "BTF and BTF.ext sizes, DWARF, and the programs and maps it holds.",
        """\
Program columns: Program (name), Type (libbpf's program type from the section name), Target
(what it attaches to), Insns (instructions).  Map columns: Type, Key/Value (sizes in bytes),
Max entries.

examples:
  bpfinspect info x.bpf.o
  bpfinspect info x.bpf.o --json | jq .programs"""),
    "sections": (
        "Every ELF section of a BPF object with its meaning for libbpf (program code, subprograms, maps, "
        "globals, BTF, license, relocations, debug information) and, for program sections, libbpf's "
        "program type.",
        """\
Columns: Idx (section index), Name, Type (ELF section type), Flags (W write, A alloc, X exec,
M merge, S strings, I info link, E exclude), Size (bytes), Offset (in the file), Kind (what
libbpf makes of it), Program type.

examples:
  bpfinspect sections x.bpf.o
  bpfinspect sections x.bpf.o --json"""),
    "progs": (
        "The programs of a BPF object (one per entry function of each program section) and the "
        "subprograms of .text: the program type and attach kind libbpf reads from the section name "
        "(kprobe or kretprobe, uprobe or uretprobe, usdt, tp_btf, fentry...), the attach target, "
        "instruction counts, and the maps, helpers and kfuncs each uses (through its subprograms too).",
        """\
Columns: Name, Section, Type (program type, with the expected attach type in parentheses),
Kind (libbpf's attach kind; "ret" marks a return probe), Target, Insns (instructions), Flags
(no-autoload: a '?' section; sleepable; manual-attach: libbpf cannot attach it by itself),
Maps, Helpers / kfuncs.  Subprograms: Offset (in instructions), Linkage, Calls.

examples:
  bpfinspect progs x.bpf.o
  bpfinspect progs x.bpf.o --json | jq '.programs[] | {name, attach_kind, retprobe}'"""),
    "maps": (
        "The maps a BPF object defines (.maps, legacy maps sections, struct_ops): type, key and value "
        "sizes and types, max entries, flags, pinning, inner maps, initial slots, and the record type of "
        "ring buffers and perf event arrays (worked out from the code and DWARF when BTF lacks it).",
        """\
Columns: Name, Type (libbpf's map type name), Key, Value (size in bytes and BTF type), Max
entries, Flags (map_flags), Pinning, Section, Details (slots, inner map, record type...).
An object without maps says so.

examples:
  bpfinspect maps x.bpf.o
  bpfinspect maps x.bpf.o --type rb='struct event'"""),
    "globals": (
        "The global variables of a BPF object, by data section (.data, .rodata, .bss, .kconfig and "
        "custom .data.*/.rodata.* sections): offset, size, BTF type, linkage and initial value (strings "
        "shown as C strings), and its extern variables and functions (kconfig, ksym, kfunc).",
        """\
Columns: Name, Offset (in the section), Size (bytes), Type (C declaration from BTF), Linkage,
Initial (the value: a number, a C string, or bytes in hex).

examples:
  bpfinspect globals x.bpf.o
  bpfinspect globals x.bpf.o --json"""),
    "relocs": (
        "The relocations of a BPF object's code: map references, global data, calls into subprograms, "
        "externs, and the CO-RE relocation records of .BTF.ext.",
        """\
examples:
  bpfinspect relocs x.bpf.o
  bpfinspect relocs x.bpf.o --json"""),
    "btf": (None, """\
examples:
  bpfinspect btf x.bpf.o
  bpfinspect btf x.bpf.o --format c --type 'struct event'
  bpfinspect btf /sys/kernel/btf/vmlinux --format c > vmlinux.h"""),
    "disasm": (None, """\
Each line: instruction index, the instruction in llvm-objdump 19 syntax, and notes after ';'
(the map or global a load refers to, string constants as C strings, the helper or kfunc a
call reaches, CO-RE relocations, source lines from BTF line info).  An unknown --prog or
--section is refused with the names that exist (exit 2).

examples:
  bpfinspect disasm x.bpf.o --prog handle_exec
  bpfinspect disasm x.bpf.o --plain > x.s && bpfinspect asm x.s -o x.bin"""),
    "asm": (
        "Assemble BPF instructions in llvm-objdump 19 syntax (as 'bpfinspect disasm --plain' prints them) "
        "into raw instruction bytes.  Calls may name a helper (call bpf_get_current_pid_tgid) or, with "
        "--btf, a kfunc; an error quotes the line with a caret under the mistake.",
        """\
examples:
  bpfinspect asm prog.s -o prog.bin
  echo 'r0 = 0
  exit' | bpfinspect asm - -o - | xxd"""),
    "gen_skel": (
        "Generate a skeleton for a BPF object: a C header like 'bpftool gen skeleton' (the object embedded, "
        "typed access to maps, programs, links and global data), or a Python module that opens, loads and "
        "attaches it through libbpf.",
        """\
examples:
  bpfinspect gen-skel x.bpf.o -o x.skel.h
  bpfinspect gen-skel x.bpf.o --lang python -o x_skel.py
  bpfinspect gen-skel x.bpf.o --lang python --strip-debug -o x_skel.py"""),
    "load": (
        "Load a BPF object through the system's libbpf and report the kernel's verdict for every program "
        "(loaded, with instruction counts and verifier statistics, or rejected, with the verifier's reason "
        "and the end of its log), the maps created, and optionally the attach of each program; then "
        "unload everything.",
        """\
Privileges: loading needs root, or CAP_BPF with CAP_PERFMON (tracing programs) or CAP_NET_ADMIN
(networking programs), and a kernel with bpf(); --attach needs tracefs for tracepoints and
probes; --trace-syscalls needs root and tracefs.  Nothing stays loaded afterwards.

Exit status: 0 every program loaded (and attached); 1 a program was rejected, an attach failed
or libbpf could not open the object; 2 not a BPF object or a damaged one; 3 no libbpf, no
privilege, no bpf(), no tracefs for an attach, or no kprobe support in the kernel.  With --json
the document is printed in every case, the reason in "error" or "environment_problem".

examples:
  sudo bpfinspect load x.bpf.o
  sudo bpfinspect load x.bpf.o --prog handle_exec -v
  sudo bpfinspect load x.bpf.o --attach --json"""),
    "run": (
        "Load a BPF object, attach its programs and watch them work until Ctrl-C, --duration or --count: "
        "bpf_printk lines, ring-buffer and perf-buffer records decoded with their record type, then at exit "
        "every map (log2 histograms drawn), the data-section variables and each program's run count and "
        "time; everything is detached and unloaded, on Ctrl-C and errors too.",
        """\
Privileges: root, or CAP_BPF with CAP_PERFMON (tracing) or CAP_NET_ADMIN (XDP, tc), and tracefs
for printk, tracepoints and probes.  Ctrl-C is the normal way to stop a run (exit 0).

Exit status: 0 a normal stop (Ctrl-C, --duration, --count); 1 a program failed to load or
attach (after showing what did); 2 bad input or usage; 3 no privilege, no tracefs, no kprobe
support, no BTF where it is needed.  With --json: JSON Lines, one record per line ("start",
"attach", "printk", "event", "map", "globals", "stats", "end").

examples:
  sudo bpfinspect run bootstrap.bpf.o
  sudo bpfinspect run x.bpf.o --attach handle=/bin/bash:readline --duration 10
  sudo bpfinspect run xdp.bpf.o --iface eth0 --json"""),
    "budget": (
        "What each program asks of the verifier, from the object alone: the stack of every function and "
        "the deepest call chain as the kernel adds frames, tail calls under caller frames, instructions in "
        "all and along the longest path, loops and whether a constant bounds them, and warnings against "
        "the kernel's limits (512 bytes of stack, 8 frames, 1M instructions).",
        """\
Columns: Stack (bytes along the deepest chain, frames rounded as the JIT rounds them; 32-byte
rounding with --interpreter), Peak in (the function where it peaks), Frames, Tail calls, Insns
(what libbpf loads), Longest path, Loops, Warnings.

examples:
  bpfinspect budget x.bpf.o
  bpfinspect budget x.bpf.o --prog handle_exec --json"""),
    "diff": (
        "Compare two builds of a BPF object (a compiler upgrade, a refactor, a header bump) as code, not "
        "bytes: each program and the subprograms it reaches, with the source lines and instruction hunks "
        "that changed; maps, globals, the layouts of the types they hold, CO-RE relocations, helpers and "
        "the license.",
        """\
Exit status: 0 the builds are equivalent; 1 they differ; 2 bad input or usage; 3 an environment
problem.

examples:
  bpfinspect diff old/x.bpf.o new/x.bpf.o
  bpfinspect diff a.bpf.o b.bpf.o --prog handle_exec --json"""),
    "expand": (None, """\
examples:
  bpfinspect expand minimal.bpf.c
  bpfinspect expand kprobe.bpf.c -m BPF_KPROBE --diff
  bpfinspect expand x.bpf.c --no-core --btf /sys/kernel/btf/vmlinux"""),
    "core": (
        "Resolve the CO-RE relocations of a BPF object against one or more target BTFs (the running "
        "kernel's by default) as libbpf does: each relocation's local type and access, the candidate "
        "types found in the target, and the value patched in (or why none is found).",
        """\
examples:
  bpfinspect core x.bpf.o
  bpfinspect core x.bpf.o --btf ./btfs/ --summary"""),
    "gen": (
        "Generate files from BPF objects.  min-core-btf: the smallest BTF that still answers every CO-RE "
        "relocation of the objects against a target kernel's BTF (for kernels without BTF of their own), "
        "as 'bpftool gen min_core_btf' writes it.",
        """\
examples:
  bpfinspect gen min-core-btf x.bpf.o --btf /sys/kernel/btf/vmlinux -o min.btf"""),
    "probe": (
        "User-space probes without loading anything: the functions of a binary and the file offset a "
        "uprobe goes to, its USDT notes, uprobe_events/kprobe_events lines checked as the kernel reads "
        "them, a live trace of probe events (Ctrl-C ends it), and every attach target of an object "
        "checked on this machine.",
        """\
examples:
  bpfinspect probe offsets /usr/lib/x86_64-linux-gnu/libc.so.6 'malloc*'
  bpfinspect probe line 'p:myprobe /bin/bash:readline'
  bpfinspect probe check x.bpf.o"""),
    "completion": (
        "Print the shell completion script for bash, zsh or fish: commands, options, and object files "
        "(*.o) or sources (*.bpf.c) where a command takes them.",
        """\
examples:
  source <(bpfinspect completion bash)            # in ~/.bashrc
  bpfinspect completion zsh > ~/.zfunc/_bpfinspect  # with compinit
  bpfinspect completion fish > ~/.config/fish/completions/bpfinspect.fish"""),
}


def apply(name: str, parser) -> None:
    """Give a command's parser its longer description and epilog (exit codes included)."""
    key = name.replace("-", "_")
    description, epilog = _TEXTS.get(key, (None, ""))
    if description:
        parser.description = description
    parts = [epilog] if epilog else []
    if "--json" in parser._option_string_actions and key not in ("load", "btf"):
        parts.append(_JSON)
    if " " not in name and "Exit status" not in epilog:  # a command (its subcommands share its exit codes)
        parts.append(EXIT_CODES)
    parser.epilog = "\n\n".join(parts)
