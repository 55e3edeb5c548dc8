"""The magics: one module per group, all listed here in one registry."""

from __future__ import annotations

from . import connection, core, devices, files, host, packages, sync
from .registry import MagicRegistry


def build_registry() -> MagicRegistry:
    """Every magic the kernel knows."""
    registry = MagicRegistry()
    core.register(registry)
    connection.register(registry)
    devices.register(registry)
    files.register(registry)
    host.register(registry)
    packages.register(registry)
    sync.register(registry)
    return registry


__all__ = ["MagicRegistry", "build_registry"]
