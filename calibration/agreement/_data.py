"""Ratings in, coded arrays out.

Every public function in `calibration.agreement` takes `ratings` first and passes it through
`as_ratings`, which accepts

* a long data frame with columns ``item_id``, ``rater_id``, ``label`` (extra columns ignored; a
  missing rating is an absent row),
* an items x raters matrix (data frame or array; ``None``, ``NaN``, ``pd.NA`` and ``""`` mark a
  missing rating; items without any rating are dropped),
* or a `Ratings` object returned by `as_ratings` (so a report codes the data once).

The scale (AGREEMENT.md item 1) is `categories` in the order given, or else the observed labels
sorted (numerically when every label is a number). Labels are compared exactly as written.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.errors import InputError

REQUIRED_COLUMNS = ("item_id", "rater_id", "label")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def label_value(label: Any) -> float | None:
    """The numeric value of a label, or None when the label is not a number.

    Strings count as numbers only when they are written as one (``"2"``, ``"-1"``, ``"0.5"``,
    ``"1e3"``; not ``" 2"``, ``"nan"`` or ``"inf"``), so that labels stay exactly as written.
    """
    if isinstance(label, (bool, np.bool_)):
        return None
    if isinstance(label, numbers.Real):
        value = float(label)
        return value if math.isfinite(value) else None
    if isinstance(label, str) and _NUMBER.match(label):
        value = float(label)
        return value if math.isfinite(value) else None
    return None


def _sort_labels(labels: Sequence[Any]) -> list[Any]:
    values = [label_value(x) for x in labels]
    if labels and all(v is not None for v in values):
        return [x for _, x in sorted(zip(values, labels, strict=True), key=lambda t: t[0])]
    try:
        return sorted(labels)
    except TypeError:  # mixed types from a Python caller: order by their text
        return sorted(labels, key=str)


@dataclass(frozen=True, eq=False)
class Ratings:
    """Validated ratings, one entry per rating, coded against item, rater and category lists.

    Attributes
    ----------
    item, rater, label : int arrays of shape (n_ratings,)
        Codes into `item_ids`, `rater_ids` and `categories`.
    item_ids, rater_ids : arrays of the identifiers, in order of first appearance.
    categories : the scale, in order.
    values : float array (q,) of the categories' numeric values when every category is a
        number, else None.
    row : optional int array mapping each rating to its 0-based data row (for error messages).
    """

    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray
    item_ids: np.ndarray
    rater_ids: np.ndarray
    categories: tuple[Any, ...]
    values: np.ndarray | None
    row: np.ndarray | None = None
    source: str | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_raters(self) -> int:
        return len(self.rater_ids)

    @property
    def n_ratings(self) -> int:
        return len(self.item)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @property
    def numeric(self) -> bool:
        return self.values is not None

    @cached_property
    def scale(self) -> np.ndarray:
        """Numeric positions used by the weights: the values if numeric, else 1..q."""
        if self.values is not None:
            return self.values
        return np.arange(1, self.n_categories + 1, dtype=float)

    @cached_property
    def counts(self) -> np.ndarray:
        """Items x categories matrix: how many raters put item i in category k."""
        q = self.n_categories
        flat = np.bincount(self.item * q + self.label, minlength=self.n_items * q)
        return flat.reshape(self.n_items, q)

    @cached_property
    def per_item(self) -> np.ndarray:
        """Number of ratings of each item."""
        return self.counts.sum(axis=1)

    @cached_property
    def rater_counts(self) -> np.ndarray:
        """Raters x categories matrix: how often rater g used category k."""
        q = self.n_categories
        flat = np.bincount(self.rater * q + self.label, minlength=self.n_raters * q)
        return flat.reshape(self.n_raters, q)

    def with_categories(self, categories: Sequence[Any] | None) -> Ratings:
        """The same ratings coded against another scale (labels must all be on it)."""
        if categories is None or tuple(categories) == self.categories:
            return self
        cats = _check_categories(categories)
        lookup = {c: k for k, c in enumerate(cats)}
        used = np.bincount(self.label, minlength=self.n_categories) > 0
        missing = [c for c, u in zip(self.categories, used, strict=True) if u and c not in lookup]
        if missing:
            raise ValueError(f"categories: label {missing[0]!r} is in ratings but not in categories")
        recode = np.array([lookup.get(c, -1) for c in self.categories], dtype=np.int64)
        return Ratings(
            item=self.item,
            rater=self.rater,
            label=recode[self.label],
            item_ids=self.item_ids,
            rater_ids=self.rater_ids,
            categories=cats,
            values=_values(cats),
            row=self.row,
            source=self.source,
        )


def _check_categories(categories: Sequence[Any]) -> tuple[Any, ...]:
    if isinstance(categories, str):
        raise TypeError("categories: expected a sequence of labels, got a single string")
    cats = tuple(categories)
    if not cats:
        raise ValueError("categories: empty; give at least one category")
    seen: set[Any] = set()
    for c in cats:
        if c in seen:
            raise ValueError(f"categories: {c!r} is listed twice")
        seen.add(c)
    values = [label_value(c) for c in cats]
    if all(v is not None for v in values) and len(set(values)) != len(values):
        raise ValueError("categories: two categories have the same numeric value")
    return cats


def _values(categories: tuple[Any, ...]) -> np.ndarray | None:
    values = [label_value(c) for c in categories]
    if all(v is not None for v in values):
        return np.array(values, dtype=float)
    return None


MAX_COUNT_CELLS = 200_000_000  # items x categories; 1.6 GB as float64


def _check_size(n_items: int, categories: tuple[Any, ...], source: str | None) -> None:
    if n_items * len(categories) > MAX_COUNT_CELLS:
        _fail(
            source,
            None,
            "label",
            f"{len(categories):,} distinct labels on {n_items:,} items is too many for an agreement "
            "scale (is the label column free text?)",
        )


def _fail(source: str | None, row: int | None, column: str | None, message: str) -> None:
    """Raise InputError (with file, line and column) for a file, ValueError for Python data."""
    if source is not None:
        line = 0 if row is None else row + 2  # 1-based, after the header line
        raise InputError.at(source, line, column, message)
    where = f"ratings row {row}" if row is not None else "ratings"
    col = f" column {column!r}" if column else ""
    raise ValueError(f"{where}{col}: {message}")


def _objects(values: Any) -> np.ndarray:
    """A 1-D object array of plain Python values (np.int64(1) -> 1), for ids in messages and JSON."""
    values = np.asarray(values)
    if values.dtype == object:  # already Python objects (str, tuples of a MultiIndex, ...)
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = values.tolist()
    return out


def _is_long(frame: Any) -> bool:
    return isinstance(frame, pd.DataFrame) and set(REQUIRED_COLUMNS) <= set(map(str, frame.columns))


def as_ratings(
    ratings: Any,
    categories: Sequence[Any] | None = None,
    *,
    source: str | None = None,
) -> Ratings:
    """Validate and code `ratings` (long frame, items x raters matrix or `Ratings`).

    Parameters
    ----------
    ratings : DataFrame | array-like | Ratings
        Long format (``item_id``, ``rater_id``, ``label``) or an items x raters matrix.
    categories : sequence, optional
        The scale in order. Default: the observed labels, sorted.
    source : str, optional
        File name; errors then carry file and line (`calibration.errors.InputError`).

    Raises
    ------
    ValueError (or InputError when `source` is given)
        Empty ratings, missing item/rater/label, a label not on `categories`, the same rater
        rating the same item twice, a matrix column without any rating.
    """
    if isinstance(ratings, Ratings):
        return ratings.with_categories(categories)
    if isinstance(ratings, (str, Path)):
        raise TypeError("ratings: got a path; use read_ratings_csv(path) or agreement_report(path)")
    cats = None if categories is None else _check_categories(categories)
    if _is_long(ratings):
        return _from_long(ratings, cats, source)
    if isinstance(ratings, pd.DataFrame) and not _looks_wide(ratings):
        missing = [c for c in REQUIRED_COLUMNS if c not in set(map(str, ratings.columns))]
        _fail(
            source,
            None,
            None,
            f"missing required column(s) {', '.join(missing)}; expected header {','.join(REQUIRED_COLUMNS)}",
        )
    return _from_matrix(ratings, cats)


def _looks_wide(frame: pd.DataFrame) -> bool:
    # A frame that names some but not all required columns is a broken long table, not a matrix.
    names = set(map(str, frame.columns))
    return not (names & set(REQUIRED_COLUMNS))


def _missing_mask(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind in "US":
        return values == ""
    mask = np.asarray(pd.isna(values), dtype=bool)
    return mask | np.asarray(values == "", dtype=bool)


def _scale(
    labels_uniques: np.ndarray,
    cats: tuple[Any, ...] | None,
    codes: np.ndarray,
    source: str | None,
    rows: np.ndarray | None,
) -> tuple[np.ndarray, tuple[Any, ...]]:
    uniques = list(labels_uniques)
    if cats is None:
        cats = tuple(_sort_labels(uniques))
    lookup = {c: k for k, c in enumerate(cats)}
    recode = np.array([lookup.get(u, -1) for u in uniques], dtype=np.int64)
    if np.array_equal(recode, np.arange(len(recode))):
        label = codes.astype(np.int64, copy=False)  # already in scale order (sorted fast path)
    else:
        label = recode[codes] if len(codes) else codes.astype(np.int64)
    if (recode < 0).any():
        bad = int(np.flatnonzero(label < 0)[0])
        shown = ", ".join(map(str, cats))
        row = int(rows[bad]) if rows is not None else bad
        _fail(source, row, "label", f"{uniques[codes[bad]]!r} is not one of the categories ({shown})")
    return label, cats


def _from_long(
    frame: pd.DataFrame,
    cats: tuple[Any, ...] | None,
    source: str | None,
    rows: np.ndarray | None = None,
) -> Ratings:
    """Code a long frame. `rows` maps frame positions to the file's data rows (after filtering)."""
    rows = np.arange(len(frame)) if rows is None else rows
    if len(frame) == 0:
        _fail(source, None, None, "no ratings (the table has a header but no rows)")
    frame = frame.rename(columns=str)
    columns = {}
    for name in REQUIRED_COLUMNS:
        col = frame[name]
        arr = col.to_numpy()
        missing = _missing_mask(arr) if arr.dtype == object or arr.dtype.kind in "fUS" else None
        if missing is not None and missing.any():
            pos = int(np.flatnonzero(missing)[0])
            row = int(rows[pos])
            what = {
                "label": "empty label: every row must carry a usable rating (a missing rating is an "
                "absent row)",
                "item_id": "empty item_id",
                "rater_id": "empty rater_id",
            }[name]
            rater = frame["rater_id"].iloc[pos]
            suffix = f" (rater {rater!r})" if name == "label" else ""
            _fail(source, row, name, what + suffix)
        columns[name] = arr
    item, item_ids = pd.factorize(columns["item_id"], sort=False)
    rater, rater_ids = pd.factorize(columns["rater_id"], sort=False)
    item_ids, rater_ids = _objects(item_ids), _objects(rater_ids)
    codes, uniques = pd.factorize(columns["label"], sort=False)
    label, cats = _scale(np.asarray(uniques, dtype=object), cats, codes, source, rows)
    item = item.astype(np.int64, copy=False)
    rater = rater.astype(np.int64, copy=False)
    _check_size(len(item_ids), cats, source)
    _check_duplicates(
        item, rater, len(rater_ids), source, item_ids, rater_ids, rows, "field" in frame.columns
    )
    return Ratings(
        item=item,
        rater=rater,
        label=label,
        item_ids=item_ids,
        rater_ids=rater_ids,
        categories=cats,
        values=_values(cats),
        row=rows,
        source=source,
    )


def _check_duplicates(
    item: np.ndarray,
    rater: np.ndarray,
    n_raters: int,
    source: str | None,
    item_ids: Any,
    rater_ids: Any,
    rows: np.ndarray,
    has_field: bool = False,
) -> None:
    key = item * max(n_raters, 1) + rater
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    dup = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if len(dup):
        second = order[dup + 1]
        pos = int(second.min())
        first = int(rows[order[np.searchsorted(sorted_key, key[pos])]])
        row = int(rows[pos])
        first_line = f"line {first + 2}" if source is not None else f"row {first}"
        hint = ""
        if source is not None and has_field:
            hint = " (a file with a field column needs --field to pick one label dimension)"
        _fail(
            source,
            row,
            "rater_id",
            f"rater {rater_ids[rater[pos]]!r} rated item {item_ids[item[pos]]!r} twice "
            f"(first at {first_line}); one rating per rater and item{hint}",
        )


def _from_matrix(matrix: Any, cats: tuple[Any, ...] | None) -> Ratings:
    if isinstance(matrix, pd.DataFrame):
        item_index = _objects(matrix.index)
        rater_index = _objects(matrix.columns)
        values = matrix.to_numpy()
    else:
        values = np.asarray(matrix)
        if values.ndim != 2:
            raise ValueError(f"ratings: expected an items x raters matrix (2-D), got {values.ndim}-D")
        item_index = np.arange(values.shape[0])  # plain positions; converted to objects lazily
        rater_index = _objects(np.arange(values.shape[1]))
    if values.ndim != 2 or values.size == 0:
        raise ValueError("ratings: no ratings (empty matrix)")
    present = ~_missing_mask(values)
    n_rows, n_cols = values.shape
    flat = np.flatnonzero(present)  # row-major, the same order as values[present]
    item = flat // n_cols
    rater = flat - item * n_cols
    empty_raters = np.flatnonzero(np.bincount(rater, minlength=n_cols) == 0)
    if len(empty_raters):
        raise ValueError(f"ratings: rater column {rater_index[empty_raters[0]]!r} has no ratings")
    if len(flat) == 0:
        raise ValueError("ratings: no ratings (every cell is missing)")
    rated = np.bincount(item, minlength=n_rows) > 0
    if not rated.all():  # items without any rating are dropped
        item = (np.cumsum(rated) - 1)[item]
        item_index = item_index[rated]
    raw = values.ravel().take(flat) if values.flags.c_contiguous else values[present]
    codes, uniques = _factorize_values(raw)
    label, cats = _scale(uniques, cats, codes, None, None)
    _check_size(len(item_index), cats, None)
    return Ratings(
        item=item,
        rater=rater,
        label=label,
        item_ids=item_index,
        rater_ids=rater_index,
        categories=cats,
        values=_values(cats),
    )


def _factorize_values(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes and uniques (object array) of a 1-D array of labels.

    Whole-number floats / ints in a modest range (the usual coded scale) take a bincount path,
    several times faster than hashing; anything else goes through `pd.factorize`.
    """
    if raw.dtype.kind in "iuf" and len(raw):
        lo, hi = raw.min(), raw.max()
        if hi - lo < 1_000_000:
            iv = raw.astype(np.int64) if raw.dtype.kind == "f" else raw.astype(np.int64, copy=False)
            if raw.dtype.kind != "f" or np.array_equal(iv, raw):
                base = int(iv.min())
                shifted = iv - base
                used = np.flatnonzero(np.bincount(shifted))
                lookup = np.empty(int(shifted.max()) + 1, dtype=np.int64)
                lookup[used] = np.arange(len(used))
                kind = float if raw.dtype.kind == "f" else int
                return lookup[shifted], _objects(np.array([kind(v + base) for v in used]))
    codes, uniques = pd.factorize(raw, sort=False)
    return codes, np.asarray(uniques, dtype=object)


def read_ratings_csv(path: str | Path) -> pd.DataFrame:
    """Read a long-format ratings CSV (every column as text) or raise `InputError`.

    Errors name the file (and line / column where relevant): file missing, empty file, missing
    required columns, no data rows. Extra columns are kept (and ignored by the statistics).
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError.at(name, 0, None, "file not found")
    if path.is_dir():
        raise InputError.at(name, 0, None, "is a directory, expected a CSV file")
    try:
        frame = _read_text_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError.at(
            name, 0, None, f"the file is empty; expected a header {','.join(REQUIRED_COLUMNS)}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError.at(name, 0, None, f"cannot read as CSV: {first}") from None
    columns = [str(c) for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ",".join(columns) if columns else "nothing"
        raise InputError.at(
            name,
            1,
            None,
            f"missing required column(s) {', '.join(missing)}; expected header "
            f"{','.join(REQUIRED_COLUMNS)} (found {found})",
        )
    if len(frame) == 0:
        raise InputError.at(name, 0, None, "no ratings (the file has a header but no rows)")
    return frame


def _read_text_csv(path: Path) -> pd.DataFrame:
    # pyarrow's reader is the fastest when it is importable; the C engine with na_filter=False is
    # close behind and keeps every cell as the exact text (no NA guessing, no whitespace trimming).
    try:
        import pyarrow  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken pyarrow install must not stop the CLI
        pyarrow_ok = False
    else:
        pyarrow_ok = True
    if pyarrow_ok:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], engine="pyarrow")
            return frame.fillna("")
        except (ValueError, TypeError, ImportError):
            pass
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, engine="c")


def load_ratings(
    path: str | Path, categories: Sequence[Any] | None = None, *, field: str | None = None
) -> Ratings:
    """Read and code a ratings CSV; errors carry file, line and column.

    `field`: when given and the file has a ``field`` column, only rows whose ``field`` equals it
    are used (the shared data sets put the main label in rows with an empty ``field``).
    """
    frame = read_ratings_csv(path)
    if field is not None:
        if "field" not in frame.columns:
            raise InputError.at(str(path), 1, "field", "--field given but the file has no field column")
        keep = frame["field"].to_numpy() == field
        rows = np.flatnonzero(keep)
        frame = frame.loc[keep]
        if len(frame) == 0:
            raise InputError.at(str(path), 0, "field", f"no rows with field == {field!r}")
    else:
        rows = None
    try:
        cats = None if categories is None else _check_categories(categories)
    except ValueError as exc:
        raise InputError.at(str(path), 0, "--categories", str(exc).removeprefix("categories: ")) from None
    return _from_long(frame, cats, str(path), rows)
