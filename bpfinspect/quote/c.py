"""C and C++ text made from untrusted names: identifiers, comments, string literals.

Identifiers
===========
:func:`ident` turns any text into an identifier, by these rules in order:

1. every character outside ASCII letters, digits and ``_`` becomes ``_`` (a
   non-ASCII character counts as one character);
2. an empty result becomes ``_``; a leading digit gets ``_`` in front;
3. a name that starts with ``__builtin_`` gets ``_`` in front;
4. while the result is *reserved*, ``_`` is appended.

Reserved are: the keywords of C (C89 to C23) and of the GNU and clang dialects
(``__attribute__``, ``__typeof__``, ``_Float16``...), the macros that the
skeleton's includes define or that gcc or clang predefine in any language mode
or for any Linux target (``linux``, ``unix``, ``i386``, ``errno``, ``NULL``,
``true``, ``EINVAL``, ``SIZE_MAX``, ``BYTE_ORDER``...), with ``cxx`` the C++
keywords and alternative operator spellings too, and whatever the caller adds.  The macro list is
``c_reserved.json``, written from the compilers of the machine by
``scripts/gen_c_reserved.py`` (a test checks that it is current).  Names at
file scope must also avoid every name the includes declare there (functions,
variables, enumerators, typedefs): :func:`header_names` gives them.

Identifiers are never shortened: compilers take any length, and only string
literals have a limit a pedantic compiler enforces.

Names must also be unique in their scope; the generators keep their scopes
(:mod:`bpfinspect.skel.c_model`, :mod:`bpfinspect.skel.c_names`), asking this
module whether a name is reserved.

Comments
========
:func:`comment` shows text inside ``/* */``: characters outside printable ASCII
as C escapes (``\\n``, ``\\x1b``, ``\\u00e9``), a backslash doubled, ``?`` as
``\\?`` (no trigraph such as ``??/`` can form), and ``*/``, ``/*`` and ``//``
broken by a backslash, so the comment cannot end early, nest, or continue on
the next line.

Strings
=======
:func:`string` writes the UTF-8 bytes of a text (undecodable bytes read with
``surrogateescape`` come out as they were) as a string literal: printable ASCII
stays except ``"``, ``\\`` and ``?``, every other byte is a three-digit octal
escape (which cannot swallow a following digit, unlike ``\\x``).  ISO C only
requires compilers to take literals of 4095 characters (``-Woverlength-strings``
under ``-Wpedantic``): :func:`string_expr` writes longer ones as a ``static const
char`` array of character constants instead, each an octal escape (:func:`char`).
"""

from __future__ import annotations

import json
import os
import re

from bpfinspect.quote import shown

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c_reserved.json")

# Longest string literal ISO C (C99 and later) requires compilers to support.
MAX_STRING = 4095


class Code(str):
    """C or C++ text that is safe to write into generated code as it is."""

    __slots__ = ()


def trusted(text: str) -> Code:
    """Mark the generator's own text (fixed words, numbers, hex rows) as code."""
    return Code(text)


# C89..C23 keywords, with the underscore spellings.
C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _BitInt _Bool _Complex _Decimal128 _Decimal32 _Decimal64 _Generic _Imaginary
_Noreturn _Static_assert _Thread_local alignas alignof bool constexpr false nullptr static_assert
thread_local true typeof typeof_unqual
""".split())

# Keywords of the GNU C dialect and of clang's (gcc and clang read them in every mode), and
# names that are keywords or built-in syntax in some of them.
GNU_KEYWORDS = frozenset("""
__alignof __alignof__ __asm __asm__ __attribute __attribute__ __auto_type __complex __complex__ __const
__const__ __extension__ __imag __imag__ __inline __inline__ __int128 __label__ __real __real__ __restrict
__restrict__ __signed __signed__ __thread __typeof __typeof__ __volatile__ __volatile __null __decltype
_Float16 _Float32 _Float32x _Float64 _Float64x _Float128 _Float128x __float80 __float128 __ibm128 __fp16
__bf16 __int64 __int32 __int16 __int8 __func__ __FUNCTION__ __PRETTY_FUNCTION__ __has_include
__has_include_next __has_attribute __has_cpp_attribute __has_builtin __has_feature __has_extension
__has_warning __has_c_attribute __is_identifier __nonnull _Nonnull __nullable _Nullable _Null_unspecified
__null_unspecified _Nullable_result __kindof __ptr32 __ptr64 __sptr __uptr __unaligned __w64 __declspec
__cdecl __stdcall __fastcall __thiscall __vectorcall __regcall __pascal __forceinline __wchar_t
__private_extern__ __module_private__ __underlying_type __read_only __write_only __read_write __vector
__pixel __bool __global __local __constant __private __generic __kernel _Sat _Fract _Accum __objc_yes
__objc_no __unknown_anytype __noinline__ __builtin_offsetof __builtin_va_arg
""".split())

# C++ keywords (up to C++23), the alternative operator spellings, and the type-trait names g++
# and clang++ read as keywords: reserved in C++ text only.
CXX_KEYWORDS = frozenset("""
alignas alignof and and_eq asm bitand bitor bool catch char8_t char16_t char32_t class compl concept const_cast
consteval constexpr constinit co_await co_return co_yield decltype delete dynamic_cast explicit export false
friend mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public
reinterpret_cast requires static_assert static_cast template this thread_local throw true try typeid typename
using virtual wchar_t xor xor_eq
__is_pod __is_empty __is_class __is_union __is_enum __is_same __is_base_of __is_convertible_to __is_trivial
__is_abstract __is_polymorphic __is_literal_type __is_standard_layout __is_final __is_aggregate
__has_trivial_constructor __has_trivial_copy __has_trivial_assign __has_trivial_destructor __has_nothrow_assign
__has_nothrow_copy __has_nothrow_constructor __has_virtual_destructor __has_unique_object_representations
""".split())

RESERVED_PREFIXES = ("__builtin_",)

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_reserved_data: dict | None = None


def _data() -> dict:
    global _reserved_data
    if _reserved_data is None:
        with open(_DATA, encoding="utf-8") as f:
            d = json.load(f)
        _reserved_data = {
            "macros": frozenset(d["macros"]),
            "declared": frozenset(d["ordinary"]) | frozenset(d["typedefs"]),
            "typedefs": d["typedefs"],
            "tags": {k: tuple(v) for k, v in d["tags"].items()},
        }
    return _reserved_data


def macros() -> frozenset:
    """Macro names of the skeleton's includes and the compilers' predefined macros."""
    return _data()["macros"]


def header_names() -> frozenset:
    """Names the skeleton's includes declare at file scope: functions, variables,
    enumerators, typedefs (and, for C++, namespaces and using-declarations)."""
    return _data()["declared"]


def header_typedef_size(name: str) -> int | None:
    """The size of the includes' typedef ``name`` on the generating machine (None: no such
    typedef, or one without a size)."""
    return _data()["typedefs"].get(name)


def header_tag(name: str) -> tuple[str, int | None] | None:
    """(``struct``/``union``/``enum``, size or None when incomplete) of a tag the includes
    declare, or None."""
    return _data()["tags"].get(name)


def is_keyword(name: str, cxx: bool = False) -> bool:
    return (name in C_KEYWORDS or name in GNU_KEYWORDS or name.startswith(RESERVED_PREFIXES)
            or (cxx and name in CXX_KEYWORDS))


_reserved_sets: dict[bool, frozenset] = {}


def _reserved_set(cxx: bool) -> frozenset:
    """The keywords (C's and GNU's, and C++'s with ``cxx``) and the macros, as one set."""
    r = _reserved_sets.get(cxx)
    if r is None:
        r = C_KEYWORDS | GNU_KEYWORDS | macros() | (CXX_KEYWORDS if cxx else frozenset())
        _reserved_sets[cxx] = r
    return r


def is_reserved(name: str, cxx: bool = False, extra=()) -> bool:
    """A keyword (C, GNU/clang, and C++ with ``cxx``), a macro, or in ``extra``."""
    return (name in (_reserved_sets.get(cxx) or _reserved_set(cxx)) or name.startswith(RESERVED_PREFIXES)
            or name in extra)


def sanitize(raw: str) -> str:
    """Rules 1 and 2 of the module text: the characters only."""
    if raw.isascii() and raw.isidentifier():
        return raw   # (an ASCII identifier: the rules change nothing)
    s = _NOT_IDENT.sub("_", raw) or "_"
    if s[0].isdigit():
        s = "_" + s
    return s


def numbering_base(base: str, suffix: str) -> str:
    """The base that ``base`` + ``suffix`` + N names are made from when ``base`` is taken: ``base``
    itself, or ``_`` + ``base`` when every numbered form would begin with a reserved prefix
    (``__builtin`` + ``___2``)."""
    return "_" + base if (base + suffix).startswith(RESERVED_PREFIXES) else base


def ident(raw: str, *, cxx: bool = False, extra=()) -> Code:
    """An identifier for ``raw`` (rules of the module text); ``extra``: more names to avoid
    (any container)."""
    s = sanitize(raw)
    if s.startswith(RESERVED_PREFIXES):
        s = "_" + s
    while is_reserved(s, cxx, extra):
        s += "_"
    return Code(s)


def is_ident(text: str) -> bool:
    """An ASCII C identifier (no check against keywords)."""
    return bool(_IDENT.match(text))


# -- comments -----------------------------------------------------------------------------------

_BREAK = re.compile(r"(?<=\*)/|(?<=/)[*/]|\?")


def comment_text(text: str) -> Code:
    """``text`` made safe to stand inside ``/* ... */`` (rules in the module text)."""
    return Code(_BREAK.sub(lambda m: "\\" + m.group(0), shown(text)))


def comment(text: str) -> Code:
    """A complete ``/* text */`` comment."""
    return Code(f"/* {comment_text(text)} */")


# -- string literals ----------------------------------------------------------------------------

def _bytes(text: str) -> bytes:
    """The bytes a text stands for: undecodable bytes read with ``surrogateescape`` come back
    as they were; any other lone surrogate is written as UTF-8 would write it."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# Each byte's text in a string literal made by string(): printable ASCII as itself but the quote
# and the backslash (escaped) and ``?`` (which could start a trigraph), the rest as three-digit
# octal (so that no digit after it is read as part of it).
_STRING_BYTES = tuple("\\" + chr(b) if b in (0x22, 0x5C) else chr(b) if 0x20 <= b < 0x7F and b != 0x3F
                      else f"\\{b:03o}" for b in range(256))


def string(text: str) -> Code:
    """A C string literal of ``text`` (any length; see :func:`string_expr` for long ones)."""
    return Code('"' + "".join(map(_STRING_BYTES.__getitem__, _bytes(text))) + '"')


_READABLE = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r",
             0x22: '\\"', 0x5C: "\\\\"}


def readable_string(data: bytes, limit: int | None = None) -> str:
    """``data`` as a C string literal to read (not to compile into generated code): the usual
    escapes (``\\n``, ``\\t``, ``\\"``), UTF-8 text as it is, any other byte as an octal escape;
    with ``limit``, at most that many characters of the text, then ``...`` after the quote."""
    text = data.decode("utf-8", "surrogateescape")
    out = []
    for ch in text[:limit] if limit is not None else text:
        o = ord(ch)
        if o in _READABLE:
            out.append(_READABLE[o])
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\{o - 0xDC00:03o}")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\{o:03o}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(ch)
    more = "..." if limit is not None and len(text) > limit else ""
    return '"' + "".join(out) + '"' + more


def string_at(blob: bytes, offset: int = 0, *, max_len: int = 4096) -> bytes | None:
    """The NUL-terminated text at ``offset`` of ``blob`` when it reads as a C string (at least one
    character; printable UTF-8 or common whitespace; the NUL inside ``blob``), else None."""
    if not 0 <= offset < len(blob):
        return None
    end = blob.find(b"\0", offset, offset + max_len + 1)
    if end <= offset:
        return None
    data = blob[offset:end]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 0x20 and c not in "\t\n\r") or ord(c) == 0x7F for c in text):
        return None
    return data


def is_char_array(type_text: str | None) -> bool:
    """``char[N]``, ``const char[N]``, ``unsigned char[N]``... (a type as the views print it)."""
    import re

    return bool(type_text) and re.fullmatch(r"(?:const |volatile )*(?:(?:un)?signed )?char\[\d+\]",
                                            type_text.strip()) is not None


def char(byte: int) -> Code:
    """A C character constant for ``byte``: a three-digit octal escape (``'\\303'``), which
    has the value a ``char`` holds on any target and never warns as a number over 127 would."""
    return Code(f"'\\{byte:03o}'")


def fits_literal(text: str) -> bool:
    return len(_bytes(text)) <= MAX_STRING


def string_expr(text: str, var: str) -> tuple[Code | None, Code]:
    """(declaration or None, expression) for a ``const char *`` holding ``text``.

    A text ISO C lets a literal hold is the literal itself; a longer one becomes
    ``static const char var[] = {...};`` (to be placed in the function using it)
    and the expression ``var``.  ``var`` must be an identifier the caller owns.
    """
    if fits_literal(text):
        return None, string(text)
    if not is_ident(var):
        raise ValueError(f"not an identifier: {var!r}")
    data = _bytes(text) + b"\0"
    rows = []
    for i in range(0, len(data), 12):
        rows.append("\t\t" + ", ".join(char(b) for b in data[i:i + 12]) + ",")
    decl = f"static const char {var}[{len(data)}] = {{\n" + "\n".join(rows) + "\n\t}"
    return Code(decl), Code(var)
