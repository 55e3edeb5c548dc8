"""The one place that turns a device URL into a transport.

URL schemes are dispatched here (as pyserial's `serial_for_url` does): the
built-in ones (serial, rfc2217, socket, unix, ws, wss) on first use, and
schemes of other distributions (e.g. the test doubles' `fake://`) through the
`iotkernel.transports` entry-point group, so this package never imports them.
Kept apart from `base.py` so that the transports, which import `base.py`,
are imported by this module only: no import circle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

from ..errors import UnsupportedUrlError
from .base import Transport

log = logging.getLogger(__name__)

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
