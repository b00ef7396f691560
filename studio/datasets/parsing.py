"""Reading user files: format and encoding sniffing, the wizard preview, and the streaming conversion of a
delimited text or Parquet file into the canonical Parquet copy with detected column types.

Pure functions over binary streams (``open_raw()`` returns a fresh readable binary file); nothing here
touches the database. Every problem with the input raises ``DataError`` with a message that names the
problem, where it is (line numbers count from 1, as an editor shows them) and how to fix it.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import queue
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
Opener = Callable[[], BinaryIO]

try:
    # Hand freed memory back to the system at once: a column is read, summarised and dropped, and the next
    # one should reuse the pages rather than stack on top of an allocator's cache.
    pa.jemalloc_set_decay_ms(0)
except NotImplementedError:
    pass

SNIFF_BYTES = 256 * 1024
PREVIEW_ROWS = 50
# Rows the wizard guesses column types from: enough to see the rare values (an "unknown" among yes/no, a
# code other than 999) that make the full file's decision, small enough to read in milliseconds.
TYPE_SAMPLE_ROWS = 5000
SCHEMA_SAMPLE_ROWS = 2000
# pyarrow reads several blocks ahead: 8 MB blocks keep a gigabyte file under ~1.1 GB resident (16 MB: ~1.4 GB)
# for the same CPU time.
BLOCK_SIZE = 8 * 1024 * 1024
# Distinct integers and timestamps are counted in a byte map spanning their range while it fits this budget
# (per table): 256 MiB covers ten million consecutive ids and eight years of timestamps in seconds.
BITMAP_BUDGET = 256 * 1024 * 1024
DELIMITER_CANDIDATES = [",", "\t", ";", "|", ":"]
ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16 (with BOM)",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "iso-8859-15": "Latin-9 (ISO-8859-15)",
    "cp1250": "Windows-1250 (Central European)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "shift_jis": "Shift JIS",
    "gb18030": "GB 18030",
}
DELIMITERS = {",": "Comma (,)", "\t": "Tab", ";": "Semicolon (;)", "|": "Pipe (|)", ":": "Colon (:)", " ": "Space"}
QUOTES = {'"': 'Double quote (")', "'": "Single quote (')", "": "None"}
NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
               "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
TRUE_WORDS = {"true", "yes", "y", "t"}
FALSE_WORDS = {"false", "no", "n", "f"}
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y",
                "%d/%m/%Y", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%Y/%m/%d", "%d.%m.%Y", "%d-%b-%Y"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class DataError(ValueError):
    """The uploaded data cannot be read as asked. ``field`` names the setting the user should change."""

    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.field, self.line = message, field, line


@dataclass(frozen=True)
class Limits:
    """How much one upload may hold once it is read, checked while it streams: bytes after decompression,
    rows, and bytes of a single value. None is no limit."""

    max_data_bytes: int | None = None
    max_rows: int | None = None
    max_field_bytes: int | None = None

    def data_too_large(self) -> DataError:
        return DataError(f"The file decompresses to more than {human_bytes(self.max_data_bytes)}, the most the "
                         "studio reads from one upload; split it, or drop columns or rows you do not need. An "
                         "administrator can raise STUDIO_MAX_DATA_BYTES.", field="file")

    def too_many_rows(self) -> DataError:
        return DataError(f"The file has more than {self.max_rows:,} rows, the most the studio reads from one "
                         "upload; sample or split it. An administrator can raise STUDIO_MAX_ROWS.", field="file")

    def field_too_large(self, column: str | None = None) -> DataError:
        where = f" in column {column!r}" if column else ""
        limit = human_bytes(self.max_field_bytes) if self.max_field_bytes else "one read block"
        return DataError(f"The file has a value longer than {limit}{where}; a table cell that long is usually a "
                         "missing closing quote or a file that is not a table. Fix the quoting, or drop that column. "
                         "An administrator can raise STUDIO_MAX_FIELD_BYTES.", field="file")


class _CappedStream:
    """A readable stream that raises ``Limits.data_too_large`` once more than ``max_data_bytes`` came out of
    it, so a small gzip that expands to gigabytes is refused while it is read, not after."""

    def __init__(self, stream, limits: Limits):
        self.stream, self.limits, self.total = stream, limits, 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.total += len(data)
        if self.total > self.limits.max_data_bytes:
            raise self.limits.data_too_large()
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def damaged_compression(exc: BaseException) -> DataError:
    return DataError(f"The compressed file is damaged and cannot be decompressed ({exc}); compress it again with "
                     "gzip, or upload it uncompressed.", field="file")


_DAMAGED = (OSError, EOFError, zlib.error)


@dataclass
class ParseSettings:
    """How to read one file. ``file_format`` is ``delimited`` or ``parquet``; ``compression`` ``gzip`` or ``""``."""

    file_format: str = "delimited"
    compression: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    skip_rows: int = 0
    quote_char: str = '"'

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ParseSettings":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def describe(self) -> str:
        if self.file_format == "parquet":
            return "Parquet"
        parts = [("gzip-compressed " if self.compression else "") + "delimited text",
                 DELIMITERS.get(self.delimiter, repr(self.delimiter)).lower(),
                 ENCODINGS.get(self.encoding, self.encoding),
                 "header row" if self.header else "no header row"]
        if self.skip_rows:
            parts.append(f"{self.skip_rows} line(s) skipped")
        return ", ".join(parts)


@dataclass
class Preview:
    """The first rows as text, for the wizard and the preview API."""

    columns: list[str]
    rows: list[list[str | None]]
    column_types: list[str] = field(default_factory=list)


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


# --- Sniffing ------------------------------------------------------------------------------------------


def check_file_name(name: str) -> str:
    """The file name if it is a plain name; a name with folder parts is refused."""
    if not name or not name.strip():
        raise DataError("The upload has no file name; send the file as a named multipart field "
                        "(file=@data.csv).", field="file")
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise DataError(f"The file name {name!r} contains folder parts; upload the file under a plain name "
                        "such as data.csv.", field="file")
    if len(name) > 200:
        raise DataError("The file name is longer than 200 characters; rename the file and upload it again.",
                        field="file")
    return name


def _head(open_raw: Opener, n: int = SNIFF_BYTES) -> tuple[bytes, bytes, str]:
    """(first raw bytes, first decompressed bytes, compression)."""
    with open_raw() as raw:
        head = raw.read(n)
    if head[:2] == b"\x1f\x8b":
        with open_raw() as raw, gzip.GzipFile(fileobj=raw) as gz:
            try:
                return head, gz.read(n), "gzip"
            except (OSError, EOFError) as exc:
                raise DataError(f"The file looks gzip-compressed but cannot be decompressed ({exc}); "
                                "compress it again with gzip or upload it uncompressed.", field="file")
    return head, head, ""


def _looks_utf16(sample: bytes) -> str | None:
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    return None


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 (BOM or zero-byte pattern), else Windows-1252 or Latin-1.

    Raises ``DataError`` for content that is not text at all.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    utf16 = _looks_utf16(sample)
    if utf16:
        return utf16
    control = sum(1 for b in sample[:65536] if b < 9 or 13 < b < 32)
    if b"\x00" in sample or control > 0.01 * max(1, min(len(sample), 65536)):
        raise DataError("This file is binary, not text: it is not CSV, TSV, gzip-compressed CSV or Parquet. "
                        "Export the table as CSV or Parquet and upload that file.", field="file")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a character cut in half by the end of the sample
            return "utf-8"
    try:
        # Cyrillic text in Windows-1251 also decodes as Windows-1252 (into gibberish); let the detector tell.
        from charset_normalizer import from_bytes

        best = from_bytes(sample[:65536], cp_isolation=["cp1252", "cp1251"]).best()
        if best is not None and best.encoding == "cp1251":
            return "cp1251"
    except Exception as exc:  # noqa: BLE001 - detection is a hint; the rule below always answers
        log.warning("encoding detection failed (%s: %s); falling back to cp1252/latin-1", type(exc).__name__, exc)
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _decode_sample(sample: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        raise DataError(f"The file cannot be read as {ENCODINGS.get(encoding, encoding)}: "
                        f"{undecodable_detail(sample, encoding)}. Choose the encoding the file was saved in "
                        "(often Windows-1252 or UTF-16 for spreadsheet exports).", field="encoding")


def undecodable_detail(data: bytes, encoding: str) -> str:
    """Where the first undecodable byte of ``data`` is: 'line 3 has the byte 0xff that is not valid there'."""
    return _first_bad_byte([data], encoding)


def _first_bad_byte(chunks, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    for chunk in chunks:
        try:
            line += decoder.decode(chunk, final=False).count("\n")
        except UnicodeDecodeError as exc:
            line += chunk[:exc.start].decode(encoding, errors="replace").count("\n")
            bad = exc.object[exc.start:exc.start + 1]
            return f"line {line:,} has the byte 0x{bad.hex()} that is not valid there"
    return f"the file ends in the middle of a character (line {line:,})"


def detect_delimiter(text: str, file_name: str = "") -> str:
    """The candidate that splits the first lines into the same number (>1) of fields most consistently."""
    lines = [line for line in text.splitlines()[:40] if line.strip()]
    if lines and len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the last line of a sample may be cut
    best, best_score = None, (0.0, 0)
    for candidate in DELIMITER_CANDIDATES:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=candidate)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = candidate, score
    if best is None:
        return "\t" if file_name.lower().endswith((".tsv", ".tsv.gz", ".tab")) else ","
    return best


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def inspect_file(open_raw: Opener, file_name: str) -> ParseSettings:
    """Detect the format and, for text, the compression, encoding, delimiter and header row.

    Raises ``DataError`` for an empty file, binary content, or a Parquet file that cannot be read.
    """
    head, sample, compression = _head(open_raw)
    if not head:
        raise DataError("The file is empty (0 bytes); choose a file that contains a header row and data rows.",
                        field="file")
    if head[:4] == b"PAR1":
        try:
            with open_raw() as raw:
                pq.ParquetFile(raw).schema_arrow
        except Exception as exc:
            raise DataError(f"The file starts like Parquet but cannot be read as Parquet ({exc}); export it "
                            "again or upload it as CSV.", field="file")
        return ParseSettings(file_format="parquet")
    if not sample.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise DataError("The file is empty: it holds only blank lines. Choose a file with a header row and "
                        "data rows.", field="file")
    encoding = detect_encoding(sample)
    text = _decode_sample(sample, encoding)
    delimiter = detect_delimiter(text, file_name)
    settings = ParseSettings(compression=compression, delimiter=delimiter, encoding=encoding)
    try:
        rows = list(_iter_rows_text(text, settings, limit=6))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise Limits(max_field_bytes=csv.field_size_limit()).field_too_large() from None
        rows = []  # only the header guess needs them; converting reports the problem with its line
    if len(rows) >= 2 and all(_looks_numeric(v) for v in rows[0] if v) and any(v for v in rows[0]):
        settings.header = False
    return settings


# --- Reading rows with Python's csv module (preview, header, error locations) --------------------------


def _csv_kwargs(settings: ParseSettings) -> dict:
    if settings.quote_char:
        return {"delimiter": settings.delimiter, "quotechar": settings.quote_char, "doublequote": True}
    return {"delimiter": settings.delimiter, "quoting": csv.QUOTE_NONE}


def _iter_rows_text(text: str, settings: ParseSettings, limit: int):
    lines = io.StringIO(text, newline="")
    for _ in range(settings.skip_rows):
        lines.readline()
    reader = csv.reader(lines, **_csv_kwargs(settings))
    for i, row in enumerate(reader):
        if i >= limit:
            break
        yield row


def _open_text(open_raw: Opener, settings: ParseSettings):
    raw = open_raw()
    stream = gzip.GzipFile(fileobj=raw) if settings.compression == "gzip" else raw
    return io.TextIOWrapper(stream, encoding=settings.encoding, errors="strict", newline="")


class _LineCounter:
    """Wraps a text stream so that the line number of each CSV record's first line is known."""

    def __init__(self, text):
        self.text, self.line = text, 0

    def __iter__(self):
        return self

    def __next__(self):
        line = self.text.readline()
        if not line:
            raise StopIteration
        self.line += 1
        return line


def _validate_settings(settings: ParseSettings, max_columns: int) -> None:
    if len(settings.delimiter) != 1:
        raise DataError("The delimiter must be exactly one character, for example , or ; or a tab.",
                        field="delimiter")
    if settings.delimiter in ("\n", "\r", settings.quote_char):
        raise DataError("The delimiter cannot be a line break or the quote character; choose another one.",
                        field="delimiter")
    if len(settings.quote_char) > 1:
        raise DataError("The quote character must be one character, or none.", field="quote_char")
    try:
        codecs.lookup(settings.encoding)
    except LookupError:
        raise DataError(f"{settings.encoding!r} is not an encoding this studio knows; choose one from the list "
                        "(UTF-8, UTF-16, Windows-1252, Latin-1, ...).", field="encoding")
    if settings.skip_rows < 0:
        raise DataError("Rows to skip cannot be negative.", field="skip_rows")


def column_names(first_row: list[str], header: bool, max_columns: int) -> list[str]:
    """Names from the header row (checked: none empty, none repeated) or Column1..N without one."""
    if len(first_row) > max_columns:
        raise DataError(f"The file has {len(first_row):,} columns, more than the limit of {max_columns:,}; "
                        "remove columns you do not need (or ask an administrator to raise "
                        "STUDIO_MAX_COLUMNS) and upload again.", field="file")
    if not header:
        return [f"Column{i + 1}" for i in range(len(first_row))]
    names = [n.strip() for n in first_row]
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        where = ", ".join(str(i) for i in empty[:10])
        raise DataError(f"The header row has an empty column name at position {where}; give every column a "
                        "name, or turn off 'first row is a header' if the file has none.", field="header", line=1)
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise DataError(f"The header row names the column {n!r} twice (positions {seen[n] + 1} and {i + 1}); "
                            "column names must be unique, rename one of them.", field="header", line=1)
        seen[n] = i
    return names


def read_preview(open_raw: Opener, settings: ParseSettings, max_columns: int, rows: int = PREVIEW_ROWS) -> Preview:
    """The column names and the first ``rows`` rows as strings, checking what can be checked on them."""
    if settings.file_format == "parquet":
        with open_raw() as raw:
            pf = _parquet_file(raw)
            names = pf.schema_arrow.names
            column_names(names, True, max_columns)
            check_parquet(pf, None)
            try:
                batch = next(pf.iter_batches(batch_size=max(rows, 1)), None)
            except (OSError, pa.ArrowException) as exc:
                raise damaged_parquet(exc) from None
            table = pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
        data = [[None if v is None else str(v) for v in row.values()] for row in table.slice(0, rows).to_pylist()]
        if not data:
            raise DataError("The Parquet file has columns but no rows; upload a file that contains data.",
                            field="file")
        return Preview(columns=names, rows=data)
    _validate_settings(settings, max_columns)
    out: list[list[str | None]] = []
    try:
        with _open_text(open_raw, settings) as text:
            for _ in range(settings.skip_rows):
                text.readline()
            counter = _LineCounter(text)
            reader = csv.reader(counter, **_csv_kwargs(settings))
            first = next(reader, None)
            if first is None or first == []:
                raise DataError("After the skipped lines the file has no rows; lower 'rows to skip'." if settings.skip_rows
                                else "The file is empty; it needs a header row and data rows.", field="skip_rows")
            names = column_names(first, settings.header, max_columns)
            if not settings.header:
                out.append(first)
            base = settings.skip_rows
            while len(out) < rows:
                start = counter.line + 1
                row = next(reader, None)
                if row is None:
                    break
                if row == []:
                    continue
                if len(row) != len(names):
                    raise field_count_error(base + start, len(names), len(row), settings)
                out.append(row)
    except UnicodeDecodeError:
        with open_raw() as raw:
            head = raw.read(SNIFF_BYTES) if settings.compression != "gzip" else gzip.GzipFile(fileobj=raw).read(SNIFF_BYTES)
        raise DataError(f"The file cannot be read as {ENCODINGS.get(settings.encoding, settings.encoding)}: "
                        f"{undecodable_detail(head, settings.encoding)}. Choose the encoding the file was saved in.",
                        field="encoding")
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise Limits(max_field_bytes=csv.field_size_limit()).field_too_large() from None
        raise DataError(f"The file is not valid delimited text near line {counter.line + settings.skip_rows}: {exc}. "
                        "Check the quote character setting.", field="quote_char")
    except _DAMAGED as exc:
        raise damaged_compression(exc) from None
    if not out:
        raise DataError("The file has a header row but no data rows; add data rows below the header, or turn off "
                        "'first row is a header' if the first line is data.", field="file")
    return Preview(columns=names, rows=[[v if v not in NULL_VALUES else None for v in r] for r in out])


def field_count_error(line: int, expected: int, got: int, settings: ParseSettings) -> DataError:
    delim = DELIMITERS.get(settings.delimiter, repr(settings.delimiter)).lower()
    return DataError(f"Line {line:,} has {got} field{'s' if got != 1 else ''} but the header has {expected}. "
                     f"Check the delimiter ({delim}) and the quote character, or fix that line in the file.",
                     field="delimiter", line=line)


def locate_bad_row(open_raw: Opener, settings: ParseSettings, n_columns: int) -> DataError | None:
    """Scan the file with Python's csv module to find the first record with the wrong number of fields."""
    with _open_text(open_raw, settings) as text:
        for _ in range(settings.skip_rows):
            text.readline()
        counter = _LineCounter(text)
        reader = csv.reader(counter, **_csv_kwargs(settings))
        if settings.header:
            next(reader, None)
        while True:
            start = counter.line + 1
            row = next(reader, None)
            if row is None:
                return None
            if row and len(row) != n_columns:
                return field_count_error(settings.skip_rows + start, n_columns, len(row), settings)


def locate_undecodable(open_raw: Opener, settings: ParseSettings) -> str:
    """'line N has the byte 0x.. that is not valid there' for the first undecodable byte of the whole file."""
    with open_raw() as raw:
        stream = gzip.GzipFile(fileobj=raw) if settings.compression == "gzip" else raw
        return _first_bad_byte(iter(lambda: stream.read(1 << 20), b""), settings.encoding)


# --- Type detection --------------------------------------------------------------------------------------


def _nulls_to_missing(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_in(arr, value_set=pa.array(NULL_VALUES)), pa.scalar(None, pa.string()), arr)


@dataclass
class _Candidate:
    """What one string column could still be converted to, narrowed batch by batch."""

    can_int: bool = True
    can_float: bool = True
    can_bool: bool = True
    date_formats: list[str] = field(default_factory=lambda: ["ISO"] + DATE_FORMATS)
    non_missing: int = 0

    def update(self, arr: pa.Array) -> None:
        valid = pc.drop_null(arr)
        if len(valid) == 0:
            return
        self.non_missing += len(valid)
        stripped = pc.utf8_trim_whitespace(valid)
        if self.can_int:
            try:
                pc.cast(stripped, pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self.can_int = False
        if self.can_float and not self.can_int:
            try:
                pc.cast(stripped, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self.can_float = False
        if self.can_bool:
            lowered = pc.utf8_lower(stripped)
            self.can_bool = bool(pc.all(pc.is_in(lowered, value_set=pa.array(sorted(TRUE_WORDS | FALSE_WORDS)))).as_py())
        if self.date_formats and not self.can_float:
            keep = []
            for fmt in self.date_formats:
                try:
                    if fmt == "ISO":
                        pc.cast(stripped, pa.timestamp("us"))
                    else:
                        pc.strptime(stripped, format=fmt, unit="us", error_is_null=False)
                    keep.append(fmt)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass
            self.date_formats = keep

    def arrow_type(self) -> pa.DataType:
        if self.non_missing == 0:
            return pa.string()
        if self.can_int:
            return pa.int64()
        if self.can_float:
            return pa.float64()
        if self.can_bool:
            return pa.string()  # yes/no stays text; the semantic type says boolean
        if self.date_formats:
            return pa.timestamp("us")
        return pa.string()


def _physical_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return "string"


def classify_column(name: str, physical: str, n_rows: int, missing: int, distinct: int,
                    space_share: float = 0.0, mean_length: float = 0.0, consecutive: bool = False,
                    values: list | None = None) -> tuple[str, list[str]]:
    """The semantic type a data scientist would accept, and flags that explain it.

    - all values missing, or one distinct value: flagged (and excluded by default, they carry no signal);
    - two values like true/false, yes/no or 0/1: boolean;
    - integers with few distinct values (at most 10, and under 5 % of the rows): categorical;
    - consecutive unique integers, or an ``id`` column name with unique values: id-like;
    - strings: near-unique (≥ 90 % distinct) without spaces are id-like; mostly with spaces and many
      distinct values or long values are free text; the rest are categories.
    """
    flags: list[str] = []
    present = n_rows - missing
    if present == 0:
        return "categorical" if physical == "string" else ("numeric" if physical in ("integer", "float") else
                                                           "datetime" if physical == "datetime" else "categorical"), ["all_missing"]
    if distinct == 1:
        flags.append("single_value")
    ratio = distinct / present if present else 0
    looks_id_name = bool(re.search(r"(^|[_\s])id$|Id$|ID$|^id", name))
    lowered = {str(v).strip().lower() for v in (values or [])}
    if physical == "boolean":
        return "boolean", flags
    if physical == "datetime":
        return "datetime", flags
    if physical == "integer":
        if distinct == 2 and lowered <= {"0", "1"}:
            return "boolean", flags
        if present >= 20 and distinct == present and (consecutive or looks_id_name):
            return "id", flags + ["unique"]
        if distinct <= 10 and (distinct / present) < 0.05 and distinct > 1:
            return "categorical", flags + ["few_integer_values"]
        return "numeric", flags
    if physical == "float":
        return "numeric", flags
    if distinct == 2 and (lowered <= TRUE_WORDS | FALSE_WORDS) and lowered & TRUE_WORDS and lowered & FALSE_WORDS:
        return "boolean", flags
    if present >= 20 and ratio >= 0.9 and space_share < 0.5:
        return "id", flags + ["near_unique"]
    if space_share >= 0.5 and (ratio >= 0.5 or mean_length >= 30):
        return "text", flags
    return "categorical", flags


def sample_column_types(preview: Preview) -> list[str]:
    """Types guessed from the preview's rows (the wizard says so); the full file decides on creation."""
    types = []
    for i, name in enumerate(preview.columns):
        values = [r[i] for r in preview.rows if r[i] is not None]
        arr = pa.array(values, pa.string())
        cand = _Candidate()
        cand.update(arr)
        physical = _physical_name(cand.arrow_type())
        distinct = len(set(values))
        space = sum(1 for v in values if " " in v.strip()) / len(values) if values else 0
        length = sum(len(v) for v in values) / len(values) if values else 0
        ints = sorted({int(v) for v in values}) if physical == "integer" else []
        consecutive = bool(ints) and ints[-1] - ints[0] + 1 == len(ints) == len(values)
        kind, _ = classify_column(name, physical, len(preview.rows), len(preview.rows) - len(values), distinct,
                                  space, length, consecutive, values=list(set(values))[:3] if distinct <= 2 else None)
        types.append(kind)
    return types


# --- The canonical Parquet copy --------------------------------------------------------------------------


@dataclass
class IngestResult:
    """What the conversion found: the number of rows and each column's summary and detected type."""

    n_rows: int
    columns: list[dict]
    summary: "TableSummary | None" = None


def _csv_reader(stream, settings: ParseSettings, names: list[str], column_types: dict, on_invalid=None,
                timestamp_parsers=None):
    skip = settings.skip_rows + (1 if settings.header else 0)
    read_options = pacsv.ReadOptions(encoding=settings.encoding, skip_rows=skip, column_names=names,
                                     block_size=BLOCK_SIZE, use_threads=True)
    parse_options = pacsv.ParseOptions(delimiter=settings.delimiter, quote_char=settings.quote_char or False,
                                       double_quote=True, newlines_in_values=True, ignore_empty_lines=True,
                                       invalid_row_handler=on_invalid)
    convert_options = pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True,
                                           null_values=NULL_VALUES, quoted_strings_can_be_null=True,
                                           timestamp_parsers=timestamp_parsers or [pacsv.ISO8601])
    return pacsv.open_csv(stream, read_options=read_options, parse_options=parse_options,
                          convert_options=convert_options)


def _open_stream(open_raw: Opener, settings: ParseSettings, limits: Limits | None = None):
    raw = open_raw()
    if settings.compression == "gzip":
        stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip")
        if limits is not None and limits.max_data_bytes:
            stream = _CappedStream(stream, limits)
        return raw, stream
    return raw, raw


def _check_batch(batch: pa.RecordBatch, n_rows: int, limits: Limits | None) -> None:
    """Refuse, while streaming, a file past the row limit or with a value past the field limit."""
    if limits is None:
        return
    if limits.max_rows and n_rows > limits.max_rows:
        raise limits.too_many_rows()
    if limits.max_field_bytes:
        for name, column in zip(batch.schema.names, batch.columns):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                longest = pc.max(pc.binary_length(column)).as_py()
                if longest is not None and longest > limits.max_field_bytes:
                    raise limits.field_too_large(name)


# Parquet column types the studio reads: one plain value per cell.
def _plain_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _plain_type(t.value_type)
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)
            or pa.types.is_null(t) or pa.types.is_decimal(t))


def _parquet_file(raw) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(raw)
    except (OSError, pa.ArrowException) as exc:
        raise damaged_parquet(exc) from None


def damaged_parquet(exc: BaseException) -> DataError:
    return DataError(f"The Parquet file is damaged and cannot be read ({exc}); export it again, or upload it as "
                     "CSV.", field="file")


def check_parquet(pf: pq.ParquetFile, limits: Limits | None) -> None:
    """Refuse a Parquet file whose columns are not plain values (binary, lists, structs, maps), or whose
    rows or decompressed size pass the limits, from its metadata alone."""
    odd = [(f.name, str(f.type)) for f in pf.schema_arrow if not _plain_type(f.type)]
    if odd:
        listed = ", ".join(f"{name!r} ({kind})" for name, kind in odd[:5])
        raise DataError(f"Column {listed} holds values the studio cannot use; it reads columns of plain values "
                        "(numbers, text, true/false, dates and times). Drop those columns or convert them to text, "
                        "and upload again.", field="file")
    if limits is None:
        return
    meta = pf.metadata
    if limits.max_rows and meta.num_rows > limits.max_rows:
        raise limits.too_many_rows()
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if limits.max_data_bytes and size > limits.max_data_bytes:
        raise limits.data_too_large()


_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")


def _wider(t: pa.DataType) -> pa.DataType:
    """The next type to try when a value does not fit: integers widen to floats, everything else to text."""
    if pa.types.is_integer(t):
        return pa.float64()
    return pa.string()


def _settled(t: pa.DataType) -> pa.DataType | None:
    """A better type for what pyarrow inferred from the first block, or None to keep it."""
    if pa.types.is_date(t):
        return pa.timestamp("s")
    if pa.types.is_time(t) or pa.types.is_decimal(t) or pa.types.is_duration(t):
        return pa.string()
    return None


def _settled_types(schema: pa.Schema, skip=()) -> dict[str, pa.DataType]:
    """The columns of an inferred schema whose type ``_settled`` replaces, with the replacement."""
    return {f.name: t for f in schema if f.name not in skip and (t := _settled(f.type)) is not None}


def convert_to_parquet(open_raw: Opener, settings: ParseSettings, out: BinaryIO, max_columns: int,
                       forced: dict[str, pa.DataType] | None = None, limits: Limits | None = None) -> IngestResult:
    """Stream the file into Parquet with a type per column, in bounded memory (one block at a time), and
    summarise each column (missing, distinct, detected type) in the same pass.

    Types are those pyarrow infers from the first block. If a later block holds a value that does not fit
    (``1.5`` in an integer column, ``n/a`` in a date column), that column is widened and the file is read
    again from the start: a rare second pass instead of a slow first one for every file. ``forced`` types
    are used from the first pass on. ``limits`` are enforced while the file streams.
    """
    if settings.file_format == "parquet":
        return _copy_parquet(open_raw, out, max_columns, limits)
    preview = read_preview(open_raw, settings, max_columns, rows=1)
    names = preview.columns
    forced = dict(forced or {})
    for _attempt in range(2 * len(names) + 2):
        out.seek(0)
        out.truncate()
        invalid: list = []

        def on_invalid(row):
            invalid.append((row.expected_columns, row.actual_columns))
            return "skip"

        n_rows = 0
        raw, stream = _open_stream(open_raw, settings, limits)
        writer = None
        write_pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        try:
            reader = _csv_reader(stream, settings, names, dict(forced), on_invalid)
            adjust = _settled_types(reader.schema, skip=forced)
            if adjust:
                forced.update(adjust)
                continue
            dictionary_columns = [f.name for f in reader.schema
                                  if pa.types.is_string(f.type) or pa.types.is_boolean(f.type)]
            writer = pq.ParquetWriter(out, reader.schema, compression="snappy", use_dictionary=dictionary_columns)
            summary = TableSummary(reader.schema)
            # Writing a batch overlaps with summarising it (Arrow releases the GIL in both); waiting for the
            # previous write before the next keeps at most two batches in memory.
            writing = None
            for batch in reader:
                if invalid:
                    break
                n_rows += batch.num_rows
                _check_batch(batch, n_rows, limits)
                if writing is not None:
                    writing.result()
                writing = write_pool.submit(writer.write_batch, batch)
                summary.update(batch)
            if writing is not None:
                writing.result()
        except UnicodeDecodeError:
            raise _encoding_error(open_raw, settings)
        except _DAMAGED as exc:  # pyarrow raises OSError for a truncated or corrupt gzip stream
            if settings.compression == "gzip":
                raise damaged_compression(exc) from None
            raise DataError(f"The file cannot be read ({exc}); upload it again.", field="file") from None
        except pa.ArrowInvalid as exc:
            if "straddling object" in str(exc):  # one value larger than a whole read block
                raise (limits or Limits()).field_too_large() from None
            match = _CONVERSION_ERROR.search(str(exc))
            if match and match.group(2) not in ("string", "large_string"):
                column = names[int(match.group(1))]
                current = forced.get(column) or (writer.schema.field(column).type if writer else pa.string())
                forced[column] = _wider(current)
                continue
            if "UTF8" in str(exc) or "decode" in str(exc).lower():
                raise _encoding_error(open_raw, settings)
            located = locate_bad_row(open_raw, settings, len(names))
            if located:
                raise located
            raise DataError(f"The file cannot be parsed: {exc}. Check the delimiter and the quote character.",
                            field="delimiter")
        finally:
            write_pool.shutdown(wait=True)
            if writer is not None:
                writer.close()
                summary.close()
            raw.close()
        break
    else:
        raise DataError("The column types could not be settled; upload the file as Parquet.", field="file")
    if invalid:
        located = locate_bad_row(open_raw, settings, len(names))
        if located:
            raise located
        expected, actual = invalid[0]
        raise DataError(f"A row has {actual} fields but the header has {expected}. Check the delimiter and the "
                        "quote character.", field="delimiter")
    if n_rows == 0:
        raise DataError("The file has a header row but no data rows; add data rows below the header, or turn off "
                        "'first row is a header' if the first line is data.", field="file")
    return IngestResult(n_rows=n_rows, columns=summary.result(), summary=summary)


def _encoding_error(open_raw: Opener, settings: ParseSettings) -> DataError:
    return DataError(f"The file cannot be read as {ENCODINGS.get(settings.encoding, settings.encoding)}: "
                     f"{locate_undecodable(open_raw, settings)}. Choose the encoding the file was saved in "
                     "(often Windows-1252 or UTF-16 for spreadsheet exports).", field="encoding")


def _copy_parquet(open_raw: Opener, out: BinaryIO, max_columns: int, limits: Limits | None = None) -> IngestResult:
    with open_raw() as raw:
        pf = _parquet_file(raw)
        names = pf.schema_arrow.names
        column_names(names, True, max_columns)
        check_parquet(pf, limits)
        n_rows = pf.metadata.num_rows
        if n_rows == 0:
            raise DataError("The Parquet file has columns but no rows; upload a file that contains data.",
                            field="file")
        summary = TableSummary(pf.schema_arrow)
        try:
            with pq.ParquetWriter(out, pf.schema_arrow, compression="snappy") as writer:
                for batch in pf.iter_batches(batch_size=256_000):
                    _check_batch(batch, 0, limits)
                    writer.write_batch(batch)
                    summary.update(batch)
        except (OSError, pa.ArrowException) as exc:
            raise damaged_parquet(exc) from None
        finally:
            summary.close()
    return IngestResult(n_rows=n_rows, columns=summary.result(), summary=summary)


# --- Converting while the upload arrives -------------------------------------------------------------------

# Encodings in which a newline is the single byte 0x0A, so that a head of the file can be cut at a line end.
_LINE_SAFE_ENCODINGS = {"utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-15", "cp1250", "cp1251"}


class _NotReplayable(RuntimeError):
    """The early conversion needed to read the upload again from the start, which a stream cannot do."""


class _ChunkPipe(io.RawIOBase):
    """Bytes handed from the thread receiving an upload to the thread converting it, a few chunks at a time:
    the receiver blocks while ``capacity`` chunks wait, so memory stays bounded and the transfer runs at the
    pace of the conversion. Once the reader has gone (finished or failed), ``put`` drops chunks."""

    def __init__(self, capacity: int = 4):
        self.chunks: queue.Queue = queue.Queue(capacity)
        self.buffer = memoryview(b"")
        self.ended = False
        self.reader_gone = threading.Event()

    def readable(self) -> bool:
        return True

    def put(self, chunk) -> None:
        while not self.reader_gone.is_set():
            try:
                self.chunks.put(chunk, timeout=0.1)
                return
            except queue.Full:
                continue

    def readinto(self, b) -> int:
        while not len(self.buffer):
            if self.ended:
                return 0
            chunk = self.chunks.get()
            if chunk is None:
                self.ended = True
                return 0
            if isinstance(chunk, BaseException):
                raise chunk
            self.buffer = memoryview(chunk)
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


class EarlyConversion:
    """Converts a delimited text upload into Parquet while it is still arriving, on a thread of its own, so
    that parsing overlaps with the transfer instead of starting after it.

    It is optimistic: it reads the file with the settings detected from its head (``inspect_file``), and the
    caller uses the result (``take``) only if the settings it finally decides on are the same and the pass
    succeeded. Whatever the early pass cannot do in one streaming read (a type that must be widened, a bad
    row to locate, Parquet, a multi-byte encoding) ends it quietly, and the caller converts the stored
    file as usual, which gives the same result or the same error.
    """

    def __init__(self, file_name: str, out_path, max_columns: int, limits: Limits | None = None):
        self.file_name, self.out_path, self.max_columns = file_name, out_path, max_columns
        self.limits = limits
        self.head = bytearray()
        self.settings: ParseSettings | None = None
        self.pipe: _ChunkPipe | None = None
        self.thread: threading.Thread | None = None
        self.result: IngestResult | None = None
        self.error: BaseException | None = None
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the file, exactly as they are stored."""
        if self.stopped:
            return
        if self.pipe is None:
            self.head += chunk
            if len(self.head) >= SNIFF_BYTES:
                self._start()
            return
        self.pipe.put(chunk)

    def finish(self) -> None:
        """The whole file has arrived."""
        if self.pipe is None and not self.stopped:
            self._start()
        if self.pipe is not None:
            self.pipe.put(None)

    def take(self, settings: ParseSettings) -> IngestResult | None:
        """The conversion's result if it read the file with ``settings`` and succeeded (the Parquet copy is
        then at ``out_path``, the caller's to move); otherwise None, with nothing left behind."""
        if self.thread is not None:
            self.thread.join()
        if self.result is not None and self.settings == settings:
            result, self.result = self.result, None
            return result
        self.discard()
        return None

    def discard(self) -> None:
        """Stop the conversion (if it runs) and delete its output; safe to call more than once."""
        self.stopped = True
        if self.pipe is not None and self.thread is not None and self.thread.is_alive():
            self.pipe.put(_NotReplayable("the upload ended before the file was complete"))
            self.thread.join()
        self.result = None
        Path(self.out_path).unlink(missing_ok=True)

    def _start(self) -> None:
        head = bytes(self.head)
        self.head = bytearray()
        try:
            settings = inspect_file(lambda: io.BytesIO(head), self.file_name)
        except Exception as exc:  # noqa: BLE001 - the stored file is inspected again and any problem reported then
            log.info("early conversion of %s skipped: %s: %s", self.file_name, type(exc).__name__, exc)
            settings = None
        if (settings is None or settings.file_format != "delimited" or settings.compression not in ("", "gzip")
                or settings.encoding not in _LINE_SAFE_ENCODINGS):
            self.stopped = True
            return
        self.settings = settings
        self.pipe = _ChunkPipe()
        self.pipe.put(head)
        self.thread = threading.Thread(target=self._run, args=(head,), name="early-conversion", daemon=True)
        self.thread.start()

    def _run(self, head: bytes) -> None:
        openers = iter([lambda: io.BytesIO(head), lambda: io.BufferedReader(self.pipe, 1 << 20)])

        def open_raw():
            opener = next(openers, None)
            if opener is None:
                raise _NotReplayable("a second pass over the upload was needed")
            return opener()

        try:
            forced = self._head_types(head)
            with open(self.out_path, "wb") as out:
                self.result = convert_to_parquet(open_raw, self.settings, out, self.max_columns, forced,
                                                 self.limits)
        except BaseException as exc:  # the caller converts the stored file instead, and reports any error then
            self.error = exc
        finally:
            self.pipe.reader_gone.set()

    def _head_types(self, head: bytes) -> dict[str, pa.DataType]:
        """Types to force from the start (dates as timestamps, as ``convert_to_parquet`` would settle on after
        its first block), inferred from the complete lines of the head, so that no second pass is needed."""
        plain = replace(self.settings, compression="")
        try:
            text = zlib.decompressobj(wbits=31).decompress(head) if self.settings.compression == "gzip" else head
            complete = text[:text.rfind(b"\n") + 1]
            names = read_preview(lambda: io.BytesIO(complete), plain, self.max_columns, rows=1).columns
            schema = _csv_reader(io.BytesIO(complete), plain, names, {}).schema
        except (DataError, pa.ArrowException, UnicodeDecodeError, StopIteration, zlib.error):
            return {}
        return _settled_types(schema)


class ColumnSummary:
    """Exact counts of one column, gathered batch by batch while the Parquet copy is written (no second read).

    Missing values (nulls, and NaN in float columns), distinct values (each batch's distinct values merged
    into a running set, compacted as it grows, so memory holds the distinct values, never the column), and
    for text the share of values with an inner space, the mean length and the one date format every value
    follows, if any. ``result()`` gives the column as ``summarize`` callers expect it, with its detected type.
    """

    def __init__(self, f: pa.Field, bitmaps: "_BitmapBudget | None" = None):
        self.name, self.type = f.name, f.type
        self.physical = _physical_name(f.type)
        self.rows = self.missing = self.spaced = self.total_length = 0
        self.uniques: list = []
        self.held = self.compacted = 0
        # Numbers and dates with many distinct values switch from a hash set (Arrow, quick for few values) to
        # sorted numpy runs merged by sorting: a hash set of ten million numbers costs seconds and gigabytes.
        self.sortable = self.physical in ("integer", "float", "datetime")
        self.runs: list[np.ndarray] | None = None
        # Integers and timestamps with many distinct values are counted in a byte map over their range instead
        # (one pass, no sorting) while the table's budget allows; past it they fall back to sorted runs.
        self.bitmap = _Bitmap(bitmaps) if bitmaps is not None and self.physical in ("integer", "datetime") else None
        self.counts: list = []  # text: how often each value of ``uniques`` occurs
        self.nbytes = 0
        self.low = self.high = None
        self.date_formats: list[str] | None = None  # decided on the first batch with values

    def update(self, arr: pa.Array) -> None:
        self.rows += len(arr)
        self.nbytes += arr.nbytes
        missing = arr.null_count
        if pa.types.is_floating(self.type):
            missing += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
        self.missing += missing
        if missing == len(arr):
            return
        if self.runs is not None:
            self._add_many(self._numbers(arr))
        else:
            if self.physical == "string":
                counted = pc.value_counts(arr)
                unique = counted.field("values")
                self.counts.append(counted.field("counts"))
                self._text_shape(arr, unique, counted.field("counts"))
            else:
                unique = pc.unique(arr)
            if pa.types.is_floating(self.type):
                unique = pc.add(unique, pa.scalar(0.0, self.type))  # -0.0 and 0.0 are one value
            if self.sortable and len(arr) >= 1000 and len(unique) > len(arr) // 4:
                self.runs = []
                for seen in self.uniques + [unique]:
                    self._add_many(self._numbers(seen))
                self.uniques = []
            else:
                self.uniques.append(unique)
                self.held += len(unique)
                if self.held > max(1_000_000, 2 * self.compacted):
                    self._compact()
        if self.physical == "integer":
            mm = pc.min_max(arr)
            low, high = mm["min"].as_py(), mm["max"].as_py()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def _text_shape(self, arr: pa.Array, unique: pa.Array, counts: pa.Array) -> None:
        """Spaces, lengths and date formats of a text batch, worked out on its distinct values."""
        self.spaced += pc.sum(pc.if_else(pc.match_substring(pc.utf8_trim_whitespace(unique), " "), counts, 0)).as_py() or 0
        self.total_length += pc.sum(pc.multiply(pc.utf8_length(unique), counts)).as_py() or 0
        if self.date_formats is None:
            self.date_formats = _head_date_formats(pc.drop_null(arr.slice(0, 5000)))
        if self.date_formats:
            values = pc.drop_null(unique)
            self.date_formats = [fmt for fmt in self.date_formats
                                 if pc.strptime(values, format=fmt, unit="s", error_is_null=True).null_count == 0]

    def _compact(self) -> None:
        if self.runs is not None:
            merged = np.concatenate(self.runs)
            self.runs = []  # let the runs go before sorting: memory holds the merged values once, not twice
            merged = _sorted_unique(merged, in_place=True)
            self.runs, self.held, self.compacted = [merged], merged.size, merged.size
            return
        if self.counts:
            # Grouping in one thread keeps the values in order of first appearance (ties in top values).
            grouped = pa.table({"value": pa.chunked_array(self.uniques, self.uniques[0].type),
                                "count": pa.chunked_array(self.counts, pa.int64())}).group_by(
                "value", use_threads=False).aggregate([("count", "sum")])
            merged = grouped.column("value").combine_chunks()
            self.counts = [grouped.column("count_sum").combine_chunks()]
        else:
            merged = pc.unique(pa.chunked_array(self.uniques, self.uniques[0].type))
        self.uniques, self.held, self.compacted = [merged], len(merged), len(merged)

    def _numbers(self, arr: pa.Array) -> np.ndarray:
        """The non-missing values as int64 or float64 (NaN dropped, -0.0 as 0.0)."""
        arr = pc.drop_null(arr) if arr.null_count else arr
        if pa.types.is_date32(arr.type):
            arr = arr.cast(pa.int32())
        elif pa.types.is_timestamp(arr.type) or pa.types.is_date64(arr.type):
            arr = arr.cast(pa.int64())
        values = arr.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            values = values.astype("float64", copy=False)
            return values[~np.isnan(values)] + 0.0
        return values.astype("int64", copy=False)

    def _add_many(self, values: np.ndarray) -> None:
        """Values of a column with many distinct values: into the byte map while it holds, else a sorted run."""
        if self.bitmap is not None:
            if self.bitmap.add(values):
                return
            seen = self.bitmap.release()
            self.bitmap = None
            self.runs.append(seen)
            self.held += seen.size
        self._add_run(values)

    def _add_run(self, values: np.ndarray) -> None:
        run = _sorted_unique(values)
        self.runs.append(run)
        self.held += run.size
        if self.held > max(2_000_000, 2 * self.compacted):
            self._compact()

    def distinct_count(self) -> int:
        if self.bitmap is not None and self.bitmap.bits is not None:
            return self.bitmap.count()
        return len(self.distinct_values())

    def distinct_values(self) -> pa.Array:
        """The distinct non-missing values (NaN is missing)."""
        if self.bitmap is not None and self.bitmap.bits is not None:
            return pa.array(self.bitmap.values())
        if self.runs is not None:
            if len(self.runs) > 1:
                self._compact()
            return pa.array(self.runs[0]) if self.runs else pa.array([], pa.int64())
        if not self.uniques:
            return pa.array([], self.type)
        if len(self.uniques) > 1:
            self._compact()
        values = pc.drop_null(self.uniques[0])
        if pa.types.is_floating(self.type):
            values = pc.filter(values, pc.invert(pc.is_nan(values)))
        return values

    def text_profile(self, top_indices, histogram) -> dict | None:
        """Exact profile statistics of a text column from its value counts: top values and lengths (the
        worker then needs not read the column again). ``top_indices(counts)`` picks the top values,
        ``histogram(values, weights)`` makes the chart."""
        if self.physical != "string" or not self.uniques:
            return None
        if len(self.uniques) > 1:
            self._compact()
        values, counts = self.uniques[0], self.counts[0]
        present = pc.is_valid(values)
        values, counts = pc.filter(values, present), pc.filter(counts, present).to_numpy(zero_copy_only=False)
        n = int(counts.sum())
        if n == 0:
            return None
        lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False).astype("float64")
        order = top_indices(counts)
        return {"length_min": int(lengths.min()), "length_max": int(lengths.max()),
                "length_mean": round(float((lengths * counts).sum() / n), 2),
                "length_histogram": histogram(lengths, counts),
                "top_values": [{"value": str(values[int(i)].as_py()), "count": int(counts[i]),
                                "percent": round(100 * counts[i] / n, 2)} for i in order],
                "nbytes": int(self.nbytes)}

    def result(self) -> dict:
        distinct, missing, n_rows = self.distinct_count(), self.missing, self.rows
        present = n_rows - missing
        space_share = self.spaced / present if present and self.physical == "string" else 0.0
        mean_length = self.total_length / present if present and self.physical == "string" else 0.0
        consecutive = (self.physical == "integer" and present > 0 and distinct == present
                       and self.high - self.low + 1 == distinct)
        few = self.distinct_values().to_pylist() if distinct <= 2 and present else None
        date_format = (self.date_formats or [None])[0] if self.physical == "string" and present else None
        kind, flags = classify_column(self.name, "datetime" if date_format else self.physical, n_rows, missing,
                                      distinct, space_share, mean_length, consecutive, few)
        if missing == n_rows:
            flags = ["all_missing"]
        column = {"name": self.name, "type": kind, "detected_type": kind, "physical": self.physical,
                  "missing": int(missing), "distinct": distinct, "flags": flags,
                  "excluded": bool({"all_missing", "single_value"} & set(flags))}
        if date_format:
            column["date_format"] = date_format
        return column


class _BitmapBudget:
    """The bytes of byte maps a table's columns may still allocate (shared, so wide tables stay bounded)."""

    def __init__(self, limit: int = BITMAP_BUDGET):
        self.left = limit
        self.lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self.lock:
            if n > self.left:
                return False
            self.left -= n
            return True

    def give(self, n: int) -> None:
        with self.lock:
            self.left += n


class _Bitmap:
    """The distinct values of an integer column as one byte per integer between the smallest and the largest
    seen: adding a batch is a scatter, counting is one pass, and nothing is sorted. The span grows (doubling,
    towards where new values fall) while the shared budget allows it; ``add`` returns False when it cannot."""

    def __init__(self, budget: _BitmapBudget):
        self.budget = budget
        self.base = 0
        self.bits: np.ndarray | None = None

    def add(self, values: np.ndarray) -> bool:
        if values.size == 0:
            return True
        lo, hi = int(values.min()), int(values.max())
        size = 0 if self.bits is None else self.bits.size
        if self.bits is None or lo < self.base or hi >= self.base + size:
            low = lo if self.bits is None else min(lo, self.base)
            high = hi if self.bits is None else max(hi, self.base + size - 1)
            span = high - low + 1
            grown = max(span, min(2 * size, self.budget.left + size))
            if not self.budget.take(grown - size):
                return False
            bits = np.zeros(grown, dtype=bool)
            # Headroom goes where the values are heading: up for ascending ids, down for descending ones.
            base = low if self.bits is None or hi >= self.base + size else high - grown + 1
            if self.bits is not None:
                bits[self.base - base:self.base - base + size] = self.bits
            self.base, self.bits = base, bits
        self.bits[values - self.base] = True
        return True

    def count(self) -> int:
        return int(np.count_nonzero(self.bits))

    def values(self) -> np.ndarray:
        return np.flatnonzero(self.bits).astype("int64") + self.base

    def release(self) -> np.ndarray:
        """The values seen so far (sorted, distinct), giving the bytes back to the budget."""
        values = self.values() if self.bits is not None else np.zeros(0, dtype="int64")
        if self.bits is not None:
            self.budget.give(self.bits.size)
        self.bits = None
        return values


def _sorted_unique(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """The distinct values, sorted (numpy's own ``unique`` hashes integers, which is 40 times slower)."""
    if in_place and values.flags.writeable:
        values.sort()
    else:
        values = np.sort(values)
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _head_date_formats(values: pa.Array) -> list[str] | None:
    """The formats (of ``DATE_FORMATS``) the first values of a text column follow: empty if they are no dates,
    None if there are no values to tell."""
    head = values[:200]
    if len(head) == 0:
        return None
    if not pc.all(pc.match_substring_regex(head, r"^\d{1,4}[-/.]\w{1,3}[-/.]\d{1,4}")).as_py():
        return []
    return [fmt for fmt in DATE_FORMATS
            if pc.strptime(head, format=fmt, unit="s", error_is_null=True).null_count == head.null_count]


class TableSummary:
    """A ``ColumnSummary`` per column of a stream of record batches; two columns are summarised at a time
    (Arrow releases the GIL), while the caller writes the batch."""

    def __init__(self, schema: pa.Schema, threads: int = 2):
        bitmaps = _BitmapBudget()
        self.columns = [ColumnSummary(f, bitmaps) for f in schema]
        self.pool = ThreadPoolExecutor(max(1, threads)) if threads > 1 else None

    def update(self, batch: pa.RecordBatch) -> None:
        if self.pool is None:
            for summary, arr in zip(self.columns, batch.columns):
                summary.update(arr)
            return
        for _ in self.pool.map(lambda pair: pair[0].update(pair[1]), zip(self.columns, batch.columns)):
            pass

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def result(self) -> list[dict]:
        return [c.result() for c in self.columns]

    def text_profiles(self, top_indices, histogram) -> dict[str, dict]:
        """``ColumnSummary.text_profile`` of each text column, by name."""
        out = {}
        for c in self.columns:
            stats = c.text_profile(top_indices, histogram)
            if stats is not None:
                out[c.name] = stats
        return out


def neutralize_formula(value) -> str:
    """A cell as text that a spreadsheet will not run as a formula (OWASP CSV injection advice)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text

