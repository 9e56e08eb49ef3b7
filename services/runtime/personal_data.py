"""The record of processing (``docs/personal-data.yaml``) as data, and its checks.

The record lists, per service, table and column, the personal data held, why, who reads
it and how long it is kept. :func:`unrecorded_columns` is what keeps it honest: given the
columns the migrated schemas really have, it names every column that is named like
personal data and is not in the record (a migration that adds ``citizen_phone`` fails
the test until the record says what it is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

RECORD_PATH = Path(__file__).resolve().parents[2] / "docs" / "personal-data.yaml"
SERVICES = ("intake", "routing", "sla", "notify")
ALL = "all"  # a runtime table every service's schema has
# Column names that say "this is about a person". Deliberately broad: a false alarm costs
# one line in the record, a miss costs an unrecorded copy of someone's data.
PERSONAL_NAME = re.compile(
    r"(phone|e_?mail|citizen|full_?name|first_?name|last_?name|address|birth|passport"
    r"|cccd|cmnd|id_?number|identity|applicant|contact|username|recipient|holder)",
    re.IGNORECASE,
)
Category = Literal["basic", "sensitive", "pseudonymous", "account"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Retention(Frozen):
    service: str
    default_days: float | None = None
    what: str


class Store(Frozen):
    service: str
    table: str
    column: str
    keys: tuple[str, ...] = ()
    data: str
    category: Category
    purpose: str
    legal_basis: str
    readers: tuple[str, ...] = Field(min_length=1)
    retention: str


class Record(Frozen):
    version: int
    controller: str
    processor: str
    legal_bases: dict[str, str]
    retention: dict[str, Retention]
    stores: tuple[Store, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        for store in self.stores:
            where = f"{store.service}.{store.table}.{store.column}"
            if store.service not in (*SERVICES, ALL):
                raise ValueError(f"{where}: unknown service")
            if store.legal_basis not in self.legal_bases:
                raise ValueError(f"{where}: unknown legal basis {store.legal_basis!r}")
            # Either a named retention setting or a sentence saying what decides.
            if store.retention not in self.retention and " " not in store.retention:
                raise ValueError(f"{where}: unknown retention {store.retention!r}")
        seen = [(s.service, s.table, s.column) for s in self.stores]
        if len(seen) != len(set(seen)):
            raise ValueError("a column is listed twice")
        return self

    def columns_of(self, service: str) -> set[tuple[str, str]]:
        """(table, column) pairs recorded for a service's schema (its own and ``all``)."""
        return {(s.table, s.column) for s in self.stores if s.service in (service, ALL)}

    def store(self, service: str, table: str, column: str) -> Store:
        for s in self.stores:
            if (s.service, s.table, s.column) == (service, table, column):
                return s
        raise KeyError((service, table, column))


def load_record(path: Path = RECORD_PATH) -> Record:
    return Record.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def looks_personal(column: str) -> bool:
    return PERSONAL_NAME.search(column) is not None


def unrecorded_columns(
    record: Record, service: str, columns: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Columns named like personal data that the record does not list for ``service``."""
    listed = record.columns_of(service)
    return sorted(
        (table, column)
        for table, column in set(columns)
        if looks_personal(column) and (table, column) not in listed
    )


def missing_columns(
    record: Record, service: str, columns: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Columns the record lists for ``service`` that its schema does not have."""
    return sorted(record.columns_of(service) - set(columns))
