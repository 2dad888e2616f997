"""LALR parsers from the grammars shipped beside their modules, analysed once at install.

Turning a grammar into parse tables is most of what lark costs (tens of
milliseconds a grammar).  The install (``make setup``, ``pip install``) runs
:func:`prebuild`, which keeps every analysed grammar in a file beside it
(``NAME.lark.tables``: lark's own serialised form, ``Lark.save``, after a
first line naming the grammar text, the options, the lark and Python versions
it was made from); a run loads that instead of analysing the grammar, and
analyses it when the first line does not match (a grammar edited in a
checkout, lark upgraded), so the file is an accelerator only.  lark's own
cache option is not used: it keys its file by the file's own path (which
differs between the build directory and the install) and by default keeps it in
the shared temporary directory, where anyone could leave a file for us to
unpickle.  Nothing outside the package is read, and a run writes nothing.

lark itself is imported only when a parser is first needed.
"""

from __future__ import annotations

import os

# Every grammar of the package: module (whose directory holds the grammar) -> grammar file.
# prebuild() builds each one through its module's own ``_parser()``, so the options used at
# install are the ones used at run time.
GRAMMARS = {
    "bpfinspect.sections.spec": "targets.lark",
    "bpfinspect.isa.asm": "asm.lark",
    "bpfinspect.probes.line_syntax": "probe_line.lark",
}

_SUFFIX = ".tables"
# Options given again when loading (lark does not keep objects such as a transformer).
_AT_LOAD = ("transformer", "propagate_positions")
_writing = False  # set by prebuild(): write the tables of every parser made


def tables_path(module_file: str, grammar: str) -> str:
    return os.path.join(os.path.dirname(module_file), grammar + _SUFFIX)


def _key(text: str, options: dict) -> bytes:
    import hashlib
    import sys

    import lark

    kept = sorted((k, repr(v)) for k, v in options.items() if k not in _AT_LOAD)
    h = hashlib.sha256(f"{lark.__version__}\0{sys.version_info[:2]}\0{kept}\0".encode())
    h.update(text.encode("utf-8"))
    return h.hexdigest().encode() + b"\n"


def parser(module_file: str, grammar: str, **options):
    """lark's LALR parser (contextual lexer) for ``grammar``, the file beside ``module_file``,
    loaded from the tables the install kept when they match, analysed otherwise."""
    from lark import Lark

    with open(os.path.join(os.path.dirname(module_file), grammar), encoding="utf-8") as f:
        text = f.read()
    options = dict(options, parser="lalr", lexer="contextual")
    tables = tables_path(module_file, grammar)
    key = _key(text, options)
    if not _writing:
        try:
            with open(tables, "rb") as f:
                if f.readline() == key:
                    # what Lark(cache=...) does with a matching file
                    return Lark.__new__(Lark)._load(f, **{k: options[k] for k in _AT_LOAD if k in options})
        except FileNotFoundError:
            pass
        except Exception:  # an unreadable file, another lark: analyse the grammar
            pass
    made = Lark(text, **options)
    if _writing:
        from bpfinspect.fileio import replacing

        with replacing(tables, prefix=f".{os.path.basename(tables)}-") as tmp:
            with open(tmp, "wb") as f:
                f.write(key)
                made.save(f, exclude_options=_AT_LOAD + ("postlex", "lexer_callbacks", "edit_terminals", "_plugins"))
    return made


def prebuild() -> list[str]:
    """Write the analysed tables of every grammar (into the package this module was imported
    from); returns the files written or checked."""
    import importlib

    global _writing
    done = []
    _writing = True
    try:
        for name, grammar in GRAMMARS.items():
            module = importlib.import_module(name)
            path = tables_path(module.__file__, grammar)
            module._parser.cache_clear()
            module._parser()
            module._parser.cache_clear()
            done.append(path)
    finally:
        _writing = False
    return done
