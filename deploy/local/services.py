#!/usr/bin/env python3
"""Start, stop and inspect REAL Apache Kafka, Apache Cassandra and Weaviate without Docker.

    python3 deploy/local/services.py start  [kafka|cassandra|weaviate ...]   (no names = all)
    python3 deploy/local/services.py stop   [names]
    python3 deploy/local/services.py status [names] [--json]

Artifacts come from the package registries (Kafka and Cassandra jars from Maven Central
through `mvn dependency:copy-dependencies`, Weaviate built with `go install`) and are
cached under $CHATSTREAM_CACHE_DIR (default ~/.cache/chatstream), each step skipped when
its version stamp matches. Servers run detached from the launcher (own session, output
to a log file) so they outlive it; `stop` ends them. Settings: see deploy/local/README.md.

Standard library only (Python >= 3.11).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Run as a script with any Python >= 3.11: the launcher package sits next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from launcher.common import NAMES, cache_dir, say
from launcher.control import run_parallel, start_one, stop_one
from launcher.service import Service, services


def cmd_status(svcs: list[Service], as_json: bool) -> int:
    rows = []
    for svc in svcs:
        info = svc.healthy()
        ours, _foreign = svc.find_pids()
        state = "up" if info is not None else ("starting" if ours else "down")
        rows.append(
            {
                "name": svc.name,
                "state": state,
                "address": svc.address,
                "pid": sorted(ours)[0] if ours else None,
                "log": str(svc.log_path),
                "info": info or "",
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            pid = row["pid"] if row["pid"] is not None else "-"
            print(
                f"{row['name']:<10} {row['state']:<8} {row['address']:<28} pid={pid:<8} "
                f"log={row['log']}  {row['info']}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument(
        "names", nargs="*", metavar="name", help="kafka, cassandra, weaviate (default: all three)"
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    table = services(cache)
    svcs = [table[name] for name in (dict.fromkeys(args.names) or NAMES)]

    if args.command == "status":
        return cmd_status(svcs, args.json)
    t0 = time.monotonic()
    results = run_parallel(start_one if args.command == "start" else stop_one, svcs)
    failed = [r.name for r in results if not r.ok]
    say(
        f"{args.command}: {'ok' if not failed else 'FAILED: ' + ', '.join(failed)} "
        f"in {time.monotonic() - t0:.1f}s (cache {cache})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
