"""Encryption at rest for variables and connection secrets (Fernet).

The key comes from ``core.fernet_key`` when set (several comma-separated keys
rotate: the first encrypts, any decrypts); otherwise it is generated once into
``<home>/fernet.key`` with mode 0600 and reused by every process on the machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from slipstream.errors import SecretKeyError

KEY_FILE = "fernet.key"


class SecretBox:
    """Encrypts and decrypts strings; the key is loaded (or created) on first use."""

    def __init__(self, configured_key: str | None, home: Path) -> None:
        self._configured = (configured_key or "").strip()
        self._home = home
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    @property
    def source(self) -> str:
        """Where the key comes from, for error messages (never the key itself)."""
        if self._configured:
            return "core.fernet_key"
        return str(self._home / KEY_FILE)

    def _load(self) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                raw = self._configured or read_or_create_key_file(
                    self._home / KEY_FILE, Fernet.generate_key
                )
                keys = [part.strip() for part in raw.split(",") if part.strip()]
                try:
                    self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
                except (ValueError, TypeError) as exc:
                    raise SecretKeyError(
                        f"the Fernet key from {self.source} is not a valid key ({exc}); "
                        "generate one with: python -c 'from cryptography.fernet import "
                        "Fernet; print(Fernet.generate_key().decode())'"
                    ) from None
            return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._load().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str) -> str:
        """``what`` names the secret in the error ("connection 'db' password")."""
        try:
            return self._load().decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                f"cannot decrypt {what}: it was encrypted with another Fernet key than the "
                f"one from {self.source}. Set core.fernet_key to the key it was written with "
                "(keys may be listed comma-separated during a rotation)."
            ) from None


def read_or_create_key_file(path: Path, generate: Callable[[], bytes]) -> str:
    """Read the key file, or create it with ``generate()``: written to a private
    temporary file (mode 0600) and hard-linked into place, so two processes starting
    together share one key and nobody ever reads a half-written file."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key.decode("ascii")
