"""The QEMU board: bare-metal MicroPython firmware on an emulated Cortex-M3.

Owns one `qemu-system-arm` process (machine mps2-an385) running a firmware
image the project builds from Debian's packages (`fakes.firmware`: built on
first use, then cached), its UART on a pseudo-terminal published at a stable path (a symlink, like
/dev/serial/by-id/...), so `serial://PATH` reaches it as any USB board.
Unlike the unix port this is the firmware a microcontroller runs: a 256-byte
UART buffer, a raw-paste window of 128, a small heap, littlefs on a RAM disk,
`machine.reset()` that reboots, a fatal error that reboots.

A board has its own `machine.unique_id()` (8 bytes given to QEMU's loader),
a reset line (the QEMU monitor's `system_reset`: the board reboots on the same
port and keeps its files, like pressing RESET) and a
power switch (the process stopped by its PID and started again: a new pty
behind the same path and an empty disk, as a board whose RAM disk loses power).

    python -m fakes.qemu_board /tmp/qboard0 [--firmware qemu|qemu-large|qemu-stock|PATH] [--uid HEX]
                               [--power-switch]

runs one until Ctrl-C or SIGTERM; `--power-switch` serves its power switch and
reset line on loopback (`fakes.power_switch`, as labgrid drives them).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import firmware as firmware_builder
from .emulated_board import EmulatedBoard
from .power_switch import serve_board, stop_on_signals

QEMU = "qemu-system-arm"
# The QEMU images of fakes.firmware, and the names they had before the
# project built its own (kept so old command lines still work).
FIRMWARES = ("qemu", "qemu-large", "qemu-stock")
ALIASES = {"heap40k": "qemu", "heap140k": "qemu-large", "stock": "qemu-stock"}
DEFAULT_FIRMWARE = "qemu-large"
# Where our board definition reads machine.unique_id() from (the top of the
# board's PSRAM: fakes/firmware/boards/IOTK_AN385/board.c).
_UID_ADDRESS = "0x21fffff8"
_PTY_LINE = re.compile(rb"char device redirected to (\S+) \(label serial0\)")
_MONITOR_PROMPT = b"(qemu) "


class QemuBoardError(RuntimeError):
    """The QEMU board could not be started or driven."""


def firmware_name(name: str) -> str:
    return ALIASES.get(name, name)


def firmware_path(name_or_path: str) -> Path:
    """The image a firmware name (`qemu`, `qemu-stock`, ...) or a path stands
    for; a named image is built first if the cache lacks it."""
    name = firmware_name(name_or_path)
    if name in FIRMWARES:
        try:
            return firmware_builder.firmware_path(name)
        except firmware_builder.FirmwareBuildError as exc:
            raise QemuBoardError(str(exc)) from None
    return Path(name_or_path)


def missing_requirement(firmware: str = DEFAULT_FIRMWARE) -> str | None:
    """Why a QEMU board cannot run here (no emulator, no toolchain to build
    its image, no image file), or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (apt-get install qemu-system-arm)"
    name = firmware_name(firmware)
    if name in FIRMWARES:
        packages = firmware_builder.missing_toolchain(firmware_builder.BOARDS[name])
        if packages:
            return f"the {name} firmware needs {', '.join(packages)} to build (apt-get install)"
        return None
    if not Path(firmware).is_file():
        return f"no firmware image at {firmware}"
    return None


class QemuBoard(EmulatedBoard):
    """A firmware image running in QEMU, its UART at `path`."""

    def __init__(
        self,
        path: str | Path,
        *,
        firmware: str | Path = DEFAULT_FIRMWARE,
        uid: bytes | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        super().__init__(path)
        self.firmware = firmware_path(str(firmware))
        if not self.firmware.is_file():
            raise QemuBoardError(f"no firmware image at {self.firmware}")
        if shutil.which(QEMU) is None:
            raise QemuBoardError(f"{QEMU} is not installed")
        self.uid = uid if uid is not None else os.urandom(8)
        if len(self.uid) != 8:
            raise QemuBoardError("a QEMU board's uid is 8 bytes")
        self.start_timeout = start_timeout
        # Beside the port, so a host command given only the port's path can
        # press RESET (`python -m fakes.qemu_board --reset PATH`).
        self._monitor_path = monitor_path(self.path)
        self.pty: str | None = None
        self._hold = -1
        self._drainer: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle

    def start(self) -> QemuBoard:
        """Power the board on: start QEMU and publish its UART at `path`."""
        with self._lock:
            if self.running:
                return self
            self._monitor_path.unlink(missing_ok=True)
            argv = [
                QEMU,
                "-machine",
                "mps2-an385",
                "-nographic",
                "-semihosting",
                "-monitor",
                f"unix:{self._monitor_path},server=on,wait=off",
                "-serial",
                "pty",
                "-device",
                f"loader,addr={_UID_ADDRESS},data=0x{self.uid.hex()},data-len=8,data-be=on",
                "-kernel",
                str(self.firmware),
            ]
            # Its own session: a Ctrl-C meant for the test run never reaches it;
            # it is stopped by its PID.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                self.pty = self._await_pty()
            except BaseException:
                self._kill()
                raise
            # QEMU reads the host's bytes only while it sees the pty's other end
            # open, and notices a new opener by polling once a second: holding
            # the end open keeps a client's first bytes from waiting up to 1 s
            # (an emulation artefact; pyserial flushes what queued meanwhile).
            self._hold = os.open(self.pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            self._publish(self.pty)
            self.boots += 1
            return self

    def _await_pty(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        seen = b""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
                match = _PTY_LINE.search(seen)
                if match:
                    # QEMU says nothing more unless it fails: drain it in the
                    # background so a full pipe never blocks it.
                    self._drainer = threading.Thread(
                        target=self._drain, args=(fd,), name="qemu-drain", daemon=True
                    )
                    self._drainer.start()
                    return match.group(1).decode()
            elif self._proc.poll() is not None:
                break
        raise QemuBoardError(
            f"{QEMU} did not start {self.firmware}: {seen.decode(errors='replace')[-300:]}"
        )

    @staticmethod
    def _drain(fd: int) -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass

    def _kill(self) -> None:
        if self._hold >= 0:
            os.close(self._hold)
            self._hold = -1
        proc = self._stop_process()
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            # It ends at the end of the pipe, now that QEMU is gone. Its
            # descriptor is closed only after: closed under a reader still in
            # its loop, the number would go to the next board's pipe, and the
            # old reader would eat that board's pty line (seen: a start that
            # waited for a line already read, until the test's timeout).
            drainer.join(timeout=5)
        if proc is not None and proc.stdout is not None and not (drainer and drainer.is_alive()):
            proc.stdout.close()

    def stop(self) -> None:
        """Power off for good: stop QEMU by its PID, remove the path and the monitor."""
        with self._lock:
            self._kill()
            self._unpublish()
            self._monitor_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ power, reset, plug

    def set_power(self, on: bool) -> None:
        """Switch power: off stops the process (the port hangs up; the path
        stays, dangling), on starts it afresh behind the same path."""
        with self._lock:
            if on:
                self.start()
            else:
                self._kill()

    def plug(self) -> None:
        self.start()

    def ensure_plugged(self) -> None:
        if not self.running:
            self.start()

    def pause(self) -> None:
        """Stop the emulated CPU (its clock stops too). The firmware's REPL
        polls the UART without sleeping, so a running QEMU board takes a
        whole host core even when idle: boards not in use are paused."""
        if self.running:
            self.monitor("stop")

    def resume(self) -> None:
        if self.running:
            self.monitor("cont")

    def reset(self) -> None:
        """Press RESET: the board reboots on the same port and keeps its files."""
        self.monitor("system_reset")

    def monitor(self, command: str, timeout: float = 5.0) -> str:
        """Run one QEMU monitor command; its output."""
        with self._lock:
            if not self.running:
                raise QemuBoardError("the board is powered off")
            return run_monitor_command(self._monitor_path, command, timeout)


def monitor_path(port: Path) -> Path:
    """Where the QEMU monitor of the board at `port` listens."""
    return port.with_name(port.name + ".monitor")


def run_monitor_command(path: Path, command: str, timeout: float = 5.0) -> str:
    """Run one command on the QEMU monitor listening at `path`; its output."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        while True:
            try:
                sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise QemuBoardError(f"no QEMU monitor answers at {path}") from None
                time.sleep(0.02)
        sock.settimeout(timeout)
        _read_until_prompt(sock, deadline)  # the banner
        sock.sendall(command.encode() + b"\n")
        return _read_until_prompt(sock, deadline)


def _read_until_prompt(sock: socket.socket, deadline: float) -> str:
    seen = b""
    while not seen.endswith(_MONITOR_PROMPT):
        if time.monotonic() > deadline:
            raise QemuBoardError(f"the QEMU monitor did not answer: {seen[-200:]!r}")
        try:
            chunk = sock.recv(4096)
        except OSError as exc:
            raise QemuBoardError(f"the QEMU monitor failed: {exc}") from None
        if not chunk:
            raise QemuBoardError("the QEMU monitor closed")
        seen += chunk
    return seen[: -len(_MONITOR_PROMPT)].decode(errors="replace")


def start_test_board(workdir: Path) -> QemuBoard:
    """The 40 KB QEMU board for `pytest --board qemu` (entry point `iotkernel.boards`)."""
    return QemuBoard(workdir / "ttyQEMU", firmware="qemu").start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.qemu_board",
        description="Run bare-metal MicroPython in QEMU, its UART at a tty path.",
    )
    parser.add_argument("path", help="where the port appears, e.g. /tmp/qboard0")
    parser.add_argument(
        "--firmware",
        default=DEFAULT_FIRMWARE,
        help=f"an image name ({', '.join(FIRMWARES)}) or path (default {DEFAULT_FIRMWARE})",
    )
    parser.add_argument("--uid", help="machine.unique_id() as 16 hex digits (default: random)")
    parser.add_argument(
        "--power-switch",
        action="store_true",
        help="serve the board's power switch and reset line on 127.0.0.1 (for labgrid)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="press RESET on the board already running at PATH, then exit "
        "(a hard-reset command for its device entry)",
    )
    args = parser.parse_args(argv)
    if args.reset:
        try:
            run_monitor_command(monitor_path(Path(args.path)), "system_reset")
        except QemuBoardError as exc:
            print(f"qemu_board: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        uid = bytes.fromhex(args.uid) if args.uid else None
        board = QemuBoard(args.path, firmware=args.firmware, uid=uid).start()
    except (QemuBoardError, ValueError) as exc:
        print(f"qemu_board: {exc}", file=sys.stderr)
        return 2
    return serve_board(
        board.set_power,
        board.stop,
        lambda: (
            f"qemu board at {board.url} (uid {board.uid.hex()}, {board.firmware.parent.name}, "
            f"QEMU pid {board.pid}); Ctrl-C stops it"
        ),
        power_switch=args.power_switch,
        stop=stop_on_signals(),
    )


if __name__ == "__main__":
    sys.exit(main())
