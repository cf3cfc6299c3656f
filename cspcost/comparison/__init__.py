"""``cspcost compare``: models side by side (``engine``), their deltas (``deltas``, no torch), and what
``--plot`` writes (``output``)."""
