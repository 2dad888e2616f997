"""Program section names: libbpf's table, matching rules and attach targets.

    from bpfinspect.sections import parse_section, SectionSpec
    spec = parse_section("uprobe//usr/lib/libc.so.6:malloc")
"""

from .spec import (
    SectionSpec,
    installed_libbpf_accepts,
    is_program_section,
    match_entry,
    parse_section,
    program_type_of,
)
from .table import INSTALLED_LIBBPF, SECTION_TABLE, SecDef, version_key

__all__ = [
    "INSTALLED_LIBBPF",
    "SECTION_TABLE",
    "SecDef",
    "SectionSpec",
    "installed_libbpf_accepts",
    "is_program_section",
    "match_entry",
    "parse_section",
    "program_type_of",
    "version_key",
]
