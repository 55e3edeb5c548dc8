"""The board's variables and memory, as the host shows them.

Owns asking the board (through the inspector its helpers install on
demand, `board/inspector.py`) for the user's globals, one level of a value,
or a value's whole repr, and `micropython.mem_info()`'s figures; and checking
every answer, which is untrusted: names are identifiers, texts are bounded
and shown with control characters escaped, sizes are non-negative, counts
are bounded. Used by the kernel's debugger (the Variables panel), `%who`,
`%whos` and `%meminfo`. Asked only while the board is idle between cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import replies
from .device import Device
from .errors import MalformedReplyError

MAX_VARIABLES = 500  # names listed at most
VALUE_WIDTH = 120  # characters of a short value
MAX_REPR = 64 * 1024  # characters of a whole repr
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


@dataclass(frozen=True)
class BoardVariable:
    """One variable (or one item of a value) on the board."""

    name: str
    type: str
    value: str  # short: at most VALUE_WIDTH characters and an ellipsis
    size: int | None  # len() of strings, bytes and containers
    expandable: bool  # it has items or attributes to show one level down
    # How to reach it from its parent: ["i", n] (the n-th item) or ["a", name].
    step: tuple[str, int | str] | None = None


def _variable(row: Any, operation: str, *, with_step: bool) -> BoardVariable:
    fields = replies.items(row, operation, "a variable", 6 if with_step else 5)
    name = replies.text(fields[0], operation, "a name", limit=200)
    if not with_step and not _IDENTIFIER.match(name):
        raise MalformedReplyError(operation, "a variable name", name)
    kind = replies.text(fields[1], operation, "a type name", limit=100)
    value = replies.text(fields[2], operation, "a short value", limit=VALUE_WIDTH + 1)
    size = None if fields[3] is None else replies.size(fields[3], operation)
    if type(fields[4]) is not bool:
        raise MalformedReplyError(operation, "True or False (expandable)", fields[4])
    step = _step(fields[5], operation) if with_step else None
    return BoardVariable(
        replies.shown(name), replies.shown(kind), replies.shown(value), size, fields[4], step
    )


def _step(value: Any, operation: str) -> tuple[str, int | str]:
    kind, key = replies.items(value, operation, "a step", 2)
    if kind == "i":
        return "i", replies.integer(key, operation, "an item's position", minimum=0)
    if kind == "a" and isinstance(key, str) and _IDENTIFIER.match(key):
        return "a", key
    raise MalformedReplyError(operation, "a step (['i', n] or ['a', name])", value)


def checked_rows(
    answer: Any, operation: str, *, with_step: bool, limit: int = MAX_VARIABLES
) -> list[BoardVariable]:
    """The inspector's rows (variables, or one level of a value), checked."""
    rows = replies.items(answer, operation, "the variables")
    if len(rows) > limit:
        raise MalformedReplyError(operation, f"at most {limit} variables", len(rows))
    return [_variable(row, operation, with_step=with_step) for row in rows]


def list_variables(device: Device, *, limit: int = MAX_VARIABLES) -> list[BoardVariable]:
    """The user's globals on the board, by name (modules and functions left out)."""
    answer = device.helpers.variables(limit=limit, width=VALUE_WIDTH)
    return checked_rows(answer, "list the board's variables", with_step=False, limit=limit)


def children(device: Device, path: list[Any], *, limit: int = MAX_VARIABLES) -> list[BoardVariable]:
    """One level of the value at `path` (a global's name, then steps)."""
    answer = device.helpers.variable_children(path, limit=limit, width=VALUE_WIDTH)
    return checked_rows(answer, f"expand {path[0]}", with_step=True, limit=limit)


def full_repr(device: Device, path: list[Any], *, limit: int = MAX_REPR) -> str:
    """The whole repr of the value at `path`, cut to `limit` characters."""
    length, pieces = device.helpers.variable_repr(path, limit=limit)
    operation = f"show {path[0]}"
    length = replies.size(length, operation)
    text = "".join(
        replies.text(piece, operation, "a piece of a repr", limit=200) for piece in pieces
    )
    if len(text) != length or length > limit + 1:  # +1: the ellipsis of a cut repr
        raise MalformedReplyError(operation, f"a repr of {length} characters", len(text))
    return replies.shown(text)


@dataclass(frozen=True)
class MemoryReport:
    """The board's heap and stack, in bytes, as `micropython.mem_info()` tells."""

    total: int
    used: int
    free: int
    largest_free: int | None  # the largest free block, where the firmware says
    stack_used: int | None
    stack_limit: int | None
    details: str  # what mem_info printed (the heap's map with -v), control characters escaped


_GC_LINE = re.compile(rb"GC: total: (\d+), used: (\d+), free: (\d+)")
_MAX_FREE = re.compile(rb"max free sz: (\d+)")
_STACK = re.compile(rb"stack: (\d+) out of (\d+)")
_WORDS = re.compile(rb"\x1eW (True|False)")
MAX_MEM_INFO = 256 * 1024  # what mem_info(1) prints on a large heap


def memory_report(device: Device, *, verbose: bool = False) -> MemoryReport:
    """The heap (total, used, free, the largest free block) and the stack."""
    printed = device.helpers.mem_info(verbose=verbose)[:MAX_MEM_INFO]
    operation = "read the board's memory"
    figures = _GC_LINE.search(printed)
    if figures is None:
        raise MalformedReplyError(operation, "micropython.mem_info()'s GC line", printed[:200])
    total, used, free = (int(n) for n in figures.groups())
    words = _WORDS.search(printed)
    # A GC block is four machine words: 16 bytes on 32-bit boards, 32 on 64-bit.
    block = 32 if words is not None and words.group(1) == b"True" else 16
    largest = _MAX_FREE.search(printed)
    stack = _STACK.search(printed)
    cut = words.start() if words is not None else len(printed)
    return MemoryReport(
        total=total,
        used=used,
        free=free,
        largest_free=int(largest.group(1)) * block if largest else None,
        stack_used=int(stack.group(1)) if stack else None,
        stack_limit=int(stack.group(2)) if stack else None,
        details="\n".join(
            replies.shown(line)
            for line in printed[:cut].decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        ),
    )
