"""JSON output: one stable, documented document per command."""

from __future__ import annotations

import json
import sys

SCHEMA = 1


def emit(doc: dict, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(doc, indent=2, ensure_ascii=False))
    stream.write("\n")
