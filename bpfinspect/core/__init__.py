"""CO-RE resolution: how an object's relocations resolve against a target BTF, as libbpf 1.1 does.

The one resolver of the project.  Layers, each a module:

- :mod:`.types`   — libbpf's type helpers over a :class:`~bpfinspect.btf.Btf` (skipping
  modifiers, sizes, essential names), bounded against hostile BTF;
- :mod:`.spec`    — an access string turned into a spec (accessors, raw indices, bit offset)
  and libbpf's text for it;
- :mod:`.match`   — candidate search and matching (field, type and enum kinds);
- :mod:`.calc`    — the values libbpf patches in, or poisoning;
- :mod:`.resolve` — the driver: every record of an object against one target, with the
  candidate cache libbpf keeps, the patched instructions, and the reachability of each
  poisoned instruction (through :mod:`bpfinspect.flow`);
- :mod:`.targets` — target BTFs from files, directories and btfhub archives;
- :mod:`.minimize` — the minimal BTF that the records need (``gen min-core-btf``).
"""
