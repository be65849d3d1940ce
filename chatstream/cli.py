"""``chatstream``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Coroutine
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop
from pydantic import ValidationError

from kernel.errors import ChatstreamError, ConfigurationError
from kernel.settings import Settings
from kernel.telemetry.logs import setup_logging

__all__ = ("main",)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "broker", "store", "vectors"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _describe(exc: ValidationError) -> str:
    """Which setting is wrong and why, never the value given: it may be a secret."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        env = f"CHATSTREAM_{where.split('.')[0].upper()}" if error["loc"] else where
        lines.append(f"  {env}: {error['msg']}")
    return "\n".join(lines)


def _server_flags(p: argparse.ArgumentParser, *, edge: bool) -> None:
    if edge:
        p.add_argument("--host", help="bind address (CHATSTREAM_HOST)")
        p.add_argument("--port", type=int, help="port, 0 for any free one (CHATSTREAM_PORT)")
    p.add_argument("--broker", help="embedded:// or kafka://host:port (CHATSTREAM_BROKER)")
    p.add_argument("--store", help="sqlite:///path or cassandra://host:port/keyspace")
    p.add_argument("--vectors", help="embedded:///path or weaviate://host:port")


_BROKER_HELP = "embedded:// or kafka://host:port (CHATSTREAM_BROKER)"


def _version() -> str:
    try:
        return metadata.version("chatstream")
    except metadata.PackageNotFoundError:
        return "unknown"


def _read_password() -> str:
    """From the terminal without echo (twice, to catch a typo), or one line of stdin when
    piped: never from the command line, where every user of the machine can read it."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password (8 characters or more): ")
    if getpass.getpass("again: ") != first:
        raise ConfigurationError("the two passwords differ")
    return first


def _parser() -> argparse.ArgumentParser:
    from schemas.stages import ROLES, STAGE_NAMES

    parser = argparse.ArgumentParser(
        prog="chatstream", description="An event-driven AI chat backend on Apache Kafka: "
        "the edge, the pipeline's stages, and their administration. Every flag mirrors a "
        "CHATSTREAM_* setting (README, Settings).")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="the edge and every stage in one process")
    _server_flags(up, edge=True)
    edge = sub.add_parser("edge", help="the edge only (Kafka deployments)")
    _server_flags(edge, edge=True)
    worker = sub.add_parser("worker", help="one or more stages, one consumer group "
                            "(Kafka deployments)")
    worker.add_argument("stages", nargs="+", metavar="STAGE",
                        help=f"stages ({', '.join(STAGE_NAMES)}) or roles "
                        f"({', '.join(r.name for r in ROLES if len(r.stages) > 1)})")
    _server_flags(worker, edge=False)
    topics = sub.add_parser("topics", help="topic administration")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create every topic (idempotent)")
    create.add_argument("--broker", help=_BROKER_HELP)
    replay = sub.add_parser("replay", help="re-publish dead letters or a range of a topic")
    replay_sub = replay.add_subparsers(dest="replay_command", required=True)
    dlq = replay_sub.add_parser("dlq", help="dead letters back to their topics, each once")
    dlq.add_argument("--stage", help="only the dead letters of this stage")
    dlq.add_argument("--dry-run", action="store_true", help="count, publish nothing")
    dlq.add_argument("--broker", help=_BROKER_HELP)
    rng = replay_sub.add_parser("topic", help="re-publish a time range of a topic")
    rng.add_argument("topic", help="e.g. chat.requests.v1")
    rng.add_argument("--since", required=True, type=datetime.fromisoformat,
                     help="ISO time, e.g. 2026-11-21T16:00:00+00:00")
    rng.add_argument("--until", type=datetime.fromisoformat,
                     help="ISO time the range ends at (default: now)")
    rng.add_argument("--dry-run", action="store_true", help="count, publish nothing")
    rng.add_argument("--broker", help=_BROKER_HELP)
    boot = sub.add_parser("bootstrap", help="create a tenant and its first owner (AUTH=jwt)")
    boot.add_argument("--tenant", required=True, help="the tenant's id, e.g. acme")
    boot.add_argument("--email", required=True, help="the user's email, their sign-in name")
    boot.add_argument("--plan", help="a plan of the catalogue (default: DEFAULT_PLAN)")
    boot.add_argument("--role", default="owner", choices=("owner", "admin", "member"),
                      help="the user's role in the tenant (default: owner)")
    boot.add_argument("--store", help="sqlite:///path or cassandra://host:port/keyspace")
    status = sub.add_parser("status", help="each stage's lag, throughput and error rate")
    status.add_argument("--broker", help=_BROKER_HELP)
    status.add_argument("--metrics", action="append", default=[], metavar="URL",
                        help="a process' base or /metrics URL, for error rates "
                        "(repeatable; the only source with the embedded log)")
    status.add_argument("--interval", type=float, default=2.0,
                        help="seconds between the two samples throughput is measured over")
    schemas = sub.add_parser("schemas", help="event contracts")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser(
        "export", help="write the JSON Schema of each topic and of each event type")
    export.add_argument("dir", type=Path, help="the folder to write the schemas into")
    return parser


def _export_schemas(directory: Path) -> None:
    from schemas.contracts import topic_schemas
    from schemas.topics import ALL_TOPICS

    for topic in ALL_TOPICS:
        for name, schema in topic_schemas(topic).items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
            print(path)


async def _create_topics(settings: Settings) -> None:
    from streams.runtime.kafka.runtime import create_topics

    if not settings.broker.startswith("kafka://"):
        print("the embedded log needs no topics; set --broker kafka://host:port")
        return
    created = await create_topics(settings.kafka_bootstrap, prefix=settings.topic_prefix,
                                  partitions=settings.partitions,
                                  replication=settings.replication_factor,
                                  retention=settings.log_retention)
    print("created: " + (", ".join(created) if created else "nothing (all exist)"))


def _stages(names: list[str]) -> tuple[str, ...]:
    """The stages named, roles expanded (``pipeline`` is scoring, persistence...)."""
    from schemas.stages import STAGE_NAMES, role_stages

    try:
        return tuple(dict.fromkeys(s for n in names for s in role_stages(n)))
    except KeyError as exc:
        raise ConfigurationError(f"unknown stage or role {exc}; choose from "
                                 f"{', '.join(STAGE_NAMES)} or a role") from None


def serve(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process on uvloop (less CPU per socket event and per task
    switch than asyncio's own loop; Faust, aiokafka and the Cassandra driver run on it)."""
    uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"chatstream: invalid settings:\n{_describe(exc)}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    from chatstream.compose import run
    from schemas.stages import STAGE_NAMES

    try:
        if args.command == "up":
            serve(run(settings, edge=True, stages=STAGE_NAMES))
        elif args.command == "edge":
            serve(run(settings, edge=True, stages=()))
        elif args.command == "worker":
            serve(run(settings, edge=False, stages=_stages(args.stages)))
        elif args.command == "topics":
            asyncio.run(_create_topics(settings))
        elif args.command == "replay":
            from chatstream.replay import replay_dead_letters, replay_range

            if args.replay_command == "dlq":
                n = asyncio.run(replay_dead_letters(settings, stage=args.stage,
                                                    dry_run=args.dry_run))
                print(f"{n} dead letters {'to replay' if args.dry_run else 'replayed'}")
            else:
                asyncio.run(replay_range(settings, args.topic, since=args.since,
                                         until=args.until, dry_run=args.dry_run))
        elif args.command == "bootstrap":
            from chatstream.bootstrap import bootstrap

            password = _read_password()
            user_id = asyncio.run(bootstrap(settings, args.tenant, args.email, password,
                                            args.plan, args.role))
            print(f"tenant {args.tenant}: {args.role} {user_id}")
        elif args.command == "status":
            from chatstream.status import collect, render

            rows = asyncio.run(collect(settings, STAGE_NAMES, args.metrics, args.interval))
            print(render(rows))
        elif args.command == "schemas":
            _export_schemas(args.dir)
    except ChatstreamError as exc:
        print(f"chatstream: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
