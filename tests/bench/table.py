"""The report of one ``make bench`` run: a table for people, the same figures as JSON."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measure: the service's figure beside its baseline's (direct, or raw dramatiq)."""

    measure: str
    service: float | tuple[float, ...]
    baseline: float | tuple[float, ...] | None = None
    #: Decimal places to show.
    digits: int = 0
    #: False where the baseline is near zero and a ratio would say nothing.
    comparable: bool = True
    #: Where the two were measured in turns: each turn's ratio, whose median is the ratio.
    #: A machine's speed drifts over a run; a ratio of figures measured together does not.
    paired: tuple[float, ...] = ()

    def ratio(self) -> float | None:
        if not self.comparable:
            return None
        if self.paired:
            return statistics.median(self.paired)
        service, baseline = self.service, self.baseline
        if isinstance(service, tuple) and isinstance(baseline, tuple):
            service, baseline = service[0], baseline[0]
        if isinstance(service, tuple) or not baseline:
            return None
        return service / baseline

    def _show(self, value) -> str:
        if value is None:
            return "-"
        if isinstance(value, tuple):
            return " / ".join(self._show(part) for part in value)
        return f"{value:,.{self.digits}f}"

    def cells(self) -> list[str]:
        ratio = self.ratio()
        return [
            self.measure,
            self._show(self.service),
            self._show(self.baseline),
            "-" if ratio is None else f"{ratio:.2f}x",
        ]

    def as_json(self) -> dict:
        return {
            "measure": self.measure,
            "service": self.service,
            "baseline": self.baseline,
            "ratio": self.ratio(),
            **({"ratios": self.paired} if self.paired else {}),
        }


def render(title: str, baseline: str, rows: list[Row], measured: str = "this project") -> str:
    """``rows`` as an aligned text table under ``title``."""
    lines = [["measure", measured, baseline, "ratio"], *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(4)]
    text = [title]
    for number, line in enumerate(lines):
        first, *numbers = line
        text.append(
            "  ".join(
                [first.ljust(widths[0])]
                + [cell.rjust(width) for cell, width in zip(numbers, widths[1:], strict=True)]
            )
        )
        if number == 0:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join(text)
