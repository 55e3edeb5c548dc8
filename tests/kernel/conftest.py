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
    the test's own, with no `/cmds` left on the board from an earlier test."""
    k = Kernel()
    try:
        run = k.run(f"%connect {backend.url}", timeout=60)
        assert run.status == "ok", run.reply
        assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
        k.run("%rm -r -f :cmds")
        yield k
    finally:
        k.stop()
