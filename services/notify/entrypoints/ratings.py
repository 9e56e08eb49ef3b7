"""The citizen's satisfaction rating: the signed link of the result message.

``GET /d/{token}`` shows the form (Vietnamese, one labelled group of 1–5 choices per
criterion of the province's satisfaction index, an optional comment); nothing changes on
a GET. ``POST /d/{token}`` (``application/x-www-form-urlencoded``) records the rating and
publishes ``dossier.rated`` in the same transaction. One rating per dossier: a second is
refused with 409. A malformed, forged, tampered or expired token is refused with 403 and
nothing is stored. A browser gets HTML pages, other clients JSON and problem+json.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from contracts.vietnam import VN_TZ
from services.notify.adapters import ratings as store
from services.notify.domain.opt_out_link import LinkRefusal
from services.notify.domain.rating import (
    COMMENT_MAX,
    CRITERIA,
    SCORES,
    RatingError,
    RatingLink,
    RatingLinks,
    parse_form,
)
from services.notify.entrypoints.optouts import _HEADERS, _page
from services.notify.handlers import NotifyContext
from services.runtime import clock
from services.runtime.problems import ProblemError, problem_responses
from services.runtime.service import Runtime

router = APIRouter(tags=["rating links"])
Token = Annotated[str, Path(min_length=1, max_length=128)]
REFUSED_TITLES = {
    LinkRefusal.EXPIRED: "Liên kết đánh giá đã hết hạn",
    LinkRefusal.BAD_SIGNATURE: "Liên kết đánh giá không hợp lệ",
    LinkRefusal.MALFORMED: "Liên kết đánh giá không hợp lệ",
}
ALREADY_RATED = "Hồ sơ này đã được đánh giá"
THANKS = "Cảm ơn Ông/Bà đã đánh giá"


def _links(request: Request) -> RatingLinks:
    runtime: Runtime = request.app.state.runtime
    ctx: NotifyContext = runtime.state["notify"]
    assert ctx.rating_links is not None
    return ctx.rating_links


def _browser(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refuse(request: Request, status: int, title: str, detail: str, text: str) -> Response:
    if _browser(request):
        return _page(title, f"<p>{escape(text)}</p>", status)
    raise ProblemError(status, title, detail)


def _check(request: Request, token: str) -> RatingLink | Response:
    found = _links(request).verify(token, clock.now().astimezone(VN_TZ).date())
    if isinstance(found, RatingLink):
        return found
    return _refuse(
        request,
        403,
        REFUSED_TITLES[found],
        f"The rating token is refused ({found.value}).",
        "Không thể đánh giá từ liên kết này. Ông/Bà vui lòng dùng liên kết trong thông báo"
        " trả kết quả, hoặc góp ý tại bộ phận một cửa.",
    )


def _form(token: str, code: str) -> str:
    groups = []
    for name, label in CRITERIA.items():
        choices = "".join(
            f'<label><input type="radio" name="{name}" value="{score}" required>'
            f" {score} – {escape(text)}</label><br>"
            for score, text in SCORES.items()
        )
        groups.append(f"<fieldset><legend>{escape(label)}</legend>{choices}</fieldset>")
    action = escape(f"/d/{token}", quote=True)
    return (
        f"<p>Hồ sơ <strong>{escape(code)}</strong>. Xin Ông/Bà cho biết mức độ hài lòng"
        " về việc giải quyết hồ sơ (1: rất không hài lòng, 5: rất hài lòng).</p>"
        f'<form method="post" action="{action}">{"".join(groups)}'
        '<p><label for="comment">Ý kiến góp ý (không bắt buộc)</label><br>'
        f'<textarea id="comment" name="comment" rows="4" cols="50" maxlength="{COMMENT_MAX}">'
        "</textarea></p>"
        '<button type="submit">Gửi đánh giá</button></form>'
        '<p class="note">Xin đừng ghi số điện thoại, số định danh hay thông tin cá nhân'
        " vào ý kiến góp ý.</p>"
    )


async def _known(request: Request, link: RatingLink) -> str | Response:
    """The dossier's code, or the refusal when it is unknown or rated already."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        code = await store.dossier_code(conn, link.dossier_id)
        rated = await store.rated_at(conn, link.dossier_id) if code is not None else None
    if code is None:
        return _unknown(request)
    if rated is not None:
        return _already(request)
    return code


def _unknown(request: Request) -> Response:
    return _refuse(
        request,
        404,
        "Không tìm thấy hồ sơ",
        "Notify has not heard of this dossier.",
        "Không tìm thấy hồ sơ của liên kết này.",
    )


def _already(request: Request) -> Response:
    return _refuse(
        request,
        409,
        ALREADY_RATED,
        "One rating per dossier; this dossier was rated already.",
        "Mỗi hồ sơ chỉ được đánh giá một lần. Cảm ơn Ông/Bà đã góp ý.",
    )


# A forged, tampered or expired link: 403; an unknown dossier 404; rated already 409.
REFUSALS = problem_responses(403, 404, 409, 422)


@router.get(
    "/d/{token}",
    response_class=HTMLResponse,
    responses=REFUSALS,
    summary="The rating page a result message links to (a form; changes nothing).",
)
async def rating_page(request: Request, token: Token) -> Response:
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    code = await _known(request, link)
    if isinstance(code, Response):
        return code
    return _page("Đánh giá mức độ hài lòng", _form(token, code))


@router.post(
    "/d/{token}",
    response_class=HTMLResponse,
    status_code=201,
    responses=REFUSALS,
    summary="Record the citizen's rating of the dossier the signed link names (once).",
)
async def rate(request: Request, token: Token) -> Response:
    link = _check(request, token)
    if isinstance(link, Response):
        return link
    try:
        fields = dict(parse_qsl((await request.body()).decode("utf-8"), max_num_fields=16))
        rating = parse_form(fields)
    except (UnicodeDecodeError, ValueError) as exc:
        text = str(exc) if isinstance(exc, RatingError) else "Biểu mẫu không hợp lệ."
        return _refuse(request, 422, "Đánh giá chưa hợp lệ", text, text)
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        code = await store.dossier_code(conn, link.dossier_id)
        added = code is not None and await store.add_rating(
            runtime, conn, link.dossier_id, code, rating
        )
    if code is None:
        return _unknown(request)
    if not added:
        return _already(request)
    if _browser(request):
        return _page(
            THANKS,
            "<p>Đánh giá của Ông/Bà đã được ghi nhận và giúp cơ quan cải thiện chất lượng"
            " phục vụ.</p>",
            201,
        )
    body: dict[str, Any] = {
        "dossier_code": code,
        "scores": rating.scores,
        "comment": rating.comment,
    }
    return JSONResponse(body, status_code=201, headers=_HEADERS)
