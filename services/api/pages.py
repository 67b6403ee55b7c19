"""The API's HTML pages: Jinja templates, autoescaped, each value escaped to text.

Autoescaped, a template passes every value it shows through markupsafe's
``escape``, which wraps the escaped text in a ``Markup`` (two calls in
Python, each dearer than the escaping); a page's output is joined into one
text, where that wrapper is of no use. A :class:`Page` escapes each value
with markupsafe's own escaping and keeps it as text: the same characters
out, for a fraction of the cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import new_context
from markupsafe import _escape_inner, escape


def environment(directory: Path) -> jinja2.Environment:
    """The pages of ``directory``, autoescaped, as :class:`Page`\\ s."""
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=True)
    pages.template_class = Page
    return pages


def escape_text(value: Any) -> str:
    """``value`` as markupsafe's ``escape`` makes it HTML, but text unwrapped."""
    if type(value) is str:
        return _escape_inner(value)
    # Markup stays as it is; anything else is escaped as its text.
    return escape(value)


class Page(jinja2.Template):
    """A template whose output escapes each value to text (:func:`escape_text`)."""

    @classmethod
    def _from_namespace(cls, environment, namespace, globals):  # type: ignore[override]
        # ``escape`` is what the compiled template calls on each value it outputs,
        # and nowhere else: its escaped value is only ever joined into the page.
        namespace["escape"] = escape_text
        return super()._from_namespace(environment, namespace, globals)

    def render_page(self, variables: dict[str, Any]) -> str:
        """The page, from ``variables`` alone.

        Its context is those variables as they are (``shared``): ``render``
        would first copy the environment's globals into a context of every
        page's own, and list their names, which the page does not use.
        """
        context = new_context(self.environment, self.name, self.blocks, variables, shared=True)
        return "".join(self.root_render_func(context))
