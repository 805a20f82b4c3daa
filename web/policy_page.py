"""Renders the privacy policy as an HTML page with an anchor for every topic id.

Answers link to `<POLICY_URL>#<topic-id>`; each topic's anchor sits on the first
policy line it rests on, so every link lands on the words the answer quotes.
"""
from __future__ import annotations

import html
from typing import Dict, List

from imago_core.policy.catalogue import Catalogue, get_catalogue

# Lines of the policy that are headings (short, no full stop).
def _is_heading(line: str) -> bool:
    return len(line) < 60 and not line.endswith((".", ":")) and not line.startswith("-")


def anchors_by_line(catalogue: Catalogue) -> Dict[int, List[str]]:
    """Line index -> topic ids whose anchor goes on that line (its first ground)."""
    lines = catalogue.policy_text.splitlines()
    result: Dict[int, List[str]] = {}
    for topic in catalogue.topics:
        first = min(
            (i for i, line in enumerate(lines) for g in topic.grounds if line.strip().startswith(g)),
            default=None,
        )
        if first is None:
            raise ValueError(f"topic {topic.id!r}: no ground found in the policy text")
        result.setdefault(first, []).append(topic.id)
    return result


def render_policy_html(catalogue: Catalogue = None) -> str:
    catalogue = catalogue or get_catalogue()
    lines = catalogue.policy_text.splitlines()
    anchors = anchors_by_line(catalogue)
    body: List[str] = []
    in_list = False
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        marks = "".join(
            f'<span class="anchor" id="{html.escape(t)}" aria-hidden="true"></span>'
            for t in anchors.get(index, [])
        )
        cls = ' class="cited"' if index in anchors else ""
        if line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li{cls}>{marks}{html.escape(line[2:])}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if index == 0:
            body.append(f"<h1>{marks}{html.escape(line)}</h1>")
        elif _is_heading(line):
            body.append(f"<h2{cls}>{marks}{html.escape(line)}</h2>")
        else:
            body.append(f"<p{cls}>{marks}{html.escape(line)}</p>")
    if in_list:
        body.append("</ul>")
    toc = "\n".join(
        f'<li><a href="#{html.escape(t.id)}">{html.escape(t.title)}</a></li>' for t in catalogue.topics
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>IMAGO Privacy Policy</title>
<style>
body {{ font-family: system-ui, sans-serif; line-height: 1.55; max-width: 48rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; color: #1d2430; }}
h1 {{ font-size: 1.8rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; }}
nav ol {{ columns: 2; font-size: .95rem; }}
.anchor {{ display: block; position: relative; top: -1rem; visibility: hidden; }}
:target + * , .cited:target {{ background: #fff5c2; }}
li:has(> .anchor:target), p:has(> .anchor:target), h2:has(> .anchor:target) {{ background: #fff5c2; outline: 2px solid #e0b800; }}
</style>
</head>
<body>
<nav aria-label="Topics"><h2>Topics</h2><ol>
{toc}
</ol></nav>
<main>
{chr(10).join(body)}
</main>
</body>
</html>
"""
