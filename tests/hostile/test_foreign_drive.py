"""A CircuitPython board that claims another board's uid: the kernel finds a
drive by the uid in its `boot_out.txt`, which is only what a board claims,
so a drive is proven the board's (a token the host writes, read back by the
board through its own filesystem) before the first write or delete. The
other board's drive is never written to or deleted from, the token never
stays behind, and a write the board cannot read back leaves the drive's
file as it was. On the fake CircuitPython board (sim): the host drives are
folders, as the host sees a mounted CIRCUITPY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iotkernel.device import Device
from iotkernel.files import FileService, ForeignDriveError, TransferVerificationError
from iotkernel.files import drive as drive_module
from iotkernel.files.drive import DRIVES_VARIABLE, PROOF_PREFIX

from ..kernel.test_kernel import Kernel

VICTIM_UID = "C1C0DE5A"
# What every board has: the impostor's own drive holds the same names.
BOARD_FILES = {"code.py": b"print('runs')\n", "settings.toml": b'WIFI = "x"\n'}


def make_drive(folder: Path, uid: str, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    (folder / "boot_out.txt").write_text(
        f"Adafruit CircuitPython 9.2.1 on 2024-11-20; X with Y\nBoard ID:x\nUID:{uid}\n"
    )
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def victim_drive(tmp_path: Path) -> Path:
    """The honest board's mounted drive, with the user's files on it."""
    return make_drive(
        tmp_path / "victim" / "CIRCUITPY",
        VICTIM_UID,
        {"code.py": b"print('the victim runs')\n", "settings.toml": b'WIFI = "victim"\n'},
    )


@pytest.fixture
def impostor(
    tmp_path: Path, victim_drive: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Device]:
    """A board with a drive of its own (not mounted here) that claims the victim's uid."""
    monkeypatch.setenv(DRIVES_VARIABLE, str(victim_drive))
    monkeypatch.setattr(drive_module, "DRIVE_SETTLE", 0.3)
    own = make_drive(tmp_path / "impostor" / "CIRCUITPY", VICTIM_UID, BOARD_FILES)
    device = Device.open(
        f"fake://impostor-{id(tmp_path)}?flavour=circuitpython&drive={own}&uid={VICTIM_UID.lower()}"
    )
    try:
        yield device
    finally:
        device.close()


def test_a_write_never_lands_on_the_drive_of_the_board_whose_uid_was_claimed(
    impostor: Device, victim_drive: Path
) -> None:
    before = snapshot(victim_drive)
    files = FileService(impostor)
    with pytest.raises(ForeignDriveError) as info:
        files.write("/secret.py", b"TOKEN = 'the user secret'\n")
    assert "another board's drive" in str(info.value)
    assert snapshot(victim_drive) == before  # no secret.py, no proof token left
    assert files.drive.root is None  # nothing bound: the next change asks again


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda f: f.remove("/code.py"), id="rm code.py"),
        pytest.param(lambda f: f.remove("/settings.toml"), id="rm settings.toml"),
        pytest.param(lambda f: f.rename("/code.py", "/old.py"), id="rename"),
        pytest.param(lambda f: f.mkdirs("/lib/new"), id="mkdir"),
        pytest.param(lambda f: f.touch("/boot.py"), id="touch"),
    ],
)
def test_no_delete_or_change_on_the_other_boards_drive(
    impostor: Device, victim_drive: Path, change: object
) -> None:
    before = snapshot(victim_drive)
    with pytest.raises(ForeignDriveError):
        change(FileService(impostor))  # type: ignore[operator]
    assert snapshot(victim_drive) == before
    assert not any(p.name.startswith(PROOF_PREFIX) for p in victim_drive.iterdir())


def test_the_real_drive_is_found_behind_a_copy_that_names_the_same_uid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup copy of the board's drive, searched first, is passed over."""
    copy = make_drive(tmp_path / "backup" / "CIRCUITPY", "C1C0DE5B", {"code.py": b"old\n"})
    real = tmp_path / "real" / "CIRCUITPY"
    monkeypatch.setenv(DRIVES_VARIABLE, f"{copy}:{real}")
    monkeypatch.setattr(drive_module, "DRIVE_SETTLE", 0.3)
    device = Device.open(
        f"fake://cp-real-{id(tmp_path)}?flavour=circuitpython&drive={real}&uid=c1c0de5b"
    )
    try:
        files = FileService(device)
        files.write("/code.py", b"new\n")
        assert (real / "code.py").read_bytes() == b"new\n"
        assert (copy / "code.py").read_bytes() == b"old\n"
        assert files.drive.root == real
        assert not any(p.name.startswith(PROOF_PREFIX) for p in (*real.iterdir(), *copy.iterdir()))
    finally:
        device.close()


def test_a_write_the_board_cannot_read_back_leaves_the_drive_as_it_was(
    tmp_path: Path, victim_drive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proven drive was swapped under the same mount point (unmounted, another
    board's mounted there): the write is undone, the old file put back, the new
    one removed."""
    own = tmp_path / "own" / "CIRCUITPY"
    monkeypatch.setenv(DRIVES_VARIABLE, str(own))
    monkeypatch.setattr(drive_module, "DRIVE_SETTLE", 0.3)
    device = Device.open(
        f"fake://cp-swap-{id(tmp_path)}?flavour=circuitpython&drive={own}&uid=c1c0de5c"
    )
    try:
        files = FileService(device)
        files.write("/first.txt", b"proves and binds the drive\n")
        assert files.drive.root == own
        files.drive.root = victim_drive  # what the bound mount point now holds
        before = snapshot(victim_drive)
        with pytest.raises(TransferVerificationError) as info:
            files.write("/code.py", b"print('replaced')\n")
        assert "as it was" in str(info.value)
        with pytest.raises(TransferVerificationError):
            files.write("/brand_new.py", b"x = 1\n")
        assert snapshot(victim_drive) == before
    finally:
        device.close()


def test_rm_in_the_kernel_is_one_error_and_deletes_nothing(
    tmp_path: Path, victim_drive: Path
) -> None:
    own = make_drive(tmp_path / "impostor-k" / "CIRCUITPY", VICTIM_UID, BOARD_FILES)
    k = Kernel(env={DRIVES_VARIABLE: str(victim_drive)})
    try:
        url = f"fake://impostor-k-{id(tmp_path)}?flavour=circuitpython&drive={own}&uid=c1c0de5a"
        assert k.run(f"%connect {url}", timeout=30).status == "ok"
        before = snapshot(victim_drive)
        for cell in ("%rm :code.py", "%rm :settings.toml"):
            run = k.run(cell, timeout=30)
            assert run.status == "error" and run.reply["ename"] == "ForeignDriveError", run.reply
            assert "another board's drive" in run.reply["evalue"]
        assert snapshot(victim_drive) == before
        assert k.run("print('still here')").stream() == "still here\n"
    finally:
        k.stop()
