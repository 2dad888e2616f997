"""``bpfinspect expand``: a BPF C source with only the tracing macros expanded."""

from __future__ import annotations

import argparse
import sys

MAX_DIAGNOSTICS = 50

# the architectures libbpf's bpf_tracing.h knows: expand.clangfront.ARCHES, which this module cannot
# import cheaply (a test keeps the two equal)
ARCH_CHOICES = ("x86", "arm64", "riscv", "s390", "powerpc", "mips", "loongarch")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "expand",
        help="show a BPF C source with BPF_KPROBE, SEC, BPF_CORE_READ... expanded",
        description=(
            "Print FILE with only the chosen macros expanded, the way the C preprocessor "
            "expands them for the chosen architecture; everything else, comments included, "
            "stays as written.  Default macros: SEC, BPF_KPROBE, BPF_KRETPROBE, BPF_KSYSCALL, "
            "BPF_KPROBE_SYSCALL, BPF_UPROBE, BPF_URETPROBE, BPF_PROG, BPF_PROG2, the "
            "BPF_CORE_READ family, bpf_printk, __uint, __type, __array."),
    )
    p.add_argument("file", metavar="FILE.bpf.c", help="BPF C source")
    p.add_argument("-m", "--macro", dest="macros", action="append", metavar="MACRO",
                   help="expand this macro (repeatable, or comma-separated; replaces the "
                        "default set, which '-m default' brings back)")
    p.add_argument("--keep", action="append", default=[], metavar="MACRO",
                   help="leave this macro as written inside expansions (repeatable)")
    p.add_argument("--arch", choices=ARCH_CHOICES, default=None,
                   help="target architecture of the kprobe register layout (default: this machine's)")
    p.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                   help="add DIR to the include path")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]",
                   help="define a macro for the parse")
    p.add_argument("--btf", metavar="PATH",
                   help="BTF to print vmlinux.h from when the source includes one and none is "
                        "on the include path (default: /sys/kernel/btf/vmlinux)")
    p.add_argument("--no-core", action="store_true",
                   help="rewrite the source without CO-RE: every BPF_CORE_READ*, bpf_core_read*, "
                        "bpf_core_field_*, bpf_core_type_*, bpf_core_enum_value* becomes a plain read at "
                        "the offset, or the value, that --btf (the target; default /sys/kernel/btf/vmlinux) "
                        "gives")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--diff", action="store_true", help="unified diff against the original")
    view.add_argument("--sites", action="store_true",
                      help="each expanded use: location, macro and expansion")
    view.add_argument("--json", action="store_true", help="the expansion as JSON (schema 1)")
    p.set_defaults(run=run)


def _highlight(text: str, lexer: str):
    """``text`` as a rich Text in syntax colours (no wrapping, no cropping)."""
    from rich.syntax import Syntax  # noqa: PLC0415 - heavy, only on a terminal

    highlighted = Syntax(text, lexer, theme="ansi_dark", background_color="default").highlight(text)
    highlighted.rstrip()
    return highlighted


def _print_highlighted(text: str, lexer: str) -> None:
    from bpfinspect.views.term import console, use_color  # noqa: PLC0415

    if use_color(sys.stdout):
        # soft_wrap: long lines go to the terminal whole (it wraps them), never cropped
        console(sys.stdout, highlight=False).print(_highlight(text, lexer), soft_wrap=True)
    else:
        sys.stdout.write(text)
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")


class _Views:
    """How one kind of result (the expansion, or the rewrite without CO-RE) is shown."""

    def __init__(self, json, diff, sites, text, sites_rich=None) -> None:
        self.json, self.diff, self.sites, self.text, self.sites_rich = json, diff, sites, text, sites_rich


def run(args: argparse.Namespace) -> int:
    # Bytes that are not UTF-8 (a Latin-1 comment, a binary string) come back out as they were.
    sys.stdout.reconfigure(errors="surrogateescape")
    from bpfinspect.expand.clangfront import SourceDiagnostics  # noqa: PLC0415

    try:
        result, views = _rewrite(args) if args.no_core else _expand(args)
    except SourceDiagnostics as exc:
        return _diagnostics(exc)
    _warnings(result)
    if args.json:
        from bpfinspect.views.jsonout import emit  # noqa: PLC0415
        emit(views.json(result))
    elif args.diff:
        _print_highlighted(views.diff(result), "diff")
    elif args.sites:
        from bpfinspect.views.term import use_color  # noqa: PLC0415

        if views.sites_rich is not None and use_color(sys.stdout):
            views.sites_rich(result)
        else:
            sys.stdout.write(views.sites(result))
    else:
        _print_highlighted(result.as_text(views.text(result)), "c")
    return 0


def _expand(args: argparse.Namespace):
    """The expansion (libclang, in a limited child) and its views."""
    from bpfinspect.expand.limited import expand_limited  # noqa: PLC0415 - libclang (in a child) is heavy
    from bpfinspect.expand.views import diff_text, json_document, sites_text  # noqa: PLC0415

    result = expand_limited(args.file, macros=args.macros, keep=args.keep, arch=args.arch,
                            include_dirs=args.include_dirs, defines=args.defines, btf_path=args.btf)
    return result, _Views(json_document, diff_text, sites_text, lambda r: r.expanded, _print_sites_rich)


def _rewrite(args: argparse.Namespace):
    """The rewrite without CO-RE for one target BTF (libclang, in a limited child) and its views."""
    from bpfinspect.errors import UsageError  # noqa: PLC0415
    from bpfinspect.expand.limited import rewrite_limited  # noqa: PLC0415 - libclang (in a child) is heavy
    from bpfinspect.expand.views import nocore_diff_text, nocore_json, nocore_sites_text  # noqa: PLC0415

    if args.keep:
        raise UsageError("--no-core expands every CO-RE macro: drop --keep")
    extra = [m.strip() for ms in (args.macros or []) for m in ms.split(",") if m.strip() and m.strip() != "default"]
    result = rewrite_limited(args.file, target=args.btf, arch=args.arch, include_dirs=args.include_dirs,
                             defines=args.defines, macros=extra)
    return result, _Views(nocore_json, nocore_diff_text, nocore_sites_text, lambda r: r.text)


def _print_sites_rich(result) -> None:
    from rich.text import Text  # noqa: PLC0415

    from bpfinspect.views.term import console as make_console  # noqa: PLC0415

    console = make_console(sys.stdout, highlight=False)
    for site in result.sites:
        head = Text()
        head.append(f"{result.path}:{site.line}:{site.column}", style="bold")
        head.append(": ")
        head.append(site.macro, style="bold cyan")
        console.print(head, soft_wrap=True)
        console.print(_highlight(result.as_text(site.original), "c"), soft_wrap=True)
        console.print(Text("expands to:", style="dim"))
        console.print(_highlight(result.as_text(site.expansion), "c"), soft_wrap=True)
        console.print()


def _diagnostics(exc) -> int:
    """clang's errors, a bounded number of lines; exit 2."""
    for line in exc.lines[:MAX_DIAGNOSTICS]:
        print(f"bpfinspect: {line}", file=sys.stderr)
    if len(exc.lines) > MAX_DIAGNOSTICS:
        print(f"bpfinspect: ... and {len(exc.lines) - MAX_DIAGNOSTICS} more errors", file=sys.stderr)
    return 2


def _warnings(result) -> None:
    for warning in result.warnings:
        print(f"bpfinspect: warning: {warning}", file=sys.stderr)
