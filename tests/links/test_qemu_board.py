"""The QEMU board itself, and what only real firmware does: a stock image that
ignores Ctrl-C, a reset in the middle of an operation, RESET and power lines.

Boards here are started per test (each its own QEMU process, stopped by PID),
except where the session's shared boards suffice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.qemu_board import QemuBoard, QemuBoardError, monitor_path
from iotkernel.device import Device
from iotkernel.errors import (
    DeviceException,
    DeviceProtocolError,
    DeviceRebootedError,
    DeviceUnresponsiveError,
    HelperReplyError,
    NoResetMeansError,
)
from iotkernel.files import FileService
from iotkernel.hardreset import reset_stuck_board

from ..backends import require_qemu


@pytest.fixture
def stock_board(tmp_path: Path) -> Iterator[QemuBoard]:
    require_qemu("qemu-stock")
    with QemuBoard(tmp_path / "ttyStock", firmware="qemu-stock") as board:
        yield board


@pytest.fixture
def small_board(tmp_path: Path) -> Iterator[QemuBoard]:
    require_qemu("qemu")
    with QemuBoard(
        tmp_path / "ttySmall", firmware="qemu", uid=bytes.fromhex("0102030405060708")
    ) as board:
        yield board


def test_a_board_has_its_port_its_uid_and_stops_by_pid(small_board: QemuBoard) -> None:
    assert small_board.path.is_symlink() and os.path.exists(small_board.path)
    with Device.open(small_board.url) as device:
        assert device.identity().uid == "0102030405060708"
        assert device.identity().platform == "qemu"
    pid = small_board.pid
    assert pid is not None
    small_board.stop()
    assert not small_board.path.exists() and not monitor_path(small_board.path).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_reset_line_keeps_files_power_cycle_loses_them(small_board: QemuBoard) -> None:
    with Device.open(small_board.url) as device:
        FileService(device).write("/kept", b"flash")
        device.exec("variable = 1")
        small_board.reset()
        device.wait_quiet()
        device.reopen()
        with pytest.raises(DeviceException, match="NameError"):
            device.exec("variable")
        assert FileService(device).read("/kept") == b"flash"
        old_pty = small_board.pty
        small_board.power_cycle()
        assert small_board.pty != old_pty  # a new process, a new pty behind the same path
        device.reopen(timeout=10)
        assert FileService(device).stat("/kept") is None  # the RAM disk lost power
        assert device.identity(refresh=True).uid == "0102030405060708"


def test_cli_runs_a_board_and_presses_its_reset(tmp_path: Path) -> None:
    require_qemu("qemu")
    path = tmp_path / "ttyCli"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakes.qemu_board",
            str(path),
            "--firmware",
            "qemu",
            "--uid",
            "aabbccddeeff0011",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"qemu board at serial://{path}"), line
        with Device.open(f"serial://{path}") as device:
            assert device.identity().uid == "aabbccddeeff0011"
            device.exec("before_reset = 1")
            reset = subprocess.run(
                [sys.executable, "-m", "fakes.qemu_board", "--reset", str(path)], timeout=30
            )
            assert reset.returncode == 0
            device.wait_quiet()
            device.reopen()
            with pytest.raises(DeviceException, match="NameError"):
                device.exec("before_reset")
    finally:
        proc.terminate()
        # QEMU's own stop may take its 5 s SIGTERM grace and the kill after it.
        proc.wait(timeout=30)
    assert not path.exists()
    # Pressing RESET on a board that is not there is one clear failure.
    failed = subprocess.run(
        [sys.executable, "-m", "fakes.qemu_board", "--reset", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert failed.returncode == 1 and "no QEMU monitor answers" in failed.stderr


def test_a_missing_image_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QemuBoardError, match="no firmware image"):
        QemuBoard(tmp_path / "tty", firmware=str(tmp_path / "nothing.elf"))


def test_stock_firmware_ignoring_ctrl_c_is_reported_then_reset(stock_board: QemuBoard) -> None:
    """The stock image never sees Ctrl-C while code runs: the interrupt says
    so within 2 s (never a hang), and a reset brings the board back."""
    with Device.open(stock_board.url) as device:
        assert device.identity().uid is None  # the stock port has no machine.unique_id()
        device.exec("alive = 1")
        threading.Timer(0.3, device.interrupt).start()
        start = time.monotonic()
        with pytest.raises(DeviceUnresponsiveError):
            device.exec("while True: pass")
        assert time.monotonic() - start < 0.3 + 2.0 + 0.5
        # No reset means on a pty: a clear error, not a hang.
        with pytest.raises(NoResetMeansError):
            reset_stuck_board(device)
        command = [sys.executable, "-m", "fakes.qemu_board", "--reset", str(stock_board.path)]
        assert reset_stuck_board(device, command).startswith("its hard-reset command")
        with pytest.raises(DeviceException, match="NameError"):
            device.exec("alive")
        assert device.eval("1 + 1") == 2


def test_a_reboot_in_the_middle_of_a_transfer_is_a_typed_error(small_board: QemuBoard) -> None:
    with Device.open(small_board.url) as device:
        files = FileService(device)
        files.write("/victim", b"old" * 100)
        threading.Timer(0.8, small_board.reset).start()
        start = time.monotonic()
        with pytest.raises((DeviceRebootedError, DeviceProtocolError, HelperReplyError)):
            files.write("/victim", os.urandom(60_000))
        assert time.monotonic() - start < 10
        # The next operation reconnects; the old file is whole, no temporary left.
        assert files.read("/victim") == b"old" * 100
        assert [e.path for e in files.tree("/")] == ["/victim"]


def test_a_reboot_while_a_helper_runs_is_seen_at_once(small_board: QemuBoard) -> None:
    with Device.open(small_board.url) as device:
        files = FileService(device)
        files.write("/f", os.urandom(30_000))
        threading.Timer(0.3, small_board.reset).start()
        start = time.monotonic()
        # Seen as a banner where a reply should be, or as the friendly REPL's
        # echo where the raw REPL's OK should be: at once either way.
        with pytest.raises((DeviceRebootedError, DeviceProtocolError, HelperReplyError)):
            for _ in range(200):  # hashing on the board: helper calls that print little
                files.hash("/f")
        assert time.monotonic() - start < 5
        assert files.hash("/f").startswith("sha256:")


def test_a_reboot_between_operations_is_noticed_and_the_next_one_works(
    small_board: QemuBoard,
) -> None:
    """The board rebooted while the host was idle (nothing on the link says
    so): the next operation fails with a typed error, and the one after it
    reconnects and installs the helpers again before calling them."""
    with Device.open(small_board.url) as device:
        files = FileService(device)
        files.write("/f", b"content")
        small_board.reset()
        time.sleep(2.0)  # booted to the friendly REPL
        with pytest.raises((DeviceRebootedError, DeviceProtocolError, HelperReplyError)):
            files.hash("/f")
        assert files.hash("/f").startswith("sha256:")
        assert files.read("/f") == b"content"
