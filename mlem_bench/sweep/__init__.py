"""The sweep engine: case specs (`spec`), pure tasks (`tasks`), executors, the driver
that persists every task (`driver`), the tables and their schema (`tables`), and the
synthetic twins of learned cases (`twins`)."""
