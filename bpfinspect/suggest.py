"""'did you mean ...' for a mistyped name: commands, programs, sections, maps, types.

Imports only difflib, and only when a name was not found."""

from __future__ import annotations


def close_matches(word: str, candidates, limit: int = 3) -> list[str]:
    """The candidates closest to ``word`` (same case first, then ignoring case)."""
    import difflib

    pool = sorted({str(c) for c in candidates})
    found = difflib.get_close_matches(word, pool, n=limit, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in pool}
        found = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=limit, cutoff=0.6)]
    if not found:  # a prefix or a part of a long name: `exec` for handle_exec
        found = [c for c in pool if word and (c.startswith(word) or (len(word) >= 3 and word in c))][:limit]
    return found


def did_you_mean(word: str, candidates, *, fallback: bool = False, limit_listed: int = 12) -> str:
    """``"; did you mean 'x'?"`` (or ``"'x' or 'y'"``), to append to an error message; with
    ``fallback``, a list of what exists when nothing is close (``"; choose from a, b"``)."""
    found = close_matches(word, candidates)
    if found:
        names = [f"'{m}'" for m in found]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"; did you mean {listed}?"
    if fallback:
        pool = sorted({str(c) for c in candidates})
        if not pool:
            return ""
        more = f" and {len(pool) - limit_listed} more" if len(pool) > limit_listed else ""
        return "; choose from " + ", ".join(pool[:limit_listed]) + more
    return ""
