"""Print the control plane's OpenAPI schema (JSON) without starting a server.

The app is built against a throwaway data dir, so nothing of a real installation is touched.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from rubberduck.app import create_app
from rubberduck.settings import Settings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), secret="openapi-dump-only"))
        json.dump(app.openapi(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
