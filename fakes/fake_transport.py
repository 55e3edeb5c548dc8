"""FakeTransport: the host's link to a `FakeBoard`, and the `fake://` URL scheme.

Owns the byte link to an in-process fake board, with an optional seeded
random split of every read (so the host sees output in arbitrary chunks).
Registered as the `fake` scheme through the `iotkernel.transports` entry point.

URL: `fake://[NAME]?raw_paste=supported|unsupported|legacy&window=128&split=SEED
&uid=HEX&boot_noise=TEXT&paste_abort_after=N&mpy=0x306|none
&vfs=none&hashlib=none&flavour=micropython|circuitpython&drive=PATH&readonly=1
&platform=TEXT`.
Boards with the same NAME in one process share their filesystem (like a
board keeping its flash). `flavour=circuitpython` makes a CircuitPython
board (`circuitpython.py`); `drive=PATH` gives it a USB drive the host has
mounted at PATH (a folder), which holds its files and makes them read-only
to its code; `readonly=1` a read-only filesystem and no drive; `platform`
sets `sys.platform` (`esp32`, `MicroChip%20SAMD51`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from iotkernel.errors import TransportClosedError, UnsupportedUrlError

from .circuitpython import DriveFilesystem
from .fake_board import FakeBoard
from .fake_filesystem import FakeFilesystem

_FILESYSTEMS: dict[str, FakeFilesystem] = {}


class FakeTransport:
    """Bytes to and from a FakeBoard in this process."""

    def __init__(self, board: FakeBoard, *, url: str = "fake://", split_seed: int | None = None):
        self.url = url
        self.board = board
        self._rng = random.Random(split_seed) if split_seed is not None else None
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosedError(f"{self.url}: closed")
        try:
            self.board.feed(data)
        except OSError as exc:
            raise TransportClosedError(f"{self.url}: the board is gone") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._closed:
            raise TransportClosedError(f"{self.url}: closed")
        if self._rng is not None:
            max_bytes = self._rng.randint(1, max(1, min(max_bytes, 64)))
        try:
            return self.board.read(max_bytes, timeout)
        except OSError as exc:
            raise TransportClosedError(f"{self.url}: the board is gone") from exc

    def close(self) -> None:
        self._closed = True

    binary_input = False  # the fake REPL reads lines of text

    def kill(self) -> None:
        """Make the board vanish, as if unplugged."""
        self.board.vanish()


def open_fake_transport(url: str, **options: Any) -> FakeTransport:
    """Open a `fake://` URL (see the module docstring for its parameters)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        board_options: dict[str, Any] = {}
        if "raw_paste" in query:
            board_options["raw_paste"] = query["raw_paste"]
        if "window" in query:
            board_options["window"] = int(query["window"])
        if "uid" in query:
            board_options["uid"] = bytes.fromhex(query["uid"])
        if "boot_noise" in query:
            board_options["boot_noise"] = query["boot_noise"].encode()
        if "mpy" in query:  # sys.implementation._mpy, decimal or 0x-hex; "none": absent
            board_options["mpy"] = None if query["mpy"] == "none" else int(query["mpy"], 0)
        if query.get("vfs") == "none":  # no os.mount: a board that cannot take %mount
            board_options["vfs_mount"] = False
        if query.get("hashlib") == "none":  # a board without hashlib (crc32 hashes)
            board_options["has_hashlib"] = False
        if "flavour" in query:
            board_options["flavour"] = query["flavour"]
        if "platform" in query:
            board_options["platform"] = query["platform"]
        if "paste_abort_after" in query:
            board_options["paste_abort_after"] = int(query["paste_abort_after"])
        split = int(query["split"]) if "split" in query else None
    except ValueError as exc:
        raise UnsupportedUrlError(f"{url!r}: {exc}") from exc
    board_options.update(options)
    name = parts.netloc
    if "drive" in query and "filesystem" not in board_options:
        board_options["filesystem"] = DriveFilesystem(Path(query["drive"]))
    if name and "filesystem" not in board_options:
        board_options["filesystem"] = _FILESYSTEMS.setdefault(name, FakeFilesystem())
    if query.get("readonly") == "1":
        board_options.setdefault("filesystem", FakeFilesystem()).read_only = True
    try:
        board = FakeBoard(**board_options)
    except (TypeError, ValueError) as exc:
        raise UnsupportedUrlError(f"{url!r}: {exc}") from exc
    return FakeTransport(board, url=url, split_seed=split)
