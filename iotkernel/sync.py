"""Syncing configured host folders to a board, by content hash.

Owns the plan (`ADD`, `UPDATE`, `DELETE`) computed from host files and one
listing of the board with hashes (a constant number of round trips however
many files), and applying it through the verified, atomic file service.
Deletes happen only inside the board directories the configuration manages,
never at the board's root and never to files a resource excludes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import DeviceConfig, Resource
from .fs import FileService, Progress, RemoteEntry, host_hash


@dataclass(frozen=True)
class Change:
    action: str  # "ADD" | "UPDATE" | "DELETE"
    board_path: str
    local: Path | None = None
    size: int = 0


@dataclass
class Plan:
    changes: list[Change]

    @property
    def empty(self) -> bool:
        return not self.changes

    def bytes_to_send(self) -> int:
        return sum(c.size for c in self.changes if c.action != "DELETE")


def _hash_file(path: Path, kind: str) -> str:
    return host_hash(path.read_bytes(), kind)


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


def make_plan(service: FileService, device: DeviceConfig, *, upload_only: bool = False) -> Plan:
    """What must change on the board so it matches the configured folders."""
    wanted: dict[str, Path] = {}
    for resource in device.resources:
        wanted.update(host_files(resource))
    roots = sorted({r.board_root for r in device.resources})
    board: dict[str, RemoteEntry] = {}
    for entry in service.trees(roots, hashes=True):
        board[entry.path] = entry
    kind = next((e.hash.split(":")[0] for e in board.values() if e.hash), None)
    if kind is None and wanted:
        kind = service.hash_kind()  # no file on the board yet: ask which hash it has
    changes: list[Change] = []
    for path, local in sorted(wanted.items()):
        found = board.get(path)
        size = local.stat().st_size
        if found is None or found.is_dir:
            changes.append(Change("ADD", path, local, size))
        elif found.hash != _hash_file(local, kind or "sha256"):
            changes.append(Change("UPDATE", path, local, size))
    if not upload_only:
        for path, entry in sorted(board.items()):
            if entry.is_dir or path in wanted:
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
    total = plan.bytes_to_send()
    done = 0
    made: set[str] = set()
    for change in plan.changes:
        if change.action == "DELETE":
            service.remove(change.board_path, missing_ok=True)
        else:
            assert change.local is not None
            parent = posixpath.dirname(change.board_path)
            if parent not in made and parent != "/":
                service.mkdirs(parent)
                made.add(parent)
            base = done

            def step(sent: int, _size: int, base: int = base) -> None:
                if progress is not None:
                    progress(base + sent, total)

            service.write(change.board_path, change.local.read_bytes(), step)
            done += change.size
        if on_change is not None:
            on_change(change)
    if progress is not None:
        progress(total, total)
