"""JSON output: one stable, documented document per command.

A run over several objects prints one document per object, each on one line
(JSON Lines); ``one_line`` is set for such a run, and every JSON writer lays its
document out compactly then.
"""

from __future__ import annotations

import sys

SCHEMA = 1

one_line = False


def compact(doc: dict) -> str:
    """The document on one line (no spaces after separators)."""
    import json

    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def emit(doc: dict, stream=None) -> None:
    import json  # not on the way of the table views, which import this module for SCHEMA

    stream = stream or sys.stdout
    stream.write(compact(doc) if one_line else json.dumps(doc, indent=2, ensure_ascii=False))
    stream.write("\n")
