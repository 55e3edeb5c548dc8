"""The magic declarations: arguments in source order, aliases, both kinds,
and every magic module's list in the one registry."""

from __future__ import annotations

import argparse

import pytest

from iotkernel.kernel.magics import MODULES, build_registry
from iotkernel.kernel.magics.registry import (
    _SPECS,
    KernelServices,
    MagicRegistry,
    argument,
    cell_magic,
    line_magic,
)

calls: list[tuple[str, argparse.Namespace, str]] = []


@line_magic("demo", "demo-alias", summary="A demo", epilog="after")
@argument("first")
@argument("-x", "--extra", action="store_true")
def demo(kernel: KernelServices, args: argparse.Namespace) -> None:
    calls.append(("line", args, ""))


@cell_magic("demo", summary="A demo cell")
@argument("name")
def demo_cell(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    calls.append(("cell", args, body))


def test_declared_magics_parse_and_run() -> None:
    registry = MagicRegistry()
    registry.add(demo)
    registry.add(demo_cell)
    line = registry.require("demo", "line")
    assert registry.require("demo-alias", "line").summary == "A demo"
    assert [a.dest for a in line.parser._actions] == ["help", "first", "extra"]
    assert "after" in line.parser.format_help()
    calls.clear()
    line.run(None, line.parser.parse_line("one -x"), "")  # type: ignore[arg-type]
    cell = registry.require("demo", "cell")
    cell.run(None, cell.parser.parse_line("n"), "body")  # type: ignore[arg-type]
    assert [(kind, vars(args), body) for kind, args, body in calls] == [
        ("line", {"first": "one", "extra": True}, ""),
        ("cell", {"name": "n"}, "body"),
    ]


def test_an_undeclared_handler_is_refused() -> None:
    def plain(kernel: KernelServices, args: argparse.Namespace) -> None: ...

    with pytest.raises(ValueError, match="not declared"):
        MagicRegistry().add(plain)


def test_every_module_lists_declared_magics() -> None:
    registry = build_registry()
    listed = {handler for module in MODULES for handler in module.MAGICS}
    names = {(m.kind, m.name) for kind in ("line", "cell") for m in registry.all(kind)}
    assert len(listed) >= 30 and ("line", "upip") in names and ("cell", "connect") in names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_declared_handler_is_left_out_of_its_modules_list(module: object) -> None:
    """A handler decorated in a module but missing from its MAGICS would never
    be registered: the declared ones and the listed ones are the same."""
    declared = {
        value
        for name, value in vars(module).items()
        if callable(value)
        and getattr(value, _SPECS, None)
        and getattr(value, "__module__", None) == module.__name__  # type: ignore[attr-defined]
    }
    assert declared == set(module.MAGICS)  # type: ignore[attr-defined]
