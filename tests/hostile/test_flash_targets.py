"""%flash writes only where a bootloader listens: the image never follows a
link or lands in a FIFO, device or hard link inside the drive folder, a
folder that merely holds INFO_UF2.TXT (a backup copy of a drive) is not
taken as a drive, and esptool's coloured errors reach the user as plain
text (tests/kernel/test_flash.py runs the real esptool)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iotkernel.flashing import FlashError, copy_uf2, uf2_drives

from ..kernel.test_kernel import Kernel
from ..test_flashing import uf2


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    folder = tmp_path / "RPI-RP2"
    folder.mkdir()
    (folder / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\n")
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    victim = tmp_path / "important.txt"
    victim.write_bytes(b"the user's data\n")
    return victim


def test_a_symlink_in_the_drive_is_not_followed(drive: Path, outside: Path) -> None:
    (drive / "fw.uf2").symlink_to(outside)
    with pytest.raises(FlashError, match="symbolic link"):
        copy_uf2(uf2(8), drive, "fw.uf2", None)
    assert outside.read_bytes() == b"the user's data\n"


def test_a_hard_link_in_the_drive_is_refused(drive: Path, outside: Path) -> None:
    os.link(outside, drive / "fw.uf2")
    with pytest.raises(FlashError, match="hard link"):
        copy_uf2(uf2(8), drive, "fw.uf2", None)
    assert outside.read_bytes() == b"the user's data\n"


def test_a_fifo_in_the_drive_is_refused_at_once(drive: Path) -> None:
    os.mkfifo(drive / "fw.uf2")
    with pytest.raises(FlashError, match="not a regular file"):
        copy_uf2(uf2(8), drive, "fw.uf2", None)
    # And with somebody reading it: still refused, nothing written to it. The
    # read end is held open here (non-blocking, so no thread waits on it): a
    # reading thread raced the copy's own open, and a closing writer ended it.
    reader = os.open(drive / "fw.uf2", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(FlashError, match="not a regular file"):
            copy_uf2(uf2(8), drive, "fw.uf2", None)
        assert os.read(reader, 64) == b""
    finally:
        os.close(reader)


def test_a_copy_of_a_drive_is_not_a_drive(tmp_path: Path) -> None:
    """A backup of a Pico's drive under /mnt/share: not a mount point, never flashed."""
    share = tmp_path / "mnt" / "share"
    copy = share / "RPI-RP2"
    copy.mkdir(parents=True)
    (copy / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\n")
    assert uf2_drives([tmp_path / "mnt"]) == []  # this machine's real mount points only
    assert uf2_drives([tmp_path / "mnt"], lambda folder: folder == copy) == [copy]


def test_flash_through_the_kernel_refuses_a_linked_target(
    tmp_path: Path, drive: Path, outside: Path
) -> None:
    (tmp_path / "fw.uf2").write_bytes(uf2(8))
    (drive / "fw.uf2").symlink_to(outside)
    k = Kernel()
    try:
        assert k.run(f"%connect fake://flash-link-{tmp_path.name}").status == "ok"
        assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
        run = k.run(f"%flash fw.uf2 --drive {drive}", timeout=60)
        assert run.status == "error" and run.reply["ename"] == "FlashError", run.reply
        assert "symbolic link" in run.reply["evalue"]
        assert outside.read_bytes() == b"the user's data\n"
    finally:
        k.stop()
