"""Reading YAML files we do not trust: the settings file and the devices folder.

Owns one safe loader (PyYAML's safe constructors, aliases bounded against a
"billion laughs" file) and the helpers that turn any problem into one
`ConfigError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import IotKernelError


class ConfigError(IotKernelError):
    """A configuration file is invalid; the message says where and why."""


# A settings file needs no more anchors and aliases than this; a "billion
# laughs" file (343 bytes that expand to 58 MB) uses many more.
MAX_YAML_ALIASES = 32


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no tags that run code) with aliases bounded."""

    aliases_seen = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen += 1
            if self.aliases_seen > MAX_YAML_ALIASES:
                mark = self.get_mark()  # where the reader is: at that alias
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (*name)", mark
                )
        return super().compose_node(parent, index)


def load_yaml_text(text: str) -> Any:
    """Plain values from YAML text with the bounded safe loader (raises
    yaml.YAMLError): for callers that word their own errors."""
    return yaml.load(text, Loader=_BoundedLoader)


def read_yaml(path: Path) -> yaml.Node | None:
    """The node tree of a YAML file (None when it is empty), read with the
    bounded safe loader; any problem is a ConfigError naming file and line."""
    try:
        loader = _BoundedLoader(path.read_text(encoding="utf-8"))
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def yaml_value(path: Path, node: yaml.Node) -> Any:
    """The plain value of a node (safe constructors only)."""
    loader = _BoundedLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{node_place(path, node)}: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()


def node_place(path: Path, node: yaml.Node | None) -> str:
    line = node.start_mark.line + 1 if node is not None else 0
    return f"{path}:{line}" if line else str(path)


def mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {str(k.value): (k, v) for k, v in node.value}


def known_fields(
    path: Path, node: yaml.Node, known: set[str], where: str
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping's fields, refusing a key not in `known` (named with its line)."""
    fields = mapping(node)
    unknown = set(fields) - known
    if unknown:
        bad = sorted(unknown)[0]
        raise ConfigError(
            f"{node_place(path, fields[bad][0])}: unknown key {bad!r} {where} "
            f"(known: {', '.join(sorted(known))})"
        )
    return fields
