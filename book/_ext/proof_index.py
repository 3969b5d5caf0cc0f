"""Readable titles in sphinx-proof's Proof Index.

sphinx-proof 0.2 lists each definition and theorem of the index by its label
(``def-cheb-matrix``). This extension records the title of every labelled proof
node when a document is read and regenerates the index as "Definition: Chebyshev
differentiation matrix", grouped by kind, with the chapter the entry is in.
"""

from collections import defaultdict

from docutils import nodes


def _record_titles(app, doctree):
    env = app.env
    titles = getattr(env, "proof_titles", {})
    for node in doctree.findall(nodes.Element):
        label, realtype = node.get("label"), node.get("realtype")
        if not label or not realtype or "proof" not in node.get("classes", []):
            continue
        title = node.get("title", "").strip()
        if title.startswith("(") and title.endswith(")"):
            title = title[1:-1]
        titles[label] = (title, env.docname)
    env.proof_titles = titles


def _purge(app, env, docname):
    titles = getattr(env, "proof_titles", {})
    for label in [k for k, (_, doc) in titles.items() if doc == docname]:
        del titles[label]


def _merge(app, env, docnames, other):
    env.proof_titles = {**getattr(env, "proof_titles", {}), **getattr(other, "proof_titles", {})}


def _generate(self, docnames=None):
    env = self.domain.env
    content = defaultdict(list)
    proofs = getattr(env, "proof_list", {})
    titles = getattr(env, "proof_titles", {})
    for anchor, values in proofs.items():
        kind = values["realtype"].capitalize()
        title = titles.get(anchor, ("", ""))[0] or anchor
        chapter = env.titles.get(values["docname"])
        extra = chapter.astext() if chapter is not None else values["docname"]
        # name, subtype, docname, anchor, extra, qualifier, description
        content[f"{kind}s"].append(
            (f"{kind}: {title}", 0, values["docname"], anchor, extra, "", "")
        )
    for entries in content.values():
        entries.sort(key=lambda e: e[0].lower())
    return sorted(content.items()), True


def setup(app):
    from sphinx_proof.domain import ProofIndex

    ProofIndex.generate = _generate
    app.connect("doctree-read", _record_titles)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
