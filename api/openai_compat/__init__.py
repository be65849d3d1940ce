"""OpenAI's protocols (chat completions, Responses) on top of the pipeline and the relay."""
