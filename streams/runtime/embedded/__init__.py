"""The embedded runtime: an in-process partitioned log kept on disk, with consumer groups."""
