"""The pytest front end: hooks, options, collection, the session's pool and xdist scheduling."""
