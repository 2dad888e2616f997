"""Inputs are judged by their first bytes and their size before they are read, and every
command says the same thing about a file that is not a BPF object.

References: the kernel's own accounting of each child process (os.wait4's peak resident size
shows whether a file was read), llvm-readelf-19 (what an ELF file is: type, machine, an
interpreter), gcc (a relocatable x86-64 object), clang -target bpf (an object libbpf refuses
to open) and libbpf itself through `load`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time

import pytest

from conftest import BPF_REASON, FIXTURES, LLVM_READELF, ROOT
from hostile_util import Image

OBJ = FIXTURES / "kprobe.bpf.o"
# every command that reads an object (asm reads text, expand C: they have their own bounds)
OBJECT_COMMANDS = ["info", "sections", "progs", "maps", "globals", "relocs", "disasm", "gen-skel", "load"]
LIMIT_AS = 1 << 30          # ulimit -v 1048576
TIME_LIMIT = 20


def run_limited(args: list[str], *, env=None) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``bpfinspect args`` under a 1 GiB address-space limit; (result, seconds)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    start = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "bpfinspect", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT, env=env, preexec_fn=limit)
    try:
        out, err = p.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError(f"{args} ran past {TIME_LIMIT} s")
    return subprocess.CompletedProcess(args, p.returncode, out, err), time.monotonic() - start


def one_line_exit_2(p: subprocess.CompletedProcess, path) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bpfinspect: {path}: ") and "Traceback" not in p.stderr
    return lines[0]


def args_for(cmd: str, path, tmp_path) -> list[str]:
    return [cmd, str(path), "-o", str(tmp_path / "out.h")] if cmd == "gen-skel" else [cmd, str(path)]


@pytest.fixture(scope="module")
def sparse_2g(tmp_path_factory):
    """A 2 GiB sparse file that starts like a real BPF object (its first 64 KiB)."""
    path = tmp_path_factory.mktemp("sparse") / "huge.bpf.o"
    with open(path, "wb") as f:
        f.write(OBJ.read_bytes())
        f.truncate(2 << 30)
    return path


@pytest.mark.parametrize("cmd", OBJECT_COMMANDS + ["btf"])
def test_sparse_2gib_file_is_refused_at_once(cmd, sparse_2g, tmp_path):
    p, seconds = run_limited(args_for(cmd, sparse_2g, tmp_path))
    line = one_line_exit_2(p, sparse_2g)
    assert line.endswith("2147483648 bytes, larger than the 256 MiB bpfinspect reads "
                         "(BPFINSPECT_MAX_INPUT_MB raises the limit)")
    assert seconds < TIME_LIMIT


def test_the_limit_is_configurable(sparse_2g, tmp_path):
    small = tmp_path / "small.bpf.o"
    small.write_bytes(OBJ.read_bytes() + b"\0" * (2 << 20))
    env = dict(os.environ, BPFINSPECT_MAX_INPUT_MB="1")
    p, _ = run_limited(["info", str(small)], env=env)
    assert one_line_exit_2(p, small).endswith("larger than the 1 MiB bpfinspect reads "
                                               "(BPFINSPECT_MAX_INPUT_MB raises the limit)")
    assert run_limited(["info", str(OBJ)], env=env)[0].returncode == 0


# The command is started by a small Python process of its own: a process's peak resident size
# (ru_maxrss) starts from that of the process it was forked from, and the test runner's is large.
_MEASURE = """import os, sys
out, args = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "bpfinspect", *args])
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _peak_rss_kib(args: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        p = subprocess.run([sys.executable, "-c", _MEASURE, rss.name, *args], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
        return p, int(rss.read() or 0)


@pytest.mark.parametrize("cmd", ["info", "load", "btf"])
def test_damaged_header_is_refused_before_the_file_is_read(cmd, tmp_path):
    """200 MiB of data behind a header whose section table lies past the end: refused from the
    header, so the process never holds the 200 MiB (its peak resident size says so, measured
    against the same command on a small object and against `asm`, which reads any file whole)."""
    img = Image(OBJ.read_bytes())
    img.set_hdr("shoff", (1 << 40))
    path = tmp_path / "far_table.bpf.o"
    with open(path, "wb") as f:
        f.write(bytes(img))
        chunk = os.urandom(1 << 20)   # real (not sparse) bytes: reading them costs memory
        for _ in range(200):
            f.write(chunk)
    del chunk
    _, baseline = _peak_rss_kib([cmd, str(OBJ)] if cmd != "load" else ["info", str(OBJ)])
    p, peak = _peak_rss_kib([cmd, str(path)])
    line = one_line_exit_2(p, path)
    assert "section header table" in line and "runs past end of file" in line
    q, peak_read = _peak_rss_kib(["asm", str(path), "-o", str(tmp_path / "x")])
    assert q.returncode == 2 and peak_read > baseline + 150_000    # what reading it costs
    assert peak < baseline + 50_000, f"{cmd} held {peak} KiB, {baseline} KiB on a small object"


# ---------------------------------------------------------------- what a non-BPF ELF file is

def readelf_facts(path: str) -> tuple[str, str, bool]:
    """(type, machine, has an interpreter) as llvm-readelf reads the file."""
    out = subprocess.run([LLVM_READELF, "-h", "-l", path], capture_output=True, text=True).stdout
    typ = next(ln.split(":", 1)[1].split()[0] for ln in out.splitlines() if ln.strip().startswith("Type:"))
    machine = next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.strip().startswith("Machine:"))
    return typ, machine, "INTERP" in out


def _foreign_files(tmp_path) -> dict[str, tuple[str, str]]:
    """name -> (path, the words every command must use)."""
    files = {}
    ls = shutil.which("ls")
    files["executable"] = (os.path.realpath(ls), "an x86-64 executable")
    libbpf = next(p for p in ("/usr/lib/x86_64-linux-gnu/libbpf.so.1", "/lib/x86_64-linux-gnu/libbpf.so.1")
                  if os.path.exists(p))
    files["shared library"] = (os.path.realpath(libbpf), "an x86-64 shared library")
    src = tmp_path / "plain.c"
    src.write_text("int plain(int x) { return x + 1; }\n")
    subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / "plain.o")], check=True)
    files["relocatable object"] = (str(tmp_path / "plain.o"), "an x86-64 relocatable object")
    return files


@pytest.mark.skipif(os.uname().machine != "x86_64" or LLVM_READELF is None,
                    reason="the foreign files are this machine's x86-64 binaries, read with llvm-readelf")
def test_a_non_bpf_elf_file_gets_the_same_sentence_from_every_command(tmp_path):
    for kind, (path, words) in _foreign_files(tmp_path).items():
        typ, machine, interp = readelf_facts(path)
        assert machine == "Advanced Micro Devices X86-64"
        assert {"executable": typ == "DYN" and interp, "shared library": typ == "DYN" and not interp,
                "relocatable object": typ == "REL"}[kind], (kind, typ, interp)
        for cmd in OBJECT_COMMANDS:
            p = subprocess.run([sys.executable, "-m", "bpfinspect", *args_for(cmd, path, tmp_path)],
                               capture_output=True, text=True, cwd=ROOT)
            assert p.returncode == 2 and p.stderr == (
                f"bpfinspect: {path}: {words}, not a BPF object (compile with clang -target bpf)\n"), (cmd, p.stderr)
        p = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", path], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 2 and p.stderr == (f"bpfinspect: {path}: {words}, not a BPF object (compile with "
                                                  f"clang -target bpf), and it has no .BTF section\n")


# ---------------------------------------------------------------- load's exit codes and documents

needs_bpf = pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")


def load(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfinspect", "load", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env)


@needs_bpf
def test_load_exit_2_on_malformed_input_like_every_command(tmp_path):
    cases = {}
    img = Image(OBJ.read_bytes())
    img.buf[4] = 1                                       # ELFCLASS32 (libbpf: LIBBPF_ERRNO__FORMAT, exit 1)
    cases["elf32.bpf.o"] = (bytes(img), "ELF class 32: BPF objects are 64-bit ELF files")
    img = Image(OBJ.read_bytes())
    sym = img.index(".symtab")
    img.set_shdr(sym, "offset", len(img.buf) - 8)         # the symbol table runs past the end
    cases["symtab_past_end.bpf.o"] = (bytes(img), "runs past end of file")
    cases["truncated.bpf.o"] = (OBJ.read_bytes()[:40], "truncated ELF header")
    for name, (data, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for cmd in ("load", "info"):
            p = subprocess.run([sys.executable, "-m", "bpfinspect", cmd, str(path)], capture_output=True, text=True,
                               cwd=ROOT)
            assert words in one_line_exit_2(p, path), (cmd, p.stderr)
        # load --json prints its document in every case, the reason in "error"
        q = load(str(path), "--json")
        doc = json.loads(q.stdout)
        assert q.returncode == 2 and doc["schema"] == 1 and not doc["loaded"] and words in doc["error"]


LIBBPF_REFUSES = """
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
struct { __uint(type, 2); __uint(max_entries, 1); __uint(key_size, 4); __uint(value_size, 4);
         __uint(pinning, 7); } odd SEC(".maps");
SEC("socket") int prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@needs_bpf
def test_load_json_when_libbpf_cannot_open_the_object(tmp_path):
    """A well-formed object with a pinning value libbpf does not know: bpf_object__open fails
    (the same object our model reads); load --json still prints its document, exit 1."""
    src = tmp_path / "odd_pin.bpf.c"
    src.write_text(LIBBPF_REFUSES)
    obj = tmp_path / "odd_pin.bpf.o"
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-c", str(src), "-o", str(obj)], check=True)
    assert subprocess.run([sys.executable, "-m", "bpfinspect", "maps", str(obj)], capture_output=True,
                          cwd=ROOT).returncode == 0
    p = load(str(obj), "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1 and doc["loaded"] is False and doc["environment_problem"] is None
    assert doc["object"] == "odd_pin" and doc["strategy"] is None and doc["programs"] == []
    assert "cannot open BPF object" in doc["error"] and "pinning" in doc["error"]
    assert p.stderr == f"bpfinspect: {obj}: {doc['error']}\n"
    human = load(str(obj))
    assert human.returncode == 1 and human.stdout == "" and human.stderr == p.stderr


@needs_bpf
def test_load_json_on_an_environment_problem():
    env = dict(os.environ, LIBBPF_SO="/nonexistent/libbpf.so.1")
    p = load(str(OBJ), "--json", env=env)
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert doc["loaded"] is False and doc["libbpf"] is None and doc["error"] is None
    assert doc["environment_problem"].startswith("cannot load libbpf (/nonexistent/libbpf.so.1")
    assert p.stderr == f"bpfinspect: {OBJ}: {doc['environment_problem']}\n"


def test_the_head_judged_is_the_head_returned(tmp_path):
    """The first bytes a reader judges (HEAD_SIZE of them, the size it really uses) are the first
    bytes it gets back, even when the file is rewritten in place while it is read."""
    from bpfinspect.fileio import HEAD_SIZE, read_input

    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    seen = []
    assert read_input(str(path), check=lambda first, size: seen.append((first, size)), head=HEAD_SIZE) == data
    assert seen == [(data[:HEAD_SIZE], len(data))]

    def swap(first, size):
        seen.append(first)
        with open(path, "r+b") as f:   # the same inode and size, other bytes
            f.write(b"\xff" * len(data))

    got = read_input(str(path), check=swap, head=HEAD_SIZE)
    assert len(got) == len(data) and got[:HEAD_SIZE] == seen[-1] == data[:HEAD_SIZE]
