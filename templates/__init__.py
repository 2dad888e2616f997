"""Code templates for the skeleton generators (installed as bpfinspect.templates)."""
