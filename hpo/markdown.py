"""User text (model paths, data names, parameter values) placed in Markdown that others render.

The report, the model card published to the Hub and the dashboard's note are Markdown; a value
written as it is could render as HTML (a model folder named ``<img src=x onerror=...>``) or break a
table (a ``|`` in a path).
"""

from __future__ import annotations

import html


def markdown_text(value: object) -> str:
    """``value`` shown as text in Markdown: HTML escaped, table pipes kept out of the table's structure."""
    return html.escape(str(value)).replace("|", "\\|")
