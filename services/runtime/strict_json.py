"""Refuse JSON bodies that mean different things to different parsers, before any route.

Python's ``json`` (and so FastAPI and every handler that reads a body itself) keeps the
last of two equal keys, and reads ``NaN``, ``Infinity``, ``-Infinity`` and numbers too
large for a float (``1e400``) as non-finite floats; another system reading the same
bytes may keep the first key or refuse the document. Such a body is refused with 422
(a problem document naming what is wrong) and nothing runs.

Plain ASGI, installed inside the body size limit: the body is read once here (counted by
the limit, so an oversized or chunked body still gets 413), checked, and handed on
unchanged, byte for byte (signatures over the raw body still verify). A body that is
not valid JSON is handed on as well: the route's own parsing answers it as before.
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.problems import problem_bytes, send_problem

TITLE = "Dữ liệu không hợp lệ"
_JSON_STARTS = frozenset(b"{[")
_WHITESPACE = b" \t\r\n"


class AmbiguousJson(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs) and all(key.isascii() for key in found):
        return found  # the usual case, at C speed
    seen: set[str] = set()
    for key, _ in pairs:
        # Two spellings of one text (NFC and NFD) are one key once the text is normalised.
        normal = unicodedata.normalize("NFC", key)
        if normal in seen:
            raise AmbiguousJson("json_duplicate_key", f"The key {normal!r} appears twice.")
        seen.add(normal)
    return found


def _no_constant(name: str) -> Any:
    raise AmbiguousJson("json_not_finite", f"{name} is not a JSON number.")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise AmbiguousJson("json_not_finite", f"The number {text[:40]} is out of range.")
    return value


def check_json(body: bytes) -> None:
    """Raise ``AmbiguousJson`` for duplicate keys or non-finite numbers; any other
    problem (not JSON at all, not UTF-8, nested too deep) is left to the route."""
    try:
        json.loads(
            body, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite
        )
    except AmbiguousJson:
        raise
    except (ValueError, RecursionError):
        return


def _looks_like_json(scope: Scope, first: bytes) -> bool:
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type == b"application/json" or content_type.endswith(b"+json"):
        return True
    # Routes that read their body themselves (gateway receipts) parse it whatever it is
    # declared as; a body that starts like JSON is checked too.
    stripped = first.lstrip(_WHITESPACE)
    return bool(stripped) and stripped[0] in _JSON_STARTS


def refusal(error: AmbiguousJson) -> bytes:
    return problem_bytes(
        422,
        TITLE,
        "The request body is ambiguous JSON.",
        errors=[{"loc": ["body"], "msg": str(error), "type": error.kind}],
    )


class StrictJson:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away mid-body
            return
        if _looks_like_json(scope, body[:64]):
            try:
                check_json(body)
            except AmbiguousJson as error:
                await _refuse(send, refusal(error))
                return
        await self.app(scope, replay_body(body, receive), send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length not in (b"0", b""))


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client went away before its end."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """What the app reads: the body read here, then (a disconnect) the client's own."""
    first: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if first:
            return first.pop()
        return await receive()

    return replay


async def _refuse(send: Send, body: bytes) -> None:
    await send_problem(send, 422, body)


def install_strict_json(app: FastAPI) -> None:
    """Refuse duplicate keys and NaN / Infinity in JSON bodies (422) on every route."""
    app.add_middleware(StrictJson)
