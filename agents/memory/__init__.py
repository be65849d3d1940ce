"""The memory stage: facts about a user proposed from their finished exchanges."""
