"""`-o`: what each kind of target becomes (fileio.write_output, and every command that writes a file).

References: the file system as the kernel shows it afterwards (lstat: type, inode, link
target, permissions), a real character device made with mknod in a private mount namespace,
a FIFO read by `cat`, and the shell's own redirection for /dev/stdout.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings, strategies as st

from conftest import FIXTURES, ROOT, bpfinspect

OBJ = str(FIXTURES / "kprobe.bpf.o")
ASM_TEXT = "r0 = 0x0\nexit\n"

# (command line without -o, what a correct output starts with)
WRITERS = {
    "gen-skel c": (["gen-skel", OBJ], b"/* SPDX-License-Identifier"),
    "gen-skel python": (["gen-skel", OBJ, "--lang", "python"], b'"""'),
    "asm": (["asm", "{asm}"], bytes.fromhex("b700000000000000")),
}
if os.path.exists("/sys/kernel/btf/vmlinux"):  # a CO-RE target (every other writer needs nothing)
    WRITERS["gen min-core-btf"] = (["gen", "min-core-btf", str(FIXTURES / "bootstrap.bpf.o"), "--btf",
                                    "/sys/kernel/btf/vmlinux"], bytes.fromhex("9feb0100"))


@pytest.fixture
def asm_file(tmp_path):
    path = tmp_path / "prog.s"
    path.write_text(ASM_TEXT)
    return str(path)


def cli(name: str, out: str, asm_file: str) -> subprocess.CompletedProcess:
    args, _ = WRITERS[name]
    args = [a.replace("{asm}", asm_file) for a in args]
    return subprocess.run([sys.executable, "-m", "bpfinspect", *args, "-o", out], capture_output=True, cwd=ROOT)


def expected(name: str, asm_file: str) -> bytes:
    args, head = WRITERS[name]
    args = [a.replace("{asm}", asm_file) for a in args]
    p = subprocess.run([sys.executable, "-m", "bpfinspect", *args, "-o", "-"], capture_output=True, cwd=ROOT)
    assert p.returncode == 0 and p.stdout.startswith(head), p.stderr
    return p.stdout


@pytest.mark.parametrize("name", WRITERS)
def test_new_file_and_regular_file_replaced_atomically_keeping_its_mode(tmp_path, asm_file, name):
    want = expected(name, asm_file)
    new = tmp_path / "new.out"
    assert cli(name, str(new), asm_file).returncode == 0
    assert new.read_bytes() == want
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask

    old = tmp_path / "old.out"
    old.write_bytes(b"previous contents, longer than nothing" * 10000)
    os.chmod(old, 0o640)
    inode = old.stat().st_ino
    reader = open(old, "rb")    # someone reading the old file keeps seeing all of it
    assert cli(name, str(old), asm_file).returncode == 0
    assert old.read_bytes() == want and old.stat().st_ino != inode
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    assert reader.read() == b"previous contents, longer than nothing" * 10000
    reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.out", "old.out", "prog.s"]  # no temporary left


@pytest.mark.parametrize("name", WRITERS)
def test_symlinks_stay_links(tmp_path, asm_file, name):
    want = expected(name, asm_file)
    target = tmp_path / "real.out"
    target.write_bytes(b"old")
    link = tmp_path / "link.out"
    link.symlink_to("real.out")
    chain = tmp_path / "chain.out"
    chain.symlink_to("link.out")
    assert cli(name, str(chain), asm_file).returncode == 0
    assert chain.is_symlink() and os.readlink(chain) == "link.out"
    assert link.is_symlink() and os.readlink(link) == "real.out"
    assert target.read_bytes() == want and not target.is_symlink()
    dangling = tmp_path / "dangling.out"
    dangling.symlink_to("created.out")
    assert cli(name, str(dangling), asm_file).returncode == 0
    assert dangling.is_symlink() and (tmp_path / "created.out").read_bytes() == want


@pytest.mark.parametrize("name", WRITERS)
def test_fifo_is_streamed(tmp_path, asm_file, name):
    want = expected(name, asm_file)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    p = cli(name, str(fifo), asm_file)
    reader.join(timeout=60)
    assert p.returncode == 0, p.stderr
    assert got == [want]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("name", WRITERS)
def test_dev_stdout_writes_to_standard_output(tmp_path, asm_file, name):
    want = expected(name, asm_file)
    p = cli(name, "/dev/stdout", asm_file)           # standard output is a pipe here
    assert p.returncode == 0 and p.stdout == want
    # standard output redirected to a file, opened for appending as `>>` does: written
    # through that descriptor, so what was there stays
    out = tmp_path / "appended"
    out.write_bytes(b"before\n")
    args = [a.replace("{asm}", asm_file) for a in WRITERS[name][0]]
    with open(out, "ab") as f:
        p = subprocess.run([sys.executable, "-m", "bpfinspect", *args, "-o", "/dev/stdout"], stdout=f,
                           stderr=subprocess.PIPE, cwd=ROOT)
    assert p.returncode == 0 and out.read_bytes() == b"before\n" + want


@pytest.mark.parametrize("name", WRITERS)
def test_directory_and_other_kinds_are_refused(tmp_path, asm_file, name):
    p = cli(name, str(tmp_path), asm_file)
    assert p.returncode == 2 and p.stderr.decode() == f"bpfinspect: {tmp_path} is a directory: give -o a file name\n"
    sock_path = tmp_path / "sock"
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))
    try:
        p = cli(name, str(sock_path), asm_file)
        assert p.returncode == 2 and b"is a socket" in p.stderr
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    finally:
        s.close()


@pytest.mark.parametrize("name", WRITERS)
def test_unwritable_output_is_an_environment_problem(tmp_path, asm_file, name):
    p = cli(name, str(tmp_path / "missing-dir" / "x.out"), asm_file)
    assert p.returncode == 3, p.stderr
    assert p.stderr.decode() == f"bpfinspect: {tmp_path}/missing-dir/x.out: cannot write: No such file or directory\n"


UNSHARE = shutil.which("unshare")
needs_root_ns = pytest.mark.skipif(UNSHARE is None or os.geteuid() != 0,
                                   reason="needs unshare(1) and root for a private mount namespace")


@needs_root_ns
@pytest.mark.parametrize("name", WRITERS)
def test_dev_null_stays_a_character_device(tmp_path, asm_file, name):
    """In a private mount namespace, a tmpfs on /dev holds a /dev/null made with mknod: after
    `-o /dev/null` it is still that character device (the host's /dev is never at risk)."""
    args = " ".join(a.replace("{asm}", asm_file) for a in WRITERS[name][0])
    script = (f"mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && "
              f"{sys.executable} -m bpfinspect {args} -o /dev/null; echo rc=$?; "
              f"stat -c '%F %t:%T %a' /dev/null; ls -A /dev")
    p = subprocess.run([UNSHARE, "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.stdout.splitlines() == ["rc=0", "character special file 1:3 666", "null"], p.stdout + p.stderr


def test_standard_output_with_dash_and_by_default():
    p = bpfinspect("gen-skel", OBJ, "-o", "-")
    q = bpfinspect("gen-skel", OBJ)
    assert p.returncode == q.returncode == 0 and p.stdout == q.stdout and p.stdout.startswith("/* SPDX")


def test_write_output_refuses_a_target_that_changed(tmp_path, monkeypatch):
    """The file looked at is the file replaced: swapped for a link to elsewhere between the
    two, nothing is replaced (the check that guards a device from being renamed over)."""
    from bpfinspect import fileio
    from bpfinspect.errors import UsageError

    target = tmp_path / "out"
    target.write_bytes(b"old")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"keep me")
    real_replacing = fileio.replacing

    def swapping(final, **kw):
        os.unlink(target)
        os.symlink(elsewhere, target)   # after the look, before the rename
        return real_replacing(final, **kw)

    monkeypatch.setattr(fileio, "replacing", swapping)
    with pytest.raises(UsageError, match="changed while it was being written"):
        fileio.write_output(str(target), b"new")
    assert elsewhere.read_bytes() == b"keep me" and target.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["\udc80", "\udcff", "é", "\n"])),
       piece=st.integers(1, 9))
def test_output_is_encoded_a_piece_at_a_time_as_a_whole(text, piece):
    """A text is written 256 Ki characters at a time (fileio.encoded); the pieces, wherever they
    are cut (between a name's escaped bytes, inside multi-byte characters' text), are the
    text's encoding."""
    from bpfinspect import fileio

    old = fileio._PIECE
    fileio._PIECE = piece
    try:
        pieces = list(fileio.encoded(text))
    finally:
        fileio._PIECE = old
    assert b"".join(pieces) == text.encode("utf-8", "surrogateescape")
    assert all(pieces) and len(pieces) == -(-len(text) // piece)
    assert list(fileio.encoded(b"raw")) == [b"raw"] and list(fileio.encoded(b"")) == []
