"""Identifiers for generated C and C++ code.

A name taken from a BPF object (its file name, a ``--name`` option, a map,
program or variable name, a section name) becomes a C identifier this way:

1. every character that is not an ASCII letter, digit or ``_`` becomes ``_``;
2. an empty result becomes ``_``;
3. a leading digit gets a ``_`` in front (``1st_prog`` -> ``_1st_prog``);
4. a C or C++ keyword (or an alternative operator spelling such as ``and``)
   gets a ``_`` appended (``int`` -> ``int_``), because the skeleton is
   compiled as C and as C++.

The rules are applied in that order and never depend on anything but the name,
so the same input always gives the same identifier.
"""

from __future__ import annotations

import re

# C11/C17/C23 keywords (with the underscore spellings), C++20 keywords and the
# C++ alternative operator tokens: none of them may name a struct member or tag.
KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
alignas alignof bool constexpr false nullptr static_assert thread_local true typeof typeof_unqual _BitInt
_Decimal32 _Decimal64 _Decimal128
asm catch char8_t char16_t char32_t class concept consteval constinit const_cast co_await co_return
co_yield decltype delete dynamic_cast explicit export friend mutable namespace new noexcept operator
private protected public reinterpret_cast requires static_cast template this throw try typeid typename
using virtual wchar_t
and and_eq bitand bitor compl not not_eq or or_eq xor xor_eq
""".split())

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def sanitize(name: str) -> str:
    """Characters outside ``[A-Za-z0-9_]`` become ``_`` (nothing else changes)."""
    return _NOT_IDENT.sub("_", name)


def c_ident(name: str) -> str:
    """A valid C and C++ identifier for ``name`` (rules in the module text)."""
    ident = sanitize(name) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    if ident in KEYWORDS:
        ident += "_"
    return ident


def is_c_ident(name: str) -> bool:
    return bool(name) and c_ident(name) == name


def guard_macro(ident: str) -> str:
    """The include guard for a skeleton named ``ident``: ``__IDENT_SKEL_H__``."""
    return f"__{ident.upper()}_SKEL_H__"


def c_string(text: str) -> str:
    """``text`` as a C string literal (printable ASCII kept, everything else escaped)."""
    out = ['"']
    for b in text.encode("utf-8", "surrogateescape"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F and ch != "?":
            out.append(ch)
        else:
            # Octal escapes end after three digits, so a following digit cannot join them;
            # '?' is escaped so that no trigraph can form.
            out.append(f"\\{b:03o}")
    out.append('"')
    return "".join(out)
