"""A measuring process: ``python -m cspcost.profiling.worker REQUEST RESULT_FILE``.

REQUEST is ``{"kind": "profile" | "paired", "spec": ProfileSpec payload}``; the result's JSON is
written to RESULT_FILE (whole, temp + rename), never to stdout, which the model may print on.
Errors are one line on stderr (``error: ...``) with cspcost's exit code.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cspcost.errors import CspcostError
from cspcost.profiling.paired import paired_spec
from cspcost.profiling.run import run_spec
from cspcost.profiling.spec import ProfileSpec


def main(argv: list[str]) -> int:
    """Run the measurement asked for and write its JSON to the result file."""
    request, out = json.loads(argv[0]), Path(argv[1])
    try:
        spec = ProfileSpec.from_payload(request["spec"])
        if request["kind"] == "paired":
            text = json.dumps(paired_spec(spec).to_dict(), allow_nan=False)
        else:
            text = run_spec(spec).to_json(indent=None)
    except CspcostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
