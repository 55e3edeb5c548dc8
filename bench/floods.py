"""The kernel's memory while a board prints as fast as it can, and ■ after it.

For each case, a real kernel (jupyter_client) runs a cell on fake boards
that floods its output for `--seconds` (default 60); the kernel's RSS is
sampled every second. Then ■ (interrupt_kernel): the figure is the time
from it to the execute reply. Cases:

* `plain`: a cell printing `print('x' * 200)` in a loop;
* `plot`: `%%plot` over a loop printing one number a line;
* `parallel`: `%%connect --parallel` on two boards, one flooding, one quiet.

    python bench/floods.py [--seconds S] [--only plain|plot|parallel] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from typing import Any

from jupyter_client.manager import KernelManager

from iotkernel.kernel.local_transport import kernel_manager_options

FLOOD = "while True:\n    print('x' * 200)"
CASES = {
    "plain": "%connect fake://flood-plain\n{flood}",
    "plot": (
        "%connect fake://flood-plot\n"
        "%%plot --every 1\ni = 0\nwhile True:\n    i += 1\n    print(i % 97)"
    ),
    "parallel": (
        "%%connect --parallel -q fake://flood-a?uid=01 fake://flood-b?uid=02\n"
        "import machine\nif machine.unique_id()[-1] == 1:\n"
        "    while True:\n        print('x' * 200)\nelse:\n    print('quiet')"
    ),
}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(case: str, seconds: float) -> dict[str, Any]:
    sockets = tempfile.TemporaryDirectory(prefix="iotk-bench-")
    km = KernelManager(kernel_name="iotkernel", **kernel_manager_options(sockets.name))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        code = CASES[case]
        if code.startswith("%connect"):
            setup, code = code.split("\n", 1)
            kc.execute_interactive(setup, timeout=60, output_hook=lambda msg: None)
            code = code.replace("{flood}", FLOOD)
        before = rss_mb(pid)
        samples = [before]
        shown = [0]

        def count(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                shown[0] += len(msg["content"]["text"])

        stopped: list[float] = []
        ended = threading.Event()

        def sample_then_stop() -> None:
            for _ in range(int(seconds)):
                if ended.wait(1):
                    return  # the cell ended by itself (an error): nothing to stop
                samples.append(rss_mb(pid))
            stopped.append(time.monotonic())
            km.interrupt_kernel()

        sampler = threading.Thread(target=sample_then_stop, daemon=True)
        sampler.start()
        reply = kc.execute_interactive(code, timeout=seconds + 300, output_hook=count)
        replied = time.monotonic()
        ended.set()
        sampler.join()
        return {
            "rss_before_mb": round(before, 1),
            "rss_peak_mb": round(max(samples), 1),
            "rss_growth_mb": round(max(samples) - before, 1),
            "stop_to_reply_s": round(replied - stopped[0], 2) if stopped else None,
            "shown_chars": shown[0],
            "status": reply["content"]["status"],
        }
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        sockets.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("IOT_PROJECTS", tempfile.mkdtemp(prefix="iotk-bench-projects-"))
    results = {}
    for case in CASES:
        if args.only in (None, case):
            results[case] = measure(case, args.seconds)
            if not args.json:
                r = results[case]
                print(
                    f"{case:9} {args.seconds:.0f} s flood: kernel RSS {r['rss_before_mb']} -> "
                    f"peak {r['rss_peak_mb']} MB (+{r['rss_growth_mb']} MB); ■ -> reply "
                    f"{r['stop_to_reply_s']} s; {r['shown_chars']} characters shown"
                )
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
