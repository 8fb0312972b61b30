"""Each paper's qualitative claims written as checks on this run's result tables.

A claim (declared in ``papers/<paper>/claims.py``) reads tables through the run's manifest
(:class:`interprobust.results.Results`) and returns a verdict: "holds", "does not hold", or "not run"
(or a check's own verdict, e.g. "holds under PGD-40 only")
when a table or row it needs was not produced, with the numbers it compared. Plain data in (the
manifest), a DataFrame out.
"""

from __future__ import annotations

import pandas as pd

from .results import Claim, NotRun, Results


def all_claims() -> list[Claim]:
    from .papers.aga.claims import CLAIMS as aga
    from .papers.glime.claims import CLAIMS as glime
    from .papers.limeref.claims import CLAIMS as limeref
    from .papers.sep.claims import CLAIMS as sep
    return limeref + glime + aga + sep


def check_claims(manifest: dict, claims: list[Claim] | None = None) -> pd.DataFrame:
    """paper, claim, verdict (holds | does not hold | not run), the numbers behind it."""
    results = Results(manifest)
    rows = []
    for c in claims or all_claims():
        try:
            ok, numbers = c.check(results)
            # a check may return its own verdict (e.g. LIMEREF's "holds under PGD-40 only")
            verdict = ok if isinstance(ok, str) else ("holds" if ok else "does not hold")
        except NotRun as e:
            verdict, numbers = "not run", str(e)
        rows.append(dict(paper=c.paper, claim=c.text, verdict=verdict, numbers=numbers))
    return pd.DataFrame(rows)
