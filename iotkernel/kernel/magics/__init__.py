"""The magics: one module per group, each listing its magics in `MAGICS`;
all of them gathered here into one registry."""

from __future__ import annotations

from . import (
    connection,
    core,
    devices,
    files,
    filetools,
    flash,
    host,
    packages,
    plot,
    running,
    sync,
)
from .registry import MagicRegistry

MODULES = (
    core,
    connection,
    devices,
    files,
    filetools,
    flash,
    host,
    packages,
    plot,
    running,
    sync,
)


def build_registry() -> MagicRegistry:
    """Every magic the kernel knows."""
    registry = MagicRegistry()
    for module in MODULES:
        for handler in module.MAGICS:
            registry.add(handler)
    return registry


__all__ = ["MagicRegistry", "build_registry"]
