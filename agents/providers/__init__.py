"""Model providers: one adapter per vendor behind :class:`ChatProvider`."""

from agents.providers.base import ChatProvider, Delta, Prompt

__all__ = ("ChatProvider", "Delta", "Prompt")
