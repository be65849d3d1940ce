"""The private internals of faust-streaming and aiokafka the runtime patches or reads.

At-least-once delivery rests on them (streams/runtime/kafka/faust_offsets.py,
streams/runtime/kafka/backoff.py, and ``consumer._client`` read by
streams/runtime/kafka/clients.py). pyproject.toml bounds both libraries; this fails
loudly on any release inside those bounds that changes what the patches rely on. When
it fails: read the new code, check the patch still holds, then update the fingerprint
here.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from importlib import metadata
from types import ModuleType

import aiokafka.client
import faust.transport.consumer
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from faust.types import Message

# sha256 (first 16 hex digits) of the source of each patched method, as reviewed.
REVIEWED = {
    ("faust.transport.consumer", "_new_offset"): "1d2c7ea89a7ad4f1",
    ("aiokafka.client", "_metadata_update"): "06dc51ed3e0d38b8",
}


def _method_source(module: ModuleType, name: str) -> str:
    """The original source of a method, read from its module's file: the class attribute
    itself may already be the installed patch."""
    text = inspect.getsource(module)
    end = r"(?=\n    (?:async )?def |\n    @|\nclass )"
    found = re.search(rf"\n(    (?:async )?def {name}\(.*?){end}", text, re.S)
    assert found, f"{module.__name__} no longer defines {name}"
    return found.group(1).rstrip() + "\n"


def _attributes_set(cls: type) -> set[str]:
    return set(re.findall(r"self\.(\w+)\s*(?::[^=\n]*)?=", inspect.getsource(cls)))


def test_the_versions_are_the_reviewed_series() -> None:
    assert metadata.version("faust-streaming").startswith("0.15.")
    assert metadata.version("aiokafka").startswith("0.14.")


def test_the_patched_methods_are_the_reviewed_code() -> None:
    modules = {"faust.transport.consumer": faust.transport.consumer,
               "aiokafka.client": aiokafka.client}
    changed = []
    for (module, name), digest in REVIEWED.items():
        source = _method_source(modules[module], name)
        now = hashlib.sha256(source.encode()).hexdigest()[:16]
        if now != digest:
            changed.append(f"{module}.{name}: {now} (reviewed {digest})")
    assert not changed, "a patched internal changed; re-check the patch: " + "; ".join(changed)


def test_the_faust_consumer_keeps_the_state_the_offset_guard_reads() -> None:
    from faust.transport.consumer import Consumer

    params = list(inspect.signature(_original(Consumer, "_new_offset")).parameters)
    assert params == ["self", "tp"]
    assert {"_acked", "_unacked_messages"} <= _attributes_set(Consumer)
    assert {"tp", "acked", "offset"} <= set(Message.__slots__)


def test_the_aiokafka_client_keeps_what_the_backoff_and_readers_use() -> None:
    update = _original(AIOKafkaClient, "_metadata_update")
    assert inspect.iscoroutinefunction(update)
    assert list(inspect.signature(update).parameters) == ["self", "cluster_metadata", "topics"]
    assert "_retry_backoff" in _attributes_set(AIOKafkaClient)
    assert inspect.iscoroutinefunction(AIOKafkaClient.fetch_all_metadata)
    assert "_client" in _attributes_set(AIOKafkaConsumer)


def _original(cls: type, name: str) -> object:
    """The library's function even when the patch is installed (it closes over it)."""
    fn = getattr(cls, name)
    for cell in getattr(fn, "__closure__", None) or ():
        if callable(cell.cell_contents) and getattr(cell.cell_contents, "__name__", "") == name:
            return cell.cell_contents
    return fn
