"""The command line's entry point (``bpfinspect``, ``python -m bpfinspect``).

The Ctrl-C handler goes in place before the rest of bpfinspect is imported
(:func:`bpfinspect.interrupts.early`), so that a Ctrl-C while the command loads ends it with
its one line, never a traceback.
"""

from bpfinspect import interrupts


def run() -> int:
    interrupts.early()
    from bpfinspect.cli.main import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
