"""The composition root and command line: the one place that knows every part."""
