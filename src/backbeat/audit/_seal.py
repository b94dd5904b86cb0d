"""MACs for events and Ed25519 signatures for checkpoints, keyed from the keyring.

Both keys are derived (HKDF) from a keyring key, so they rotate with it and
each event records the ``key_id`` that sealed it: verification after a
rotation uses the right key, and nobody without the keyring can forge a MAC or
a checkpoint, even with write access to the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from backbeat.audit._event import AuditEvent, format_timestamp
from backbeat.security import Keyring, SigningKey, VerifyKey

__all__ = ["Sealer"]

_MAC_PURPOSE = b"backbeat audit event mac v1"
_SIGN_PURPOSE = b"backbeat audit checkpoint ed25519 v1"


class Sealer:
    """Computes event MACs and checkpoint signatures from a :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._mac_keys: dict[str, bytes] = {}
        self._signing: dict[str, SigningKey] = {}

    @property
    def key_id(self) -> str:
        return self.keyring.primary_id

    def _mac_key(self, kid: str) -> bytes:
        key = self._mac_keys.get(kid)
        if key is None:
            key = self._mac_keys[kid] = self.keyring.derive(_MAC_PURPOSE, kid=kid)[1]
        return key

    def mac(self, event: AuditEvent) -> str:
        """HMAC-SHA256 over the event's canonical form, with its ``key_id``'s key."""
        return hmac.new(self._mac_key(event.key_id), event.canonical(), hashlib.sha256).hexdigest()

    def signing_key(self, kid: str | None = None) -> SigningKey:
        kid = kid or self.key_id
        key = self._signing.get(kid)
        if key is None:
            seed = self.keyring.derive(_SIGN_PURPOSE, kid=kid)[1]
            key = self._signing[kid] = SigningKey.from_ed25519_seed(seed)
        return key

    def public_key(self, kid: str | None = None) -> VerifyKey:
        """The checkpoint verification key (publish it to verify checkpoints elsewhere)."""
        return self.signing_key(kid).public_key

    @staticmethod
    def checkpoint_message(chain: str, seq: int, mac: str, timestamp: str, kid: str) -> bytes:
        return json.dumps(["checkpoint", 1, chain, seq, mac, timestamp, kid]).encode()

    def sign_checkpoint(self, chain: str, seq: int, mac: str, ts: object) -> tuple[str, str]:
        """``(key_id, hex signature)`` over the chain head."""
        kid = self.key_id
        message = self.checkpoint_message(chain, seq, mac, format_timestamp(ts), kid)  # type: ignore[arg-type]
        return kid, self.signing_key(kid).sign(message).hex()
