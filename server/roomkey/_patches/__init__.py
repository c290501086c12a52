"""Everything that touches a library's private parts, fenced in one place."""
