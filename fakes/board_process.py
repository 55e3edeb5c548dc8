"""BoardProcess: the unix-port MicroPython made to behave like hardware.

Shared by the virtual serial board and the WebREPL bridge. Owns one unix-port
process (through `UnixPortTransport`) and what real boards do that the unix
port does not: when the process exits on a soft reset it is restarted on the
same board directory, a `MPY: soft reboot` banner is printed and, if the
board was in the raw REPL, it is brought back there (as firmware does); a
`\\x03` from the host also becomes SIGINT, so it stops code sent by raw-paste
too. Output goes to a callback from a reader thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from iotkernel.errors import TransportClosedError, TransportError
from iotkernel.transport.unixport import UnixPortTransport, waiting_for_input

log = logging.getLogger(__name__)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_MARK = b'Type "help()" for more information.'
SOFT_REBOOT = b"MPY: soft reboot\r\n"


class BoardProcess:
    """A unix-port board that restarts on soft reset and takes Ctrl-C like hardware.

    `on_output(data)` receives everything the board prints. `on_exit()` is
    called when the process ended by itself (a soft reset); if it returns
    False the process is not restarted (the WebREPL bridge drops the session
    first, then restarts).
    """

    def __init__(
        self,
        board_dir: Path,
        uid: bytes | None,
        on_output: Callable[[bytes], None],
        *,
        restart_in_raw: bool = True,
    ) -> None:
        self.board_dir = board_dir
        self.uid = uid
        self._on_output = on_output
        self._restart_in_raw = restart_in_raw
        self._lock = threading.RLock()
        self._transport: UnixPortTransport | None = None
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._raw_mode = False
        self._started = threading.Event()  # first output seen: SIGINT is safe now
        self._held: list[bytes] = []  # host bytes that arrived during a restart
        self._restarting = False
        self.restarts = 0

    # -- lifecycle

    def start(self) -> None:
        with self._lock:
            self._stopping.clear()
            self._spawn()
        self._reader = threading.Thread(target=self._read_loop, name="board-output", daemon=True)
        self._reader.start()

    def _spawn(self) -> None:
        self._started.clear()
        self._raw_mode = False
        # Terminal signals on, as on a board's UART: a \x03 byte stops code that
        # runs with the port's normal terminal settings.
        self._transport = UnixPortTransport(
            board_dir=self.board_dir, uid=self.uid, terminal_signals=True
        )
        self.uid = self._transport.uid

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=5)

    @property
    def pid(self) -> int | None:
        transport = self._transport
        return None if transport is None else transport.pid

    def kill(self) -> None:
        """Kill the process outright (as a board losing power)."""
        transport = self._transport
        if transport is not None:
            transport.kill()

    # -- host to board

    def send(self, data: bytes) -> None:
        """Bytes from the host. Each Ctrl-C also interrupts running code by SIGINT."""
        with self._lock:
            if self._restarting or self._transport is None or not self._started.is_set():
                # Booting: a \x03 turned into SIGINT now would kill the process.
                self._held.append(data)
                return
            transport = self._transport
            if b"\x03" in data:
                # A Ctrl-C for running code becomes its SIGINT, as a board's UART
                # turns it into KeyboardInterrupt; the byte itself is consumed.
                # Never the byte alone: with the tty's signals on but the code's
                # handler not yet installed (it is about to start), the tty's
                # SIGINT would kill the unix port. For the REPL, the byte.
                with contextlib.suppress(TransportError):
                    if transport.interrupt():
                        data = data.replace(b"\x03", b"")
            try:
                transport.write(data)
            except TransportError:
                self._held.append(data)  # the process is restarting; replay after

    # -- board to host

    def _read_loop(self) -> None:
        tail = b""
        while not self._stopping.is_set():
            transport = self._transport
            if transport is None:
                return
            try:
                data = transport.read(65536, 0.2)
            except TransportClosedError:
                if self._stopping.is_set():
                    return
                self._reboot()
                tail = b""
                continue
            if not data:
                continue
            if not self._started.is_set():
                self._on_output(data)
                self._await_repl(transport)
                self._replay_held()
                continue
            window = tail + data
            raw_at, friendly_at = window.rfind(RAW_BANNER), window.rfind(FRIENDLY_MARK)
            if raw_at >= 0 or friendly_at >= 0:
                self._raw_mode = raw_at > friendly_at
            tail = window[-64:]
            self._on_output(data)

    def _await_repl(self, transport: UnixPortTransport) -> None:
        """Wait until the new process sits in its REPL reading input.

        Its banner comes out before the REPL switches the terminal to raw mode;
        a \x03 delivered in between would become a SIGINT that kills it.
        """
        pid = transport.pid
        deadline = time.monotonic() + 2.0
        while pid is not None and time.monotonic() < deadline:
            if waiting_for_input(pid):
                break
            time.sleep(0.001)
        self._started.set()

    def _reboot(self) -> None:
        """The process exited (soft reset): start it again like firmware would."""
        with self._lock:
            self._restarting = True
            was_raw = self._raw_mode and self._restart_in_raw
            old = self._transport
            if old is not None:
                old.close()
            self.restarts += 1
            self._on_output(SOFT_REBOOT)
            try:
                self._spawn()
            except TransportError:
                log.exception("cannot restart the board process")
                self._transport = None
                self._restarting = False
                return
            transport = self._transport
        assert transport is not None
        if was_raw:
            self._back_to_raw(transport)
        with self._lock:
            self._restarting = False
        self._replay_held()

    def _replay_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for data in held:
            self.send(data)

    def _back_to_raw(self, transport: UnixPortTransport) -> None:
        """Enter the raw REPL silently, showing only the raw banner (as boards do)."""
        transport.write(b"\r\x01")
        received = b""
        for _ in range(50):
            try:
                received += transport.read(4096, 0.1)
            except TransportClosedError:
                return
            if RAW_BANNER in received:
                self._await_repl(transport)
                self._raw_mode = True
                self._on_output(RAW_BANNER + received.split(RAW_BANNER, 1)[1])
                return
