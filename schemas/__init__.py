"""chatstream's public contracts: event models, the topic registry and HTTP models.

This package imports nothing else of the project and does no I/O.
"""
