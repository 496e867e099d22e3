"""The vendor registry: a registrar that binds vendor ids to unique display names, run by
whoever runs the shared bus, beside the bus's auth callout. See ``docs/registry.md``."""

from ._keys import load_or_create_key
from ._service import Decision, Registrar, RegistrarError

__all__ = ["Decision", "Registrar", "RegistrarError", "load_or_create_key"]
