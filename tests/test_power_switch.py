"""The loopback power switch and reset line of virtual boards (fakes/power_switch.py)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from fakes.power_switch import PowerSwitch


def test_power_and_reset_line_start_and_stop_the_board_once_each() -> None:
    runs: list[bool] = []
    switch = PowerSwitch(runs.append)
    assert switch.handle("GET", "/power", b"") == (200, b"1")
    assert switch.handle("GET", "/power/0", b"") == (200, b"0")
    assert switch.handle("GET", "/power/0", b"") == (200, b"0")  # already off: no change
    assert switch.handle("PUT", "/reset", b"1") == (200, b"1")  # held while off
    assert switch.handle("GET", "/power/1", b"") == (200, b"1")  # still held in reset
    assert runs == [False]
    assert switch.handle("PUT", "/reset", b"0\n") == (200, b"0")
    assert runs == [False, True]
    assert switch.boots == 1
    assert switch.handle("GET", "/reset", b"") == (200, b"0")


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/power/2", b""),
        ("PUT", "/reset", b"yes"),
        ("PUT", "/power", b"1"),
        ("GET", "/", b""),
    ],
)
def test_unknown_requests_change_nothing(method: str, path: str, body: bytes) -> None:
    runs: list[bool] = []
    switch = PowerSwitch(runs.append)
    status, _ = switch.handle(method, path, body)
    assert status == 404
    assert runs == [] and switch.powered and not switch.reset_held


def test_served_on_loopback_over_http() -> None:
    runs: list[bool] = []
    switch = PowerSwitch(runs.append).start()
    try:
        assert switch.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(switch.url + "/power/0", timeout=5) as reply:
            assert reply.read() == b"0"
        request = urllib.request.Request(switch.url + "/reset", data=b"1", method="PUT")
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.read() == b"1"
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(switch.url + "/nowhere", timeout=5)
        assert error.value.code == 404
        error.value.close()
        assert runs == [False]
    finally:
        switch.stop()
