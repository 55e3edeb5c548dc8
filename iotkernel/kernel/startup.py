"""What the kernel sets up as it starts, and the problems it meets there.

A broken settings or store file never stops the kernel: it starts without
that feature, says why in the log, and once in the first cell it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import load_settings
from ..discovery import AdvertListener
from ..errors import IotKernelError

log = logging.getLogger("iotkernel.kernel")


class StartupProblems:
    """What went wrong as the kernel started, shown once."""

    def __init__(self) -> None:
        self._messages: list[str] = []

    def add(self, message: str) -> None:
        log.warning("%s", message)
        self._messages.append(message)

    def show(self, say: Callable[[str, str], None]) -> None:
        """Once, in the first cell run: each problem on stderr."""
        messages, self._messages = self._messages, []
        for message in messages:
            say(f"IoT Kernel started with a problem: {message}\n", "stderr")


def load_stored_values(namespace: dict[str, Any], problems: StartupProblems) -> None:
    """The %store values, as host variables."""
    from .magics.host import load_store

    try:
        namespace.update(load_store())
    except IotKernelError as exc:
        problems.add(f"stored values not loaded: {exc}")


def start_listener(problems: StartupProblems) -> AdvertListener | None:
    """Listen for board advertisements from the start, so %discover has them."""
    try:
        settings = load_settings()
    except IotKernelError as exc:
        problems.add(f"not listening for board adverts: {exc}")
        return None
    try:
        return AdvertListener(settings.advert_port, settings.advert_bind)
    except (IotKernelError, OSError):
        return None  # the port is taken (another kernel listens): no adverts here
