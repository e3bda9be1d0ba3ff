"""Exception handlers: every error is JSON `{"detail": ...}` that says what was wrong."""

from __future__ import annotations

import codecs
import logging
import sys
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.batching import BatcherClosed, Overloaded
from app.middleware import SECURITY_HEADERS

log = logging.getLogger("app.errors")
MAX_LISTED_PROBLEMS = 50
PARSE_FAILED = "There was an error parsing the body"  # FastAPI's 400 detail for a body json.loads raised on


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def describe_errors(errors: Sequence[Any], request: Request) -> list[dict[str, Any]]:
    """Pydantic's errors as {loc, msg, type, ctx}, without echoing the input, with clearer whole-body messages."""
    described = []
    for error in errors:
        loc = list(error.get("loc", ()))
        kind = error.get("type", "value_error")
        msg = error.get("msg", "invalid value")
        if kind == "json_invalid":
            position = loc[1] if len(loc) > 1 else "?"
            reason = (error.get("ctx") or {}).get("error", "decode error").removesuffix(" at")  # "… at" + position
            msg, loc = f"request body is not valid JSON: {reason} at character {position}", ["body"]
        elif loc == ["body"] and kind == "missing":
            msg = "request body is missing; send a JSON object"
        elif loc == ["body"] and kind == "string_unicode":  # pydantic checks the keys of the object as strings
            msg = "request body has a key with a lone surrogate (U+D800-U+DFFF), which is not valid Unicode"
        elif loc == ["body"] and kind == "model_attributes_type" and not _is_json(request):
            msg = "request body must be JSON sent with Content-Type: application/json"
        elif loc == ["body"] and kind == "model_attributes_type":
            msg = "request body must be a JSON object"
        problem = {"loc": loc, "msg": msg, "type": kind}
        if loc != ["body"] and (context := _plain_context(error.get("ctx"))):  # a whole-body msg is reworded above
            problem["ctx"] = context
        described.append(problem)
    return described


def _plain_context(context: object) -> dict[str, str | int | float]:
    """The values a message refers to (a position, a limit), for clients that word it themselves; an
    exception pydantic keeps there is left out, since it says nothing `msg` does not."""
    if not isinstance(context, dict):
        return {}
    return {key: value for key, value in context.items() if isinstance(value, str | int | float)}


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one {loc, msg, type, ctx} per problem, the first MAX_LISTED_PROBLEMS of them and a count of the
    rest: a body of thousands of wrong elements must not come back as megabytes of problems."""
    errors = exc.errors()
    problems = describe_errors(errors[:MAX_LISTED_PROBLEMS], request)
    if (unlisted := len(errors) - MAX_LISTED_PROBLEMS) > 0:
        msg = f"and {unlisted} more problems not listed"
        problems.append({"loc": ["body"], "msg": msg, "type": "more_problems", "ctx": {"count": unlisted}})
    return JSONResponse({"detail": problems}, status_code=422)


def _declared_charset(request: Request) -> str | None:
    """The Content-Type's charset unless it names UTF-8 (in any of Python's spellings), cut to 40 characters."""
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip("\"'").lower()[:40]
        try:
            is_utf8 = codecs.lookup(charset).name == "utf-8"
        except LookupError:
            is_utf8 = False
        return None if is_utf8 or not charset else charset
    return None


def undecodable_body(cause: BaseException | None, request: Request) -> str:
    """Why FastAPI could not parse a JSON body other than a syntax error (which it reports itself).

    JSON is UTF-8 (RFC 8259). Korean text sent in a legacy encoding (EUC-KR, CP949) fails here, so the
    answer says to send UTF-8 and repeats a charset the Content-Type declared."""
    if isinstance(cause, UnicodeDecodeError):
        charset = _declared_charset(request)
        declared = f", not {charset} as the Content-Type says" if charset else ""
        return (
            f"request body is not valid JSON: it is not UTF-8 ({cause.reason} at byte {cause.start}); "
            f"send JSON encoded as UTF-8{declared}"
        )
    if isinstance(cause, RecursionError):
        return "request body is not valid JSON: arrays or objects nested too deeply"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return f"request body has an integer of more than {sys.get_int_max_str_digits()} digits, which Python refuses"
    return "request body could not be parsed as JSON"


SHOWN_PATH_CHARS = 200


def shown_path(path: str) -> str:
    """The path as an error message names it: a long one is cut, so an answer does not echo kilobytes back."""
    return path if len(path) <= SHOWN_PATH_CHARS else f"{path[:SHOWN_PATH_CHARS]}… ({len(path)} characters)"


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Like FastAPI's handler, but 404, 405 and undecodable bodies say what was wrong.

    FastAPI answers a JSON syntax error 422 (`json_invalid`) and any other failure to parse the body 400
    ("There was an error parsing the body"); the latter become the same 422 with the reason."""
    detail = exc.detail
    if exc.status_code == 400 and detail == PARSE_FAILED:
        problem = {"loc": ["body"], "msg": undecodable_body(exc.__cause__, request), "type": "json_invalid"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route for {request.method} {shown_path(request.url.path)}; see /docs for the API"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow", "?")
        methods = [method.strip() for method in allowed.split(",")]
        if "GET" in methods and "HEAD" not in methods:  # HeadAsGetMiddleware answers HEAD wherever GET is allowed
            allowed = ", ".join([*methods, "HEAD"])
        detail = f"method {request.method} is not allowed on {shown_path(request.url.path)}; allowed: {allowed}"
        return JSONResponse({"detail": detail}, status_code=405, headers={**(exc.headers or {}), "Allow": allowed})
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def batcher_closed_handler(request: Request, exc: BatcherClosed) -> JSONResponse:
    """503: a request raced the shutdown; another replica (or a retry after restart) can answer it."""
    return JSONResponse({"detail": f"service unavailable: {exc}"}, status_code=503, headers={"Retry-After": "5"})


async def overloaded_handler(request: Request, exc: Overloaded) -> JSONResponse:
    """503 at once: the model has more work queued than MAX_PENDING_TEXTS; waiting in line would only grow the line."""
    detail = f"service busy: {exc}; retry shortly"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Safety net: a bug answers a JSON 500 (and is logged) instead of a bare text page."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500, headers=SECURITY_HEADERS)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(BatcherClosed, batcher_closed_handler)
    app.add_exception_handler(Overloaded, overloaded_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
