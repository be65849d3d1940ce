"""Conversations, their messages, scores and history summaries."""
