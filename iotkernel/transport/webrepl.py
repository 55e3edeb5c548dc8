"""WebReplTransport: a board's REPL over WebREPL (WebSocket), via websocket-client.

Owns connecting to `ws://host:8266` (or `wss://`), the WebREPL login (the
board sends `Password: `, we answer, it says `WebREPL connected` or `Access
denied`), reading frames as bytes (device output need not be valid UTF-8),
sending REPL input as text frames, and reconnecting.

The password comes from the `password` option or the secrets store
(`iotkernel.secrets`); it is never logged, never put in a URL and never in an
error message. A wrong password is an `AuthenticationError` within the login
timeout. Knows no REPL protocol byte; files travel over exec like on every
transport (not the legacy WA/WB records).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import websocket

from ..errors import (
    AuthenticationError,
    PortBusyError,
    TransportClosedError,
    TransportError,
    UnsupportedUrlError,
)
from ..secrets import webrepl_password
from ..util import Deadline, retry

_PROMPT = b"Password:"
_ACCEPTED = b"WebREPL connected"
_DENIED = b"Access denied"


class WebReplTransport:
    """The REPL of a board running WebREPL."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        name: str | None = None,
        login_timeout: float = 5.0,
        write_timeout: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise UnsupportedUrlError(
                "do not put a WebREPL password in the URL; keep it in the secrets file "
                "(see the README, 'WebREPL')"
            )
        if not parts.hostname:
            raise UnsupportedUrlError(f"{url!r}: expected ws://HOST[:PORT]")
        self.url = url
        self._endpoint = url if parts.port else url.replace(parts.netloc, f"{parts.netloc}:8266", 1)
        self._password = password if password is not None else webrepl_password(url, name)
        if self._password is None:
            raise AuthenticationError(
                f"no WebREPL password for {url}: add it to the secrets file or pass password="
            )
        self._login_timeout = login_timeout
        self._write_timeout = write_timeout
        self._ws: Any = None
        self._pending = b""
        self._connect_retrying_busy()

    # -- lifecycle

    def _connect_retrying_busy(self) -> None:
        """Connect; a board still closing our previous session refuses a new
        one for a moment, so a busy answer is retried for up to a second."""
        retry(self._connect, timeout=1.0, retry_on=(PortBusyError,), interval=0.05)

    def _connect(self) -> None:
        try:
            ws = websocket.create_connection(
                self._endpoint,
                timeout=self._login_timeout,
                enable_multithread=True,
                # Boards send output in text frames that need not be valid UTF-8.
                skip_utf8_validation=True,
                sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
        self._ws = ws
        try:
            self._login()
        except BaseException:
            self.close()
            raise
        ws.settimeout(self._write_timeout)

    def _login(self) -> None:
        deadline = Deadline.after(self._login_timeout)
        received = b""
        while _PROMPT not in received:
            try:
                received += self._recv_frame(deadline, "the password prompt")
            except TransportClosedError:
                # WebREPL serves one client at a time and hangs up on the next.
                raise PortBusyError(self.url) from None
        assert self._password is not None
        self._send_text((self._password + "\r").encode())
        answer = b""
        while True:
            try:
                answer += self._recv_frame(deadline, "an answer to the password")
            except TransportClosedError:
                raise AuthenticationError(f"{self.url}: WebREPL refused the password") from None
            if _ACCEPTED in answer:
                # Whatever followed the greeting is REPL output.
                self._pending = answer.split(_ACCEPTED, 1)[1]
                return
            if _DENIED in answer:
                raise AuthenticationError(f"{self.url}: WebREPL refused the password")

    def _recv_frame(self, deadline: Deadline, waiting_for: str) -> bytes:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise AuthenticationError(f"{self.url}: no {waiting_for} within the login timeout")
        self._ws.settimeout(remaining)
        try:
            opcode, data = self._ws.recv_data()
        except websocket.WebSocketTimeoutException:
            raise AuthenticationError(
                f"{self.url}: no {waiting_for} within the login timeout"
            ) from None
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportClosedError(f"{self.url}: connection lost ({exc})") from exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise TransportClosedError(f"{self.url}: the board closed the connection")
        return bytes(data)

    def reopen(self, timeout: float = 10.0) -> None:
        """Reconnect and log in again (e.g. after a soft reset dropped the session)."""
        self.close()
        retry(
            self._connect_retrying_busy,
            timeout=timeout,
            retry_on=(TransportError,),
            never=(AuthenticationError,),
        )

    def close(self) -> None:
        ws, self._ws = self._ws, None
        self._pending = b""
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=0.5)

    binary_input = False  # text frames: not every byte arrives as sent

    # -- bytes

    def _require(self) -> Any:
        if self._ws is None:
            raise TransportClosedError(f"{self.url}: closed")
        return self._ws

    def _send_text(self, data: bytes) -> None:
        try:
            self._require().send(data, opcode=websocket.ABNF.OPCODE_TEXT)
        except websocket.WebSocketTimeoutException as exc:
            raise TransportError(f"{self.url}: write stuck for {self._write_timeout} s") from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportClosedError(f"{self.url}: connection lost ({exc})") from exc

    def write(self, data: bytes) -> None:
        self._send_text(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        ws = self._require()
        if not self._pending:
            sock = ws.sock
            if sock is None:
                raise TransportClosedError(f"{self.url}: connection lost")
            buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not buffered:
                try:
                    ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
                except (OSError, ValueError) as exc:
                    raise TransportClosedError(f"{self.url}: connection lost") from exc
                if not ready:
                    return b""
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                return b""
            except (OSError, websocket.WebSocketException) as exc:
                raise TransportClosedError(f"{self.url}: connection lost ({exc})") from exc
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise TransportClosedError(f"{self.url}: the board closed the connection")
            self._pending = bytes(data)
        out, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return out


def open_webrepl_transport(url: str, **options: Any) -> WebReplTransport:
    return WebReplTransport(url, **options)
