"""Moving stages from one consumer group to another (from a group per stage to their
role's, or from one role to another) with nothing processed twice or skipped.

A worker runs its stages in one consumer group, its role's (schemas/stages.py). Before,
each stage may have committed in other groups: its own (``chatstream-<stage>``, when every
stage ran apart) or another role's, each at its own offset. A stage's *floor* on a
partition is the furthest it got in any of them: it handled the records below. When the
role's group has no offset on a partition yet, it starts at the lowest floor of its stages
reading it; each stage then passes over the records below its own floor. The floors are
read at every start, so a worker that dies before its role's group has passed them still
skips the right records after the restart; once the role's lag is 0 the old groups can be
deleted (docs/scaling.md, "Roles").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import TopicPartition

from schemas.stages import group_name, topic_name
from streams.runtime.base import StageSpec
from streams.runtime.kafka import clients
from streams.runtime.kafka.groups import groups_by_stage

__all__ = ("Floors", "carry_over")

# Per stage: (physical topic, partition) → the first offset the stage has not handled.
Floors = Mapping[str, Mapping[tuple[str, int], int]]


async def carry_over(bootstrap: str, prefix: str, role_group: str,
                     stages: Sequence[StageSpec]) -> Floors:
    """Seed ``role_group``'s offsets from the stages' other groups where it has none, and
    return each stage's floors (empty when no stage ever ran in another group)."""
    admin = clients.admin(bootstrap, client_id="chatstream-carry-over")
    await admin.start()
    try:
        runs_in = await groups_by_stage(admin, prefix)
        floors: dict[str, dict[tuple[str, int], int]] = {}
        for spec in stages:
            reads = {topic_name(t, prefix) for t in spec.inputs}
            others = {*runs_in.get(spec.name, ()), group_name(spec.name, prefix)} - {role_group}
            mine: dict[tuple[str, int], int] = {}
            for group in sorted(others):
                found = await admin.list_consumer_group_offsets(group)
                for tp, meta in found.items():
                    if meta.offset >= 0 and tp.topic in reads:
                        key = (tp.topic, tp.partition)
                        mine[key] = max(mine.get(key, 0), meta.offset)
            if mine:
                floors[spec.name] = mine
        if not floors:
            return {}
        role = await admin.list_consumer_group_offsets(role_group)
        started = {(tp.topic, tp.partition) for tp, meta in role.items() if meta.offset >= 0}
    finally:
        await admin.close()
    seeds = _seeds(floors, stages, prefix, started)
    if seeds:
        await _commit(bootstrap, role_group, seeds)
    return floors


def _seeds(floors: Floors, stages: Sequence[StageSpec], prefix: str,
           started: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Where the role's group starts on each partition it has no offset on: the lowest
    floor of the stages reading it. A partition one of them never committed on is left
    alone (the group reads it from the beginning, as that stage would have)."""
    seeds: dict[tuple[str, int], int] = {}
    every = {tp for f in floors.values() for tp in f}
    for tp in every - started:
        readers = [s.name for s in stages if tp[0] in {topic_name(t, prefix) for t in s.inputs}]
        if all(tp in floors.get(r, {}) for r in readers):
            seeds[tp] = min(floors[r][tp] for r in readers)
    return seeds


async def _commit(bootstrap: str, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
    # A consumer that assigns itself the partitions commits for the group without
    # joining it (the group is empty: its workers are not started yet).
    consumer = clients.reader(bootstrap, group_id=group, client_id="chatstream-carry-over")
    await consumer.start()
    try:
        tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()
