"""`bpfinspect relocs OBJ [--json]`: relocations (map, global data, calls, externs) and CO-RE records."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("relocs", "relocations (map, global data, calls, externs) and CO-RE records", "relocs")
