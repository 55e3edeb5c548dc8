"""The emulated Pico itself: its port, its own unique id, a reset that
re-enumerates and keeps the flash, power with and without a flash file,
output while no program has the port open, and its command line.

Boards here are started per test (each its own emulator process, stopped by
PID); the contract suite runs on the session's shared Pico.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.pico_board import PicoBoard
from iotkernel.device import Device
from iotkernel.errors import DeviceException, IotKernelError
from iotkernel.files import FileService

from ..backends import require_pico

pytestmark = pytest.mark.usefixtures("pico_requirements")


@pytest.fixture
def pico_requirements() -> None:
    require_pico()


def test_picos_started_together_on_a_fresh_cache_share_one_bootrom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test processes start Picos at the same time: the first one writes the
    bootrom into the cache, none finds the others' half-written file."""
    from fakes import pico_board

    monkeypatch.setattr(pico_board, "_emulator_root", lambda: tmp_path / "emulators")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: pico_board.bootrom_path(), range(8)))
    assert len(set(paths)) == 1 and paths[0].stat().st_size == 16 * 1024
    assert [p.name for p in (tmp_path / "emulators").iterdir() if p.suffix == ".tmp"] == []


def test_each_pico_has_its_port_its_own_uid_and_stops_by_pid(tmp_path: Path) -> None:
    with (
        PicoBoard(tmp_path / "ttyA", uid=bytes.fromhex("e660000000000a01")) as a,
        PicoBoard(tmp_path / "ttyB", uid=bytes.fromhex("e660000000000b02")) as b,
    ):
        for board, uid in ((a, "e660000000000a01"), (b, "e660000000000b02")):
            assert board.path.is_symlink() and os.path.exists(board.path)
            with Device.open(board.url) as device:
                identity = device.identity()
                assert identity.uid == uid
                assert identity.platform == "rp2"
        pid = a.pid
        assert pid is not None
        a.stop()
        assert not a.path.exists()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_machine_reset_re_enumerates_and_keeps_the_flash(tmp_path: Path) -> None:
    with PicoBoard(tmp_path / "ttyPico") as board:
        device = Device.open(board.url)
        try:
            FileService(device).write("/kept.txt", b"on flash")
            device.exec("variable = 1")
            with pytest.raises(IotKernelError):  # the port hangs up under it
                device.exec("import machine; machine.reset()", timeout=10)
            board.wait_for_event("reset", timeout=10)
            assert board.resets == 1
            device.reopen(timeout=15)
            with pytest.raises(DeviceException, match="NameError"):
                device.exec("variable")
            assert FileService(device).read("/kept.txt") == b"on flash"
        finally:
            device.close()


def test_power_keeps_the_flash_only_in_a_flash_file(tmp_path: Path) -> None:
    flash = tmp_path / "pico-flash.bin"
    with PicoBoard(tmp_path / "ttyKept", flash=flash) as kept:
        with Device.open(kept.url) as device:
            FileService(device).write("/kept.txt", b"survives")
        kept.power_cycle()
        with Device.open(kept.url) as device:
            assert FileService(device).read("/kept.txt") == b"survives"
    assert flash.stat().st_size == 2 * 1024 * 1024
    with PicoBoard(tmp_path / "ttyLost") as lost:
        with Device.open(lost.url) as device:
            FileService(device).write("/lost.txt", b"gone")
        lost.power_cycle()
        with Device.open(lost.url) as device:
            assert FileService(device).stat("/lost.txt") is None


def test_what_it_prints_with_the_port_closed_is_not_queued(tmp_path: Path) -> None:
    """DTR follows the port being open: a program printing while nobody
    listens runs on, and the next program to open the port sees what it
    prints from then on, not a backlog."""
    program = (
        "import time\nn = 0\nwhile True:\n    print('tick', n)\n    n += 1\n    time.sleep(0.02)\n"
    )
    with PicoBoard(tmp_path / "ttyPico") as board:
        device = Device.open(board.url)
        device.start(program)
        device.close()  # the program runs on, nobody listening
        time.sleep(1.5)
        import serial

        with serial.Serial(str(board.path), timeout=1) as port:
            seen = port.read(400).decode(errors="replace")
            port.write(b"\x03")  # stop it
        ticks = [int(n) for n in re.findall(r"tick (\d+)", seen)]
        assert ticks, seen
        assert ticks[0] >= 40, f"a backlog from while the port was closed: {seen[:120]!r}"


def test_the_command_line_runs_a_pico_until_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "ttyCli"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.pico_board", str(path), "--uid", "c11c11c11c11c11c"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "pico board at serial://" in line, line
        with Device.open(f"serial://{path}") as device:
            assert device.identity().uid == "c11c11c11c11c11c"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
