"""Signing keys and signers: who signs an event, with which key, on whose behalf."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.hashing import b64encode, key_id


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with the organisation that holds it and its roles."""

    private: Ed25519PrivateKey = field(repr=False)
    holder: str
    roles: tuple[str, ...]
    public_key: bytes = field(init=False, repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        public = self.private.public_key().public_bytes_raw()
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "key_id", key_id(public))

    @classmethod
    def generate(cls, holder: str, roles: tuple[str, ...]) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), holder, roles)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    @property
    def public_key_b64(self) -> str:
        return b64encode(self.public_key)


@dataclass(frozen=True)
class Signer:
    """The authenticated actor, and the key of the organisation they act for."""

    actor: str
    key: SigningKey

    @property
    def org(self) -> str:
        return self.key.holder
