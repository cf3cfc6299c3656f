"""``python -m cspcost``: the same as the ``cspcost`` command."""
from cspcost.cli import main

main()
