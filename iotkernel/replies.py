"""Checks for values that come from a board.

A board is untrusted: its replies are well framed and CRC-checked by the
Device, but their values may still be anything a rogue or broken board
sends. Every consumer reads them through these checks, which return the
value with its Python type or raise one `MalformedReplyError` naming the
operation, what was expected and (shortened) what came.
"""

from __future__ import annotations

from typing import Any

from .errors import MalformedReplyError

# A JSON reply nested deeper than this is refused as a whole (host code that
# walks values recursively, %store and display included, stays far from
# Python's recursion limit).
MAX_DEPTH = 100
# Names and paths on a board: littlefs and FAT allow 255-byte names; paths of
# a few levels of those fit comfortably.
MAX_PATH = 1024
MAX_NAME = 255
# Text fields of an identity (platform, version, machine...).
MAX_FIELD = 200
# Sizes and times are 64-bit at most on any port.
_INT_LIMIT = 2**63


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests lists and dicts deeper than `limit` (iteratively:
    a deep value must not exhaust the host's own recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def check_depth(value: Any, operation: str) -> Any:
    """`value` unless it nests deeper than MAX_DEPTH."""
    if too_deep(value):
        raise MalformedReplyError(operation, f"values nested at most {MAX_DEPTH} deep", "(deeper)")
    return value


def integer(value: Any, operation: str, what: str, *, minimum: int = -_INT_LIMIT) -> int:
    """An int (never a bool, a float or a string) in [minimum, 2**63)."""
    if type(value) is not int or not minimum <= value < _INT_LIMIT:
        bound = "a non-negative" if minimum == 0 else "an"
        raise MalformedReplyError(operation, f"{bound} integer {what}", value)
    return value


def size(value: Any, operation: str) -> int:
    return integer(value, operation, "size", minimum=0)


def text(value: Any, operation: str, what: str, *, limit: int = MAX_FIELD) -> str:
    """A str of at most `limit` characters."""
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedReplyError(operation, f"{what} as text of at most {limit} characters", value)
    return value


def optional_text(value: Any, operation: str, what: str, *, limit: int = MAX_FIELD) -> str | None:
    return None if value is None else text(value, operation, what, limit=limit)


def items(value: Any, operation: str, what: str, length: int | None = None) -> list[Any]:
    """A list (a JSON array; tuples cross as arrays), of `length` items if given."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        count = "" if length is None else f" of {length} items"
        raise MalformedReplyError(operation, f"{what} as a list{count}", value)
    return value


def board_path(value: Any, operation: str) -> str:
    """An absolute board path: no NUL, no `.` or `..` components, no empty
    ones (but the root), no name over MAX_NAME, at most MAX_PATH long.

    A listing that names `/lib/../../x` could otherwise steer a sync's
    deletes outside the folder it manages."""
    path = text(value, operation, "a path", limit=MAX_PATH)
    parts = path.split("/")[1:]
    if (
        not path.startswith("/")
        or "\x00" in path
        or (path != "/" and any(part in ("", ".", "..") or len(part) > MAX_NAME for part in parts))
    ):
        raise MalformedReplyError(operation, "an absolute path without '.', '..' or NUL", path)
    return path


def shown(value: str) -> str:
    """A board-supplied string made safe to print in a terminal or a cell:
    control characters (escape sequences that would move the cursor or
    retitle a terminal) appear escaped."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in value
    )
