"""The ingestion stage: documents in, passages in the vector index out.

Nothing is imported here: the sandbox child (``python -m agents.ingestion.sandbox``)
imports this package and should load only what reading a file needs.
"""
