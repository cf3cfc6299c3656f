"""``cspcost peers``: each installed FLOP counter run live beside cspcost's prediction of its number.

``runners`` runs the peers (fvcore, ptflops and its aten backend, thop, FlopCounterMode, DeepSpeed),
``predict`` applies each peer's rules (``walk/conventions/counting.py``) to the one capture, and
``engine`` builds the model, compares and explains (``cspcost.peers``).
"""
