"""Loading the model catalogue file (YAML)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.catalogue import Catalogue
from streams.errors import ConfigurationError

__all__ = ("load_catalogue",)


def load_catalogue(path: Path | None) -> Catalogue:
    if path is None:
        text = resources.files("streams").joinpath("models.yaml").read_text()
        where = "the shipped catalogue"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read model catalogue {path}: {exc}") from exc
        where = str(path)
    try:
        catalogue = Catalogue.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"invalid model catalogue {where}: {exc}") from exc
    names = catalogue.names()
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{where}: a model name appears twice")
    for m in catalogue.models:
        for fb in m.fallbacks:
            if fb not in names:
                raise ConfigurationError(f"{where}: {m.name} falls back to unknown model {fb}")
    return catalogue
