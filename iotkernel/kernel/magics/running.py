"""Running host files on the board without copying them: %run.

The file's bytes go to the board as a cell's code does (raw paste, output
streamed, ■ stops it); nothing is written to the board's filesystem.
"""

from __future__ import annotations

import argparse

from ...fs import FileError
from ..cells import normalise_newlines
from .files import host_path
from .registry import KernelServices, argument, line_magic


@line_magic(
    "run",
    summary="Run a host file on the microcontroller without copying it",
    epilog=(
        "The file runs as a cell does: output streams, the stop button stops it, and a\n"
        "traceback names the file and its lines. ARGS become sys.argv[1:] on the board.\n"
        "With -n the file is started and the cell ends at once (as mpremote run\n"
        "--no-follow); the board's next use stops it and shows what it printed.\n"
        "examples:\n"
        "  %run blink.py                 run and wait for the end\n"
        "  %run -n server.py --port 80   start it and go on\n"
    ),
)
@argument("-n", "--no-follow", action="store_true", help="start the file and return at once")
@argument("file", help="host file")
@argument("args", nargs=argparse.REMAINDER, help="the program's arguments (sys.argv[1:])")
def run(kernel: KernelServices, args: argparse.Namespace) -> None:
    path = host_path(args.file)
    try:
        source = normalise_newlines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise FileError(f"cannot read {path} on the host: {reason}") from None
    device = kernel.require_device()
    # sys.argv set in a step of its own: a line put before the file's
    # would shift the line numbers its tracebacks show.
    device.exec(f"__import__('sys').argv[:] = {[path.name, *args.args]!r}", timeout=10)
    if args.no_follow:
        kernel.start_on_board(source)
        kernel.print(f"{path.name} started on the board (%run -n): it runs until the next cell\n")
    else:
        kernel.run_on_board(source, str(path))


MAGICS = (run,)
