"""`bpfinspect maps OBJ [--json]`: map definitions: type, sizes, key/value types, flags, pinning, inner maps, initial slots."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("maps", "map definitions: type, sizes, key/value types, flags, pinning, inner maps, initial slots", "maps")
