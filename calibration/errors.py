"""Errors that name the file, the line, the field and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Issue:
    """One finding about an input file. `line` is 1-based; 0 means the file as a whole."""

    path: str
    line: int
    field: str | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class InputError(Exception):
    """Bad input. Carries every issue found; `str()` is the first one, on one line."""

    def __init__(self, issues: list[Issue] | Issue):
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        if not self.issues:
            raise ValueError("InputError needs at least one issue")
        first = str(self.issues[0])
        more = len(self.errors) - 1
        super().__init__(first + (f" (and {more} more errors)" if more > 0 else ""))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @classmethod
    def at(cls, path: str | Path, line: int, field: str | None, message: str) -> InputError:
        return cls(Issue(str(path), line, field, message))


class StoreError(Exception):
    """The store cannot do what was asked (unknown golden set, conflicting import, ...)."""
