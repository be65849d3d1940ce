"""Request guards: what a request must pass, and the limits it spends, before a route acts on it."""
