"""The pytest plugin `iotkernel`: users' own tests on their boards.

Owns the options (`--board URL|NAME|sim|STAND-IN`, repeatable, where a
stand-in is a board an installed package can start, such as the test
doubles' emulated `pico` (entry point group `iotkernel.boards`); `--lg-places`, one
labgrid place per xdist worker; `--board-reset soft|none`;
`--board-config NAME`), the boards of the session (connected at its start,
reconnected after a board died mid-test), the fixtures `board` (a connected
`Device`), `board_fs`, `board_exec` and `board_eval`, the marker
`@pytest.mark.board(platform=..., implementation=...)`, and board test files:
`test_*.py` files under a folder named in the ini option `board_tests`
(default `tests_on_board`) are collected as files written for the board, not
host modules; each test in them is a pytest item, run on the board by the
runner of `boardtests.py` after the project's configured resources are synced.

Inert without `--board` / `--lg-places`: the fixtures then fail with a
clear message, and board test files skip. The boards themselves are in
`pytest_boards.py`, board test files in `pytest_boardfiles.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .device import Device
from .files import FileService
from .pytest_boardfiles import BoardTestFile, is_board_test_file
from .pytest_boards import (
    SESSION_BOARDS,
    BoardHandle,
    TestBoards,
    board_alive,
    is_xdist_controller,
    ready_board,
    session_stand_in,
    stand_in_boards,
    worker_index,
)

__all__ = ["BoardHandle", "session_stand_in", "stand_in_boards", "worker_index"]


# -- options and set-up


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iotkernel", "tests on MicroPython boards (IoT Kernel)")
    group.addoption(
        "--board",
        action="append",
        default=[],
        dest="iotk_boards",
        metavar="URL|NAME|sim",
        help="the board to test on (repeatable: every test on each board; with xdist, "
        "one board per worker)",
    )
    group.addoption(
        "--lg-places",
        default=os.environ.get("IOTK_LG_PLACES"),
        dest="iotk_lg_places",
        help="labgrid places, comma-separated: with pytest -n N each worker locks its own",
    )
    group.addoption(
        "--board-reset",
        choices=("soft", "none"),
        default="soft",
        dest="iotk_board_reset",
        help="between tests: a soft reset (default), or none",
    )
    group.addoption(
        "--board-config",
        default=None,
        dest="iotk_board_config",
        metavar="NAME",
        help="sync the resources of this device entry before board test files "
        "(default: the entry of the board itself)",
    )
    parser.addini(
        "board_tests",
        "folders whose test_*.py files are written for the board",
        type="linelist",
        default=["tests_on_board"],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "board(platform=None, implementation=None): run only on boards that match "
        "(others skip, saying why)",
    )
    config.stash[SESSION_BOARDS] = TestBoards(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not (config.option.iotk_boards or config.option.iotk_lg_places):
        return
    if is_xdist_controller(config):
        workers = config.option.numprocesses
        config.stash[SESSION_BOARDS].check(workers if isinstance(workers, int) else 1)
    else:
        config.stash[SESSION_BOARDS].start()  # an unreachable board: one line, no test


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[SESSION_BOARDS].stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    boards = config.stash[SESSION_BOARDS]
    return [f"iotkernel board: {h.label} @ {h.url}" for h in boards.handles]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a board runs on each board of this process."""
    if "_iotk_handle" not in metafunc.fixturenames:
        return
    handles = metafunc.config.stash[SESSION_BOARDS].handles
    if len(handles) > 1:
        metafunc.parametrize("_iotk_handle", handles, ids=[h.label for h in handles], indirect=True)


# -- fixtures


@pytest.fixture
def _iotk_handle(request: pytest.FixtureRequest) -> BoardHandle:
    handles = request.config.stash[SESSION_BOARDS].handles
    if not handles:
        pytest.fail("no board: give --board URL|NAME|sim (or --lg-places)", pytrace=False)
    return getattr(request, "param", handles[0])


@pytest.fixture
def board(_iotk_handle: BoardHandle, request: pytest.FixtureRequest) -> Iterator[Device]:
    """The connected board, soft-reset first (unless --board-reset none)."""
    device = ready_board(_iotk_handle, request.config)
    _check_marker(request.node, _iotk_handle, device)
    try:
        yield device
    finally:
        if not board_alive(device):
            _iotk_handle.lost = True  # the next test reconnects


@pytest.fixture
def board_fs(board: Device, _iotk_handle: BoardHandle) -> FileService:
    """The board's files."""
    return _iotk_handle.files(board)


@pytest.fixture
def board_exec(board: Device) -> Callable[[str], str]:
    """`board_exec(code)`: run code on the board, return what it printed."""

    def run(code: str, timeout: float | None = 60.0) -> str:
        return board.exec(code, timeout=timeout).decode("utf-8", "replace").replace("\r\n", "\n")

    return run


@pytest.fixture
def board_eval(board: Device) -> Callable[[str], Any]:
    """`board_eval(expr)`: the value of an expression on the board."""
    return board.eval


def _check_marker(node: pytest.Item, handle: BoardHandle, device: Device) -> None:
    marker = node.get_closest_marker("board")
    if marker is None:
        return
    identity = device.identity()
    have = {"platform": identity.platform, "implementation": identity.implementation}
    for key, wanted in marker.kwargs.items():
        if key not in have:
            pytest.fail(f"@pytest.mark.board: unknown key {key!r}", pytrace=False)
        allowed = [wanted] if isinstance(wanted, str) else list(wanted)
        if have[key] not in allowed:
            pytest.skip(f"needs {key} {' or '.join(allowed)}; {handle.label} is {have[key]}")


# -- board test files


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if is_board_test_file(module_path, parent.config):
        return BoardTestFile.from_parent(parent, path=module_path)
    return None
