"""CPU seconds per MB of Markdown read, benign and hostile, at growing sizes: linear time
shows as a flat column. The Markdown patterns used before (quadratic on a long line of
marks that never close) run beside it in the same process as the baseline, on sizes
small enough to finish.

    python -m bench.extraction [--quick]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from agents.ingestion.extract import extract_text
from bench.common import machine, table

# The patterns agents/ingestion/extract.py used until the linear scanner replaced them.
_OLD_RULES = (
    (re.compile(r"^[ \t]*(```|~~~).*$", re.M), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.M), r"\1"),
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.M), ""),
    (re.compile(r"^[ \t]*([-*+]|\d+[.)])[ \t]+", re.M), ""),
    (re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"<[^>\n]+>"), ""),
    (re.compile(r"^[ \t]*([-*_][ \t]*){3,}$", re.M), ""),
)

BENIGN = "See [the map](m.png), *now* or `later`; the **bridge** is <b>green</b>.\n"
HOSTILE = "[![a]( *a _x <b `c "  # marks that never close, on one line


def _old(text: str) -> str:
    for pattern, replacement in _OLD_RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


def _new(text: str) -> str:
    return extract_text(text.encode(), "text/markdown")


def _cpu_per_mb(read: Callable[[str], str], unit: str, size: int) -> float:
    text = unit * (size // len(unit))
    started = time.process_time()
    read(text)
    return (time.process_time() - started) / (len(text) / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    sizes = [32 * 1024, 512 * 1024] if args.quick else [32 * 1024, 512 * 1024, 5 * 1024 * 1024]
    old_sizes = [8 * 1024, 16 * 1024] if args.quick else [8 * 1024, 16 * 1024, 32 * 1024]
    rows: list[list[object]] = []
    for size in sizes:
        rows.append(["linear scanner", f"{size // 1024} KB",
                     f"{_cpu_per_mb(_new, BENIGN, size):.3f}",
                     f"{_cpu_per_mb(_new, HOSTILE, size):.3f}"])
    for size in old_sizes:
        rows.append(["old patterns", f"{size // 1024} KB",
                     f"{_cpu_per_mb(_old, BENIGN, size):.3f}",
                     f"{_cpu_per_mb(_old, HOSTILE, size):.3f}"])
    print(machine())
    print(table(["reader", "size", "benign CPU s/MB", "hostile one-line CPU s/MB"], rows))


if __name__ == "__main__":
    main()
