"""`bpfinspect sections OBJ [--json]`: every ELF section with its BPF meaning."""

from bpfinspect.cli.common import simple_command


def _open(path: str):
    from bpfinspect.obj.sectiontable import open_sections   # the section table alone, not the model
    return open_sections(path)


register, run = simple_command("sections", "every ELF section with its BPF meaning", "sections", opener=_open)
