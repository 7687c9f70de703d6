"""Estimates in words and as JSON, the same for the CLI and the HTTP API. Pure."""

from __future__ import annotations

import time
from typing import Any

from idsync.lifecycle.estimate import OKTA_TOKEN_SHARE, BucketEstimate, Estimate, format_duration

__all__ = ["bucket_line", "duration_line", "estimate_json"]


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _window(seconds: float) -> str:
    return "min" if abs(seconds - 60.0) < 1e-6 else f"{seconds:g} s"


def bucket_line(b: BucketEstimate, budget_share: float) -> str:
    """`users: 1,200 calls; limit 300/min for our token (learned ...); 235/min for bulk work`."""
    head = f"{b.bucket}: {b.calls:,} calls"
    if b.limit is None:
        return f"{head}; no rate limit known for this bucket (the IdP sent none yet)"
    source = (
        f"learned {_when(b.limit.learned_at)}"
        if b.limit.learned_at is not None
        else f"Okta's documented default, {int(OKTA_TOKEN_SHARE * 100)}% of the org limit per token; "
        "nothing learned yet"
    )
    per = _window(b.limit.window_s)
    return (
        f"{head}; limit {b.limit.limit:,}/{per} for our token ({source}); "
        f"{b.per_window:,}/{per} for bulk work at budget share {budget_share:g}"
    )


def duration_line(estimate: Estimate) -> str:
    if estimate.calls == 0:
        return "expected duration: none (no API call needed)"
    busiest = estimate.busiest
    text = f"expected duration: {format_duration(estimate.seconds)}"
    if estimate.seconds is None:
        return text + " (a bucket with calls has no known limit)"
    if busiest is not None and len([b for b in estimate.buckets if b.calls]) > 1:
        text += f" (the busiest bucket, {busiest.bucket}, sets the pace)"
    return text


def estimate_json(estimate: Estimate) -> dict[str, Any]:
    return {
        "api_calls": estimate.calls,
        "duration_s": round(estimate.seconds, 1) if estimate.seconds is not None else None,
        "duration": format_duration(estimate.seconds) if estimate.calls else "none",
        "uses_documented_defaults": estimate.uses_defaults,
        "budget_share": estimate.budget_share,
        "buckets": [
            {
                "bucket": b.bucket,
                "calls": b.calls,
                "limit": b.limit.limit if b.limit else None,
                "window_s": b.limit.window_s if b.limit else None,
                "learned_at": b.limit.learned_at if b.limit else None,
                "bulk_per_window": b.per_window,
                "duration_s": round(b.seconds, 1) if b.seconds is not None else None,
            }
            for b in estimate.buckets
        ],
    }
