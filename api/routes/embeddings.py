"""``POST /v1/embeddings``: OpenAI's embeddings API over the embedder chatstream is
configured with (the one that indexes documents), metered against the tenant's tokens
like chat. Errors are in OpenAI's shape."""

from __future__ import annotations

import base64
import struct

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import PrincipalDep, ServicesDep
from api.guards.limits import count
from api.openai_compat.errors import openai_error
from api.services import DecodesTokens, EdgeServices, TextEmbedder
from kernel.errors import ChatstreamError
from kernel.tokens import estimate_tokens
from schemas.completions import OpenAIError
from schemas.embeddings import EmbeddingItem, EmbeddingList, EmbeddingsRequest, EmbeddingUsage

__all__ = ("MAX_INPUTS", "router")

router = APIRouter(prefix="/v1", tags=["openai"])

MAX_INPUTS = 256
"""Texts in one request, as OpenAI's own limit is 2048 and a batch of 256 keeps one
request's CPU (the offline embedders run on the edge) small."""


def _names(services: EdgeServices, embedder: TextEmbedder) -> set[str]:
    """What a request may call the embedder: its space, or the setting that chose it."""
    settings = services.settings
    names = {embedder.space, settings.embedder}
    if settings.embedder == "openai":
        names.add(settings.embeddings_model)
    return names


@router.post("/embeddings", response_model=EmbeddingList,
             responses={400: {"model": OpenAIError}, 404: {"model": OpenAIError},
                        502: {"model": OpenAIError}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": EmbeddingsRequest.model_json_schema()}}}})
async def embeddings(request: Request, services: ServicesDep,
                     principal: PrincipalDep) -> JSONResponse:
    """Vectors of ``input`` (a text or a list of texts) in the configured embedder's
    space; ``model`` names it (see docs/models.md)."""
    try:
        raw = await request.json()
    except ValueError:
        return openai_error(400, "the body is not valid JSON", code="invalid_json")
    try:
        body = EmbeddingsRequest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err.get("loc", ())) or None
        return openai_error(400, f"{param}: {err['msg']}" if param else err["msg"],
                            param=param, code="invalid_value")
    for name in body.model_extra or {}:
        return openai_error(400, f"`{name}` is not a parameter chatstream supports",
                            param=name, code="unknown_parameter")
    embedder = services.embedder
    if embedder is None or body.model not in _names(services, embedder):
        known = f"`{embedder.space}`" if embedder is not None else "none is configured"
        return openai_error(404, f"The embedding model `{body.model}` does not exist; "
                            f"chatstream embeds with {known}", param="model",
                            code="model_not_found")
    texts = _texts(body.input, embedder)
    if isinstance(texts, JSONResponse):
        return texts
    if len(texts) > MAX_INPUTS:
        return openai_error(400, f"at most {MAX_INPUTS} inputs a request", param="input",
                            code="invalid_value")
    limit = services.settings.max_message_chars
    for i, text in enumerate(texts):
        if not text or len(text) > limit:
            return openai_error(400, f"input {i} has {len(text)} characters; each must "
                                f"have 1 to {limit}", param="input", code="invalid_value")
    strings = texts
    tokens = sum(estimate_tokens(t) for t in strings)
    # The tokens are taken against the month before the work (429 when they do not
    # fit), and given back if the embedder fails.
    spent = await count(services, principal, spend_tokens=tokens)
    try:
        vectors = await embedder.embed(strings, principal.tenant_id)
    except ChatstreamError as exc:
        spent.put_back()
        return openai_error(502, str(exc), type="server_error", code="embedder_error")
    if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
        return openai_error(400, f"`{embedder.space}` has {len(vectors[0])} dimensions and "
                            "cannot shorten them", param="dimensions",
                            code="unsupported_parameter")
    data = [EmbeddingItem(index=i, embedding=_encode(v) if body.encoding_format == "base64"
                          else v) for i, v in enumerate(vectors)]
    out = EmbeddingList(data=data, model=embedder.space,
                        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))
    return JSONResponse(out.model_dump())


# What a client sending token arrays is told when they cannot be read here.
_NO_TOKENS = ("token arrays need the model's own tokenizer, and `{space}` has none here: send "
              "text (LangChain's OpenAIEmbeddings sends token arrays unless "
              "`check_embedding_ctx_length=False`)")


def _texts(given: object, embedder: TextEmbedder) -> list[str] | JSONResponse:
    """The input as texts: a text, texts, or token arrays (one, or one per input) decoded
    with the embedder's own tokenizer when it has one here."""
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not given:
        return openai_error(400, "input must be a text, a non-empty list of texts or of token "
                            "arrays", param="input", code="invalid_value")
    if all(isinstance(t, str) for t in given):
        return list(given)
    arrays = [given] if all(isinstance(t, int) for t in given) else given
    if not isinstance(embedder, DecodesTokens):
        return openai_error(400, _NO_TOKENS.format(space=embedder.space), param="input",
                            code="unsupported_parameter")
    try:
        return [embedder.decode(ids) for ids in arrays]
    except ValueError as exc:
        return openai_error(400, f"{exc}: these are another tokenizer's tokens (LangChain's "
                            "OpenAIEmbeddings counts with tiktoken unless "
                            "`check_embedding_ctx_length=False`); send text", param="input",
                            code="invalid_value")


def _encode(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector's little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
