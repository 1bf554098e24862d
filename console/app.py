"""MigrationConsole: the operations console's app (state, actions, workers, message handlers).

Invariants: every engine call runs in a thread worker and reports back with a message (the event
loop never touches SQLite); at most one migrate, rollback or restore runs at a time, and while it
runs the actions that start work are disabled; nothing is written without an explicit
confirmation (a rehearsal or a rollback impact writes nothing: it is rolled back).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from console.formatting import Clock, display_path, format_duration, local_now, migration_label
from console.messages import (
    BackupsLoaded,
    BackupsRequested,
    DatabaseChanged,
    EngineEvent,
    ImpactLoaded,
    ImpactRequested,
    LoadFailed,
    MigratePlanReady,
    PlanFailed,
    ReadinessLoaded,
    RehearsalDone,
    RehearseRequested,
    RestoreCompleted,
    RollbackPlanReady,
    RunCompleted,
    StatusLoaded,
)
from console.plans import current_version as current_of
from console.plans import preselected_target, rollback_targets
from console.screens import (
    BackupsScreen,
    ConfirmMigrateScreen,
    HelpScreen,
    Rehearsable,
    RollbackScreen,
)
from console.watcher import DatabaseWatcher
from console.widgets import ActionBar, ActivityLog, MigrationTable, ReadinessPanel
from engine import (
    BackupInfo,
    BackupTaken,
    DeploymentManager,
    DeploymentStatus,
    Event,
    MetamigrateError,
    MigrationFailed,
    MigrationFinished,
    MigrationManager,
    MigrationSkipped,
    MigrationStarted,
    MigrationStatus,
    Registry,
    RunFinished,
    RunStarted,
)

#: How long a read waits for another writer's lock; runs wait longer, like the CLI.
READ_BUSY_TIMEOUT = 1.0
RUN_BUSY_TIMEOUT = 5.0
#: How often the watcher looks at the database file.
POLL_INTERVAL = 0.5

#: Which reload wins when several wait for the one in flight (see ``MigrationConsole.load``).
LOAD_PRIORITY = {"verify": 3, "refresh": 2, "open": 2, "run": 1, "external": 0}

#: Actions that start engine work: disabled while a run is in progress.
WORK_ACTIONS = frozenset({"migrate", "rollback", "verify", "refresh", "backups"})
#: Actions that write: absent in read-only mode.
WRITE_ACTIONS = frozenset({"migrate", "rollback"})
#: Actions only offered on the main screen (a dialog has its own keys).
MAIN_SCREEN_ACTIONS = WORK_ACTIONS | {"help", "quit_console"}


class MigrationConsole(App[int]):
    """The operations console for one database and one set of migrations."""

    TITLE = "metamigrate console"
    CSS_PATH = "console.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "migrate", "Migrate"),
        Binding("r", "rollback", "Roll back"),
        Binding("v", "verify", "Verify"),
        Binding("b", "backups", "Backups"),
        Binding("f5", "refresh", "Refresh"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit_console", "Quit"),
    ]

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        migrations: Registry | str | os.PathLike[str] | None = None,
        read_only: bool = False,
        clock: Clock | None = None,
        busy_timeout: float | None = None,
        base_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """``busy_timeout``: seconds a migrate or rollback waits for another writer's lock.
        ``base_path``: the metadata service's folder; when given, every check includes the
        Iceberg catalog's consistency with the store (``engine.metadata``)."""
        super().__init__()
        self.base_path = Path(base_path) if base_path is not None else None
        self.busy_timeout = RUN_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        self.db_path = Path(db_path)
        self.db_label = display_path(db_path)
        self.migrations = migrations
        self.read_only = read_only
        self.clock: Clock = clock or local_now
        self.running = False
        self.current_version = 0
        self.latest_version = 0
        self._migration_registry: Registry | None = (
            migrations if isinstance(migrations, Registry) else None
        )
        self._preparing = False
        self._generation = 0
        self._applied_generation = 0
        self._load_in_flight = False
        self._reload_reason: str | None = None
        self._loaded_once = False
        self._watcher: DatabaseWatcher | None = None
        self._stop_run = threading.Event()
        self._quit_armed = False
        #: The modal whose Rehearse button started the rehearsal in flight.
        self._rehearsal_for: Rehearsable[object] | None = None
        self._update_subtitle()

    # -- structure ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
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
        self._watcher = DatabaseWatcher(self.db_path, self._on_file_change, interval=POLL_INTERVAL)
        self.load("open")

    def on_unmount(self) -> None:
        # Closing (q twice, ctrl+q, a lost terminal) stops a run after its current step.
        self._stop_run.set()
        if self._watcher is not None:
            self._watcher.stop()

    @property
    def log_widget(self) -> ActivityLog:
        return self.query_one(ActivityLog)

    @property
    def table(self) -> MigrationTable:
        return self.query_one(MigrationTable)

    @property
    def panel(self) -> ReadinessPanel:
        return self.query_one(ReadinessPanel)

    def _update_subtitle(self) -> None:
        mode = " · READ-ONLY" if self.read_only else ""
        self.sub_title = (
            f"{self.db_label} · version {self.current_version} of {self.latest_version}{mode}"
        )

    def _set_versions(self, current: int, latest: int | None = None) -> None:
        self.current_version = current
        if latest is not None:
            self.latest_version = latest
        self._update_subtitle()

    # -- engine access (worker threads only) --------------------------------------------------

    def _registry_now(self) -> Registry:
        if self._migration_registry is None:
            self._migration_registry = Registry.from_spec(self.migrations)
        return self._migration_registry

    def _reader(self) -> MigrationManager:
        return self._with_catalog_check(
            MigrationManager(
                self.db_path,
                self._registry_now(),
                busy_timeout=READ_BUSY_TIMEOUT,
                read_only=self.read_only,
            )
        )

    def _runner(self) -> MigrationManager:
        return self._with_catalog_check(
            MigrationManager(
                self.db_path,
                self._registry_now(),
                busy_timeout=self.busy_timeout,
                on_event=self._forward_event,
                read_only=self.read_only,
            )
        )

    def _with_catalog_check(self, manager: MigrationManager) -> MigrationManager:
        """Add the Iceberg catalog check when the console has a base path."""
        if self.base_path is not None:
            from engine.metadata import attach_catalog_check

            attach_catalog_check(manager, self.base_path)
        return manager

    def _forward_event(self, event: Event) -> None:
        """Called by the engine in the worker thread: hand the event to the event loop.

        When the operator quits during a run, the run stops after the step that is running:
        raising here, after that step committed, ends the plan with the database at a good
        version (never between BEGIN and COMMIT: MigrationFinished comes after the commit).
        """
        with contextlib.suppress(RuntimeError):  # The loop is closed: the app is exiting.
            self.post_message(EngineEvent(event))
        if self._stop_run.is_set() and isinstance(event, MigrationFinished):
            version = event.version if event.direction == "up" else event.version - 1
            raise RunStopped(
                f"Stopped after {migration_label(event.version, event.name)} because the console "
                f"was closed; the database is at version {version}."
            )

    def _on_file_change(self, reason: str) -> None:
        """Called by the watcher in its thread."""
        # RuntimeError: the event loop is already closed, the app is exiting.
        with contextlib.suppress(RuntimeError):
            self.post_message(DatabaseChanged(reason))

    # -- loading ------------------------------------------------------------------------------

    def load(self, reason: str) -> None:
        """Re-read status and readiness; coalesces requests made while a load is running.

        Of the requests that wait, the one whose result the operator asked to see wins
        (verify, then refresh, then the others), so a poll never swallows a Verify.
        """
        if self._load_in_flight:
            waiting = self._reload_reason
            if waiting is None or LOAD_PRIORITY.get(reason, 0) >= LOAD_PRIORITY.get(waiting, 0):
                self._reload_reason = reason
            return
        self._load_in_flight = True
        self._generation += 1
        self._load_worker(self._generation, reason)

    @work(thread=True, group="load", exit_on_error=False)
    def _load_worker(self, generation: int, reason: str) -> None:
        try:
            manager = self._reader()
            if reason == "open" and self._watcher is not None:
                self._start_watching(manager)
            statuses = manager.status()
            self.post_message(StatusLoaded(generation, statuses, manager.latest_version, reason))
            # Verify (v) re-reads every migration file; opening and following the database
            # trust the size/mtime cache (quick with a thousand migrations).
            full = reason == "verify"
            deployment = DeploymentManager(manager).status(full_checksums=full)
            self.post_message(ReadinessLoaded(generation, deployment, reason))
        except MetamigrateError as exc:
            self.post_message(LoadFailed(generation, exc.message))
        except Exception as exc:  # A bug must not kill the console: say it, keep running.
            self.post_message(LoadFailed(generation, unexpected(exc)))

    def _start_watching(self, manager: MigrationManager) -> None:
        """In the first load: create a missing file, take the watcher's baseline, then poll."""
        assert self._watcher is not None
        try:
            if not self.read_only:
                with manager.connection():
                    pass  # Creates a missing database file (empty, version 0); writes nothing.
        finally:
            self._watcher.prime()
            self._watcher.start()

    def _load_done(self) -> None:
        self._load_in_flight = False
        if self._reload_reason is not None:
            reason, self._reload_reason = self._reload_reason, None
            self.load(reason)

    def on_status_loaded(self, message: StatusLoaded) -> None:
        if message.generation < self._applied_generation:
            return
        self._applied_generation = message.generation
        before = self.current_version
        current = current_of(message.statuses)
        self.table.show(message.statuses)
        self._set_versions(current, message.latest_version)
        if message.reason == "external" and self._loaded_once and current != before:
            self.log_widget.warning(
                f"The database changed outside the console: version {before} → {current}."
            )
        self._loaded_once = True

    def on_readiness_loaded(self, message: ReadinessLoaded) -> None:
        if message.generation >= self._applied_generation:
            deployment = message.deployment
            self.panel.show(deployment)
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
        self._load_done()

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.generation >= self._applied_generation:
            self._applied_generation = message.generation
            self.panel.show_error(message.error)
            self.log_widget.error(message.error)
        self._load_done()

    def _log_verification(self, deployment: DeploymentStatus) -> None:
        report = deployment.verification
        if report is None:
            for problem in deployment.problems:
                self.log_widget.error(problem)
            return
        for check in report.checks:
            if check.passed:
                detail = f" ({check.detail})" if check.detail else ""
                self.log_widget.success(f"✓ {check.title}{detail}")
            else:
                self.log_widget.error(f"✗ {check.title}")
                for problem in check.problems:
                    self.log_widget.error(f"  {problem}")
        verdict = "all checks pass" if report.ok else f"{len(report.problems)} problem(s)"
        self.log_widget.info(f"Verify: {verdict}; {deployment.status.upper()}.")

    def on_database_changed(self, message: DatabaseChanged) -> None:
        if self.running:
            return  # The run's own commits; the app reloads when the run ends.
        self.load("external")

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action in WRITE_ACTIONS and self.read_only:
            return False
        if action in WORK_ACTIONS and (self.running or self._preparing):
            return None
        return True

    def _set_running(self, running: bool, text: str = "") -> None:
        self.running = running
        self._quit_armed = False
        self.query_one(ActionBar).set_busy(running, text)
        self.refresh_bindings()

    def action_refresh(self) -> None:
        self.load("refresh")

    def action_verify(self) -> None:
        self.log_widget.info("Verifying…")
        self.load("verify")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

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
        self._stop_run.set()
        self.exit(0)

    def action_migrate(self) -> None:
        if self.read_only or self.running or self._preparing:
            return
        self._preparing = True
        self.refresh_bindings()
        self._migrate_plan_worker()

    @work(thread=True, group="plan", exit_on_error=False)
    def _migrate_plan_worker(self) -> None:
        try:
            manager = self._reader()
            steps = manager.plan(manager.latest_version)
            current = manager.current_version
            self.post_message(MigratePlanReady(steps, current, manager.latest_version))
        except MetamigrateError as exc:
            self.post_message(PlanFailed("migrate", exc.message))
        except Exception as exc:
            self.post_message(PlanFailed("migrate", unexpected(exc)))

    def on_migrate_plan_ready(self, message: MigratePlanReady) -> None:
        self._preparing = False
        self.refresh_bindings()
        if not message.steps:
            text = (
                "Nothing to migrate: the database is at the latest version "
                f"({message.latest_version})."
            )
            self.log_widget.info(text)
            self.notify(text, title="Migrate")
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._start_run("up", message.latest_version)
            else:
                self.log_widget.info("Migrate cancelled; nothing was changed.")

        self.push_screen(
            ConfirmMigrateScreen(
                message.steps,
                database=self.db_label,
                current_version=message.current_version,
                target_version=message.latest_version,
            ),
            confirmed,
        )

    def action_rollback(self) -> None:
        if self.read_only or self.running or self._preparing:
            return
        self._preparing = True
        self.refresh_bindings()
        self._rollback_plan_worker(self.table.cursor_version)

    @work(thread=True, group="plan", exit_on_error=False)
    def _rollback_plan_worker(self, cursor_version: int | None) -> None:
        try:
            manager = self._reader()
            steps = manager.plan(0)
            current = max((step.version for step in steps), default=0)
            folder = relative(str(manager.backups.folder)) if manager.backup_enabled else None
            self.post_message(RollbackPlanReady(steps, current, cursor_version, folder))
        except MetamigrateError as exc:
            self.post_message(PlanFailed("rollback", exc.message))
        except Exception as exc:
            self.post_message(PlanFailed("rollback", unexpected(exc)))

    def on_rollback_plan_ready(self, message: RollbackPlanReady) -> None:
        self._preparing = False
        self.refresh_bindings()
        targets = rollback_targets(message.full_down_plan)
        if not targets:
            text = "Nothing to roll back: no migration is applied."
            self.log_widget.info(text)
            self.notify(text, title="Roll back")
            return

        def chosen(target: int | None) -> None:
            if target is None:
                self.log_widget.info("Rollback cancelled; nothing was changed.")
            else:
                self._start_run("down", target)

        self.push_screen(
            RollbackScreen(
                message.full_down_plan,
                database=self.db_label,
                current_version=message.current_version,
                preselect=preselected_target(targets, message.cursor_version),
                backup_folder=message.backup_folder,
            ),
            chosen,
        )

    def on_plan_failed(self, message: PlanFailed) -> None:
        self._preparing = False
        self.refresh_bindings()
        self.log_widget.error(message.error)
        self.notify(message.error, title=f"Cannot {message.action}", severity="error")

    # -- rollback impact and rehearsal (asked for by the modals) ------------------------------

    def on_impact_requested(self, message: ImpactRequested) -> None:
        self._impact_worker(message.target)

    @work(thread=True, group="impact", exit_on_error=False)
    def _impact_worker(self, target: int) -> None:
        # It takes the write lock for a moment (the downs run in a transaction rolled back).
        try:
            impact = self._runner_quiet().rollback_impact(target)
            self.post_message(ImpactLoaded(target, impact=impact))
        except MetamigrateError as exc:
            self.post_message(ImpactLoaded(target, error=exc.message))
        except Exception as exc:
            self.post_message(ImpactLoaded(target, error=unexpected(exc)))

    def on_impact_loaded(self, message: ImpactLoaded) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, RollbackScreen):
                screen.show_impact(message.target, message.impact, message.error)

    def _runner_quiet(self) -> MigrationManager:
        """A manager for rehearsals: the run's busy timeout, no events (nothing is kept)."""
        return self._with_catalog_check(
            MigrationManager(
                self.db_path,
                self._registry_now(),
                busy_timeout=self.busy_timeout,
                read_only=self.read_only,
            )
        )

    def on_rehearse_requested(self, message: RehearseRequested) -> None:
        # The report goes back to this modal only (not to another one opened meanwhile).
        self._rehearsal_for = self.screen if isinstance(self.screen, Rehearsable) else None
        what = "migrate" if message.target >= self.current_version else "rollback"
        self.log_widget.info(f"Rehearsing {what} to {message.target}; nothing will be kept…")
        self._rehearse_worker(message.target)

    @work(thread=True, group="rehearse", exit_on_error=False)
    def _rehearse_worker(self, target: int) -> None:
        try:
            report = self._runner_quiet().rehearse(target)
            self.post_message(RehearsalDone(target, report=report))
        except MetamigrateError as exc:
            self.post_message(RehearsalDone(target, error=exc.message))
        except Exception as exc:
            self.post_message(RehearsalDone(target, error=unexpected(exc)))

    def on_rehearsal_done(self, message: RehearsalDone) -> None:
        asked, self._rehearsal_for = self._rehearsal_for, None
        if asked is not None and asked.is_attached:
            asked.rehearsal_finished()
        screen = asked if asked is not None and self.screen is asked else None
        report = message.report
        if report is None:
            error = message.error or "The rehearsal failed."
            self.log_widget.error(f"Rehearsal: {error}")
            self.notify(error, title="Rehearsal failed", severity="error", timeout=10)
            return
        count = len(report.steps)
        what = "migrate" if report.direction == "up" else "rollback"
        head = f"Rehearsal of {what} to {report.target_version}"
        if report.ok:
            self.log_widget.success(
                f"{head}: all {count} step{'s' if count != 1 else ''} would succeed "
                f"({format_duration(report.duration_ms)}); nothing was kept."
            )
        else:
            failed = report.failed_step
            label = migration_label(failed.version, failed.name) if failed else "a step"
            self.log_widget.error(f"{head}: {label} would fail: {failed.error if failed else ''}")
        if screen is not None:
            screen.show_rehearsal(report)

    # -- backups ------------------------------------------------------------------------------

    def action_backups(self) -> None:
        if self.running:
            return

        def chosen(info: BackupInfo | None) -> None:
            if info is not None:
                self._start_restore(info)

        self.push_screen(
            BackupsScreen(
                database=self.db_label,
                current_version=self.current_version,
                read_only=self.read_only,
            ),
            chosen,
        )

    def on_backups_requested(self, message: BackupsRequested) -> None:
        self._backups_worker()

    @work(thread=True, group="backups", exit_on_error=False)
    def _backups_worker(self) -> None:
        folder = ""
        try:
            manager = self._reader()
            folder = relative(str(manager.backups.folder))
            self.post_message(BackupsLoaded(manager.list_backups(), folder))
        except MetamigrateError as exc:
            self.post_message(BackupsLoaded([], folder, exc.message))
        except Exception as exc:
            self.post_message(BackupsLoaded([], folder, unexpected(exc)))

    def on_backups_loaded(self, message: BackupsLoaded) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, BackupsScreen):
                screen.show_backups(message.backups, message.folder, message.error)

    def _start_restore(self, info: BackupInfo) -> None:
        if self.running or self.read_only:
            return
        self._set_running(True, f"▶ Restoring version {info.version}…")
        self.log_widget.info(f"Restoring {info.name} (version {info.version})…")
        self._restore_worker(info)

    @work(thread=True, group="run", exit_on_error=False)
    def _restore_worker(self, info: BackupInfo) -> None:
        try:
            manager = self._runner()
            manager.backups.describe(info.path)  # a bad file is refused before anything changes
            # The watcher's connection would keep the old file (and refuse a WAL restore).
            if self._watcher is not None:
                self._watcher.pause()
            try:
                result = manager.restore(info)
            finally:
                if self._watcher is not None:
                    self._watcher.resume()
            self.post_message(RestoreCompleted(info, result=result))
        except MetamigrateError as exc:
            self.post_message(RestoreCompleted(info, error=exc.message))
        except Exception as exc:
            self.post_message(RestoreCompleted(info, error=unexpected(exc)))

    def on_restore_completed(self, message: RestoreCompleted) -> None:
        self._set_running(False)
        if message.error is not None or message.result is None:
            error = message.error or "The restore failed."
            self.log_widget.error(error)
            self.notify(error, title="Restore failed", severity="error", timeout=10)
        else:
            result = message.result
            text = f"Restored {result.restored.name}: the database is at version {result.version}."
            self.log_widget.success(text)
            if result.replaced is not None:
                where = display_path(relative(str(result.replaced.path)), 60)
                self.log_widget.info(
                    f"The replaced file (version {result.replaced.version}) was kept: {where}."
                )
            self.notify(text, title="Restore")
        self.load("run")

    # -- runs ---------------------------------------------------------------------------------

    def _start_run(self, direction: str, target: int) -> None:
        if self.running or self.read_only:
            return
        verb = "Migrating" if direction == "up" else "Rolling back"
        self._set_running(True, f"▶ {verb} to {target}…")
        self._run_worker(direction, target)

    @work(thread=True, group="run", exit_on_error=False)
    def _run_worker(self, direction: str, target: int) -> None:
        try:
            manager = self._runner()
            run = manager.migrate_to if direction == "up" else manager.rollback
            result = run(target)
            self.post_message(RunCompleted(direction, target, result=result))
        except MetamigrateError as exc:
            self.post_message(RunCompleted(direction, target, error=exc.message))
        except Exception as exc:
            self.post_message(RunCompleted(direction, target, error=unexpected(exc)))

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        log = self.log_widget
        table = self.table
        if isinstance(event, RunStarted):
            table.clear_marks()
            verb = "Migrating" if event.direction == "up" else "Rolling back"
            count = len(event.steps)
            log.info(
                f"{verb} {self.db_label} from version {event.from_version} to "
                f"{event.target_version}: {count} step{'s' if count != 1 else ''}."
            )
        elif isinstance(event, MigrationStarted):
            table.mark(event.version, "running")
            verb = "Applying" if event.direction == "up" else "Undoing"
            log.info(f"▶ {verb} {migration_label(event.version, event.name)}…")
        elif isinstance(event, MigrationFinished):
            table.mark(event.version, None)
            self._row_finished(event)
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
            self._set_versions(event.to_version)
        elif isinstance(event, BackupTaken):
            where = display_path(relative(event.path), 60)
            log.info(
                f"Backup of version {event.version} saved: {where} ({event.size / 1024:,.0f} KiB)."
            )

    def _row_finished(self, event: MigrationFinished) -> None:
        """Show the finished step at once; the reload after the run brings the recorded values."""
        status = self.table.status_of(event.version)
        if status is None:
            return
        if event.direction == "up":
            now = self.clock().astimezone().strftime("%Y-%m-%dT%H:%M")
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
            self._set_versions(event.version)
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
            self._set_versions(event.version - 1)
        self.table.set_status(updated)

    def on_run_completed(self, message: RunCompleted) -> None:
        self._set_running(False)
        what = "Migrate" if message.direction == "up" else "Rollback"
        if message.error is not None:
            self.log_widget.error(message.error)
            self.notify(message.error, title=f"{what} failed", severity="error", timeout=10)
        elif message.result is not None:
            result = message.result
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
        yield SystemCommand("Help", "Keys and what the screen shows", self.action_help)
        yield from super().get_system_commands(screen)


def relative(path: str) -> str:
    """``path`` relative to the working directory when it is inside it (shorter in the log)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


class RunStopped(MetamigrateError):
    """The operator closed the console during a run: it stopped after the current step."""


def unexpected(exc: Exception) -> str:
    """A bug's sentence: the console reports it and keeps running (no traceback on screen)."""
    return f"Unexpected error (a bug, please report it): {type(exc).__name__}: {exc}"
