"""bpfinspect.sandbox: work in a child process under limits, and how each way of ending comes back.

References: the kernel's resource limits (RLIMIT_AS makes the allocation fail, RLIMIT_CPU sends
SIGXCPU), real signals (os.abort, SIGINT), and /proc (whether the child still exists).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs fork()")


def run(work: str, **limits):
    from bpfinspect.sandbox import run_limited

    kw = {"memory_mb": 512, "cpu_seconds": 5, "wall_seconds": 10, "what": "the work"}
    kw.update(limits)
    namespace: dict = {}
    exec(textwrap.dedent(work), namespace)   # defines work()
    return run_limited(namespace["work"], **kw)


def test_value_comes_back_through_json():
    assert run("def work(): return {'a': [1, 2.5, 'é\\udcff', None]}") == {"a": [1, 2.5, "é\udcff", None]}


def test_encode_and_decode_are_the_callers():
    from bpfinspect.sandbox import run_limited
    assert run_limited(lambda: (1, 2), memory_mb=512, cpu_seconds=5, wall_seconds=10, encode=list,
                       decode=tuple) == (1, 2)


def test_error_of_ours_keeps_its_exit_code_message_and_lines():
    from bpfinspect.sandbox import ChildError
    with pytest.raises(ChildError) as info:
        run("""
            from bpfinspect.errors import EnvironmentProblem
            def work():
                exc = EnvironmentProblem("no tracefs here", path="x.o")
                exc.lines = ["one", "two"]
                raise exc
        """)
    assert info.value.exit_code == 3 and info.value.message == "no tracefs here"
    assert info.value.lines == ["one", "two"] and info.value.path == "x.o"


def test_memory_limit():
    from bpfinspect.sandbox import LimitExceeded
    with pytest.raises(LimitExceeded, match="^the work needs more than the 256 MiB of memory it may use$"):
        run("def work(): return len(bytearray(1 << 30))", memory_mb=256)


def test_cpu_limit():
    from bpfinspect.sandbox import LimitExceeded
    start = time.monotonic()
    with pytest.raises(LimitExceeded, match="^the work needs more than the 1 s of CPU time it may use$"):
        run("def work():\n    while True: pass", cpu_seconds=1, wall_seconds=60)
    assert time.monotonic() - start < 30


def test_wall_clock_limit_kills_a_child_that_waits():
    from bpfinspect.sandbox import LimitExceeded
    with pytest.raises(LimitExceeded, match=r"took more than 0.5 s \(wall clock\); stopped"):
        run("import time\ndef work(): time.sleep(60)", wall_seconds=0.5)


def test_a_crash_is_one_line_and_its_text_stays_in_the_child():
    from bpfinspect.sandbox import LimitExceeded
    with pytest.raises(LimitExceeded, match=r"^the work crashed \(SIGABRT\) on this input$"):
        run("import os, sys\ndef work():\n    sys.stderr.write('PLEASE submit a bug report\\n'); os.abort()")


def test_result_size_is_bounded():
    from bpfinspect.sandbox import LimitExceeded
    with pytest.raises(LimitExceeded, match="produced more than 1 MiB"):
        run("def work(): return 'x' * (4 << 20)", max_result=1 << 20)


def test_inherited_address_space_limit_is_kept():
    # under `ulimit -v`, the child's limit is never raised above it
    code = """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (900 << 20, 900 << 20))
        from bpfinspect.sandbox import run_limited
        print(run_limited(lambda: __import__("resource").getrlimit(__import__("resource").RLIMIT_AS)[0] >> 20,
                          memory_mb=4096, cpu_seconds=5, wall_seconds=10))
    """
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)
    assert p.stdout.strip() == "900", p.stderr


def test_ctrl_c_in_the_parent_kills_and_reaps_the_child(tmp_path):
    """The parent, waiting for a child that would run for a minute, gets SIGINT: the
    KeyboardInterrupt comes out of run_limited and the child is gone (killed and reaped)."""
    code = f"""
        import os, sys
        from bpfinspect import interrupts
        from bpfinspect.sandbox import run_limited
        interrupts.install()
        def work():
            open({str(tmp_path / 'child')!r}, "w").write(str(os.getpid()))
            import time; time.sleep(60)
        try:
            run_limited(work, memory_mb=512, cpu_seconds=5, wall_seconds=120)
        except KeyboardInterrupt:
            print("interrupted")
    """
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    marker = tmp_path / "child"
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(marker.read_text())
    p.send_signal(signal.SIGINT)       # the parent only: the child ignores SIGINT anyway
    out, err = p.communicate(timeout=30)
    assert out.strip() == "interrupted" and "Traceback" not in err, err
    assert not os.path.exists(f"/proc/{child}"), "the child outlived its parent's interrupt"


def test_the_child_dies_with_its_parent(tmp_path):
    code = f"""
        import os
        from bpfinspect.sandbox import run_limited
        def work():
            open({str(tmp_path / 'child')!r}, "w").write(str(os.getpid()))
            import time; time.sleep(60)
        run_limited(work, memory_mb=512, cpu_seconds=5, wall_seconds=120)
    """
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT)
    marker = tmp_path / "child"
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(marker.read_text())
    p.kill()                            # SIGKILL: the parent cannot clean up
    p.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}")
