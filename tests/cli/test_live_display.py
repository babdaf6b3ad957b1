"""What the command line draws on a terminal while it waits: the live line of one run and
the progress bar of a batch, on a rich console forced to act as a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from flowinvoke import BatchProgress, RunStatus, WorkflowRun
from flowinvoke.cli._live import BatchProgressBar, RunProgress


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, color_system=None), screen


def test_a_runs_live_line_shows_each_status_change_and_its_polls() -> None:
    console, screen = terminal()
    polls = iter(range(100))
    with RunProgress(console=console, polls=lambda: next(polls), indent="  ") as progress:
        assert progress.live
        progress.on_update(WorkflowRun(provider="gptbots", id="run-1", status=RunStatus.PENDING))
        assert "run run-1" in progress.describe().plain
        progress.on_update(WorkflowRun(provider="gptbots", id="run-1", status=RunStatus.RUNNING))
        progress.on_update(
            WorkflowRun(provider="gptbots", id="run-1", status=RunStatus.RUNNING)
        )  # no new line
        progress.__rich__()  # what the live display draws, spinner included
        progress.on_update(
            WorkflowRun(
                provider="gptbots", id="run-1", status=RunStatus.FAILED, error="it\x1bbroke"
            )
        )
    drawn = screen.getvalue()
    assert "  run run-1: PENDING" in drawn
    assert "run run-1: RUNNING" in drawn
    assert drawn.count("RUNNING") >= 1
    assert "run run-1: FAILED" in drawn and "poll" in drawn
    assert "\x1bbroke" not in drawn  # server text never reaches the terminal raw
    assert progress.updates == 4


def test_a_run_before_its_id_and_without_a_terminal_draws_plain_lines() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=False, width=120)
    progress = RunProgress(console=console)
    assert not progress.live
    assert progress.describe().plain.startswith("starting run")
    progress.count_request()  # before the id: the start, not a poll
    with progress:
        progress.on_update(WorkflowRun(provider="aitutor", id=None, status=RunStatus.SUCCEEDED))
    assert progress.polls == 0
    assert "run: SUCCEEDED" in screen.getvalue()


def test_a_batchs_bar_counts_done_failed_and_running_and_its_time_left() -> None:
    console, screen = terminal()
    with BatchProgressBar(console, total=4) as bar:
        bar.update(BatchProgress(done=1, succeeded=1, failed=0, in_flight=3))
        bar.update(BatchProgress(done=3, succeeded=2, failed=1, in_flight=1))
        bar._progress.refresh()  # type: ignore[union-attr]
    drawn = screen.getvalue()
    assert "3/4" in drawn and "1 failed" in drawn and "1 running" in drawn and "left" in drawn
    console, screen = terminal()
    with BatchProgressBar(console, total=None) as bar:  # reading standard input: no total
        bar.update(BatchProgress(done=2, succeeded=2, failed=0, in_flight=0))
        bar._progress.refresh()  # type: ignore[union-attr]
    assert "2 done" in screen.getvalue()
