"""Where tnas finds data files (CIFAR-10 images, other datasets; the NB201 table ships inside tnas).

Order: an explicit path, then the TNAS_DATA environment variable, then `../shared/data` beside
the current directory or beside the source checkout (the project's development layout; set
TNAS_NO_SHARED=1 to turn that fallback off and see what a fresh machine sees). Errors name every
place tried.
"""
from __future__ import annotations

import os
from pathlib import Path

from tnas.errors import TnasError

ENV_VAR = "TNAS_DATA"
NO_SHARED_VAR = "TNAS_NO_SHARED"


def data_candidates(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Places to look for the data root, in order of preference."""
    if explicit is not None:
        return [Path(explicit).expanduser()]
    out = []
    if os.environ.get(ENV_VAR):
        out.append(Path(os.environ[ENV_VAR]).expanduser())
    if os.environ.get(NO_SHARED_VAR, "") in ("", "0"):
        out.append(Path.cwd() / ".." / "shared" / "data")
        # src/tnas/paths.py -> repository root is parents[2]; shared/ sits beside the checkout.
        out.append(Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
    return out


def find_data(sub: str, explicit: str | os.PathLike | None = None, what: str = "data", how: str = "") -> Path:
    """The first existing `<root>/<sub>` over `data_candidates`; else a TnasError naming them all.

    Args:
        sub: path below the data root, e.g. 'nb201' or 'cifar10'.
        explicit: a directory given by the user (used as is: it must contain what `sub` names).
        what: words for the error message, e.g. 'the NB201 table'.
        how: the fix to suggest.
    """
    tried = []
    for root in data_candidates(explicit):
        path = root if explicit is not None else root / sub
        if path.exists():
            return path.resolve()
        tried.append(str(path))
    raise TnasError(
        f"Could not find {what}. Looked in: {'; '.join(tried)}. Set {ENV_VAR} to the data root "
        f"(the folder holding '{sub}/') or pass the path explicitly." + (f" {how}" if how else "")
    )
