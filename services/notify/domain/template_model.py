"""The shape of notification templates: event specs and one template per channel.

Kept apart from rendering so that template data (`catalog.py`) depends only on this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Channel(StrEnum):
    SMS = "sms"
    ZALO = "zalo"
    EMAIL = "email"


class ParamKind(StrEnum):
    TEXT = "text"
    DATE = "date"  # datetime.date / datetime / ISO string → dd/mm/yyyy
    MONEY = "money"  # whole đồng (int or Decimal) → "1.250.000 đồng"
    LIST = "list"  # non-empty sequence of strings


@dataclass(frozen=True, slots=True)
class EventSpec:
    event_type: str
    params: Mapping[str, ParamKind]


@dataclass(frozen=True, slots=True)
class SmsTemplate:
    template_id: str
    version: int
    body: str
    # Brandname template id per SMS provider name ("esms", "viettel", ...).
    provider_template_ids: Mapping[str, str]
    channel: Literal[Channel.SMS] = Channel.SMS


@dataclass(frozen=True, slots=True)
class ZnsParam:
    source: str  # our event param
    max_length: int  # the limit Zalo set for this param type when the template was approved


@dataclass(frozen=True, slots=True)
class ZaloTemplate:
    template_id: str
    version: int
    zns_template_id: str
    params: Mapping[str, ZnsParam]  # ZNS param name → source
    preview: str  # what the approved ZNS layout shows, for logs and the portal
    channel: Literal[Channel.ZALO] = Channel.ZALO

    @property
    def provider_template_ids(self) -> Mapping[str, str]:
        return {"zalo": self.zns_template_id}


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    template_id: str
    version: int
    subject: str
    text: str
    html: str
    channel: Literal[Channel.EMAIL] = Channel.EMAIL

    @property
    def provider_template_ids(self) -> Mapping[str, str]:
        return {}


ChannelTemplate = SmsTemplate | ZaloTemplate | EmailTemplate


@dataclass(frozen=True, slots=True)
class Catalog:
    events: Mapping[str, EventSpec]
    templates: Mapping[tuple[str, Channel], ChannelTemplate]
