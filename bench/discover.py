"""Time for discovery (what `%discover` does) with 1, 4 and 8 virtual boards.

Each board is a virtual serial board in its own process, found through the
settings' extra ports and probed in parallel for its identity.
Target: under 1 s for 8 boards, growing less than linearly.

    python bench/discover.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.config import Settings
from iotkernel.registry import Registry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        boards: list[VirtualSerialBoardProcess] = []
        try:
            for count in (1, 4, 8):
                while len(boards) < count:
                    i = len(boards)
                    boards.append(
                        VirtualSerialBoardProcess(
                            tmp / f"ttyD{i}", board_dir=tmp / f"d{i}", uid=bytes([0xD0, i])
                        )
                    )
                settings = Settings(extra_ports=[str(tmp / "ttyD*")])
                registry = Registry(tmp / "registered.json")
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    records = registry.discover(settings)
                    times.append(time.perf_counter() - start)
                    assert len(records) == count, records
                result[f"{count}_boards_s"] = round(statistics.median(times), 3)
        finally:
            for board in boards:
                board.stop()
    if args.json:
        print(json.dumps(result))
        return 0
    print("discovery (probe every port in parallel), median of runs")
    for count in (1, 4, 8):
        print(f"  {count} board{'s' if count > 1 else ' '}  {result[f'{count}_boards_s']:6.3f} s")
    print("  (target: under 1 s for 8, growing less than linearly)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
