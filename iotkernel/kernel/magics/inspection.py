"""Magics that look inside the board: %who, %whos and %meminfo.

The board's names come from its variable inspector (`variables.py`), as in
the debugger's Variables panel: modules and functions left out, values
short and checked. IPython's conventions: `%who` lists the names (of the
given types only, when types are named), `%whos` a table of name, type and
data (`n=` the length of a container, else the short value).
"""

from __future__ import annotations

import argparse

from ...variables import BoardVariable, list_variables, memory_report
from .registry import KernelServices, argument, line_magic

_CONTAINERS = {"list", "tuple", "dict", "set", "frozenset", "bytearray"}


def _listed(kernel: KernelServices, types: list[str]) -> list[BoardVariable]:
    found = list_variables(kernel.require_device())
    return [v for v in found if not types or v.type in types]


@line_magic(
    "who",
    summary="List the board's variables",
    epilog="examples:\n  %who\n  %who int str    only integers and strings\n",
)
@argument("types", nargs="*", help="only variables of these types (e.g. int list)")
def who(kernel: KernelServices, args: argparse.Namespace) -> None:
    found = _listed(kernel, args.types)
    kernel.print("\t".join(v.name for v in found) + "\n" if found else _nothing(args.types))


def _nothing(types: list[str]) -> str:
    return (
        "No variables match your requested type.\n"
        if types
        else "Interactive namespace is empty.\n"
    )


@line_magic(
    "whos",
    summary="List the board's variables with their types and values",
    epilog="examples:\n  %whos\n  %whos dict      only dicts\n",
)
@argument("types", nargs="*", help="only variables of these types")
def whos(kernel: KernelServices, args: argparse.Namespace) -> None:
    found = _listed(kernel, args.types)
    if not found:
        kernel.print(_nothing(args.types))
        return
    rows = [("Variable", "Type", "Data/Info")]
    for variable in found:
        data = (
            f"n={variable.size}"
            if variable.type in _CONTAINERS and variable.size is not None
            else variable.value
        )
        rows.append((variable.name, variable.type, data))
    name_width = max(len(row[0]) for row in rows) + 3
    type_width = max(len(row[1]) for row in rows) + 3
    lines = [f"{row[0]:{name_width}}{row[1]:{type_width}}{row[2]}" for row in rows]
    lines.insert(1, "-" * (name_width + type_width + len("Data/Info")))
    kernel.print("\n".join(lines) + "\n")


@line_magic(
    "meminfo",
    summary="Show the board's free and used heap, its largest free block and its stack",
    epilog="examples:\n  %meminfo\n  %meminfo -v     micropython.mem_info(1): the heap's map too\n",
)
@argument("-v", "--verbose", action="store_true", help="what micropython.mem_info(1) prints")
def meminfo(kernel: KernelServices, args: argparse.Namespace) -> None:
    report = memory_report(kernel.require_device(), verbose=args.verbose)
    largest = (
        f" (largest free block {report.largest_free} bytes)"
        if report.largest_free is not None
        else ""
    )
    lines = [
        f"heap:  {report.total} bytes: {report.used} used, {report.free} free{largest}",
    ]
    if report.stack_used is not None:
        lines.append(f"stack: {report.stack_used} bytes used of {report.stack_limit}")
    if args.verbose:
        lines += ["", report.details.rstrip("\n")]
    kernel.print("\n".join(lines) + "\n")


MAGICS = (who, whos, meminfo)
