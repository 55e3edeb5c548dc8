"""The magics registry: every magic, its parser, its summary, its handler.

Owns an explicit registry (no discovery by naming convention) and
`MagicParser`, an argparse parser that never exits the kernel: `-h` raises
`HelpRequested` carrying the help text, and a bad argument raises
`UsageError` with the usage line and what was wrong. Help is built from the
parser, so `%lsmagic`, `-h` and the docs cannot drift apart.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ...errors import UsageError


class HelpRequested(Exception):
    """`-h` was given: `text` is the help to show."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


MAX_WAIT = 24 * 3600.0


def seconds(text: str) -> float:
    """An argparse type: a duration, finite, from 0 to a day (`nan` would
    make a wait that never ends)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_WAIT:  # false for nan too
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 to {MAX_WAIT:.0f} seconds")
    return value


class MagicParser(argparse.ArgumentParser):
    """An argparse parser for a magic that raises instead of exiting."""

    def __init__(self, prog: str, description: str, epilog: str | None = None) -> None:
        super().__init__(
            prog=prog,
            description=description,
            epilog=epilog,
            add_help=True,
            # A fixed width: help reads the same in every notebook and in docs/.
            formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=90),
        )

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        # argparse calls exit() after printing help; we raise with the help instead.
        raise HelpRequested(self.format_help())

    def print_help(self, file: Any = None) -> None:
        raise HelpRequested(self.format_help())

    def parse_line(self, line: str) -> argparse.Namespace:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: {exc}") from None
        return self.parse_args(words)


Handler = Callable[..., Any]


@dataclass
class Magic:
    name: str
    kind: str  # "line" | "cell"
    summary: str
    parser: MagicParser
    handler: Handler

    @property
    def prefix(self) -> str:
        return "%" if self.kind == "line" else "%%"

    def options(self) -> list[str]:
        """Every option string the parser accepts (for completion)."""
        out: list[str] = []
        for action in self.parser._actions:
            out.extend(action.option_strings)
        return out


class MagicRegistry:
    """All magics by kind and name."""

    def __init__(self) -> None:
        self._magics: dict[tuple[str, str], Magic] = {}

    def add(
        self,
        name: str,
        kind: str,
        summary: str,
        handler: Handler,
        *,
        configure: Callable[[MagicParser], object] | None = None,
        epilog: str | None = None,
        description: str | None = None,
    ) -> Magic:
        prefix = "%" if kind == "line" else "%%"
        parser = MagicParser(prefix + name, description or summary, epilog)
        if configure is not None:
            configure(parser)
        magic = Magic(name, kind, summary, parser, handler)
        self._magics[(kind, name)] = magic
        return magic

    def get(self, name: str, kind: str) -> Magic | None:
        return self._magics.get((kind, name))

    def all(self, kind: str) -> list[Magic]:
        return sorted((m for (k, _), m in self._magics.items() if k == kind), key=lambda m: m.name)

    def lsmagic(self) -> str:
        """The table `%lsmagic` prints, in the seed's layout."""
        lines = ["Line Magic:    -h shows help (e.g. %discover -h)"]
        for magic in self.all("line"):
            lines.append(f"  %{magic.name:<11} {magic.summary}")
        lines.append("  !            Pass line to bash shell for evaluation")
        lines.append("")
        lines.append("Cell Magic:    -h shows help (e.g. %%connect -h)")
        for magic in self.all("cell"):
            lines.append(f"  %%{magic.name:<10} {magic.summary}")
        return "\n".join(lines)
