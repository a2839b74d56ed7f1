"""Apply progress as a user watches it: a live view with one row per model on a terminal, or one
plain line per event (a pipe, a CI log, `TERM=dumb`).

Takes `specc.apply` events (kind applied, deleted, waiting, ready, failed or info; a model; an
object key; a message) and the time; returns the text to write to the terminal. Must not print or
read the clock itself: the caller passes `now`, so tests drive it with a fake clock.

The live view redraws its block in place: it moves the cursor to the block's first line (`ESC [ n F`,
cursor previous line), rewrites each row (`ESC [ 2 K` erases the line first) and leaves the cursor
under the block. Rows are cut to the terminal's width, because a row that wrapped would make the
cursor arithmetic wrong. `tick` redraws with a turning spinner and the seconds each model has been
at it, so a long rollout visibly moves between events. Colour is optional and separate
(https://no-color.org is about colour, not about cursor movement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import printable

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SYMBOLS = {"applied": "✓", "deleted": "✗", "waiting": "…", "ready": "✓", "failed": "!", "info": "·"}
_COLOURS = {"ready": "32", "applied": "32", "failed": "31", "waiting": "33", "deleted": "33"}


def _style(text: str, status: str, colour: bool) -> str:
    code = _COLOURS.get(status)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def plain_line(event: Any, *, colour: bool = False) -> str:
    """One event as one line: `  ✓ model: Kind/name message`."""
    where = f"{event.model}: " if event.model else ""
    obj = f"{event.key} " if event.key is not None else ""
    # Escaped: messages come from the cluster (a status condition), which must not drive the terminal.
    line = printable(f"  {SYMBOLS.get(event.kind, '-')} {where}{obj}{event.message}")
    return _style(line, "failed", colour) if event.kind == "failed" else line


@dataclass
class _Row:
    model: str
    started: float
    ended: float | None = None
    applied: int = 0
    deleted: int = 0
    waiting: set[str] = field(default_factory=set)
    ready: int = 0
    failed: bool = False
    message: str = ""

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.waiting:
            return "waiting"
        if self.ready:
            return "ready"
        return "deleted" if self.deleted and not self.applied else "applied"


class LiveView:
    """The live block: feed it events and ticks, write what it returns."""

    def __init__(self, *, width: int = 100, colour: bool = False) -> None:
        self.width = max(40, width)
        self.colour = colour
        self.rows: dict[str, _Row] = {}
        self.drawn = 0  # lines of the block currently on screen
        self.frame = 0

    def event(self, event: Any, now: float) -> str:
        """Update for one event; returns the redraw (an info line is printed above the block)."""
        if not event.model:  # plain_line escapes it
            return self._above(plain_line(event, colour=self.colour), now)
        row = self.rows.get(event.model)
        if row is None:
            row = self.rows[event.model] = _Row(event.model, now)
        obj = str(event.key) if event.key is not None else ""
        if event.kind == "applied":
            row.applied += 1
        elif event.kind == "deleted":
            row.deleted += 1
        elif event.kind == "waiting":
            row.waiting.add(obj)
        elif event.kind == "ready":
            row.waiting.discard(obj)
            row.ready += 1
        elif event.kind == "failed":
            row.failed = True
        row.message = printable(f"{obj}: {event.message}" if obj else event.message)
        row.ended = now if row.status in ("ready", "failed") else None
        return self._draw(now)

    def tick(self, now: float) -> str:
        """A redraw with the spinner turned and the clocks advanced ("" before the first event)."""
        self.frame += 1
        return self._draw(now) if self.rows else ""

    def finish(self, now: float) -> str:
        """The last redraw: no spinner, the block stays on screen."""
        if not self.rows:
            return ""
        self.frame = -1
        return self._draw(now)

    def _above(self, line: str, now: float) -> str:
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self.drawn = 0
        return up + "\x1b[2K" + self._cut(line) + "\n" + (self._draw(now) if self.rows else "")

    def _draw(self, now: float) -> str:
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        name_width = max(len(m) for m in self.rows)
        lines = []
        for model in sorted(self.rows):
            row = self.rows[model]
            status = row.status
            if status in ("waiting", "applied") and self.frame >= 0:
                symbol = SPINNER[self.frame % len(SPINNER)]
            else:
                symbol = SYMBOLS.get(status, "-")
            seconds = int((row.ended if row.ended is not None else now) - row.started)
            counts = f"{row.applied} applied" + (f", {row.deleted} deleted" if row.deleted else "")
            text = f"  {symbol} {model:<{name_width}}  {status:<7}  {seconds:>4}s  {counts}  {row.message}"
            lines.append("\x1b[2K" + _style(self._cut(text), status, self.colour))
        self.drawn = len(lines)
        return up + "\n".join(lines) + "\n"

    def _cut(self, text: str) -> str:
        return text if len(text) < self.width else text[: self.width - 2] + "…"
