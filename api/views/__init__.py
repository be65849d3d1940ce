"""The edge's views of topics it follows: analytics snapshots and batch progress."""
