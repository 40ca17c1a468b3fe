# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Emboux REST API",
    "summary": "The Emboux REST API (domains, mailboxes, aliases, tenants, API keys) "
    "served from Odoo "
    "by the OCA fastapi addon",
    "version": "19.0.1.0.0",
    "category": "Productivity/Mail Hosting",
    "license": "LGPL-3",
    "author": "Emboux",
    "website": "https://github.com/emboux/emboux",
    "depends": ["emboux_outbound", "fastapi"],
    "data": [
        "security/emboux_api_security.xml",
        "data/fastapi_endpoint.xml",
    ],
    # packaging: Odoo needs it to read the version ranges of the fastapi
    # addon's own manifest, which does not declare it
    "external_dependencies": {"python": ["fastapi", "pydantic", "fastapi-offline", "packaging"]},
    "post_init_hook": "post_init_hook",
}
