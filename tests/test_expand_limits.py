"""`expand` on hostile sources: libclang and our expander run in a child process with limits, and
bytes that are not UTF-8 come out exactly as they went in.

References: clang itself (it is what blows up on a macro bomb, and it accepts the sources with
Latin-1 comments and binary strings), the kernel's resource limits (`ulimit -v 1048576` for the
whole command, as a user would set it), the source's own bytes, and /proc (no process of the
command survives it).
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the expansion's child process needs fork()")

LIMIT_AS = 1 << 30   # ulimit -v 1048576
TIME_LIMIT = 20


def bomb_source() -> str:
    """379 bytes that make clang allocate gigabytes: 10**9 initialisers."""
    lines = ["#define X0 0,0,0,0,0,0,0,0,0,0"]
    lines += [f"#define X{i} " + ",".join([f"X{i - 1}"] * 10) for i in range(1, 9)]
    lines.append("int bomb[] = { X8 };")
    return "\n".join(lines) + "\n"


def expand(*args: str, env=None, limit_as: bool = True) -> tuple[subprocess.CompletedProcess, float]:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "expand", *args], capture_output=True, cwd=ROOT,
                       env=env, preexec_fn=limit if limit_as else None, timeout=TIME_LIMIT + 40)
    return p, time.monotonic() - start


def one_line(p: subprocess.CompletedProcess) -> str:
    err = p.stderr.decode()
    assert len(err.splitlines()) == 1, err
    for crash_text in ("LLVM", "libclang", "bad_alloc", "PLEASE", "Traceback", "Stack dump"):
        assert crash_text not in err
    return err.rstrip("\n")


def test_macro_bomb_ends_in_one_line_within_the_limits(tmp_path):
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())
    assert len(src.read_bytes()) < 600
    p, seconds = expand(str(src))
    assert p.returncode == 2 and p.stdout == b""
    assert one_line(p) == (f"bpfinspect: {src}: the expansion needs more than the 1024 MiB of memory it may use")
    assert seconds < TIME_LIMIT


def test_clang_really_blows_up_on_the_bomb(tmp_path):
    """The reference: clang itself, given the same 1 GiB, runs out of memory on this source."""
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    p = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", str(src)], capture_output=True, text=True,
                       preexec_fn=limit, timeout=120)
    assert p.returncode != 0 and ("bad_alloc" in p.stderr or "out of memory" in p.stderr
                                  or p.returncode < 0), p.stderr[-500:]


def test_memory_limit_is_configurable(tmp_path):
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())
    env = dict(os.environ, BPFINSPECT_EXPAND_MEMORY_MB="300")
    p, _ = expand(str(src), env=env)
    assert p.returncode == 2
    assert one_line(p).endswith("the expansion needs more than the 300 MiB of memory it may use")


def test_cpu_limit(tmp_path):
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())
    env = dict(os.environ, BPFINSPECT_EXPAND_MEMORY_MB="20000", BPFINSPECT_EXPAND_CPU_SECONDS="1")
    p, seconds = expand(str(src), env=env, limit_as=False)
    assert p.returncode == 2
    assert one_line(p).endswith("the expansion needs more than the 1 s of CPU time it may use")
    assert seconds < TIME_LIMIT


def test_fifty_megabyte_source_is_refused_before_clang_sees_it(tmp_path):
    src = tmp_path / "big.bpf.c"
    with open(src, "w") as f:
        line = "int x_%d;\n"
        for i in range(50 * 1024 * 1024 // 12):
            f.write(line % i)
    p, seconds = expand(str(src))
    assert p.returncode == 2
    size = src.stat().st_size
    assert one_line(p) == f"bpfinspect: {src}: {size} bytes, larger than the 16 MiB bpfinspect reads"
    assert seconds < TIME_LIMIT


NOT_UTF8 = (b'/* caf\xe9, na\xefve: Latin-1 in a comment */\n'
            b'#define SEC(name) __attribute__((section(name), used))\n'
            b'// a lone continuation byte \x80 and an overlong \xc0\xaf\n'
            b'SEC("tp/x") int prog(void *ctx) { return 0; }\n'
            b'const char bin[] = "\xff\xfe\x00\x01"; /* \xf5 */\n'
            b'char LICENSE[] SEC("license") = "GPL";\n')


@pytest.fixture
def not_utf8(tmp_path):
    src = tmp_path / "latin1.bpf.c"
    src.write_bytes(NOT_UTF8)
    return src


def test_bytes_that_are_not_utf8_are_kept_byte_for_byte(not_utf8):
    clang = subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", str(not_utf8)], capture_output=True)
    assert clang.returncode == 0, clang.stderr           # clang takes this source as it is
    p, _ = expand(str(not_utf8))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    # every line without a SEC use is copied whole, in order, byte for byte
    kept = [line for line in NOT_UTF8.split(b"\n") if b'SEC("' not in line]
    rest = iter(out.split(b"\n"))
    assert all(any(line == o for o in rest) for line in kept), out
    assert b"\xef\xbf\xbd" not in out                    # never U+FFFD
    assert out.count(b"section(\"tp/x\")") == 1
    for view in ("--diff", "--sites"):
        q, _ = expand(str(not_utf8), view)
        assert q.returncode == 0 and b"\xef\xbf\xbd" not in q.stdout
        assert b"caf\xe9" in q.stdout or view == "--sites"


def test_json_refuses_bytes_that_are_not_utf8(not_utf8):
    p, _ = expand(str(not_utf8), "--json")
    assert p.returncode == 2 and p.stdout == b""
    assert one_line(p) == (f"bpfinspect: {not_utf8}: line 1, column 7: bytes that are not UTF-8 (e9): --json "
                           f"carries text only; the other views keep such bytes as they are")


def test_ctrl_c_at_random_moments_leaves_no_process(tmp_path):
    """The command (and its child) interrupted at random moments, as a terminal does (SIGINT to
    the process group): exit 130 with one line, and no process of the run left."""
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    interrupted = 0
    for i in range(15):
        mark = f"BPFINSPECT_TEST_RUN={os.getpid()}_{i}"
        env = dict(os.environ, BPFINSPECT_TEST_RUN=mark)
        p = subprocess.Popen([sys.executable, "-m", "bpfinspect", "expand", str(src)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=ROOT, env=env, start_new_session=True,
                             preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}))
        time.sleep(rng.uniform(0, 3))
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
        err = err.decode()
        assert "Traceback" not in err and "Exception ignored" not in err
        if p.returncode == 130:
            interrupted += 1
            assert err == "bpfinspect: interrupted\n"
        else:
            assert p.returncode == 2, err    # it ran to the memory limit first
        assert not _processes_with(mark), "a process of the interrupted run is still there"
    assert interrupted >= 5


def _processes_with(mark: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mark.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_macro_bomb_without_core_ends_in_one_line_within_the_limits(tmp_path):
    """`expand --no-core` parses the source with libclang too: in the same child, under the same limits."""
    src = tmp_path / "bomb.bpf.c"
    src.write_text(bomb_source())
    p, seconds = expand("--no-core", str(src))
    assert p.returncode == 2 and p.stdout == b""
    assert one_line(p) == (f"bpfinspect: {src}: the rewrite needs more than the 1024 MiB of memory it may use")
    assert seconds < TIME_LIMIT


def test_bytes_that_are_not_utf8_are_kept_without_core_too(not_utf8):
    p, _ = expand("--no-core", str(not_utf8))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split(b"\n")
    for line in NOT_UTF8.split(b"\n"):
        if b'SEC("' not in line:
            assert line in lines, line
    assert b"\xef\xbf\xbd" not in p.stdout
    q, _ = expand("--no-core", "--diff", str(not_utf8))
    assert q.returncode == 0 and b"\xef\xbf\xbd" not in q.stdout
    j, _ = expand("--no-core", "--json", str(not_utf8))
    assert j.returncode == 2 and j.stdout == b""
    assert "bytes that are not UTF-8" in one_line(j)
