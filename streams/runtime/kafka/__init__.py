"""The Kafka runtime: Faust agents over aiokafka, idempotent publishing, their patches."""
