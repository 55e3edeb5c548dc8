"""A labgrid place as the board under test: acquire, find its serial URL, release.

labgrid (PyPI `labgrid`) manages the farm: a coordinator, exporters on the
rig hosts (which run ser2net for each serial port), and places that CI jobs
lock. This module drives `labgrid-client` (the stable interface of labgrid)
and turns the place's NetworkSerialPort into an `rfc2217://` URL for
SerialTransport (`ign_set_control`: ser2net refuses some RFC 2217 controls).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


class PlaceError(RuntimeError):
    """A place could not be acquired or has no serial port."""


def _client() -> list[str]:
    found = shutil.which("labgrid-client") or str(Path(sys.executable).with_name("labgrid-client"))
    return [found]


class LabgridPlace:
    def __init__(self, name: str, coordinator: str | None = None) -> None:
        self.name = name
        self.coordinator = coordinator or os.environ.get("LG_COORDINATOR", "127.0.0.1:20408")
        self.acquired = False

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
        return self.url()

    def url(self) -> str:
        shown = self._run("show")
        host = re.search(r"'host': '([^']+)'", shown)
        port = re.search(r"'port': (\d+)", shown)
        if not (host and port):
            raise PlaceError(f"labgrid place {self.name} has no network serial port")
        return f"rfc2217://{host.group(1)}:{port.group(1)}?ign_set_control"

    def release(self) -> None:
        if self.acquired:
            self.acquired = False
            self._run("release")
