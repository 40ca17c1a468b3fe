"""Each addon's README.md and static/description/index.html from its
readme/ fragments, the way OCA's oca-gen-addon-readme makes README.rst and
index.html: the manifest's name and summary, then DESCRIPTION, CONFIGURE,
USAGE. Edit the fragments, not the generated files. Odoo shows index.html
as the module's description (it would read a README as reStructuredText).

    python scripts/gen_readme.py          # write every addon's files
    python scripts/gen_readme.py --check  # exit 1 when one is out of date
"""

import ast
from pathlib import Path
import sys

import markdown

TOP = Path(__file__).resolve().parents[1]
SECTIONS = [("DESCRIPTION", None), ("CONFIGURE", "Configuration"), ("USAGE", "Usage")]


def render(addon):
    manifest = ast.literal_eval((addon / "__manifest__.py").read_text())
    parts = [
        f"# {manifest['name']}",
        "<!-- generated from readme/ by scripts/gen_readme.py: edit the fragments -->",
        manifest.get("summary", "").strip(),
    ]
    for fragment, title in SECTIONS:
        path = addon / "readme" / f"{fragment}.md"
        if not path.exists():
            continue
        if title:
            parts.append(f"## {title}")
        parts.append(path.read_text().strip())
    parts.append(
        f"## Credits\n\nAuthors: {manifest.get('author', '')}. "
        f"License: {manifest.get('license', '')}. Version {manifest.get('version', '')}."
    )
    return "\n\n".join(part for part in parts if part) + "\n"


def render_html(text):
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return f'<div class="o_emboux_readme">\n{body}\n</div>\n'


def main(check):
    stale = []
    for manifest in sorted(TOP.glob("*/__manifest__.py")):
        addon = manifest.parent
        text = render(addon)
        for path, content in (
            (addon / "README.md", text),
            (addon / "static" / "description" / "index.html", render_html(text)),
        ):
            if path.exists() and path.read_text() == content:
                continue
            if check:
                stale.append(str(path.relative_to(TOP)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
    if stale:
        print(f"out of date (run: python scripts/gen_readme.py): {' '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
