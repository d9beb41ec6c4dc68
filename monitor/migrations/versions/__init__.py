"""One module per schema revision, oldest first (0001 is the schema as create_all made it)."""
