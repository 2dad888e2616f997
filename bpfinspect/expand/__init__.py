"""Expansion of the tracing macros of BPF C sources (``bpfinspect expand``).

This package reads C sources, not objects: clang parses them, our own
preprocessor expander replaces the chosen macros, and a small formatter lays
the result out as C.  ``expand_source`` is the entry point.
"""

from bpfinspect.expand.core import DEFAULT_MACROS, ExpandResult, Site, expand_source

__all__ = ["DEFAULT_MACROS", "ExpandResult", "Site", "expand_source"]
