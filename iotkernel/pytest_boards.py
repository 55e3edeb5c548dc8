"""The boards of a pytest session: connected once, reconnected by identity.

Owns `BoardHandle` (one board: its URL or labgrid place, its connection,
opened on first use and reopened after a test lost it, always checked to be
the same board by uid), the stand-in boards installed packages can start
(entry point group `iotkernel.boards`), and `TestBoards`, the boards of one
test process (one per xdist worker where there are several).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .config import load_settings
from .device import Device
from .errors import DeviceException, IotKernelError, UnexpectedBoardError
from .files import FileService
from .labgrid import LabgridPlace
from .reconnect import open_board
from .registry import Registry

RECONNECT_WAIT = 10.0  # a board that died mid-test: how long the next test waits for it


@dataclass
class BoardHandle:
    """One board of the session: how it was named, its URL, its connection
    (opened on first use, reopened after a test lost it)."""

    spec: str
    url: str
    label: str
    place_name: str | None = None  # a labgrid place: locked on first use
    coordinator: str | None = None
    place: LabgridPlace | None = None
    device: Device | None = None
    stand_in: Any = None  # a board this session started (its .url, .stop())
    lost: bool = False
    synced: set[Path] = field(default_factory=set)  # projects whose resources it has
    uid: str | None = None  # the board's, from the first connection: a reopen must match
    _files: FileService | None = None  # the board's files, one service per connection

    def files(self, device: Device) -> FileService:
        """The file service of this connection (it keeps what it learned of
        the board's transfers from one test to the next)."""
        if self._files is None or self._files.device is not device:
            self._files = FileService(device)
        return self._files

    def connect(self) -> Device:
        """The connected device; reopened, for up to RECONNECT_WAIT s, when
        the last test lost it."""
        if self.device is not None and not self.lost:
            return self.device
        if self.place_name is not None and self.place is None:
            self.place = LabgridPlace(self.place_name, self.coordinator)
            self.url = self.place.acquire()  # locked for this run, released at its end
        self.drop()
        wait = RECONNECT_WAIT if self.lost else 0.0
        try:
            self.device, uid = open_board(self.url, expect_uid=self.uid, wait=wait)
        except UnexpectedBoardError as exc:
            raise UnexpectedBoardError(
                f"{self.label}: {exc} (the session began with uid {self.uid})"
            ) from None
        self.uid = uid
        self.lost = False
        return self.device

    def drop(self) -> None:
        """Close the connection (the port is free for others)."""
        if self.device is not None:
            with contextlib.suppress(Exception):
                self.device.close()
            self.device = None

    def close(self) -> None:
        self.drop()
        if self.place is not None:
            self.place.release()
            self.place = None
        if self.stand_in is not None:
            self.stand_in.stop()
            self.stand_in = None


STAND_IN_GROUP = "iotkernel.boards"


def stand_in_boards() -> dict[str, Any]:
    """Boards installed packages can start by name (entry points of the
    group `iotkernel.boards`: a callable taking a work folder, returning a
    started board with `.url` and `.stop()`)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=STAND_IN_GROUP)}


def session_stand_in(config: pytest.Config) -> Any:
    """The stand-in board this test process started for its first --board, if any."""
    handles = config.stash[SESSION_BOARDS].handles
    return handles[0].stand_in if handles else None


class TestBoards:
    """The boards this test process uses (one per xdist worker with several)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.handles: list[BoardHandle] = []
        self._sim_dir: tempfile.TemporaryDirectory[str] | None = None

    def check(self, workers: int) -> None:
        """In the xdist controller, before any worker starts: the boards
        suit the worker count and each answers (a worker's error would only
        crash it, and xdist start it again, and again)."""
        opts = self.config.option
        if opts.iotk_lg_places:
            names = [p.strip() for p in opts.iotk_lg_places.split(",") if p.strip()]
            if workers > len(names):
                raise pytest.UsageError(
                    f"--lg-places: {workers} workers, {len(names)} places; "
                    "give one place per worker"
                )
            return
        specs = list(opts.iotk_boards)
        if len(specs) == 1 and workers > 1 and not each_worker_its_own(specs[0]):
            raise pytest.UsageError(
                f"--board {specs[0]} with {workers} workers: a board has one port; "
                "give one --board per worker (or use sim)"
            )
        if 1 < len(specs) < workers:
            raise pytest.UsageError(
                f"--board: {workers} workers, {len(specs)} boards; give one --board per worker"
            )
        stand_ins = stand_in_boards()  # each worker starts its own: none here
        self.handles = [self._resolve(spec) for spec in specs if spec not in stand_ins]
        self._probe()
        self.stop()

    def start(self) -> None:
        """Resolve this process's boards (labgrid places are locked when
        first used); without xdist, prove each answers: an unreachable board
        is one UsageError (under xdist the controller proved it)."""
        opts = self.config.option
        worker = worker_index(self.config)
        if opts.iotk_lg_places:
            names = [p.strip() for p in opts.iotk_lg_places.split(",") if p.strip()]
            index = worker or 0
            coordinator = self.config.getoption("lg_coordinator", None)
            self.handles = [BoardHandle(names[index], "", names[index], names[index], coordinator)]
            return
        specs = list(opts.iotk_boards)
        if worker is not None and len(specs) > 1:  # xdist: one board per worker
            specs = [specs[worker]]
        self.handles = [self._resolve(spec) for spec in specs]
        if worker is None:
            self._probe()

    def _probe(self) -> None:
        for handle in self.handles:
            try:
                handle.connect()
            except IotKernelError as exc:
                self.stop()
                raise pytest.UsageError(
                    f"--board {handle.spec}: cannot connect to {handle.url}: {exc}"
                ) from None
            handle.drop()  # opened again by the first test that uses it

    def _resolve(self, spec: str) -> BoardHandle:
        if "://" in spec:
            return BoardHandle(spec, spec, spec)
        if spec == "sim":  # a fresh virtual board for this test process
            if self._sim_dir is None:
                self._sim_dir = tempfile.TemporaryDirectory(prefix="iotk-sim-")
            # A folder inside the temporary one: the board's uid file lies
            # beside its folder, and goes with it.
            board_dir = Path(self._sim_dir.name) / "board"
            board_dir.mkdir(exist_ok=True)
            return BoardHandle(spec, f"unix://?dir={board_dir}", "sim")
        stand_ins = stand_in_boards()
        if spec in stand_ins:  # started here, for this test process
            if self._sim_dir is None:
                self._sim_dir = tempfile.TemporaryDirectory(prefix="iotk-sim-")
            try:
                board = stand_ins[spec].load()(Path(self._sim_dir.name))
            except Exception as exc:
                raise pytest.UsageError(f"--board {spec}: cannot start it: {exc}") from None
            return BoardHandle(spec, board.url, spec, stand_in=board)
        registry = Registry(Path(os.devnull))
        try:
            found = registry.find(spec, [], settings=load_settings())
        except IotKernelError as exc:
            raise pytest.UsageError(f"--board {spec}: {exc}") from None
        return BoardHandle(spec, found.url, found.name or spec)

    def stop(self) -> None:
        for handle in self.handles:
            handle.close()
        if self._sim_dir is not None:
            self._sim_dir.cleanup()
            self._sim_dir = None


SESSION_BOARDS = pytest.StashKey[TestBoards]()


def each_worker_its_own(spec: str) -> bool:
    """Boards every xdist worker can have a copy of: `sim` (a unix-port
    process each), the in-process fake boards and stand-ins (one started
    per worker)."""
    return spec == "sim" or spec.startswith(("fake://", "unix://")) or spec in stand_in_boards()


def worker_index(config: pytest.Config) -> int | None:
    worker = getattr(config, "workerinput", {}).get("workerid")
    return int(worker[2:]) if worker and worker.startswith("gw") else None


def is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


def ready_board(handle: BoardHandle, config: pytest.Config) -> Device:
    device = handle.connect()
    if config.option.iotk_board_reset == "soft":
        device.soft_reset()
    return device


def board_alive(device: Device) -> bool:
    try:
        device.exec("pass", timeout=5)
        return True
    except DeviceException:
        return True
    except IotKernelError:
        return False
