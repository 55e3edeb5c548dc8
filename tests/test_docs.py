"""The documentation cannot drift: the magics reference is what the parsers say,
the state diagram is the engine's table,
and every relative link in README.md and docs/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

from iotkernel.kernel.magics.reference import render
from iotkernel.protocol.diagram import render as render_states

ROOT = Path(__file__).parents[1]


def test_magics_reference_matches_the_parsers() -> None:
    committed = (ROOT / "docs" / "magics.md").read_text()
    assert committed == render(), (
        "run: python -m iotkernel.kernel.magics.reference > docs/magics.md"
    )


def test_state_diagram_matches_the_engine_table() -> None:
    committed = (ROOT / "docs" / "protocol-states.md").read_text()
    assert committed == render_states(), (
        "run: python -m iotkernel.protocol.diagram > docs/protocol-states.md"
    )


def test_relative_links_resolve() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []
