"""The HTTP edges: authorize endpoints, operations, static files."""
