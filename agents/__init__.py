"""The pipeline's stages: each a pure async handler plus the spec that binds it to topics."""
