"""Helpers shared by the tests and the benchmarks; the only package of ``tests`` others import.

``rest`` (the REST client), ``waiting`` (bounded waits), ``ws`` and ``sse`` (the WebSocket and SSE
test clients), ``frames`` (hand-written WebSocket frames), ``servers`` / ``cluster`` / ``deploy``
(the app served in-process, as processes, behind nginx), and the helpers of single suites.
"""
