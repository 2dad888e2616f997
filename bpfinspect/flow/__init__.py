"""Control flow over a program's instructions: what the verifier will walk.

- :mod:`.cfg`    — the code of an object as sections of instruction slots, with the
  targets of bpf-to-bpf calls and callbacks (through the ELF relocations), cut into
  basic blocks per function; a program's call graph.
- :mod:`.consts` — a small abstract interpreter over the registers and 8-byte stack
  slots: constants propagated along every edge, branches on known constants taken one
  way only, so that the instructions the verifier can reach are the ones found here.

Both know nothing of CO-RE: callers patch the instructions first (see
:mod:`bpfinspect.core.resolve`) and ask which ones are reachable.
"""
