"""Progress lines for long work started from the command line."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts steps and reports rate and time left, redrawing one line on a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_line = 0.0
        self._tty = self.stream.isatty()

    def advance(self, note: str = "", steps: int = 1) -> None:
        self.done += steps
        now = time.monotonic()
        # Off a terminal, one line every few seconds keeps CI logs readable.
        if self._tty or now - self._last_line >= 5 or self.done == self.total:
            self._last_line = now
            self._write(self.line(note), final=self.done == self.total)

    def line(self, note: str = "") -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        text = (
            f"{self.label} [{bar}] {self.done}/{self.total} "
            f"{rate:.1f}/s, {elapsed:.0f}s elapsed, ~{left:.0f}s left"
        )
        return f"{text} {note}".rstrip()

    def _write(self, text: str, final: bool) -> None:
        if self._tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
