"""Assistants: every version of each, and the version each conversation uses."""
