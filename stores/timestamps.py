"""Times as integer microseconds since the epoch, the form the stores keep them in
(sortable, exact, the same in SQLite and Cassandra)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ("from_us", "to_us")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    if moment.tzinfo is None:  # naive times are taken to be UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def from_us(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
