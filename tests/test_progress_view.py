"""The progress view of `specc apply`, driven with events and a fake clock: plain lines (pipes, CI)
and the live per-model block (a terminal), whose redraws must land on the same lines every time."""

from __future__ import annotations

import re

from specc.apply import Event
from specc.objects import ObjectKey
from specc.report.progress import LiveView, plain_line

DEPLOY = ObjectKey("apps", "Deployment", "ml", "ranker")
SERVICE = ObjectKey("", "Service", "ml", "ranker")
OTHER = ObjectKey("apps", "Deployment", "ml", "embedder")
CSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def screen(chunks: list[str], rows: int = 20) -> list[str]:
    """What a terminal shows after writing `chunks`: a tiny emulator of the sequences the view uses
    (ESC[nF cursor to the start of n lines up, ESC[2K erase the line, SGR colours ignored)."""
    lines = [""] * rows
    row = 0
    for chunk in chunks:
        index = 0
        while index < len(chunk):
            match = CSI.match(chunk, index)
            if match:
                sequence = match.group()
                if sequence.endswith("F"):
                    row -= int(sequence[2:-1] or 1)
                elif sequence == "\x1b[2K":
                    lines[row] = ""
                index = match.end()
            elif chunk[index] == "\n":
                row += 1
                index += 1
            else:
                lines[row] += chunk[index]
                index += 1
    return [line for line in lines if line]


def test_plain_lines_have_no_control_sequences() -> None:
    line = plain_line(Event("waiting", "ranker", DEPLOY, "1 of 2 replicas available"))
    assert line == "  … ranker: Deployment/ranker 1 of 2 replicas available"
    assert "\x1b" not in plain_line(Event("failed", "ranker", DEPLOY, "boom"))
    assert plain_line(Event("failed", "ranker", DEPLOY, "boom"), colour=True).startswith("\x1b[31m")


def test_live_view_keeps_one_row_per_model_in_place() -> None:
    view = LiveView(width=120)
    chunks = [
        view.event(Event("applied", "ranker", SERVICE, "created"), 0.0),
        view.event(Event("applied", "ranker", DEPLOY, "created"), 0.1),
        view.event(Event("applied", "embedder", OTHER, "created"), 0.2),
        view.event(Event("waiting", "ranker", DEPLOY, "0 of 2 replicas updated"), 1.0),
        view.event(Event("waiting", "embedder", OTHER, "waiting for the rollout to start"), 1.0),
    ]
    chunks += [view.tick(1.0 + t) for t in range(1, 6)]
    shown = screen(chunks)
    assert len(shown) == 2  # redraws overwrite the block, never add to it
    assert shown[0].split()[1:4] == ["embedder", "waiting", "5s"]
    assert shown[1].split()[1:4] == ["ranker", "waiting", "6s"]
    assert "Deployment/ranker: 0 of 2 replicas updated" in shown[1]
    chunks.append(view.event(Event("ready", "ranker", DEPLOY, "2 of 2 replicas available"), 9.0))
    chunks.append(view.tick(20.0))
    chunks.append(view.finish(21.0))
    shown = screen(chunks)
    assert shown[1].split()[:4] == ["✓", "ranker", "ready", "9s"]  # its clock stopped when it was ready
    assert shown[0].split()[2:4] == ["waiting", "20s"]  # started at 0.2s


def test_the_spinner_turns_between_events() -> None:
    view = LiveView()
    view.event(Event("waiting", "ranker", DEPLOY, "0 of 1 replicas updated"), 0.0)
    frames = {screen([view.tick(0.25 * i)])[0].split()[0] for i in range(1, 5)}
    assert len(frames) == 4


def test_info_lines_print_above_the_block() -> None:
    view = LiveView()
    chunks = [view.event(Event("applied", "ranker", DEPLOY, "created"), 0.0),
              view.event(Event("info", "", None, "created namespace ml"), 0.5),
              view.tick(1.0)]
    shown = screen(chunks)
    assert shown[0] == "  · created namespace ml"
    assert shown[1].split()[1] == "ranker" and len(shown) == 2


def test_rows_are_cut_to_the_terminal_width() -> None:
    view = LiveView(width=50)
    text = view.event(Event("waiting", "ranker", DEPLOY, "x" * 200), 0.0)
    assert all(len(CSI.sub("", line)) <= 50 for line in text.splitlines())


def test_colour_only_when_asked() -> None:
    plain = LiveView(colour=False).event(Event("ready", "ranker", DEPLOY, "ok"), 0.0)
    coloured = LiveView(colour=True).event(Event("ready", "ranker", DEPLOY, "ok"), 0.0)
    assert "\x1b[32m" not in plain and "\x1b[32m" in coloured


def test_messages_from_the_cluster_cannot_drive_the_terminal() -> None:
    hostile = Event("waiting", "ranker", DEPLOY, "\x1b[2J\x1b]0;owned\x07 1 of 2")
    assert "\x1b[2J" not in plain_line(hostile) and "\\x1b[2J" in plain_line(hostile)
    drawn = LiveView().event(hostile, 0.0)
    assert "\x1b[2J" not in drawn and "\x07" not in drawn and "\\x1b[2J" in drawn
