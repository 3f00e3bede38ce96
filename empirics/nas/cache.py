"""An append-only on-disk cache of score values, so repeated and interrupted runs resume.

Records are JSON lines in ``<root>/scores.jsonl`` (default root ``.eigennas_cache/``, or
``$EIGENNAS_CACHE``). A record is keyed by

    (architecture class key, score name, score options, dataset, seed)

where the class key is the arch string itself, or its ``Arch.canonical()`` string, or its NATS
``unique_str`` (see ``empirics.nas.search.class_key``), so isomorphic cells are scored once. Each record is
written with one ``write`` of one line and flushed at once: a run killed at any point leaves at most a
torn last line, which the loader skips (and counts in ``Cache.skipped``). Several processes may append
to the same file (POSIX ``O_APPEND``); a duplicate record is harmless (the last one wins, values agree).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from theory.files import to_strict_json

__all__ = ["ScoreCache", "DEFAULT_CACHE_DIR", "record_key", "options_fingerprint"]

DEFAULT_CACHE_DIR = ".eigennas_cache"


def options_fingerprint(options: Mapping[str, Any]) -> str:
    """Canonical JSON of the options (sorted keys), the form stored and hashed."""
    return json.dumps(dict(options), sort_keys=True, separators=(",", ":"), default=str)


def record_key(cls_key: str, score: str, options: Mapping[str, Any], dataset: str, seed: int) -> str:
    """SHA-1 of the full key; the record also stores the key's parts in clear."""
    text = "\x1f".join([cls_key, score, options_fingerprint(options), dataset, str(int(seed))])
    return hashlib.sha1(text.encode()).hexdigest()


def _encode(v: float) -> float | str:
    return v if math.isfinite(v) else repr(v)  # 'nan', 'inf', '-inf' (JSON has no such numbers)


def _decode(v: Any) -> float:
    return float(v)


class ScoreCache:
    """Dictionary-like cache of ``value`` by record key, persisted as JSON lines.

    ``path=None`` gives an in-memory cache (nothing written). Use ``get``/``put``; ``put`` appends.
    """

    def __init__(self, root: str | os.PathLike | None = DEFAULT_CACHE_DIR, filename: str = "scores.jsonl") -> None:
        self.path: Path | None
        if root is None:
            self.path = None
        else:
            root = Path(os.environ.get("EIGENNAS_CACHE", root)) if root == DEFAULT_CACHE_DIR else Path(root)
            if root.exists() and not root.is_dir():
                raise NotADirectoryError(f"cache folder {root} exists and is not a folder; use --cache DIR, --no-cache")
            root.mkdir(parents=True, exist_ok=True)
            self.path = root / filename
        self._values: dict[str, float] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self.skipped = 0
        self.hits = 0
        self.misses = 0
        self.written = 0  # records put by this process (what an interrupted run leaves for the next)
        self._torn_tail = False
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        with open(self.path, "rb") as fb:
            fb.seek(0, os.SEEK_END)
            if fb.tell() > 0:
                fb.seek(-1, os.SEEK_END)
                self._torn_tail = fb.read(1) != b"\n"  # a write was cut: start the next record on a new line
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                    key = rec["key"]
                    value = _decode(rec["value"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.skipped += 1  # a torn line from an interrupted write
                    continue
                self._values[key] = value
                self._records[key] = rec

    def __len__(self) -> int:
        return len(self._values)

    def interrupt_note(self, what: str = "cells") -> str:
        """What an interrupted run leaves: e.g. '12 cells cached, rerun to resume (480 records in
        .eigennas_cache/scores.jsonl)'; for an in-memory cache, that nothing was kept."""
        if self.path is None:
            return f"{self.written} {what} scored, none kept (in-memory cache)"
        return f"{self.written} {what} cached, rerun to resume ({len(self)} records in {self.path})"

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def get(self, key: str) -> float | None:
        if key in self._values:
            self.hits += 1
            return self._values[key]
        self.misses += 1
        return None

    def record(self, key: str) -> dict[str, Any] | None:
        """The full stored record (key parts, arch scored, time, ...)."""
        return self._records.get(key)

    def put(self, key: str, value: float, **fields: Any) -> None:
        """Store and append one record (``fields``: arch, class key, score, options, dataset, seed, time_s)."""
        rec = {"key": key, "value": _encode(float(value)), "written": time.time(), **fields}
        self._values[key] = float(value)
        self._records[key] = rec
        self.written += 1
        if self.path is None:
            return
        line = to_strict_json(rec, indent=None, sort_keys=True) + "\n"  # strict: NaN fields → null
        if self._torn_tail:
            line = "\n" + line
            self._torn_tail = False
        # one os.write on an O_APPEND descriptor: atomic for lines of ordinary length, and a crash leaves
        # at most a torn last line that _load skips
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
