"""Every message the console's workers and widgets send, as small dataclasses in one place.

Workers run in threads and talk to the event loop only by posting these (``post_message`` is
thread-safe); a worker posts to the node that started it (the app, or the screen that asked), so
results never have to be routed. Engine results travel as an ``Outcome`` (``console.service``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.types import NoActiveAppError
from textual.worker import NoActiveWorker, get_current_worker

from console.service import (
    BackupList,
    MigratePlan,
    Outcome,
    RollbackPlan,
    RunRequest,
)
from engine import (
    BackupInfo,
    DeploymentStatus,
    Event,
    HistoryEntry,
    MigrationStatus,
    RehearsalReport,
    RestoreResult,
    RollbackImpact,
    RunResult,
)

LogLevel = Literal["info", "success", "warning", "error"]


@dataclass
class StatusLoaded(Message):
    """The migration table's rows, read from the database."""

    statuses: list[MigrationStatus]
    latest_version: int
    reason: str
    #: False: there is no database yet (every migration pending; migrate creates it).
    exists: bool = True


@dataclass
class ReadinessLoaded(Message):
    """The deployment gate's verdict, with every verification check."""

    deployment: DeploymentStatus
    reason: str


@dataclass
class LoadFailed(Message):
    """The database (or the migrations) could not be read; ``error`` is the engine's sentence."""

    error: str


@dataclass
class DatabaseChanged(Message):
    """The watcher saw another connection commit, or the file was replaced or removed."""

    reason: str


@dataclass
class EngineEvent(Message):
    """A progress event from a migrate, rollback or restore running in a worker thread."""

    event: Event


@dataclass
class RunCompleted(Message):
    """A migrate or rollback ended."""

    request: RunRequest
    outcome: Outcome[RunResult]


@dataclass
class RestoreCompleted(Message):
    """A restore ended."""

    backup: BackupInfo
    outcome: Outcome[RestoreResult]


@dataclass
class MigratePlanReady(Message):
    """The plan to latest, for the app to open the confirm dialog (or say there is nothing)."""

    outcome: Outcome[MigratePlan]


@dataclass
class RollbackPlanReady(Message):
    """The plan down to 0, for the app to open the rollback dialog."""

    outcome: Outcome[RollbackPlan]
    cursor_version: int | None


@dataclass
class PlanRefreshed(Message):
    """An open dialog's plan, read again after the database changed (to the dialog)."""

    outcome: Outcome[MigratePlan] | Outcome[RollbackPlan]


@dataclass
class ImpactLoaded(Message):
    """What ``rollback_impact(target)`` found, for the rollback dialog that asked."""

    target: int
    current_version: int
    outcome: Outcome[RollbackImpact]


@dataclass
class RehearsalDone(Message):
    """What ``rehearse(target)`` found, for the dialog whose Rehearse button asked."""

    target: int
    outcome: Outcome[RehearsalReport]


@dataclass
class BackupsLoaded(Message):
    """This database's backups, newest first, and the folder they live in."""

    outcome: Outcome[BackupList]


@dataclass
class HistoryLoaded(Message):
    """The attempt ledger, newest first, for the History screen."""

    outcome: Outcome[list[HistoryEntry]]


@dataclass
class LogEntry(Message):
    """A line for the activity log, from a screen (it bubbles up to the app)."""

    text: str
    level: LogLevel = "info"
    #: Also show it as a toast with this title (an error one when ``level`` is "error").
    toast: str | None = None


def post(node: MessagePump, message: Message) -> bool:
    """``node.post_message`` from a worker thread, unless ``node`` no longer takes results
    (``takes_results``) or the app's loop is gone; True when the message was posted."""
    if not takes_results(node):
        return False
    try:
        return node.post_message(message)
    except RuntimeError:  # the app closed: its event loop is gone
        return False


def takes_results(node: MessagePump) -> bool:
    """Whether a worker's result for ``node`` is still to be applied: not once the app is
    exiting, nor by a dialog already dismissed (it leaves the screen stack at once, but Textual
    cancels its workers only when it unmounts, and handles the messages already queued until
    then), nor by a node whose worker was cancelled. Checked when posting, and again by each
    result handler (``result_handler``): shutting down, the app still handles what was queued
    while it removes its widgets."""
    try:
        worker = get_current_worker()
    except NoActiveWorker:
        worker = None
    if worker is not None and worker.is_cancelled and worker.node is node:
        return False
    try:
        app = node.app
    except NoActiveAppError:
        return False
    if app.return_code is not None or not app.is_running:  # exit() was called, or shutdown began
        return False
    return not isinstance(node, Screen) or node in app.screen_stack


NodeT = TypeVar("NodeT", bound=MessagePump)
MessageT = TypeVar("MessageT", bound=Message)


def result_handler(
    handler: Callable[[NodeT, MessageT], None],
) -> Callable[[NodeT, MessageT], None]:
    """A handler of a worker's result that lets it go (stopped, not applied) when its node no
    longer takes results (``takes_results``): the message was queued before the node left."""

    @functools.wraps(handler)
    def guarded(node: NodeT, message: MessageT) -> None:
        if takes_results(node):
            handler(node, message)
        else:
            message.stop()

    return guarded
