"""``python -m cspcost``: the same as the ``cspcost`` command."""
from .cli import main

main()
