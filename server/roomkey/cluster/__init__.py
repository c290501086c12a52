"""The node registry: which nodes are alive (each stamps itself every heartbeat; a silent one
is claimed and swept) and their connection counts per app, apart from presence.
``base.NodeRegistry``; ``create_node_registry`` picks memory or Redis."""
