"""Long-term memory: short facts about a user, each with the message it came from, and
the switches that turn memory off (per user, per tenant)."""
