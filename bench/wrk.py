"""POST load from wrk (Debian's ``wrk``, installed by ``make wrk``): a C load generator,
so the client's own cost stays out of the way of the edge it measures.

Each of wrk's connections posts one message at a time to the conversations given, in turn;
responses are counted by status (202: accepted).
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ("available", "post_for")

_SCRIPT = """
local cids = %(cids)s
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("first", counter * 1000000)
  table.insert(threads, thread)
end

function init(args)
  n = first
  statuses = {}
end

function request()
  n = n + 1
  local cid = cids[(n %% #cids) + 1]
  return wrk.format("POST", "/v1/conversations/" .. cid .. "/messages",
                    {["Content-Type"] = "application/json"},
                    '{"text": "load ' .. n .. '"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("WRK_STATUS %%d %%d\\n", status, count))
  end
  io.write(string.format("WRK_ERRORS %%d\\n", summary.errors.connect + summary.errors.read
                         + summary.errors.write + summary.errors.timeout))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def post_for(url: str, cids: list[str], seconds: float, connections: int,
             threads: int = 2) -> tuple[Counter[int], int, float]:
    """POST for ``seconds`` over ``connections`` keep-alive connections: the responses
    by status, the socket errors, and wrk's CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_SCRIPT % {"cids": "{" + ",".join(json.dumps(c) for c in cids) + "}"})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
             "--timeout", "30s", "-s", str(script), url],
            capture_output=True, text=True, timeout=seconds + 120, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    statuses: Counter[int] = Counter()
    for status, count in re.findall(r"^WRK_STATUS (\d+) (\d+)$", done.stdout, re.M):
        statuses[int(status)] += int(count)
    errors = re.search(r"^WRK_ERRORS (\d+)$", done.stdout, re.M)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return statuses, int(errors.group(1)) if errors else 0, cpu
