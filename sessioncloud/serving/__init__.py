"""How requests are served: an event loop in front, bounded thread pools behind it.

`front.py` is the application granian serves (RSGI): it answers the phone API itself, on the
event loop, and hands every other request (portal, management API, admin) to Django through
`bridge.py`. Blocking work (the database, the shared cache) runs in the pools of `pools.py`, so
no wait on a provider's service holds a thread or a database connection. docs/performance.md
has the measurements behind this shape.
"""
