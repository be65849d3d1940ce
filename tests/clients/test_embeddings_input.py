"""What the clients send to ``/v1/embeddings``: token arrays (LangChain's
``OpenAIEmbeddings`` sends them by default) are read with the embedding model's own
tokenizer; another tokenizer's ids, or an embedder without one, get a 400 that says how
to send text instead."""

from __future__ import annotations

import pytest
from langchain_openai import OpenAIEmbeddings
from openai import AsyncOpenAI, BadRequestError
from starlette.responses import JSONResponse

from agents.embedders.onnx import OnnxEmbedder, minilm_files
from api.routes.embeddings import _texts
from kernel.settings import Settings
from tests.support.stacks import Stack

MODEL = Settings.model_fields["embedder"].default  # the stacks' embedder: MiniLM
HELLO_WORLD = [101, 7592, 2088, 102]  # "[CLS] hello world [SEP]" in MiniLM's vocabulary


async def test_token_arrays_are_read_with_the_models_tokenizer(oai: AsyncOpenAI) -> None:
    by_text = await oai.embeddings.create(model=MODEL, input=["hello world"],
                                          encoding_format="float")
    by_tokens = await oai.embeddings.create(model=MODEL, input=[HELLO_WORLD],
                                            encoding_format="float")
    one = await oai.embeddings.create(model=MODEL, input=HELLO_WORLD,
                                      encoding_format="float")
    assert by_tokens.data[0].embedding == by_text.data[0].embedding
    assert one.data[0].embedding == by_text.data[0].embedding


async def test_another_tokenizers_ids_are_a_400_saying_how_to_send_text(
        oai: AsyncOpenAI) -> None:
    with pytest.raises(BadRequestError) as caught:
        await oai.embeddings.create(model=MODEL, input=[[9906, 1917, 100256]])  # tiktoken's
    assert caught.value.param == "input"
    assert "check_embedding_ctx_length=False" in caught.value.message


async def test_langchain_embeddings_sending_text(stack: Stack) -> None:
    embeddings = OpenAIEmbeddings(base_url=f"{stack.url}/v1", api_key="dev",  # type: ignore[arg-type]
                                  model=MODEL, check_embedding_ctx_length=False)
    try:
        vectors = await embeddings.aembed_documents(["hello world", "good night"])
    finally:
        await embeddings.async_client._client.close()  # its own client, left open
    assert len(vectors) == 2 and len(vectors[0]) == 384


class _NoTokenizer:
    space = "hashing-v1-1024"

    async def embed(self, texts: object, tenant: str = "") -> list[list[float]]:
        return []


def test_an_embedder_without_a_tokenizer_refuses_token_arrays_clearly() -> None:
    refused = _texts([HELLO_WORLD], _NoTokenizer())
    assert isinstance(refused, JSONResponse) and refused.status_code == 400
    assert b"check_embedding_ctx_length=False" in refused.body
    assert b"hashing-v1-1024" in refused.body
    assert _texts(["a", "b"], _NoTokenizer()) == ["a", "b"]


def test_another_tokenizers_ids_inside_the_vocabulary_are_refused_not_misread() -> None:
    """tiktoken's "Hello world" is [9906, 1917]: both ids are in MiniLM's vocabulary too,
    where they read "lately 皇", which was embedded in silence. Arrays not framed as
    MiniLM's tokenizer writes them ([CLS] ... [SEP]) are a 400 saying to send text."""
    embedder = OnnxEmbedder(minilm_files())
    refused = _texts([[9906, 1917]], embedder)
    assert isinstance(refused, JSONResponse) and refused.status_code == 400
    assert b"check_embedding_ctx_length=False" in refused.body
    assert _texts([HELLO_WORLD], embedder) == ["hello world"]
    assert _texts(HELLO_WORLD, embedder) == ["hello world"]
