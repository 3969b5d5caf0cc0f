"""Drop repeated <script> entries from each page.

sphinx-thebe 0.3.1 registers its inline configuration script once per read of
the sources, and jupyter-book reads twice, so every page declared
``const THEBE_JS_URL`` twice: a JavaScript error on every page. Keeping the
first copy of each identical script fixes it without touching thebe itself.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        name = getattr(script, "filename", script) or ""  # None and "" both mean inline
        key = (str(name), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
