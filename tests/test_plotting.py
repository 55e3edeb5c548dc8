"""%%plot's parser and chart (iotkernel.kernel.plotting): every line format
a board prints samples in, text left as text, and the PNG of a window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotkernel.kernel.plotting import LiveChart, PlotError, SampleParser


def test_the_sample_formats() -> None:
    p = SampleParser()
    assert p.parse("3.5") == {"y": 3.5}
    assert p.parse("1 2 3") == {"y1": 1.0, "y2": 2.0, "y3": 3.0}
    assert p.parse("1, -2.5e3,3\r") == {"y1": 1.0, "y2": -2500.0, "y3": 3.0}
    assert p.parse("temp=21.5, hum=40") == {"temp": 21.5, "hum": 40.0}
    assert p.parse("temp: 21.5  hum: 41") == {"temp": 21.5, "hum": 41.0}
    for text in ("", "hello", "temp=warm", "Booting v1.2", "x=1, and more", "1 2 three"):
        assert p.parse(text) is None, text


def test_a_csv_header_names_the_columns() -> None:
    p = SampleParser()
    assert p.parse("t,temp,hum") is None and p.took_header
    assert p.parse("0,21.5,40") == {"t": 0.0, "temp": 21.5, "hum": 40.0}
    assert p.parse("5 6") == {"y1": 5.0, "y2": 6.0}  # another width: positional names
    late = SampleParser()
    late.parse("1")
    late.parse("a,b")  # after samples: text, not a header
    assert late.parse("1,2") == {"y1": 1.0, "y2": 2.0}


@given(st.text(max_size=200))
def test_any_line_parses_or_is_text(line: str) -> None:
    sample = SampleParser().parse(line)
    assert sample is None or (
        0 < len(sample) <= 32 and all(isinstance(v, float) for v in sample.values())
    )


def test_the_chart_of_a_window_and_an_x_column() -> None:
    chart = LiveChart(window=10, x="t")
    for i in range(25):
        chart.add({"t": i * 0.1, "temp": 20 + i % 3, "hum": 40.0})
    png = chart.png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart.png("svg").lstrip().startswith(b"<?xml")
    assert len(chart.rows) == 25 and chart.columns() == ["t", "temp", "hum"]
    assert "25 samples" in chart.summary()
    assert chart.data() == chart.rows or len(chart.data()) == 25  # list, or a DataFrame
    with pytest.raises(PlotError, match="--x when: no such column"):
        bad = LiveChart(x="when")
        bad.add({"y": 1.0})
        bad.png()
