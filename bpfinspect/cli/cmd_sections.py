"""`bpfinspect sections OBJ [--json]`: every ELF section with its BPF meaning."""

from bpfinspect.cli.common import simple_command

register, run = simple_command("sections", "every ELF section with its BPF meaning", "sections")
