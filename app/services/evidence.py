"""Evidence integrity: every captured text and file gets a SHA-256 at capture."""

from __future__ import annotations

import hashlib


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
