"""Real latency: the profiler (``run``), its results (``result``), per-layer times (``layers``), timing
statistics (``timing``), device peaks and the roofline (``peaks``), devices and stamps (``environment``)."""
