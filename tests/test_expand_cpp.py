"""The macro expander against clang -E on the preprocessor's corner cases:
rescanning and hide sets, # and ##, placemarkers, variadic forms, macros
whose arguments come from the text after the use."""

from __future__ import annotations

import re

import pytest

from bpfinspect.expand import expand_source
from bpfinspect.expand import macros
from bpfinspect.expand.lexer import lex, spell, would_merge
from bpfinspect.expand.macros import Expander, ExpandError, parse_definition
from bpfinspect.expand.views import json_document
from expand_util import CLANG, DATA, c_tokens, clang_e_expansions, private_cache

pytestmark = pytest.mark.skipif(CLANG is None, reason="clang is not installed")

RULES = DATA / "cpp_rules.c"


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with private_cache(tmp_path_factory.mktemp("expand-cache")):
        yield


def _defined_names(path) -> list[str]:
    return sorted(set(re.findall(r"^#define (\w+)", path.read_text(), flags=re.M)))


def test_every_rule_matches_clang():
    names = _defined_names(RULES)
    result = expand_source(str(RULES), macros=names, arch="x86")
    doc = json_document(result)
    sites = doc["sites"]
    # every line after the definitions that uses a macro produced a site
    assert len(sites) >= 40
    expected = clang_e_expansions(RULES, sites, "x86", [])
    mismatches = [
        (s["line"], s["original"], s["expansion"], cpp)
        for s, cpp in zip(sites, expected) if c_tokens(s["expansion"]) != c_tokens(cpp)
    ]
    assert not mismatches


def test_rules_results_spelled_out():
    """A few results written out, so a wrong oracle cannot hide a wrong expander."""
    names = _defined_names(RULES)
    result = expand_source(str(RULES), macros=names, arch="x86")
    text = "\n".join(" ".join(c_tokens(line)) for line in result.expanded.splitlines())
    assert "int v1 = 1 + OBJ ;" in text                       # self reference stays
    assert "int v7 = AA + BB ;" in text                       # mutual recursion stops
    assert 'const char * s2 = "left ## right" ;' in text      # ## made by ##
    assert "int v11 = 2 * 9 * g2 ;" in text                   # arguments from the source
    assert 'printf ( "no args" ) ;' in text                   # GNU comma swallowing
    assert "call ( 1 ) ;" in text and "call ( 1 , 2 , 3 ) ;" in text   # __VA_OPT__
    assert "int v4 = 123 + 4 + 5 ;" in text                   # placemarkers
    line = RULES.read_text().splitlines().index("int v9 = here();") + 1
    assert f"int v9 = {line} ;" in text                       # __LINE__


def test_if_zero_and_definitions_untouched(tmp_path):
    src = tmp_path / "x.c"
    src.write_text("#define ONE 1\n#define USE_ONE ONE\n#if 0\nint a = ONE;\n#endif\nint b = ONE; /* ONE */\n"
                   "// ONE\nconst char *s = \"ONE\";\n")
    result = expand_source(str(src), macros=["ONE"], arch="x86")
    assert [(s.line, s.column) for s in result.sites] == [(6, 9)]
    assert result.expanded == src.read_text().replace("int b = ONE;", "int b = 1;")


def test_keep_leaves_macro_as_written(tmp_path):
    src = tmp_path / "k.c"
    src.write_text("#define INNER(a) ((a) + 1)\n#define OUTER(a) INNER(a) * INNER(2)\nint v = OUTER(3);\n")
    result = expand_source(str(src), macros=["OUTER"], keep=["INNER"], arch="x86")
    assert c_tokens(result.sites[0].expansion) == c_tokens("INNER(3) * INNER(2)")
    result = expand_source(str(src), macros=["OUTER"], arch="x86")
    assert c_tokens(result.sites[0].expansion) == c_tokens("((3) + 1) * ((2) + 1)")


def test_redefinition_uses_the_definition_in_effect(tmp_path):
    src = tmp_path / "r.c"
    src.write_text("#define V 1\n#define USE V\nint a = USE;\n#undef V\n#define V 2\nint b = USE;\n")
    result = expand_source(str(src), macros=["USE"], arch="x86")
    assert [s.expansion for s in result.sites] == ["1", "2"]


# -- the expander on its own ------------------------------------------------

def _define(text: str):
    toks = lex(text)
    return parse_definition(toks)


def _expand(defs: dict[str, str], text: str) -> str:
    table = {name: _define(body) for name, body in defs.items()}
    return spell(Expander(table.get).expand_tokens(lex(text)))


def test_parse_definition_shapes():
    m = _define("F(a, b) a + b")
    assert m.params == ("a", "b") and not m.variadic
    m = _define("F (a) a")                  # space before '(': object-like
    assert m.params is None
    m = _define("V(fmt, args...) f(fmt, ##args)")
    assert m.params == ("fmt", "args") and m.variadic
    m = _define("E(...) __VA_ARGS__")
    assert m.params == ("__VA_ARGS__",) and m.variadic
    assert _define("BAD(a,") is None
    assert _define("BAD(1) x") is None


def test_argument_count_errors():
    with pytest.raises(ExpandError):
        _expand({"F": "F(a, b) a"}, "F(1)")
    with pytest.raises(ExpandError):
        _expand({"F": "F(a) a"}, "F(1, 2)")
    with pytest.raises(ExpandError):
        _expand({"F": "F(a) a"}, "F(1")
    assert _expand({"F": "F() x"}, "F()") == "x"
    assert _expand({"F": "F(a) [a]"}, "F()") == "[]"


def test_runaway_expansion_is_stopped(monkeypatch):
    # each level doubles the tokens: 2**40 tokens if nothing stopped it
    monkeypatch.setattr(macros, "MAX_TOKENS", 100_000)
    defs = {f"L{i}": f"L{i} L{i + 1} L{i + 1}" for i in range(40)}
    defs["L40"] = "L40 x"
    with pytest.raises(ExpandError):
        _expand(defs, "L0")


def test_pasting_makes_one_token_and_spelling_keeps_tokens_apart():
    assert _expand({"C": "C(a, b) a ## b"}, "C(-, >) C(+, =) C(x, 1)") == "-> += x1"
    assert _expand({"N": "N(a) a"}, "N(-)-N(1)") == "- -1"
    assert would_merge("+", "+") and would_merge("a", "b") and would_merge("/", "*")
    assert not would_merge(")", "x") and not would_merge("(", "(")


def test_directive_inside_arguments_leaves_the_use_as_written(tmp_path):
    src = tmp_path / "d.c"
    src.write_text("#define TWO(a, b) a + b\nint x = TWO(1,\n#ifdef NOPE\n  3\n#else\n  2\n#endif\n);\n"
                   "int y = TWO(3, 4);\n")
    result = expand_source(str(src), macros=["TWO"], arch="x86")
    assert [s.line for s in result.sites] == [9]
    assert result.warnings == [f"{src}:2:9: TWO left as written: the arguments of 'TWO' contain a "
                               "preprocessing directive"]
    assert result.expanded == src.read_text().replace("int y = TWO(3, 4);", "int y = 3 + 4;")
