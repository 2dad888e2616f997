"""The layout of expansions: statements, blocks, pragmas, wrapping, spacing."""

from __future__ import annotations

from bpfinspect.expand.formatter import detect_indent_unit, format_expansion
from bpfinspect.expand.lexer import lex


def fmt(text: str, **kw) -> str:
    return format_expansion(lex(text), **kw)[0]


def test_statement_expression_and_blocks():
    assert fmt("({ int a = 1; if (a) { a++; } else a--; a; })") == (
        "({\n\tint a = 1;\n\tif (a) {\n\t\ta++;\n\t} else\n\t\ta--;\n\ta;\n})")


def test_unbraced_bodies_and_else():
    assert fmt("if (x) return 1; else return 2;") == "if (x)\n\treturn 1;\nelse\n\treturn 2;"
    assert fmt("for (i = 0; i < 3; i++) s += i;") == "for (i = 0; i < 3; i++)\n\ts += i;"


def test_function_at_file_level_gets_its_brace_on_a_line():
    assert fmt("int f(void) { return 0; }", top_level=True) == "int f(void)\n{\n\treturn 0;\n}"
    assert fmt("({ x; })", top_level=False) == "({\n\tx;\n})"


def test_struct_bodies_and_initializers():
    assert fmt("union { __u8 z[1]; int x; } t = { .z = {c[0]} };") == (
        "union {\n\t__u8 z[1];\n\tint x;\n} t = { .z = {c[0]} };")
    assert fmt("int a[] = {1, 2, 3};") == "int a[] = {1, 2, 3};"


def test_pragmas_on_their_own_lines_at_statement_level():
    text = '_Pragma("a") __attribute__((x)) _Pragma("b")'
    assert fmt(text, line_start=True) == '_Pragma("a")\n__attribute__((x))\n_Pragma("b")'
    # in the middle of a declaration they stay inline
    assert fmt(text, line_start=False) == text
    assert fmt('{ _Pragma("p") return 0; }', top_level=False) == '{\n\t_Pragma("p")\n\treturn 0;\n}'


def test_indentation_follows_the_site():
    out, due = format_expansion(lex("({ a; })"), indent="    ", unit="    ")
    assert out == "({\n        a;\n    })"
    assert not due
    out, due = format_expansion(lex("x;"), indent="\t")
    assert out == "x;" and due


def test_spacing():
    # the author's spacing, except around . -> ( ) [ ] , ;
    assert fmt("(void *)( ( ctx ) -> di )") == "(void *)((ctx)->di)"
    assert fmt("a = b+ +c;") == "a = b+ +c;"
    assert fmt("a = b+c;") == "a = b+c;"
    assert fmt("f ( a , b )") == "f(a, b)"
    assert fmt("int (*name)[4];") == "int (*name)[4];"
    assert fmt("x = -1 - -1;") == "x = -1 - -1;"


def test_long_argument_lists_wrap_after_a_comma():
    args = ", ".join(f"argument_number_{i}" for i in range(10))
    out = fmt(f"call({args});")
    lines = out.split("\n")
    assert len(lines) > 1 and all(len(line.expandtabs(8)) <= 100 for line in lines)
    assert all(line.startswith("\t") for line in lines[1:])
    assert out.replace("\n\t", " ") == f"call({args});"


def test_indent_unit_detection():
    assert detect_indent_unit("int f()\n{\n\treturn 0;\n}\n") == "\t"
    assert detect_indent_unit("int f()\n{\n    if (x)\n        y;\n}\n") == "    "
    assert detect_indent_unit("/*\n * comment\n */\nint x;\n") == "\t"
