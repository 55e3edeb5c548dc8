"""What makes the fake board a CircuitPython board: texts, modules and its USB drive.

Owns the CircuitPython flavour's banners and supervisor messages, the
modules its code sees instead of `machine` (`microcontroller`, `board`,
`supervisor`, `storage` (remount, mount, umount)), and `DriveFilesystem`: the board's flash as a
folder on the host that stands for its mounted CIRCUITPY drive, read-only
to code on the board while it is attached. The REPL machine that uses them
is `fake_board.py` (`flavour="circuitpython"`).

Facts, from public sources only:
- CircuitPython's `main.c` (github.com/adafruit/circuitpython): after a boot
  or a soft reboot ("soft reboot" in English; the supervisor's texts are
  translated) it prints "Auto-reload is on. Simply save files over USB to
  run them or enter REPL to disable.", runs the first of code.txt, code.py,
  main.py, main.txt under "code.py output:", prints "Code done running.",
  then waits: "Press any key to enter the REPL. Use CTRL-D to reload."
  Any key enters the REPL, Ctrl-D reloads. Each REPL (friendly or raw)
  runs in a VM of its own: switching between them (Ctrl-A, Ctrl-B) starts a
  fresh VM, so the switch loses every variable. `boot_out.txt` on the drive
  holds the version line, `Board ID:` and `UID:` (upper-case hex).
- Thonny's CircuitPython back-end: "CP runs code.py after soft-reboot even
  in raw repl" (older versions); the fake does so.
- docs.circuitpython.org: `microcontroller.cpu.uid`, `microcontroller.reset()`,
  `microcontroller.on_next_reset(microcontroller.RunMode.BOOTLOADER)`,
  `board.board_id`, `supervisor.runtime.autoreload`, `supervisor.reload()`;
  "storage.remount": the filesystem is read-only to Python while the host
  can write it over USB (`OSError: [Errno 30] Read-only filesystem`), and
  remounting "/" writable is refused while it is visible over USB
  (`RuntimeError: Cannot remount '/' when visible via USB.`).
- The friendly banner has no 'Type "help()"' line:
  `Adafruit CircuitPython 9.2.1 on 2024-11-20; <board> with <chip>`.
"""

from __future__ import annotations

import errno
import os
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fake_filesystem import FakeFilesystem, _oserror
from .fake_runtime import BoardStdout, HardResetRequested, SoftResetRequested, _module

if TYPE_CHECKING:
    from .fake_board import FakeBoard

VERSION = (9, 2, 1)
VERSION_TEXT = "9.2.1 on 2024-11-20"
MACHINE = "Fake Feather M4 Express with samd51j19"
BOARD_ID = "fake_feather_m4_express"
PLATFORM = "MicroChip SAMD51"
BANNER = f"Adafruit CircuitPython {VERSION_TEXT}; {MACHINE}\r\n".encode()
SOFT_REBOOT = b"soft reboot\r\n"
AUTORELOAD_ON = (
    b"\r\nAuto-reload is on. Simply save files over USB to run them or enter REPL to disable.\r\n"
)
AUTORELOAD_OFF = b"\r\nAuto-reload is off.\r\n"
CODE_DONE = b"\r\nCode done running.\r\n"
PRESS_ANY_KEY = b"\r\nPress any key to enter the REPL. Use CTRL-D to reload.\r\n"
# The files the supervisor runs after a boot, the first that exists.
CODE_FILES = ("/code.txt", "/code.py", "/main.py", "/main.txt")


def boot_out(uid: bytes) -> bytes:
    """`boot_out.txt` as the supervisor writes it at boot."""
    return (
        f"Adafruit CircuitPython {VERSION_TEXT}; {MACHINE}\n"
        f"Board ID:{BOARD_ID}\nUID:{uid.hex().upper()}\n"
    ).encode()


class DriveFilesystem(FakeFilesystem):
    """The board's flash, which the host sees as the folder `drive` (its
    mounted CIRCUITPY drive). Code on the board reads what the folder holds
    at each call and cannot write while the drive is attached."""

    def __init__(self, drive: Path, *, attached: bool = True) -> None:
        super().__init__(read_only=attached)
        self.drive = drive
        drive.mkdir(parents=True, exist_ok=True)
        self.attached = attached
        self._seen: tuple[tuple[str, int, int], ...] | None = None

    def _reload(self) -> None:
        """Take in the folder's content when it changed since the last look."""
        listing: list[tuple[str, int, int]] = []
        for folder, dirs, names in os.walk(self.drive):
            for name in dirs + names:
                stat = os.stat(os.path.join(folder, name))
                listing.append((os.path.join(folder, name), stat.st_size, stat.st_mtime_ns))
        seen = tuple(sorted(listing))
        with self.lock:
            if seen == self._seen:
                return
            self._seen = seen
            self.files.clear()
            self.dirs = {"/"}
            for host_path, _size, _mtime in seen:
                board_path = "/" + os.path.relpath(host_path, self.drive).replace(os.sep, "/")
                if os.path.isdir(host_path):
                    self.dirs.add(board_path)
                else:
                    try:
                        self.files[board_path] = bytearray(Path(host_path).read_bytes())
                    except OSError:
                        continue  # removed meanwhile: the next look sees it gone
                    self._touch(board_path)

    def ilistdir(self, path: str = ".") -> list[tuple[str, int, int, int]]:
        self._reload()
        return super().ilistdir(path)

    def stat(self, path: str) -> tuple[int, ...]:
        self._reload()
        return super().stat(path)

    def open(self, path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        self._reload()
        return super().open(path, mode, *args, **kwargs)

    def chdir(self, path: str) -> None:
        self._reload()
        super().chdir(path)

    def read_bytes(self, path: str) -> bytes:
        self._reload()
        return super().read_bytes(path)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Host-side, as a file saved onto the drive."""
        target = self.drive / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def remount(self, readonly: bool) -> None:
        if self.attached and not readonly:
            raise RuntimeError("Cannot remount '/' when visible via USB.")
        self.read_only = readonly


# ---------------------------------------------------------------------- modules


class _RunMode:
    NORMAL = "RunMode.NORMAL"
    SAFE_MODE = "RunMode.SAFE_MODE"
    UF2 = "RunMode.UF2"
    BOOTLOADER = "RunMode.BOOTLOADER"


def _microcontroller_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    next_reset = {"mode": _RunMode.NORMAL}

    def reset() -> None:
        if next_reset["mode"] in (_RunMode.BOOTLOADER, _RunMode.UF2):
            board.vanish()  # the board leaves CircuitPython: its serial port goes away
        raise HardResetRequested

    def on_next_reset(mode: str) -> None:
        next_reset["mode"] = mode

    return _module(
        "microcontroller",
        cpu=types.SimpleNamespace(uid=bytearray(board.uid), frequency=120_000_000),
        reset=reset,
        on_next_reset=on_next_reset,
        RunMode=_RunMode,
    )


class _Runtime:
    """`supervisor.runtime`: the board's `autoreload` switch, kept across VMs."""

    def __init__(self, board: FakeBoard) -> None:
        self._board = board
        self.serial_connected = True
        self.usb_connected = True

    @property
    def autoreload(self) -> bool:
        return self._board.autoreload

    @autoreload.setter
    def autoreload(self, value: bool) -> None:
        self._board.autoreload = bool(value)


def _supervisor_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    def reload() -> None:
        raise SoftResetRequested

    def disable_autoreload() -> None:  # the API before supervisor.runtime.autoreload
        board.autoreload = False

    return _module(
        "supervisor",
        runtime=_Runtime(board),
        reload=reload,
        disable_autoreload=disable_autoreload,
        ticks_ms=lambda: 0,
    )


def _storage_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    def remount(mount_path: str, readonly: bool = False, **kwargs: Any) -> None:
        if mount_path != "/":
            raise _oserror(errno.EINVAL)
        fs = board.fs
        if isinstance(fs, DriveFilesystem):
            fs.remount(readonly)
        else:
            fs.read_only = readonly

    def mount(filesystem: Any, mount_path: str, *, readonly: bool = False) -> None:
        board.fs.mount(filesystem, mount_path, readonly=readonly)

    def umount(mount: Any) -> None:
        board.fs.umount(mount)

    if not board.vfs_mount:
        return _module("storage", remount=remount)
    return _module("storage", remount=remount, mount=mount, umount=umount)


def _board_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    return _module("board", board_id=BOARD_ID)


MODULES = {
    "microcontroller": _microcontroller_module,
    "supervisor": _supervisor_module,
    "storage": _storage_module,
    "board": _board_module,
}
# Names a CircuitPython board does not have (the u-names went in 8.0; it
# mounts through storage, not vfs).
ABSENT = frozenset({"machine", "vfs", "uos", "utime", "ujson", "ubinascii", "uhashlib", "ustruct"})
