"""%%plot: run a cell on the board and chart the numbers it prints, live.

The chart (a PNG, `LiveChart` in `..plotting`) is one display updated in
place, at most once every `--every` seconds whatever the sample rate, and
once more at the end, also when ■ stops the board. Lines that are not
samples are shown as the board printed them. The samples end up in a host
variable (a list of rows, or a DataFrame with pandas) for `%%host` cells.
"""

from __future__ import annotations

import argparse
import base64
import time
from pathlib import Path

from ...errors import UsageError
from ...util import atomic_write
from ..plotting import DEFAULT_KEEP, LiveChart, SampleParser
from .files import host_path
from .registry import KernelServices, argument, cell_magic, seconds

# A printed line longer than this is text, not a sample (and is not held).
MAX_LINE = 4096


class _Plotter:
    """Splits the board's text into lines, samples into the chart."""

    def __init__(self, kernel: KernelServices, chart: LiveChart, every: float) -> None:
        self._kernel = kernel
        self._chart = chart
        self._parser = SampleParser()
        self._every = every
        self._partial = ""
        self._last_shown = 0.0
        self._id = f"iotk-plot-{id(self)}-{time.monotonic_ns()}"
        self._shown = False
        self.updates = 0

    def feed(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE:  # no line this long is a sample: text
            self._kernel.print(self._partial)
            self._partial = ""
        printed = []
        for line in lines:
            sample = self._parser.parse(line.rstrip("\r"))
            if sample is None:
                if not self._parser.took_header:  # the header names the chart's lines
                    printed.append(line + "\n")
            else:
                self._chart.add(sample)
        if printed:
            self._kernel.print("".join(printed))
        if self._chart.total and time.monotonic() - self._last_shown >= self._every:
            self.show()

    def finish(self) -> None:
        if self._partial:
            self.feed("\n")
        if self._chart.total:
            self.show()
        for warning in self._chart.warnings():
            self._kernel.print(warning + "\n", "stderr")

    def show(self) -> None:
        self._last_shown = time.monotonic()
        png = base64.b64encode(self._chart.png()).decode("ascii")
        self._kernel.display(
            {"image/png": png, "text/plain": self._chart.summary()}, self._id, update=self._shown
        )
        self._shown = True
        self.updates += 1


@cell_magic(
    "plot",
    summary="Run the cell on the board and plot the numbers it prints, live",
    epilog=(
        "One sample per printed line: `v`, `v1 v2 ...` (or comma-separated),\n"
        "`name=v, name=v`, or CSV rows after a header line of names. Other lines are\n"
        "shown as printed. The chart updates in place, at most once every --every\n"
        "seconds; ■ stops the board and keeps the chart. The last --keep samples go\n"
        "to a host variable (--name; a DataFrame with pandas, else a list of rows).\n"
        "At most 32 series are plotted; inf, nan and values beyond ±1e100 are skipped\n"
        "(each said once at the end).\n"
        "examples:\n"
        "  %%plot --every 0.5 --window 200\n"
        "  %%plot --x t --save temps.png --name temps\n"
    ),
)
@argument("--every", type=seconds, default=0.5, metavar="S", help="update the chart every S s")
@argument("--window", type=int, default=500, metavar="N", help="show the last N samples")
@argument(
    "--keep",
    type=int,
    default=DEFAULT_KEEP,
    metavar="N",
    help=f"keep the last N samples for --name (default {DEFAULT_KEEP})",
)
@argument("--x", default=None, metavar="COLUMN", help="the column for the x axis")
@argument("--save", default=None, metavar="FILE", help="also save the final chart (.png .svg .pdf)")
@argument("--name", default="plot_data", help="host variable for the samples (default plot_data)")
def plot(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    if args.window < 2:
        raise UsageError("--window needs at least 2 samples")
    if args.keep < 1:
        raise UsageError("--keep needs at least 1 sample")
    if not args.name.isidentifier():
        raise UsageError(f"--name {args.name!r} is not a Python name")
    save = host_path(args.save) if args.save else None
    if save is not None and save.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError("--save takes a .png, .svg or .pdf file")
    chart = LiveChart(window=args.window, x=args.x, keep=args.keep)
    plotter = _Plotter(kernel, chart, args.every)
    try:
        kernel.run_on_board(body, "<stdin>", on_text=plotter.feed)
    finally:
        # Also when the board raised or ■ stopped it: the chart and the data stay.
        plotter.finish()
        kernel.host_shell().user_ns[args.name] = chart.data()
        if save is not None and chart.total:
            _save(chart, save)


def _save(chart: LiveChart, path: Path) -> None:
    atomic_write(path, chart.png(path.suffix.lower().lstrip(".")))


MAGICS = (plot,)
