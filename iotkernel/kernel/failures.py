"""CellFailed: a cell step failed and its error was already shown (control flow)."""

from __future__ import annotations


class CellFailed(Exception):
    """A step of the cell failed and its error message was sent; stop the cell."""

    def __init__(self, ename: str, evalue: str, tb: list[str]) -> None:
        super().__init__(ename)
        self.ename, self.evalue, self.tb = ename, evalue, tb
