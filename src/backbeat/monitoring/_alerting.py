"""Alert state (dedup, grouping, resolve, silences, acknowledgement, escalation) and
delivery to receivers, never blocking the caller.

The evaluator reports, at each tick, the set of conditions that hold now
(:class:`AlertSpec`). :class:`AlertBook` turns that into alert lifecycles: a new
fingerprint fires, a missing one resolves; a silenced alert is kept but not sent; alerts
of one group (alert name + SLO) go out in one notification after ``group_wait``, again
when the group changes (no sooner than ``group_interval``) or after ``repeat_interval``;
an unacknowledged page is re-sent to ``escalate_to`` after ``ack_timeout``.

:class:`Dispatcher` delivers in a background task: Slack-compatible incoming webhooks
(``{"text": ...}``), PagerDuty Events v2 (trigger/resolve with the fingerprint as
``dedup_key``), generic webhooks (Alertmanager's webhook format, version 4), and an
Alertmanager's ``/api/v2/alerts`` when ``ALERTMANAGER_URL`` is set. Failures are
retried with exponential backoff and counted; the queue is bounded (the oldest
notification is dropped and counted when it is full).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backbeat.monitoring._routing import Receiver, Routing

__all__ = ["Alert", "AlertBook", "AlertSpec", "Dispatcher", "Notification", "Silence"]

log = logging.getLogger("backbeat.monitoring")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def fingerprint(labels: Mapping[str, str]) -> str:
    text = json.dumps(sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """A condition that holds now."""

    labels: dict[str, str]  # must include alertname and severity
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


@dataclass(slots=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    silenced: bool = False
    acknowledged: bool = False
    escalated: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def status(self) -> str:
        return "resolved" if self.ends_at is not None else "firing"

    @property
    def group(self) -> tuple[str, str]:
        return (self.labels.get("alertname", ""), self.labels.get("slo", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(self.ends_at) if self.ends_at is not None else None,
            "silenced": self.silenced,
            "acknowledged": self.acknowledged,
            "escalated": self.escalated,
        }


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: dict[str, str]  # label -> exact value
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.matchers.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": dict(self.matchers),
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Silence:
        def ts(value: str) -> float:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

        return cls(
            str(raw["id"]),
            {str(k): str(v) for k, v in dict(raw["matchers"]).items()},
            ts(raw["startsAt"]),
            ts(raw["endsAt"]),
            str(raw.get("createdBy", "")),
            str(raw.get("comment", "")),
        )

    @classmethod
    def new(
        cls,
        matchers: Mapping[str, str],
        duration_s: float,
        now: float,
        by: str = "",
        comment: str = "",
    ) -> Silence:
        return cls(uuid.uuid4().hex[:12], dict(matchers), now, now + duration_s, by, comment)


@dataclass(frozen=True, slots=True)
class Notification:
    receiver: str
    status: str  # firing | resolved
    alerts: tuple[dict[str, Any], ...]
    group: tuple[str, str]
    escalation: bool = False


@dataclass(slots=True)
class _Group:
    last_sent: float | None = None
    first_seen: float = 0.0
    dirty: bool = True


class AlertBook:
    """Alert lifecycles for one evaluator (see the module's text)."""

    def __init__(self, routing: Routing) -> None:
        self.routing = routing
        self.active: dict[str, Alert] = {}
        self.resolved: list[Alert] = []  # the last few, for /v1/admin/alerts
        self.silences: dict[str, Silence] = {}
        self.groups: dict[tuple[str, str], _Group] = {}
        self._page_sent: dict[str, float] = {}

    def silenced(self, labels: Mapping[str, str], now: float) -> bool:
        return any(s.active(now) and s.matches(labels) for s in self.silences.values())

    def acknowledge(self, fp: str) -> bool:
        alert = self.active.get(fp)
        if alert is None:
            return False
        alert.acknowledged = True
        return True

    def observe(self, specs: list[AlertSpec], now: float) -> list[Notification]:
        """Update from the conditions that hold at ``now``; the notifications due."""
        current = {s.fingerprint: s for s in specs}
        changed_groups: set[tuple[str, str]] = set()
        resolved_now: list[Alert] = []
        for fp, spec in current.items():
            alert = self.active.get(fp)
            if alert is None:
                alert = Alert(dict(spec.labels), dict(spec.annotations), now)
                self.active[fp] = alert
                changed_groups.add(alert.group)
                self.groups.setdefault(alert.group, _Group(first_seen=now))
            alert.annotations = dict(spec.annotations)
            alert.silenced = self.silenced(alert.labels, now)
        for fp in list(self.active):
            if fp not in current:
                alert = self.active.pop(fp)
                alert.ends_at = now
                resolved_now.append(alert)
                changed_groups.add(alert.group)
                self._page_sent.pop(fp, None)
        self.resolved = (resolved_now + self.resolved)[:50]
        for g in changed_groups:
            self.groups.setdefault(g, _Group(first_seen=now)).dirty = True
        out: list[Notification] = []
        r = self.routing
        now_dt = dt.datetime.fromtimestamp(now, dt.UTC)
        for key, group in list(self.groups.items()):
            firing = [a for a in self.active.values() if a.group == key and not a.silenced]
            gone = [a for a in resolved_now if a.group == key and not a.silenced]
            if not firing and not gone:
                if not any(a.group == key for a in self.active.values()):
                    del self.groups[key]
                continue
            due = False
            if group.last_sent is None:
                due = now - group.first_seen >= r.group_wait_s or bool(gone)
            elif group.dirty:
                due = now - group.last_sent >= r.group_interval_s or bool(gone)
            elif firing and now - group.last_sent >= r.repeat_interval_s:
                due = True
            if not due:
                continue
            group.last_sent = now
            group.dirty = False
            for status, alerts in (("firing", firing), ("resolved", gone)):
                if not alerts:
                    continue
                severity = alerts[0].labels.get("severity", "ticket")
                for receiver in r.targets(severity, now_dt):
                    out.append(
                        Notification(receiver, status, tuple(a.to_dict() for a in alerts), key)
                    )
                if status == "firing" and severity == "page":
                    for a in alerts:
                        self._page_sent.setdefault(a.fingerprint, now)
            if not firing and not any(a.group == key for a in self.active.values()):
                del self.groups[key]
        esc = r.escalation
        if esc.ack_timeout_s is not None and esc.escalate_to is not None:
            for fp, sent in self._page_sent.items():
                alert = self.active.get(fp)
                if alert is None or alert.acknowledged or alert.escalated or alert.silenced:
                    continue
                if now - sent >= esc.ack_timeout_s:
                    alert.escalated = True
                    out.append(
                        Notification(
                            esc.escalate_to, "firing", (alert.to_dict(),), alert.group, True
                        )
                    )
        return out


Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


async def _urllib_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    def send() -> int:
        if not url.startswith(("http://", "https://")):  # receivers are checked; be sure
            raise ValueError("not an http(s) URL")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5.0) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    return await asyncio.to_thread(send)


def payload(receiver: Receiver, note: Notification) -> dict[str, Any]:
    """The JSON body ``receiver``'s type expects for ``note``."""
    first = note.alerts[0]
    labels = first["labels"]
    summary = first["annotations"].get("summary") or labels.get("alertname", "alert")
    prefix = "[ESCALATED] " if note.escalation else ""
    if receiver.type == "slack":
        status = note.status.upper()
        lines = [
            f"{prefix}[{status}] {a['annotations'].get('summary') or a['labels'].get('alertname')}"
            for a in note.alerts
        ]
        body: dict[str, Any] = {"text": "\n".join(lines)}
        if receiver.channel:
            body["channel"] = receiver.channel
        return body
    if receiver.type == "pagerduty":
        return {
            "routing_key": receiver.routing_key,
            "event_action": "resolve" if note.status == "resolved" else "trigger",
            "dedup_key": first["fingerprint"],
            "payload": {
                "summary": f"{prefix}{summary}"[:1024],
                "source": "backbeat",
                "severity": "critical" if labels.get("severity") == "page" else "warning",
                "custom_details": {"labels": labels, "alerts": len(note.alerts)},
            },
        }
    common = {k: v for k, v in labels.items() if all(a["labels"].get(k) == v for a in note.alerts)}
    return {
        "version": "4",
        "status": note.status,
        "receiver": receiver.name,
        "groupKey": "|".join(note.group),
        "groupLabels": {"alertname": note.group[0], "slo": note.group[1]},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": [
            {
                "status": a["status"],
                "labels": a["labels"],
                "annotations": a["annotations"],
                "startsAt": a["startsAt"],
                "endsAt": a["endsAt"] or "0001-01-01T00:00:00Z",
                "fingerprint": a["fingerprint"],
            }
            for a in note.alerts
        ],
    }


class Dispatcher:
    """Background delivery with retries; ``submit`` never waits for the network."""

    def __init__(
        self,
        routing: Routing,
        *,
        post: Post | None = None,
        attempts: int = 5,
        backoff_s: float = 1.0,
        max_queue: int = 1000,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        self.routing = routing
        self.post = post or _urllib_post
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.queue: asyncio.Queue[tuple[str, str, bytes, str]] = asyncio.Queue(max_queue)
        self.on_outcome = on_outcome
        self.sent = self.failed = self.retried = self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def _count(self, kind: str, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(kind, outcome)

    def submit(self, note: Notification) -> None:
        receiver = self.routing.receivers.get(note.receiver)
        if receiver is None:
            return
        body = json.dumps(payload(receiver, note)).encode()
        self._enqueue((receiver.type, receiver.url, body, receiver.name))

    def submit_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> None:
        """Alerts in Alertmanager's API v2 shape to ``{base_url}/api/v2/alerts``."""
        body = [
            {
                "labels": a["labels"],
                "annotations": a["annotations"],
                "startsAt": a["startsAt"],
                **({"endsAt": a["endsAt"]} if a["endsAt"] else {}),
                "generatorURL": "http://backbeat/v1/admin/alerts",
            }
            for a in alerts
        ]
        url = base_url.rstrip("/") + "/api/v2/alerts"
        self._enqueue(("alertmanager", url, json.dumps(body).encode(), "alertmanager"))

    def _enqueue(self, item: tuple[str, str, bytes, str]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                dropped = self.queue.get_nowait()
                self.queue.task_done()
                self.dropped += 1
                self._count(dropped[0], "dropped")
        self.queue.put_nowait(item)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="backbeat-alert-delivery"
            )

    async def _deliver(self, kind: str, url: str, body: bytes, name: str) -> None:
        delay = self.backoff_s
        headers = {"Content-Type": "application/json", "User-Agent": "backbeat-alerts"}
        for attempt in range(1, self.attempts + 1):
            try:
                status = await self.post(url, body, headers)
                ok = 200 <= status < 300
                problem = f"HTTP {status}"
            except (OSError, TimeoutError, ValueError) as exc:
                ok, problem = False, type(exc).__name__
            if ok:
                self.sent += 1
                self._count(kind, "sent")
                return
            if attempt == self.attempts:
                break
            self.retried += 1
            self._count(kind, "retried")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
        self.failed += 1
        self._count(kind, "failed")
        # The receiver's name, never its URL (it often embeds a secret token).
        log.warning(
            "alert delivery to %s (%s) failed after %d attempts: %s",
            name,
            kind,
            self.attempts,
            problem,
        )

    async def _run(self) -> None:
        while not self.queue.empty():
            kind, url, body, name = await self.queue.get()
            try:
                await self._deliver(kind, url, body, name)
            finally:
                self.queue.task_done()

    async def drain(self) -> None:
        """Wait until everything queued has been delivered or given up."""
        await self.queue.join()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
