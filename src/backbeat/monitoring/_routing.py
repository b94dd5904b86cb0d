"""Receivers (Slack-compatible, PagerDuty Events v2, generic webhook) and escalation.

From the ``receivers``, ``escalation`` and ``alertmanager`` keys of the monitoring file::

    receivers:
      - {name: oncall-emea, type: pagerduty, routing_key: "..."}
      - {name: team-chat, type: slack, url: "https://hooks.slack.com/services/..."}
      - {name: audit, type: webhook, url: "http://127.0.0.1:9000/alerts"}
    escalation:
      policy: follow_sun          # or "single"
      shifts:                     # UTC hours; a shift may wrap midnight
        - {receiver: oncall-emea, from: "07:00", to: "15:00"}
        - {receiver: oncall-amer, from: "15:00", to: "23:00"}
        - {receiver: oncall-apac, from: "23:00", to: "07:00"}
      ack_timeout_minutes: 15     # unacknowledged pages go on to `escalate_to`
      escalate_to: team-chat
      tickets: team-chat          # where ticket-severity alerts go
      always: [audit]             # every alert, both severities, also goes here

The same definitions drive the embedded evaluator and the generated Alertmanager
configuration (follow-the-sun as time-based routes). Secrets (webhook URLs, routing
keys) are never shown in errors, logs or ``/v1/admin/alerts``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from backbeat.monitoring._errors import config_error
from backbeat.monitoring._slo import parse_duration

__all__ = ["RECEIVER_TYPES", "Escalation", "Receiver", "Routing", "Shift", "parse_routing"]

RECEIVER_TYPES = ("slack", "pagerduty", "webhook")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    type: str  # slack | pagerduty | webhook
    url: str = field(default="", repr=False)  # slack/webhook target; PagerDuty's endpoint
    routing_key: str = field(default="", repr=False)  # PagerDuty Events v2
    channel: str = ""

    def describe(self) -> dict[str, str]:
        """Safe to show: no URL path, no key."""
        host = re.sub(r"^(\w+://[^/]+).*$", r"\1", self.url) if self.url else ""
        return {"name": self.name, "type": self.type, "endpoint": host}


@dataclass(frozen=True, slots=True)
class Shift:
    receiver: str
    start_min: int  # minutes after midnight UTC
    end_min: int  # exclusive; may be <= start (the shift wraps midnight)

    def covers(self, minute: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min

    def ranges(self) -> list[tuple[str, str]]:
        """``[(start, end)]`` as ``HH:MM`` for Alertmanager (split at midnight)."""

        def hm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        if self.start_min < self.end_min:
            return [(hm(self.start_min), hm(self.end_min))]
        out = [(hm(self.start_min), "24:00")]
        if self.end_min > 0:
            out.append(("00:00", hm(self.end_min)))
        return out

    @property
    def name(self) -> str:
        return f"shift-{self.receiver}-{self.start_min // 60:02d}{self.start_min % 60:02d}"


@dataclass(frozen=True, slots=True)
class Escalation:
    policy: str = "single"  # single | follow_sun
    shifts: tuple[Shift, ...] = ()
    pager: str | None = None  # the single policy's receiver for pages
    ack_timeout_s: float | None = None
    escalate_to: str | None = None
    tickets: str | None = None
    always: tuple[str, ...] = ()

    def page_receiver(self, now: dt.datetime) -> str | None:
        """Who is paged at ``now`` (UTC)."""
        if self.policy == "follow_sun":
            utc = now.astimezone(dt.UTC)
            minute = utc.hour * 60 + utc.minute
            for shift in self.shifts:
                if shift.covers(minute):
                    return shift.receiver
            return None
        return self.pager


@dataclass(frozen=True, slots=True)
class Routing:
    receivers: dict[str, Receiver] = field(default_factory=dict)
    escalation: Escalation = field(default_factory=Escalation)
    group_wait_s: float = 30.0
    group_interval_s: float = 300.0
    repeat_interval_s: float = 4 * 3600.0

    def targets(self, severity: str, now: dt.datetime) -> list[str]:
        """Receivers for a new alert of ``severity`` at ``now`` (before any escalation)."""
        esc = self.escalation
        names: list[str] = list(esc.always)
        main = esc.page_receiver(now) if severity == "page" else esc.tickets
        if main is not None and main not in names:
            names.append(main)
        return names


def _minutes(value: Any, source: str, where: str) -> int:
    match = _TIME.match(str(value)) if isinstance(value, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise config_error(source, where, f"{value!r} is not a time such as 07:00 (UTC)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _receiver(raw: Any, source: str, where: str) -> Receiver:
    if not isinstance(raw, dict):
        raise config_error(source, where, "expected a mapping with name and type")
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
        raise config_error(source, f"{where}.name", f"{name!r} is not a receiver name")
    if kind not in RECEIVER_TYPES:
        raise config_error(
            source,
            f"{where}.type",
            f"unknown channel {kind!r} (one of {', '.join(RECEIVER_TYPES)})",
        )
    unknown = set(raw) - {"name", "type", "url", "routing_key", "channel"}
    if unknown:
        raise config_error(source, where, f"unknown field(s) {', '.join(sorted(unknown))}")
    url = raw.get("url", "")
    if kind == "pagerduty":
        key = raw.get("routing_key")
        if not isinstance(key, str) or not key:
            raise config_error(source, f"{where}.routing_key", "PagerDuty needs a routing_key")
        url = url or "https://events.pagerduty.com/v2/enqueue"
    else:
        key = ""
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise config_error(source, f"{where}.url", "expected an http(s) URL")
    return Receiver(name, kind, url=url, routing_key=key, channel=str(raw.get("channel", "")))


def parse_routing(raw: Any, *, source: str = "<config>") -> Routing:
    """The receivers, escalation and Alertmanager timings of a loaded monitoring file."""
    raw = raw or {}
    receivers: dict[str, Receiver] = {}
    entries = raw.get("receivers", [])
    if not isinstance(entries, list):
        raise config_error(source, "receivers", "expected a list")
    for i, entry in enumerate(entries):
        receiver = _receiver(entry, source, f"receivers[{i}]")
        if receiver.name in receivers:
            raise config_error(source, f"receivers[{i}].name", f"{receiver.name!r} is used twice")
        receivers[receiver.name] = receiver

    def known(name: Any, where: str) -> str:
        if name not in receivers:
            raise config_error(source, where, f"no receiver is called {name!r}")
        return str(name)

    esc_raw = raw.get("escalation", {}) or {}
    if not isinstance(esc_raw, dict):
        raise config_error(source, "escalation", "expected a mapping")
    policy = esc_raw.get("policy", "single")
    if policy not in ("single", "follow_sun"):
        raise config_error(source, "escalation.policy", f"{policy!r} is not single or follow_sun")
    shifts: list[Shift] = []
    pager = None
    if policy == "follow_sun":
        items = esc_raw.get("shifts")
        if not isinstance(items, list) or not items:
            raise config_error(source, "escalation.shifts", "follow_sun needs a list of shifts")
        for i, item in enumerate(items):
            at = f"escalation.shifts[{i}]"
            if not isinstance(item, dict):
                raise config_error(source, at, "expected {receiver, from, to}")
            shifts.append(
                Shift(
                    known(item.get("receiver"), f"{at}.receiver"),
                    _minutes(item.get("from"), source, f"{at}.from"),
                    _minutes(item.get("to"), source, f"{at}.to") % 1440,
                )
            )
        covered = [any(s.covers(m) for s in shifts) for m in range(0, 1440, 15)]
        if not all(covered):
            gap = covered.index(False) * 15
            raise config_error(
                source, "escalation.shifts", f"no shift covers {gap // 60:02d}:{gap % 60:02d} UTC"
            )
    elif esc_raw.get("pager") is not None:
        pager = known(esc_raw["pager"], "escalation.pager")
    ack = esc_raw.get("ack_timeout_minutes")
    ack_s = None
    if ack is not None:
        if isinstance(ack, bool) or not isinstance(ack, int | float) or ack <= 0:
            raise config_error(source, "escalation.ack_timeout_minutes", f"{ack!r} is not > 0")
        ack_s = float(ack) * 60.0
    escalate_to = esc_raw.get("escalate_to")
    if escalate_to is not None:
        escalate_to = known(escalate_to, "escalation.escalate_to")
    tickets = esc_raw.get("tickets")
    if tickets is not None:
        tickets = known(tickets, "escalation.tickets")
    always_raw = esc_raw.get("always", [])
    if not isinstance(always_raw, list):
        raise config_error(source, "escalation.always", "expected a list of receiver names")
    always = tuple(known(n, f"escalation.always[{i}]") for i, n in enumerate(always_raw))
    if receivers and policy == "single" and pager is None and tickets is None and not always:
        first = next(iter(receivers))
        pager = tickets = first  # one receiver declared: everything goes to it
    timings = raw.get("alertmanager", {}) or {}
    if not isinstance(timings, dict):
        raise config_error(source, "alertmanager", "expected a mapping")

    def duration(key: str, default: float) -> float:
        if key not in timings:
            return default
        return parse_duration(timings[key], source=source, where=f"alertmanager.{key}")

    return Routing(
        receivers=receivers,
        escalation=Escalation(
            policy=policy,
            shifts=tuple(shifts),
            pager=pager,
            ack_timeout_s=ack_s,
            escalate_to=escalate_to,
            tickets=tickets,
            always=always,
        ),
        group_wait_s=duration("group_wait", 30.0),
        group_interval_s=duration("group_interval", 300.0),
        repeat_interval_s=duration("repeat_interval", 4 * 3600.0),
    )
