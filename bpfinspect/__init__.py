"""bpfinspect: look inside compiled BPF objects."""

__version__ = "0.1.0"
