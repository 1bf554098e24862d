"""MigrationConsole: the operations console's app (composition, bindings, state and routing).

Invariants: every engine call runs in a thread worker through ``EngineService`` and reports back
with a message (the event loop never touches SQLite); at most one migrate, rollback or restore
runs at a time, and while it runs the actions that start work are disabled; nothing is written
without an explicit confirmation, and a confirmed run carries the version its plan was shown for
(the engine refuses it if the database moved). A rehearsal or a rollback impact writes nothing.

The app's state lives in reactives (``running``, ``preparing``, ``current_version``,
``latest_version``, ``deployment``, ``external_changes``); the footer's keys follow ``running``
and ``preparing`` by themselves (``bindings=True``). Dialogs own their workers and results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.markup import escape
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from console.formatting import (
    Clock,
    display_path,
    format_duration,
    format_size,
    migration_label,
    utc_iso,
    utc_now,
)
from console.messages import (
    DatabaseChanged,
    EngineEvent,
    LoadFailed,
    LogEntry,
    MigratePlanReady,
    ReadinessLoaded,
    RestoreCompleted,
    RollbackPlanReady,
    RunCompleted,
    StatusLoaded,
    post,
    result_handler,
)
from console.plans import current_version as current_of
from console.plans import preselected_target, rollback_targets
from console.screens import (
    BackupsScreen,
    ConfirmMigrateScreen,
    HelpScreen,
    HistoryScreen,
    ReadinessScreen,
    RollbackScreen,
    TooSmallScreen,
)
from console.screens.too_small import too_small
from console.service import EngineService, LoadRequests, RunRequest, no_database_text, relative
from console.watcher import DatabaseWatcher
from console.widgets import ActionBar, ActivityLog, ConsoleHeader, MigrationTable, ReadinessPanel
from engine import (
    BackupInfo,
    BackupTaken,
    DeploymentStatus,
    Event,
    MigrationFailed,
    MigrationFinished,
    MigrationSkipped,
    MigrationStarted,
    MigrationStatus,
    Registry,
    RunFinished,
    RunStarted,
)
from engine.backends.base import ConnectOptions

#: From this width on the table has room for the Description column (and the panel is wider).
WIDE = 120
#: How often the watcher looks at the database file.
POLL_INTERVAL = 0.5

#: Actions that start engine work: disabled while a run is in progress.
WORK_ACTIONS = frozenset({"migrate", "rollback", "verify", "refresh", "backups"})
#: Actions that write: absent in read-only mode.
WRITE_ACTIONS = frozenset({"migrate", "rollback"})
#: Actions only offered on the main screen (a dialog has its own keys).
MAIN_SCREEN_ACTIONS = WORK_ACTIONS | {
    "help",
    "quit_console",
    "explain_read_only",
    "details",
    "history",
}


class MigrationConsole(App[int]):
    """The operations console for one database and one set of migrations."""

    TITLE = "metamigrate console"
    CSS_PATH = ["console.tcss", "screens/modal.tcss"]  # noqa: RUF012 (Textual's type)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "migrate", "Migrate"),
        Binding("r", "rollback", "Roll back"),
        Binding("v", "verify", "Verify"),
        Binding("b", "backups", "Backups"),
        Binding("f5", "refresh", "Refresh"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("d", "details", "Details", show=False),
        Binding("h", "history", "History", show=False),
        Binding("q", "quit_console", "Quit"),
        # Read-only: m and r say why they do nothing (the write actions are off).
        Binding("m", "explain_read_only('migrate')", show=False),
        Binding("r", "explain_read_only('roll back')", show=False),
    ]

    #: A migrate, rollback or restore is running.
    running = reactive(False, bindings=True, init=False)
    #: A plan is being read for a dialog that is about to open.
    preparing = reactive(False, bindings=True, init=False)
    current_version = reactive(0)
    latest_version = reactive(0)
    #: The deployment gate's last verdict (None: not read yet, or the database cannot be read).
    deployment: reactive[DeploymentStatus | None] = reactive(None, always_update=True, init=False)
    #: Counts the changes other connections made; open dialogs watch it and plan again.
    external_changes = reactive(0)
    #: False while the database file does not exist (only a confirmed migrate creates it).
    database_exists = reactive(True, init=False)

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        migrations: Registry | str | os.PathLike[str] | None = None,
        read_only: bool = False,
        clock: Clock | None = None,
        busy_timeout: float | None = None,
        base_path: str | os.PathLike[str] | None = None,
        connect_options: ConnectOptions | None = None,
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``busy_timeout``: seconds a migrate or rollback waits for another writer's lock
        (None: the engine's default, ``Settings.busy_timeout``).
        ``base_path``: the metadata service's folder; when given, every check includes the
        Iceberg catalog's consistency with the store (``engine.metadata``).
        ``connect_options``: how a server is reached (schema, timeouts; see ``Settings``);
        ``backup_dir``: the backups folder (default ``backups/`` beside a SQLite file, or in
        the working directory for a server)."""
        super().__init__()
        self.service = EngineService(
            db_path,
            migrations,
            read_only=read_only,
            busy_timeout=busy_timeout,
            base_path=base_path,
            connect_options=connect_options,
            backup_dir=backup_dir,
        )
        self.db_path = self.service.db_path
        schema = connect_options.schema if connect_options is not None else None
        self.db_label = display_path(db_path, schema=schema)
        self.read_only = read_only
        self.clock: Clock = clock or utc_now
        self.loads = LoadRequests()
        self.watcher = DatabaseWatcher(
            self.service.location,
            self._on_file_change,
            interval=POLL_INTERVAL,
            options=connect_options,
        )
        self._loaded_once = False
        self._quit_armed = False
        self._run_text = ""
        self._update_subtitle()

    # -- structure ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="≡")
        yield ActionBar(read_only=self.read_only, id="actions")
        with Vertical(id="main"):
            yield MigrationTable(id="migrations")
            with Horizontal(id="lower"):
                yield ActivityLog(self.clock, id="log")
                yield ReadinessPanel(id="readiness")
        # Compact: every key, Quit included, still fits in 80 columns.
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#migrations").border_title = "Migrations"
        self.query_one("#log").border_title = "Activity"
        self.query_one("#readiness").border_title = "Readiness"
        mode = " (read-only)" if self.read_only else ""
        self.log_widget.info(f"Opened {self.db_label}{mode}.")
        self.query_one(MigrationTable).focus()
        self.load("open")
        self._check_size()

    def on_resize(self, event: events.Resize) -> None:
        # Called before the app records the new size: use the event's.
        self._check_size(event.size)

    def _check_size(self, size: Size | None = None) -> None:
        """Below the minimum size, one clear screen covers everything (and takes the keys)."""
        size = size or self.size
        self.table.show_description = size.width >= WIDE
        self._show_detail()
        small = too_small(*size)
        on_top = isinstance(self.screen, TooSmallScreen)
        if small and not on_top:
            self.push_screen(TooSmallScreen())
        elif not small and on_top:
            self.pop_screen()

    def on_data_table_row_highlighted(self, event: MigrationTable.RowHighlighted) -> None:
        if event.data_table is self.table:
            self._show_detail()

    def _show_detail(self) -> None:
        """The cursor row's description, whole, in the table's bottom border (at narrow widths
        the table has no Description column; at wide ones a long description is cut there)."""
        table = self.table
        table.border_subtitle = escape(table.cursor_description) or None

    def open_dialog(self, screen: Screen[Any], callback: Callable[[Any], None]) -> None:
        """Push a dialog, unless the terminal became too small meanwhile (nothing opens)."""
        if too_small(*self.size):
            self.log_widget.warning(
                "The terminal is too small for the dialog; make it at least 80x24 and try again."
            )
            return
        # A toast repeats the activity log's newest line (kept there); over a dialog it would
        # hide the dialog's bottom-left button for its seconds on screen.
        self.clear_notifications()
        self.push_screen(screen, callback)

    def on_unmount(self) -> None:
        # Closing (q twice, ctrl+q, a lost terminal) stops a run after its current step.
        self.service.stop_run.set()
        self.watcher.stop()

    @property
    def log_widget(self) -> ActivityLog:
        return self.query_one(ActivityLog)

    @property
    def table(self) -> MigrationTable:
        return self.query_one(MigrationTable)

    @property
    def panel(self) -> ReadinessPanel:
        return self.query_one(ReadinessPanel)

    # -- state --------------------------------------------------------------------------------

    def _update_subtitle(self) -> None:
        mode = " · READ-ONLY" if self.read_only else ""
        if not self.database_exists:
            self.sub_title = f"{self.db_label} · no database yet · 0 of {self.latest_version}{mode}"
            return
        self.sub_title = (
            f"{self.db_label} · version {self.current_version} of {self.latest_version}{mode}"
        )

    def watch_current_version(self) -> None:
        self._update_subtitle()

    def watch_latest_version(self) -> None:
        self._update_subtitle()

    def watch_database_exists(self) -> None:
        self._update_subtitle()

    def no_database_text(self) -> str:
        """What the console says while the database file does not exist (nothing created it)."""
        pending = self.deployment.pending_count if self.deployment else self.latest_version
        return no_database_text(self.db_label, read_only=self.read_only, pending=pending)

    def watch_running(self, running: bool) -> None:
        self._quit_armed = False
        self.query_one(ActionBar).set_busy(running, self._run_text)

    def watch_deployment(
        self, before: DeploymentStatus | None, deployment: DeploymentStatus | None
    ) -> None:
        if deployment is None:
            return
        if not self.database_exists:
            self.panel.show_missing(deployment, self.no_database_text())
            return
        self.panel.show(deployment, read_only=self.read_only)
        if before is not None and before.status != deployment.status:
            self._log_readiness_change(before, deployment)

    def _log_readiness_change(self, before: DeploymentStatus, after: DeploymentStatus) -> None:
        """READY → ERROR (or any change of verdict), with the problems that are new."""
        change = f"Readiness: {before.status.upper()} → {after.status.upper()}"
        new = [p for p in after.problems if p not in before.problems]
        if after.status == "error":
            self.log_widget.error(f"{change}.")
            for problem in new:
                self.log_widget.error(f"  {problem}")
        elif after.status == "ready":
            self.log_widget.success(f"{change}: every migration applied, every check passes.")
        else:
            self.log_widget.warning(f"{change}: {' '.join(new) or 'migrations are waiting.'}")

    @result_handler
    def on_log_entry(self, message: LogEntry) -> None:
        self.log_widget.add_entry(message.text, message.level)
        if message.toast is not None:
            self.notify(
                message.text,
                title=message.toast,
                severity="error" if message.level == "error" else "information",
                timeout=10,
            )

    # -- loading ------------------------------------------------------------------------------

    def load(self, reason: str) -> None:
        """Re-read status and readiness (merged with the load in flight, see LoadRequests)."""
        if self.loads.add(reason):
            self._load_worker()

    @work(thread=True, group="load", exit_on_error=False)
    def _load_worker(self) -> None:
        service = self.service
        while (reason := self.loads.take()) is not None:
            if reason == "open":
                # Take the watcher's baseline, then poll (neither creates a missing file).
                self.watcher.prime()
                self.watcher.start()
            exists = service.attempt(service.exists)
            if exists.value is None:
                post(self, LoadFailed(exists.error or "The database could not be found."))
                continue
            read = service.attempt(service.statuses)
            if read.value is None:
                post(self, LoadFailed(read.error or "The database could not be read."))
                continue
            statuses, latest = read.value
            post(self, StatusLoaded(statuses, latest, reason, exists.value))
            gate = service.attempt(partial(service.readiness, full_checksums=reason == "verify"))
            if gate.value is None:
                post(self, LoadFailed(gate.error or "The checks could not run."))
            else:
                post(self, ReadinessLoaded(gate.value, reason))

    @result_handler
    def on_status_loaded(self, message: StatusLoaded) -> None:
        before = self.current_version
        self.database_exists = message.exists
        current = current_of(message.statuses)
        self.table.show(message.statuses)
        self._show_detail()
        self.current_version = current
        self.latest_version = message.latest_version
        if message.reason == "external" and self._loaded_once and current != before:
            self.log_widget.warning(
                f"The database changed outside the console: version {before} → {current}."
            )
        self._loaded_once = True

    @result_handler
    def on_readiness_loaded(self, message: ReadinessLoaded) -> None:
        deployment = message.deployment
        self.deployment = deployment
        if not self.database_exists:
            if message.reason in ("open", "verify", "refresh"):
                self.log_widget.warning(self.no_database_text())
            return
        if message.reason == "open":
            self.log_widget.info(
                f"Version {deployment.current_version} of {deployment.latest_version}: "
                f"{deployment.status.upper()}."
            )
            if deployment.status == "error":
                for problem in deployment.problems:
                    self.log_widget.error(problem)
        elif message.reason == "verify":
            self._log_verification(deployment)
        elif message.reason == "refresh":
            self.log_widget.info(
                f"Refreshed: version {deployment.current_version} of "
                f"{deployment.latest_version}, {deployment.status.upper()}."
            )

    @result_handler
    def on_load_failed(self, message: LoadFailed) -> None:
        self.deployment = None
        self.panel.show_error(message.error)
        self.log_widget.error(message.error)

    def _log_verification(self, deployment: DeploymentStatus) -> None:
        report = deployment.verification
        if report is None:
            for problem in deployment.problems:
                self.log_widget.error(problem)
            return
        unchecked = 0
        for check in report.checks:
            detail = f" ({check.detail})" if check.detail else ""
            if check.status == "not checked":  # could not be made: neither a pass nor a failure
                unchecked += 1
                self.log_widget.info(f"- {check.title}{detail or ' (not checked)'}")
            elif check.passed:
                self.log_widget.success(f"✓ {check.title}{detail}")
            else:
                self.log_widget.error(f"✗ {check.title}")
                for problem in check.problems:
                    self.log_widget.error(f"  {problem}")
        if not report.ok:
            verdict = f"{len(report.problems)} problem(s)"
        elif unchecked:
            verdict = f"no problems, {unchecked} check{'s' if unchecked != 1 else ''} not checked"
        else:
            verdict = "all checks pass"
        self.log_widget.info(f"Verify: {verdict}; {deployment.status.upper()}.")

    def _on_file_change(self, reason: str) -> None:
        """Called by the watcher in its thread."""
        post(self, DatabaseChanged(reason))

    @result_handler
    def on_database_changed(self, message: DatabaseChanged) -> None:
        if self.running:
            return  # The run's own commits; the app reloads when the run ends.
        self.external_changes += 1
        self.load("external")

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action in WRITE_ACTIONS and self.read_only:
            return False
        if action == "explain_read_only":
            return self.read_only
        if action in WORK_ACTIONS and (self.running or self.preparing):
            return None
        return True

    def action_explain_read_only(self, what: str) -> None:
        text = (
            f"Read-only: the console was opened with --read-only, so it cannot {what}; "
            f"nothing was changed. Open it without --read-only to {what}."
        )
        self.log_widget.warning(text)
        self.notify(text, title="Read-only", severity="warning")

    def action_refresh(self) -> None:
        self.load("refresh")

    def action_verify(self) -> None:
        self.log_widget.info("Verifying…")
        self.load("verify")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_history(self) -> None:
        """Every attempt, newest first: who, where, when, how long, and what failed."""
        self.push_screen(HistoryScreen())

    def action_details(self) -> None:
        """Every check and problem of the readiness verdict shown (the panel is a summary)."""
        if self.deployment is None:
            self.log_widget.info("No readiness verdict yet: the database has not been read.")
            return
        self.push_screen(ReadinessScreen(self.deployment))

    async def action_quit_console(self) -> None:
        if self.running and not self._quit_armed:
            self._quit_armed = True
            self.notify(
                "A run is in progress. Press q again to stop it after the current migration "
                "and quit.",
                title="Quit",
                severity="warning",
            )
            return
        self.service.stop_run.set()
        self.exit(0)

    # -- migrate and rollback dialogs ---------------------------------------------------------

    def action_migrate(self) -> None:
        if self.read_only or self.running or self.preparing:
            return
        self.preparing = True
        self._migrate_plan_worker()

    @work(thread=True, group="plan", exit_on_error=False)
    def _migrate_plan_worker(self) -> None:
        outcome = self.service.attempt(self.service.migrate_plan)
        post(self, MigratePlanReady(outcome))

    @result_handler
    def on_migrate_plan_ready(self, message: MigratePlanReady) -> None:
        self.preparing = False
        plan = message.outcome.value
        if plan is None:
            self._plan_failed("migrate", message.outcome.error)
            return
        if not plan.steps:
            latest = plan.latest_version
            text = f"Nothing to migrate: the database is at the latest version ({latest})."
            self.log_widget.info(text)
            self.notify(text, title="Migrate")
            return

        def confirmed(request: RunRequest | None) -> None:
            if request is not None:
                self.start_run(request)
            else:
                self.log_widget.info("Migrate cancelled; nothing was changed.")

        self.open_dialog(ConfirmMigrateScreen(plan, database=self.db_label), confirmed)

    def action_rollback(self) -> None:
        if self.read_only or self.running or self.preparing:
            return
        self.preparing = True
        self._rollback_plan_worker(self.table.cursor_version)

    @work(thread=True, group="plan", exit_on_error=False)
    def _rollback_plan_worker(self, cursor_version: int | None) -> None:
        outcome = self.service.attempt(self.service.rollback_plan)
        post(self, RollbackPlanReady(outcome, cursor_version))

    @result_handler
    def on_rollback_plan_ready(self, message: RollbackPlanReady) -> None:
        self.preparing = False
        plan = message.outcome.value
        if plan is None:
            self._plan_failed("rollback", message.outcome.error)
            return
        targets = rollback_targets(plan.full_down_plan)
        if not targets:
            if plan.database_exists:
                text = "Nothing to roll back: no migration is applied."
            else:
                missing = self.no_database_text()  # "No database at PATH yet; press m ..."
                text = f"Nothing to roll back: {missing[:1].lower()}{missing[1:]}"
            self.log_widget.info(text)
            self.notify(text, title="Roll back")
            return

        def chosen(request: RunRequest | None) -> None:
            if request is None:
                self.log_widget.info("Rollback cancelled; nothing was changed.")
            else:
                self.start_run(request)

        self.open_dialog(
            RollbackScreen(
                plan,
                database=self.db_label,
                preselect=preselected_target(targets, message.cursor_version),
            ),
            chosen,
        )

    def _plan_failed(self, action: str, error: str | None) -> None:
        text = error or f"Cannot {action}."
        self.log_widget.error(text)
        self.notify(text, title=f"Cannot {action}", severity="error")

    # -- backups ------------------------------------------------------------------------------

    def action_backups(self) -> None:
        if self.running:
            return

        def chosen(info: BackupInfo | None) -> None:
            if info is not None:
                self.start_restore(info)

        self.open_dialog(BackupsScreen(database=self.db_label, read_only=self.read_only), chosen)

    def start_restore(self, info: BackupInfo) -> None:
        if self.running or self.read_only:
            return
        self._run_text = f"▶ Restoring version {info.version}…"
        self.running = True
        self.log_widget.info(f"Restoring {info.name} (version {info.version})…")
        self._restore_worker(info)

    @work(thread=True, group="run", exit_on_error=False)
    def _restore_worker(self, info: BackupInfo) -> None:
        outcome = self.service.attempt(lambda: self.service.restore(info, self.watcher))
        post(self, RestoreCompleted(info, outcome))

    @result_handler
    def on_restore_completed(self, message: RestoreCompleted) -> None:
        self.running = False
        result = message.outcome.value
        if result is None:
            error = message.outcome.error or "The restore failed."
            self.log_widget.error(error)
            self.notify(error, title="Restore failed", severity="error", timeout=10)
        else:
            text = f"Restored {result.restored.name}: the database is at version {result.version}."
            self.log_widget.success(text)
            if result.replaced is not None:
                where = display_path(relative(str(result.replaced.path)), 60)
                replaced = self.service.what_is_replaced
                self.log_widget.info(
                    f"The replaced {replaced} (version {result.replaced.version}) was kept: "
                    f"{where}."
                )
            self.notify(text, title="Restore")
        self.load("run")

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, request: RunRequest) -> None:
        if self.running or self.read_only:
            return
        verb = "Migrating" if request.direction == "up" else "Rolling back"
        self._run_text = f"▶ {verb} to {request.target}…"
        self.running = True
        self._run_worker(request)

    @work(thread=True, group="run", exit_on_error=False)
    def _run_worker(self, request: RunRequest) -> None:
        run = partial(self.service.run, request, self._forward_event, self.watcher)
        outcome = self.service.attempt(run)
        post(self, RunCompleted(request, outcome))

    def _forward_event(self, event: Event) -> None:
        """Called by the engine in the worker thread: hand the event to the event loop."""
        post(self, EngineEvent(event))

    @result_handler
    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        log = self.log_widget
        table = self.table
        if isinstance(event, RunStarted):
            self.database_exists = True  # a run starts on the database it opened (or created)
            table.clear_marks()
            self.panel.show_run(event.from_version, self.latest_version, *table.counts)
            verb = "Migrating" if event.direction == "up" else "Rolling back"
            count = len(event.steps)
            log.info(
                f"{verb} {self.db_label} from version {event.from_version} to "
                f"{event.target_version}: {count} step{'s' if count != 1 else ''}."
            )
        elif isinstance(event, MigrationStarted):
            table.mark(event.version, "running")
            table.reveal(event.version)  # the running row stays in view
            verb = "Applying" if event.direction == "up" else "Undoing"
            log.info(f"▶ {verb} {migration_label(event.version, event.name)}…")
        elif isinstance(event, MigrationFinished):
            table.mark(event.version, None)
            self._row_finished(event)
            self.panel.show_run(self.current_version, self.latest_version, *table.counts)
            verb = "Applied" if event.direction == "up" else "Undid"
            log.success(
                f"✓ {verb} {migration_label(event.version, event.name)} "
                f"in {format_duration(event.duration_ms)}."
            )
        elif isinstance(event, MigrationSkipped):
            log.warning(
                f"· Skipped {migration_label(event.version, event.name)}: another runner did it."
            )
        elif isinstance(event, MigrationFailed):
            table.mark(event.version, "failed")
            verb = "apply" if event.direction == "up" else "undo"
            log.error(f"✗ Could not {verb} {migration_label(event.version, event.name)}.")
        elif isinstance(event, RunFinished):
            self.current_version = event.to_version
        elif isinstance(event, BackupTaken):
            where = display_path(relative(event.path), 60)
            log.info(
                f"Backup of version {event.version} saved: {where} ({format_size(event.size)})."
            )

    def _row_finished(self, event: MigrationFinished) -> None:
        """Show the finished step at once; the reload after the run brings the recorded values."""
        status = self.table.status_of(event.version)
        if status is None:
            return
        if event.direction == "up":
            now = utc_iso(self.clock())  # the column says UTC
            updated = MigrationStatus(
                status.version,
                status.name,
                status.description,
                "applied",
                now,
                event.duration_ms,
                True,
                status.reversible,
            )
            self.current_version = event.version
        else:
            updated = MigrationStatus(
                status.version,
                status.name,
                status.description,
                "pending",
                None,
                None,
                None,
                status.reversible,
            )
            self.current_version = event.version - 1
        self.table.set_status(updated)

    @result_handler
    def on_run_completed(self, message: RunCompleted) -> None:
        self.running = False
        what = "Migrate" if message.request.direction == "up" else "Rollback"
        result = message.outcome.value
        if result is None:
            error = message.outcome.error or f"The {what.lower()} failed."
            self.log_widget.error(error)
            self.notify(error, title=f"{what} failed", severity="error", timeout=10)
        else:
            if result.nothing_to_do:
                text = f"Nothing to do: the database is already at version {result.to_version}."
            else:
                text = f"{what} done: the database is at version {result.to_version}."
            self.log_widget.success(text)
            self.notify(text, title=what)
        self.load("run")

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if not self.read_only:
            yield SystemCommand(
                "Migrate to latest",
                "Show the plan, then apply it after you confirm",
                self.action_migrate,
            )
            yield SystemCommand(
                "Roll back to…",
                "Emergency rollback to a version you type to confirm",
                self.action_rollback,
            )
        yield SystemCommand(
            "Verify",
            "Integrity, foreign keys, edited migrations, schema drift",
            self.action_verify,
        )
        yield SystemCommand("Refresh", "Re-read the database now", self.action_refresh)
        yield SystemCommand(
            "Backups",
            "List the verified backups"
            + ("" if self.read_only else "; restore one after you type its version"),
            self.action_backups,
        )
        yield SystemCommand(
            "History", "Every attempt: who, host, when, how long, what failed", self.action_history
        )
        yield SystemCommand(
            "Readiness details", "Every check and problem of the verdict", self.action_details
        )
        yield SystemCommand("Help", "Keys and what the screen shows", self.action_help)
        yield from super().get_system_commands(screen)
