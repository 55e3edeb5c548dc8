"""%flash and %bootloader through the kernel: a UF2 image onto a folder
standing for the drive (the fake board enters its bootloader and comes
back), esptool run against a port with no ESP chip behind it, and the
checks that keep a wrong image off the board."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.vboard import VirtualSerialBoardProcess

from ..backends import require_unix_port
from ..test_flashing import esp32_image, uf2
from .test_kernel import Kernel


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert k.run(f"%connect fake://flash-{tmp_path.name}").status == "ok"
        assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
        yield k
    finally:
        k.stop()


def test_uf2_onto_the_drive_and_back_connected(kernel: Kernel, tmp_path: Path) -> None:
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (tmp_path / "fw.uf2").write_bytes(uf2(40))
    # The bootloader's drive appears once the board has left MicroPython.
    run = kernel.run(f"%flash fw.uf2 --drive {drive} --wait 10", timeout=60)
    assert run.status == "error" and "no UF2 drive appeared" in run.reply["evalue"]
    assert kernel.run("print('still here')").stream() == "still here\n"  # reconnected anyway

    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\n")
    run = kernel.run(f"%flash fw.uf2 --drive {drive}", timeout=60)
    assert run.status == "ok", run.reply
    assert (drive / "fw.uf2").read_bytes() == uf2(40)
    bars = run.of_type("display_data") + run.of_type("update_display_data")
    assert "100%" in bars[-1]["data"]["text/plain"]
    assert "Connected to" in run.stream() and "micropython 1.24.0" in run.stream()
    assert kernel.run("print(6 * 7)").stream() == "42\n"


def test_bootloader_says_what_comes_next(kernel: Kernel) -> None:
    run = kernel.run("%bootloader")
    assert run.status == "ok" and "is in its bootloader" in run.stream()


def test_wrong_images_never_reach_the_board(kernel: Kernel, tmp_path: Path) -> None:
    (tmp_path / "bad.uf2").write_bytes(b"not uf2" * 100)
    run = kernel.run("%flash bad.uf2")
    assert run.reply["ename"] == "FlashError" and "not a UF2 image" in run.reply["evalue"]
    (tmp_path / "bad.bin").write_bytes(b"PK" + bytes(100))
    run = kernel.run("%flash bad.bin")
    assert run.reply["ename"] == "FlashError" and "0xE9" in run.reply["evalue"]
    (tmp_path / "fw.hex").write_bytes(b":00000001FF")
    assert kernel.run("%flash fw.hex").reply["ename"] == "UsageError"
    assert kernel.run("print('untouched')").stream() == "untouched\n"


def test_esptool_against_a_port_with_no_esp_chip(tmp_path: Path) -> None:
    """esptool runs with the right arguments on the board's own port (released
    for it), fails to find a chip there within its attempts, and says so;
    the kernel then connects to the board again."""
    require_unix_port()
    (tmp_path / "fw.bin").write_bytes(esp32_image(0) + bytes(4096))
    with VirtualSerialBoardProcess(tmp_path / "ttyESP", board_dir=tmp_path / "b") as board:
        k = Kernel()
        try:
            assert k.run(f"%connect {board.url}").status == "ok"
            assert k.run(f"%cd {tmp_path}", silent=True).status == "ok"
            start = time.monotonic()
            run = k.run("%flash fw.bin --connect-attempts 1 --baud 115200", timeout=120)
            assert time.monotonic() - start < 90
            assert run.reply["ename"] == "FlashError", run.reply
            assert "esptool failed" in run.reply["evalue"]
            out = run.stream()
            assert f"fw.bin at 0x1000 through {board.url}" in out
            assert "esptool" in out.lower()
            assert "\x1b" not in out + run.reply["evalue"]  # no terminal escapes
            assert k.run("print('back')", timeout=60).stream().endswith("back\n")
        finally:
            k.stop()
