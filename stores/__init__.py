"""Stores shared by the stages and the edge: per concept a folder with its Protocol
(``base``) and an adapter per backend (SQLite, Cassandra); ``cassandra`` and
``sqlite_thread`` are the connections the adapters of a backend share."""
