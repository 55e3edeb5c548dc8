"""The magics: one module per group, each listing its magics in `MAGICS`;
all of them gathered here into one registry."""

from __future__ import annotations

from . import (
    board,
    connect,
    core,
    files,
    filetools,
    flash,
    host,
    inspection,
    packages,
    plot,
    running,
    shells,
    sync,
)
from .registry import MagicRegistry

MODULES = (
    core,
    board,
    connect,
    files,
    filetools,
    flash,
    host,
    inspection,
    packages,
    plot,
    running,
    shells,
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
