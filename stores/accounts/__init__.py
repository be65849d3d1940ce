"""Tenants, users, API keys, refresh tokens, shares and usage counters."""
