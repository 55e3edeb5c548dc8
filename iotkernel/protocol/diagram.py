"""The engine's state table as a document: `docs/protocol-states.md`.

Owns rendering `STATES` (a Mermaid state diagram and a table of each
state's rules), so the document is the table and cannot drift from it
(a test compares them). Run: python -m iotkernel.protocol.diagram > docs/protocol-states.md
"""

from __future__ import annotations

from .events import State
from .states import ALWAYS_ALLOWED, STATES


def _node(state: State) -> str:
    return state.name


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def render() -> str:
    """The Markdown of docs/protocol-states.md."""
    lines = [
        "# The REPL engine's states",
        "",
        "Generated from `STATES` in `iotkernel/protocol/states.py` by",
        "`python -m iotkernel.protocol.diagram > docs/protocol-states.md`; do not edit.",
        "",
        "From every state, `interrupt_program()` (Ctrl-C), `mark_unsynced()` (a timeout,",
        "a reset, a lost link) and bytes a strict state does not allow lead to `UNSYNCED`;",
        "they are left out of the diagram.",
        "",
        "```mermaid",
        "stateDiagram-v2",
        f"    [*] --> {_node(State.UNSYNCED)}",
    ]
    for state, rule in STATES.items():
        for cause, target in rule.leads_to:
            label = cause.replace(":", " -")
            lines.append(f"    {_node(state)} --> {_node(target)}: {label}")
    lines += [
        "```",
        "",
        "| state | reads | reply owed | Ctrl-C reaches code | between exchanges "
        "| strict | commands |",
        "|---|---|---|---|---|---|---|",
    ]
    for state, rule in STATES.items():
        commands = ", ".join(f"`{c}`" for c in sorted(rule.commands - set(ALWAYS_ALLOWED)))
        reads = rule.reads.replace("|", "\\|")
        lines.append(
            f"| `{state.name}` | {reads} | {_yes(rule.awaits_reply)} "
            f"| {_yes(rule.interruptible)} | {_yes(rule.between_exchanges)} "
            f"| {_yes(rule.strict)} | {commands} |"
        )
    lines += [
        "",
        f"Allowed in every state: {', '.join(f'`{c}`' for c in ALWAYS_ALLOWED)}.",
        "`PASTE_SENDING` owes a reply only once its flow-control window is spent.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
