"""Event ids are canonical UUIDv7 strings whatever builds them: readers parse them with
``uuid.UUID`` and find a request's events in the log by the time they carry."""

from __future__ import annotations

import time
import uuid

from schemas.events import new_id, time_of_id


def test_new_id_is_a_canonical_uuid7_carrying_its_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # lower-case 8-4-4-4-12, as str(UUID) writes it
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        stamp = time_of_id(value)
        assert stamp is not None and before <= stamp <= after
    # Time-ordered across milliseconds: a later id sorts after an earlier one.
    first = new_id()
    time.sleep(0.002)
    assert new_id() > first
