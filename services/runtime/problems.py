"""RFC 9457 problem details for every error a client can see; no internals leak."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


# The shape of every problem document (the specs' `Problem` component).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; some carry more members.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "examples": ["about:blank"]},
        "title": {
            "type": "string",
            "description": "Vietnamese, for people.",
            "examples": ["Dữ liệu không hợp lệ"],
        },
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "English, for developers."},
        "errors": {
            "type": "array",
            "description": "Each invalid value (422 validation problems).",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
# Vietnamese titles of the errors the framework or a library raises itself (unknown route,
# method...; an HTTPException's detail is English): every 4xx has one.
HTTP_TITLES = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa xác thực",
    402: "Cần thanh toán",
    403: "Không có quyền thực hiện",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    406: "Không có định dạng phù hợp",
    407: "Cần xác thực với máy chủ trung gian",
    408: "Hết thời gian chờ yêu cầu",
    409: "Xung đột với trạng thái hiện tại",
    410: "Không còn tồn tại",
    411: "Thiếu độ dài nội dung",
    412: "Điều kiện tiên quyết không thỏa mãn",
    413: "Yêu cầu quá lớn",
    414: "Địa chỉ yêu cầu quá dài",
    415: "Kiểu nội dung không được hỗ trợ",
    416: "Phạm vi yêu cầu không hợp lệ",
    417: "Không đáp ứng được yêu cầu Expect",
    421: "Yêu cầu gửi nhầm máy chủ",
    422: "Dữ liệu không hợp lệ",
    423: "Tài nguyên đang bị khóa",
    424: "Yêu cầu phụ thuộc đã thất bại",
    425: "Yêu cầu gửi quá sớm",
    426: "Cần nâng cấp giao thức",
    428: "Yêu cầu phải có điều kiện",
    429: "Quá nhiều yêu cầu",
    431: "Phần đầu yêu cầu quá lớn",
    451: "Không được phép vì lý do pháp lý",
}
OTHER_CLIENT_ERROR = "Yêu cầu không được chấp nhận"
PROBLEM_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not UTF-8).",
    401: "Not signed in, or the credentials are not valid.",
    403: "The caller may not do this.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    413: "The request body is over the size limit (`MAX_REQUEST_BYTES`).",
    422: "The body or parameters are invalid.",
    429: "Too many requests.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem documents for these statuses."""
    return {
        status: {
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
            "description": PROBLEM_DESCRIPTIONS.get(status, "Problem details."),
        }
        for status in statuses
    }


class ProblemError(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self, status: int, title: str, detail: str = "", type_: str = "about:blank", **extra: Any
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra


def problem_document(
    status: int, title: str, detail: str = "", type_: str = "about:blank", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(
    status: int, title: str, detail: str = "", type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    body = problem_document(status, title, detail, type_, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem_bytes(status: int, title: str, detail: str = "", **extra: Any) -> bytes:
    """A problem document as the bytes a plain ASGI middleware answers with."""
    return json.dumps(problem_document(status, title, detail, **extra), ensure_ascii=False).encode()


async def send_problem(
    send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """Answer from plain ASGI, before any route: ``body`` from :func:`problem_bytes`."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.type, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        return problem_response(
            422,
            "Dữ liệu không hợp lệ",
            "The request body or parameters are invalid.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTP_TITLES.get(exc.status_code)
        if title is None and 400 <= exc.status_code < 500:
            title = OTHER_CLIENT_ERROR
        detail = str(exc.detail)
        response = problem_response(exc.status_code, title or detail, detail if title else "")
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(500, "Lỗi hệ thống", "The error was logged.")


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI spec say what the handlers above answer: every operation with
    parameters or a body documents its 422 as a problem document (not FastAPI's default
    ``HTTPValidationError``), and every operation with a body its 400 and 413."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        default_422 = "#/components/schemas/HTTPValidationError"
        for methods in spec.get("paths", {}).values():
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                found = responses.get("422")
                schema = (found or {}).get("content", {}).get("application/json", {})
                if found is not None and schema.get("schema", {}).get("$ref") == default_422:
                    responses["422"] = problem_responses(422)[422]
                if "requestBody" in operation:  # an unreadable body (not UTF-8) is a 400
                    for status in (400, 413):
                        responses.setdefault(str(status), problem_responses(status)[status])
        # One Problem component instead of a copy per response.
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for methods in spec.get("paths", {}).values():
            for operation in methods.values():
                for response in operation.get("responses", {}).values():
                    media = response.get("content", {}).get(PROBLEM_JSON)
                    if media is not None and media.get("schema") == PROBLEM_SCHEMA:
                        media["schema"] = problem_ref
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        if default_422 not in json.dumps(spec.get("paths", {})):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
