"""ASGI middleware: CORS refusals in JSON, HEAD answered like GET, request body size and time limits, compressed
bodies refused, work stopped for clients that left, security headers and structured access logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("app.access")
_ACCESS_FIELDS = "access_log_fields"
_CLIENT_LEFT = "client_left"
_CLOSE = [(b"connection", b"close")]  # the rest of a refused body may still be on its way
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that closed the connection before the answer; never sent


def add_access_log_fields(request: Request, **fields: Any) -> None:
    """Attach fields (batch size, ...) to this request's access log line."""
    request.scope.setdefault("state", {}).setdefault(_ACCESS_FIELDS, {}).update(fields)


async def send_json(
    send: Send, status: int, content: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer from middleware, where no Response class or exception handler is in reach."""
    body = json.dumps(content, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class JsonCorsMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a refused preflight answered like every other error, as a JSON `detail`
    (Starlette answers it in plain text: "Disallowed CORS origin")."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        kept = {
            name: value for name, value in response.headers.items() if name not in ("content-type", "content-length")
        }
        return JSONResponse({"detail": f"CORS preflight refused: {reason}"}, response.status_code, headers=kept)


class HeadAsGetMiddleware:
    """Answer HEAD like GET without the body (RFC 9110, section 9.3.2): FastAPI routes accept only the methods
    they declare, so uptime checks and link checkers that send HEAD got 405 from every page and probe.
    The headers, Content-Length included, are GET's."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        await self.app(as_get, receive, headers_only)
        if "route" in as_get:  # the router's match, for the middleware outside (metrics label HEAD by route)
            scope["route"] = as_get["route"]


class BodyLimitsMiddleware:
    """Answer 413 for a body over `max_bytes`, and 408 for one not received within `timeout_s`, before anything
    parses it.

    A declared Content-Length over the limit is refused without reading the body; otherwise the body
    is read (counting chunked/streamed bytes) up to the limit and replayed to the app, so no handler
    ever sees a partial or oversized body. The whole body must arrive within `timeout_s` of the request's
    headers: a client that stops sending its body (or trickles it) would otherwise hold its connection and
    the partial body for as long as it likes. (Headers are uvicorn's to read, without a time limit: a proxy
    in front bounds those.) Both answers close the connection.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self, size: str) -> dict[str, str]:
        return {"detail": f"request body is {size}; the limit is {self.max_bytes} bytes"}

    def _too_slow(self, received: int, declared: int | None) -> dict[str, str]:
        of = f" of {declared}" if declared is not None else ""
        return {
            "detail": f"request body not received within {self.timeout_s:g} s ({received}{of} bytes arrived); "
            f"send the whole body within {self.timeout_s:g} s"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_json(send, 413, self._too_large(f"{declared} bytes"), _CLOSE)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):  # only reading is timed, never an answer being sent
                while size <= self.max_bytes:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client went away; there is no one to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await send_json(send, 408, self._too_slow(size, declared), _CLOSE)
            return
        if size > self.max_bytes:
            await send_json(send, 413, self._too_large(f"over {self.max_bytes} bytes"), _CLOSE)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class UncompressedBodyMiddleware:
    """Answer 415 for a request body sent with a content coding (`Content-Encoding: gzip`), before parsing it.

    The API reads bodies as they are, so a compressed one would fail as undecodable JSON, or a body merely labelled
    gzip would be read as if it were not. RFC 9110 (section 15.5.16) answers an unsupported content coding with
    415 and an `Accept-Encoding` that names the codings accepted: here only `identity`. It sits inside
    `BodyLimitsMiddleware`, so a body within the limits has been read by then and the connection stays open:
    closing it before the body had arrived left a client that sends the whole body before reading (http.client)
    with a broken pipe instead of the 415.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            # every coding of every Content-Encoding line: a second line must not slip one past
            codings = [c.strip().lower() for line in headers.getlist("content-encoding") for c in line.split(",")]
            coded = [coding for coding in codings if coding not in ("", "identity")]
            has_body = (_content_length(scope) or 0) > 0 or "transfer-encoding" in headers
            if coded and has_body:
                detail = (
                    f"request body is sent with Content-Encoding: {', '.join(coded)[:40]}, which this API does not "
                    "accept; send it uncompressed"
                )
                await send_json(send, 415, {"detail": detail}, [(b"accept-encoding", b"identity")])
                return
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class CancelOnDisconnectMiddleware:
    """Stop working for a client that closed the connection before its answer started.

    Starlette runs a handler to its end even when the client has gone: under overload, clients that time out
    leave their abandoned requests ahead of everyone else's. Once the request body has been read, this watches
    the connection; if it closes first, the handler is cancelled (a queued text leaves its micro-batch, a waiting
    batch leaves the line; a model call already running finishes in its thread) and the request is logged and
    counted as 499. Nothing is sent: there is no one to send it to.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        after_body: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        answering = False

        def client_left() -> None:
            scope.setdefault("state", {})[_CLIENT_LEFT] = True

        async def receive_body() -> Message:
            if body_read.is_set():  # the watcher owns the connection now; share what it hears
                return await asyncio.shield(after_body)
            message = await receive()
            if message["type"] == "http.disconnect":
                client_left()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def send_answer(message: Message) -> None:
            nonlocal answering
            if scope.get("state", {}).get(_CLIENT_LEFT):
                # The client left while a model call ran in its thread: the cancellation reaches the handler only
                # at its next await, and it answers first. That answer has no one to go to; it stays a 499.
                return
            answering = True
            await send(message)

        async def watch(handler: anyio.CancelScope) -> None:
            await body_read.wait()
            message = await receive()
            after_body.set_result(message)
            if message["type"] == "http.disconnect" and not answering:
                client_left()
                handler.cancel()

        with anyio.CancelScope() as handler:
            watcher = asyncio.create_task(watch(handler))
            try:
                await self.app(scope, receive_body, send_answer)
            finally:
                watcher.cancel()
                with suppress(asyncio.CancelledError):
                    await watcher


class StatusRecorder:
    """Wraps an ASGI `send` and remembers the response status: 499 if the client left before the answer (see
    CancelOnDisconnectMiddleware), 500 if the app failed before answering."""

    def __init__(self, scope: Scope, send: Send):
        self.scope = scope
        self.send = send
        self.sent: int | None = None

    @property
    def status(self) -> int:
        if self.sent is not None:
            return self.sent
        return CLIENT_CLOSED_REQUEST if self.scope.get("state", {}).get(_CLIENT_LEFT) else 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.sent = message["status"]
        await self.send(message)


class AccessLogMiddleware:
    """Log one JSON line per request on `app.access`: method, path, status, latency_ms and handler fields."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        recorder = StatusRecorder(scope, send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            status = recorder.status
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                **state.get(_ACCESS_FIELDS, {}),
            }
            access_log.info("%s %s %d", scope["method"], scope["path"], status, extra={"fields": fields})


SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
_SECURITY_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeadersMiddleware:
    """`nosniff` and `no-referrer` on every answer. A 500 is sent by Starlette's outermost middleware, outside
    this one, so `unhandled_error_handler` sets them itself.

    The HTML pages set their own Content-Security-Policy in their routes (app/routes/page.py, docs.py).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *_SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
