"""Ctrl-C: bpfinspect.interrupts on its own (in child processes, so pytest's own handling of
Ctrl-C is untouched), then the command line interrupted at random moments.

References: the kernel's signal delivery (real SIGINTs, sent with kill), ctypes' own report of
an exception escaping a callback ("Exception ignored on calling ctypes callback"), libbpf's print
callback, and bpffs/tracefs as the kernel shows them after the run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BPF_REASON, FIXTURES, ROOT
from runtime_util import RT_TEST_OBJ


def run_py(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_protected_function_finishes_and_the_interrupt_comes_after_it():
    p = run_py("""
        import os, signal, time
        from bpfinspect import interrupts
        interrupts.install()
        done = []

        @interrupts.protect
        def step():
            os.kill(os.getpid(), signal.SIGINT)
            for i in range(100000):   # calls and loops: places where Python checks for signals
                str(i)
            done.append("step")

        try:
            step()
            returned = time.monotonic()
            while time.monotonic() - returned < 5:
                str(0)
            done.append("never")
        except KeyboardInterrupt:
            done.append("interrupt")
            print(done, time.monotonic() - returned < 0.5)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "['step', 'interrupt'] True"


def test_shielded_block_holds_the_interrupt_until_it_ends():
    p = run_py("""
        import os, signal
        from bpfinspect import interrupts
        interrupts.install()
        seen = []
        try:
            with interrupts.shielded():
                os.kill(os.getpid(), signal.SIGINT)
                for i in range(1000):
                    str(i)
                seen.append("block finished")
            seen.append("never")
        except KeyboardInterrupt:
            seen.append("interrupt")
        print(seen)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "['block finished', 'interrupt']"


def test_ctypes_callback_interrupt_is_raised_after_the_c_call_returns():
    # libc's qsort calls a Python comparison function; SIGINT arrives inside it.
    p = run_py("""
        import ctypes, os, signal, time
        from bpfinspect import interrupts
        interrupts.install()
        libc = ctypes.CDLL(None)
        CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
        calls = [0]

        @interrupts.protect
        def cmp(a, b):
            calls[0] += 1
            if calls[0] == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return a[0] - b[0]

        arr = (ctypes.c_int * 64)(*range(64, 0, -1))
        cb = CMP(cmp)
        try:
            libc.qsort(arr, 64, ctypes.sizeof(ctypes.c_int), cb)
            time.sleep(0.2)  # the interrupt comes at the first check after qsort returned
            str(0)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted after qsort; sorted:", list(arr) == sorted(arr), "calls:", calls[0] > 3)
    """)
    assert p.returncode == 0, p.stderr
    assert "Exception ignored" not in p.stderr and "Traceback" not in p.stderr
    assert p.stdout.strip() == "interrupted after qsort; sorted: True calls: True"


def test_unprotected_ctypes_callback_shows_what_protect_prevents():
    # The same callback without protect(): ctypes reports the exception and loses the interrupt.
    p = run_py("""
        import ctypes, os, signal
        libc = ctypes.CDLL(None)
        CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
        calls = [0]
        def cmp(a, b):
            calls[0] += 1
            if calls[0] == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return a[0] - b[0]
        arr = (ctypes.c_int * 64)(*range(64, 0, -1))
        cb = CMP(cmp)
        libc.qsort(arr, 64, ctypes.sizeof(ctypes.c_int), cb)
        print("went on")
    """)
    assert "Exception ignored on calling ctypes callback" in p.stderr
    assert "KeyboardInterrupt" in p.stderr and p.stdout.strip() == "went on"


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
def test_libbpf_print_callback_interrupted():
    # SIGINT while libbpf's print callback runs (journal.add is what it calls).
    p = run_py(f"""
        import os, signal, time
        from bpfinspect.runtime import Object, journal
        original = journal.add
        sent = []
        def add(level, text):
            if not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)
            original(level, text)
        journal.add = add
        try:
            obj = Object.open({str(RT_TEST_OBJ)!r})
            obj.load()
            time.sleep(0.2)
            str(0)
            print("not interrupted", sent)
        except KeyboardInterrupt:
            print("interrupted", sent)
    """)
    assert "Exception ignored" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.stdout.strip() == "interrupted [1]"


def test_command_scope_raises_once_and_restores_the_handler():
    p = run_py("""
        import os, signal
        from bpfinspect import interrupts
        before = signal.getsignal(signal.SIGINT)
        events = []
        with interrupts.command(keep_installed=False) as run:
            try:
                run.start()
                os.kill(os.getpid(), signal.SIGINT)
                for i in range(100):
                    str(i)
            except KeyboardInterrupt:
                events.append("first")
                os.kill(os.getpid(), signal.SIGINT)   # during the clean-up: ignored
                for i in range(100):
                    str(i)
                events.append("clean-up done")
            run.finish(130)
        events.append(signal.getsignal(signal.SIGINT) is before)
        print(events, interrupts.interrupted())
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "['first', 'clean-up done', True] True"


def test_interrupt_inside_a_weakref_callback_is_raised_after_it_not_lost():
    # Python drops an exception raised in a weakref callback (the import system's module locks
    # have one): the interrupt must come once the callback is over, with no "Exception ignored".
    p = run_py("""
        import os, signal, time, weakref
        from bpfinspect import interrupts
        interrupts.install(command=True)
        class Thing: pass
        def callback(ref):
            os.kill(os.getpid(), signal.SIGINT)
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                pass
        thing = Thing()
        ref = weakref.ref(thing, callback)
        try:
            del thing
            while True:
                time.sleep(0.001)
        except KeyboardInterrupt:
            print("interrupted after the callback")
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "interrupted after the callback"
    assert p.stderr == ""


_AS_FINISH_IS_CALLED = """
    import os, signal, sys
    from bpfinspect.interrupts import command
    def profile(frame, event, arg):
        # SIGINT the moment the command's finish is entered, after its own try has ended:
        # the handler runs at Python's next check, inside finish
        if event == "call" and frame.f_code is command.finish.__code__:
            sys.setprofile(None)
            os.kill(os.getpid(), signal.SIGINT)
"""


def test_interrupt_as_the_command_finishes_ends_the_process_with_130_and_one_line():
    p = run_py(_AS_FINISH_IS_CALLED + """
    sys.argv = ["bpfinspect", "sections", "fixtures/kprobe.bpf.o"]
    sys.setprofile(profile)
    from bpfinspect.__main__ import run
    raise SystemExit(run())
    """)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 130 and p.stderr == "bpfinspect: interrupted\n", (p.returncode, p.stderr)
    assert ".text" in p.stdout  # the command's output is whole


@pytest.mark.parametrize("installed", [False, True])
def test_interrupt_as_main_finishes_leaves_its_caller_alone(installed):
    # main([...]) called from Python: the command is over; its Ctrl-C does not follow the
    # caller (the rule of the test below), and nothing is printed -- also when the handler
    # was in place before (the runtime puts it there once libbpf is loaded)
    p = run_py(_AS_FINISH_IS_CALLED + f"""
    import io, contextlib, time
    from bpfinspect import interrupts
    from bpfinspect.cli.main import main
    if {installed}:
        interrupts.install()
    sys.setprofile(profile)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["sections", "fixtures/kprobe.bpf.o"])
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        time.sleep(0.001)
    print("returned", code, ".text" in out.getvalue())
    """)
    assert p.returncode == 0 and p.stdout.strip() == "returned 0 True" and p.stderr == "", (p.stdout, p.stderr)


def test_an_interrupt_raised_again_stops_when_the_command_has_given_the_handler_back():
    # main([...]) called from Python: once the command has ended and the caller's handler is
    # back, nothing of the command's may interrupt the caller again.
    p = run_py("""
        import os, signal, time, weakref
        from bpfinspect import interrupts
        class Thing: pass
        def callback(ref):
            os.kill(os.getpid(), signal.SIGINT)
            end = time.monotonic() + 0.01
            while time.monotonic() < end:
                pass
        with interrupts.command(keep_installed=False) as run:
            run.start()
            thing = Thing()
            ref = weakref.ref(thing, callback)
            try:
                del thing
            except KeyboardInterrupt:
                pass
            run.finish(0)
        caught = 0
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            try:
                time.sleep(0.001)
            except KeyboardInterrupt:
                caught += 1
        print("after", caught)
    """)
    assert p.returncode == 0 and p.stdout.strip() == "after 0", (p.stdout, p.stderr)


def test_other_unraisable_exceptions_are_still_reported():
    p = run_py("""
        import weakref
        from bpfinspect import interrupts
        interrupts.install(command=True)
        class Thing: pass
        def callback(ref):
            raise ValueError("from the callback")
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        print("went on")
    """)
    assert p.returncode == 0 and p.stdout.strip() == "went on"
    assert "Exception ignored" in p.stderr and "ValueError: from the callback" in p.stderr


def test_stop_on_interrupt_ends_the_block_quietly():
    p = run_py("""
        import os, signal
        from bpfinspect import interrupts
        interrupts.install()
        with interrupts.stop_on_interrupt() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            while True:
                pass
        print("stopped", stop.interrupted)
    """)
    assert p.returncode == 0 and p.stdout.strip() == "stopped True", p.stderr


def test_interrupt_before_the_command_starts_is_delivered_to_it():
    # SIGINT blocked when the process starts (so it arrives while Python itself starts):
    # the command unblocks it once its handler is in place, and ends with 130.
    p = subprocess.Popen([sys.executable, "-m", "bpfinspect", "info", str(FIXTURES / "kprobe.bpf.o")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}))
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "bpfinspect: interrupted\n" and out == ""


# ---------------------------------------------------------------- random moments of real commands

def _interrupt_at(cmd: list[str], delay: float, env=None) -> tuple[subprocess.CompletedProcess, bool]:
    """Run ``cmd`` in its own process group and send SIGINT to the group after ``delay``
    seconds, as a terminal's Ctrl-C does; (result, whether the signal was sent while it ran).
    SIGINT starts blocked, so one sent while Python starts reaches bpfinspect's handler."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                         start_new_session=True,
                         preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}))
    time.sleep(delay)
    sent = p.poll() is None
    if sent:
        os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err), sent


def _duration(cmd: list[str], env=None) -> float:
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    return time.monotonic() - start


def _check_interrupted(res: subprocess.CompletedProcess, sent: bool, delay: float) -> bool:
    """Whether the run was interrupted; fails on a traceback or anything but the one line."""
    where = f"SIGINT after {delay * 1000:.0f} ms"
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, f"{where}:\n{res.stderr}"
    if not sent or res.returncode in (0, 1) and "interrupted" not in res.stderr:
        # finished before the signal came (or it came as the process was exiting and was
        # too late to change anything)
        assert res.returncode in (0, 1), f"{where}: exit {res.returncode}\n{res.stderr}"
        return False
    assert res.returncode == 130, f"{where}: exit {res.returncode}\n{res.stderr}"
    assert res.stderr.splitlines()[-1:] == ["bpfinspect: interrupted"], f"{where}:\n{res.stderr}"
    assert len(res.stderr.splitlines()) == 1, f"{where}: more than one line:\n{res.stderr}"
    return True


UNSHARE = shutil.which("unshare")


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
@pytest.mark.skipif(UNSHARE is None, reason="unshare(1) is not installed")
def test_fifty_interrupts_of_load_leave_nothing_behind(tmp_path):
    """`load` of an object with a pin-by-name map (and, every other run, `load --attach` of a
    tracepoint object) interrupted at 50 random moments, each in a private mount namespace with
    a fresh bpffs, so the pins of each run are exactly what that bpffs holds afterwards."""
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    listing = tmp_path / "after"
    objects = [(str(FIXTURES / "maps.bpf.o"), []), (str(RT_TEST_OBJ), ["--attach"])]

    helper = textwrap.dedent("""
        import os, subprocess, sys
        listing, args = sys.argv[-1], sys.argv[1:-1]
        if subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"]).returncode:
            sys.exit(99)
        with open(listing + ".before", "w") as f:
            f.write("\\n".join(os.listdir("/sys/fs/bpf")))
        rc = subprocess.run([sys.executable, "-m", "bpfinspect", "load", *args]).returncode
        with open(listing, "w") as f:
            f.write("\\n".join(os.listdir("/sys/fs/bpf")))
        sys.exit(rc if rc >= 0 else 200 - rc)   # killed by a signal: 200 + its number
    """)

    def cmd(obj: str, extra: list[str]) -> list[str]:
        # this helper keeps SIGINT blocked (it never sees it); bpfinspect unblocks it
        return [UNSHARE, "-m", "--propagation", "private", sys.executable, "-c", helper, obj, *extra, str(listing)]

    # (the least of two runs, the first may fill caches; and moments within the first 80% of it,
    # so that a run sped up by a quieter machine is still running when most signals come)
    durations = [min(_duration(cmd(o, e)) for _ in range(2)) for o, e in objects]
    interrupted = 0
    for i in range(50):
        obj, extra = objects[i % 2]
        delay = rng.uniform(0, 0.8 * durations[i % 2])
        res, sent = _interrupt_at(cmd(obj, extra), delay)
        assert res.returncode != 99, "cannot mount a private bpffs"
        interrupted += _check_interrupted(res, sent, delay)
        before = set(open(f"{listing}.before").read().split())
        after = set(open(listing).read().split())
        assert after == before, f"SIGINT after {delay * 1000:.0f} ms left {after - before} in bpffs"
    # (programs, maps and links live only as long as the process's fds; tracepoints attach
    # through perf events, so these runs write nothing to tracefs)
    print(f"{interrupted} of 50 runs interrupted")
    assert interrupted >= 30, f"only {interrupted} of 50 runs were interrupted while running"


# (command, environment) of the other commands that run long enough for a Ctrl-C to matter
LONG_RUNNING = {
    "btf vmlinux as C": (["btf", "/sys/kernel/btf/vmlinux", "--format", "c"], {"BPFINSPECT_NO_CACHE": "1"}),
    "disasm": (["disasm", str(FIXTURES / "bootstrap.bpf.o")], {}),
    "gen-skel python": (["gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--lang", "python"], {}),
    "core": (["core", str(FIXTURES / "bootstrap.bpf.o"), "--btf", "/sys/kernel/btf/vmlinux"], {}),
    "expand": (["expand", str(FIXTURES / "src" / "kprobe.bpf.c")], {}),
}


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_interrupts_of_other_long_running_commands(name):
    args, extra_env = LONG_RUNNING[name]
    if any(a.startswith("/sys/kernel/btf") for a in args) and not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    env = dict(os.environ, **extra_env)
    cmd = [sys.executable, "-m", "bpfinspect", *args]
    duration = min(_duration(cmd, env=env) for _ in range(3))   # the first ones may fill caches
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    interrupted = sent_while_running = attempts = 0
    # Ten runs that the signal reached while they ran (a run may end sooner than the ones
    # measured, on a machine whose load has just dropped: that one does not count, and the
    # moments are drawn from a shorter span after it)
    while sent_while_running < 10 and attempts < 40:
        attempts += 1
        # (within the first four fifths: a Ctrl-C as the process exits, its output written,
        # changes nothing, and a loaded machine makes that end a larger share of the run)
        delay = rng.uniform(0, 0.8 * duration)
        res, sent = _interrupt_at(cmd, delay, env=env)
        interrupted += _check_interrupted(res, sent, delay)
        if sent:
            sent_while_running += 1
        else:
            duration = min(duration, delay)
    assert sent_while_running == 10, f"only {sent_while_running} of {attempts} runs were still running at their moment"
    assert interrupted >= 3, f"only {interrupted} of 10 runs were interrupted while running"


def test_ctrl_c_while_the_command_loads_is_the_commands():
    """The entry point puts the handler in place before it imports the command line: a Ctrl-C
    that comes while the modules load ends the command with its one line and 130."""
    code = ("import os, signal, sys; sys.argv = ['bpfinspect', 'sections', sys.argv[1]]\n"
            "from bpfinspect import interrupts\n"
            "interrupts.early()\n"
            "os.kill(os.getpid(), signal.SIGINT)      # as if it came during the imports below\n"
            "from bpfinspect.cli.main import main\n"
            "sys.exit(main())\n")
    p = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "maps.bpf.o")], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert p.returncode == 130 and p.stdout == ""
    assert p.stderr == "bpfinspect: interrupted\n"


def test_the_main_thread_is_known_without_threading():
    """interrupts tells the main thread without importing threading: the thread that imported
    it, another thread is not, and a child forked from another thread is (its only thread)."""
    code = textwrap.dedent("""
        import _thread, os, sys, time
        from bpfinspect import interrupts as I
        assert "threading" not in sys.modules
        out = [I._on_main_thread()]
        done = []
        def worker():
            out.append(I._on_main_thread())
            pid = os.fork()
            if pid == 0:
                os._exit(0 if I._on_main_thread() and I.install() else 1)
            out.append(os.waitpid(pid, 0)[1] == 0)
            done.append(1)
        _thread.start_new_thread(worker, ())
        while not done:
            time.sleep(0.01)
        print(out, "threading" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.stdout.split("\n")[0] == "[True, False, True] False", res.stdout + res.stderr
