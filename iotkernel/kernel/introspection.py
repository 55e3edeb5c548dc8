"""Completion and inspection from the board: what Tab and Shift-Tab show.

Owns completing magic names and options, and names on the board (`dir()` of
a dotted name, or the user's globals and the builtins) asked only while the
board is idle between cells and kept per board (by URL and uid: another
board's names are never offered after `%connect`); and inspecting a name
(its type and a short repr). What the board answers is checked: only
identifiers, bounded in count and length.
"""

from __future__ import annotations

import re
from typing import Any

from .. import replies
from ..errors import IotKernelError
from .magics.registry import MagicKind, MagicRegistry
from .session import BoardSession

_NAME_AT_END = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.?$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MAGIC_AT_END = re.compile(r"^(%%?)([A-Za-z_]*)$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_MAX_CACHED_OBJECTS = 256  # objects whose names Tab remembers, all boards together
_MAX_COMPLETIONS = 5000


class Introspection:
    """Completion and inspection for one kernel."""

    def __init__(self, magics: MagicRegistry, board: BoardSession) -> None:
        self._magics = magics
        self._board = board
        # Names on the board, by (URL, uid, dotted name), all boards together.
        self._cache: dict[tuple[str | None, str | None, str], list[str]] = {}

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        line_start = code.rfind("\n", 0, cursor_pos) + 1
        line = code[line_start:cursor_pos]
        matches: list[str] = []
        start = cursor_pos
        magic = _MAGIC_AT_END.match(line)
        if magic:
            kind: MagicKind = "cell" if magic.group(1) == "%%" else "line"
            matches = [
                m.prefix + m.name
                for m in self._magics.all(kind)
                if m.name.startswith(magic.group(2))
            ]
            start = line_start
        elif line.startswith("%"):
            matches, start = self._complete_magic_option(line, cursor_pos)
        else:
            found = _NAME_AT_END.search(line)
            if found:
                text = found.group(0)
                obj, _, prefix = text.rpartition(".")
                names = self._board_names(obj)
                matches = [(obj + "." if obj else "") + n for n in names if n.startswith(prefix)]
                start = cursor_pos - len(text)
        return {
            "status": "ok",
            "matches": sorted(set(matches)),
            "cursor_start": start,
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    def _complete_magic_option(self, line: str, cursor_pos: int) -> tuple[list[str], int]:
        head, _, rest = line.partition(" ")
        kind: MagicKind = "cell" if head.startswith("%%") else "line"
        magic = self._magics.get(head.lstrip("%"), kind)
        if magic is None:
            return [], cursor_pos
        word = rest.split(" ")[-1] if rest else ""
        return [o for o in magic.options() if o.startswith(word)], cursor_pos - len(word)

    def _board_names(self, obj: str) -> list[str]:
        """Attribute names on the board (`dir(obj)`, or globals and builtins),
        asked only while the board is idle between cells."""
        device = self._board.device
        if device is None or device.closed or (obj and not _DOTTED.match(obj)):
            return []
        key = (self._board.url, self._board.uid, obj)
        if key in self._cache:
            return self._cache[key]
        try:
            names = device.helpers.names(obj, timeout=2)
        except IotKernelError:
            return []
        # The board's names, kept only if they are identifiers (a rogue board
        # could offer anything), and not too many of them.
        result = (
            [n for n in names[:_MAX_COMPLETIONS] if isinstance(n, str) and _IDENTIFIER.match(n)]
            if isinstance(names, list)
            else []
        )
        if obj:  # module contents rarely change; globals do
            if len(self._cache) >= _MAX_CACHED_OBJECTS:
                self._cache.clear()
            self._cache[key] = result
        return result

    def inspect(self, code: str, cursor_pos: int) -> dict[str, Any]:
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        line_start = code.rfind("\n", 0, cursor_pos) + 1
        line_end = code.find("\n", cursor_pos)
        line = code[line_start : len(code) if line_end < 0 else line_end]
        text = ""
        if line.startswith("%"):
            head = line.split(" ")[0]
            kind: MagicKind = "cell" if head.startswith("%%") else "line"
            magic = self._magics.get(head.lstrip("%"), kind)
            if magic is not None:
                text = magic.parser.format_help()
        else:
            found = _NAME_AT_END.search(code[line_start:cursor_pos].rstrip("(").rstrip("."))
            device = self._board.device
            if found and device is not None and not device.closed:
                name = found.group(0)
                try:
                    kind_, value = replies.items(
                        device.helpers.describe(name, timeout=2),
                        "inspect",
                        "a type and a value",
                        2,
                    )
                    kind_ = replies.text(kind_, "inspect", "a type name")
                    value = replies.text(value, "inspect", "a value", limit=2000)
                    text = f"Type:  {kind_}\nValue: {value}"
                except IotKernelError:
                    text = ""
        return {
            "status": "ok",
            "found": bool(text),
            "data": {"text/plain": text} if text else {},
            "metadata": {},
        }
