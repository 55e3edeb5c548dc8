"""SerialTransport: boards on a serial line, through pyserial's URL handlers.

Owns opening `serial:///dev/ttyACM0` (also a plain device path),
`rfc2217://host:port` and `socket://host:port` with `serial_for_url`;
exclusive access (a port another program holds is a `PortBusyError`); a
write timeout (a stuck USB port must not hang the caller); DTR/RTS hard reset
where the line has modem-control signals; reopening after a replug.

Knows no protocol byte. Options come from the URL query (`?baud=115200`,
`?dtr=0&rts=0`) or keyword arguments (`baudrate`, `write_timeout`,
`exclusive`, `dtr`, `rts`).

`dtr`/`rts` are the levels the modem-control lines take as the port opens:
pyserial sets them before its first byte, where by default it raises both.
Boards whose auto-reset circuit hangs off those lines (many ESP32 boards)
then keep running on open, and on reopen after a replug.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import serial

from ..errors import PortBusyError, TransportClosedError, TransportError, UnsupportedUrlError
from ..util import Deadline, retry

DEFAULT_BAUDRATE = 115200
# How long one read of a network port (rfc2217://, socket://) waits before
# the deadline is checked again; data arriving ends the wait at once.
NETWORK_READ_POLL = 0.01


OUR_OPTIONS = ("baud", "dtr", "rts")


def _line_level(url: str, name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("0", "1"):
        raise UnsupportedUrlError(f"{url!r}: {name} must be 0 or 1")
    return value == "1"


def _pyserial_url(url: str) -> tuple[str, dict[str, str]]:
    """Split our URL into what pyserial opens and our own options."""
    parts = urlsplit(url)
    ours = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in OUR_OPTIONS}
    if parts.scheme == "serial":
        path = parts.netloc + parts.path if parts.netloc else parts.path
        if not path:
            raise UnsupportedUrlError(f"{url!r}: expected serial:///dev/PORT")
        return path, ours
    # rfc2217://, socket://: pyserial reads its own query options (e.g. ign_set_control).
    theirs = "&".join(
        p for p in parts.query.split("&") if p and p.partition("=")[0] not in OUR_OPTIONS
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, theirs, "")), ours


class SerialTransport:
    """A board on a serial line (USB CDC, UART adapter, RFC 2217 or raw TCP)."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int | None = None,
        write_timeout: float = 2.0,
        exclusive: bool = True,
        dtr: bool | None = None,
        rts: bool | None = None,
    ) -> None:
        self.url = url
        self._target, ours = _pyserial_url(url)
        try:
            self._baudrate = baudrate or int(ours.get("baud", DEFAULT_BAUDRATE))
        except ValueError as exc:
            raise UnsupportedUrlError(f"{url!r}: baud must be a number") from exc
        # The lines as the port opens (None: pyserial's default, raised).
        self._dtr = dtr if dtr is not None else _line_level(url, "dtr", ours.get("dtr"))
        self._rts = rts if rts is not None else _line_level(url, "rts", ours.get("rts"))
        self._write_timeout = write_timeout
        self._exclusive = exclusive
        self._port: Any = None
        self._fd: int | None = None
        self._open()

    def _open(self) -> None:
        is_device = "://" not in self._target
        try:
            # Network ports keep one short read timeout for good: pyserial applies
            # a new timeout by reconfiguring the port, which over RFC 2217 is
            # several acknowledged round trips (it made every read ~0.1 s slow).
            poll = 0 if is_device else NETWORK_READ_POLL
            kwargs: dict[str, Any] = {"baudrate": self._baudrate, "timeout": poll}
            if not self._target.startswith("rfc2217://"):
                # pyserial's RFC 2217 client has no write timeout (its socket's applies).
                kwargs["write_timeout"] = self._write_timeout
            if is_device:
                kwargs["exclusive"] = self._exclusive
            port = serial.serial_for_url(self._target, do_not_open=True, **kwargs)
            # Set before open: pyserial applies them as it opens the port
            # (a port without modem lines, such as a pty, ignores them).
            if self._dtr is not None:
                port.dtr = self._dtr
            if self._rts is not None:
                port.rts = self._rts
            port.open()
        except serial.SerialException as exc:
            text = str(exc)
            # pyserial reports a held lock only in its message; errno is not kept.
            if "exclusively lock" in text or getattr(exc, "errno", None) == errno.EBUSY:
                raise PortBusyError(self._target) from exc
            raise TransportError(f"cannot open {self._target}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self._target}: {exc}") from exc
        self._port = port
        fileno = getattr(port, "fileno", None)
        self._fd = None
        if is_device and fileno is not None:
            with contextlib.suppress(Exception):
                self._fd = int(fileno())

    # -- capabilities

    binary_input = True

    @property
    def has_reset_line(self) -> bool:
        if self._target.startswith("socket://") or self._port is None:
            return False
        try:
            self._port.cts  # noqa: B018 - reading the modem status is the probe
        except (serial.SerialException, OSError, NotImplementedError):
            return False
        return True

    def hard_reset(self) -> None:
        """Pulse the reset line through RTS (with DTR released), as ESP32 and
        similar auto-reset circuits expect; many boards ignore it."""
        port = self._require_port()
        if not self.has_reset_line:
            raise TransportError(f"{self.url}: this port has no DTR/RTS lines to reset a board")
        try:
            port.dtr = False
            port.rts = True
            time.sleep(0.1)
            port.rts = False
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"{self.url}: hard reset failed: {exc}") from exc

    def reopen(self, timeout: float = 10.0) -> None:
        """Close and open the same port again, waiting up to `timeout` for it to return."""
        self.close()
        retry(self._open, timeout=timeout, retry_on=(TransportError,), never=(PortBusyError,))

    # -- lifecycle

    def close(self) -> None:
        port, self._port, self._fd = self._port, None, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def _require_port(self) -> Any:
        if self._port is None:
            raise TransportClosedError(f"{self.url}: closed")
        return self._port

    # -- bytes

    def write(self, data: bytes) -> None:
        port = self._require_port()
        try:
            port.write(data)
        except serial.SerialTimeoutException as exc:
            raise TransportError(
                f"{self.url}: write stuck for {self._write_timeout} s (port not draining)"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"{self.url}: the port is gone ({exc})") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        port = self._require_port()
        if self._fd is not None:
            return self._read_fd(self._fd, max_bytes, timeout)
        try:
            if timeout <= 0:
                waiting = port.in_waiting
                return bytes(port.read(min(waiting, max_bytes))) if waiting else b""
            end = Deadline.after(timeout)
            while True:
                data = port.read(1)  # returns as data arrives, else after NETWORK_READ_POLL
                if data:
                    waiting = port.in_waiting
                    if waiting:
                        data += port.read(min(waiting, max_bytes - 1))
                    return bytes(data)
                if end.expired():
                    return b""
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"{self.url}: the port is gone ({exc})") from exc

    def _read_fd(self, fd: int, max_bytes: int, timeout: float) -> bytes:
        # Fast path for local ports: one select and one read, no reconfiguration.
        try:
            try:
                # The port polls (VMIN=0, VTIME=0): an empty read means "nothing yet".
                data = os.read(fd, max_bytes)
            except BlockingIOError:
                data = b""
            if data:
                return data
            if timeout <= 0 or not select.select([fd], [], [], timeout)[0]:
                return b""
            data = os.read(fd, max_bytes)
        except BlockingIOError:
            return b""
        except (OSError, ValueError) as exc:
            raise TransportClosedError(f"{self.url}: the port is gone ({exc})") from exc
        if not data:
            # Readable but empty: the device disconnected (as pyserial reports it).
            raise TransportClosedError(f"{self.url}: the device disconnected")
        return data


def open_serial_transport(url: str, **options: Any) -> SerialTransport:
    return SerialTransport(url, **options)
