"""Boards that print as fast as they can: the kernel keeps what it shows
bounded (each board's head and tail under `--parallel`, the rest counted),
`--timeout` stops a flooding board too and nothing it prints after its
deadline is shown, ■ answers at once, and the next cell runs. Memory
figures over a minute's flood: bench/floods.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotkernel.kernel.output import OUTPUT_BURST, OUTPUT_RATE, OutputRateLimit
from iotkernel.kernel.parallel import OUTPUT_HEAD, OUTPUT_TAIL

from ..kernel.test_kernel import Kernel

FLOOD = "while True:\n    print('x' * 200)"
# A hang detector, not a speed target: a flood never ends by itself, so a
# reply at all proves ■ was heard. The time ■ takes is measured by
# bench/floods.py; a tight bound here would fail on a loaded CI machine.
STOP_ANSWERED_WITHIN = 20.0


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


def two_boards(tmp_path: Path) -> str:
    return f"fake://flood-a-{tmp_path.name}?uid=01 fake://flood-b-{tmp_path.name}?uid=02"


def test_parallel_keeps_a_head_and_a_tail_and_stops_at_the_deadline(
    kernel: Kernel, tmp_path: Path
) -> None:
    body = "import machine\nif machine.unique_id()[-1] % 2:\n    " + FLOOD.replace("\n", "\n    ")
    body += "\nelse:\n    print('quiet board')"
    started = time.monotonic()
    run = kernel.run(
        f"%%connect --parallel --timeout 3 -q {two_boards(tmp_path)}\n{body}", timeout=60
    )
    took = time.monotonic() - started
    shown = run.stream() + run.stream("stderr")
    assert took < 20, took
    assert len(shown) < 2 * (OUTPUT_HEAD + OUTPUT_TAIL) + 10_000, len(shown)
    assert "characters of output dropped" in shown
    assert "quiet board" in shown
    assert "no end within 3 s" in shown
    assert kernel.run("%%connect -q " + two_boards(tmp_path) + "\nprint('next')").status == "ok"


def test_the_stop_button_answers_under_a_flood(kernel: Kernel, tmp_path: Path) -> None:
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.monotonic())
        kernel.km.interrupt_kernel()

    threading.Timer(3.0, stop).start()
    run = kernel.run(f"%%connect --parallel -q {two_boards(tmp_path)}\n{FLOOD}", timeout=60)
    assert stopped_at and run.replied_at - stopped_at[0] < STOP_ANSWERED_WITHIN, (
        run.replied_at - stopped_at[0]
    )
    assert len(run.stream()) < 2 * (OUTPUT_HEAD + OUTPUT_TAIL) + 10_000
    again = kernel.run(f"%%connect --parallel -q {two_boards(tmp_path)}\nprint('again')")
    assert again.status == "ok" and again.stream().count("again") == 2


@pytest.fixture
def on_fake(kernel: Kernel, tmp_path: Path) -> Kernel:
    assert kernel.run(f"%connect fake://plot-{tmp_path.name}").status == "ok"
    return kernel


def test_plot_skips_values_it_cannot_draw_and_bounds_its_series(on_fake: Kernel) -> None:
    run = on_fake.run(
        "%%plot --every 60 --name odd\n"
        "for v in ('1', 'inf', '-inf', '1e308', 'nan', '2', '3'):\n    print(v)\n"
        "for line in range(60):\n"
        "    print(', '.join('s%d_%d=%d' % (line, i, i) for i in range(32)))",
        timeout=60,
    )
    assert run.status == "ok", run.reply
    err = run.stream("stderr")
    assert "values skipped" in err and "more than 32 series" in err
    assert any(m["msg_type"] == "display_data" for m in run.messages)
    kept = on_fake.run("%%host\nprint(len(odd))").stream()
    assert kept.strip() == "4"  # 3 drawable values, then one line before the series ran out


def test_plot_keeps_a_ring_and_the_stop_button_answers_under_a_flood(on_fake: Kernel) -> None:
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.monotonic())
        on_fake.km.interrupt_kernel()

    threading.Timer(4.0, stop).start()
    run = on_fake.run(
        "%%plot --keep 1000 --name flood\ni = 0\nwhile True:\n    i += 1\n    print(i % 7)",
        timeout=60,
    )
    assert stopped_at and run.replied_at - stopped_at[0] < STOP_ANSWERED_WITHIN, (
        run.replied_at - stopped_at[0]
    )
    kept = on_fake.run("%%host\nprint(len(flood))").stream()
    assert kept.strip() == "1000"
    assert on_fake.run("print('next')").stream().strip() == "next"


def test_a_plain_cell_shows_a_flood_at_a_bounded_rate_and_says_what_it_dropped(
    kernel: Kernel, tmp_path: Path
) -> None:
    assert kernel.run(f"%connect fake://plain-flood-{tmp_path.name}").status == "ok"
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.monotonic())
        kernel.km.interrupt_kernel()

    threading.Timer(4.0, stop).start()
    started = time.monotonic()
    run = kernel.run(FLOOD, timeout=60)
    took = run.replied_at - started
    assert stopped_at and run.replied_at - stopped_at[0] < STOP_ANSWERED_WITHIN
    assert len(run.stream()) <= OUTPUT_BURST + OUTPUT_RATE * took + 10_000, len(run.stream())
    assert "characters not shown: the board printed faster than" in run.stream("stderr")
    assert kernel.run("print('next')").stream() == "next\n"


def test_the_rate_limit_passes_a_burst_then_its_rate_and_counts_the_rest() -> None:
    now = [0.0]
    shown: list[str] = []
    notes: list[str] = []
    limit = OutputRateLimit(shown.append, notes.append, rate=100, burst=250, clock=lambda: now[0])
    for _ in range(5):
        limit("x" * 100)  # 500 at once: the burst passes, the rest is counted
    assert sum(map(len, shown)) == 250 and limit.dropped == 250 and notes == []
    now[0] = 1.0  # a second later: room for 100 more, and the drop is said first
    limit("y" * 50)
    assert shown[-1] == "y" * 50 and "250 characters not shown" in notes[0]
    limit("z" * 80)  # 50 left: 50 shown, 30 counted
    limit.close()
    assert shown[-1] == "z" * 50 and limit.dropped == 280 and "30 characters" in notes[-1]
