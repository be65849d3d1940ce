"""The ground floor: settings, the error tree, telemetry and the model catalogue loader.

Every other package may import it; it imports nothing of ours but ``schemas``."""
