"""The REPL engine's states, as one table: what holds in each.

For every state: the engine's method that reads received bytes there, what
it looks for (said for a person), whether the device owes a prompt answer,
whether a Ctrl-C reaches running code, whether an exchange of ours is under
way, whether other bytes are a protocol error, which commands are allowed,
and where the state leads. The engine, `Device` and the tests ask the table;
`docs/protocol-states.md` is generated from it
(`python -m iotkernel.protocol.diagram`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import State

# Commands allowed in every state: they start a resync or forget what is known.
ALWAYS_ALLOWED = ("interrupt_program", "mark_unsynced", "forget_capabilities")


@dataclass(frozen=True)
class StateRule:
    """What holds in one state of the engine."""

    handler: str  # the engine's method that consumes received bytes in this state
    reads: str  # what the handler looks for, said for a person
    # The device owes a prompt answer (an idle timeout applies); raw-paste
    # sending only once its window is spent.
    awaits_reply: bool = False
    interruptible: bool = False  # a Ctrl-C now reaches running code
    between_exchanges: bool = False  # no exchange of ours is under way
    strict: bool = False  # bytes other than the awaited ones are a DeviceProtocolError
    commands: frozenset[str] = frozenset(ALWAYS_ALLOWED)  # ALWAYS_ALLOWED among them
    # Where the state leads: (what makes it so, the next state).
    leads_to: tuple[tuple[str, State], ...] = ()


def _commands(*names: str) -> frozenset[str]:
    return frozenset((*names, *ALWAYS_ALLOWED))


_AT_RAW_PROMPT = _commands("request_raw_repl", "execute", "soft_reset", "leave_raw_repl")

STATES: dict[State, StateRule] = {
    State.UNSYNCED: StateRule(
        "_on_unsolicited",
        "anything: a program's output, boot messages (unsolicited)",
        interruptible=True,
        between_exchanges=True,
        commands=_commands("request_raw_repl", "send_interrupt"),
        leads_to=(("request_raw_repl() sends Ctrl-A", State.ENTERING_RAW),),
    ),
    State.ENTERING_RAW: StateRule(
        "_on_entering_raw",
        "the raw banner; what comes before it is unsolicited",
        awaits_reply=True,
        commands=_commands("request_raw_repl"),
        leads_to=(("the raw banner", State.RAW_IDLE),),
    ),
    State.RAW_IDLE: StateRule(
        "_on_unsolicited",
        "anything (unsolicited): nothing is owed",
        between_exchanges=True,
        commands=_AT_RAW_PROMPT,
        leads_to=(
            ("execute() of small source, or without raw-paste", State.CLASSIC_AWAITING_OK),
            ("execute() of large source", State.PASTE_NEGOTIATING),
            ("soft_reset() sends Ctrl-D", State.SOFT_RESETTING),
            ("leave_raw_repl() sends Ctrl-B", State.LEAVING_RAW),
            ("request_raw_repl()", State.ENTERING_RAW),
        ),
    ),
    State.PASTE_NEGOTIATING: StateRule(
        "_on_paste_negotiating",
        "R\\x01 and a window size, R\\x00 (refused) or the raw banner (older firmware)",
        awaits_reply=True,
        strict=True,
        leads_to=(
            ("R\\x01: a window", State.PASTE_SENDING),
            ("R\\x00, or the banner after retries: classic raw", State.CLASSIC_AWAITING_OK),
        ),
    ),
    State.PASTE_SENDING: StateRule(
        "_on_paste_sending",
        "\\x01 (one more window) or \\x04 (the device ends reception)",
        awaits_reply=True,
        strict=True,
        leads_to=(
            ("all source sent, then Ctrl-D", State.PASTE_AWAITING_ACK),
            ("\\x04 from the device", State.STDOUT),
        ),
    ),
    State.PASTE_AWAITING_ACK: StateRule(
        "_on_paste_awaiting_ack",
        "\\x04 acknowledging the end of the source (late \\x01 ignored)",
        awaits_reply=True,
        strict=True,
        leads_to=(("\\x04", State.STDOUT),),
    ),
    State.CLASSIC_AWAITING_OK: StateRule(
        "_on_classic_awaiting_ok",
        "'OK' acknowledging the source",
        awaits_reply=True,
        strict=True,
        leads_to=(("OK", State.STDOUT),),
    ),
    State.STDOUT: StateRule(
        "_on_output",
        "the code's stdout, up to \\x04",
        interruptible=True,
        commands=_commands("send_interrupt", "send_stdin"),
        leads_to=(("\\x04", State.STDERR),),
    ),
    State.STDERR: StateRule(
        "_on_output",
        "the code's traceback, if any, up to \\x04",
        awaits_reply=True,
        leads_to=(("\\x04", State.AWAITING_PROMPT),),
    ),
    State.AWAITING_PROMPT: StateRule(
        "_on_awaiting_prompt",
        "the raw prompt '>' after the output frames (or, after SystemExit, "
        "'MPY: soft reboot' and the raw banner)",
        awaits_reply=True,
        strict=True,
        leads_to=(("'>', or a soft reboot and the raw banner", State.RAW_IDLE),),
    ),
    State.SOFT_RESETTING: StateRule(
        "_on_soft_resetting",
        "'OK', then the raw banner after the soft-reboot messages",
        awaits_reply=True,
        strict=True,
        # Ctrl-C stops what a board runs as it reboots (CircuitPython's
        # code.py), or is the key its supervisor then waits for.
        commands=_commands("send_interrupt"),
        leads_to=(("OK and the raw banner", State.RAW_IDLE),),
    ),
    State.LEAVING_RAW: StateRule(
        "_on_leaving_raw",
        "the friendly prompt '>>> '",
        awaits_reply=True,
        leads_to=(("'>>> '", State.FRIENDLY),),
    ),
    State.FRIENDLY: StateRule(
        "_on_unsolicited",
        "anything (unsolicited): the friendly REPL echoes and prints",
        interruptible=True,
        between_exchanges=True,
        commands=_commands("request_raw_repl", "send_interrupt"),
        leads_to=(("request_raw_repl() sends Ctrl-A", State.ENTERING_RAW),),
    ),
}
