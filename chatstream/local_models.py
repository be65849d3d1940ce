"""Which model answers when a request names none: the first of the catalogue this install
can serve, so the small language model becomes the default once `make llm` installed it
and the extractive model answers until then."""

from __future__ import annotations

from agents.providers.llama_cpp import gguf_path, llama_cpp_installed
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from schemas.catalogue import Catalogue, ModelSpec

__all__ = ("can_answer", "default_model_line", "resolve_default_model", "unavailable_models")


def can_answer(model: ModelSpec, settings: Settings) -> bool:
    """Whether this install can serve ``model``: its files are here, or its key is set."""
    if model.provider == "extractive":
        return True
    if model.provider == "llama-cpp":
        return llama_cpp_installed() and gguf_path(model.upstream) is not None
    if model.provider == "openai":
        return settings.openai_api_key is not None
    if model.provider == "groq":
        return settings.groq_api_key is not None
    return model.provider_key in settings.endpoints


def unavailable_models(settings: Settings, catalogue: Catalogue) -> dict[str, str]:
    """The models this install cannot serve, each with why, in words for people."""
    why = {"llama-cpp": "not installed here (make llm installs it)",
           "openai": "no OpenAI API key is configured",
           "groq": "no Groq API key is configured"}
    return {m.name: why.get(m.provider, f"the endpoint {m.provider_key} is not configured")
            for m in catalogue.models if not can_answer(m, settings)}


def resolve_default_model(settings: Settings, catalogue: Catalogue) -> Settings:
    """Settings with DEFAULT_MODEL set: as given (refused when the catalogue lacks it), or
    the first model of the catalogue that can answer here."""
    if settings.default_model:
        if catalogue.get(settings.default_model) is None:
            raise ConfigurationError(f"DEFAULT_MODEL {settings.default_model!r} is not in "
                                     f"the catalogue ({', '.join(catalogue.names())})")
        return settings
    ready = [m for m in catalogue.models if can_answer(m, settings)]
    chosen = (ready or list(catalogue.models))[0]
    return settings.model_copy(update={"default_model": chosen.name})


def default_model_line(settings: Settings, catalogue: Catalogue) -> str:
    """What `chatstream up` says about its default model, and how to get a better one."""
    line = f"default model {settings.default_model}"
    waiting = [m.name for m in catalogue.models
               if m.provider == "llama-cpp" and not can_answer(m, settings)]
    if waiting:
        line += f" ({', '.join(waiting)} not installed: `make llm` brings it in)"
    return line
