"""%%plot through the kernel on every kind of board: a chart updated in
place while the cell runs, text lines shown, the samples in a host
variable, --save, ■ keeping the chart, and its errors."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest

from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")

SAMPLES = (
    "import time\nprint('starting')\nprint('t,level')\n"
    "for i in range(40):\n    print('%d,%d' % (i, i * i))\n    time.sleep(0.02)\n"
    "print('done')"
)


def charts(run: Any) -> list[dict[str, Any]]:
    return [
        m["content"]
        for m in run.messages
        if m["msg_type"] in ("display_data", "update_display_data")
        and "image/png" in m["content"]["data"]
    ]


def test_a_live_chart_the_text_and_the_data(board_kernel: Kernel, tmp_path: Path) -> None:
    k = board_kernel
    run = k.run(f"%%plot --every 0.2 --x t --save {tmp_path}/final.png\n{SAMPLES}", timeout=60)
    assert run.status == "ok", run.reply
    assert run.stream() == "starting\ndone\n"  # samples and the header go to the chart
    shown = charts(run)
    assert shown[0] is run.of_type("display_data")[0]  # one display...
    assert {c["transient"]["display_id"] for c in shown} == {shown[0]["transient"]["display_id"]}
    assert len(shown) <= 41  # ...updated at most once a sample, and once at the end
    assert base64.b64decode(shown[-1]["data"]["image/png"]).startswith(b"\x89PNG")
    assert "40 samples of t, level" in shown[-1]["data"]["text/plain"]
    assert (tmp_path / "final.png").read_bytes().startswith(b"\x89PNG")
    rows = k.run("%%host\nprint(len(plot_data), list(plot_data[-1].items()))").stream()
    assert rows == "40 [('t', 39.0), ('level', 1521.0)]\n"


def test_the_stop_button_keeps_the_chart_and_the_data(board_kernel: Kernel) -> None:
    k = board_kernel
    stopped: list[bool] = []

    def stop_at_the_first_chart(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "display_data" and not stopped:
            stopped.append(True)
            threading.Timer(0.3, k.km.interrupt_kernel).start()

    body = (
        "import time\nn = 0\nwhile True:\n    print('v=%d' % n)\n    n += 1\n    time.sleep(0.01)"
    )
    run = k.run(f"%%plot --every 0.1 --name run\n{body}", on_message=stop_at_the_first_chart)
    assert run.reply["ename"] == "KeyboardInterrupt", run.reply
    final = charts(run)[-1]
    count = int(k.run("%%host\nprint(len(run))").stream())
    assert count > 0 and f"{count} samples of v" in final["data"]["text/plain"]


def test_what_plot_refuses(board_kernel: Kernel) -> None:
    k = board_kernel
    for args in ("--window 1", "--name 'not a name'", "--save chart.txt"):
        run = k.run(f"%%plot {args}\nprint(1)")
        assert run.reply["ename"] == "UsageError", (args, run.reply)
    run = k.run("%%plot --x when\nprint(1)\nprint(2)")
    assert run.reply["ename"] == "PlotError" and "no such column" in run.reply["evalue"]
