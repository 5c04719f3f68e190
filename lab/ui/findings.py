"""Measured results the pages quote that the gallery does not hold, from data/findings.json
(each with where it was measured), so no page types a measured number into its text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab import config


def findings_file() -> Path:
    return config.data_dir() / "findings.json"


def finding(name: str, path: Path | None = None) -> dict[str, Any]:
    """One entry of the file ({} when the file or the entry is absent or unreadable)."""
    try:
        entry = json.loads((path or findings_file()).read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}
