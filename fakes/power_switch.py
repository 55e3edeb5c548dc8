"""A network power switch and reset line for one virtual board, on loopback.

What a board farm wires to each board, as labgrid drives it over HTTP:

* **power**, in the interface of labgrid's `simplerest` power model (the
  plainest networked relay: a relay board or a small web service)::

      GET /power/1   switch on         GET /power/0   switch off
      GET /power     "1" when on, "0" when off

  offered by an exporter as
  `NetworkPowerPort: {model: simplerest, host: 'http://127.0.0.1:PORT/power/{value}', index: 0}`;

* **a reset line** (the board's EN/RUN pin on a relay or GPIO), in the
  interface of labgrid's `HttpDigitalOutput`::

      PUT /reset  body "1"   hold the board in reset      PUT /reset  body "0"   release it
      GET /reset  "1" while held, "0" otherwise

Cutting the power or holding reset stops the board (the port stays, as on a
board whose USB-UART chip is powered from USB); restoring it boots the board
afresh. It listens on 127.0.0.1 only: like the real ones, it has no
authentication.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PowerSwitch:
    """Serves `/power` and `/reset` for a board; `run(on)` switches the board."""

    def __init__(self, run: Callable[[bool], None]) -> None:
        self._run = run
        self.powered = True
        self.reset_held = False
        # One request at a time: an off and an on racing would leave the board
        # in whichever state lost, as no real relay does.
        self._lock = threading.Lock()
        self.boots = 0  # how often the board started again after being stopped
        switch = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(*switch.handle("GET", self.path, b""))

            def do_PUT(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 64)
                self._reply(*switch.handle("PUT", self.path, self.rfile.read(length)))

            def log_message(self, format: str, *args: object) -> None:
                pass  # the board's stdout carries its own status lines

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL: `URL/power/{value}` and `URL/reset`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            if method == "GET" and path in ("/power", "/power/"):
                return 200, b"1" if self.powered else b"0"
            if method == "GET" and path in ("/power/0", "/power/1"):
                self._switch(powered=path.endswith("1"), reset_held=self.reset_held)
                return 200, b"1" if self.powered else b"0"
            if method == "GET" and path == "/reset":
                return 200, b"1" if self.reset_held else b"0"
            if method == "PUT" and path == "/reset" and body.strip() in (b"0", b"1"):
                self._switch(powered=self.powered, reset_held=body.strip() == b"1")
                return 200, b"1" if self.reset_held else b"0"
        return 404, b"use GET /power, /power/0, /power/1, /reset or PUT /reset with 0 or 1\n"

    def _switch(self, *, powered: bool, reset_held: bool) -> None:
        was_running = self.powered and not self.reset_held
        self.powered, self.reset_held = powered, reset_held
        running = powered and not reset_held
        if running != was_running:
            self.boots += running
            self._run(running)

    def start(self) -> PowerSwitch:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="power-switch", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()


def serve_board(
    set_power: Callable[[bool], None],
    stop_board: Callable[[], None],
    status: Callable[[], str],
    *,
    power_switch: bool,
    stop: threading.Event,
) -> int:
    """The main loop of a board's command line (`python -m fakes.vboard`,
    `fakes.qemu_board`): serve its power switch if asked, print its status
    line, and run until `stop` is set (SIGTERM, SIGINT); then stop it all."""
    switch = None
    if power_switch:
        switch = PowerSwitch(set_power).start()
        print(f"power switch at {switch.url}", flush=True)
    print(status(), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if switch is not None:
            switch.stop()
        stop_board()
    return 0


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (installed in the main thread)."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop
