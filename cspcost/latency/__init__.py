"""Latency prediction: calibrate a machine and runtime per op class, predict a model's time from its
meta capture, explain measured time against FLOPs (issue 21).

``opclass`` (op classes and their work features) -> ``fit`` (non-negative least squares, scores) ->
``grid`` + ``runtimes`` + ``calibrate`` (microbenchmarks -> a ``machine`` file) -> ``predict`` (per op,
per layer, totals, bounds) -> ``explain`` (measured vs FLOPs vs predicted) ; ``engine`` is what the CLI
and the API call; ``measure`` times whole models for validation; ``report`` builds display frames.
"""
