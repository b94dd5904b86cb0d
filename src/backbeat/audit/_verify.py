"""Walk a chain and report the first broken link.

Detected: an edited field (MAC mismatch), a deleted event (gap in ``seq``), two
events swapped or one moved (``prev_mac`` does not link), a forged or inserted
event (no valid MAC without the keyring), a head that does not match the last
event, and a tail truncated after a signed checkpoint (the checkpoint names a
``seq``/``mac`` the log no longer has). Not detectable from the database alone:
events removed from the very end *after* the last checkpoint by someone who
also rewinds the head row; checkpoint often, and keep the JSON-log sink's copy
elsewhere, to bound that window.
"""

from __future__ import annotations

from dataclasses import dataclass

from backbeat.audit._event import GENESIS
from backbeat.audit._seal import Sealer
from backbeat.audit._store import AuditStore
from backbeat.errors import BackbeatError

__all__ = ["VerifyReport", "verify_chain"]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    chain: str
    ok: bool
    events: int
    checkpoints: int
    bad_seq: int | None = None
    bad_event_id: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return (
                f"audit chain {self.chain!r}: intact ({self.events} events, "
                f"{self.checkpoints} signed checkpoints)"
            )
        event = f" (event {self.bad_event_id})" if self.bad_event_id else ""
        return f"audit chain {self.chain!r}: broken at seq {self.bad_seq}{event}: {self.reason}"


async def verify_chain(store: AuditStore, sealer: Sealer, chain: str = "default") -> VerifyReport:
    """Check every link, MAC, the head row and every checkpoint of ``chain``."""
    expected_seq, prev, count = 1, GENESIS, 0
    macs_at: dict[int, str] = {}
    cps = await store.checkpoints(chain)
    wanted = {cp.seq for cp in cps}

    def broken(seq: int, event_id: str | None, reason: str) -> VerifyReport:
        return VerifyReport(chain, False, count, len(cps), seq, event_id, reason)

    async for event in store.iter_chain(chain):
        if event.seq != expected_seq:
            return broken(expected_seq, None, f"event missing (next stored is seq {event.seq})")
        if event.prev_mac != prev:
            return broken(
                event.seq,
                event.id,
                "does not link to the previous event (deleted, swapped or inserted events)",
            )
        try:
            mac = sealer.mac(event)
        except BackbeatError:
            return broken(event.seq, event.id, f"sealed with unknown key {event.key_id}")
        if mac != event.mac:
            return broken(event.seq, event.id, "MAC mismatch (the event was edited or forged)")
        if event.seq in wanted:
            macs_at[event.seq] = event.mac
        prev, expected_seq, count = event.mac, expected_seq + 1, count + 1
    last_seq = expected_seq - 1
    head_seq, head_mac = await store.head(chain)
    if head_seq != last_seq or (last_seq and head_mac != prev):
        return broken(last_seq + 1, None, f"chain head says seq {head_seq}, log ends at {last_seq}")
    for cp in cps:
        message = sealer.checkpoint_message(cp.chain, cp.seq, cp.mac, _ts(cp.timestamp), cp.key_id)
        try:
            valid = sealer.public_key(cp.key_id).is_valid(message, bytes.fromhex(cp.signature))
        except (BackbeatError, ValueError):
            valid = False
        if not valid:
            return broken(cp.seq, None, "checkpoint signature invalid (forged checkpoint)")
        if cp.seq > last_seq:
            return broken(
                last_seq + 1,
                None,
                f"log truncated: signed checkpoint at seq {cp.seq} is past its end",
            )
        if macs_at.get(cp.seq) != cp.mac:
            return broken(cp.seq, None, "event differs from the signed checkpoint")
    return VerifyReport(chain, True, count, len(cps))


def _ts(value: object) -> str:
    from backbeat.audit._event import format_timestamp

    return format_timestamp(value)  # type: ignore[arg-type]
