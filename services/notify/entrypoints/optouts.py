"""The citizen's own opt-out: the signed link at the end of each message.

``GET /o/{token}`` (the short form messages carry) and ``GET /v1/opt-outs/confirm?token=``
show a Vietnamese page asking to confirm; nothing changes on a GET, since mail scanners
and link previews open links by themselves. The page's button POSTs to the same address,
which stops that channel for that contact (also what RFC 8058 one-click clients do). A
token that is malformed, forged, tampered with or expired is refused with 403 and changes
nothing: an HTML page for a browser, problem+json otherwise.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from contracts.vietnam import VN_TZ
from services.notify.adapters.store import set_opt_out
from services.notify.domain.opt_out_link import (
    CHANNEL_NAMES,
    LinkRefusal,
    OptOutLink,
    OptOutLinks,
)
from services.notify.handlers import NotifyContext
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

router = APIRouter(tags=["opt-out links"])
Token = Annotated[str, Path(min_length=1, max_length=128)]
QueryToken = Annotated[str, Query(min_length=1, max_length=128)]
REFUSED_TITLES = {
    LinkRefusal.EXPIRED: "Liên kết ngừng nhận tin đã hết hạn",
    LinkRefusal.BAD_SIGNATURE: "Liên kết ngừng nhận tin không hợp lệ",
    LinkRefusal.MALFORMED: "Liên kết ngừng nhận tin không hợp lệ",
}
# The token is a credential: no caching, no Referer carrying it elsewhere, no indexing.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
    ),
}


def _links(request: Request) -> OptOutLinks:
    runtime: Runtime = request.app.state.runtime
    ctx: NotifyContext = runtime.state["notify"]
    assert ctx.links is not None
    return ctx.links


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>body{{font-family:Arial,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;
color:#222}}h1{{font-size:1.3rem}}button{{font-size:1rem;padding:.6rem 1.2rem;
background:#b71c1c;color:#fff;border:0;border-radius:4px;cursor:pointer}}
.note{{color:#555;font-size:.9rem}}</style></head>
<body><h1>{escape(title)}</h1>{body}</body></html>"""
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _check(request: Request, token: str) -> OptOutLink | Response:
    found = _links(request).verify(token, datetime.now(VN_TZ).date())
    if isinstance(found, OptOutLink):
        return found
    title = REFUSED_TITLES[found]
    if "text/html" in request.headers.get("accept", ""):
        return _page(
            title,
            "<p>Không thể thực hiện yêu cầu từ liên kết này. Ông/Bà vui lòng dùng liên kết"
            " trong tin nhắn mới nhất, hoặc liên hệ bộ phận một cửa hay Cổng dịch vụ công"
            " để ngừng nhận thông báo.</p>",
            403,
        )
    raise ProblemError(403, title, f"The opt-out token is refused ({found.value}).")


def _confirm_page(request: Request, token: str) -> Response:
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    channel = CHANNEL_NAMES[link.channel]
    action = escape(f"/v1/opt-outs/confirm?token={token}", quote=True)
    return _page(
        "Ngừng nhận thông báo về hồ sơ",
        f"<p>Ông/Bà sẽ không nhận thông báo qua <strong>{escape(channel)}</strong> về hồ sơ"
        " này nữa. Các kênh khác (nếu có) vẫn được gửi.</p>"
        f'<form method="post" action="{action}"><button type="submit">'
        "Xác nhận ngừng nhận tin</button></form>"
        f'<p class="note">Liên kết có hiệu lực đến hết ngày'
        f" {link.expires_on:%d/%m/%Y}.</p>",
    )


async def _opt_out(request: Request, token: str) -> Response:
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        await set_opt_out(conn, link.contact_ref, link.channel, True, "link")
    channel = CHANNEL_NAMES[link.channel]
    return _page(
        "Đã ngừng nhận thông báo",
        f"<p>Từ nay Ông/Bà không nhận thông báo qua <strong>{escape(channel)}</strong> về hồ"
        " sơ này. Ông/Bà vẫn tra cứu được tình trạng hồ sơ trên Cổng dịch vụ công; muốn"
        " nhận lại thông báo, xin liên hệ bộ phận một cửa.</p>",
    )


# A forged, tampered or expired link: 403 (an HTML page for browsers).
LINK_REFUSED = problem_responses(403, 422)


@router.get(
    "/o/{token}",
    response_class=HTMLResponse,
    responses=LINK_REFUSED,
    summary="Short opt-out link (page).",
)
async def short_link(request: Request, token: Token) -> Response:
    return _confirm_page(request, token)


@router.post(
    "/o/{token}",
    response_class=HTMLResponse,
    responses=LINK_REFUSED,
    summary="Short opt-out link (confirm).",
)
async def short_link_confirm(request: Request, token: Token) -> Response:
    return await _opt_out(request, token)


@router.get(
    "/v1/opt-outs/confirm",
    response_class=HTMLResponse,
    summary="The page a citizen's opt-out link opens: asks to confirm, changes nothing.",
    responses={403: {"description": "Malformed, forged, tampered or expired link."}},
)
async def confirm_page(request: Request, token: QueryToken) -> Response:
    return _confirm_page(request, token)


@router.post(
    "/v1/opt-outs/confirm",
    response_class=HTMLResponse,
    summary="Stop the channel the signed link names, for the contact it names.",
    responses={403: {"description": "Malformed, forged, tampered or expired link."}},
)
async def confirm(request: Request, token: QueryToken) -> Response:
    return await _opt_out(request, token)
