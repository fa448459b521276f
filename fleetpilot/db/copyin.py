"""Rows for COPY … FROM STDIN (FORMAT binary), encoded from numpy columns.

The rollup writes hundreds of thousands of exposure, leg and visit rows a fleet-day. Turning
its numpy columns into a Python tuple per row, then letting asyncpg encode every value, cost
more CPU than the analysis that computed them (py-spy: ~2.3 s of a first rollup's 12 s). Here
each column is encoded to PostgreSQL's binary wire values in one numpy operation and the rows
are laid out with scatter writes; text columns are given as labels and a code per row (the
few shift, street and facility ids of a batch), so each label is encoded once.

Format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4 (the reading
side is fleetpilot.db.copyout). Values equal what asyncpg's own encoders send: floats narrowed
to real by IEEE rounding, timestamps as µs since 2000-01-01 UTC rounded like
datetime.fromtimestamp (half to even), dates as days since 2000-01-01.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np

from fleetpilot.db.copyout import SIGNATURE

HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # flags, header extension length
TRAILER = b"\xff\xff"
FIXED = {"bool": "u1", "int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8"}
PG_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z in Unix seconds
PG_EPOCH_DAY = np.datetime64("2000-01-01", "D")


@dataclass(frozen=True)
class Field:
    """One column: ``data`` is its wire values (n × width bytes) or, for text, a code per row
    into ``labels``; ``null`` marks NULLs (their values are not sent)."""

    data: np.ndarray
    null: np.ndarray
    labels: tuple[bytes | None, ...] | None = None

    def take(self, rows: np.ndarray) -> Field:
        return Field(self.data[rows], self.null[rows], self.labels)


def fixed(wire: str, values, null=None) -> Field:
    """A column of int2/int4/int8/float4/float8/bool values; ``null`` marks NULLs (a NaN is
    sent as NaN, as asyncpg would: mark it in ``null`` to store NULL)."""
    array = np.asarray(values)
    if null is None:
        null = np.zeros(len(array), dtype=bool)
    kind = np.dtype(FIXED[wire])
    if kind.kind == "i" and len(array) and array.dtype.kind in "iu":
        info = np.iinfo(kind)
        if array.min() < info.min or array.max() > info.max:
            raise ValueError(f"a value out of {wire}'s range")
    data = np.asarray(array, dtype=kind).reshape(-1, 1).view(np.uint8)
    return Field(np.ascontiguousarray(data), np.asarray(null, dtype=bool))


def timestamps(seconds, null=None) -> Field:
    """timestamptz from Unix seconds (float), rounded to µs as datetime.fromtimestamp does."""
    s = np.asarray(seconds, dtype=np.float64)
    frac, whole = np.modf(s)
    us = whole.astype(np.int64) * 1_000_000 + np.round(frac * 1e6).astype(np.int64)
    return fixed("int8", us - PG_EPOCH_S * 1_000_000, null)


def dates(days, null=None) -> Field:
    """date from datetime.date values (or numpy datetime64[D])."""
    d = (np.asarray(days, dtype="datetime64[D]") - PG_EPOCH_DAY).astype(np.int64)
    return fixed("int4", d, null)


def text(codes, labels: Sequence[str | None]) -> Field:
    """A text column as a code per row into ``labels`` (a label None is NULL)."""
    encoded = tuple(None if v is None else str(v).encode() for v in labels)
    codes = np.asarray(codes, dtype=np.int64)
    is_null = np.array([v is None for v in encoded], dtype=bool)
    return Field(codes, is_null[codes] if len(codes) else np.zeros(0, dtype=bool), encoded)


@dataclass(frozen=True)
class CopyRows:
    """Rows of named columns, encoded for a binary COPY by ``encode``."""

    names: tuple[str, ...]
    fields: tuple[Field, ...]

    @classmethod
    def of(cls, **columns: Field) -> CopyRows:
        lengths = {len(f.null) for f in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        return cls(tuple(columns), tuple(columns.values()))

    @classmethod
    def empty(cls) -> CopyRows:
        return cls((), ())

    def __len__(self) -> int:
        return len(self.fields[0].null) if self.fields else 0

    def take(self, rows: np.ndarray) -> CopyRows:
        """The rows at ``rows`` (indices or a boolean mask)."""
        return CopyRows(self.names, tuple(f.take(rows) for f in self.fields))

    def labels_in(self, name: str, wanted: set[str]) -> CopyRows:
        """The rows whose text column ``name`` is one of ``wanted``."""
        f = self.fields[self.names.index(name)]
        assert f.labels is not None, f"{name} is not a text column"
        keep = np.array([v is not None and v.decode() in wanted for v in f.labels], dtype=bool)
        return self.take(keep[f.data] if len(f.data) else np.zeros(0, dtype=bool))

    @staticmethod
    def concat(parts: Sequence[CopyRows]) -> CopyRows:
        """Rows of ``parts`` one after another (same names; text labels are merged)."""
        parts = [p for p in parts if p.fields]
        if not parts:
            return CopyRows((), ())
        names = parts[0].names
        fields = []
        for k in range(len(names)):
            pieces = [p.fields[k] for p in parts]
            null = np.concatenate([f.null for f in pieces])
            if pieces[0].labels is None:
                fields.append(Field(np.concatenate([f.data for f in pieces]), null))
                continue
            labels: list[bytes | None] = []
            codes = []
            for f in pieces:
                if f.labels is None:
                    raise ValueError(f"{names[k]}: text in one part, not in another")
                codes.append(f.data + len(labels))
                labels += f.labels
            fields.append(Field(np.concatenate(codes), null, tuple(labels)))
        return CopyRows(names, tuple(fields))

    async def copy_to(self, conn: asyncpg.Connection, table: str) -> None:
        """COPY these rows into ``table`` (its columns named as here; others take defaults)."""
        # A memoryview: asyncpg would take bytes for a file's path.
        await conn.copy_to_table(table, source=memoryview(self.encode()), columns=list(self.names), format="binary")

    def encode(self) -> bytes:
        """The whole COPY stream: header, rows, trailer."""
        n = len(self)
        sizes = np.full(n, 2, dtype=np.int64)  # the field count
        widths = []
        for f in self.fields:
            if f.labels is None:
                width = np.full(n, f.data.shape[1], dtype=np.int64)
            else:
                label_len = np.array([0 if v is None else len(v) for v in f.labels], dtype=np.int64)
                width = label_len[f.data] if n else np.zeros(0, dtype=np.int64)
            width = np.where(f.null, 0, width)
            widths.append(width)
            sizes += 4 + width
        start = len(HEADER) + np.concatenate([[0], np.cumsum(sizes)[:-1]]) if n else np.zeros(0, dtype=np.int64)
        out = np.zeros(len(HEADER) + int(sizes.sum()) + len(TRAILER), dtype=np.uint8)
        out[: len(HEADER)] = np.frombuffer(HEADER, dtype=np.uint8)
        out[len(out) - len(TRAILER) :] = np.frombuffer(TRAILER, dtype=np.uint8)
        count = np.array([len(self.fields)], dtype=">i2").view(np.uint8)
        out[start] = count[0]
        out[start + 1] = count[1]
        at = start + 2
        for f, width in zip(self.fields, widths):
            length = np.where(f.null, -1, width).astype(">i4").reshape(-1, 1).view(np.uint8)
            out[at[:, None] + np.arange(4)] = length
            values = at + 4
            sent = ~f.null
            if f.labels is None:
                w = f.data.shape[1]
                out[values[sent][:, None] + np.arange(w)] = f.data[sent]
            else:
                _scatter_text(out, values[sent], f.data[sent], f.labels)
            at = values + width
        return out.tobytes()


def _scatter_text(out: np.ndarray, at: np.ndarray, codes: np.ndarray, labels: tuple[bytes | None, ...]) -> None:
    """Write label ``codes[i]``'s bytes at ``at[i]``, for every i, in one scatter."""
    blob = np.frombuffer(b"".join(v or b"" for v in labels), dtype=np.uint8)
    label_len = np.array([0 if v is None else len(v) for v in labels], dtype=np.int64)
    label_start = np.concatenate([[0], np.cumsum(label_len)[:-1]])
    lens = label_len[codes]
    total = int(lens.sum())
    if not total:
        return
    row_first = np.concatenate([[0], np.cumsum(lens)[:-1]])  # each row's first byte in the flat run
    k = np.arange(total) - np.repeat(row_first, lens)  # byte index within its label
    out[np.repeat(at, lens) + k] = blob[np.repeat(label_start[codes], lens) + k]
