"""``cspcost conventions``: every convention and CIO option as one table."""
from __future__ import annotations

import pandas as pd

from cspcost.walk.conventions.catalog import CATALOG
from cspcost.walk.conventions.cio import CIO_DOCS


def conventions_frame() -> pd.DataFrame:
    """One row per ``--convention`` (source, macs, params, default CIO, its rules) and per ``--cio``."""
    rows = [{"option": "--convention", "name": c.name, "source": c.source, "counts": c.macs, "params": c.params,
             "default_cio": c.cio,
             "rules": "; ".join(r.name for r in c.counting.rules) + f"; 0: {c.counting.zero}" if c.counting else ""}
            for c in CATALOG.values()]
    rows += [{"option": "--cio", "name": name, "source": "", "counts": doc, "params": "", "default_cio": "",
              "rules": ""} for name, doc in CIO_DOCS.items()]
    return pd.DataFrame(rows)
