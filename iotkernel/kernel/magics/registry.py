"""The magics registry: every magic, its parser, its summary, its handler.

Owns the seam between magics and the kernel (`KernelServices`: what a magic
may use), the decorators that declare a magic and its arguments next to its
handler (`@line_magic`, `@cell_magic`, `@argument`), an explicit registry
(each module lists its magics in `MAGICS`; no discovery by naming), and
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
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol, TypeVar, cast

from ...errors import UsageError

if TYPE_CHECKING:
    from ...device import Device
    from ...files import FileService
    from ...registry import Registry
    from ..cells import DeviceChunk, HostLine
    from ..session import BoardSession


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


MagicKind = Literal["line", "cell"]


class HostShell(Protocol):
    """What magics use of the host's IPython shell."""

    user_ns: dict[str, Any]

    def run_cell(self, raw_cell: str, store_history: bool = False) -> Any: ...


class BeforeBoardCode(Protocol):
    """A step the kernel runs once per board in each cell, before the cell's
    first code on that board (`%autosync on` installs one). An
    `IotKernelError` it raises fails the cell, its message prefixed with the
    step's name and followed by `failure_hint`."""

    @property
    def failure_hint(self) -> str: ...

    def __call__(self, kernel: KernelServices) -> None: ...


class KernelServices(Protocol):
    """What a magic may use of the kernel: printing and displaying in the
    cell, the board session, the device registry, the magics themselves,
    the host shell, running a cell's steps (for `%%connect`), and steps to
    run before a cell's board code."""

    board: BoardSession
    registry: Registry
    magics: MagicRegistry
    # Steps before each cell's first code on a board, by name (e.g. "autosync").
    before_board_code: dict[str, BeforeBoardCode]

    def host_shell(self) -> HostShell: ...

    def print(self, text: str, name: str = "stdout") -> None: ...

    def display_text(
        self, text: str, display_id: str | None = None, update: bool = False
    ) -> None: ...

    def display(
        self, data: dict[str, Any], display_id: str | None = None, update: bool = False
    ) -> None: ...

    def require_device(self) -> Device: ...

    def require_files(self) -> FileService:
        """The current board's file service (one per board session)."""
        ...

    def parse_steps(self, body: str) -> list[DeviceChunk | HostLine]: ...

    def run_steps(self, steps: list[DeviceChunk | HostLine]) -> None: ...

    def run_on_board(
        self, source: str, file_name: str, on_text: Callable[[str], None] | None = None
    ) -> None: ...

    def start_on_board(self, source: str) -> None: ...


LineHandler = Callable[[KernelServices, argparse.Namespace], None]
CellHandler = Callable[[KernelServices, argparse.Namespace, str], None]
Handler = TypeVar("Handler", LineHandler, CellHandler)


# One `add_argument` call: its flags and its options.
_Argument = tuple[tuple[str, ...], dict[str, Any]]


@dataclass(frozen=True)
class MagicSpec:
    """A magic as its decorator declares it, before it has a parser."""

    name: str
    kind: MagicKind
    summary: str
    epilog: str | None
    description: str | None
    arguments: tuple[_Argument, ...]


_PENDING_ARGUMENTS = "__magic_arguments__"
_SPECS = "__magic_specs__"


def argument(*flags: str, **options: Any) -> Callable[[Handler], Handler]:
    """Declare one argument of the magic below (argparse's `add_argument`),
    in the spirit of IPython's `magic_arguments`; listed top to bottom."""

    def attach(handler: Handler) -> Handler:
        pending: list[_Argument] = getattr(handler, _PENDING_ARGUMENTS, [])
        setattr(handler, _PENDING_ARGUMENTS, [(flags, options), *pending])
        return handler

    return attach


def _declare(
    kind: MagicKind,
    names: tuple[str, ...],
    summary: str,
    epilog: str | None,
    description: str | None,
) -> Callable[[Handler], Handler]:
    def declare(handler: Handler) -> Handler:
        arguments: tuple[_Argument, ...] = tuple(getattr(handler, _PENDING_ARGUMENTS, []))
        declared: list[MagicSpec] = getattr(handler, _SPECS, [])
        new: list[MagicSpec] = [
            MagicSpec(n, kind, summary, epilog, description, arguments) for n in names
        ]
        setattr(handler, _SPECS, [*declared, *new])
        return handler

    return declare


def line_magic(
    *names: str, summary: str, epilog: str | None = None, description: str | None = None
) -> Callable[[LineHandler], LineHandler]:
    """Declare a line magic (`%name`); several names make aliases."""
    return _declare("line", names, summary, epilog, description)


def cell_magic(
    *names: str, summary: str, epilog: str | None = None, description: str | None = None
) -> Callable[[CellHandler], CellHandler]:
    """Declare a cell magic (`%%name`); its handler also gets the cell body."""
    return _declare("cell", names, summary, epilog, description)


@dataclass
class Magic:
    name: str
    kind: MagicKind
    summary: str
    parser: MagicParser
    # The handler, called the same way for both kinds (a line magic's body is "").
    run: Callable[[KernelServices, argparse.Namespace, str], None]

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

    def add(self, handler: LineHandler | CellHandler) -> None:
        """Add the magics a handler's decorators declare."""
        specs: list[MagicSpec] = getattr(handler, _SPECS, [])
        if not specs:
            raise ValueError(f"{handler!r} is not declared with @line_magic or @cell_magic")
        for spec in specs:
            prefix = "%" if spec.kind == "line" else "%%"
            parser = MagicParser(prefix + spec.name, spec.description or spec.summary, spec.epilog)
            for flags, options in spec.arguments:
                parser.add_argument(*flags, **options)
            run = _uniform(handler, spec.kind)
            self._magics[(spec.kind, spec.name)] = Magic(
                spec.name, spec.kind, spec.summary, parser, run
            )

    def get(self, name: str, kind: MagicKind) -> Magic | None:
        return self._magics.get((kind, name))

    def require(self, name: str, kind: MagicKind) -> Magic:
        """A magic the kernel itself relies on (KeyError if it was left out)."""
        return self._magics[(kind, name)]

    def all(self, kind: MagicKind) -> list[Magic]:
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


def _uniform(
    handler: LineHandler | CellHandler, kind: MagicKind
) -> Callable[[KernelServices, argparse.Namespace, str], None]:
    if kind == "cell":
        return cast(CellHandler, handler)
    line = cast(LineHandler, handler)
    return lambda kernel, args, body: line(kernel, args)
