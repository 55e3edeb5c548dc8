"""Hardware-in-the-loop: the contract suite against one board given by URL.

    pytest hil --board serial:///dev/ttyACM0       (or IOTK_BOARD=URL)
    pytest hil --board ws://192.168.4.1:8266      (password from the secrets file)

Without a board, a virtual serial board (the unix port behind a tty path, in
its own process, with a power switch on loopback) stands in, so the suite is
proven on every commit; `--qemu qemu` (or IOTK_HIL_QEMU) runs real
firmware in QEMU instead (`fakes.qemu_board`: qemu, qemu-large, built by
`fakes.firmware` on first use),
reset through its reset line. Each test starts on a freshly soft-reset
interpreter, so one test's MemoryError cannot fail the next. Tests run one
at a time: a board has one port.
With `--lg-places`, each xdist worker locks a labgrid place instead and
resets its board through the place's reset line or power switch.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iotkernel.hardreset import run_reset_command
from iotkernel.pytest_plugin import session_stand_in, stand_in_boards
from tests.backends import Backend, fresh_interpreter, require_qemu, require_unix_port
from tests.conftest import device  # noqa: F401 - the same fixture as the contract suite


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hard-reset",
        default=os.environ.get("IOTK_HARD_RESET"),
        metavar="COMMAND",
        help="a host command that resets the --board from outside (power switch, reset line, "
        "`uhubctl -l 1-1 -p 2 -a cycle`); default: $IOTK_HARD_RESET",
    )
    parser.addoption(
        "--dtr-reset",
        action="store_true",
        default=os.environ.get("IOTK_DTR_RESET", "") not in ("", "0"),
        help="the board resets on RTS/DTR (an ESP32-style auto-reset circuit): test that reset",
    )
    parser.addoption(
        "--qemu",
        default=os.environ.get("IOTK_HIL_QEMU"),
        metavar="FIRMWARE",
        help="without --board: a QEMU board running this firmware (qemu: 40 KB heap, "
        "qemu-large, or an image's path) instead of the virtual serial board; "
        "default: $IOTK_HIL_QEMU",
    )


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") else 0


class VirtualStandIn:
    """The virtual serial board hil/ uses when no board is given."""

    def __init__(self) -> None:
        from fakes.vboard import VirtualSerialBoardProcess

        require_unix_port()
        self._dir = tempfile.TemporaryDirectory(prefix="iotk-hil-")
        root = Path(self._dir.name)
        # With a power switch on loopback, as a board in a farm has.
        self.board = VirtualSerialBoardProcess(
            root / "ttyHIL0", board_dir=root / "files", power_switch=True
        )
        self.plugged = True
        # A test unplugs from a timer thread; the next test must not start
        # before that unplug is complete, or the board vanishes under it.
        self._lock = threading.Lock()

    def unplug(self) -> None:
        with self._lock:
            self.plugged = False
            self.board.unplug()

    def ensure_plugged(self) -> None:
        with self._lock:
            if not self.plugged:
                self.board.plug()
                self.plugged = True

    def power_cycle(self) -> None:
        self.board.set_power(False)
        time.sleep(0.2)
        self.board.set_power(True)

    def stop(self) -> None:
        self.board.stop()
        self._dir.cleanup()


@dataclass
class RealBoard:
    """A board given by URL or on a labgrid place, and how to reset it from
    outside (the place's power or reset line, or --hard-reset), if at all."""

    url: str
    hard_reset: Callable[[], None] | None


@pytest.fixture(scope="session")
def board_under_test(request: pytest.FixtureRequest) -> Iterator[Any]:
    # --board and --lg-places are the iotkernel pytest plugin's options.
    boards = request.config.option.iotk_boards or [os.environ.get("IOTK_BOARD") or ""]
    if len(boards) > 1:
        pytest.fail("hil/ tests one board: give one --board")
    url = boards[0]
    if url in stand_in_boards():  # --board pico: the plugin started it for this process
        yield session_stand_in(request.config)
        return
    places = request.config.option.iotk_lg_places
    if places:
        from iotkernel.labgrid import LabgridPlace

        names = [p.strip() for p in places.split(",") if p.strip()]
        index = _worker_index()
        if index >= len(names):
            pytest.fail(f"worker {index} has no labgrid place: give one place per worker")
        # labgrid's own pytest plugin provides --lg-coordinator (else $LG_COORDINATOR).
        coordinator = request.config.getoption("lg_coordinator", None)
        place = LabgridPlace(names[index], coordinator)
        board_url = place.acquire()  # one board per worker, locked for this run
        try:
            yield RealBoard(board_url, place.hard_reset if place.hard_reset_means else None)
        finally:
            place.release()  # also when tests fail or are interrupted
        return
    if url:
        command = request.config.getoption("--hard-reset")
        reset = (lambda: run_reset_command(shlex.split(command))) if command else None
        yield RealBoard(url, reset)
        return
    firmware = request.config.getoption("--qemu")
    if firmware:
        from fakes.qemu_board import QemuBoard

        require_qemu(firmware)
        with (
            tempfile.TemporaryDirectory(prefix="iotk-hil-qemu-") as root,
            QemuBoard(Path(root) / "ttyQEMU0", firmware=firmware) as board,
        ):
            yield board
        return
    stand_in = VirtualStandIn()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture
def backend(board_under_test: Any) -> Backend:
    if isinstance(board_under_test, RealBoard):
        fresh_interpreter(board_under_test.url)
        return Backend("board", board_under_test.url, hard_reset=board_under_test.hard_reset)
    board_under_test.ensure_plugged()
    if not isinstance(board_under_test, VirtualStandIn):  # an emulated board: QEMU, Pico
        fresh_interpreter(board_under_test.url)
        # Named as in tests/: the contract sizes a few tests to the emulated
        # Pico's slow USB by this name.
        from fakes.pico_board import PicoBoard

        return Backend(
            "pico" if isinstance(board_under_test, PicoBoard) else "emulated",
            board_under_test.url,
            vanish=lambda _device: board_under_test.unplug(),
            board=board_under_test,
            hard_reset=board_under_test.reset,
        )
    fresh_interpreter(board_under_test.board.url)
    # The unix port behind a tty, as tests/ names it: the fault contract
    # knows that port's Ctrl-C can leave its heap locked.
    return Backend(
        "vserial",
        board_under_test.board.url,
        vanish=lambda _device: board_under_test.unplug(),
        board=board_under_test,
        hard_reset=board_under_test.power_cycle,
    )
