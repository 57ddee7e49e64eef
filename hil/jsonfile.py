"""A JSON file the user keeps (the rig config, the chip calibration), read
with one error that names the file and, where given, how to fix it."""
from __future__ import annotations

import json
from pathlib import Path


def read_json(path: str | Path, what: str, error: type[Exception], fix: str = ""):
    """The JSON in `path`; `error` with `what` and `path` in its message when
    the file cannot be read or is not JSON. fix: appended after "; "."""
    hint = f"; {fix}" if fix else ""
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}{hint}") from e
    except ValueError as e:
        raise error(f"{what} {path} is not valid JSON: {e}{hint}") from e
