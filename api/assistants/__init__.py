"""The edge's side of assistants: their versions (a view of assistants.v1 over the
store), publishing new ones, and applying one to a request."""
