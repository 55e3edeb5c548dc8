"""Core magics: %lsmagic and %%host (whose body ipykernel's IPython runs)."""

from __future__ import annotations

import argparse
from typing import Any

from .registry import MagicRegistry


def lsmagic(kernel: Any, args: argparse.Namespace) -> None:
    kernel.print(kernel.magics.lsmagic() + "\n")


def host(kernel: Any, args: argparse.Namespace, body: str) -> None:  # pragma: no cover
    # Never called: the kernel hands %%host cells to IPython itself; the entry
    # exists for %lsmagic, -h and completion.
    raise AssertionError("%%host is run by the kernel")


def register(registry: MagicRegistry) -> None:
    registry.add("lsmagic", "line", "List all magic functions", lsmagic)
    registry.add(
        "host",
        "cell",
        "Pass cell to host (cPython) for evaluation.",
        host,
        epilog="example:\n  %%host\n  import matplotlib.pyplot as plt\n  plt.plot([1, 2, 3])",
    )
