"""The WebREPL bridge: a real WebREPL endpoint on loopback, without a board.

Owns a WebSocket server (the `websockets` library) that speaks the WebREPL
handshake — `Password: `, then `WebREPL connected` or `Access denied` — to
one client at a time (a second is turned away, as the board's webrepl module
does), and relays the REPL to a `BoardProcess` (unix-port MicroPython). Like
a board, a soft reset drops the session; the board keeps its variables
between sessions otherwise.

    python -m fakes.webrepl_bridge [--port 8266] [--password PASS] [--dir DIR]

Then `ws://127.0.0.1:8266` is a WebREPL board (password from the secrets
file, or `password=` in Python). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from .board_process import BoardProcess

LOGIN_TIMEOUT = 30.0


class WebReplBridge:
    """A WebREPL server on 127.0.0.1 relaying to a unix-port board."""

    def __init__(
        self,
        *,
        password: str,
        port: int = 0,
        host: str = "127.0.0.1",
        board_dir: str | Path | None = None,
        uid: bytes | None = None,
    ) -> None:
        self.password = password
        self._host = host
        self._port = port
        self._owns_dir = board_dir is None
        self.board_dir = Path(board_dir or tempfile.mkdtemp(prefix="iotk-webrepl-")).resolve()
        self.board_dir.mkdir(parents=True, exist_ok=True)
        self.uid = uid
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._client: ServerConnection | None = None
        self._client_lock = threading.Lock()
        self.rejected = 0
        # Every password a client sent (what a host posing as a board would
        # learn): tests check that none reached a host it must not.
        self.passwords_received: list[str] = []
        self.process = BoardProcess(self.board_dir, uid, self._to_client, restart_in_raw=False)

    # -- lifecycle

    def start(self) -> WebReplBridge:
        self.process.start()
        self.uid = self.process.uid
        self._server = serve(
            self._handle, self._host, self._port, compression=None, close_timeout=1
        )
        self._port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webrepl-bridge", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self.drop_client()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.process.stop()
        if self._owns_dir:
            shutil.rmtree(self.board_dir, ignore_errors=True)
            self._owns_dir = False

    def __enter__(self) -> WebReplBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._port)

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}"

    def drop_client(self, only: ServerConnection | None = None) -> None:
        """Close the current session (as a board does on soft reset or power loss);
        with `only`, just that session if it is still the current one."""
        with self._client_lock:
            client = self._client
            if only is not None and client is not only:
                return
            self._client = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- sessions

    def _to_client(self, data: bytes) -> None:
        with self._client_lock:
            client = self._client
        if data.startswith(b"MPY: soft reboot"):
            # The board reset: its WebREPL session ends. Closing waits for the
            # peer, so it must not hold up the board's output thread; and it must
            # close this session, not one that connects meanwhile.
            if client is not None:
                threading.Thread(target=self.drop_client, args=(client,), daemon=True).start()
            return
        if client is not None:
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                client.send(data)

    def _handle(self, connection: ServerConnection) -> None:
        with self._client_lock:
            busy = self._client is not None
        if busy:
            self.rejected += 1
            connection.close(code=1013, reason="another WebREPL client is connected")
            return
        try:
            connection.send("Password: ")
            answer = connection.recv(timeout=LOGIN_TIMEOUT)
        except (ConnectionClosed, TimeoutError):
            return
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
        self.passwords_received.append(text.rstrip("\r\n")[:200])
        if text.rstrip("\r\n") != self.password:
            with contextlib.suppress(ConnectionClosed):
                connection.send("\r\nAccess denied\r\n")
                connection.close()
            return
        with self._client_lock:
            if self._client is not None:  # lost a race with another client
                connection.close(code=1013)
                return
            self._client = connection
        try:
            connection.send("\r\nWebREPL connected\r\n")
            for message in connection:
                data = message.encode("utf-8") if isinstance(message, str) else message
                self.process.send(data)
        except ConnectionClosed:
            pass
        finally:
            with self._client_lock:
                if self._client is connection:
                    self._client = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.webrepl_bridge",
        description="Serve a unix-port MicroPython over WebREPL on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8266)
    parser.add_argument("--password", default="micropy", help="WebREPL password (default: micropy)")
    parser.add_argument("--dir", help="the board's filesystem directory (default: temporary)")
    parser.add_argument("--uid", help="machine.unique_id() as hex")
    args = parser.parse_args(argv)
    bridge = WebReplBridge(
        password=args.password,
        port=args.port,
        board_dir=args.dir,
        uid=bytes.fromhex(args.uid) if args.uid else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bridge.start()
    print(
        f"WebREPL bridge at {bridge.url} (files in {bridge.board_dir}); Ctrl-C stops it", flush=True
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        bridge.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
