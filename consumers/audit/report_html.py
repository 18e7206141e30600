"""The compliance report as ONE self-contained HTML file: inline CSS and inline SVG charts
drawn here (no scripts, fonts or images from elsewhere), for an inspector's browser."""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2rem;
color:#1d2330;background:#fff}h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.15rem;
margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.3rem}.sub{color:#667}
table{border-collapse:collapse;margin-top:.5rem;font-size:.9rem}th,td{padding:.3rem .6rem;
border-bottom:1px solid #eef;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f4f6fa}tr.notice td{background:#fff1f0}.flag{color:#b42318;font-weight:600}
.notes{background:#fffbea;border:1px solid #f5d76e;padding:.6rem 1rem}
.kpi{display:inline-block;margin:.5rem 1.5rem .5rem 0}.kpi b{display:block;font-size:1.6rem}
svg text{font-family:inherit}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, bool):
        return "yes" if v else ""
    return escape(str(v))


def latency_chart(units: list[dict[str, Any]]) -> str:
    rows = [u for u in units if u.get("p50_s") is not None]
    if not rows:
        return "<p class=sub>No acknowledgement in the period: no latency to draw.</p>"
    top = max(max(u["p95_s"] or 0, u["p50_s"] or 0) for u in rows) or 1.0
    bar_h, label_w, width = 18, 190, 520
    h = len(rows) * (bar_h + 8) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 190}" '
             f'height="{h}" role="img" aria-label="acknowledgement latency per unit">']
    for i, u in enumerate(rows):
        y = 10 + i * (bar_h + 8)
        w95 = (u["p95_s"] or 0) / top * width
        w50 = (u["p50_s"] or 0) / top * width
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" '
                     f'text-anchor="end">{escape(u["unit"])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w95:.1f}" height="{bar_h}" '
                     f'fill="#9db8e8"><title>p95 {u["p95_s"]} s</title></rect>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w50:.1f}" height="{bar_h - 8}" '
                     f'fill="#1f4e9c"><title>p50 {u["p50_s"]} s</title></rect>')
        parts.append(f'<text x="{label_w + w95 + 6:.1f}" y="{y + 13}" font-size="11" '
                     f'fill="#445">{_fmt(u["p50_s"])} / {_fmt(u["p95_s"])} s</text>')
    y = h - 14
    parts.append(f'<rect x="{label_w}" y="{y - 9}" width="12" height="10" fill="#1f4e9c"/>'
                 f'<text x="{label_w + 16}" y="{y}" font-size="11">p50</text>'
                 f'<rect x="{label_w + 60}" y="{y - 9}" width="12" height="10" fill="#9db8e8"/>'
                 f'<text x="{label_w + 76}" y="{y}" font-size="11">p95 (seconds from '
                 f'recorded to acknowledged)</text></svg>')
    return "".join(parts)


def backlog_chart(points: list[tuple[str, int]]) -> str:
    if not points:
        return "<p class=sub>No concerned event in the period.</p>"
    w, h, left, bottom = 760, 240, 50, 30
    top = max(v for _, v in points) or 1
    n = max(len(points) - 1, 1)

    def xy(i: int, v: int) -> tuple[float, float]:
        return left + i / n * (w - left - 10), 10 + (1 - v / top) * (h - bottom - 10)

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, (_, v) in enumerate(points)))
    x0, y0 = xy(0, 0)
    x1, _ = xy(len(points) - 1, 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="backlog of unacknowledged events over time">',
             f'<line x1="{left}" y1="{y0}" x2="{w - 10}" y2="{y0}" stroke="#889"/>',
             f'<line x1="{left}" y1="10" x2="{left}" y2="{y0}" stroke="#889"/>',
             f'<polygon points="{x0:.1f},{y0:.1f} {line} {x1:.1f},{y0:.1f}" fill="#f6c9c4" '
             f'opacity=".6"/>',
             f'<polyline points="{line}" fill="none" stroke="#b42318" stroke-width="2"/>',
             f'<text x="{left - 6}" y="16" font-size="11" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{y0}" font-size="11" text-anchor="end">0</text>',
             f'<text x="{left}" y="{h - 8}" font-size="11">{escape(points[0][0])}</text>',
             f'<text x="{w - 10}" y="{h - 8}" font-size="11" text-anchor="end">'
             f'{escape(points[-1][0])}</text></svg>']
    return "".join(parts)


def _table(columns: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(doc: dict[str, Any], backlog: list[tuple[str, int]], title: str) -> str:
    units, courts = doc["units"], doc["courts"]
    due = [u for u in units if u["notice_due"]]
    kpis = (f'<div class=kpi><b>{len(units)}</b>units concerned</div>'
            f'<div class=kpi><b>{sum(u["concerned"] for u in units)}</b>concerned events</div>'
            f'<div class=kpi><b>{sum(u["missing"] for u in units)}</b>never acknowledged</div>'
            f'<div class=kpi><b class=flag>{len(due)}</b>units due a formal notice</div>')
    notes = "".join(f"<li>{escape(n)}</li>" for n in doc.get("notes", []))
    unit_rows = [[u["unit"], u["concerned"], u["acked"], u["late"], u["missing"], u["p50_s"],
                  u["p95_s"], "通報 due" if u["notice_due"] else "",
                  "" if u["calendar_complete"] else "incomplete"] for u in units]
    court_rows = [[c["court_code"], c["actions"], c["on_time"], c["late"], c["overdue"],
                   c["pending"], c["not_assessable"]] for c in courts]
    items = [[i["listing_id"], i["decision_no"], i["rule"], i["status"].replace("_", " "),
              i["started_on"] or "not recorded", i["done_on"] or "", i["due"] or "",
              i["limit"], i["clause"], "" if i["calendar_complete"] else "incomplete calendar"]
             for c in courts for i in c["items"]]
    sites = doc.get("republishers", [])
    site_rows = [[d["site"], d["notices"], d["on_time"], d["late"], d["overdue"], d["pending"],
                  "flagged" if d["flagged"] else "",
                  "" if d["calendar_complete"] else "incomplete"] for d in sites]
    site_items = [[i["site"], i["listing_id"], i["status"], i["started_on"], i["done_on"] or "",
                   i["due"]] for d in sites for i in d["items"]]
    republishers = "" if not sites else f"""
<h2>Republishing sites: deletions within 3 working days (policy 四(二)7)</h2>{_table(["site",
    "notices", "on time", "late", "overdue", "pending", "flag", "calendar"], site_rows,
    ["notice" if d["flagged"] else "" for d in sites])}
<h3>Deletions late or overdue</h3>{_table(["site", "listing", "status", "started", "deleted",
    "due"], site_items)}"""
    sup = doc.get("supervision", [])
    sup_rows = [[r["unit"], r["notices"], "yes" if r["second_notice_within_year"] else "",
                 r["honours_barred_until"] or "", r["talks"], "yes" if r["noticed_after_talk"] else "",
                 r["complaints"], r["complaints_open"], r["should_have_acted"]] for r in sup]
    supervision = "" if not sup else f"""
<h2>Supervision: formal notices (通報), talks (約談) and complaints (policy 四(二)8, 四(四))</h2>
{_table(["unit", "notices", "2nd within a year", "honours barred until", "talks",
         "noticed after a talk", "complaints", "open", "should have acted"], sup_rows,
        ["notice" if r["second_notice_within_year"] else "" for r in sup])}"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{CSS}</style></head><body>
<h1>{escape(title)}</h1><p class=sub>Joint credit punishment: acknowledgements per unit and
court time limits (policy 四(二)9, 四(四); Provisions art. 10, 12).</p>
{kpis}
{f'<div class=notes><b>Notes</b><ul>{notes}</ul></div>' if notes else ''}
<h2>Acknowledgement latency per unit</h2>{latency_chart(units)}
<h2>Backlog of unacknowledged events over time</h2>{backlog_chart(backlog)}
<h2>Units</h2>{_table(["unit", "concerned", "acked", "late", "missing", "p50 s", "p95 s",
                        "notice", "calendar"], unit_rows,
                       ["notice" if u["notice_due"] else "" for u in units])}
<h2>Courts: acts with a statutory limit</h2>{_table(["court", "acts", "on time", "late",
    "overdue", "pending", "not assessable"], court_rows)}
<h2>Limits not met, or not assessable (no start time in the log)</h2>{_table(["listing",
    "decision", "rule", "status", "started", "done", "due", "limit", "clause", "calendar"], items)}
{supervision}
{republishers}
</body></html>
"""
