"""Protecting ID numbers at rest: AES-GCM encryption and a keyed hash to find duplicates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretVault", "hash_code"]


class SecretVault:
    """Derives separate keys for encryption and hashing from one secret setting."""

    def __init__(self, secret: str) -> None:
        material = secret.encode()
        self._enc_key = hashlib.sha256(b"giamngheo/enc/" + material).digest()
        self._mac_key = hashlib.sha256(b"giamngheo/mac/" + material).digest()

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._enc_key).encrypt(nonce, value.encode(), b"cccd")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token)
        return AESGCM(self._enc_key).decrypt(raw[:12], raw[12:], b"cccd").decode()

    def keyed_hash(self, value: str) -> str:
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()


def hash_code(code: str) -> str:
    """Invitation codes are stored hashed; codes are random enough that SHA-256 suffices."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()
