"""Functions of result tables: frontiers, rate fits and speed-ups (`rates`), ladder
diagnostics and measured gamma (`diagnostics`), weak errors and path batches (`metrics`)."""
