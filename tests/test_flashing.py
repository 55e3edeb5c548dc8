"""Firmware images and tools (iotkernel.flashing): ESP offsets from image
headers, UF2 checks, esptool's command line, drives found and copied onto."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from iotkernel.flashing import (
    FlashError,
    check_uf2,
    copy_uf2,
    esp_offset,
    esptool_argv,
    serial_device,
    uf2_drives,
    wait_for_drive,
    without_escapes,
)


def esp32_image(chip_id: int) -> bytes:
    # magic, segments, flash mode, size/freq, entry; extended header: wp pin,
    # drive settings (3), chip id (2), ...
    return (
        bytes([0xE9, 3, 2, 0x20])
        + struct.pack("<I", 0x40080000)
        + bytes([0xEE, 0, 0, 0])
        + struct.pack("<H", chip_id)
        + bytes(10)
    )


def esp8266_image() -> bytes:
    # no extended header: the first segment's load address follows the entry
    return (
        bytes([0xE9, 1, 0, 0x40])
        + struct.pack("<I", 0x40100000)
        + struct.pack("<I", 0x40100000)
        + bytes(12)
    )


def uf2(blocks: int) -> bytes:
    out = b""
    for i in range(blocks):
        head = struct.pack(
            "<IIIIIIII",
            0x0A324655,
            0x9E5D5157,
            0x2000,
            0x10000000 + 256 * i,
            256,
            i,
            blocks,
            0xE48BFF56,
        )
        out += head + bytes(476) + struct.pack("<I", 0x0AB16F30)
    return out


def test_esp_offsets_from_the_header() -> None:
    assert esp_offset(esp32_image(0)) == 0x1000  # ESP32
    assert esp_offset(esp32_image(9)) == 0x0  # ESP32-S3
    assert esp_offset(esp32_image(5)) == 0x0  # ESP32-C3
    assert esp_offset(esp8266_image()) == 0x0
    with pytest.raises(FlashError, match="not an ESP32/ESP8266 firmware image"):
        esp_offset(b"PK\x03\x04" + bytes(40))


def test_uf2_images_are_checked_block_by_block() -> None:
    assert check_uf2(uf2(3)) == 3
    with pytest.raises(FlashError, match="whole number of blocks"):
        check_uf2(uf2(2)[:-1])
    broken = bytearray(uf2(2))
    broken[512] ^= 0xFF
    with pytest.raises(FlashError, match="block 1 has no UF2 magic"):
        check_uf2(bytes(broken))


def test_esptools_command_line(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    argv = esptool_argv("/dev/ttyUSB0", image, 0x1000, erase=True, baud=460800, attempts=2)
    assert argv == [
        sys.executable, "-m", "esptool", "--chip", "auto", "--port", "/dev/ttyUSB0",
        "--baud", "460800", "--connect-attempts", "2", "write-flash", "--erase-all",
        "0x1000", str(image),
    ]  # fmt: skip
    assert serial_device("serial:///dev/ttyUSB0?dtr=0") == "/dev/ttyUSB0"
    assert serial_device("rfc2217://10.0.0.5:4000") == "rfc2217://10.0.0.5:4000"
    with pytest.raises(FlashError, match="serial port"):
        serial_device("ws://10.0.0.5:8266")


def test_no_esptool_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "esptool", None)  # as if not installed
    with pytest.raises(FlashError, match=r"pip install 'iotkernel\[flash\]'"):
        esptool_argv("/dev/x", tmp_path / "fw.bin", 0, erase=False, baud=115200, attempts=None)


def test_drives_are_found_and_written(tmp_path: Path) -> None:
    media = tmp_path / "media"
    drive = media / "user" / "RPI-RP2"
    drive.mkdir(parents=True)
    (media / "user" / "USBSTICK").mkdir()

    def mounted(folder: Path) -> bool:  # the mount points this machine would have
        return folder in (drive, media / "user" / "USBSTICK")

    assert uf2_drives([media], mounted) == []
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n")
    assert uf2_drives([media], mounted) == [drive]
    assert wait_for_drive(drive, 1, [media]) == drive
    image = uf2(70)
    written = copy_uf2(image, drive, "fw.uf2", None)
    assert written.read_bytes() == image
    with pytest.raises(FlashError, match="no UF2 drive appeared within 0 s"):
        wait_for_drive(tmp_path / "nowhere", 0, [media])


def test_terminal_escapes_are_taken_out_of_esptools_text() -> None:
    coloured = "\x1b[1;33mERROR\x1b[0m: no serial data\x1b]8;;http://x\x07link\x1b]8;;\x07\x1bc"
    assert without_escapes(coloured) == "ERROR: no serial data" + "link"
