"""Delta Lake I/O and the lakehouse layout."""
