"""Reading input files safely: UTF-8 (with or without BOM, optionally gzip-compressed), no binary, no
empty files, bounded lines; and iterating their records (JSONL, CSV, Parquet) with line numbers."""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from calibration.errors import InputError, Issue

UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
# One item, one rating or one policy is never this long; a longer line is a broken file (or not ours).
MAX_LINE_BYTES = 1 << 20


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    """The file's text, or an `InputError` naming the file and line of what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, 0, None, "file not found")
    if path.is_dir():
        raise InputError.at(path, 0, None, "is a directory; expected a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError.at(path, 0, None, f"cannot read file: {exc.strerror or exc}") from None
    if data[:2] == GZIP_MAGIC:
        data, problem = _gunzip(data)
        if problem:
            # The line the damage is on: one past the last complete line that could be decoded.
            raise InputError.at(path, data.count(b"\n") + 1, None, problem)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError.at(path, 1, None, "file is UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if not data.strip():
        raise InputError.at(path, 1, None, "file is empty; expected at least one record")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError.at(
            path, _line_of(data, nul), None, "contains NUL bytes: a binary file, not UTF-8 text"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start : e.start + 1].hex()
        raise InputError.at(
            path,
            _line_of(data, e.start),
            None,
            f"not valid UTF-8 (byte 0x{bad} at offset {e.start}); re-save the file as UTF-8",
        ) from None
    if len(data) > max_line_bytes:  # only a file this big can hold a line this long
        for lineno, line in enumerate(data.split(b"\n"), start=1):
            if len(line) > max_line_bytes:
                raise InputError.at(
                    path,
                    lineno,
                    None,
                    f"line is {len(line):,} bytes long; the limit for one record is {max_line_bytes:,} bytes",
                )
    return text


def _gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress all gzip members; keep what was decoded before a truncation or corruption."""
    out: list[bytes] = []
    data = raw
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(data))
        except zlib.error as exc:
            return b"".join(out), f"gzip data is corrupt ({exc})"
        if not d.eof:
            return b"".join(out), "gzip data ends early: the file is truncated"
        data = d.unused_data
    return b"".join(out), None


def iter_jsonl(path: str, text: str) -> Iterable[tuple[int, Any, Issue | None]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line), None
        except json.JSONDecodeError as e:
            hint = " (the line looks truncated)" if e.pos >= len(line.rstrip()) - 1 else ""
            yield lineno, None, Issue(path, lineno, None, f"invalid JSON: {e.msg} at column {e.colno}{hint}")


def iter_csv(path: str, text: str, required: Iterable[str]) -> Iterable[tuple[int, Any, Issue | None]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as e:
        yield 1, None, Issue(path, 1, None, f"unreadable CSV header: {e}")
        return
    missing = [c for c in required if c not in header]
    if missing:
        yield 1, None, Issue(
            path, 1, missing[0], f"CSV header lacks column(s) {', '.join(missing)}; found {', '.join(header)}"
        )
        return
    dup = [c for c, n in Counter(header).items() if n > 1]
    if dup:
        yield 1, None, Issue(path, 1, dup[0], "column appears twice in the CSV header; expected it once")
        return
    try:
        for row in reader:
            if None in row:
                yield reader.line_num, None, Issue(
                    path, reader.line_num, None, f"row has more fields than the header's {len(header)}"
                )
                continue
            if any(v is None for v in row.values()):
                yield reader.line_num, None, Issue(
                    path, reader.line_num, None, f"row has fewer fields than the header's {len(header)}"
                )
                continue
            yield reader.line_num, row, None
    except csv.Error as e:
        yield reader.line_num, None, Issue(path, reader.line_num, None, f"malformed CSV: {e}")


def iter_parquet(path: str, required: Iterable[str]) -> Iterable[tuple[int, Any, Issue | None]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a broken file
        yield 0, None, Issue(path, 0, None, f"not a readable Parquet file: {e}")
        return
    missing = [c for c in required if c not in table.column_names]
    if missing:
        yield 0, None, Issue(path, 0, missing[0], f"Parquet file lacks column(s) {', '.join(missing)}")
        return
    for row_no, rec in enumerate(table.to_pylist(), start=1):
        yield row_no, rec, None

