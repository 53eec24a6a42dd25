"""chatwarden's service: app factory, handlers, crypto, storage, audit and CLI."""
