"""What a transport is, and the one place that turns a URL into a transport.

A transport moves bytes to and from one board: `write`, `read`, `close`, and
optional capabilities found with `supports()` (`interrupt` for a process we
own = SIGINT, `restart` for a process that must be started anew, `hard_reset`
via DTR/RTS). Transports know no protocol byte.

URL schemes are dispatched here (as pyserial's `serial_for_url` does). Schemes
of other distributions (e.g. the test doubles' `fake://`) register through the
`iotkernel.transports` entry-point group, so this package never imports them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ..errors import UnsupportedUrlError

log = logging.getLogger(__name__)


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte link to one board."""

    url: str

    def write(self, data: bytes) -> None:
        """Write all of `data`; raise `TransportError` (closed, or stuck past the write timeout)."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Return 1..max_bytes bytes, or b"" if none arrived within `timeout` seconds.

        Raises `TransportClosedError` when the link is gone.
        """

    def close(self) -> None:
        """Release the link at once (idempotent)."""

    def supports(self, capability: str) -> bool:
        """True if the optional capability (`interrupt`, `restart`, `hard_reset`,
        `reopen`) is available, or the link has the property: `binary_input`,
        any byte reaches the board as sent (a serial line, a pty; not
        WebREPL's text frames)."""


def retry(
    attempt: Callable[[], None],
    *,
    timeout: float,
    retry_on: tuple[type[Exception], ...],
    never: tuple[type[Exception], ...] = (),
    interval: float = 0.1,
) -> None:
    """Call `attempt` until it succeeds, retrying `retry_on` errors (but not
    `never` ones) until `timeout` seconds have passed; then the last error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            attempt()
            return
        except never:
            raise
        except retry_on:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)


TransportFactory = Callable[..., Transport]

_FACTORIES: dict[str, TransportFactory] = {}
_ENTRY_POINTS_LOADED = False


def register_scheme(scheme: str, factory: TransportFactory) -> None:
    """Make `scheme://...` URLs open with `factory(url, **options)`."""
    _FACTORIES[scheme] = factory


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for entry in metadata.entry_points(group="iotkernel.transports"):
        if entry.name in _FACTORIES:
            continue
        try:
            _FACTORIES[entry.name] = entry.load()
        except Exception:  # a broken plug-in must not break the other schemes
            log.warning("cannot load transport plug-in %s", entry.value, exc_info=True)


def known_schemes() -> list[str]:
    """The URL schemes a transport is available for."""
    _builtin_schemes()
    _load_entry_points()
    return sorted(_FACTORIES)


def open_transport(url: str, **options: Any) -> Transport:
    """Open the transport a device URL names.

    Raises `UnsupportedUrlError` for an unknown scheme or a malformed URL, and
    the transport's own errors (e.g. `PortBusyError`) when opening fails.
    """
    if url.startswith("/"):  # a bare device path means a serial port
        url = "serial://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (checks the port: ws://h:99999, ws://[::1)
    except ValueError as exc:
        raise UnsupportedUrlError(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise UnsupportedUrlError(
            f"{url!r} is not a device URL: expected e.g. serial:///dev/ttyACM0, "
            f"ws://host:8266, unix:// or fake:// (known schemes: {', '.join(known_schemes())})"
        )
    _builtin_schemes()
    if scheme not in _FACTORIES:
        _load_entry_points()
    factory = _FACTORIES.get(scheme)
    if factory is None:
        raise UnsupportedUrlError(
            f"no transport for {scheme}:// URLs (known schemes: {', '.join(known_schemes())})"
        )
    return factory(url, **options)


def _builtin_schemes() -> None:
    if "unix" in _FACTORIES:
        return
    from .serialport import open_serial_transport
    from .unixport import open_unix_transport
    from .webrepl import open_webrepl_transport

    register_scheme("unix", open_unix_transport)
    for scheme in ("serial", "rfc2217", "socket"):
        register_scheme(scheme, open_serial_transport)
    for scheme in ("ws", "wss"):
        register_scheme(scheme, open_webrepl_transport)
