"""%flash and %bootloader: new firmware on the board, then connected again.

ESP32/ESP8266 `.bin` images go through esptool on the board's serial port
(released first); rp2/samd `.uf2` images onto the drive the board's
bootloader shows, after `machine.bootloader()`. Both show progress and end
connected to the board again, showing the version it now runs. The image
checks and the tools are in `iotkernel/flashing.py`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...errors import IotKernelError, TransportError, UsageError
from ...flashing import (
    DRIVE_ROOTS,
    FlashError,
    check_uf2,
    copy_uf2,
    esp_offset,
    esptool_argv,
    holds_uf2_info,
    run_esptool,
    serial_device,
    wait_for_drive,
)
from ...hardreset import refusal
from ...protocol import ExecMode
from .files import ProgressBar, host_path, read_host_file
from .registry import KernelServices, argument, line_magic, seconds


# Into the bootloader from the board's own code: MicroPython's machine, or
# CircuitPython's microcontroller (a reset in the mode asked for).
def _address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address such as 0x1000") from None


@line_magic(
    "flash",
    summary="Flash new firmware (ESP .bin through esptool, rp2/samd .uf2 onto its drive)",
    epilog=(
        "A .bin goes through esptool (pip install 'iotkernel[flash]') on the board's\n"
        "serial port, at the offset its header implies (0x1000 for ESP32, 0x0 for\n"
        "ESP32-S2/S3/C3/C6 and ESP8266; --offset to choose). A .uf2 goes onto the\n"
        "drive the board shows after machine.bootloader() (or one given by --drive).\n"
        "Afterwards the kernel connects to the board again and shows its version.\n"
        "examples:\n"
        "  %flash ESP32_GENERIC-v1.29.0.bin --erase\n"
        "  %flash RPI_PICO-v1.29.0.uf2\n"
        "  %flash fw.bin --port serial:///dev/ttyUSB0\n"
    ),
)
@argument("firmware", help="the image: .bin (ESP) or .uf2 (rp2, samd, nrf)")
@argument("--port", default=None, metavar="URL", help="the board's port (default: current board)")
@argument("--erase", action="store_true", help="erase the whole flash first (ESP)")
@argument("--offset", type=_address, default=None, help="flash address (ESP; default from image)")
@argument("--baud", type=int, default=460800, help="esptool's baud rate (default 460800)")
@argument("--connect-attempts", type=int, default=None, metavar="N", help="esptool's attempts")
@argument("--drive", default=None, metavar="DIR", help="the UF2 drive's folder (default: found)")
@argument("--wait", type=seconds, default=30, metavar="S", help="wait S s for drive and board")
def flash(kernel: KernelServices, args: argparse.Namespace) -> None:
    path = host_path(args.firmware)
    image = read_host_file(path)
    if path.suffix.lower() == ".uf2":
        _flash_uf2(kernel, args, path, image)
    elif path.suffix.lower() == ".bin":
        _flash_esp(kernel, args, path, image)
    else:
        raise UsageError(f"{path.name}: expected a .bin (ESP) or .uf2 firmware image")


def _flash_esp(kernel: KernelServices, args: argparse.Namespace, path: Path, image: bytes) -> None:
    offset = args.offset if args.offset is not None else esp_offset(image)
    url = args.port or kernel.board.url
    if url is None:
        raise UsageError("no board to flash: %connect to it first, or give --port URL")
    argv = esptool_argv(
        serial_device(url),
        path,
        offset,
        erase=args.erase,
        baud=args.baud,
        attempts=args.connect_attempts,
    )
    name = kernel.board.name if url == kernel.board.url else None
    if url == kernel.board.url:
        kernel.board.close()  # esptool needs the port to itself
    kernel.print(f"esptool: {path.name} at {hex(offset)} through {url}\n")
    try:
        run_esptool(argv, kernel.print, ProgressBar(kernel, "flash", unit="%"))
    except (FlashError, KeyboardInterrupt):
        _reconnect_after_failure(kernel, url, name)
        raise
    _reconnect(kernel, url, name, args.wait)


def _flash_uf2(kernel: KernelServices, args: argparse.Namespace, path: Path, image: bytes) -> None:
    blocks = check_uf2(image)  # before the board leaves MicroPython
    drive = host_path(args.drive) if args.drive else None
    url, name = kernel.board.url, kernel.board.name
    if drive is None or not holds_uf2_info(drive):
        _to_bootloader(kernel)
    try:
        found = wait_for_drive(drive, args.wait, DRIVE_ROOTS)
    except FlashError:
        if url is not None:
            _reconnect_after_failure(kernel, url, name)
        raise
    kernel.print(f"copying {path.name} ({blocks} blocks) onto {found}\n")
    copy_uf2(image, found, path.name, ProgressBar(kernel, "flash"))
    if url is not None:
        _reconnect(kernel, url, name, args.wait)


def _to_bootloader(kernel: KernelServices) -> None:
    """The board leaves its firmware for its bootloader; a board whose
    firmware refuses (no such call) is a FlashError, and stays connected."""
    device = kernel.require_device()
    _shown, call = device.helpers.reset_call(bootloader=True)
    try:
        device.start(call, timeout=3.0, mode=ExecMode.CLASSIC)
        # Gone (the port closes, or it falls silent): the bootloader started.
        # An error frame instead: the firmware refused.
        answer = device.wait_quiet(quiet=0.5, limit=3.0)
    except TransportError:
        answer = b""  # its port went away as it left: that is the bootloader starting
    if (reason := refusal(answer)) is not None:
        device.connect()
        raise FlashError(f"{kernel.board.name} cannot enter its bootloader from code: {reason}")
    kernel.board.close()


def _reconnect(kernel: KernelServices, url: str, name: str | None, wait: float) -> None:
    """Connect to the flashed board again (it reboots into the new firmware)."""
    end = time.monotonic() + wait
    while True:
        try:
            device = kernel.board.connect(url, name=name)
            break
        except IotKernelError as exc:
            if time.monotonic() >= end:
                raise FlashError(
                    f"flashed, but the board did not come back at {url} within {wait:.0f} s "
                    f"({exc}): %connect to it when it is there"
                ) from None
            time.sleep(0.5)
    ident = device.identity()
    kernel.print(
        f"Connected to {kernel.board.name}: {ident.implementation} {ident.version} "
        f"on {ident.machine}\n"
    )


def _reconnect_after_failure(kernel: KernelServices, url: str, name: str | None) -> None:
    """After a flash that did not happen: the board as it was, if it answers
    (one that stays in its bootloader does not; the next cell says so)."""
    try:
        kernel.board.connect(url, name=name)
        kernel.print(f"{kernel.board.name} is connected again, its firmware unchanged\n", "stderr")
    except IotKernelError as exc:
        kernel.print(f"{url} does not answer ({exc}): %connect it when it is back\n", "stderr")


@line_magic(
    "bootloader",
    summary="Put the board into its bootloader (machine.bootloader(); on CircuitPython, "
    "microcontroller.on_next_reset(RunMode.BOOTLOADER))",
    epilog=(
        "The board leaves MicroPython: rp2 and samd boards show a UF2 drive, ESP boards\n"
        "wait for esptool. %connect to it again after flashing.\n"
        "examples:\n  %bootloader\n"
    ),
)
def bootloader(kernel: KernelServices, args: argparse.Namespace) -> None:
    name = kernel.board.name
    _to_bootloader(kernel)
    kernel.print(f"{name} is in its bootloader; %flash a .uf2, or esptool a .bin\n")


MAGICS = (flash, bootloader)
