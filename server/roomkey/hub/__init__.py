"""The transport-agnostic behaviour: connections, subscriptions, channel authorization, presence
orchestration, client events, users and sign-in, publishing."""
