"""How export writes numbers and tables: the card, the report and the comparison share these cells."""

from __future__ import annotations

import math

NOT_RECORDED = "not recorded"
NOT_EVALUATED = "not evaluated"


def fmt_int(x) -> str:
    """1234567 -> '1,234,567' (fractional word counts rounded); None -> 'not recorded'."""
    return NOT_RECORDED if x is None else f"{round(x):,}"


def fmt_float(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return NOT_RECORDED
    return f"{x:.{digits}f}"


def fmt_pct(x, missing: str = NOT_EVALUATED) -> str:
    """A fraction in [0, 1] as a percentage with two decimals: 0.71234 -> '71.23'."""
    return missing if x is None else f"{100 * x:.2f}"


def fmt_delta(delta) -> str:
    """A difference of two fractions (``nestling.export.compare.delta``) in signed percentage points; 'n/a'
    when it could not be taken (a side missing)."""
    return "n/a" if delta is None else f"{100 * delta:+.2f}"


def fmt_duration(seconds) -> str:
    if seconds is None:
        return NOT_RECORDED
    s = int(round(seconds))
    return f"{s // 3600} h {s % 3600 // 60:02d} min ({seconds:,.1f} s)"


def fmt_value(v) -> str:
    """A config/recipe value for a table cell."""
    if v is None:
        return NOT_RECORDED
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
