"""Fixtures shared by the kernel tests that run on every kind of board."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..backends import Backend
from .test_kernel import Kernel


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A running kernel, no board connected."""
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture
def board_kernel(backend: Backend, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel connected to the parametrised board, its host directory
    the test's own. (No file operation here: on firmware the first one
    installs the file helpers, 1.5 s of an emulated Pico, which a test
    that only runs code never needs.)"""
    k = Kernel()
    try:
        run = k.run(f"%connect {backend.url}", timeout=60)
        assert run.status == "ok", run.reply
        assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
        yield k
    finally:
        k.stop()
