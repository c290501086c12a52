"""Who the user is: from a bearer JWT or a session cookie. See ``resolver.IdentityResolver``."""
