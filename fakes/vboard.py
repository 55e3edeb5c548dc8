"""The virtual serial board: a tty path that behaves like a board on USB.

Owns a pseudo-terminal whose slave side is published at a path of the user's
choosing (a symlink, like /dev/serial/by-id/...), with a `BoardProcess`
(unix-port MicroPython) behind it, and a relay between the two. The board can
be unplugged (path gone, the open port hangs up, the board loses power) and
replugged (path back, the board boots again with the same directory and uid).
Its power can also be cut while the port stays, as on a board whose USB-UART
chip is powered from USB while a relay switches the board itself: the board
falls silent and boots afresh when power returns. With `--baud N` the relay
passes at most N/10 bytes a second each way, as a UART does: a board behind
a 115200-baud bridge, on any machine.

    python -m fakes.vboard /tmp/board0 [--dir BOARD_DIR] [--uid HEX] [--power-switch]
                           [--baud 115200]

runs one until Ctrl-C or SIGTERM; SIGUSR1 unplugs it, SIGUSR2 plugs it back;
`--power-switch` serves its power switch and reset line on loopback
(`fakes.power_switch`).
Then `serial:///tmp/board0` is a board for `%connect`, mpremote or any tool.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import pty
import select
import shutil
import signal
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from .board_process import BoardProcess
from .power_switch import serve_board, stop_on_signals


class LinePace:
    """A UART's byte rate on one direction of the relay: `baud` / 10 bytes a
    second (8 data bits, a start and a stop bit). `take(n)` sleeps until n
    more bytes may pass; no rate means no pacing."""

    def __init__(self, baud: int | None) -> None:
        self.rate = None if not baud else baud / 10.0
        self._free_at = time.monotonic()  # when the line is idle again

    def take(self, count: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + count / self.rate
        if self._free_at > now:
            time.sleep(self._free_at - now)

    def chunk(self) -> int:
        """Bytes to move at once: about 5 ms of the line (at least one byte)."""
        return 65536 if self.rate is None else max(1, int(self.rate / 200))


class VirtualSerialBoard:
    """A unix-port MicroPython behind a pty published at `path`."""

    def __init__(
        self,
        path: str | Path,
        *,
        board_dir: str | Path | None = None,
        uid: bytes | None = None,
        boot_noise: bytes = b"",
        baud: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.boot_noise = boot_noise
        # The link's byte rate each way, like a USB-UART bridge (None: a pty's).
        self.baud = baud
        self._to_host_pace = LinePace(baud)
        self._to_board_pace = LinePace(baud)
        self._owns_dir = board_dir is None
        self.board_dir = Path(board_dir or tempfile.mkdtemp(prefix="iotk-vboard-")).resolve()
        self.board_dir.mkdir(parents=True, exist_ok=True)
        self.uid = uid
        self._master = -1
        self._process: BoardProcess | None = None
        self._relay: threading.Thread | None = None
        self._stop_relay = threading.Event()
        self._write_lock = threading.Lock()
        self.plugged = False
        self.powered = True  # the board's own supply; plugging in always powers it

    # -- lifecycle

    def start(self) -> VirtualSerialBoard:
        self.plug()
        return self

    def plug(self) -> None:
        """Connect the board: the path appears and the board boots."""
        if self.plugged:
            return
        if self.path.is_symlink() or self.path.exists():
            if not self.path.is_symlink():
                raise FileExistsError(f"{self.path} exists and is not a virtual board link")
            self.path.unlink()
        master, slave = pty.openpty()
        # The port as a board's USB CDC looks: raw bytes both ways, no echo.
        tty.setraw(slave, termios.TCSANOW)
        os.set_blocking(master, False)
        os.symlink(os.ttyname(slave), self.path)
        # Not kept open: with no client on the port, the master reads EIO, which
        # is how the relay notices a client opening the port.
        os.close(slave)
        self._master = master
        self.powered = False
        self._power_on()
        self._stop_relay.clear()
        self._relay = threading.Thread(target=self._relay_loop, name="vboard-relay", daemon=True)
        self._relay.start()
        self.plugged = True

    def unplug(self) -> None:
        """Disconnect the board: the path disappears, the open port hangs up."""
        if not self.plugged:
            return
        self.plugged = False
        self._stop_relay.set()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._power_off()
        if self._relay is not None:
            self._relay.join(timeout=5)
        with self._write_lock:
            if self._master >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._master)
            self._master = -1

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def set_power(self, on: bool) -> None:
        """Switch the board's supply; the port stays. Ignored while unplugged
        (an unplugged board has no power either way)."""
        if not self.plugged:
            return
        if on:
            if not self.powered:
                if self.boot_noise:  # the bootloader talks at power-on, client or not
                    self._to_host(self.boot_noise)
                self._power_on()
        else:
            self._power_off()

    def _power_on(self) -> None:
        if self.powered:
            return
        process = BoardProcess(self.board_dir, self.uid, self._to_host)
        process.start()
        self.uid = process.uid
        self._process = process
        self.powered = True

    def _power_off(self) -> None:
        self.powered = False
        # Dropped first: the relay sends nothing more to a board losing power.
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def stop(self) -> None:
        """Unplug and remove everything this board created."""
        self.unplug()
        if self._owns_dir:
            shutil.rmtree(self.board_dir, ignore_errors=True)
            self._owns_dir = False

    def __enter__(self) -> VirtualSerialBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    @property
    def process(self) -> BoardProcess | None:
        return self._process

    # -- relay

    def _to_host(self, data: bytes) -> None:
        """Board output to the port. Waits while the host reads slowly; drops
        output nobody reads for a second (a board with no host attached)."""
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        pace = self._to_host_pace
        with self._write_lock:
            while view and self._master >= 0:
                piece = view[: pace.chunk()]
                pace.take(len(piece))
                try:
                    view = view[os.write(self._master, piece) :]
                    deadline = time.monotonic() + 1.0  # a second without progress
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        return
                    select.select([], [self._master], [], 0.05)
                except OSError:
                    return

    def _relay_loop(self) -> None:
        """Host bytes from the port to the board; notices clients opening the port."""
        master = self._master
        client = False
        while not self._stop_relay.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready:
                client = self._client_seen(client)  # an open port with nothing to read
                continue
            try:
                # Paced: the host's writes wait in the port, as on a UART.
                data = os.read(master, self._to_board_pace.chunk())
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # no client has the port open
                    client = False
                    time.sleep(0.02)
                    continue
                return
            client = self._client_seen(client)
            self._to_board_pace.take(len(data))
            process = self._process
            if data and process is not None:
                process.send(data)

    def _client_seen(self, already: bool) -> bool:
        """A client opened the port. Boards with an auto-reset circuit (ESP32 and
        the like) reboot when DTR/RTS change on open: show their boot noise."""
        if not already and self.boot_noise:
            self._to_host(self.boot_noise)
        return True


class VirtualSerialBoardProcess:
    """A virtual serial board in its own process, driven by signals.

    For tests: a board in the test's own process would share the process's
    file descriptors with the MicroPython it forks, and a forked child briefly
    holds the test's lock on the port. Stopped by its PID, always.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        board_dir: str | Path,
        uid: bytes | None = None,
        boot_noise: bytes = b"",
        power_switch: bool = False,
        baud: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.board_dir = Path(board_dir)
        self.baud = baud
        argv = [sys.executable, "-m", "fakes.vboard", str(self.path), "--dir", str(board_dir)]
        if uid is not None:
            argv += ["--uid", uid.hex()]
        if baud:
            argv += ["--baud", str(baud)]
        if boot_noise:
            argv += ["--boot-noise", boot_noise.decode("latin-1")]
        if power_switch:
            argv.append("--power-switch")
        import subprocess

        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self._pending = b""  # stdout read but not yet a whole line
        self._lines: list[str] = []  # status lines no waiter has taken yet
        self._reading = threading.Lock()
        # The switch's base URL: URL/power/{value} and URL/reset (fakes.power_switch).
        self.power_switch_url: str | None = None
        if power_switch:
            self.power_switch_url = self._await_line("power switch at").split()[-1]
        self._await_line("virtual board at")

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    def _await_line(self, prefix: str, timeout: float = 15.0) -> str:
        """The next status line starting with `prefix`. Reads the pipe itself: a
        buffered reader could hold two lines while select() sees none.

        Safe from several threads (a test unplugs from a timer while it plugs
        from its own thread): one reads at a time, and a line another waiter
        wants is kept for it, never dropped."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._reading:
                for line in self._lines:
                    if line.startswith(prefix):
                        self._lines.remove(line)
                        return line
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    self._pending += chunk
                    *complete, rest = self._pending.split(b"\n")
                    self._pending = rest
                    self._lines += [raw.decode(errors="replace") for raw in complete]
        self.stop()
        raise RuntimeError(f"virtual board did not report {prefix!r}")

    def unplug(self) -> None:
        os.kill(self._proc.pid, signal.SIGUSR1)
        self._await_line("unplugged")

    def plug(self) -> None:
        os.kill(self._proc.pid, signal.SIGUSR2)
        self._await_line("plugged")

    def set_power(self, on: bool) -> None:
        """Switch the board's power through its network switch, as a PDU would."""
        self._switch_request(f"/power/{int(on)}")

    def _switch_request(self, path: str, body: bytes | None = None) -> None:
        if self.power_switch_url is None:
            raise RuntimeError("this virtual board was started without power_switch=True")
        import urllib.request

        request = urllib.request.Request(
            self.power_switch_url + path, data=body, method="GET" if body is None else "PUT"
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            reply.read()

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except Exception:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> VirtualSerialBoardProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.vboard",
        description="Run a virtual serial board (the unix-port MicroPython behind a tty path).",
    )
    parser.add_argument("path", help="where the port appears, e.g. /tmp/board0")
    parser.add_argument("--dir", help="the board's filesystem directory (default: temporary)")
    parser.add_argument("--uid", help="machine.unique_id() as hex (default: random, kept in --dir)")
    parser.add_argument("--boot-noise", default="", help="text printed when the board powers on")
    parser.add_argument(
        "--baud",
        type=int,
        default=None,
        help="pass at most BAUD/10 bytes a second each way, like a UART (default: a pty's speed)",
    )
    parser.add_argument(
        "--power-switch",
        action="store_true",
        help="serve the board's power switch and reset line on 127.0.0.1 (for labgrid)",
    )
    args = parser.parse_args(argv)
    uid = bytes.fromhex(args.uid) if args.uid else None
    board = VirtualSerialBoard(
        args.path,
        board_dir=args.dir,
        uid=uid,
        boot_noise=args.boot_noise.encode("latin-1"),
        baud=args.baud,
    )

    def unplug() -> None:
        board.unplug()
        print("unplugged", flush=True)

    def plug() -> None:
        board.plug()
        print("plugged", flush=True)

    stop = stop_on_signals()
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=unplug).start())
    signal.signal(signal.SIGUSR2, lambda *_: threading.Thread(target=plug).start())
    board.start()
    return serve_board(
        board.set_power,
        board.stop,
        lambda: (
            f"virtual board at {board.url} (uid {board.uid.hex() if board.uid else '?'}, "
            f"files in {board.board_dir}); Ctrl-C stops it"
        ),
        power_switch=args.power_switch,
        stop=stop,
    )


if __name__ == "__main__":
    sys.exit(main())
