"""`bpfinspect info OBJ [--json]`: one-screen summary of an object."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("info", "one-screen summary of an object", "info")
