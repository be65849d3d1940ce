"""Analytics: windowed aggregates of the chat topics, per tenant, as a topic of their own."""
