"""Board test files: `test_*.py` files written for the board, run there by pytest.

Owns collecting them (found on the host by their source; each test a
pytest item), syncing the project's configured resources to the board,
installing the board-side runner (`boardtests.py`) and running a file's
tests there once per board, its results read from the board's output by a
secret only that run knows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
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
from .config import DeviceConfig, load_configuration
from .device import Device
from .errors import DeviceException, IotKernelError, TransportError
from .files import host_hash
from .inband import new_secret
from .pytest_boards import SESSION_BOARDS, BoardHandle, ready_board
from .sync import apply_plan, make_plan

FILE_TIMEOUT = 300.0  # one board test file's run


def is_board_test_file(path: Path, config: pytest.Config) -> bool:
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
        handles: list[BoardHandle | None] = list(self.config.stash[SESSION_BOARDS].handles)
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
        device = ready_board(handle, self.config)
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
