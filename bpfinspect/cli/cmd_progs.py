"""`bpfinspect progs OBJ [--json]`: programs: type, attach target, maps, helpers, kfuncs."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("progs", "programs: type, attach target, maps, helpers, kfuncs", "progs")
