"""Paths and files on the host side of a transfer, and content hashes.

Owns the checks that keep a board path from landing anywhere but where it is
meant (a write's target on the board, a downloaded file on the host), writing
host files atomically, and the hash the board computes, computed on the host.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

from ..util import TEMP_SUFFIX, atomic_write
from .errors import FileError, UnsafePathError


def names_a_temporary(path: str) -> bool:
    """Whether a board path is, or lies in, a transfer's temporary (a part
    ending in `.iotk-tmp`: the board's write helpers keep that suffix)."""
    return any(part.endswith(TEMP_SUFFIX) for part in path.split("/"))


def check_writable_path(path: str) -> None:
    """Refuse a board path a write must not use: relative, with a NUL (the
    unix port cuts the name there, so the write would land on another
    file), a backslash, an empty, `.` or `..` component, or our
    temporaries' suffix (it would collide with a write in progress)."""
    parts = path.split("/")[1:]
    problems = (
        (not path.startswith("/"), "board paths are absolute"),
        ("\x00" in path, "a NUL in a board path"),
        ("\\" in path, "a backslash in a board path"),
        (any(part in ("", ".", "..") for part in parts), "an empty, '.' or '..' part"),
        (names_a_temporary(path), f"the suffix {TEMP_SUFFIX} is kept for transfers"),
    )
    for found, problem in problems:
        if found:
            raise UnsafePathError(f"refusing to write {path!r}: {problem}")


def safe_local_path(destination: Path, relative: str) -> Path:
    """Where a board path (relative to the copied root) lands on the host.

    Refuses absolute names, `..`, NUL and backslashes, and anything that would
    resolve outside `destination` (through symlinks too).
    """
    if (
        not relative
        or relative.startswith("/")
        or "\x00" in relative
        or "\\" in relative
        or any(part in ("..", "") for part in relative.split("/"))
    ):
        raise UnsafePathError(
            f"refusing the board's path {relative!r}: it would escape {destination}"
        )
    root = destination.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"refusing the board's path {relative!r}: it resolves outside {root}")
    return target


def host_hash(data: bytes, kind: str) -> str:
    """The hash the board computes, computed on the host."""
    if kind == "sha256":
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return f"crc32:{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def digest_matches(data: bytes, digest: str) -> bool:
    """Whether `data` has `digest` (`kind:hex`, as the board gives it)."""
    return host_hash(data, digest.split(":")[0]) == digest


def host_file_holds(path: Path, digest: str) -> bool:
    """Whether the host file `path` exists and has `digest`."""
    try:
        return path.is_file() and digest_matches(path.read_bytes(), digest)
    except OSError:
        return False


def write_host_file(target: Path, data: bytes) -> None:
    """Write a file on the host atomically (a temporary renamed over it: never
    a half-written file); an OSError is a FileError naming the file."""
    try:
        atomic_write(target, data)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        raise FileError(f"cannot write {target!s:.200} on the host: {reason}") from None
