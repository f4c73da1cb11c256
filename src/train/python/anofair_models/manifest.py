"""manifest.json for each model folder: what it is, how to feed it, what it was trained on, how well it does."""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import torch

from .file_hash import sha256_file

MANIFEST_VERSION = 1


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    table = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(folder).as_posix()
        table[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return table


def environment() -> dict[str, Any]:
    return {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}


def json_safe(value: Any) -> Any:
    """Strict JSON: NaN and infinities (an AUC without positives) become null; numpy scalars become numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n")


def write_manifest(folder: Path, body: dict[str, Any]) -> Path:
    manifest = {"manifest_version": MANIFEST_VERSION, **body, "files": file_table(folder)}
    path = folder / "manifest.json"
    write_json(path, manifest)
    return path
