"""The right-to-know report (Cal. Civ. Code 1798.110 and 1798.115) from audit events.

Input: the events that name one data subject (found by the subject's pseudonym).
Output: which API consumers, with which CPRA purpose, received which categories of
personal information about the subject, when and how often; as a dict (JSON) and as a
self-contained HTML page. Refused requests are counted apart: nothing was disclosed.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

__all__ = ["dsar_html", "dsar_report"]

_DISCLOSED = ("served",)


def dsar_report(
    events: Iterable[dict[str, Any]], *, subject: str, pseudonym: str | None, since: str, until: str, generated: str
) -> dict[str, Any]:
    recipients: dict[tuple[str, str], dict[str, Any]] = {}
    totals: dict[str, int] = {}
    refused = 0
    n = 0
    for ev in events:
        n += 1
        status = ev.get("status")
        if ev.get("outcome") not in _DISCLOSED or not isinstance(status, int) or status >= 400:
            refused += 1
            continue
        consumer = ev.get("consumer") or "(unauthenticated)"
        purpose = ev.get("purpose") or "unknown"
        r = recipients.setdefault(
            (consumer, purpose),
            {"consumer": consumer, "purpose": purpose, "requests": 0, "categories": {}, "spi": 0,
             "routes": [], "first": ev.get("ts"), "last": ev.get("ts")},
        )
        r["requests"] += 1
        ts = ev.get("ts")
        if ts is not None:
            if r["first"] is None or ts < r["first"]:
                r["first"] = ts
            if r["last"] is None or ts > r["last"]:
                r["last"] = ts
        route = f"{ev.get('method')} {ev.get('route')}"
        if route not in r["routes"]:
            r["routes"].append(route)
        pii = ev.get("pii") or {}
        cats = pii.get("categories") or {}
        if not cats and ev.get("personal"):
            cats = {"personal information (not itemized)": 1}
        for c, k in cats.items():
            r["categories"][c] = r["categories"].get(c, 0) + int(k)
            totals[c] = totals.get(c, 0) + int(k)
        r["spi"] += int(pii.get("spi") or 0)
    return {
        "report": "CPRA right to know (Cal. Civ. Code 1798.110, 1798.115)",
        "subject": subject,
        "pseudonym": pseudonym,
        "period": {"since": since, "until": until},
        "generated": generated,
        "events": n,
        "disclosures": n - refused,
        "refused_requests": refused,
        "categories": dict(sorted(totals.items())),
        "recipients": sorted(recipients.values(), key=lambda r: (-r["requests"], r["consumer"])),
    }


def dsar_html(rep: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for r in rep["recipients"]:
        cats = ", ".join(f"{e(c)} ({k})" for c, k in sorted(r["categories"].items())) or "—"
        rows.append(
            f"<tr><td>{e(r['consumer'])}</td><td>{e(r['purpose'].replace('_', ' '))}</td><td>{cats}</td>"
            f"<td>{r['spi']}</td><td>{r['requests']}</td><td>{e(str(r['first']))}</td><td>{e(str(r['last']))}</td>"
            f"<td>{e(', '.join(r['routes']))}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="8">No personal information about this consumer was disclosed in this period.</td></tr>'
    cats = ", ".join(f"{e(c)} ({k})" for c, k in rep["categories"].items()) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Right to know report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}}th{{background:#f3f3f3}}</style></head>
<body>
<h1>Right to know report</h1>
<p>{e(rep['report'])}.</p>
<dl><dt>Consumer (data subject)</dt><dd>{e(rep['subject'])}</dd>
<dt>Period</dt><dd>{e(rep['period']['since'])} to {e(rep['period']['until'])}</dd>
<dt>Generated</dt><dd>{e(rep['generated'])}</dd>
<dt>Categories of personal information disclosed</dt><dd>{cats}</dd>
<dt>Disclosures</dt><dd>{rep['disclosures']} (refused requests, nothing disclosed: {rep['refused_requests']})</dd></dl>
<h2>Who received personal information about you</h2>
<table><thead><tr><th>Recipient</th><th>Purpose</th><th>Categories (items)</th><th>Sensitive items</th>
<th>Times</th><th>First</th><th>Last</th><th>Through</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
