"""User-space probes (placeholder docstring, completed below)."""
