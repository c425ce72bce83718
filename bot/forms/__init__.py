"""Forms as data: the file format, the field types and the pure engine that runs them."""
