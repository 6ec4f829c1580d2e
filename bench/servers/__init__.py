"""The servers the benchmark drives: IT Cook, Flask-SocketIO and the raw-socket limit.

Each one serves the same two bench-only routes, so the driver treats them alike:
``POST /bench/publish?count=K`` publishes K events back to back (every event carries ``seq``,
numbered from 1 in each process) and answers ``{"last_seq": n}``; ``GET /bench/ready`` answers
``{"subscribers": n}``, the connections that will receive the next event.
"""
