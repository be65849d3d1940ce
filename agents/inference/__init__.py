"""The inference stage (``stage``) and what it is made of: the model router with its
retries and circuit breakers, history fitting, token chunking and cancels."""
