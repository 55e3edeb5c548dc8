"""What a transport is, and the one place that turns a URL into a transport.

A transport moves bytes to and from one board: `write`, `read`, `close`, and
`binary_input` (any byte reaches the board as sent: a serial line, a pty; not
WebREPL's text frames). Optional capabilities are protocol classes of their
own, one per capability (as labgrid has): `Interruptible` (SIGINT to a
process we own), `Restartable` (a process started anew), `Reopenable` (the
link opened again), `ResetLine` (DTR/RTS) and `Killable` (tests' "unplug").
Find them with `interruptible(transport)` and its siblings: they look
through wrappers (a fault injector's `inner`), since signals and restarts
bypass the byte stream. Transports know no protocol byte.

URL schemes are dispatched here (as pyserial's `serial_for_url` does). Schemes
of other distributions (e.g. the test doubles' `fake://`) register through the
`iotkernel.transports` entry-point group, so this package never imports them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ..errors import UnsupportedUrlError
from ..util import Deadline

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

    @property
    def binary_input(self) -> bool:
        """Whether any byte reaches the board as sent (raw transfers need it)."""


@runtime_checkable
class Interruptible(Protocol):
    """A link whose board process takes SIGINT as Ctrl-C (the unix port)."""

    def interrupt(self) -> bool:
        """Interrupt the running code; whether the signal was sent."""


@runtime_checkable
class Restartable(Protocol):
    """A link to a process that can be started anew (a soft reset there)."""

    def restart(self) -> None:
        """Stop the board's process and start a fresh one on the same files."""


@runtime_checkable
class Reopenable(Protocol):
    """A link that can be opened again after it dropped."""

    def reopen(self, timeout: float = 10.0) -> None:
        """Open the link again, waiting up to `timeout` s for it to come back."""


@runtime_checkable
class ResetLine(Protocol):
    """A serial port that may drive a board's reset through DTR/RTS."""

    @property
    def has_reset_line(self) -> bool:
        """Whether this port has modem lines at all (a pty has none)."""

    def hard_reset(self) -> None:
        """Pulse the reset line."""


@runtime_checkable
class Killable(Protocol):
    """A link whose board can be made to vanish (tests of an unplug)."""

    def kill(self) -> None:
        """End the board as if unplugged."""


def _links(transport: object) -> Iterator[object]:
    """The transport, then what each wrapper (`inner`) wraps."""
    link: object | None = transport
    while link is not None:
        yield link
        link = getattr(link, "inner", None)


def interruptible(transport: object) -> Interruptible | None:
    """The link that takes SIGINT for this transport, if any."""
    return next((link for link in _links(transport) if isinstance(link, Interruptible)), None)


def restartable(transport: object) -> Restartable | None:
    """The link that can restart this transport's board process, if any."""
    return next((link for link in _links(transport) if isinstance(link, Restartable)), None)


def reopenable(transport: object) -> Reopenable | None:
    """The link that can be opened again, if any."""
    return next((link for link in _links(transport) if isinstance(link, Reopenable)), None)


def reset_line(transport: object) -> ResetLine | None:
    """The port whose DTR/RTS can reset the board, if it has those lines."""
    found = next((link for link in _links(transport) if isinstance(link, ResetLine)), None)
    return found if found is not None and found.has_reset_line else None


def killable(transport: object) -> Killable | None:
    """The link whose board can be made to vanish, if any."""
    return next((link for link in _links(transport) if isinstance(link, Killable)), None)


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
    deadline = Deadline.after(timeout)
    while True:
        try:
            attempt()
            return
        except never:
            raise
        except retry_on:
            if deadline.expired():
                raise
            time.sleep(interval)


TransportFactory = Callable[..., Transport]

_FACTORIES: dict[str, TransportFactory] = {}
_ENTRY_POINTS_LOADED = False
_BUILTINS_LOADED = False
# Boards open from several threads at once (%%connect --parallel): the
# schemes are filled in once, under this lock, and seen only when complete.
_LOADING = threading.Lock()


def register_scheme(scheme: str, factory: TransportFactory) -> None:
    """Make `scheme://...` URLs open with `factory(url, **options)`."""
    _FACTORIES[scheme] = factory


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    with _LOADING:
        if _ENTRY_POINTS_LOADED:
            return
        for entry in metadata.entry_points(group="iotkernel.transports"):
            if entry.name in _FACTORIES:
                continue
            try:
                _FACTORIES[entry.name] = entry.load()
            except Exception:  # a broken plug-in must not break the other schemes
                log.warning("cannot load transport plug-in %s", entry.value, exc_info=True)
        _ENTRY_POINTS_LOADED = True


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
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    with _LOADING:
        from .serialport import open_serial_transport
        from .unixport import open_unix_transport
        from .webrepl import open_webrepl_transport

        for scheme in ("serial", "rfc2217", "socket"):
            _FACTORIES.setdefault(scheme, open_serial_transport)
        _FACTORIES.setdefault("unix", open_unix_transport)
        _FACTORIES.setdefault("ws", open_webrepl_transport)
        _FACTORIES.setdefault("wss", open_webrepl_transport)
        _BUILTINS_LOADED = True
