"""What the kernel tells Jupyter about itself: its banner, language and features."""

from __future__ import annotations

from typing import Any

BANNER = "IoT Kernel — MicroPython on microcontrollers. %connect sim to try it, %lsmagic for more."
LANGUAGE_INFO: dict[str, object] = {
    "name": "python",
    "version": "3.4",
    "mimetype": "text/x-python",
    "file_extension": ".py",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "pygments_lexer": "ipython3",
    "nbconvert_exporter": "python",
}
HELP_LINKS: list[dict[str, str]] = [
    {"text": "MicroPython", "url": "https://docs.micropython.org/"},
]


def with_features(info: dict[str, Any]) -> dict[str, Any]:
    """ipykernel's kernel_info with the features this kernel has: the
    debugger (its Variables panel for board code, `debugger.py`) and no
    subshells (a board has one port)."""
    info = dict(info)
    info["supported_features"] = ["debugger"]
    info["debugger"] = True  # what frontends before protocol 5.5 look at
    return info
