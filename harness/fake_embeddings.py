"""A real HTTP server on loopback speaking the OpenAI embeddings protocol
(``POST /v1/embeddings``), for the OpenAI-compatible embedder: no hosted API is reachable
from the tests. Vectors are deterministic (the hashing embedder's, 64 dimensions)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from agents.embedders.hashing import HashingEmbedder
from harness.jsonhttp import JsonHandler, serve, shut

__all__ = ("EmbeddingsServer",)

_EMBEDDER = HashingEmbedder(dimensions=64)


@dataclass
class EmbeddingsServer:
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    # Status codes to answer the next requests with, instead of embeddings.
    failures: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> EmbeddingsServer:
        owner = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/embeddings":
                    self._reply(404, {"error": {"message": "no such route"}})
                    return
                owner.requests.append(body)
                owner.authorizations.append(self.headers.get("authorization", ""))
                if owner.failures:
                    status = owner.failures.pop(0)
                    self._reply(status, {"error": {"message": f"failure {status}",
                                                   "type": "server_error", "code": None}})
                    return
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": i,
                         "embedding": _EMBEDDER.embed_one(text)}
                        for i, text in enumerate(inputs)]
                data.reverse()  # the protocol orders by "index", not by position
                tokens = sum(len(t.split()) for t in inputs)
                self._reply(200, {"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None
