"""Counting what a transfer moved: one log line per page, the totals for XCom."""

from __future__ import annotations

import logging
import time
from typing import Any


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Rows, bytes and pages so far; ``page()`` logs one line, ``totals()`` is the XCom."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.rows = 0
        self.bytes = 0
        self.pages = 0
        self.started = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.rows / max(self.seconds(), 1e-9)

    def page(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        self.pages += 1
        self.log.info(
            "Page %d: %s rows, %s; %s rows, %s in all; %s rows/s",
            self.pages,
            f"{rows:,}",
            human_bytes(nbytes),
            f"{self.rows:,}",
            human_bytes(self.bytes),
            f"{self.rate():,.0f}",
        )

    def totals(self) -> dict[str, Any]:
        seconds = self.seconds()
        self.log.info(
            "Moved %s rows (%s) in %s in %.1f s: %s rows/s",
            f"{self.rows:,}",
            human_bytes(self.bytes),
            "1 page" if self.pages == 1 else f"{self.pages:,} pages",
            seconds,
            f"{self.rate():,.0f}",
        )
        return {
            "rows": self.rows,
            "pages": self.pages,
            "bytes": self.bytes,
            "seconds": round(seconds, 3),
            "rows_per_second": round(self.rate(), 1),
        }
