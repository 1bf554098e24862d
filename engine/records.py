"""``Record``: the base of the small immutable value classes that every command loads at start.

They are plain classes with ``__slots__`` and an explicit ``__init__`` rather than dataclasses:
``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``), and each
``@dataclass`` execs generated code; for ``status --json`` that was a fifth of the whole run.

A subclass annotates its fields in ``__init__`` order (every one an ``__init__`` argument), names
them in ``__slots__`` too, and its ``__init__`` passes them, in that order, to ``_set``. ``Record``
gives it what ``@dataclass(frozen=True)`` did: equality and hashing by value, a ``repr`` naming
the fields, no assignment after ``__init__``, ``replace`` (``dataclasses.replace``) and
``as_dict`` (``dataclasses.asdict``, one level). Fields named with a leading underscore (caches)
are left out of all but ``replace``.
"""

from __future__ import annotations

from itertools import repeat
from types import MemberDescriptorType

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: this module must not import ``typing``

if TYPE_CHECKING:
    from typing import Any, Self


#: Sets a slot on an instance, past the class's ``__setattr__`` (which refuses every change).
_set_slot = MemberDescriptorType.__set__


class FrozenRecordError(AttributeError):
    """An assignment to a field of a record (they are immutable: use ``replace``)."""


class Record:
    """An immutable value: equal to another record of its class with the same field values."""

    __slots__ = ()
    #: Every field, in ``__init__`` order (a subclass's after its bases'); the public ones.
    _fields: tuple[str, ...] = ()
    _public: tuple[str, ...] = ()
    _slots: tuple[MemberDescriptorType, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        names: list[str] = []
        slots: list[MemberDescriptorType] = []
        for klass in reversed(cls.__mro__[:-2]):  # the subclasses of Record, bases first
            declared = klass.__dict__.get("__slots__", ())
            declared = {declared} if isinstance(declared, str) else set(declared)
            # Not inspect.get_annotations: importing inspect is what records avoid.
            annotated = list(klass.__dict__.get("__annotations__", {}))  # noqa: RUF063
            if declared != set(annotated):
                raise TypeError(f"{klass.__name__}: __slots__ must name its annotated fields")
            names.extend(annotated)
            slots.extend(klass.__dict__[name] for name in annotated)
        cls._fields = tuple(names)
        cls._slots = tuple(slots)
        cls._public = tuple(name for name in names if not name.startswith("_"))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field, in ``__init__`` order (``dataclasses.fields``)."""
        return cls._fields

    def _set(self, *values: object) -> None:
        """``__init__``'s assignment of every field, in annotation order (``any`` drives the
        ``map`` in C: a Python loop made records slower to build than the dataclasses were)."""
        if len(values) != len(self._slots):
            raise TypeError(f"{type(self).__name__} has {len(self._slots)} fields")
        any(map(_set_slot, self._slots, repeat(self), values))

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._public)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field name -> new value); the record itself is unchanged."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)

    def as_dict(self) -> dict[str, Any]:
        """The public fields by name (values as they are; nested records are not converted)."""
        return {name: getattr(self, name) for name in self._public}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r} of a {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r} of a {type(self).__name__}")
