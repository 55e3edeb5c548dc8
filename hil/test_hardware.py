"""Checks that need a real board's hardware; they skip visibly where it is absent."""

from __future__ import annotations

import time

import pytest

from iotkernel.device import Device
from iotkernel.errors import DeviceException, IotKernelError, TransportError
from tests.backends import Backend


def test_dtr_rts_hard_reset(backend: Backend) -> None:
    device = backend.open()
    try:
        if not device.transport.supports("hard_reset"):
            pytest.skip("this port has no DTR/RTS lines (virtual board or network link)")
        device.exec("survives_reset = 1")
        device.transport.hard_reset()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while True:  # native-USB boards re-enumerate: the port may vanish for a while
            try:
                device.reopen(timeout=2)
                break
            except IotKernelError:
                if time.monotonic() > deadline:
                    raise
        with pytest.raises(DeviceException):
            device.exec("survives_reset")
    finally:
        device.close()


def test_replug_and_reconnect(backend: Backend) -> None:
    if backend.board is None:
        pytest.skip("unplugging a real board needs a person or a switchable hub")
    device = backend.open()
    try:
        uid = device.identity().uid
        assert backend.vanish is not None
        backend.vanish(device)
        with pytest.raises(TransportError):
            device.exec("print(1)", timeout=3)
        backend.board.ensure_plugged()
        start = time.monotonic()
        device.reopen(timeout=10)
        assert time.monotonic() - start < 10
        assert device.identity(refresh=True).uid == uid
    finally:
        device.close()


def test_webrepl_login(backend: Backend) -> None:
    if not backend.url.startswith(("ws://", "wss://")):
        pytest.skip("the board under test is not reached over WebREPL")
    with Device.open(backend.url) as device:
        assert device.eval("1 + 1") == 2
