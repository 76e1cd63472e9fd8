"""Reading input files safely: UTF-8 (with or without BOM), no binary, no empty files, bounded lines."""

from __future__ import annotations

from pathlib import Path

from calibration.errors import InputError

UTF8_BOM = b"\xef\xbb\xbf"
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
    data = path.read_bytes()
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
    start = 0
    lineno = 1
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        if end < 0:
            end = n
        if end - start > max_line_bytes:
            raise InputError.at(
                path,
                lineno,
                None,
                f"line is {end - start:,} bytes long; the limit for one record is {max_line_bytes:,} bytes",
            )
        start = end + 1
        lineno += 1
    return text
