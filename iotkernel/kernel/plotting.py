"""Live plots of what a board prints: the parser and the chart of `%%plot`.

Owns turning printed lines into samples (`SampleParser`: one sample per
line, as `v`, `v1 v2 ...` or `v1, v2, ...`, `name=v, name=v ...`, or CSV
rows after a header line of names; any other line is text), and drawing
them (`LiveChart`: the last `window` samples against their index or one
column, as a PNG by matplotlib's object API, no pyplot state, so nothing is
shared with the host's own plots). No I/O here: the magic sends the PNGs.

A board may print for hours, or print junk: the chart keeps the last `keep`
samples (a ring), at most MAX_SERIES named series (later names are dropped,
said once), and skips values that are not finite or beyond MAX_ABS (counted):
a redraw costs the same after an hour as after a minute.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections import deque
from typing import Any

from ..errors import IotKernelError

_NAME = re.compile(r"^[A-Za-z_][\w .\-/()%]*$")
_SPLIT = re.compile(r"[,;\s]+")
_PAIR = re.compile(r"\s*([A-Za-z_][\w.\-/()%]*)\s*[=:]\s*([^,;\s]+)")
MAX_COLUMNS = 32  # a line with more values is text, not a sample
MAX_SERIES = 32  # series in one chart; further names are dropped
# Larger magnitudes (and inf, nan) are skipped: matplotlib cannot place ticks
# on a range near the float limit.
MAX_ABS = 1e100
DEFAULT_KEEP = 100_000  # samples kept for the host variable


class PlotError(IotKernelError):
    """A plot cannot be drawn (matplotlib missing, a bad --x column)."""


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


class SampleParser:
    """Lines → samples ({column: value}); None for a line that is text."""

    def __init__(self) -> None:
        self.header: list[str] | None = None
        self.samples = 0
        self.took_header = False  # the last line parsed was the CSV header

    def parse(self, line: str) -> dict[str, float] | None:
        self.took_header = False
        text = line.strip()
        if not text:
            return None
        if "=" in text or ":" in text:
            return self._pairs(text)
        tokens = [t for t in _SPLIT.split(text) if t]
        if not tokens or len(tokens) > MAX_COLUMNS:
            return None
        values = [v for v in map(_number, tokens) if v is not None]
        if len(values) == len(tokens):
            self.samples += 1
            return dict(zip(self._names(len(values)), values, strict=True))
        # A header of names, before any sample: "time,temp,hum" (CSV).
        names = [t.strip() for t in text.split(",")]
        if self.samples == 0 and len(names) > 1 and all(_NAME.match(n) for n in names):
            self.header = names
            self.took_header = True
        return None

    def _names(self, count: int) -> list[str]:
        if self.header is not None and len(self.header) == count:
            return self.header
        return ["y"] if count == 1 else [f"y{i + 1}" for i in range(count)]

    def _pairs(self, text: str) -> dict[str, float] | None:
        found: dict[str, float] = {}
        rest = text
        while rest.strip(" ,;\t"):
            match = _PAIR.match(rest)
            if match is None:
                return None
            value = _number(match.group(2))
            if value is None or len(found) >= MAX_COLUMNS:
                return None
            found[match.group(1)] = value
            rest = rest[match.end() :].lstrip(" ,;\t")
        if not found:
            return None
        self.samples += 1
        return found


class LiveChart:
    """The last `keep` samples, and the chart of the last `window` of them."""

    def __init__(
        self, *, window: int = 500, x: str | None = None, keep: int = DEFAULT_KEEP
    ) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise PlotError(
                "%%plot draws with matplotlib, which is not installed: pip install matplotlib"
            ) from None
        self._figure_class = Figure
        self._canvas_class = FigureCanvasAgg
        self.rows: deque[dict[str, float]] = deque(maxlen=max(2, keep, window))
        self._shown: deque[dict[str, float]] = deque(maxlen=max(2, window))
        self.x = x
        self.total = 0  # samples ever added (the ring holds the last `keep`)
        self.skipped_values = 0  # not finite, or beyond MAX_ABS
        self.dropped_series: list[str] = []  # names past MAX_SERIES, in order of arrival
        self._series: dict[str, None] = {}  # in order of arrival

    def add(self, sample: dict[str, float]) -> None:
        kept = {}
        for name, value in sample.items():
            if not math.isfinite(value) or abs(value) > MAX_ABS:
                self.skipped_values += 1
                continue
            if name not in self._series:
                if len(self._series) >= MAX_SERIES:
                    if len(self.dropped_series) < MAX_SERIES and name not in self.dropped_series:
                        self.dropped_series.append(name)
                    continue
                self._series[name] = None
            kept[name] = value
        if kept:
            self.total += 1
            self.rows.append(kept)
            self._shown.append(kept)

    def columns(self) -> list[str]:
        return list(self._series)

    def png(self, fmt: str = "png") -> bytes:
        """The chart of the last `window` samples, as PNG (or SVG, PDF) bytes."""
        figure = self._figure_class(figsize=(7, 3.2), dpi=100)
        self._canvas_class(figure)
        axes = figure.add_subplot()
        rows = list(self._shown)
        start = self.total - len(rows)
        if self.x is not None and rows and not any(self.x in row for row in rows):
            raise PlotError(f"--x {self.x}: no such column (columns: {', '.join(self.columns())})")
        xs = [row.get(self.x, math.nan) for row in rows] if self.x else None
        for column in self.columns():
            if column == self.x:
                continue
            ys = [row.get(column, math.nan) for row in rows]
            axes.plot(xs if xs is not None else range(start, start + len(rows)), ys, label=column)
        axes.set_xlabel(self.x or "sample")
        if len(self.columns()) - (1 if self.x else 0) > 1:
            axes.legend(loc="upper left", fontsize="small")
        axes.grid(True, alpha=0.3)
        with warnings.catch_warnings():  # a tall legend: the layout as it comes
            warnings.simplefilter("ignore", UserWarning)
            figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format=fmt)
        return out.getvalue()

    def summary(self) -> str:
        return f"<live plot: {self.total} samples of {', '.join(self.columns()) or 'nothing'}>"

    def warnings(self) -> list[str]:
        """What was left out, said once at the end."""
        said = []
        if self.dropped_series:
            said.append(
                f"%%plot: more than {MAX_SERIES} series; not plotted: "
                + ", ".join(self.dropped_series[:8])
                + (" …" if len(self.dropped_series) > 8 else "")
            )
        if self.skipped_values:
            said.append(
                f"%%plot: {self.skipped_values} values skipped (inf, nan, or beyond ±{MAX_ABS:g})"
            )
        if self.total > len(self.rows):
            said.append(
                f"%%plot: {self.total} samples; the last {len(self.rows)} are kept (--keep)"
            )
        return said

    def data(self) -> Any:
        """The samples for host cells: a DataFrame when pandas is there."""
        try:
            import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            return list(self.rows)
        return pandas.DataFrame(list(self.rows))
