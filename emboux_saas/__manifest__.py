{
    "name": "Emboux SaaS",
    "summary": "Mail hosting tenancy: tenants with quotas and an exact domain counter, "
    "hashed API keys, isolation by record rules, wildcard parent domains, owner transfer "
    "and delta sync",
    "version": "19.0.1.0.0",
    "category": "Productivity/Mail Hosting",
    "license": "LGPL-3",
    "author": "Emboux",
    "website": "https://github.com/emboux/emboux",
    "depends": ["emboux_core", "mail", "portal"],
    "data": [
        "security/emboux_saas_security.xml",
        "security/ir.model.access.csv",
        "wizards/emboux_api_key_generate_views.xml",
        "views/emboux_tenant_views.xml",
        "views/emboux_api_key_views.xml",
        "views/emboux_domain_views.xml",
        "views/emboux_mailbox_views.xml",
        "views/emboux_deletion_log_views.xml",
        "views/emboux_saas_menus.xml",
        "views/portal_templates.xml",
    ],
    "assets": {
        "web.assets_frontend": ["emboux_saas/static/src/interactions/**/*"],
        "web.assets_tests": ["emboux_saas/static/tests/tours/**/*"],
    },
    "post_init_hook": "post_init_hook",
}
