"""Who is calling: a portal by its API key, or an operator by the service token."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from services.intake.adapters import portals
from services.intake.adapters.portals import Portal
from services.intake.handlers import IntakeContext
from services.runtime.problems import ProblemError

CACHE_SECONDS = 30.0
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The portal's API key (ask the province's operators for one).",
)


async def get_context(request: Request) -> IntakeContext:
    ctx: IntakeContext = request.app.state.runtime.state["intake"]
    return ctx


ContextDep = Annotated[IntakeContext, Depends(get_context)]


# The console (routing's credential) reads dossiers for operators it has authorised.
CONSOLE_PORTAL = Portal(id="service:routing", units=frozenset({portals.ALL_UNITS}))


async def current_portal(
    request: Request,
    ctx: ContextDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    x_service_token: Annotated[str | None, Header(max_length=512, include_in_schema=False)] = None,
) -> Portal:
    if not api_key and x_service_token and request.method == "GET":
        ctx.runtime.credentials.require(x_service_token, ("routing",))
        return CONSOLE_PORTAL
    if not api_key:
        raise ProblemError(401, "Thiếu khóa API", "Send the portal's key in X-API-Key.")
    portal = await portal_of_key(ctx, api_key)
    if portal is None:
        raise ProblemError(401, "Khóa API không hợp lệ", "The X-API-Key is unknown or revoked.")
    return portal


async def portal_of_key(ctx: IntakeContext, api_key: str) -> Portal | None:
    """The portal a key belongs to (None: unknown or revoked), cached for a short while."""
    digest = portals.key_hash(api_key)
    cached = ctx.portal_cache.get(digest)
    now = time.monotonic()
    if cached is None or cached[1] < now:
        async with ctx.runtime.pool.acquire() as conn:
            portal = await portals.portal_for_key(conn, api_key)
        cached = (portal, now + CACHE_SECONDS)
        if len(ctx.portal_cache) > 10_000:
            ctx.portal_cache.clear()
        ctx.portal_cache[digest] = cached
    return cached[0]


def trace_trust(ctx: IntakeContext) -> Callable[[Mapping[str, str]], Awaitable[bool]]:
    """For the tracing middleware: a request with a valid portal key may continue its
    ``traceparent`` (the same cached look-up its route then makes)."""

    async def trusted(headers: Mapping[str, str]) -> bool:
        api_key = headers.get("x-api-key")
        if not api_key or len(api_key) > 512:
            return False
        return await portal_of_key(ctx, api_key) is not None

    return trusted


PortalDep = Annotated[Portal, Depends(current_portal)]


async def operator(
    ctx: ContextDep,
    x_service_token: Annotated[
        str | None, Header(description="The operators' own credential.", max_length=512)
    ] = None,
) -> None:
    ctx.runtime.credentials.require(x_service_token, ("ops",))


OperatorDep = Depends(operator)
