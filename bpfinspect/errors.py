"""The one error hierarchy of bpfinspect.

The command line turns these into a single line on stderr and an exit code:
2 for bad input or usage, 1 for an operation that ran and failed, 3 for an
environment problem (no libbpf, no privilege, no tracefs...).
"""

from __future__ import annotations


class BpfInspectError(Exception):
    """Base of every error bpfinspect reports to its user."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def one_line(self) -> str:
        text = self.message
        if self.path and not text.startswith(self.path):
            text = f"{self.path}: {text}"
        return " ".join(text.split("\n"))


class UsageError(BpfInspectError):
    """The user asked for something that does not make sense (unknown program, bad flag value)."""

    exit_code = 2


class MalformedInput(BpfInspectError):
    """The input bytes are not what they claim to be.

    ``offset`` is the byte offset in the file (or in the named section when
    ``section`` is set) where the problem was found.
    """

    exit_code = 2

    def __init__(self, what: str, *, path: str | None = None, offset: int | None = None,
                 section: str | None = None) -> None:
        where = []
        if section:
            where.append(f"section {section}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        message = f"{', '.join(where)}: {what}" if where else what
        super().__init__(message, path=path)
        self.what = what
        self.offset = offset
        self.section = section


class OperationFailed(BpfInspectError):
    """An operation ran and failed (the verifier rejected a program, attach failed...)."""

    exit_code = 1


class EnvironmentProblem(BpfInspectError):
    """The machine lacks something: libbpf, privilege, the bpf() syscall, tracefs..."""

    exit_code = 3
