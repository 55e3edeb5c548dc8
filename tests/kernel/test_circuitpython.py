"""A CircuitPython board through the kernel (the fake board's CircuitPython
flavour, its files on a folder standing for the CIRCUITPY drive the host has
mounted): state kept between cells, identity in %info and %uid, auto-reload,
%softreset, %hardreset and %bootloader through `microcontroller`, file
changes through the drive, the error when neither way can write, %discover
and the original's `%%connect --all --host` transcript with a MicroPython
board beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..backends import Backend, require_unix_port
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("circuitpython")


@pytest.fixture
def cp_kernel(backend: Backend, tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel()
    try:
        run = k.run(f"%connect {backend.url}", timeout=30)
        assert run.status == "ok", run.reply
        yield k
    finally:
        k.stop()


def ok(k: Kernel, code: str) -> str:
    run = k.run(code, timeout=30)
    assert run.status == "ok", (run.reply, run.stream(), run.stream("stderr"))
    return run.stream()


def test_variables_live_on_between_cells_and_magics(cp_kernel: Kernel) -> None:
    """Leaving CircuitPython's raw REPL starts a fresh VM: the kernel never does."""
    k = cp_kernel
    ok(k, "kept = 41")
    ok(k, "%info")
    ok(k, "%rlist /")
    ok(k, "%uid")
    assert ok(k, "print(kept + 1)") == "42\n"


def test_info_and_uid_come_from_microcontroller_and_board(
    cp_kernel: Kernel, backend: Backend
) -> None:
    k = cp_kernel
    uid = ok(k, "%uid").strip()
    assert uid and f"uid={uid}" in backend.url  # microcontroller.cpu.uid
    info = dict(line.split(None, 1) for line in ok(k, "%info").splitlines())
    assert info["implementation"].startswith("circuitpython 9.")
    assert info["board"] == "fake_feather_m4_express"  # board.board_id
    assert "samd51" in info["machine"]  # os.uname().machine
    assert info["auto-reload"].startswith("on")
    ok(k, "import supervisor\nsupervisor.runtime.autoreload = False")
    info = dict(line.split(None, 1) for line in ok(k, "%info").splitlines())
    assert info["auto-reload"] == "off"


def test_softreset_runs_code_py_and_clears_variables(cp_kernel: Kernel, backend: Backend) -> None:
    """After a soft reboot CircuitPython runs code.py (even from the raw REPL)
    and then waits for a key: the kernel gets its REPL back."""
    k = cp_kernel
    assert backend.drive is not None
    (backend.drive / "code.py").write_text("import time\nwhile True:\n    time.sleep(0.05)\n")
    ok(k, "gone = 1")
    assert "softreset" in ok(k, "%softreset")
    run = k.run("print(gone)")
    assert run.status == "error" and run.reply["ename"] == "NameError"
    assert ok(k, "print('back', 2 * 21)") == "back 42\n"


def test_hardreset_goes_through_microcontroller_reset(cp_kernel: Kernel) -> None:
    k = cp_kernel
    ok(k, "gone = 1")
    out = ok(k, "%hardreset")
    assert out.splitlines()[-1].startswith("Reset ")
    assert "Auto-reload is on" in out  # its boot, echoed
    run = k.run("print(gone)")
    assert run.status == "error" and run.reply["ename"] == "NameError"
    assert ok(k, "print(1)") == "1\n"


def test_bootloader_through_on_next_reset(cp_kernel: Kernel) -> None:
    k = cp_kernel
    out = ok(k, "%bootloader")
    assert "is in its bootloader" in out
    run = k.run("print(1)")  # the board left CircuitPython: its port is gone
    assert run.status == "error"


def test_files_change_through_the_drive_atomically_and_are_checked(
    cp_kernel: Kernel, backend: Backend, tmp_path: Path
) -> None:
    k = cp_kernel
    drive = backend.drive
    assert drive is not None
    refused = k.run("open('/direct.txt', 'w')")
    assert refused.status == "error" and "EROFS" in str(refused.reply)  # read-only to its code
    source = tmp_path / "module_on_drive.py"
    source.write_text("VALUE = 'through the drive'\n")
    ok(k, f"%cp {source} :lib/module_on_drive.py")
    assert (drive / "lib" / "module_on_drive.py").read_text() == source.read_text()
    assert not [p for p in drive.rglob("*") if p.name.endswith(".iotk-tmp")]  # no temporaries
    out = ok(
        k,
        "import sys\nsys.path.append('/lib')\nimport module_on_drive\nprint(module_on_drive.VALUE)",
    )
    assert out == "through the drive\n"
    ok(k, "%rm :lib/module_on_drive.py")
    assert not (drive / "lib" / "module_on_drive.py").exists()


def test_no_drive_and_a_read_only_board_say_what_to_do(tmp_path: Path) -> None:
    """A board whose drive this computer has not mounted: one error naming both ways out."""
    k = Kernel(env={"IOT_CIRCUITPY_DRIVES": str(tmp_path / "nowhere")})
    try:
        ok(k, "%connect fake://cp-nodrive?flavour=circuitpython&readonly=1&uid=c1c0de99")
        (tmp_path / "f.txt").write_text("x")
        run = k.run(f"%cp {tmp_path / 'f.txt'} :f.txt")
        assert run.status == "error", run.reply
        message = run.reply["evalue"]
        assert run.reply["ename"] == "ReadOnlyFilesystemError"
        assert "CIRCUITPY" in message and "storage.remount" in message
        assert "circuitpy-drives" in message and "c1c0de99" in message
    finally:
        k.stop()


SEED_CELL = (
    "%%connect --all --host\n"
    "import sys\n"
    'print("{:18}   ({})".format(sys.platform, sys.implementation.name))'
)


def test_discover_and_the_originals_connect_all_transcript(tmp_path: Path) -> None:
    """The seed's transcript: the host, then each board under its header,
    a CircuitPython SAMD51 among MicroPython boards."""
    require_unix_port()  # `sim`, always among the boards
    projects = tmp_path / "projects"
    (projects / "devices").mkdir(parents=True)
    (projects / "devices" / "rig.yaml").write_text(
        "test-esp32:\n  uid: e5320001\nsamd51:\n  uid: 5ad51000\n"
    )
    settings = tmp_path / "iotkernel.yaml"
    settings.write_text(f"extra-ports: ['{tmp_path}/no-such-tty*']\n")
    k = Kernel(
        env={
            "IOT_PROJECTS": str(projects),
            "IOT_SETTINGS": str(settings),
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
    )
    try:
        ok(k, "%register fake://rig-esp?uid=e5320001&platform=esp32")
        ok(k, "%register fake://rig-samd?uid=5ad51000&flavour=circuitpython")
        listing = ok(k, "%discover")
        samd = next(line for line in listing.splitlines() if line.startswith("samd51"))
        assert "(circuitpython)" in samd and "fake://rig-samd" in samd
        esp = next(line for line in listing.splitlines() if line.startswith("test-esp32"))
        assert "(micropython)" in esp
        run = k.run(SEED_CELL, timeout=60)
        assert run.status == "ok", run.reply
        lines = [line for line in run.stream().splitlines() if line.strip()]
        assert lines == [
            "----- HOST",
            f"{'linux':18}   (cpython)",
            "----- sim",
            f"{'linux':18}   (micropython)",
            "----- samd51",
            f"{'MicroChip SAMD51':18}   (circuitpython)",
            "----- test-esp32",
            f"{'esp32':18}   (micropython)",
        ]
    finally:
        k.stop()
