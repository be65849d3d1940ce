"""The consumer groups of roles on a Kafka cluster, by the stages they run."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from schemas.stages import group_name, role_stages

__all__ = ("groups_by_stage",)


async def groups_by_stage(admin: AIOKafkaAdminClient, prefix: str) -> dict[str, list[str]]:
    """Stage → the consumer groups (with ``prefix``) of the roles that run or ran it."""
    base = group_name("", prefix)
    runs_in: dict[str, list[str]] = {}
    for found in await admin.list_consumer_groups():
        group = str(found[0])
        if not group.startswith(base):
            continue
        try:
            stages = role_stages(group.removeprefix(base))
        except KeyError:
            continue  # a reader's group (replay), not a role's
        for stage in stages:
            runs_in.setdefault(stage, []).append(group)
    return runs_in
