"""Flashing firmware: ESP32/ESP8266 images through esptool, UF2 images onto
the drive a board's bootloader shows.

Owns checking an image before anything touches a board (an ESP image's
magic byte and the flash offset its header implies; a UF2 file's block
magics), building esptool's command line and reading its progress, finding
the UF2 drive (a folder holding `INFO_UF2.TXT`, which UF2 bootloaders put on
their drive: Microsoft's UF2 specification, github.com/microsoft/uf2) and
copying the image onto it with progress. Facts from esptool's documentation
(docs.espressif.com/projects/esptool) and MicroPython's ESP32 and ESP8266
installation pages: ESP32 images go at 0x1000, ESP32-S2/S3/C3/C6 and ESP8266
images at 0x0; the image header's chip id (bytes 12-13) tells an ESP32 from
its successors. No board I/O here: the magic puts the board in its
bootloader and reconnects.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import IotKernelError
from .util import Progress

ESP_MAGIC = 0xE9
UF2_MAGIC_START = (0x0A324655, 0x9E5D5157)
UF2_MAGIC_END = 0x0AB16F30
UF2_BLOCK = 512
# Where UF2 drives appear on Linux, macOS and Windows-like mounts.
DRIVE_ROOTS = ("/media", "/run/media", "/Volumes", "/mnt")
INFO_UF2 = "INFO_UF2.TXT"  # UF2 bootloaders put it on their drive
# A terminal escape (colour, cursor): esptool colours its errors.
_TERMINAL_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-~])")
_PERCENT = re.compile(rb"(\d{1,3}(?:\.\d+)?) ?%")


class FlashError(IotKernelError):
    """Flashing cannot be done: a wrong image, no esptool, no drive, a
    failed write. The message says what to install or do."""


# --- images -----------------------------------------------------------------


def esp_offset(image: bytes) -> int:
    """The flash address a MicroPython ESP image goes to, from its header."""
    if len(image) < 24 or image[0] != ESP_MAGIC:
        raise FlashError(
            "not an ESP32/ESP8266 firmware image (it does not start with 0xE9): "
            "download a .bin for your board from micropython.org/download"
        )
    # ESP8266 images have no extended header: bytes 8-11 are the first
    # segment's load address, whose top byte is 0x3F or 0x40.
    if image[11] in (0x3F, 0x40):
        return 0x0
    chip_id = struct.unpack_from("<H", image, 12)[0]
    return 0x1000 if chip_id == 0 else 0x0  # 0: the original ESP32


def check_uf2(image: bytes) -> int:
    """The number of blocks of a well-formed UF2 image."""
    if not image or len(image) % UF2_BLOCK:
        raise FlashError(f"not a UF2 image: {len(image)} bytes is not a whole number of blocks")
    for offset in range(0, len(image), UF2_BLOCK):
        start = struct.unpack_from("<II", image, offset)
        end = struct.unpack_from("<I", image, offset + UF2_BLOCK - 4)[0]
        if start != UF2_MAGIC_START or end != UF2_MAGIC_END:
            raise FlashError(f"not a UF2 image: block {offset // UF2_BLOCK} has no UF2 magic")
    return len(image) // UF2_BLOCK


# --- esptool ----------------------------------------------------------------


def esptool_argv(
    port: str, image: Path, offset: int, *, erase: bool, baud: int, attempts: int | None
) -> list[str]:
    """esptool's command line for writing `image` at `offset` through `port`."""
    try:
        found = importlib.util.find_spec("esptool") is not None
    except (ImportError, ValueError):  # a broken install
        found = False
    if not found:
        raise FlashError("flashing ESP boards needs esptool: pip install 'iotkernel[flash]'")
    argv = [sys.executable, "-m", "esptool", "--chip", "auto", "--port", port, "--baud", str(baud)]
    if attempts is not None:
        argv += ["--connect-attempts", str(attempts)]
    argv += ["write-flash"]
    if erase:
        argv += ["--erase-all"]
    return [*argv, hex(offset), str(image)]


def serial_device(url: str) -> str:
    """The port esptool opens for a device URL (a path, or pyserial's URL)."""
    if url.startswith("serial://"):
        return url[len("serial://") :].split("?", 1)[0]
    if url.startswith(("rfc2217://", "socket://", "/")):
        return url
    raise FlashError(f"{url} is not a serial port: esptool flashes over USB-serial only")


def without_escapes(text: str) -> str:
    """`text` without terminal escapes (esptool's colours), for a notebook."""
    return _TERMINAL_ESCAPE.sub("", text)


def run_esptool(argv: list[str], on_text: Callable[[str], None], progress: Progress | None) -> None:
    """Run esptool, passing its text on and its percentages to `progress`;
    ■ (SIGINT to us) stops it. A failure raises FlashError with its last lines."""
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A notebook is no terminal: ask for plain text (escapes that
            # still come are taken out below).
            env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"},
        )
    except OSError as exc:
        raise FlashError(f"cannot run esptool: {exc.strerror}") from None
    assert process.stdout is not None
    tail: list[str] = []
    try:
        out = process.stdout.fileno()
        for chunk in iter(lambda: os.read(out, 4096), b""):
            for percent in _PERCENT.findall(chunk):
                if progress is not None:
                    progress(min(100, int(float(percent))), 100)
            text = without_escapes(chunk.decode("utf-8", "replace")).replace("\r", "\n")
            tail = (tail + [ln for ln in text.split("\n") if ln.strip()])[-4:]
            on_text(text)
        status = process.wait()
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        process.wait()
        raise
    finally:
        process.stdout.close()
    if status != 0:
        said = " / ".join(line.strip() for line in tail) or f"exit status {status}"
        raise FlashError(f"esptool failed: {said}")


# --- UF2 --------------------------------------------------------------------


def holds_uf2_info(folder: Path) -> bool:
    """Whether `folder` holds INFO_UF2.TXT as a regular file (not a link)."""
    try:
        return stat.S_ISREG(os.lstat(folder / INFO_UF2).st_mode)
    except OSError:
        return False


def uf2_drives(
    roots: Iterable[str | Path] = DRIVE_ROOTS,
    is_mount_point: Callable[[Path], bool] = os.path.ismount,
) -> list[Path]:
    """Mounted UF2 bootloader drives: mount points up to two levels below
    `roots` holding INFO_UF2.TXT (/media/USER/RPI-RP2, /Volumes/RPI-RP2, ...).

    Only mount points: a folder that merely holds INFO_UF2.TXT (a backup copy
    of a drive under /mnt/share) is not a bootloader listening for blocks.
    A drive named with --drive is the user's word and skips this search."""
    found = []
    for root in map(Path, roots):
        for candidate in (root, *root.glob("*"), *root.glob("*/*")):
            with contextlib.suppress(OSError):
                if is_mount_point(candidate) and holds_uf2_info(candidate):
                    found.append(candidate)
    return sorted(set(found))


def wait_for_drive(drive: Path | None, timeout: float, roots: Iterable[str | Path]) -> Path:
    """The UF2 drive (`drive`, or the only one found), once it is there."""
    roots = list(roots)
    end = time.monotonic() + timeout
    while True:
        if drive is not None and holds_uf2_info(drive):
            return drive
        if drive is None:
            drives = uf2_drives(roots)
            if len(drives) == 1:
                return drives[0]
            if len(drives) > 1:
                names = ", ".join(str(d) for d in drives)
                raise FlashError(
                    f"several UF2 drives are mounted ({names}): choose one with --drive"
                )
        if time.monotonic() >= end:
            where = str(drive) if drive is not None else " or ".join(str(r) for r in roots)
            raise FlashError(
                f"no UF2 drive appeared within {timeout:.0f} s at {where}: hold BOOTSEL "
                "(rp2) or double-press RESET (samd) while plugging in, mount the drive, "
                "and give its folder with --drive"
            )
        time.sleep(0.2)


def copy_uf2(image: bytes, drive: Path, name: str, progress: Progress | None) -> Path:
    """Write the image onto the drive in blocks, flushed to the device: the
    bootloader flashes as blocks arrive and reboots after the last one.

    The target is opened without following a link and must be a regular
    file with no other name: a symlink, FIFO, device or hard link in the
    drive folder would carry the image somewhere else."""
    target = drive / name
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(target, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or target.is_symlink():
            raise FlashError(f"refusing to write {target}: it is a symbolic link") from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise FlashError(f"refusing to write {target}: it is not a regular file") from None
        raise FlashError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        found = os.fstat(descriptor)
        if not stat.S_ISREG(found.st_mode) or found.st_nlink > 1:
            kind = "a hard link" if stat.S_ISREG(found.st_mode) else "not a regular file"
            raise FlashError(f"refusing to write {target}: it is {kind}")
        os.set_blocking(descriptor, True)
        os.ftruncate(descriptor, 0)
        with os.fdopen(descriptor, "wb", closefd=False) as out:
            for start in range(0, len(image), 64 * UF2_BLOCK):
                out.write(image[start : start + 64 * UF2_BLOCK])
                if progress is not None:
                    progress(min(len(image), start + 64 * UF2_BLOCK), len(image))
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())
    except OSError as exc:
        raise FlashError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        os.close(descriptor)
    return target
