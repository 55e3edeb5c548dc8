"""Checks that need a real board's hardware; they skip visibly where it is absent."""

from __future__ import annotations

import time

import pytest

from iotkernel.device import Device
from iotkernel.errors import DeviceException, TransportError
from iotkernel.hardreset import ResetMeans, ResetStrategy
from iotkernel.transport import reset_line
from tests.backends import Backend


def test_dtr_rts_hard_reset(backend: Backend, request: pytest.FixtureRequest) -> None:
    # Whether RTS reaches a reset pin depends on the board's circuit (ESP32
    # DevKits: yes; a Pico's native USB: no), which no port can tell.
    if not request.config.getoption("--dtr-reset"):
        pytest.skip("give --dtr-reset for a board with an auto-reset circuit on RTS/DTR")
    device = backend.open()
    try:
        line = reset_line(device.transport)
        if line is None:
            pytest.fail("--dtr-reset was given, but this port has no DTR/RTS lines")
        device.exec("survives_reset = 1")
        how, _boot = ResetStrategy(device, rts_only=True).reset()
        assert how.startswith("an RTS pulse")
        with pytest.raises(DeviceException):
            device.exec("survives_reset")
    finally:
        device.close()


def test_hard_reset_by_power_switch_or_reset_line(backend: Backend) -> None:
    if backend.hard_reset is None:
        pytest.skip("no power switch or reset line for this board (a labgrid place can have one)")
    device = backend.open()
    try:
        uid = device.identity().uid
        device.exec("survives_reset = 1")
        rig = ResetMeans("the rig's power switch or reset line", backend.hard_reset)
        ResetStrategy(device, external=rig).reset()
        with pytest.raises(DeviceException, match="NameError"):
            device.exec("survives_reset")  # the board really started afresh
        assert device.identity(refresh=True).uid == uid  # and it is the same board
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
