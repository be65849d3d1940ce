"""The edge's hot routes as plain ASGI endpoints inside the FastAPI app: posting a message,
reading an answer's events, chat completions. No dependency solving and no framework
middleware on their way; the boundary's checks and the request telemetry stay in front."""
