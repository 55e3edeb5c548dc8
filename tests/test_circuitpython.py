"""CircuitPython without the kernel: the fake board's flavour (its texts, code.py
after every reboot, a fresh VM when the REPL changes, the drive read-only to
its code), finding a board's drive by its boot_out.txt, changes on the drive
(paths kept inside it, atomic, no temporaries left), the board's read-back
check, and the settings key `circuitpy-drives`."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.fake_transport import FakeTransport, open_fake_transport
from iotkernel.config import ConfigError, load_settings
from iotkernel.device import Device
from iotkernel.errors import DeviceException, DeviceOSError
from iotkernel.files import FileService, ForeignDriveError, ReadOnlyFilesystemError
from iotkernel.files import drive as drive_module
from iotkernel.files.drive import (
    DRIVES_VARIABLE,
    DriveError,
    HostDrive,
    configured_globs,
    drive_uid,
    find_drive,
)
from iotkernel.util import TEMP_SUFFIX


def read_for(link: FakeTransport, seconds: float = 0.3) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += link.read(4096, 0.05)
    return out


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    return tmp_path / "CIRCUITPY"


@pytest.fixture
def link(drive: Path) -> Iterator[FakeTransport]:
    transport = open_fake_transport(
        f"fake://cp-unit-{id(drive)}?flavour=circuitpython&drive={drive}&uid=c1c0de01"
    )
    try:
        yield transport
    finally:
        transport.close()


# -- the fake board's flavour


def test_boot_writes_boot_out_and_runs_code_py_then_waits_for_a_key(
    link: FakeTransport, drive: Path
) -> None:
    boot = read_for(link)
    assert b"Auto-reload is on." in boot and b"Press any key to enter the REPL." in boot
    lines = (drive / "boot_out.txt").read_text().splitlines()
    assert lines[0].startswith("Adafruit CircuitPython 9.")
    assert "Board ID:fake_feather_m4_express" in lines and "UID:C1C0DE01" in lines
    assert drive_uid(drive) == "c1c0de01"
    (drive / "code.py").write_text("print('from code.py')\n")
    link.write(b"\x04")  # Ctrl-D at the key prompt: reload
    reload = read_for(link)
    assert reload.startswith(b"soft reboot\r\n") and b"MPY:" not in reload
    assert b"code.py output:\r\nfrom code.py\r\n" in reload
    link.write(b"\r")  # any key: the REPL, whose banner has no help() line
    banner = read_for(link)
    assert banner.endswith(b">>> ") and b"Adafruit CircuitPython" in banner
    assert b'Type "help()"' not in banner


def test_code_py_runs_after_a_soft_reboot_in_the_raw_repl(link: FakeTransport, drive: Path) -> None:
    (drive / "code.py").write_text("print('code ran')\n")
    read_for(link)
    link.write(b"\r\x01")
    assert read_for(link).endswith(b"raw REPL; CTRL-B to exit\r\n>")
    link.write(b"\x04")  # soft reboot from the raw REPL
    after = read_for(link)
    assert b"soft reboot" in after and b"code ran" in after
    assert after.endswith(b"Use CTRL-D to reload.\r\n")  # not back in the raw REPL


def test_leaving_the_raw_repl_starts_a_fresh_vm(link: FakeTransport) -> None:
    read_for(link)
    link.write(b"\r\x01")
    read_for(link)
    link.write(b"kept = 5\x04")
    assert read_for(link) == b"OK\x04\x04>"
    link.write(b"print(kept)\x04")
    assert read_for(link) == b"OK5\r\n\x04\x04>"  # the same VM while in the raw REPL
    link.write(b"\x02\x01")  # to the friendly REPL and back: a new VM each time
    read_for(link)
    link.write(b"print(kept)\x04")
    assert b"NameError" in read_for(link)


def test_files_are_read_only_to_the_boards_code_while_the_drive_is_mounted(
    link: FakeTransport, drive: Path
) -> None:
    device = Device(link)
    device.connect()
    with pytest.raises(DeviceOSError) as refused:
        device.exec("open('/x.txt', 'w')")
    assert refused.value.errno == errno.EROFS
    with pytest.raises(DeviceException) as remount:
        device.exec("import storage\nstorage.remount('/', False)")
    assert remount.value.exc_type == "RuntimeError"  # not while visible over USB
    (drive / "saved.txt").write_text("saved over USB")  # the host writes; the board reads
    assert device.eval("open('/saved.txt').read()") == "saved over USB"
    with pytest.raises(DeviceException) as no_machine:
        device.exec("import machine")
    assert no_machine.value.exc_type == "ImportError"
    device.close()


# -- finding the drive


def boot_out(folder: Path, uid: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "boot_out.txt").write_text(
        f"Adafruit CircuitPython 9.2.1 on 2024-11-20; X with Y\nBoard ID:x\nUID:{uid}\n"
    )
    return folder


def test_find_drive_picks_the_folder_naming_the_boards_uid(tmp_path: Path) -> None:
    boot_out(tmp_path / "CIRCUITPY", "AAAA0001")
    theirs = boot_out(tmp_path / "CIRCUITPY1", "C1C0DE01")
    (tmp_path / "CIRCUITPY2").mkdir()  # no boot_out.txt: not a board's drive
    pattern = str(tmp_path / "CIRCUITPY*")
    assert find_drive("c1c0de01", [pattern]) == theirs
    assert find_drive("ffff", [pattern]) is None
    assert find_drive(None, [pattern]) is None  # a board without a uid is never matched


def test_boot_out_garbage_names_no_uid(tmp_path: Path) -> None:
    folder = tmp_path / "D"
    folder.mkdir()
    (folder / "boot_out.txt").write_bytes(b"UID:not-hex\n\xff\xfe")
    assert drive_uid(folder) is None
    (folder / "boot_out.txt").write_bytes(b"x" * 5000 + b"\nUID:C1C0DE01\n")  # past what is read
    assert drive_uid(folder) is None


def test_configured_globs_add_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DRIVES_VARIABLE, os.pathsep.join(["/a/CP*", "", "/b"]))
    assert configured_globs(["/settings/CP"]) == ["/settings/CP", "/a/CP*", "/b"]


def test_circuitpy_drives_setting(tmp_path: Path) -> None:
    settings = tmp_path / "iotkernel.yaml"
    settings.write_text("circuitpy-drives: [/media/me/CIRCUITPY*, ~/cp]\n")
    assert load_settings(settings).circuitpy_drives == ["/media/me/CIRCUITPY*", "~/cp"]
    settings.write_text("advert-port: 50000\ncircuitpy-drives: 7\n")
    with pytest.raises(ConfigError, match=r"iotkernel\.yaml:2: circuitpy-drives"):
        load_settings(settings)


# -- changes on the drive


def test_drive_paths_stay_inside_the_drive(tmp_path: Path) -> None:
    root = tmp_path / "CIRCUITPY"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path)
    drive = HostDrive(root)
    assert drive.path("/lib/a.py") == root.resolve() / "lib" / "a.py"
    for bad in ("lib/a.py", "/../x", "/a/../../x", "/a\\b", "/a\x00", "/a//b", "/escape/x"):
        with pytest.raises(DriveError):
            drive.path(bad)
    with pytest.raises(DriveError):
        drive.remove("/", recursive=True, missing_ok=False)


def test_drive_writes_are_atomic_and_leave_no_temporaries(tmp_path: Path) -> None:
    root = tmp_path / "CIRCUITPY"
    root.mkdir()
    drive = HostDrive(root)
    drive.write("/a.txt", b"old")
    (root / "b.txt").mkdir()  # a directory where the file should go: the write fails
    with pytest.raises(DriveError) as info:
        drive.write("/b.txt", b"new")
    assert "/b.txt" in str(info.value)
    with pytest.raises(DriveError):
        drive.write("/missing/dir/c.txt", b"x")
    drive.write("/a.txt", b"new")
    assert (root / "a.txt").read_bytes() == b"new"
    assert not [p for p in root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_a_drive_the_board_cannot_read_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drive whose boot_out.txt names this board but is not the one it
    reads (another board's, a stale copy): refused before the first write,
    and the proof token is gone from it."""
    board_files = tmp_path / "board" / "CIRCUITPY"
    impostor = boot_out(tmp_path / "impostor" / "CIRCUITPY", "C1C0DE02")
    monkeypatch.setenv(DRIVES_VARIABLE, str(impostor))
    monkeypatch.setattr(drive_module, "DRIVE_SETTLE", 0.3)
    device = Device.open(
        f"fake://cp-check-{id(tmp_path)}?flavour=circuitpython&drive={board_files}&uid=c1c0de02"
    )
    try:
        with pytest.raises(ForeignDriveError) as info:
            FileService(device).write("/x.txt", b"content")
        assert "cannot read a token" in str(info.value) and str(impostor) in str(info.value)
        assert sorted(p.name for p in impostor.iterdir()) == ["boot_out.txt"]
    finally:
        device.close()


def test_no_drive_found_is_one_error_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DRIVES_VARIABLE, str(tmp_path / "nowhere"))
    device = Device.open("fake://cp-nodrive-unit?flavour=circuitpython&readonly=1&uid=c1c0de03")
    try:
        with pytest.raises(ReadOnlyFilesystemError) as info:
            FileService(device).write("/x.txt", b"x")
        message = str(info.value)
        assert "/x.txt" in message and "storage.remount" in message and "nowhere" in message
    finally:
        device.close()
