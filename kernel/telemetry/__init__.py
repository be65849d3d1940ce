"""Observability: traces (OpenTelemetry), metrics (Prometheus), structured logs, lag."""
