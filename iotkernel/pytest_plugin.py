"""The pytest plugin `iotkernel`: users' own tests on their boards.

Owns the options (`--board URL|NAME|sim|STAND-IN`, repeatable, where a
stand-in is a board an installed package can start, such as the test
doubles' emulated `pico` (entry point group `iotkernel.boards`); `--lg-places`, one
labgrid place per xdist worker; `--board-reset soft|none`;
`--board-config NAME`), the boards of the session (connected at its start,
reconnected after a board died mid-test), the fixtures `board` (a connected
`Device`), `board_fs`, `board_exec` and `board_eval`, the marker
`@pytest.mark.board(platform=..., implementation=...)`, and board test files:
`test_*.py` files under a folder named in the ini option `board_tests`
(default `tests_on_board`) are collected as files written for the board, not
host modules; each test in them is a pytest item, run on the board by the
runner of `boardtests.py` after the project's configured resources are synced.

Inert without `--board` / `--lg-places`: the fixtures then fail with a
clear message, and board test files skip.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .boardtests import (
    BOARD_TEST_DIR,
    RUNNER_PIECES,
    BoardResult,
    BoardTest,
    ResultReader,
    find_tests,
    module_name,
)
from .boardtests import (
    NAMESPACE as RUNNER_NAMESPACE,
)
from .config import DeviceConfig, load_configuration, load_settings
from .device import Device
from .errors import DeviceException, IotKernelError, TransportError, UnexpectedBoardError
from .files import FileService, host_hash
from .inband import new_secret
from .labgrid import LabgridPlace
from .reconnect import open_board
from .registry import Registry
from .sync import apply_plan, make_plan

RECONNECT_WAIT = 10.0  # a board that died mid-test: how long the next test waits for it
FILE_TIMEOUT = 300.0  # one board test file's run


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
    handles = config.stash[_SESSION].handles
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
        if len(specs) == 1 and workers > 1 and not _each_worker_its_own(specs[0]):
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
        worker = _worker_index(self.config)
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
            return BoardHandle(spec, f"unix://?dir={self._sim_dir.name}", "sim")
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


_SESSION = pytest.StashKey[TestBoards]()


def _each_worker_its_own(spec: str) -> bool:
    """Boards every xdist worker can have a copy of: `sim` (a unix-port
    process each), the in-process fake boards and stand-ins (one started
    per worker)."""
    return spec == "sim" or spec.startswith(("fake://", "unix://")) or spec in stand_in_boards()


def _worker_index(config: pytest.Config) -> int | None:
    worker = getattr(config, "workerinput", {}).get("workerid")
    return int(worker[2:]) if worker and worker.startswith("gw") else None


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


# -- options and set-up


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iotkernel", "tests on MicroPython boards (IoT Kernel)")
    group.addoption(
        "--board",
        action="append",
        default=[],
        dest="iotk_boards",
        metavar="URL|NAME|sim",
        help="the board to test on (repeatable: every test on each board; with xdist, "
        "one board per worker)",
    )
    group.addoption(
        "--lg-places",
        default=os.environ.get("IOTK_LG_PLACES"),
        dest="iotk_lg_places",
        help="labgrid places, comma-separated: with pytest -n N each worker locks its own",
    )
    group.addoption(
        "--board-reset",
        choices=("soft", "none"),
        default="soft",
        dest="iotk_board_reset",
        help="between tests: a soft reset (default), or none",
    )
    group.addoption(
        "--board-config",
        default=None,
        dest="iotk_board_config",
        metavar="NAME",
        help="sync the resources of this device entry before board test files "
        "(default: the entry of the board itself)",
    )
    parser.addini(
        "board_tests",
        "folders whose test_*.py files are written for the board",
        type="linelist",
        default=["tests_on_board"],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "board(platform=None, implementation=None): run only on boards that match "
        "(others skip, saying why)",
    )
    config.stash[_SESSION] = TestBoards(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not (config.option.iotk_boards or config.option.iotk_lg_places):
        return
    if _is_xdist_controller(config):
        workers = config.option.numprocesses
        config.stash[_SESSION].check(workers if isinstance(workers, int) else 1)
    else:
        config.stash[_SESSION].start()  # an unreachable board: one line, no test


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_SESSION].stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    boards = config.stash[_SESSION]
    return [f"iotkernel board: {h.label} @ {h.url}" for h in boards.handles]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a board runs on each board of this process."""
    if "_iotk_handle" not in metafunc.fixturenames:
        return
    handles = metafunc.config.stash[_SESSION].handles
    if len(handles) > 1:
        metafunc.parametrize("_iotk_handle", handles, ids=[h.label for h in handles], indirect=True)


# -- fixtures


@pytest.fixture
def _iotk_handle(request: pytest.FixtureRequest) -> BoardHandle:
    handles = request.config.stash[_SESSION].handles
    if not handles:
        pytest.fail("no board: give --board URL|NAME|sim (or --lg-places)", pytrace=False)
    return getattr(request, "param", handles[0])


@pytest.fixture
def board(_iotk_handle: BoardHandle, request: pytest.FixtureRequest) -> Iterator[Device]:
    """The connected board, soft-reset first (unless --board-reset none)."""
    device = _ready(_iotk_handle, request.config)
    _check_marker(request.node, _iotk_handle, device)
    try:
        yield device
    finally:
        if not _alive(device):
            _iotk_handle.lost = True  # the next test reconnects


@pytest.fixture
def board_fs(board: Device, _iotk_handle: BoardHandle) -> FileService:
    """The board's files."""
    return _iotk_handle.files(board)


@pytest.fixture
def board_exec(board: Device) -> Callable[[str], str]:
    """`board_exec(code)`: run code on the board, return what it printed."""

    def run(code: str, timeout: float | None = 60.0) -> str:
        return board.exec(code, timeout=timeout).decode("utf-8", "replace").replace("\r\n", "\n")

    return run


@pytest.fixture
def board_eval(board: Device) -> Callable[[str], Any]:
    """`board_eval(expr)`: the value of an expression on the board."""
    return board.eval


def _ready(handle: BoardHandle, config: pytest.Config) -> Device:
    device = handle.connect()
    if config.option.iotk_board_reset == "soft":
        device.soft_reset()
    return device


def _alive(device: Device) -> bool:
    try:
        device.exec("pass", timeout=5)
        return True
    except DeviceException:
        return True
    except IotKernelError:
        return False


def _check_marker(node: pytest.Item, handle: BoardHandle, device: Device) -> None:
    marker = node.get_closest_marker("board")
    if marker is None:
        return
    identity = device.identity()
    have = {"platform": identity.platform, "implementation": identity.implementation}
    for key, wanted in marker.kwargs.items():
        if key not in have:
            pytest.fail(f"@pytest.mark.board: unknown key {key!r}", pytrace=False)
        allowed = [wanted] if isinstance(wanted, str) else list(wanted)
        if have[key] not in allowed:
            pytest.skip(f"needs {key} {' or '.join(allowed)}; {handle.label} is {have[key]}")


# -- board test files


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    if _is_board_test_file(module_path, parent.config):
        return BoardTestFile.from_parent(parent, path=module_path)
    return None


def _is_board_test_file(path: Path, config: pytest.Config) -> bool:
    folders = [str(f) for f in config.getini("board_tests")]
    parts = path.resolve().parent.parts
    return path.name.startswith("test_") and any(
        folder in parts or path.resolve().is_relative_to(config.rootpath / folder)
        for folder in folders
    )


class BoardTestFile(pytest.File):
    """A test file written for the board: its tests are found on the host,
    and run on the board together, once per board."""

    def collect(self) -> Iterator[pytest.Item]:
        source = self.path.read_text(encoding="utf-8")
        try:
            tests = find_tests(source, str(self.path))
            module_name(self.path)
        except (SyntaxError, ValueError) as exc:
            raise self.CollectError(f"{self.path}: {exc}") from None
        handles: list[BoardHandle | None] = list(self.config.stash[_SESSION].handles)
        for handle in handles or [None]:
            for test in tests:
                name = test.name
                if handle is not None and len(handles) > 1:
                    name = f"{test.name}[{handle.label}]"
                yield BoardTestItem.from_parent(self, name=name, test=test, handle=handle)

    def results_on(self, handle: BoardHandle) -> FileRun:
        """Run the file on the board (once per board): its results by test name."""
        runs: dict[str, FileRun] = self.__dict__.setdefault("_iotk_runs", {})
        if handle.label not in runs:
            reader = ResultReader(new_secret())
            try:
                self._run(handle, reader)
                failure: BaseException | None = None
                if reader.ran is None:
                    failure = BoardFileError(f"{self.path.name}: the test run did not finish")
            except TransportError as exc:
                handle.lost = True  # the rest of the file fails; the next file reconnects
                failure = exc
            except DeviceException as exc:  # its import failed: no test ran
                failure = BoardFileError(f"{self.path.name} did not run on {handle.label}: {exc}")
            except IotKernelError as exc:
                failure = exc
            runs[handle.label] = FileRun(reader.results, failure)
        return runs[handle.label]

    def _run(self, handle: BoardHandle, reader: ResultReader) -> None:
        device = _ready(handle, self.config)
        _sync_resources(handle, device, self.path, self.config)
        files = handle.files(device)
        board_path = f"{BOARD_TEST_DIR}/{self.path.name}"
        data = self.path.read_bytes()
        files.mkdirs(BOARD_TEST_DIR)
        if files.stat(board_path) is None or files.hash(board_path) != host_hash(
            data, files.hash_kind()
        ):
            files.write(board_path, data)
        for piece in RUNNER_PIECES:
            device.exec(piece, timeout=30)
        device.helpers.run_in_module(
            RUNNER_NAMESPACE,
            "run",
            BOARD_TEST_DIR,
            module_name(self.path),
            None,
            reader.secret,
            timeout=FILE_TIMEOUT,
            on_output=lambda data, _stream: reader.feed(data),
        )


@dataclass
class FileRun:
    """A board test file's run on one board: the results that came, and
    what ended it early (the board lost, the import failed), if anything."""

    results: dict[str, BoardResult]
    failure: BaseException | None


class BoardFileError(Exception):
    """A board test file could not run (its import failed, the board refused)."""


class BoardTestFailure(Exception):
    """A board-side test failed or raised."""

    def __init__(self, result: BoardResult, where: str) -> None:
        super().__init__(result.message)
        self.result = result
        self.where = where


class BoardTestItem(pytest.Item):
    def __init__(self, *, test: BoardTest, handle: BoardHandle | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test
        self.handle = handle
        # No fixtures; other plugins (labgrid's) look for the attribute.
        self.fixturenames: list[str] = []

    def runtest(self) -> None:
        if self.handle is None:
            pytest.skip("a board test: give --board URL|NAME|sim to run it")
        parent = self.parent
        assert isinstance(parent, BoardTestFile)
        run = parent.results_on(self.handle)
        result = run.results.get(self.test.name)
        if result is None:  # the results that came before a failure stand
            raise run.failure or BoardFileError(
                f"{self.test.name} did not run on {self.handle.label}"
            )
        if result.output:
            self.add_report_section("call", "board output", result.output)
        if result.status == "skip":
            raise pytest.skip.Exception(
                result.message or "skipped on the board", _use_item_location=True
            )
        if result.status in ("fail", "error"):
            board_path = f"{BOARD_TEST_DIR}/{parent.path.name}"
            line = result.failing_line(board_path)
            where = f"{parent.path}:{line}" if line else str(parent.path)
            raise BoardTestFailure(result, where)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        error = excinfo.value
        if isinstance(error, BoardTestFailure):
            board_path = f"{BOARD_TEST_DIR}/{self.path.name}"
            traceback = error.result.traceback.replace(board_path, str(self.path))
            on = self.handle.label if self.handle is not None else "the board"
            return (
                f"{error.where}: {error.result.status} on {on}: {error.result.message}\n\n"
                f"{traceback.rstrip()}"
            )
        if isinstance(error, (BoardFileError, IotKernelError)):
            return f"{self.path}: {type(error).__name__}: {error}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.test.line - 1, self.name


# -- the project's resources


def _project_of(test_file: Path) -> Path | None:
    """The nearest folder above the test file with a `devices` folder."""
    for folder in test_file.resolve().parents:
        if (folder / "devices").is_dir():
            return folder
    return None


@contextlib.contextmanager
def _projects(root: Path) -> Iterator[None]:
    """Resources in a device entry are relative to $IOT_PROJECTS: the project's."""
    before = os.environ.get("IOT_PROJECTS")
    os.environ["IOT_PROJECTS"] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("IOT_PROJECTS", None)
        else:
            os.environ["IOT_PROJECTS"] = before


def _sync_resources(
    handle: BoardHandle, device: Device, test_file: Path, config: pytest.Config
) -> None:
    """Sync the project's configured resources onto the board, once per
    session and project (hash-skipped: unchanged files are not sent)."""
    root = _project_of(test_file)
    if root is None or root in handle.synced:
        return
    with _projects(root):
        configuration = load_configuration(root / "devices")
    wanted = config.option.iotk_board_config
    entry: DeviceConfig | None
    if wanted:
        entry = configuration.devices.get(wanted)
        if entry is None:
            raise pytest.UsageError(f"--board-config {wanted}: no such device entry in {root}")
    else:
        identity = device.identity()
        entry = configuration.for_board(handle.label, identity.uid, handle.url)
    if entry is not None and entry.resources:
        files = handle.files(device)
        apply_plan(files, make_plan(files, entry))
    handle.synced.add(root)
