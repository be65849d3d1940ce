"""The runtime: settings, codec, the Kafka and embedded logs, and how stages bind to them."""
