"""Core magics: %lsmagic and %%host (whose body ipykernel's IPython runs)."""

from __future__ import annotations

import argparse

from .registry import KernelServices, cell_magic, line_magic


@line_magic("lsmagic", summary="List all magic functions")
def lsmagic(kernel: KernelServices, args: argparse.Namespace) -> None:
    kernel.print(kernel.magics.lsmagic() + "\n")


@cell_magic(
    "host",
    summary="Pass cell to host (cPython) for evaluation.",
    epilog="example:\n  %%host\n  import matplotlib.pyplot as plt\n  plt.plot([1, 2, 3])",
)
def host(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:  # pragma: no cover
    # Never called: the kernel hands %%host cells to IPython itself; the entry
    # exists for %lsmagic, -h and completion.
    raise AssertionError("%%host is run by the kernel")


MAGICS = (lsmagic, host)
