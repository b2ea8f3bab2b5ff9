"""Makes the firmware's portable core (package `earbud`) importable.

Installed, `earbud` is a top-level package; in a source tree it lives in hardware/firmware, which we then put
on sys.path. Import this module before `earbud`.
"""

import sys
from pathlib import Path

try:
    import earbud  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hardware" / "firmware"))
    import earbud  # noqa: F401
