"""How long JupyterLab's Variables panel takes to fill, with 50 globals.

Through jupyter_client, as JupyterLab asks it: the kernel on a board with 50
globals of several kinds (ints, floats, strings, lists, dicts, objects),
then the debug requests `initialize`, `attach`, `configurationDone` and the
median time of `inspectVariables` (the panel's request after each cell; the
first one also installs the board-side inspector: reported apart), and of
expanding one dict (`variables`).

Boards: `sim` (the unix-port MicroPython) and `pico` (the emulated Raspberry
Pi Pico on its USB CDC REPL; skipped without Node.js). On `pico-settrace`
(the same Pico built with sys.settrace) also the median time of one step:
a `next` request until its `stopped` event, in a loop held at a breakpoint.

    python bench/variables.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from iotkernel.kernel.local_transport import kernel_manager_options

GLOBALS = 50
SETUP = (
    "class Reading:\n"
    "    def __init__(self, i):\n"
    "        self.i = i\n"
    "        self.label = 'r%d' % i\n"
    "for _i in range(10):\n"
    "    globals()['n%d' % _i] = _i * 7\n"
    "    globals()['f%d' % _i] = _i / 3\n"
    "    globals()['s%d' % _i] = 'text %d' % _i\n"
    "    globals()['l%d' % _i] = list(range(_i * 5))\n"
    "    globals()['d%d' % _i] = {'i': _i, 'sq': [_i, _i * _i]}\n"
    "del _i\n"
)


class Client:
    def __init__(self, url: str) -> None:
        self.sockets = tempfile.TemporaryDirectory(prefix="iotk-bench-")
        self.km = KernelManager(
            kernel_name="iotkernel", **kernel_manager_options(self.sockets.name)
        )
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.seq = 0
        for code in (f"%connect {url}", SETUP):
            reply = self.kc.execute_interactive(code, timeout=120)
            assert reply["content"]["status"] == "ok", reply["content"]

    def debug(self, command: str, **arguments: Any) -> dict[str, Any]:
        self.seq += 1
        content = {"type": "request", "seq": self.seq, "command": command, "arguments": arguments}
        message = self.kc.session.msg("debug_request", content)
        self.kc.control_channel.send(message)
        while True:
            reply = self.kc.control_channel.get_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                return dict(reply["content"])

    def wait_stopped(self, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if msg["msg_type"] == "debug_event" and msg["content"].get("event") == "stopped":
                return
        raise TimeoutError("no stopped event")

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        self.sockets.cleanup()


def measure(url: str, calls: int) -> dict[str, float]:
    client = Client(url)
    try:
        for command in ("initialize", "attach", "configurationDone"):
            client.debug(command)
        start = time.perf_counter()
        first = client.debug("inspectVariables")
        first_time = time.perf_counter() - start
        names = {v["name"]: v for v in first["body"]["variables"]}
        assert len([n for n in names if n != "Reading"]) == GLOBALS, sorted(names)
        samples, expand = [], []
        for _ in range(calls):
            start = time.perf_counter()
            listed = client.debug("inspectVariables")["body"]["variables"]
            samples.append(time.perf_counter() - start)
            # Each inspectVariables hands out new references: this one's.
            reference = next(v for v in listed if v["name"] == "d3")["variablesReference"]
            start = time.perf_counter()
            items = client.debug("variables", variablesReference=reference)["body"]["variables"]
            expand.append(time.perf_counter() - start)
            assert {v["name"] for v in items} == {"'i'", "'sq'"}, items
        return {
            "first_fill_s": first_time,
            "fill_median_s": statistics.median(samples),
            "expand_median_s": statistics.median(expand),
        }
    finally:
        client.stop()


LOOP = "for i in range(1000):\n    x = i\n"


def measure_step(url: str, calls: int) -> dict[str, float]:
    client = Client(url)
    try:
        for command in ("initialize", "attach", "configurationDone"):
            client.debug(command)
        path = client.debug("dumpCell", code=LOOP)["body"]["sourcePath"]
        client.debug("setBreakpoints", source={"path": path}, breakpoints=[{"line": 2}])
        client.kc.execute(LOOP)
        client.wait_stopped()
        client.debug("setBreakpoints", source={"path": path}, breakpoints=[])
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            client.debug("next", threadId=1)
            client.wait_stopped()
            samples.append(time.perf_counter() - start)
        client.km.interrupt_kernel()  # ends the cell (the tracer keeps its breakpoints)
        return {"step_median_s": statistics.median(samples)}
    finally:
        client.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"sim": measure("sim", args.calls)}
    from fakes.pico_board import PicoBoard, missing_requirement

    if (missing := missing_requirement()) is not None:
        results["pico"] = f"skipped: {missing}"
    else:
        with tempfile.TemporaryDirectory() as tmp, PicoBoard(Path(tmp) / "ttyPico") as board:
            results["pico"] = measure(f"serial://{board.path}", args.calls)
        with (
            tempfile.TemporaryDirectory() as tmp,
            PicoBoard(Path(tmp) / "ttyPico", firmware="pico-settrace") as board,
        ):
            results["pico-settrace"] = measure_step(f"serial://{board.path}", args.calls)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for board, figures in results.items():
        if isinstance(figures, str):
            print(f"{board:5} {figures}")
            continue
        if "step_median_s" in figures:
            print(
                f"{board}: one step (next, until stopped) {figures['step_median_s'] * 1000:.0f} ms"
            )
            continue
        print(
            f"{board:5} {GLOBALS} globals: first fill {figures['first_fill_s'] * 1000:.0f} ms "
            f"(installs the inspector), then {figures['fill_median_s'] * 1000:.0f} ms; "
            f"expanding a dict {figures['expand_median_s'] * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
