"""Versioned notification templates and the pure `render` function.

An event type fixes the params a producer must send; each channel has its own
template for it. A rendered message records template id and version so that what a
citizen received can be reproduced later, and carries the ids under which the text
was registered with SMS carriers and Zalo (they reject unregistered content).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from string import Template
from typing import Literal

from services.notify.domain.catalog import DEFAULT_CATALOG
from services.notify.domain.sms_text import SmsText, describe, unaccent
from services.notify.domain.template_model import (
    Catalog,
    Channel,
    ChannelTemplate,
    EmailTemplate,
    EventSpec,
    ParamKind,
    SmsTemplate,
    ZaloTemplate,
    ZnsParam,
)

__all__ = [
    "Catalog",
    "Channel",
    "ChannelTemplate",
    "EmailTemplate",
    "EventSpec",
    "InvalidParamError",
    "MissingParamsError",
    "ParamKind",
    "RenderedMessage",
    "SmsTemplate",
    "SmsVariants",
    "TemplateError",
    "UnknownTemplateError",
    "ZaloTemplate",
    "ZnsParam",
    "render",
    "validate_catalog",
]


class TemplateError(Exception):
    """Base class for every rendering problem; callers catch this one."""


class UnknownTemplateError(TemplateError):
    def __init__(self, event_type: str, channel: str) -> None:
        super().__init__(f"no template for event type {event_type!r} on channel {channel!r}")
        self.event_type = event_type
        self.channel = channel


class MissingParamsError(TemplateError):
    def __init__(self, template_ref: str, missing: Sequence[str]) -> None:
        self.template_ref = template_ref
        self.missing = tuple(sorted(missing))
        super().__init__(f"template {template_ref} is missing params: {', '.join(self.missing)}")


class InvalidParamError(TemplateError):
    def __init__(self, template_ref: str, name: str, reason: str) -> None:
        self.template_ref = template_ref
        self.name = name
        super().__init__(f"template {template_ref}: param {name!r} {reason}")


@dataclass(frozen=True, slots=True)
class SmsVariants:
    accented: SmsText
    unaccented: SmsText


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    event_type: str
    channel: Channel
    template_id: str
    template_version: int
    provider_template_ids: Mapping[str, str]
    text: str  # accented plain text (SMS body, ZNS preview, email text part)
    subject: str | None = None
    html: str | None = None
    sms: SmsVariants | None = None
    zns_template_data: Mapping[str, str] | None = None
    truncated_params: tuple[str, ...] = field(default=())

    @property
    def template_ref(self) -> str:
        return f"{self.template_id}@{self.template_version}"


_Style = Literal["inline", "text", "html"]


def _format_amount(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def _format_value(ref: str, name: str, kind: ParamKind, value: object, style: _Style) -> str:
    if kind is ParamKind.TEXT:
        if not isinstance(value, str):
            raise InvalidParamError(ref, name, "must be a string")
        return value.strip()
    if kind is ParamKind.DATE:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value[:10])
            except ValueError as exc:
                raise InvalidParamError(ref, name, "must be an ISO date") from exc
        if not isinstance(value, date):  # datetime is a date subclass
            raise InvalidParamError(ref, name, "must be a date")
        day = value.date() if isinstance(value, datetime) else value
        return day.strftime("%d/%m/%Y")
    if kind is ParamKind.MONEY:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise InvalidParamError(ref, name, "must be a whole amount in đồng")
        if value < 0 or value != int(value):
            raise InvalidParamError(ref, name, "must be a non-negative whole amount")
        return _format_amount(int(value))
    items = _as_items(ref, name, value)
    if style == "html":
        # Items are escaped here; the surrounding markup is trusted template text.
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
    if style == "text":
        return "\n".join(f"- {i}" for i in items)
    return "; ".join(items)


def _as_items(ref: str, name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidParamError(ref, name, "must be a list of strings")
    items = [i.strip() for i in value if isinstance(i, str) and i.strip()]
    if len(items) != len(value):
        raise InvalidParamError(ref, name, "must contain only non-empty strings")
    return items


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, Sequence) and len(value) == 0


def _values(
    ref: str, spec: EventSpec, params: Mapping[str, object], style: _Style
) -> dict[str, str]:
    values = {
        name: _format_value(ref, name, kind, params[name], style)
        for name, kind in spec.params.items()
    }
    if style == "html":
        return {
            name: v if spec.params[name] is ParamKind.LIST else html.escape(v)
            for name, v in values.items()
        }
    return values


def _truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _render_with(
    spec: EventSpec, tpl: ChannelTemplate, params: Mapping[str, object]
) -> RenderedMessage:
    ref = f"{tpl.template_id}@{tpl.version}"
    inline = _values(ref, spec, params, "inline")
    message = RenderedMessage(
        event_type=spec.event_type,
        channel=tpl.channel,
        template_id=tpl.template_id,
        template_version=tpl.version,
        provider_template_ids=dict(tpl.provider_template_ids),
        text="",
    )
    if isinstance(tpl, SmsTemplate):
        text = Template(tpl.body).substitute(inline)
        variants = SmsVariants(accented=describe(text), unaccented=describe(unaccent(text)))
        return replace(message, text=text, sms=variants)
    if isinstance(tpl, ZaloTemplate):
        data = {z: _truncate(inline[p.source], p.max_length) for z, p in tpl.params.items()}
        # ZNS rejects over-long params (-1121); the full text stays on the portal.
        truncated = tuple(z for z, p in tpl.params.items() if data[z] != inline[p.source])
        text = Template(tpl.preview).substitute(inline)
        return replace(message, text=text, zns_template_data=data, truncated_params=truncated)
    return replace(
        message,
        subject=Template(tpl.subject).substitute(inline),
        text=Template(tpl.text).substitute(_values(ref, spec, params, "text")),
        html=Template(tpl.html).substitute(_values(ref, spec, params, "html")),
    )


def render(
    event_type: str,
    channel: Channel | str,
    params: Mapping[str, object],
    catalog: Catalog = DEFAULT_CATALOG,
) -> RenderedMessage:
    """Render the current template of `event_type` for `channel`; pure, no I/O.

    Every param the event type declares is required (None, "" and [] count as
    missing); extra params are ignored.
    """
    try:
        chan = Channel(channel)
    except ValueError:
        raise UnknownTemplateError(event_type, str(channel)) from None
    spec = catalog.events.get(event_type)
    tpl = catalog.templates.get((event_type, chan))
    if spec is None or tpl is None:
        raise UnknownTemplateError(event_type, chan.value)
    missing = [name for name in spec.params if _is_missing(params.get(name))]
    if missing:
        raise MissingParamsError(f"{tpl.template_id}@{tpl.version}", missing)
    return _render_with(spec, tpl, params)


def _template_texts(tpl: ChannelTemplate) -> list[str]:
    if isinstance(tpl, SmsTemplate):
        return [tpl.body]
    if isinstance(tpl, ZaloTemplate):
        return [tpl.preview]
    return [tpl.subject, tpl.text, tpl.html]


def validate_catalog(catalog: Catalog) -> list[str]:
    """Problems an administrator must fix before a catalog can be used; [] when sound."""
    problems: list[str] = []
    for (event_type, chan), tpl in catalog.templates.items():
        spec = catalog.events.get(event_type)
        if spec is None:
            problems.append(f"{tpl.template_id}: unknown event type {event_type!r}")
            continue
        if tpl.channel is not chan:
            problems.append(f"{tpl.template_id}: filed under {chan} but is {tpl.channel}")
        for text in _template_texts(tpl):
            t = Template(text)
            if not t.is_valid():
                problems.append(f"{tpl.template_id}: malformed placeholder")
            unknown = set(t.get_identifiers()) - set(spec.params)
            if unknown:
                problems.append(f"{tpl.template_id}: undeclared params {sorted(unknown)}")
        if isinstance(tpl, ZaloTemplate):
            bad = {p.source for p in tpl.params.values()} - set(spec.params)
            if bad:
                problems.append(f"{tpl.template_id}: ZNS params from undeclared {sorted(bad)}")
        if isinstance(tpl, SmsTemplate | ZaloTemplate) and not tpl.provider_template_ids:
            problems.append(f"{tpl.template_id}: no provider template id registered")
    return problems
