"""Syncing configured host folders to a board, by content hash.

Owns the plan (`ADD`, `UPDATE`, `DELETE`) computed from host files and one
listing of the board with hashes (a constant number of round trips however
many files), and applying it through the verified, atomic file service.
Deletes happen only inside the board directories the configuration manages,
never at the board's root and never to files a resource excludes.

A compiled resource (`mpy: true`, or `%rsync --mpy`) pairs each host `foo.py`
with the board's `foo.mpy`, compared by the hash of the compiled bytes; a
board `foo.py` beside it would shadow the compiled module on import, so it
goes even when only uploading.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import DeviceConfig, Resource
from .files import FileService, Progress, RemoteEntry, host_hash
from .mpy import BytecodeTarget, MpyCompiler, compiles


@dataclass(frozen=True)
class Change:
    action: str  # "ADD" | "UPDATE" | "DELETE"
    board_path: str
    local: Path | None = None
    size: int = 0
    # What goes on the board when it is not the host file itself (compiled .mpy).
    content: bytes | None = None

    @property
    def compiled(self) -> bool:
        return self.content is not None

    def data(self) -> bytes:
        if self.content is not None:
            return self.content
        assert self.local is not None
        return self.local.read_bytes()


@dataclass
class Plan:
    changes: list[Change]

    @property
    def empty(self) -> bool:
        return not self.changes

    def bytes_to_send(self) -> int:
        return sum(c.size for c in self.changes if c.action != "DELETE")


def host_files(resource: Resource) -> dict[str, Path]:
    """Board path → host file, for the files the resource selects."""
    if not resource.local.is_dir():
        return {}
    out: dict[str, Path] = {}
    for item in sorted(resource.local.rglob("*")):
        if not item.is_file():
            continue
        relative = item.relative_to(resource.local).as_posix()
        if resource.selects(relative):
            out[posixpath.join(resource.board_root, relative)] = item
    return out


class _Compiled:
    """Host sources compiled for the board, the compiler made on first need."""

    def __init__(self, service: FileService, compiler: MpyCompiler | None) -> None:
        self._service = service
        self._compiler = compiler
        self.by_path: dict[str, bytes] = {}

    def add(self, source_path: str, local: Path) -> str:
        """Compile the host file of board path `source_path` (tracebacks
        name it); the board path of the compiled file."""
        if self._compiler is None:
            target = BytecodeTarget.from_sys_mpy(self._service.device.identity().mpy)
            self._compiler = MpyCompiler(target)
        board_path = source_path[: -len(".py")] + ".mpy"
        self.by_path[board_path] = self._compiler.compile(local.read_bytes(), source_path)
        return board_path


def make_plan(
    service: FileService,
    device: DeviceConfig,
    *,
    upload_only: bool = False,
    compile_all: bool = False,
    compiler: MpyCompiler | None = None,
) -> Plan:
    """What must change on the board so it matches the configured folders.

    Resources with `mpy: true` (all of them with `compile_all`) go up
    compiled; `compiler` defaults to one for the board's `.mpy` version."""
    wanted: dict[str, Path] = {}
    compiled = _Compiled(service, compiler)
    for resource in device.resources:
        for path, local in host_files(resource).items():
            if (resource.mpy or compile_all) and compiles(path):
                wanted[compiled.add(path, local)] = local
            else:
                wanted.setdefault(path, local)
    roots = sorted({r.board_root for r in device.resources})
    board: dict[str, RemoteEntry] = {}
    for entry in service.trees(roots, hashes=True, times=False):
        board[entry.path] = entry
    kind = next((e.hash.split(":")[0] for e in board.values() if e.hash), None)
    if kind is None and wanted:
        kind = service.hash_kind()  # no file on the board yet: ask which hash it has
    changes: list[Change] = []
    for path, local in sorted(wanted.items()):
        found = board.get(path)
        content = compiled.by_path.get(path)
        size = local.stat().st_size if content is None else len(content)
        if found is None or found.is_dir:
            changes.append(Change("ADD", path, local, size, content))
        else:
            update = Change("UPDATE", path, local, size, content)
            if found.hash != host_hash(update.data(), kind or "sha256"):
                changes.append(update)
    shadowing = {path[:-4] + ".py" for path in compiled.by_path}
    for path, entry in sorted(board.items()):
        if entry.is_dir or path in wanted or (upload_only and path not in shadowing):
            continue
        owner = _managing_resource(device.resources, path)
        if owner is not None:
            changes.append(Change("DELETE", path))
    return Plan(changes)


def _managing_resource(resources: tuple[Resource, ...], path: str) -> Resource | None:
    """The resource that owns a board path, if deleting it is allowed.

    The board's root is never managed (boot.py, settings and data live
    there), and a file a resource excludes is left alone.
    """
    for resource in resources:
        root = resource.board_root.rstrip("/")
        if not root or not path.startswith(root + "/"):
            continue
        relative = path[len(root) + 1 :]
        if resource.selects(relative):
            return resource
    return None


def apply_plan(
    service: FileService,
    plan: Plan,
    *,
    progress: Progress | None = None,
    on_change: Callable[[Change], None] | None = None,
) -> None:
    """Carry out a plan. A failure raises naming the file; files already
    synced stay synced, files not yet reached stay as they were."""
    with service.batch():
        _apply_changes(service, plan, progress, on_change)


def _apply_changes(
    service: FileService,
    plan: Plan,
    progress: Progress | None,
    on_change: Callable[[Change], None] | None,
) -> None:
    total = plan.bytes_to_send()
    done = 0
    made: set[str] = set()
    for change in plan.changes:
        if change.action == "DELETE":
            service.remove(change.board_path, missing_ok=True)
        else:
            parent = posixpath.dirname(change.board_path)
            if parent not in made and parent != "/":
                service.mkdirs(parent)
                made.add(parent)
            base = done

            def step(sent: int, _size: int, base: int = base) -> None:
                if progress is not None:
                    progress(base + sent, total)

            service.write(change.board_path, change.data(), step)
            done += change.size
        if on_change is not None:
            on_change(change)
    if progress is not None:
        progress(total, total)
