"""A province's year, simulated: realistic arrivals replayed through the real services
in accelerated time, then SLA's reports printed beside the seed's figures.

The seed (``/work/shared/DOMAIN.md``): a province's iGate system took 694,611 dossiers in
nine months, 98.23 % on time (about 926,000 a year). ``--scale`` replays a share of that
over ``--start`` .. ``--start + --days``:

* **arrivals**: in person inside office hours (07:30–11:30, 13:30–17:00 Vietnam time) on
  the units' working days (the working calendar: holidays, make-up days, Saturdays at
  the communes that serve them), online at any hour from 06:00 to 23:00; a Monday peak
  (``WEEKDAY``), seasonal months (``MONTH``), the Tết dip (the working days either side
  of the Tết holiday, ``TET_BEFORE`` / ``TET_AFTER``); Poisson counts per day;
* **the procedure mix** of the reference data (``MIX``: civil status heavy, land slow)
  at the four communes, with the chain options a family picks;
* **officials' handling**: each step finishes after a share of its allotment (in the
  unit's working hours; ``HANDLING``); agency systems answer within hours; the citizen
  pays an assessed obligation and brings missing papers after a while;
* **supplements** (``SUPPLEMENT_SHARE``, a few needing a second request, which counts
  late) and **late units** (``LATE_SHARE`` per field: the step finishes four working
  hours after the dossier's appointment), tuned so on-time lands near the seed's share.

Everything goes through the public APIs: intake's REST with the portal key (submission,
supplements, payments), routing's operator API as the development accounts
``canbo@<unit>`` / ``demo`` (claim, complete, supplement request, obligation), agency
systems' callback with their credential. Each action runs at its simulated instant,
converted to wall time by the clock the services share (``CLOCK_EPOCH``,
``CLOCK_ANCHOR``, ``CLOCK_RATE``; ``services.runtime.clock``). The generator keeps its own
ledger (which dossiers it made late, which it supplemented); at the end it reads SLA's
``/v1/reports`` by month, unit and field and prints them beside the seed.

``python -m bench.province_year --scale 0.002 --days 91 --rate 3000`` (``make simulate``)
starts its own stack (the four services and the dev servers, own topic and schema
prefix, the clock set on every service), as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from reference import load_unit_calendars, reference
from services.runtime.clock import Clock
from services.runtime.credentials import dev_service_token
from services.workcal.calendar import WorkingCalendar
from services.workcal.model import UnitCalendarConfig
from tests.support.officials import application
from tests.support.portal import submit_as_portal

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PROFILE = "three_level"

# The seed's figures (DOMAIN.md).
SEED_COUNT = 694_611
SEED_MONTHS = 9
SEED_ON_TIME = Decimal("98.23")
YEAR_TOTAL = round(SEED_COUNT * 12 / SEED_MONTHS)  # 926,148

# The four communes of the reference province receive the dossiers (equal populations).
COMMUNES = ("000.01.01.H99", "000.02.01.H99", "000.01.02.H99", "000.02.02.H99")
# Procedure mix: a ward's quarter was 71 % civil status, 27 % land (DOMAIN.md).
MIX: dict[str, float] = {
    "1.001193": 0.30,  # khai sinh
    "1.004873": 0.18,  # xác nhận tình trạng hôn nhân
    "1.012601": 0.17,  # liên thông khai sinh – thường trú – BHYT
    "1.012602": 0.08,  # liên thông khai tử
    "1.012603": 0.27,  # đất đai → nghĩa vụ tài chính (slow, most of the late ones)
}
CIVIL_STATUS_MIX = {k: v for k, v in MIX.items() if k != "1.012603"}
ONLINE_SHARE = 0.24  # the district's 2,260 online of 9,266 received
MONTH = {1: 1.10, 2: 0.80, 3: 1.05, 4: 0.95, 5: 1.0, 6: 1.0}
MONTH |= {7: 1.0, 8: 0.95, 9: 0.95, 10: 1.0, 11: 1.05, 12: 1.15}
WEEKDAY = {0: 1.30, 1: 1.05, 2: 1.0, 3: 0.95, 4: 0.85, 5: 0.45, 6: 0.0}
TET_BEFORE = (3, 0.6)  # the last 3 working days before the Tết holiday: 60 %
TET_AFTER = (5, 0.7)  # the first 5 working days after it: 70 %
ONLINE_OFF_DAY = 0.35  # online submissions on days off, relative to a working day
# In-person sessions (Vietnam time); the morning takes more.
SESSIONS = ((dtime(7, 30), dtime(11, 30), 0.6), (dtime(13, 30), dtime(17, 0), 0.4))
SATURDAY_SESSION = (dtime(7, 30), dtime(11, 30))
# A step finishes after this share of its allotment: 5 % + 35 % × Beta(2, 3) (≤ 40 %).
HANDLING = (0.05, 0.35, 2.0, 3.0)
# Per-dossier chance that one unit overruns (finishes after the appointment), by field.
LATE_SHARE = {"dat_dai": 0.043, "ho_tich": 0.0075}
LATE_BY_HOURS = Decimal(4)  # working hours after the appointment
SUPPLEMENT_SHARE = 0.06
SECOND_SUPPLEMENT_SHARE = 0.01  # of the supplemented ones
CITIZEN_HOURS = (2.0, 16.0)  # working hours the citizen takes to bring papers or pay
AGENCY_HOURS = (0.5, 3.0)  # hours an agency system takes to answer (its timeout is 8 h)
OBLIGATION_VND = 12_500_000
HTTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Arrival:
    """One planned dossier: when, what, where, and what will happen to it."""

    at: datetime  # business instant (UTC)
    procedure: str
    unit: str
    channel: int  # 1 in person, 2 online
    chosen: tuple[str, ...] = ()
    late_step: str | None = None  # the step whose unit overruns
    supplements: int = 0  # 0, 1 or 2 requests (at the first step)
    seed: int = 0


@dataclass
class Ledger:
    """What the generator did to one dossier."""

    arrival: Arrival
    dossier_id: str = ""
    code: str = ""
    received_at: datetime | None = None
    appointment_at: datetime | None = None
    made_late: bool = False
    supplements_made: int = 0
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (step, unit, at)
    ended_at: datetime | None = None
    status: int = 0
    error: str | None = None
    # Working hours the dossier's clock stood still (supplements, the obligation).
    paused_hours: Decimal = Decimal(0)
    # When the request that ended it was sent, and whether that was past the deadline
    # although the generator meant it to be in time: the system's own latency at this
    # acceleration (one wall second is ``rate`` business seconds) made it late.
    final_sent_at: datetime | None = None
    lagged: bool = False
    pause_from: datetime | None = None

    @property
    def planned_late(self) -> bool:
        """Late by the generator's own doing: a unit overran, or two supplements (766)."""
        return self.made_late or self.supplements_made > 1

    @property
    def expected_late(self) -> bool:
        return self.planned_late or self.lagged


# --------------------------------------------------------------------------- the plan


def calendars() -> dict[str, WorkingCalendar]:
    configs = load_unit_calendars(PROFILE)
    return {code: WorkingCalendar(cfg) for code, cfg in configs.items()}


def calendar_of(cals: dict[str, WorkingCalendar], unit: str | None) -> WorkingCalendar:
    if unit and unit in cals:
        return cals[unit]
    return cals.setdefault("*", WorkingCalendar(UnitCalendarConfig()))


def tet_days(cal: WorkingCalendar, year: int) -> tuple[date, date] | None:
    """The Tết holiday of ``year``: the longest run of weekdays off in January–February."""
    best: tuple[date, date] | None = None
    run: list[date] = []
    d = date(year, 1, 1)
    while d.month <= 2:
        if d.weekday() < 5 and not cal.is_working_day(d):
            run.append(d)
        elif d.weekday() < 5:
            if run and (best is None or (run[-1] - run[0]) > (best[1] - best[0])):
                best = (run[0], run[-1])
            run = []
        d += timedelta(days=1)
    return best


def _tet_factor(cal: WorkingCalendar, d: date) -> float:
    tet = tet_days(cal, d.year)
    if tet is None or not cal.is_working_day(d):
        return 1.0
    before: list[date] = []
    after: list[date] = []
    x = tet[0] - timedelta(days=1)
    while len(before) < TET_BEFORE[0]:
        if cal.is_working_day(x):
            before.append(x)
        x -= timedelta(days=1)
    x = tet[1] + timedelta(days=1)
    while len(after) < TET_AFTER[0]:
        if cal.is_working_day(x):
            after.append(x)
        x += timedelta(days=1)
    if d in before:
        return TET_BEFORE[1]
    if d in after:
        return TET_AFTER[1]
    return 1.0


def in_person_weight(cal: WorkingCalendar, d: date) -> float:
    if not cal.is_working_day(d):
        return 0.0
    return MONTH[d.month] * WEEKDAY[d.weekday()] * _tet_factor(cal, d)


def online_weight(cal: WorkingCalendar, d: date) -> float:
    off = not cal.is_working_day(d)
    return MONTH[d.month] * (ONLINE_OFF_DAY if off else WEEKDAY[d.weekday()])


def _days(start: date, end: date) -> Iterator[date]:
    d = start
    while d < end:
        yield d
        d += timedelta(days=1)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _at(d: date, lo: dtime, hi: dtime, rng: random.Random) -> datetime:
    a = datetime.combine(d, lo, VN)
    b = datetime.combine(d, hi, VN)
    return (a + (b - a) * rng.random()).astimezone(UTC)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def _steps_that_run(procedure: str, chosen: Sequence[str]) -> list[str]:
    """The task steps (an official acts) a dossier with these choices goes through."""
    proc = reference(PROFILE).procedure(procedure)
    steps = proc.workflows[-1].steps
    return [
        s.id
        for s in steps
        if s.kind.value == "task" and (s.subprocedure is None or s.subprocedure in chosen)
    ]


def plan_arrivals(
    start: date,
    days: int,
    scale: float,
    seed: int = 1,
    mix: dict[str, float] | None = None,
) -> list[Arrival]:
    """The dossiers of ``days`` from ``start`` at ``scale`` of the seed's year (pure)."""
    mix = mix or MIX
    rng = random.Random(seed)
    cals = calendars()
    default = calendar_of(cals, None)
    year = [date(start.year, 1, 1) + timedelta(days=i) for i in range(365)]
    per_year_person = YEAR_TOTAL * scale * (1 - ONLINE_SHARE)
    per_year_online = YEAR_TOTAL * scale * ONLINE_SHARE
    w_person = sum(in_person_weight(default, d) for d in year)
    w_online = sum(online_weight(default, d) for d in year)
    ref = reference(PROFILE)
    out: list[Arrival] = []
    for d in _days(start, start + timedelta(days=days)):
        person = per_year_person * in_person_weight(default, d) / w_person
        online = per_year_online * online_weight(default, d) / w_online
        times: list[tuple[datetime, int, str | None]] = []
        for _ in range(_poisson(rng, person)):
            lo, hi, _share = rng.choices(SESSIONS, [s[2] for s in SESSIONS])[0]
            times.append((_at(d, lo, hi, rng), 1, None))
        # Saturday desks at the communes that serve Saturdays (the default calendar is off).
        if d.weekday() == 5:
            serving = [u for u in COMMUNES if calendar_of(cals, u).is_working_day(d)]
            lam = per_year_person * MONTH[d.month] * WEEKDAY[5] / w_person
            for _ in range(_poisson(rng, lam * len(serving) / len(COMMUNES))):
                times.append((_at(d, *SATURDAY_SESSION, rng), 1, rng.choice(serving)))
        for _ in range(_poisson(rng, online)):
            times.append((_at(d, dtime(6, 0), dtime(23, 0), rng), 2, None))
        for at, channel, unit in sorted(times, key=lambda t: t[0]):
            procedure = _weighted(rng, mix)
            proc = ref.procedure(procedure)
            chosen: tuple[str, ...] = ()
            if proc.chain is not None:
                mandatory = sorted(proc.chain.mandatory)
                others = [o.code for o in proc.chain.options if o.code not in mandatory]
                want = rng.randint(max(proc.chain.min_choices - len(mandatory), 0), len(others))
                chosen = (*mandatory, *rng.sample(others, want))
            late = rng.random() < LATE_SHARE.get(proc.field, 0.01)
            steps = _steps_that_run(procedure, chosen)
            late_step = None
            if late:
                # Land: the land registry office most often; otherwise any unit.
                slow = [s for s in steps if s == "van_phong_dang_ky"]
                late_step = slow[0] if slow and rng.random() < 0.6 else rng.choice(steps)
            supplements = 0
            if not late and rng.random() < SUPPLEMENT_SHARE:
                supplements = 2 if rng.random() < SECOND_SUPPLEMENT_SHARE else 1
            out.append(
                Arrival(
                    at=at,
                    procedure=procedure,
                    unit=unit or rng.choice(COMMUNES),
                    channel=channel,
                    chosen=chosen,
                    late_step=late_step,
                    supplements=supplements,
                    seed=rng.randrange(2**31),
                )
            )
    return out


# --------------------------------------------------------------------------- the run


@dataclass
class Urls:
    intake: str
    routing: str
    sla: str


class Failed(RuntimeError):
    pass


class Simulation:
    """Drives the planned dossiers through the services, each action at its instant."""

    def __init__(self, urls: Urls, clock: Clock, concurrency: int = 16) -> None:
        self.urls = urls
        self.clock = clock
        self.cals = calendars()
        self.ref = reference(PROFILE)
        # Idle connections close before uvicorn's keep-alive (5 s) would drop them mid-send.
        limits = httpx.Limits(max_connections=concurrency * 2, keepalive_expiry=2.0)
        self.http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=limits)
        self.gate = asyncio.Semaphore(concurrency)
        self.tokens: dict[str, tuple[str, float]] = {}
        self.logins: dict[str, asyncio.Lock] = {}
        self.warmed_up_at: datetime | None = None
        self.ledger: list[Ledger] = []
        self.actions: Counter[str] = Counter()
        self.late_starts = 0  # actions that ran later than planned (the system lagged)
        self.claimed: set[str] = set()
        self.refused_second_requests = 0

    # -- time

    async def until(self, business: datetime) -> None:
        wait = (self.clock.wall_of(business) - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -1.0:
            self.late_starts += 1

    def now(self) -> datetime:
        return self.clock.now()

    def after(self, unit: str | None, start: datetime, hours: float | Decimal) -> datetime:
        cal = calendar_of(self.cals, unit)
        return cal.add_working_hours(start, Decimal(str(round(float(hours), 4))))

    # -- HTTP

    async def _token(self, unit: str, fresh: bool = False) -> str:
        """``canbo@unit``'s access token, one login per unit (password hashing is dear)."""
        async with self.logins.setdefault(unit, asyncio.Lock()):
            cached = self.tokens.get(unit)
            if cached and not fresh and cached[1] > time.time() + 60:
                return cached[0]
            answer = await self.http.post(
                f"{self.urls.routing}/v1/auth/login",
                json={"username": f"canbo@{unit}", "password": "demo"},
            )
            if answer.status_code != 200:
                raise Failed(f"login canbo@{unit}: {answer.status_code} {answer.text[:200]}")
            body = answer.json()
            self.tokens[unit] = (body["access_token"], time.time() + body["expires_in"])
            token: str = body["access_token"]
            return token

    async def warm_up(self) -> None:
        """Before the period: every unit's official logs in, and one dossier goes all the
        way through the four services (consumer groups joined, caches warm). It ends
        before the period starts, so no report of the period counts it."""
        units = sorted({u.code for u in self.ref.units})
        await asyncio.gather(*(self._token(u) for u in units))
        led = Ledger(Arrival(self.now(), "1.001193", COMMUNES[0], 2))
        answer = await self.portal("/v1/dossiers", application("1.001193", COMMUNES[0]))
        if answer.status_code != 201:
            raise Failed(f"warm-up: {answer.status_code} {answer.text[:200]}")
        led.dossier_id, led.code = answer.json()["id"], answer.json()["code"]
        view = await self._workflow(led, lambda s: bool(s["waiting_on"]))
        task = str(view["waiting_on"][0]["task_id"])
        await self._claim(led, task, COMMUNES[0])
        done = await self.official(COMMUNES[0], "POST", f"/v1/tasks/{task}/complete", {})
        if done.status_code != 200:
            raise Failed(f"warm-up: {done.status_code} {done.text[:200]}")
        await self._sla_knows(led.dossier_id)
        self.warmed_up_at = self.now()

    async def _sla_knows(self, dossier_id: str, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        headers = {"X-Service-Token": dev_service_token("ops")}
        while time.monotonic() < deadline:
            answer = await self.http.get(
                f"{self.urls.sla}/v1/dossiers/{dossier_id}/deadlines", headers=headers
            )
            if answer.status_code == 200 and (answer.json().get("dossier") or {}).get("ended_at"):
                return
            await asyncio.sleep(0.3)
        raise Failed("warm-up: SLA never heard the dossier end")

    async def official(
        self, unit: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        async with self.gate:
            for attempt in range(2):
                headers = {"Authorization": f"Bearer {await self._token(unit, attempt > 0)}"}
                try:
                    answer = await self.http.request(
                        method, f"{self.urls.routing}{path}", json=body, headers=headers
                    )
                except httpx.TransportError:
                    if method != "GET":
                        raise
                    await asyncio.sleep(0.5)
                    answer = await self.http.request(
                        method, f"{self.urls.routing}{path}", json=body, headers=headers
                    )
                if answer.status_code != 401:
                    return answer
            return answer

    async def portal(self, path: str, body: dict[str, Any], key: str = "") -> httpx.Response:
        """The portal's call: a 503 (nothing stored) sent again after its Retry-After; with
        ``key`` (an Idempotency-Key) a failed connection too, and intake answers the same
        receipt."""
        headers = {"X-API-Key": "dev-portal-key-change-me"}
        if key:
            headers["Idempotency-Key"] = key
        async with self.gate:
            return await submit_as_portal(self.http, f"{self.urls.intake}{path}", body, headers)

    # -- one dossier

    async def run(self, arrivals: Sequence[Arrival]) -> list[Ledger]:
        await self.warm_up()
        if arrivals and self.clock.wall_of(arrivals[0].at) < datetime.now(UTC):
            print("warning: the stack was ready after the first arrival", file=sys.stderr)
        self.ledger = [Ledger(a) for a in arrivals]
        await asyncio.gather(*(self._dossier(led) for led in self.ledger))
        await self.http.aclose()
        return self.ledger

    async def _dossier(self, led: Ledger) -> None:
        try:
            await self._live(led)
        except Exception as exc:  # recorded in the ledger, reported at the end
            while isinstance(exc, ExceptionGroup):
                exc = exc.exceptions[0]
            led.error = f"{type(exc).__name__}: {exc}"[:300]

    async def _live(self, led: Ledger) -> None:
        a = led.arrival
        await self.until(a.at)
        body = application(a.procedure, receiving_unit=a.unit, chosen=list(a.chosen))
        body["channel"] = a.channel
        answer = await self.portal("/v1/dossiers", body, key=f"sim-{a.seed}-{a.at.timestamp()}")
        self.actions["submit"] += 1
        if answer.status_code != 201:
            raise Failed(f"submit: {answer.status_code} {answer.text[:200]}")
        receipt = answer.json()
        led.dossier_id, led.code = receipt["id"], receipt["code"]
        led.received_at = datetime.fromisoformat(receipt["received_at"])
        led.appointment_at = datetime.fromisoformat(receipt["appointment_at"])
        rng = random.Random(a.seed)
        handled: set[str] = set()
        state = await self._workflow(led, lambda s: bool(s["waiting_on"]))
        async with asyncio.TaskGroup() as group:

            def spawn(entries: list[dict[str, Any]], start: datetime) -> None:
                for w in entries:
                    key = w.get("task_id") or w.get("correlation_id")
                    if not key or key in handled:
                        continue
                    handled.add(key)
                    seed = rng.randrange(2**31)
                    group.create_task(self._entry(led, w, start, random.Random(seed), spawn))

            clock_start = calendar_of(self.cals, a.unit).clock_start(led.received_at)
            spawn(state["waiting_on"], clock_start)
        final = await self._workflow(led, lambda s: s["status"] >= 9 or not s["waiting_on"])
        led.status = int(final["status"])
        if led.ended_at is None:
            led.ended_at = self.now()
        if not led.planned_late and led.final_sent_at is not None and led.appointment_at:
            cal = calendar_of(self.cals, a.unit)
            due = cal.add_working_hours(led.appointment_at, led.paused_hours)
            led.lagged = led.final_sent_at > due

    async def _workflow(self, led: Ledger, ready: Any, within: float = 120.0) -> dict[str, Any]:
        """Routing's view of the dossier once ``ready(view)`` holds (polled)."""
        deadline = time.monotonic() + within
        while True:
            answer = await self.official(
                led.arrival.unit, "GET", f"/v1/dossiers/{led.dossier_id}/workflow"
            )
            if answer.status_code == 200:
                view: dict[str, Any] = answer.json()
                if ready(view):
                    return view
            elif answer.status_code != 404:
                raise Failed(f"workflow: {answer.status_code} {answer.text[:200]}")
            if time.monotonic() > deadline:
                raise Failed(f"workflow not ready within {within}s")
            await asyncio.sleep(0.3)

    def _allotment(self, procedure: str, step_id: str) -> float:
        for step in self.ref.procedure(procedure).workflows[-1].steps:
            if step.id == step_id:
                return float(step.hours)
        raise Failed(f"no step {step_id} in {procedure}")

    def _assesses(self, procedure: str, step_id: str) -> bool:
        """Whether the step after this one is the citizen's payment."""
        for step in self.ref.procedure(procedure).workflows[-1].steps:
            if step.kind.value == "payment" and any(e.step == step_id for e in step.after):
                return True
        return False

    def _share(self, rng: random.Random) -> float:
        lo, width, a, b = HANDLING
        return lo + width * rng.betavariate(a, b)

    async def _entry(
        self,
        led: Ledger,
        w: dict[str, Any],
        start: datetime,
        rng: random.Random,
        spawn: Any,
    ) -> None:
        a = led.arrival
        if w.get("party") == "agency" or (w.get("correlation_id") and not w.get("task_id")):
            hours = rng.uniform(*AGENCY_HOURS)
            await self.until(start + timedelta(hours=hours))
            sent = self.now()
            async with self.gate:
                answer = await self.http.post(
                    f"{self.urls.routing}/v1/external/{w['correlation_id']}/answer",
                    json={"outcome": "approved", "note": "đã cấp"},
                    headers={"X-Service-Token": dev_service_token("agency")},
                )
            self.actions["agency_answer"] += 1
            if answer.status_code != 200:
                raise Failed(f"agency answer: {answer.status_code} {answer.text[:200]}")
            unit_code = w.get("unit_code") or ""
            self._after_action(led, answer.json(), "external", unit_code, spawn, sent)
            return
        if not w.get("task_id"):
            return  # the citizen's payment: the assessing step schedules it
        task, unit = str(w["task_id"]), str(w["unit_code"])
        step_id = task.split(":")[1]
        allot = self._allotment(a.procedure, step_id)
        first = (
            led.received_at is not None
            and not led.steps
            and step_id == (_steps_that_run(a.procedure, a.chosen) or [""])[0]
        )
        if a.late_step == step_id and led.appointment_at is not None:
            led.made_late = True
            # After the appointment moved by the pauses so far (a land dossier's payment).
            finish = self.after(a.unit, led.appointment_at, led.paused_hours + LATE_BY_HOURS)
        elif first and a.supplements:
            at = self.after(unit, start, allot * 0.05)
            for _ in range(a.supplements):
                at = await self._supplement(led, task, unit, at, rng)
                at = self.after(unit, at, allot * 0.03)
            finish = self.after(unit, at, allot * 0.1)
        else:
            finish = self.after(unit, start, allot * self._share(rng))
        await self.until(finish)
        await self._claim(led, task, unit)
        if self._assesses(a.procedure, step_id):
            led.pause_from = self.now()
            answer = await self.official(
                unit, "POST", f"/v1/tasks/{task}/obligation", {"amount_vnd": OBLIGATION_VND}
            )
            self.actions["obligation"] += 1
            if answer.status_code != 200:
                raise Failed(f"obligation: {answer.status_code} {answer.text[:200]}")
            led.steps.append((step_id, unit, self.now().isoformat()))
            await self._pay(led, rng, spawn)
            return
        sent = self.now()
        answer = await self.official(unit, "POST", f"/v1/tasks/{task}/complete", {"note": ""})
        self.actions["complete"] += 1
        if answer.status_code != 200:
            raise Failed(f"complete {step_id}: {answer.status_code} {answer.text[:200]}")
        self._after_action(led, answer.json(), step_id, unit, spawn, sent)

    def _after_action(
        self,
        led: Ledger,
        result: dict[str, Any],
        step_id: str,
        unit: str,
        spawn: Any,
        sent: datetime,
    ) -> None:
        now = self.now()
        led.steps.append((step_id, unit, now.isoformat()))
        led.status = int(result.get("status", 0))
        if led.status >= 9:
            led.ended_at = now
            led.final_sent_at = sent
        spawn(result.get("waiting_on") or [], now)

    async def _claim(self, led: Ledger, task: str, unit: str) -> None:
        if task in self.claimed:
            return
        for _ in range(8):
            view = await self._workflow(led, lambda s: True)
            answer = await self.official(
                unit, "POST", f"/v1/tasks/{task}/claim", {"expected_version": view["version"]}
            )
            self.actions["claim"] += 1
            if answer.status_code == 200:
                self.claimed.add(task)
                return
            if answer.status_code != 409:
                raise Failed(f"claim: {answer.status_code} {answer.text[:200]}")
            await asyncio.sleep(0.05)  # another branch moved the version: look again
        raise Failed(f"claim {task}: the version kept moving")

    async def _supplement(
        self, led: Ledger, task: str, unit: str, at: datetime, rng: random.Random
    ) -> datetime:
        """The official asks for a missing paper; the citizen brings it some hours later.
        Returns when the papers came."""
        await self.until(at)
        await self._claim(led, task, unit)
        missing = next(iter(dict(_documents(led.arrival.procedure))))
        asked = self.now()
        answer = await self.official(
            unit,
            "POST",
            f"/v1/tasks/{task}/supplement",
            {"missing_documents": [missing], "reason": "Giấy tờ chưa rõ, đề nghị bổ sung"},
        )
        self.actions["supplement_request"] += 1
        if answer.status_code == 409 and led.supplements_made:
            self.refused_second_requests += 1  # routing asks once: the dossier goes on
            return self.now()
        if answer.status_code != 200:
            raise Failed(f"supplement request: {answer.status_code} {answer.text[:200]}")
        led.supplements_made += 1
        brought = self.after(led.arrival.unit, self.now(), rng.uniform(*CITIZEN_HOURS))
        await self.until(brought)
        self._paused(led, asked, self.now())
        doc = {"type_code": missing, "name": missing}
        doc |= {"checksum": "0" * 64, "storage_ref": f"s3://dossiers/{missing}-bo-sung.pdf"}
        answer = await self.portal(f"/v1/dossiers/{led.code}/supplements", {"documents": [doc]})
        self.actions["supplement"] += 1
        if answer.status_code >= 300:
            raise Failed(f"supplement: {answer.status_code} {answer.text[:200]}")
        await self._workflow(led, lambda s: s["status"] == 4)
        return self.now()

    def _paused(self, led: Ledger, since: datetime, until: datetime) -> None:
        cal = calendar_of(self.cals, led.arrival.unit)
        led.paused_hours += cal.working_hours_between(since, until)

    async def _pay(self, led: Ledger, rng: random.Random, spawn: Any) -> None:
        paid = self.after(led.arrival.unit, self.now(), rng.uniform(*CITIZEN_HOURS))
        await self.until(paid)
        if led.pause_from is not None:
            self._paused(led, led.pause_from, self.now())
        body = {"amount_vnd": OBLIGATION_VND, "receipt_ref": f"KBNN-{led.code}"}
        answer = await self.portal(f"/v1/dossiers/{led.code}/payment", body)
        deadline = time.monotonic() + 120
        while answer.status_code == 409 and time.monotonic() < deadline:
            # Intake has not heard of the obligation yet (the citizen was quicker than the
            # events): the portal tries again, as it would once the notice arrives.
            await asyncio.sleep(0.5)
            answer = await self.portal(f"/v1/dossiers/{led.code}/payment", body)
        self.actions["payment"] += 1
        if answer.status_code >= 300:
            raise Failed(f"payment: {answer.status_code} {answer.text[:200]}")
        view = await self._workflow(led, lambda s: s["status"] == 4 and bool(s["waiting_on"]))
        spawn(view["waiting_on"], self.now())


def _documents(procedure: str) -> dict[str, str]:
    from tests.support.officials import DOCUMENTS

    return DOCUMENTS[procedure]


# --------------------------------------------------------------------------- reports


def months(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Calendar months (Vietnam time) covering [start, end)."""
    out: list[tuple[datetime, datetime]] = []
    local = start.astimezone(VN)
    lo = start
    while lo < end:
        nxt = (local.replace(day=1) + timedelta(days=32)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        hi = min(nxt.astimezone(UTC), end)
        out.append((lo, hi))
        lo, local = hi, nxt
    return out


def fetch_reports(sla: str, start: datetime, end: datetime, ended: datetime) -> dict[str, Any]:
    """SLA's reports for the simulated period: the whole, by month, by unit, by field.
    ``ended``: when the run stopped (in business time), the end of the last period."""
    headers = {"X-Service-Token": dev_service_token("ops")}

    def get(lo: datetime, hi: datetime, **extra: str) -> dict[str, Any]:
        params = {"from": lo.isoformat(), "to": hi.isoformat(), **extra}
        answer = httpx.get(f"{sla}/v1/reports", params=params, headers=headers, timeout=60)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    fields = sorted({p.field for p in reference(PROFILE).procedures.values()})
    period = months(start, end)
    return {
        "arrivals": get(start, end),
        "whole": get(start, ended),
        "by_month": [get(lo, hi) for lo, hi in period],
        "by_unit": {u: get(start, ended, unit=u) for u in COMMUNES},
        "by_field": {f: get(start, ended, field=f) for f in fields},
    }


def _rate(ended: int, late: int) -> Decimal | None:
    if not ended:
        return None
    rate = Decimal(100 * (ended - late)) / ended
    return rate.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def ledger_summary(ledger: Sequence[Ledger], end: datetime | None = None) -> dict[str, Any]:
    ok = [led for led in ledger if led.error is None and led.dossier_id]
    ended = [led for led in ok if led.ended_at is not None and (end is None or led.ended_at < end)]
    late = sum(1 for led in ended if led.expected_late)
    planned = sum(1 for led in ended if led.planned_late)
    return {
        "planned": len(ledger),
        "accepted": len(ok),
        "failed": len(ledger) - len(ok),
        "errors": Counter(str(led.error).split(":")[0] for led in ledger if led.error),
        "ended": len(ended),
        "late": late,
        "made_late": planned,
        "lagged": sum(1 for led in ended if led.lagged),
        "supplemented": sum(1 for led in ok if led.supplements_made),
        "twice_supplemented": sum(1 for led in ok if led.supplements_made > 1),
        "on_time_rate": _rate(len(ended), late),
        "planned_on_time_rate": _rate(len(ended), planned),
        "by_channel": Counter(led.arrival.channel for led in ok),
        "by_procedure": Counter(led.arrival.procedure for led in ok),
    }


def table(reports: dict[str, Any], scale: float, days: int) -> str:
    """The reports beside the seed (its count scaled to the period)."""
    seed_count = SEED_COUNT * scale * days / (SEED_MONTHS * 365 / 12)
    rows = [("period", "to handle", "resolved", "late", "in progress", "on time %", "seed")]

    def row(name: str, r: dict[str, Any], seed: str = "") -> None:
        rows.append(
            (
                name,
                str(r["received"] + r["carried_over"]),
                str(r["resolved"]),
                str(r["resolved_late"]),
                str(r["in_progress"]),
                str(r["on_time_rate"]),
                seed,
            )
        )

    whole = reports["whole"]
    row("whole run", whole, f"{seed_count:,.0f} dossiers, {SEED_ON_TIME} %")
    for r in reports["by_month"]:
        row(datetime.fromisoformat(r["start"]).astimezone(VN).strftime("%Y-%m"), r)
    for unit, r in reports["by_unit"].items():
        row(unit, r)
    for name, r in reports["by_field"].items():
        row(name, r)
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the stack


def clock_env(epoch: datetime, rate: float, lead_seconds: float) -> tuple[dict[str, str], Clock]:
    """The CLOCK_* settings every service gets: business ``epoch`` at a wall anchor
    ``lead_seconds`` from now (the stack starts and warms up meanwhile)."""
    anchor = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    env = {
        "CLOCK_RATE": repr(rate),
        "CLOCK_EPOCH": epoch.isoformat(),
        "CLOCK_ANCHOR": anchor.isoformat(),
        "QUIET_HOURS": "",
    }
    return env, Clock(rate=rate, epoch=epoch, anchor=anchor)


@dataclass
class Outcome:
    ledger: list[Ledger]
    reports: dict[str, Any]
    summary: dict[str, Any]
    figures: dict[str, Any]
    # SLA's deadlines of each dossier (``with_deadlines``): dossier id -> its answer.
    deadlines: dict[str, Any] = field(default_factory=dict)


def fetch_deadlines(sla: str, ids: Sequence[str]) -> dict[str, Any]:
    headers = {"X-Service-Token": dev_service_token("ops")}
    out: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        for dossier_id in ids:
            answer = client.get(f"{sla}/v1/dossiers/{dossier_id}/deadlines", headers=headers)
            answer.raise_for_status()
            out[dossier_id] = answer.json()
    return out


def simulate(
    arrivals: Sequence[Arrival],
    start: datetime,
    days: int,
    rate: float,
    lead_seconds: float = 60.0,
    concurrency: int = 16,
    slack_hours: float = 12.0,
    with_deadlines: bool = False,
) -> Outcome:
    """Start a stack with the clock set, replay ``arrivals``, fetch SLA's reports. The
    clock's epoch is ``slack_hours`` before ``start``: room for the warm-up."""
    from bench.bench_intake import cpu_seconds
    from tests.support.infra import provision
    from tests.support.system import running_system

    infra = provision()
    env, clock = clock_env(start - timedelta(hours=slack_hours), rate, lead_seconds)
    with running_system(infra, extra_env=env) as system:
        ready = clock.now()
        urls = Urls(system["intake"].url, system["routing"].url, system["sla"].url)
        names = ("intake", "routing", "sla", "notify")
        pids = {n: p.pid for n in names if (p := system[n].proc) is not None}
        cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
        load_before = os.getloadavg()[0]
        sim = Simulation(urls, clock, concurrency)
        began = time.monotonic()
        ledger = asyncio.run(sim.run(arrivals))
        wall = time.monotonic() - began
        cpu_after = {n: cpu_seconds(p) for n, p in pids.items()}
        ended = clock.now()
        end = start + timedelta(days=days)
        time.sleep(2.0)  # SLA hears the last events
        reports = fetch_reports(urls.sla, start, end, clock.now())
        accepted_ids = [led.dossier_id for led in ledger if led.dossier_id]
        deadlines = fetch_deadlines(urls.sla, accepted_ids) if with_deadlines else {}
    summary = ledger_summary(ledger)
    accepted = summary["accepted"]
    figures = {
        "rate": rate,
        "simulated_days": days,
        "business_end": ended.isoformat(),
        "wall_seconds": round(wall, 1),
        "stack_ready_at": ready.isoformat(),
        "warmed_up_at": sim.warmed_up_at.isoformat() if sim.warmed_up_at else None,
        "warmed_up_before_start": sim.warmed_up_at is not None and sim.warmed_up_at < start,
        "dossiers_per_wall_s": round(accepted / wall, 2) if wall else None,
        "actions": dict(sim.actions),
        "actions_per_wall_s": round(sum(sim.actions.values()) / wall, 2) if wall else None,
        "late_starts": sim.late_starts,
        "second_supplement_requests_refused": sim.refused_second_requests,
        "cpu_seconds": {n: round(cpu_after[n] - cpu_before[n], 1) for n in pids},
        "cpu_ms_per_dossier": {
            n: round((cpu_after[n] - cpu_before[n]) * 1000 / max(accepted, 1), 1) for n in pids
        },
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    return Outcome(ledger, reports, summary, figures, deadlines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.002, help="share of ~926k/year")
    parser.add_argument("--start", default="2025-01-01", help="first simulated day")
    parser.add_argument("--days", type=int, default=91, help="simulated days of arrivals")
    parser.add_argument("--rate", type=float, default=3000.0, help="business s per wall s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--civil-status-only", action="store_true", help="leave out land")
    parser.add_argument("--lead", type=float, default=60.0, help="wall s for the stack to start")
    parser.add_argument("--json", help="write the whole outcome to this file")
    args = parser.parse_args(argv)
    first = date.fromisoformat(args.start)
    start = datetime.combine(first, dtime(0, 0), VN).astimezone(UTC)
    mix = CIVIL_STATUS_MIX if args.civil_status_only else MIX
    arrivals = plan_arrivals(first, args.days, args.scale, args.seed, mix)
    print(
        f"{len(arrivals)} dossiers over {args.days} days from {first} at scale {args.scale},"
        f" rate {args.rate:g}× (≈ {args.days * 86400 / args.rate / 60:.1f} min of arrivals)",
        file=sys.stderr,
    )
    outcome = simulate(arrivals, start, args.days, args.rate, args.lead)
    print(table(outcome.reports, args.scale, args.days))
    print()
    print(json.dumps({"ledger": outcome.summary, **outcome.figures}, default=str, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "reports": outcome.reports,
                    "ledger": outcome.summary,
                    "figures": outcome.figures,
                    "dossiers": [asdict(led) for led in outcome.ledger],
                },
                out,
                default=str,
                ensure_ascii=False,
                indent=2,
            )
    return 0 if outcome.summary["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
