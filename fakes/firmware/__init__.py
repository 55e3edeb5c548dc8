"""Firmware for the test boards, built by the project from Debian's packages.

Owns the recipes of the boards the tests run (`BOARDS`), where each built
image lives (a cache keyed by the source versions, the build options and the
board definition's files) and building one on demand. The sources come from
Debian's registry through a private apt list (`fakes.firmware.debian`), never
through the machine's own sources; the toolchain is Debian's
`gcc-arm-none-eabi`.

    python -m fakes.firmware build [NAME ...]   # every board by default
    python -m fakes.firmware path NAME          # the image, built if missing
    python -m fakes.firmware list

Boards:

* `qemu`: MicroPython's qemu port on QEMU's mps2-an385 (Cortex-M3) with a
  40 KB heap and a board definition of our own (`boards/IOTK_AN385`):
  Ctrl-C while code runs, `machine.unique_id()`, `machine.reset()` that
  reboots, littlefs at boot, the time module.
* `qemu-large`: the same board with the port's default 140 KB heap.
* `qemu-stock`: the qemu port's MPS2_AN385 board as MicroPython ships it
  (no Ctrl-C while code runs, no unique id, no filesystem; reset ends QEMU).
"""

from __future__ import annotations

from .build import (
    BOARDS,
    FirmwareBuildError,
    Recipe,
    build,
    cache_dir,
    firmware_path,
    missing_toolchain,
    source_tree,
)

__all__ = [
    "BOARDS",
    "FirmwareBuildError",
    "Recipe",
    "build",
    "cache_dir",
    "firmware_path",
    "missing_toolchain",
    "source_tree",
]
