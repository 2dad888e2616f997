"""A C preprocessor macro expander (hide sets, after Dave Prosser's algorithm).

Only macro replacement is done here; directives (``#if``, ``#define``...) were
handled by clang, which tells us the definitions in effect.

The algorithm, as the C standard describes it and Prosser formalised it:

* Every token carries a *hide set*: the names of the macros whose expansion
  produced it.  A name in its own hide set is never expanded again ("painted
  blue"), which is what stops recursion.
* ``expand`` reads tokens one by one.  An identifier naming an object-like
  macro is replaced by the macro's body, substituted with hide set
  ``HS(name) + {name}``; the result goes back in front of the input and is read
  again (the *rescan*).  An identifier naming a function-like macro, followed
  by ``(``, has its arguments collected (commas split them outside nested
  parentheses; the variadic parameter takes the rest) and is replaced the same
  way, with hide set ``(HS(name) & HS(')')) + {name}``.
* ``subst`` builds a body: ``#param`` becomes a string literal of the
  argument as written; a parameter next to ``##`` is inserted as written; any
  other parameter is inserted fully macro-expanded on its own (argument
  pre-expansion); ``##`` glues the tokens on its two sides into one, with an
  empty argument counting as a *placemarker* that glues into nothing.
  GNU extensions: named variadic parameters (``args...``), and
  ``, ## __VA_ARGS__`` which drops the comma when the variadic argument is
  empty.  ``__VA_OPT__(...)`` keeps its content only when the variadic
  argument is not empty.
* Input can come from a list (an argument being pre-expanded) or from the main
  file's tokens, so that a macro whose expansion ends with the name of a
  function-like macro takes its arguments from the source text that follows,
  exactly like cpp (``BPF_KPROBE_SYSCALL`` is ``BPF_KSYSCALL``).

Macros named in ``keep`` are left as written, arguments included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bpfinspect.expand.lexer import (
    CHAR, EMPTY_HS, IDENT, NUMBER, PLACEMARKER, PUNCT, STRING, Tok, relex_one,
)

# A hostile or broken header can make expansion explode (each level doubling
# the tokens); stop well before memory becomes a problem.
MAX_TOKENS = 1_000_000
MAX_DEPTH = 200


class ExpandError(Exception):
    """A use of a macro that cannot be expanded (bad argument count...)."""


@dataclass(frozen=True)
class MacroDef:
    """One ``#define``: ``params`` is None for an object-like macro.

    For a variadic macro the last parameter is the variadic one: ``__VA_ARGS__``
    for ``...``, or its name for the GNU ``name...`` form.
    """

    name: str
    params: tuple[str, ...] | None
    variadic: bool
    body: tuple[Tok, ...]


def parse_definition(toks: list[Tok]) -> MacroDef | None:
    """A MacroDef from the tokens of ``NAME[(params)] body`` (the text after
    ``#define``).  ``toks[i].ws`` must tell whether white space preceded a token:
    a function-like macro has its ``(`` right after the name."""
    if not toks or toks[0].kind != IDENT:
        return None
    name = toks[0].text
    if len(toks) > 1 and toks[1].text == "(" and not toks[1].ws:
        params: list[str] = []
        variadic = False
        i = 2
        expect_name = True
        while i < len(toks):
            t = toks[i]
            if t.text == ")":
                break
            if t.text == "...":
                params.append("__VA_ARGS__")
                variadic = True
            elif t.kind == IDENT and expect_name:
                if i + 1 < len(toks) and toks[i + 1].text == "...":
                    params.append(t.text)
                    variadic = True
                    i += 1
                else:
                    params.append(t.text)
                expect_name = False
            elif t.text == ",":
                expect_name = True
            else:
                return None
            i += 1
        if i >= len(toks):
            return None
        body = toks[i + 1:]
        return MacroDef(name, tuple(params), variadic, _clean_body(body))
    return MacroDef(name, None, False, _clean_body(toks[1:]))


def _clean_body(body: list[Tok]) -> tuple[Tok, ...]:
    out = [t.copy(hs=EMPTY_HS) for t in body]
    for t in out:
        t.pos = -1
    if out:
        out[0].ws = False
    return tuple(out)


class _Reader:
    """Tokens to read: pushed-back expansion results first, then (optionally) the
    main file's tokens from ``src_pos``."""

    __slots__ = ("stack", "src", "src_pos", "src_end")

    def __init__(self, toks: list[Tok], src: list[Tok] | None = None, src_pos: int = 0) -> None:
        self.stack = list(reversed(toks))
        self.src = src
        self.src_pos = src_pos
        self.src_end = len(src) if src is not None else 0

    def next(self) -> Tok | None:
        if self.stack:
            return self.stack.pop()
        if self.src is not None and self.src_pos < self.src_end:
            t = self.src[self.src_pos]
            if t.directive:
                return None
            self.src_pos += 1
            return t
        return None

    def peek(self) -> Tok | None:
        if self.stack:
            return self.stack[-1]
        if self.src is not None and self.src_pos < self.src_end:
            t = self.src[self.src_pos]
            return None if t.directive else t
        return None

    def at_directive(self) -> bool:
        return (not self.stack and self.src is not None and self.src_pos < self.src_end
                and self.src[self.src_pos].directive)

    def push(self, toks: list[Tok]) -> None:
        self.stack.extend(reversed(toks))


class Expander:
    """Expands macros given by ``lookup(name) -> MacroDef | None``."""

    def __init__(self, lookup: Callable[[str], MacroDef | None], *, keep: frozenset[str] = frozenset(),
                 line: int = 0, file_name: str = "") -> None:
        self.lookup = lookup
        self.keep = keep
        self.line = line
        self.file_name = file_name
        self.produced = 0
        self.depth = 0
        self.expanded_names: list[str] = []

    # -- entry points -------------------------------------------------------

    def expand_tokens(self, toks: list[Tok]) -> list[Tok]:
        """Fully macro-expand an isolated token list (as for an argument)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpandError("macro arguments nest too deeply")
        try:
            reader = _Reader(toks)
            out: list[Tok] = []
            while True:
                t = reader.next()
                if t is None:
                    break
                self._step(t, reader, out)
            return out
        finally:
            self.depth -= 1

    def expand_at(self, src: list[Tok], index: int) -> tuple[list[Tok], int] | None:
        """Expand the macro use starting at ``src[index]`` and whatever its rescan
        pulls from the following source tokens.  Returns the tokens and the index
        just past the last source token consumed, or None when ``src[index]`` is
        not an expandable use (a function-like macro without ``(``)."""
        reader = _Reader([], src, index)
        first = reader.next()
        if first is None:
            return None
        out: list[Tok] = []
        if not self._step(first, reader, out):
            return None
        while reader.stack:
            self._step(reader.next(), reader, out)  # type: ignore[arg-type]
        return out, reader.src_pos

    # -- the scanner --------------------------------------------------------

    def _step(self, t: Tok, reader: _Reader, out: list[Tok]) -> bool:
        """Handle one token read from ``reader``; True when it was a macro use
        that got replaced."""
        if t.kind != IDENT or t.text in t.hs:
            out.append(t)
            return False
        name = t.text
        if name in self.keep:
            if self.lookup(name) is not None:
                self._copy_kept(t, reader, out)
                return False
            out.append(t)
            return False
        m = self.lookup(name)
        if m is None:
            builtin = self._builtin(t)
            if builtin is not None:
                out.append(builtin)
                return True
            out.append(t)
            return False
        if m.params is None:
            body = self._subst(m, [], t.hs | {name}, t)
            self.expanded_names.append(name)
            reader.push(body)
            return True
        nxt = reader.peek()
        if nxt is None or nxt.text != "(":
            out.append(t)
            return False
        reader.next()
        args, rparen = self._collect_args(m, reader)
        body = self._subst(m, args, (t.hs & rparen.hs) | {name}, t)
        self.expanded_names.append(name)
        reader.push(body)
        return True

    def _copy_kept(self, t: Tok, reader: _Reader, out: list[Tok]) -> None:
        out.append(t.copy(hs=t.hs | {t.text}))
        nxt = reader.peek()
        m = self.lookup(t.text)
        if m is None or m.params is None or nxt is None or nxt.text != "(":
            return
        depth = 0
        while True:
            tok = reader.next()
            if tok is None:
                raise ExpandError(f"unterminated argument list invoking macro '{t.text}'")
            out.append(tok)
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
                if depth == 0:
                    return

    def _builtin(self, t: Tok) -> Tok | None:
        name = t.text
        if name == "__LINE__":
            return Tok(str(self.line), NUMBER, t.ws, t.hs)
        if name == "__FILE__" or name == "__BASE_FILE__":
            return Tok(_quote(self.file_name), STRING, t.ws, t.hs)
        if name == "__FILE_NAME__":
            return Tok(_quote(self.file_name.rsplit("/", 1)[-1]), STRING, t.ws, t.hs)
        if name == "__INCLUDE_LEVEL__":
            return Tok("0", NUMBER, t.ws, t.hs)
        return None

    def _collect_args(self, m: MacroDef, reader: _Reader) -> tuple[list[list[Tok]], Tok]:
        assert m.params is not None
        nparams = len(m.params)
        args: list[list[Tok]] = [[]]
        depth = 0
        while True:
            t = reader.next()
            if t is None:
                if reader.at_directive():
                    raise ExpandError(f"the arguments of '{m.name}' contain a preprocessing directive")
                raise ExpandError(f"unterminated argument list invoking macro '{m.name}'")
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                if depth == 0:
                    rparen = t
                    break
                depth -= 1
            elif t.text == "," and depth == 0 and not (m.variadic and len(args) >= nparams):
                args.append([])
                continue
            args[-1].append(t)
        if nparams == 0:
            if len(args) == 1 and not args[0]:
                return [], rparen
            raise ExpandError(f"too many arguments provided to function-like macro '{m.name}'")
        if len(args) < nparams:
            if m.variadic and len(args) == nparams - 1:
                args.append([])
            else:
                raise ExpandError(f"too few arguments provided to function-like macro '{m.name}'")
        elif len(args) > nparams:
            raise ExpandError(f"too many arguments provided to function-like macro '{m.name}'")
        return args, rparen

    # -- substitution -------------------------------------------------------

    def _subst(self, m: MacroDef, args: list[list[Tok]], hs: frozenset[str], site: Tok) -> list[Tok]:
        params = m.params or ()
        index = {p: i for i, p in enumerate(params)}
        body = list(m.body)
        if m.variadic and any(t.text == "__VA_OPT__" for t in body):
            body = self._resolve_va_opt(body, bool(self.expand_tokens(list(args[-1]))))
        expanded: dict[int, list[Tok]] = {}
        out: list[Tok] = []
        n = len(body)
        i = 0
        while i < n:
            t = body[i]
            text = t.text
            # '#' param: stringize the argument as written.
            if text in ("#", "%:") and m.params is not None and i + 1 < n and body[i + 1].text in index:
                arg = args[index[body[i + 1].text]]
                out.append(Tok(_stringize(arg), STRING, t.ws))
                i += 2
                continue
            # '##' operand: glue with what is on the left.
            if text in ("##", "%:%:") and out and i + 1 < n:
                rhs_tok = body[i + 1]
                i += 2
                if rhs_tok.text in index:
                    idx = index[rhs_tok.text]
                    arg = args[idx]
                    is_va = m.variadic and idx == len(params) - 1
                    if is_va and out[-1].text == "," and out[-1].kind == PUNCT:
                        # GNU: ', ## __VA_ARGS__' drops the comma when empty.
                        if not arg:
                            out.pop()
                        else:
                            out.extend(_copies(arg, rhs_tok.ws))
                        continue
                    rhs = _copies(arg, False) if arg else [Tok("", PLACEMARKER)]
                else:
                    rhs = [rhs_tok.copy(ws=False)]
                lhs = out.pop()
                out.append(_paste(lhs, rhs[0]))
                # A paste whose right side is followed by another '##' continues
                # on the last token, handled by the next iteration.
                out.extend(rhs[1:])
                continue
            if text in index:
                idx = index[text]
                if i + 1 < n and body[i + 1].text in ("##", "%:%:"):
                    toks = _copies(args[idx], t.ws) if args[idx] else [Tok("", PLACEMARKER, t.ws)]
                else:
                    if idx not in expanded:
                        expanded[idx] = self.expand_tokens(list(args[idx]))
                    toks = _copies(expanded[idx], t.ws)
                out.extend(toks)
                i += 1
                continue
            out.append(t.copy())
            i += 1
        result = []
        first = True
        for t in out:
            if t.kind == PLACEMARKER:
                continue
            t.hs = t.hs | hs if t.hs else hs
            if first:
                t.ws = site.ws
                first = False
            result.append(t)
        self.produced += len(result)
        if self.produced > MAX_TOKENS:
            raise ExpandError(f"expansion of '{m.name}' grows beyond {MAX_TOKENS} tokens")
        return result

    @staticmethod
    def _resolve_va_opt(body: list[Tok], nonempty: bool) -> list[Tok]:
        out: list[Tok] = []
        i = 0
        while i < len(body):
            t = body[i]
            if t.text == "__VA_OPT__" and i + 1 < len(body) and body[i + 1].text == "(":
                depth = 0
                j = i + 1
                while j < len(body):
                    if body[j].text == "(":
                        depth += 1
                    elif body[j].text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                content = body[i + 2:j]
                if nonempty and content:
                    first = content[0].copy(ws=t.ws)
                    out.append(first)
                    out.extend(content[1:])
                else:
                    out.append(Tok("", PLACEMARKER, t.ws))
                i = j + 1
                continue
            out.append(t)
            i += 1
        return out


def _copies(toks: list[Tok], first_ws: bool) -> list[Tok]:
    out = [t.copy() for t in toks]
    if out:
        out[0].ws = first_ws
    return out


def _paste(lhs: Tok, rhs: Tok) -> Tok:
    if lhs.kind == PLACEMARKER:
        return rhs.copy(ws=lhs.ws)
    if rhs.kind == PLACEMARKER:
        return lhs
    tok = relex_one(lhs.text + rhs.text)
    if tok is None:
        # Not a valid token: clang rejects this; keep the spelling as one token
        # so the output shows what the macro tried to build.
        return Tok(lhs.text + rhs.text, lhs.kind, lhs.ws, lhs.hs & rhs.hs)
    tok.ws = lhs.ws
    tok.hs = lhs.hs & rhs.hs
    return tok


def _stringize(arg: list[Tok]) -> str:
    parts: list[str] = []
    for t in arg:
        if parts and t.ws:
            parts.append(" ")
        text = t.text
        if t.kind in (STRING, CHAR):
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(text)
    return '"' + "".join(parts) + '"'


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
