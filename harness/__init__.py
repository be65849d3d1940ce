"""What tests and benchmarks share and the product never ships: fake model and embedding
servers speaking the hosted APIs on loopback, the real servers' addresses, child processes,
an SSE reader and cleanup of topics and keyspaces."""
