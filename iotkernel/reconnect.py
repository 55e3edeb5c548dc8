"""Reconnecting by identity: the one policy for "is this still my board?".

Used by the kernel's board session (a board unplugged or reset between
cells) and the pytest plugin (a board a test lost). After a replug, another
board can answer at the same URL: whatever answers is checked by its uid
before it is used, and a different uid is an `UnexpectedBoardError`, never
a silent switch. A board without a uid can only be taken on trust.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from .device import Device
from .errors import IotKernelError, UnexpectedBoardError


def check_uid(device: Device, expected: str | None, *, refresh: bool = False) -> str | None:
    """The uid the board at `device` answers with; with `expected`, it must
    be that one (else `UnexpectedBoardError`; the device is left open)."""
    uid = device.identity(refresh=refresh).uid
    if expected is not None and uid != expected:
        raise UnexpectedBoardError(
            f"{device.url}: another board (uid {uid}) answers here, not the board "
            f"with uid {expected}; not using it"
        )
    return uid


def open_board(
    url: str, *, expect_uid: str | None, wait: float = 0.0, **options: Any
) -> tuple[Device, str | None]:
    """Open `url` (trying again for up to `wait` s while it fails to open)
    and check who answers: (the device, its uid). On any failure, the
    device is closed before the error goes on."""
    end = time.monotonic() + wait
    while True:
        try:
            device = Device.open(url, **options)
            break
        except IotKernelError:
            if time.monotonic() >= end:
                raise
            time.sleep(0.5)
    try:
        return device, check_uid(device, expect_uid)
    except BaseException:
        with contextlib.suppress(Exception):
            device.close()
        raise


def reopen_same_board(device: Device, uid: str | None, *, timeout: float) -> bool:
    """Open `device`'s link again and whether the same board (by uid) is
    behind it; False when it does not open or another board answers."""
    try:
        device.reopen(timeout=timeout)
        check_uid(device, uid, refresh=True)
    except IotKernelError:
        return False
    return True
