"""HTTP routes, one router per concern; `app.main` includes them."""

from app.schemas import ErrorOut

# What the middleware answers for any request body, before a route sees it (app/middleware.py)
BODY_ERRORS = {
    408: {"model": ErrorOut, "description": "Request body not received within BODY_TIMEOUT_S"},
    413: {"model": ErrorOut, "description": "Request body over MAX_BODY_BYTES"},
    415: {"model": ErrorOut, "description": "Request body sent with a content coding (only identity is accepted)"},
}
