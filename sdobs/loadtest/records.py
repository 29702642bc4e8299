"""One record per request (vegeta-style, plus SD fields) and the JSONL or CSV file of them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from sdobs.loadtest.errors import LoadTestConfigError


@dataclass(slots=True)
class RequestRecord:
    """What the client saw of one request; times are seconds since the run started.

    ``scheduled`` is the intended send time (open loop) or the start (closed loop), so
    ``latency = end - scheduled`` includes any scheduling lag: no coordinated omission.
    """

    seq: int
    client: int
    scheduled: float
    start: float
    end: float
    first_byte: float | None = None
    connect: float = 0.0
    status: int = 0
    error: str | None = None
    error_detail: str | None = None
    bytes_out: int = 0
    bytes_in: int = 0
    images: int = 0
    process_time: float | None = None
    seed: int | None = None
    job_timestamp: str | None = None
    cold_start: bool = False
    prompt: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded (a 2xx with a valid txt2img body)."""
        return self.error is None

    @property
    def latency(self) -> float:
        """Seconds from the intended send time to the last byte."""
        return self.end - self.scheduled

    @property
    def lag(self) -> float:
        """Seconds the client started late (open loop); 0 in a closed loop."""
        return self.start - self.scheduled

    @property
    def ttfb(self) -> float | None:
        """Seconds from the start of the request to the response head."""
        return None if self.first_byte is None else self.first_byte - self.start


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RequestRecord))
DERIVED: tuple[str, ...] = ("latency", "lag", "ttfb")


def record_row(rec: RequestRecord, started_at: float) -> dict[str, object]:
    """A flat dict of the record plus derived times and the Unix ``timestamp`` it was due."""
    row: dict[str, object] = {"timestamp": started_at + rec.scheduled}
    for name in (*FIELDS, *DERIVED):  # unrounded, so the file reproduces the summary exactly
        row[name] = getattr(rec, name)
    if rec.prompt is None:
        row.pop("prompt")
    return row


def write_records(
    path: str | Path, records: Iterable[RequestRecord], started_at: float, *, prompts: bool = False
) -> Path:
    """Write records as JSON Lines (``.jsonl``/``.ndjson``) or CSV (``.csv``), by extension."""
    path = Path(path)
    kind = records_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["timestamp", *FIELDS, *DERIVED]
    if not prompts:
        columns.remove("prompt")
    with path.open("w", encoding="utf-8", newline="") as fh:
        if kind == "csv":
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for rec in records:
                writer.writerow(record_row(rec, started_at))
        else:
            for rec in records:
                fh.write(json.dumps(record_row(rec, started_at), separators=(",", ":")) + "\n")
    return path


def records_format(path: str | Path) -> str:
    """``jsonl`` or ``csv`` for a records path, or LoadTestConfigError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise LoadTestConfigError(f"the records file must end in .jsonl or .csv, not {str(path)!r}")


def read_records(path: str | Path) -> list[dict[str, object]]:
    """Read a JSON Lines records file back (for analysis and tests)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
