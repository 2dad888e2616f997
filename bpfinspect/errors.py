"""The one error hierarchy of bpfinspect.

The command line turns these into a single line on stderr and an exit code:
2 for bad input or usage, 1 for an operation that ran and failed, 3 for an
environment problem (no libbpf, no privilege, no tracefs...).
"""

from __future__ import annotations


class BpfInspectError(Exception):
    """Base of every error bpfinspect reports to its user."""

    exit_code = 2
    # lines the command line prints after the one-line message (the input line quoted with a
    # caret under the mistake); the first line says everything on its own
    context: str | None = None

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


def errno_name(err: int) -> str:
    """The symbolic name of an error number (EACCES), as the kernel and libbpf spell it."""
    import errno as _errno

    err = abs(err)
    if err == _errno.EOPNOTSUPP:
        return "EOPNOTSUPP"  # the name libbpf and the kernel use for 95 (Python says ENOTSUP)
    name = _errno.errorcode.get(err)
    if name:
        return name
    extra = {133: "EHWPOISON", 512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
             516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 521: "EBADHANDLE",
             522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL", 526: "ESERVERFAULT",
             527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED", 530: "ERECALLCONFLICT"}
    if err in extra:  # names Python's errno module lacks, and the kernel-internal ones bpf() can return
        return extra[err]
    libbpf_names = {4000: "LIBBPF_ERRNO__LIBELF", 4001: "LIBBPF_ERRNO__FORMAT", 4002: "LIBBPF_ERRNO__KVERSION",
                    4003: "LIBBPF_ERRNO__ENDIAN", 4004: "LIBBPF_ERRNO__INTERNAL", 4005: "LIBBPF_ERRNO__RELOC",
                    4006: "LIBBPF_ERRNO__LOAD", 4007: "LIBBPF_ERRNO__VERIFY", 4008: "LIBBPF_ERRNO__PROG2BIG",
                    4009: "LIBBPF_ERRNO__KVER", 4010: "LIBBPF_ERRNO__PROGTYPE", 4011: "LIBBPF_ERRNO__WRNGPID",
                    4012: "LIBBPF_ERRNO__INVSEQ", 4013: "LIBBPF_ERRNO__NLPARSE"}
    return libbpf_names.get(err, f"E{err}")
