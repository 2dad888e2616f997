"""Two builds of an object compared (``bpfinspect diff``).

- :mod:`.code`    — instructions as position-free tokens, aligned; jumps checked
  against the alignment; hunks and source lines.
- :mod:`.objects` — programs, subprograms, maps, globals, the types maps and
  globals hold, CO-RE relocations and the license, as one document.
"""
