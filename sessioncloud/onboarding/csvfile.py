"""End-user CSV files: the columns, reading an upload, writing an export (docs/csv.md).

Framework-free: this module knows the file format only; its columns are the end-user fields
(`providers/enduserfields.py`). What a row means for an App (which users it creates or
changes, which values are refused) is decided in `imports.py`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

from sessioncloud.providers.enduserfields import FIELDS, SECRET_NAMES

COLUMNS = tuple(field.name for field in FIELDS)
PASSWORD_COLUMNS = SECRET_NAMES
# Any column's name without its underscores: the management API's JSON names ("externalId",
# "sipusername") come out as that too, so a file made from its answers is accepted as it is.
ALIASES = {column.replace("_", ""): column for column in COLUMNS}
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
# The export puts an apostrophe in front, which spreadsheets hide; the import takes it off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


class CsvFileError(ValueError):
    """The file as a whole cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class CsvRow:
    line: int  # where the row starts in the file; the header is line 1
    values: dict[str, str]  # only the columns the file has
    cells: int  # how many cells the row had (a mismatch with the header is refused per row)


@dataclass(frozen=True)
class CsvFile:
    columns: tuple[str, ...]
    rows: list[CsvRow]


def read_csv(data: bytes, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> CsvFile:
    """Parse an uploaded file: UTF-8 (a BOM is fine), comma-separated, any line ends."""
    if len(data) > max_bytes:
        raise CsvFileError(
            f"The file is larger than {max_bytes // (1024 * 1024)} MB; split it into smaller files."
        )
    records = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    try:
        header, header_end = _header(records)
        columns = _columns(header)
        rows: list[CsvRow] = []
        previous_end = header_end
        for cells in records:
            start, previous_end = previous_end + 1, records.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, and lines of empty cells that spreadsheets append
            if len(rows) == max_rows:
                raise CsvFileError(f"The file has more than {max_rows} rows; split it into smaller files.")
            values = {column: _cell(column, cell) for column, cell in zip(columns, cells, strict=False)}
            rows.append(CsvRow(start, values, len(cells)))
    except csv.Error as error:
        raise CsvFileError(f"Line {records.line_num}: the file is not valid CSV ({error}).") from None
    return CsvFile(columns, rows)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError("The file is UTF-16 text; save it as CSV UTF-8.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CsvFileError(
            f"The file is not UTF-8 text (line {line} cannot be read); save it as CSV UTF-8."
        ) from None
    if "\x00" in text:
        raise CsvFileError("The file holds NUL characters; it is not a text file.")
    return text


def _header(records: CsvReader) -> tuple[list[str], int]:
    for cells in records:
        if any(cell.strip() for cell in cells):
            return cells, records.line_num
    raise CsvFileError("The file is empty: it needs a header line naming the columns.")


def _columns(header: list[str]) -> tuple[str, ...]:
    if len(header) == 1:
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if separator in header[0]:
                raise CsvFileError(f"The columns are separated by {name}; separate them by commas.")
    columns = [_column_name(cell) for cell in header]
    if "" in columns:
        raise CsvFileError(f"Column {columns.index('') + 1} of the header line has no name.")
    unknown = [name for name, column in zip(header, columns, strict=True) if column not in COLUMNS]
    if unknown:
        raise CsvFileError(f"Unknown column '{unknown[0].strip()}'. The columns are: {', '.join(COLUMNS)}.")
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise CsvFileError(f"The column {repeated[0]} appears more than once.")
    if "external_id" not in columns:
        raise CsvFileError("The file needs an external_id column: it says which end user each row is.")
    return tuple(columns)


def _column_name(cell: str) -> str:
    name = cell.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(name.replace("_", ""), name)


def _cell(column: str, cell: str) -> str:
    if cell.startswith(ESCAPE) and cell[1:2] and cell[1] in (*FORMULA_STARTS, ESCAPE):
        cell = cell[1:]
    # A password may begin or end with a space on purpose; anywhere else it is a typing slip.
    return cell if column in PASSWORD_COLUMNS else cell.strip()


def safe_cell(value: str) -> str:
    """A value as the export writes it: formula-like text gets a leading apostrophe."""
    if value.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + value
    return value


def write_csv(rows: Iterable[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Iterator[str]:
    """The export, line by line: a header of the columns, then one line per row, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    # The byte order mark makes spreadsheets read the file as UTF-8; the import skips it.
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(row.get(column, "")) for column in columns])
        yield buffer.getvalue()
