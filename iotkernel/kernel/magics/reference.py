"""The magics reference, generated from the parsers themselves (cannot drift).

python -m iotkernel.kernel.magics.reference > docs/magics.md
"""

from __future__ import annotations

import sys

from . import build_registry


def render() -> str:
    registry = build_registry()
    parts = [
        "# Magics reference\n",
        "Generated from the magics' own parsers by "
        "`python -m iotkernel.kernel.magics.reference`; a test keeps this page "
        "equal to what the code says. Every magic answers `-h` with the same text.\n",
        "```\n" + registry.lsmagic() + "\n```\n",
    ]
    for kind in ("line", "cell"):
        for magic in registry.all(kind):
            parts.append(f"## `{magic.prefix}{magic.name}`\n")
            parts.append("```\n" + magic.parser.format_help().rstrip() + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
