"""Oracles for `bpfinspect expand`: clang -E and the BPF instructions clang emits.

* ``clang_e_expansions`` wraps every expanded use in the original source with
  unique marker identifiers (plain identifiers pass through cpp untouched), runs
  ``clang -E`` once, and returns what cpp produced between each pair of markers,
  with the ``#pragma`` lines cpp prints for ``_Pragma`` put back in operator form.
* ``c_tokens`` splits C text into tokens (a tokenizer of its own, independent of
  bpfinspect's) so expansions compare with white space normalised.
* ``compile_bpf`` + ``object_code`` compile a source for the BPF target and
  extract everything that makes the program: the bytes of each allocated
  section (instructions, maps, data, license), the relocations against them
  and the symbol table.  Debug sections (.BTF, .BTF.ext, .debug_*) are left
  out: they record line numbers and source text, which expansion changes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "expand"
FIXTURE_SRC = ROOT / "fixtures" / "src"

ORACLE_ARCHES = ("x86", "arm64", "riscv")
CLANG = shutil.which("clang-19") or shutil.which("clang")
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)

# Names whose presence makes a source worth an oracle test (the default set).
_DEFAULT_USE_RE = re.compile(
    r"\b(SEC|BPF_KPROBE|BPF_KRETPROBE|BPF_KSYSCALL|BPF_KPROBE_SYSCALL|BPF_UPROBE|BPF_URETPROBE|"
    r"BPF_PROG2?|BPF_CORE_READ\w*|BPF_PROBE_READ\w*|bpf_core_read\w*|bpf_printk|__uint|__type|"
    r"__array)\s*\(")


def oracle_cases() -> list[tuple[Path, str]]:
    """(source, arch) for every source using the default macros and every oracle architecture."""
    return [(src, arch) for src in sources_using_macros() for arch in ORACLE_ARCHES]


@functools.lru_cache(maxsize=None)
def fixture_build_flags(source_name: str) -> tuple[str, ...]:
    """Extra compiler flags fixtures/build.sh uses for a source (e.g. -mcpu=v4)."""
    script = ROOT / "fixtures" / "build.sh"
    if not script.exists():
        return ()
    for line in script.read_text().splitlines():
        parts = line.split("|")
        if len(parts) >= 4 and parts[3].strip() == source_name:
            return tuple(f for f in parts[2].split() if f != "-g")
    return ()


def sources_using_macros() -> list[Path]:
    """Every fixture source and every expand test source using a default macro."""
    out = []
    for p in sorted(FIXTURE_SRC.glob("*.bpf.c")) + sorted(DATA.glob("*.bpf.c")):
        if _DEFAULT_USE_RE.search(p.read_text(errors="replace")):
            out.append(p)
    return out


@contextlib.contextmanager
def private_cache(directory: Path):
    """Point expand's cache (generated vmlinux.h, precompiled headers) at
    ``directory`` instead of the user's ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(directory)
    try:
        yield directory
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = old


# --------------------------------------------------------------------------
# vmlinux.h per architecture

_ARM64_REGS = """
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
"""

_RISCV_REGS = "struct user_regs_struct {\n" + "".join(
    f"\tlong unsigned int {r};\n" for r in (
        "pc ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 "
        "t3 t4 t5 t6").split()) + "};"


@functools.lru_cache(maxsize=None)
def host_vmlinux_h() -> str:
    """This kernel's vmlinux.h as the reference tool prints it."""
    assert BPFTOOL, "bpftool is needed to print the reference vmlinux.h"
    res = subprocess.run([BPFTOOL, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
                         capture_output=True, text=True, check=True)
    return res.stdout


def arch_vmlinux_dir(arch: str, base: Path) -> Path:
    """A directory with a vmlinux.h where the register structures bpf_tracing.h
    reads for ``arch`` exist: this machine's (x86) types, with arm64's
    ``struct user_pt_regs`` added, or riscv's ``struct user_regs_struct`` in place
    of x86's."""
    d = base / f"vmlinux-{arch}"
    header = d / "vmlinux.h"
    if header.exists():
        return d
    text = host_vmlinux_h()
    if arch == "arm64":
        assert "struct user_pt_regs {" not in text
        cut = text.rindex("#endif")
        text = text[:cut] + _ARM64_REGS + "\n" + text[cut:]
    elif arch == "riscv":
        text, n = re.subn(r"^struct user_regs_struct \{\n.*?^\};", _RISCV_REGS, text, count=1,
                          flags=re.M | re.S)
        assert n == 1
    d.mkdir(parents=True, exist_ok=True)
    header.write_text(text)
    return d


# --------------------------------------------------------------------------
# clang -E

def clang_base_args(arch: str, include_dirs: list[Path]) -> list[str]:
    args = ["-target", "bpf", "-O2", f"-D__TARGET_ARCH_{arch}"]
    for d in include_dirs:
        args += ["-I", str(d)]
    for d in ["/usr/include/bpf", *sorted(str(p) for p in Path("/usr/include").glob("*-linux-gnu*"))]:
        args += ["-idirafter", d]
    return args


def site_offsets(source: bytes, sites: list[dict]) -> list[tuple[int, int]]:
    """Byte offsets of each site from its 1-based line and byte column."""
    starts = [0] + [m.end() for m in re.finditer(rb"\n", source)]
    return [(starts[s["line"] - 1] + s["column"] - 1, starts[s["end_line"] - 1] + s["end_column"] - 1)
            for s in sites]


def _pragma_to_operator(m: re.Match) -> str:
    body = m.group(1).strip()
    return ' _Pragma("' + body.replace("\\", "\\\\").replace('"', '\\"') + '") '


def clang_e_expansions(source: Path, sites: list[dict], arch: str, include_dirs: list[Path]) -> list[str]:
    """cpp's expansion of each site, found between markers in ``clang -E`` output."""
    raw = source.read_bytes()
    spans = site_offsets(raw, sites)
    out = bytearray()
    pos = 0
    for k, (start, end) in enumerate(spans):
        assert raw[start:end].decode() == sites[k]["original"]
        out += raw[pos:start] + f" __BPFI_SITE_BEGIN_{k}__ ".encode() + raw[start:end]
        out += f" __BPFI_SITE_END_{k}__ ".encode()
        pos = end
    out += raw[pos:]
    with tempfile.TemporaryDirectory(prefix="expand-oracle-") as tmp:
        marked = Path(tmp) / source.name
        marked.write_bytes(bytes(out))
        res = subprocess.run([CLANG, "-E", "-P", "-iquote", str(source.parent),
                              *clang_base_args(arch, include_dirs), str(marked)],
                             capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = re.sub(r"^[ \t]*#pragma[ \t]+(.*)$", _pragma_to_operator, res.stdout, flags=re.M)
    begins: dict[int, int] = {}
    ends: dict[int, int] = {}
    for m in re.finditer(r"\b__BPFI_SITE_(BEGIN|END)_(\d+)__\b", text):
        k = int(m.group(2))
        if m.group(1) == "BEGIN":
            assert k not in begins, f"site {k} appears twice in clang -E output"
            begins[k] = m.end()
        else:
            ends[k] = m.start()
    found = []
    for k in range(len(spans)):
        assert k in begins and k in ends, f"site {k} not found in clang -E output"
        found.append(text[begins[k]:ends[k]])
    return found


# --------------------------------------------------------------------------
# tokens

_PUNCT = sorted("""... <<= >>= -> ++ -- << >> <= >= == != && || *= /= %= += -= &= ^= |= ##
[ ] ( ) { } . & * + - ~ ! / % < > ^ | ? : ; = , #""".split(), key=len, reverse=True)
_TOKEN = re.compile(
    r'\s+|(?P<tok>(?:u8|[uUL])?"(?:[^"\\\n]|\\.)*"|(?:u8|[uUL])?\'(?:[^\'\\\n]|\\.)*\''
    r"|\.?\d(?:[eEpP][+-]|[\w.])*|[A-Za-z_]\w*|"
    + "|".join(re.escape(p) for p in _PUNCT) + r"|\S)")


def c_tokens(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return [m.group("tok") for m in _TOKEN.finditer(text) if m.group("tok")]


# --------------------------------------------------------------------------
# compiling

def compile_command(source: Path, out: Path, arch: str, include_dirs: list[Path],
                    quote_dir: Path | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    return [CLANG, "-g", "-c", "-iquote", str(quote_dir or source.parent),
            *clang_base_args(arch, include_dirs), "-Wno-unused-function", *extra,
            "-o", str(out), str(source)]


def compile_all(commands: list[list[str]]) -> None:
    """Run compiles side by side; fail with the compiler's message."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    for cmd, p in zip(commands, procs):
        _, err = p.communicate()
        assert p.returncode == 0, f"{cmd[-1]} does not compile:\n{err[-3000:]}"


def object_code(path: Path) -> dict:
    """What a BPF object runs and loads, without debug information."""
    result: dict = {"sections": {}, "relocations": {}, "symbols": []}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        names = {i: s.name for i, s in enumerate(elf.iter_sections())}
        symtab = elf.get_section_by_name(".symtab")
        for sec in elf.iter_sections():
            name = sec.name
            if name.startswith((".BTF", ".debug", ".rel.BTF", ".rel.debug", ".llvm_addrsig")):
                continue
            if isinstance(sec, RelocationSection):
                entries = []
                for rel in sec.iter_relocations():
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    target = sym.name or names.get(sym["st_shndx"], "")
                    entries.append((rel["r_offset"], rel["r_info_type"], target))
                result["relocations"][name] = entries
            elif sec["sh_flags"] & 0x2:  # SHF_ALLOC
                result["sections"][name] = sec.data() if sec["sh_type"] != "SHT_NOBITS" else sec["sh_size"]
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                continue
            shndx = sym["st_shndx"]
            section = names.get(shndx, str(shndx)) if isinstance(shndx, int) else shndx
            if section.startswith((".debug", ".BTF")):
                continue
            result["symbols"].append((sym.name, section, sym["st_value"], sym["st_size"],
                                      sym["st_info"]["type"], sym["st_info"]["bind"]))
        result["symbols"].sort()
    return result
