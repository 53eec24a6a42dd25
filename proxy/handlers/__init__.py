"""HTTP route modules. Each exposes ``register(app)``; :func:`proxy.app.create_app` composes
them, so another component adds its endpoints by adding a module to ``ROUTE_MODULES``
there (or calling its own ``register`` on the app the factory returns)."""
