"""The PostgreSQL writer: seats COPYed by a thread, a batch at a time, while the plan goes on (the
server's index and foreign-key work runs on the other core), and COPY for events and notices. A seat a
coordinator took meanwhile is skipped, never double-booked (the batch falls back to
``ON CONFLICT DO NOTHING``)."""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from scheduler.rosters.fill.explain import explanation_json
from scheduler.rosters.fill.results import Placement, seat_key
from scheduler.rosters.fill.rows import SEAT_COLUMNS

#: Seats per COPY while the plan goes on.
STREAM_BATCH = 100_000
#: Bytes handed to the driver per read of a COPY's data. The writer thread needs the GIL for each
#: read while the planning thread holds it, so small reads cost a thread switch (up to
#: ``sys.getswitchinterval()``) each.
COPY_CHUNK = 1 << 24


def seat_copy_lines(placements: Sequence[Placement], stamp: datetime) -> list[str]:
    """COPY text lines of new seats, made directly: ids, fixed words and a timestamp need no
    escaping, and the ASCII JSON only its backslashes."""
    stamp_text = str(stamp)
    lines = []
    for p in placements:
        explanation = explanation_json(p.choice)
        if "\\" in explanation:
            explanation = explanation.replace("\\", "\\\\")
        lines.append(f"{p.occurrence_id}\t{p.role_id}\t{p.volunteer_id}\tinvited\t{p.seat_no}\tf\t"
                     f"{explanation}\t0\t{stamp_text}\t{stamp_text}")
    return lines


class SeatStreamer:
    """Writes the seats to PostgreSQL on a thread while the plan goes on: the server inserts (its
    indexes and foreign-key checks are most of a fill's cost) on one core while Python plans on the
    other. Same connection, same transaction; the planning thread does not use the connection until
    ``close``. Each batch goes in as ``copy_assignments`` writes it (a lost race costs only the
    seats taken)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.connection = session.connection().connection.dbapi_connection
        self.stamp = now.astimezone(UTC).replace(tzinfo=None)
        self.next_at = STREAM_BATCH
        self.sent = 0
        self.found: dict[tuple[int, int], int] = {}
        self.error: BaseException | None = None
        #: Seconds the writer thread spent on seats (the database's share).
        self.seconds = {"db_seats": 0.0}
        self.batches: queue.Queue[tuple[list[str], list[tuple[int, int]]] | None] = queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._run, name="fill-seat-writer", daemon=True)
        self.thread.start()

    def feed(self, placements: list[Placement]) -> None:
        # In key order (occurrence, role, seat) within the batch: the unique indexes then take each
        # batch in one sweep instead of a page at random per row (bare COPY of the full synthetic
        # city's seats: 58.6 s in random order, 45.2 s in sorted batches of 100,000, 38.0 s sorted whole).
        batch = sorted(placements[self.sent:], key=seat_key)
        self.sent = len(placements)
        self.next_at = self.sent + STREAM_BATCH
        if batch and self.error is None:
            self.batches.put((seat_copy_lines(batch, self.stamp), [(p.occurrence_id, p.volunteer_id) for p in batch]))

    def close(self, placements: list[Placement]) -> dict[tuple[int, int], int]:
        """Hand over the rest, wait for the writes, and return (occurrence, volunteer) -> new id."""
        try:
            self.feed(placements)
        finally:
            self.batches.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.found

    def abort(self) -> None:
        """Stop after the batch in hand (the plan failed), without raising."""
        self.error = self.error or RuntimeError("fill aborted")
        self.batches.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (batch := self.batches.get()) is not None:
            if self.error is not None:
                continue  # drain: the transaction is failed; close() raises
            try:
                seat_lines, keys = batch
                started = time.perf_counter()
                found = _copy_batch(self.connection, seat_lines, keys)
                self.seconds["db_seats"] += time.perf_counter() - started
                self.found.update(found)
            except BaseException as exc:  # re-raised by close() in the planning thread
                self.error = exc


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        # COPY text format: backslash, tab and newlines are escaped.
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(value)


def _copy_chunks(rows: Iterable[tuple[Any, ...]], size: int = 200_000) -> Iterator[io.StringIO]:
    lines: list[str] = []
    for row in rows:
        lines.append("\t".join([_copy_value(x) for x in row]))
        if len(lines) == size:
            yield io.StringIO("\n".join(lines) + "\n")
            lines = []
    if lines:
        yield io.StringIO("\n".join(lines) + "\n")


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    cursor = session.connection().connection.cursor()
    try:
        for chunk in _copy_chunks(rows):
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", chunk)
    finally:
        cursor.close()


def insert_assignments(session: Session, columns: Sequence[str],
                           rows: list[tuple[Any, ...]]) -> dict[tuple[int, int], int]:
    """COPY the seats with ids drawn from the sequence, in a SAVEPOINT. If a coordinator took one of
    those seats meanwhile, the unique constraint rejects the COPY: roll back to the savepoint and go
    through a scratch table with ON CONFLICT DO NOTHING, which skips exactly the seats taken."""
    lines = ["\t".join([_copy_value(x) for x in row]) for row in rows]
    return copy_assignments(session, columns, lines, [(row[0], row[2]) for row in rows])


def copy_assignments(session: Session, columns: Sequence[str], lines: list[str],
                         keys: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """``insert_assignments`` for rows already COPY text (without the id); ``keys`` are their
    (occurrence_id, volunteer_id)."""
    assert tuple(columns) == SEAT_COLUMNS
    return _copy_batch(session.connection().connection.dbapi_connection, lines, keys)


def _copy_batch(connection: Any, lines: list[str], keys: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """COPY seats (lines without the id) on a DBAPI connection, ids drawn from the sequence, in a
    savepoint; on a unique violation, through a scratch table with ON CONFLICT DO NOTHING."""
    import psycopg2

    if not lines:
        return {}
    all_columns = ", ".join(("id", *SEAT_COLUMNS))
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('assignment', 'id')) FROM generate_series(1, %s)",
                       (len(lines),))
        ids = [row[0] for row in cursor.fetchall()]
        data = "".join([f"{aid}\t{line}\n" for aid, line in zip(ids, lines, strict=True)])
        cursor.execute("SAVEPOINT fill_seats")
        try:
            cursor.copy_expert(f"COPY assignment ({all_columns}) FROM STDIN", io.StringIO(data), size=COPY_CHUNK)
        except psycopg2.IntegrityError:
            cursor.execute("ROLLBACK TO SAVEPOINT fill_seats")
        else:
            cursor.execute("RELEASE SAVEPOINT fill_seats")
            return dict(zip(keys, ids, strict=True))
        cursor.execute("RELEASE SAVEPOINT fill_seats")
        cursor.execute("CREATE TEMP TABLE fill_assignment (LIKE assignment INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.copy_expert(f"COPY fill_assignment ({all_columns}) FROM STDIN", io.StringIO(data), size=COPY_CHUNK)
        cursor.execute(f"INSERT INTO assignment ({all_columns}) SELECT {all_columns} FROM fill_assignment "
                       "ON CONFLICT DO NOTHING RETURNING id, occurrence_id, volunteer_id")
        found = {(occ, vol): aid for aid, occ, vol in cursor.fetchall()}
        cursor.execute("DROP TABLE fill_assignment")
        return found
    finally:
        cursor.close()

