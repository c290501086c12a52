"""The HTTP edges: authorize endpoints, the REST API, operations, static files and the
development demo; ``context`` holds what they share."""
