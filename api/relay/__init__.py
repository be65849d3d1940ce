"""The token relay and its renderers: relayed answer events become SSE frames."""
