"""One local-issuer key pair for a whole test run: making a 2048-bit RSA key takes about 0.1 s, and with a
new data dir per test that was most of the fast tier's time. Tests that mint tokens start from it; tests
about how the issuer makes its keys start from an empty data dir as before."""

from __future__ import annotations

import os
import tempfile
from functools import cache

from chalicelib.auth.local_issuer import PRIVATE_KEY_FILE
from chalicelib.auth.local_issuer import ensure_keys
from chalicelib.auth.local_issuer import issuer_dir


@cache
def _private_key_pem() -> bytes:
    with tempfile.TemporaryDirectory(prefix="issuer-key-") as directory:
        ensure_keys(directory)
        with open(os.path.join(directory, PRIVATE_KEY_FILE), "rb") as pem:
            return pem.read()


def seed_issuer_key(data_dir: str) -> None:
    """Give ``data_dir`` the run's issuer key, as the issuer itself would have written it (mode 0600),
    unless it has a key already."""
    directory = issuer_dir(data_dir)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(os.path.join(directory, PRIVATE_KEY_FILE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as pem:
        pem.write(_private_key_pem())
