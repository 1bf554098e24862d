"""RollbackScreen: the emergency rollback, guarded against slips.

The operator picks a target (applied versions below the current one, and 0; preselected from the
table's cursor row), sees the migrations that will be undone (newest first, irreversible ones
flagged), and must type the target version before the red button enables; choosing another
target clears what was typed (it confirmed the target shown then). A rollback that
would cross an irreversible migration is refused here (and again by the engine). Escape cancels;
Enter in the input only moves focus to the button, so a single stray Enter never rolls back.
Tab goes input → Rehearse → Cancel → Roll back → the two lists → target → input (``KEYS``).

It also shows what the rollback would destroy (measured with ``rollback_impact`` in this
screen's worker each time the target changes) and where the backup taken first goes. Rehearse
runs the downs and rolls them back; it never confirms.

While open it follows the database: when another connection changes it, the plan and the impact
are read again; if what the operator saw changed, the typed confirmation is cleared, the red
button is disabled again and the log says why. The screen returns a ``RunRequest`` with the
version its plan was made for, so a change after the last look is refused by the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from console.formatting import migration_label
from console.messages import ImpactLoaded, LogEntry, PlanRefreshed, post, result_handler
from console.plans import irreversible, lowest_reachable, rollback_targets, steps_to_undo
from console.screens.focus_order import FocusOrder
from console.screens.rehearsal import Rehearsable
from console.screens.typed_confirm import TypedConfirmScreen
from console.service import RollbackPlan, RunRequest, service_of
from console.widgets.text import set_text
from engine import PlanStep, RollbackImpact

#: The dialog's keys, in the order Tab visits them from the typed version (``FOCUS_ORDER``):
#: the target is one Shift+Tab back from the input; the lists (↑ ↓ scroll them) come after the
#: buttons, so they are never between the target and the input.
KEYS = "tab: input → Rehearse → Cancel → Roll back → lists → target · esc cancels"


class RollbackScreen(
    FocusOrder[RunRequest | None],
    Rehearsable[RunRequest | None],
    TypedConfirmScreen[RunRequest | None],
):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#typed"
    FOCUS_ORDER = ("target", "typed", "rehearse", "cancel", "confirm", "undo", "impact-box")
    REHEARSAL_VERB = "rollback"

    def __init__(self, plan: RollbackPlan, *, database: str, preselect: int) -> None:
        super().__init__()
        self.plan = plan
        #: The target the impact shown is for (None: still measuring).
        self.impact_target: int | None = None
        self.impact: RollbackImpact | None = None
        #: The impact sentence the operator has seen for this target (cleared when it changes).
        self._impact_seen: str | None = None
        self.database = database
        self.targets = rollback_targets(self.full_down_plan)
        self.target = preselect if preselect in self.targets else self.targets[0]
        #: The database changed: the plan (then the impact) is being read again.
        self._replanning = False
        self._remeasuring = False

    @property
    def checking(self) -> bool:
        """The database changed and what the dialog shows is being read again: confirming
        waits for it."""
        return self._replanning or self._remeasuring

    @property
    def full_down_plan(self) -> list[PlanStep]:
        return self.plan.full_down_plan

    @property
    def current_version(self) -> int:
        return self.plan.current_version

    @property
    def backup_folder(self) -> str | None:
        """Where the backup taken before the rollback goes (None: backups are off)."""
        return self.plan.backup_folder

    # -- structure ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("⚠ Emergency rollback", classes="title")
            yield Static(self._summary(), id="summary")
            with Horizontal(classes="row"):
                yield Label("Roll back to version")
                yield Select(
                    self._options(), value=self.target, allow_blank=False, compact=True, id="target"
                )
            yield Static(id="undo-title")
            with VerticalScroll(id="undo"):
                yield Static(id="undo-steps")
            with VerticalScroll(id="impact-box"):
                yield Static(id="impact")
            yield Static(id="refusal")
            yield Static(backup_line(self.backup_folder, self.current_version), id="backup-line")
            with Horizontal(classes="row"):
                yield Label("", id="typed-label")
                yield Input(restrict=r"[0-9]*", max_length=9, compact=True, id="typed")
            yield Label(KEYS, classes="keys")
            with Horizontal(id="buttons", classes="-after-keys"):
                # Tab from Cancel reaches the confirm button, as before; Rehearse is one back.
                yield Button("Rehearse", id="rehearse", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    "Roll back", id="confirm", variant="error", compact=True, disabled=True
                )

    def _summary(self) -> Text:
        summary = Text()
        summary.append("Database  ", style="dim")
        summary.append(self.database, style="bold")
        summary.append("   current version ", style="dim")
        summary.append(str(self.current_version), style="bold")
        return summary

    def _options(self) -> list[tuple[str, int]]:
        names = {step.version: step.name for step in self.full_down_plan}
        return [
            (f"{v} · {names[v]}" if v else "0 · empty schema (undo everything)", v)
            for v in self.targets
        ]

    def on_mount(self) -> None:
        self._update()
        self._request_impact()
        self.watch(self.app, "external_changes", self._database_changed, init=False)

    def _request_impact(self, *, again: bool = False) -> None:
        """Measure the impact of the current target in a worker (shown by ``show_impact``).

        ``again``: the same plan on a database that changed; the sentence shown stays until
        the new one arrives (no flicker on a busy database), and confirming waits for it.
        """
        impact = self.query_one("#impact", Static)
        self.impact_target = None
        if self.blocked or not self.steps:
            impact.remove_class("-loses-data", "-would-fail")
            self.impact = None
            set_text(impact, "")
            impact.display = False
            self._remeasuring = False
            return
        self._remeasuring = again
        if not again:
            impact.remove_class("-loses-data", "-would-fail")
            self.impact = None
            impact.display = True
            set_text(impact, Text("Measuring what this rollback would destroy…", style="italic"))
        self._measure(self.target, self.current_version)

    @work(thread=True, exclusive=True, group="impact", exit_on_error=False)
    def _measure(self, target: int, current_version: int) -> None:
        service = service_of(self.app)
        outcome = service.attempt(lambda: service.rollback_impact(target))
        post(self, ImpactLoaded(target, current_version, outcome))

    @result_handler
    def on_impact_loaded(self, message: ImpactLoaded) -> None:
        message.stop()
        if message.current_version != self.current_version:
            return  # measured on a database that has moved since
        self.show_impact(message.target, message.outcome.value, message.outcome.error)

    def show_impact(
        self, target: int, impact: RollbackImpact | None, error: str | None = None
    ) -> None:
        """Show what a rollback to ``target`` destroys; ignored when the target changed
        meanwhile. When it differs from what the operator saw for this target (the database
        changed), the typed confirmation is cleared and the log says so."""
        if target != self.target or self.blocked:
            return
        self._remeasuring = False
        sentence = impact.summary() if impact is not None else f"Impact unknown: {error}"
        seen = self._impact_seen
        self._impact_seen = sentence
        if seen is not None and seen != sentence:
            self._clear_typed()
            self.post_message(
                LogEntry(
                    f"What the rollback to {target} destroys changed while the dialog was open: "
                    f"{sentence} Type the version again to confirm.",
                    "warning",
                )
            )
        self.impact_target = target
        self.impact = impact
        widget = self.query_one("#impact", Static)
        widget.display = True
        if impact is None:
            widget.set_class(True, "-would-fail")
            set_text(widget, f"Impact unknown: {error}")
            return
        widget.set_class(impact.would_fail, "-would-fail")
        widget.set_class(impact.loses_data and not impact.would_fail, "-loses-data")
        set_text(widget, impact.summary())

    def impact_text(self) -> str:
        """The impact line as shown."""
        return str(self.query_one("#impact", Static).render())

    # -- state --------------------------------------------------------------------------------

    @property
    def steps(self) -> list[PlanStep]:
        return steps_to_undo(self.full_down_plan, self.target)

    @property
    def blocked(self) -> list[PlanStep]:
        return irreversible(self.steps)

    @property
    def confirmable(self) -> bool:
        typed = self.query_one("#typed", Input).value.strip()
        return bool(self.steps) and not self.blocked and typed == str(self.target)

    def _clear_typed(self) -> None:
        """Back to square one: focus on Cancel, the typed version gone, the red button off."""
        typed = self.query_one("#typed", Input)
        if self.focused is self.query_one("#confirm", Button):
            self.query_one("#cancel", Button).focus()
        typed.value = ""
        self.query_one("#confirm", Button).disabled = True

    # -- following the database ---------------------------------------------------------------

    def _database_changed(self) -> None:
        self._replanning = True
        self._replan()

    @work(thread=True, exclusive=True, group="replan", exit_on_error=False)
    def _replan(self) -> None:
        service = service_of(self.app)
        post(self, PlanRefreshed(service.attempt(service.rollback_plan)))

    @result_handler
    def on_plan_refreshed(self, message: PlanRefreshed) -> None:
        message.stop()
        plan = message.outcome.value
        if not isinstance(plan, RollbackPlan):
            self._clear_typed()
            self.post_message(
                LogEntry(
                    "The database changed, and the rollback plan could not be read again: "
                    f"{message.outcome.error} Cancel and open the dialog again.",
                    "error",
                )
            )
            return  # still checking: the rollback stays refused
        old, self.plan = self.plan, plan
        self._replanning = False
        changed = (old.full_down_plan, old.current_version, old.backup_folder) != (
            plan.full_down_plan,
            plan.current_version,
            plan.backup_folder,
        )
        if changed:
            self._plan_changed(old)
        # Rows may have come or gone even when the plan is the same: measure again (confirming
        # waits for it: ``checking`` ends when the impact is shown).
        self._request_impact(again=not changed)

    def _plan_changed(self, old: RollbackPlan) -> None:
        self.targets = rollback_targets(self.full_down_plan)
        self._clear_typed()
        if self.target not in self.targets:
            self.target = self.targets[0] if self.targets else 0
        self._impact_seen = None
        select = self.query_one("#target", Select)
        with self.prevent(Select.Changed):
            select.set_options(self._options())
            if self.targets:
                select.value = self.target
        set_text(self.query_one("#summary", Static), self._summary())
        set_text(
            self.query_one("#backup-line", Static),
            backup_line(self.backup_folder, self.current_version),
        )
        self._update()
        self.post_message(
            LogEntry(
                "The database changed while the rollback dialog was open (version "
                f"{old.current_version} → {self.current_version}): the plan and its impact "
                "are read again; type the target version again to confirm.",
                "warning",
            )
        )

    def _update(self) -> None:
        steps = self.steps
        count = len(steps)
        set_text(
            self.query_one("#undo-title", Static),
            Text.assemble(
                f"Undoes {count} migration{'s' if count != 1 else ''}, newest first ",
                (f"(version {self.current_version} → {self.target}):", "bold"),
            ),
        )
        set_text(self.query_one("#undo-steps", Static), render_undo(steps))
        blocked = self.blocked
        refusal = self.query_one("#refusal", Static)
        typed = self.query_one("#typed", Input)
        if blocked:
            names = ", ".join(migration_label(s.version, s.name) for s in blocked)
            lowest = lowest_reachable(self.full_down_plan)
            set_text(
                refusal,
                f"Refused: {names} cannot be undone (no down). "
                f"The lowest reachable version is {lowest}.",
            )
            refusal.display = True
            typed.disabled = True
        else:
            refusal.update("")
            refusal.display = False
            typed.disabled = False
        self.query_one("#typed-label", Label).update(
            Text.assemble("Type the target version (", (str(self.target), "bold"), ") to confirm:")
        )
        confirm = self.query_one("#confirm", Button)
        confirm.label = f"Roll back to {self.target}"
        confirm.disabled = not self.confirmable
        self.query_one("#rehearse", Button).display = bool(self.steps) and not blocked
        if blocked and (self.focused is None or self.focused is typed):
            self.query_one("#target", Select).focus()

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int) and event.value != self.target:
            # What was typed confirmed the target shown then: a new target is typed anew.
            self._clear_typed()
            self.target = event.value
            self._impact_seen = None
            self._update()
            self._request_impact()
        else:
            self._update()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "rehearse":
            if self.steps and not self.blocked:
                self.request_rehearsal(self.target)
        elif event.button.id == "confirm" and self.confirmable:
            if self.checking:
                self.app.bell()  # the plan on screen may be out of date: look again first
                return
            self.dismiss(RunRequest("down", self.target, self.current_version))
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def render_undo(steps: Sequence[PlanStep]) -> Text:
    text = Text()
    if not steps:
        text.append("nothing to undo", style="dim")
    for index, step in enumerate(steps):
        if index:
            text.append("\n")
        text.append("down  ", style="red")
        text.append(migration_label(step.version, step.name))
        if not step.reversible:
            text.append("  ✗ irreversible", style="bold red")
    return text


def backup_line(folder: str | None, version: int) -> str:
    if folder is None:
        return "No backup will be taken (backups are off)."
    return f"A verified backup of version {version} will be written to {folder} first."
