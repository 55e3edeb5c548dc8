"""Every Jupyter request gets a reply: checks and error replies.

Owns checking a request's fields before a handler sees it (ipykernel drops an
execute_request without `code` with no reply at all), and turning any
exception a handler raises before replying into one error reply: the
frontend's malformed request said plainly, anything else (a bug, a library
error not yet translated where it arose) named as unexpected, its traceback
in the log at DEBUG. ipykernel would log it and send no reply: the cell,
and every cell after it, would stay busy for ever.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Protocol

from ..errors import IotKernelError

log = logging.getLogger("iotkernel.kernel")


# The fields a request must carry, and their types (ipykernel drops an
# execute_request without `code` with no reply at all).
_REQUEST_FIELDS: dict[str, dict[str, type]] = {
    "execute_request": {"code": str},
    "complete_request": {"code": str, "cursor_pos": int},
    "inspect_request": {"code": str, "cursor_pos": int},
    "is_complete_request": {"code": str},
    "history_request": {"hist_access_type": str},
}


class MalformedRequestError(IotKernelError):
    """A Jupyter request without a field it needs, or with one of the wrong type."""


def _check_request(msg_type: str, content: Any) -> None:
    if not isinstance(content, dict):
        raise MalformedRequestError(f"malformed {msg_type}: its content is not an object")
    for name, kind in _REQUEST_FIELDS.get(msg_type, {}).items():
        value = content.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise MalformedRequestError(
                f"malformed {msg_type}: {name!r} must be a {kind.__name__}, got {value!r:.40}"
            )


def unexpected_error_reply(request: str, exc: Exception) -> dict[str, Any]:
    """The error reply of a request whose handler failed unexpectedly."""
    log.debug("unexpected error in %s", request, exc_info=True)
    ename = type(exc).__name__
    evalue = (
        f"{exc} (an unexpected {ename} in the kernel while answering {request}: "
        "a bug of IoT Kernel; the traceback is in the log at DEBUG)"
    )
    return {"status": "error", "ename": ename, "evalue": evalue, "traceback": [evalue]}


class _Replier(Protocol):
    execution_count: int
    session: Any


def always_answered(kernel: _Replier, msg_type: str, handler: Any) -> Any:
    """`handler` (ipykernel's, for one request type), made to send an
    error reply when it raises before replying: a malformed request (no
    `code` in an is_complete_request) or a bug in a do_* method."""
    reply_type = msg_type[: -len("_request")] + "_reply"

    async def answered(stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        try:
            _check_request(msg_type, parent.get("content"))
            result = handler(stream, ident, parent)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if isinstance(exc, MalformedRequestError):  # the frontend's fault, said plainly
                reply: dict[str, Any] = {
                    "status": "error",
                    "ename": type(exc).__name__,
                    "evalue": str(exc),
                    "traceback": [str(exc)],
                }
            else:
                reply = unexpected_error_reply(f"a {msg_type}", exc)
            if msg_type == "execute_request":
                reply["execution_count"] = kernel.execution_count
            if kernel.session is not None:
                kernel.session.send(stream, reply_type, reply, parent, ident)

    return answered
