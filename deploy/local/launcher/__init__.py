"""The pieces of deploy/local/services.py (standard library only): settings and helpers
(common), process lookup (procs), wire probes (probes), the servers (service), artifacts
(fetching), launch commands (commands) and start/stop (control)."""
