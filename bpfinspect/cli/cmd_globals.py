"""`bpfinspect globals OBJ [--header FILE]... [--json]`: data sections, their variables and initial values; externs."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("globals", "data sections, their variables and initial values; externs", "globals",
                               headers=True)
