"""A labgrid place as the board under test: acquire, serial URL, hard reset, release.

labgrid (PyPI `labgrid`) manages the farm: a coordinator, exporters on the
rig hosts (which run ser2net for each serial port), and places that CI jobs
lock. This module drives `labgrid-client` (the stable interface of labgrid)
and turns the place's resources into what hil/ and the pytest plugin need:

* its NetworkSerialPort into an `rfc2217://` URL for SerialTransport
  (`ign_set_control`: ser2net refuses some RFC 2217 controls);
* a hard reset, when the place has the means: a digital output named
  `reset` (the board's EN/RUN line; held asserted for `reset_delay`, then
  released) or else any power resource `labgrid-client power` drives (a
  power cycle with labgrid's off time).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The resource classes labgrid-client's `power` command can drive.
POWER_CLASSES = frozenset(
    {
        "NetworkPowerPort",
        "NetworkUSBPowerPort",
        "NetworkSiSPMPowerPort",
        "PDUDaemonPort",
        "TasmotaPowerPort",
        "NetworkYKUSHPowerPort",
    }
)
# The resource classes labgrid-client's `io` command can drive.
DIGITAL_OUTPUT_CLASSES = frozenset(
    {
        "ModbusTCPCoil",
        "WaveshareModbusTCPCoil",
        "OneWirePIO",
        "HttpDigitalOutput",
        "Eth008DigitalOutput",
        "NetworkDeditecRelais8",
        "NetworkSysfsGPIO",
        "NetworkLXAIOBusPIO",
        "NetworkHIDRelay",
    }
)
RESET_LINE_NAME = "reset"

_ACQUIRED = re.compile(r"^Acquired resource '([^']+)' \(([^)]+)\):$")


class PlaceError(RuntimeError):
    """A place could not be acquired, has no serial port, or failed a command."""


@dataclass
class PlaceResource:
    name: str  # the name in the place (a match's rename, else the exporter's)
    cls: str
    params: dict[str, Any] = field(default_factory=dict)


def parse_show(text: str) -> list[PlaceResource]:
    """The acquired resources in `labgrid-client show` output.

    Each is a header line `Acquired resource 'NAME' (EXPORTER/GROUP/CLS/NAME):`
    followed by indented lines holding a Python literal (pretty-printed over
    several lines) `{'cls': ..., 'params': {...}, ...}`.
    """
    resources: list[PlaceResource] = []
    body: list[str] = []

    def finish() -> None:
        if not (resources and body):
            return
        try:
            literal = ast.literal_eval(" ".join(line.strip() for line in body))
        except (ValueError, SyntaxError):
            literal = None
        if isinstance(literal, dict) and isinstance(literal.get("params"), dict):
            resources[-1].params = literal["params"]
        body.clear()

    for line in text.splitlines():
        header = _ACQUIRED.match(line)
        if header:
            finish()
            parts = header.group(2).split("/")
            resources.append(PlaceResource(header.group(1), parts[2] if len(parts) > 2 else ""))
        elif resources and line.startswith(" "):
            body.append(line)
        else:
            finish()
    finish()
    return resources


def _client() -> list[str]:
    found = shutil.which("labgrid-client") or str(Path(sys.executable).with_name("labgrid-client"))
    return [found]


class LabgridPlace:
    def __init__(
        self, name: str, coordinator: str | None = None, *, reset_delay: float = 0.2
    ) -> None:
        self.name = name
        self.coordinator = coordinator or os.environ.get("LG_COORDINATOR", "127.0.0.1:20408")
        self.reset_delay = reset_delay
        self.acquired = False
        self.resources: list[PlaceResource] = []

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [*_client(), "-x", self.coordinator, "-p", self.name, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise PlaceError(f"labgrid place {self.name}: {message[-1] if message else 'failed'}")
        return result.stdout

    def acquire(self) -> str:
        """Lock the place and return the URL of its serial port."""
        self._run("acquire")
        self.acquired = True
        try:
            self.resources = parse_show(self._run("show"))
            return self.url()
        except BaseException:
            self.release()  # a place we cannot use stays free for others
            raise

    def url(self) -> str:
        for resource in self.resources:
            if resource.cls == "NetworkSerialPort":
                host, port = resource.params.get("host"), resource.params.get("port")
                if host and port:
                    return f"rfc2217://{host}:{port}?ign_set_control"
        found = ", ".join(f"{r.name} ({r.cls})" for r in self.resources) or "none"
        raise PlaceError(
            f"labgrid place {self.name} has no network serial port (its resources: {found})"
        )

    def _reset_line(self) -> PlaceResource | None:
        for resource in self.resources:
            if resource.name == RESET_LINE_NAME and resource.cls in DIGITAL_OUTPUT_CLASSES:
                return resource
        return None

    def _power(self) -> PlaceResource | None:
        return next((r for r in self.resources if r.cls in POWER_CLASSES), None)

    @property
    def hard_reset_means(self) -> str | None:
        """How `hard_reset` resets the board: "reset line", "power" or None."""
        if self._reset_line() is not None:
            return "reset line"
        if self._power() is not None:
            return "power"
        return None

    def hard_reset(self) -> None:
        """Reset the board by its reset line, else by a power cycle."""
        line = self._reset_line()
        if line is not None:
            self._run("io", "high", line.name)  # asserted: the board is held in reset
            try:
                time.sleep(self.reset_delay)
            finally:
                self._run("io", "low", line.name)
            return
        power = self._power()
        if power is None:
            raise PlaceError(f"labgrid place {self.name} has no reset line or power switch")
        self._run("power", "cycle", "--name", power.name)

    def release(self) -> None:
        if self.acquired:
            self.acquired = False
            self._run("release")
