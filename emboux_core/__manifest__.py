{
    "name": "Emboux Core",
    "summary": "Mail hosting data: domains, mailboxes, aliases, catch-all, "
    "Dovecot password hashing and the SQL views read by Postfix and Dovecot",
    "version": "19.0.1.0.0",
    "category": "Productivity/Mail Hosting",
    "license": "LGPL-3",
    "author": "Emboux",
    "website": "https://github.com/emboux/emboux",
    "depends": ["base"],
    "data": [
        "security/emboux_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "views/emboux_domain_views.xml",
        "views/emboux_domain_retention_views.xml",
        "views/emboux_mailbox_views.xml",
        "views/emboux_alias_views.xml",
        "views/emboux_menus.xml",
    ],
    "assets": {
        "web.assets_tests": ["emboux_core/static/tests/tours/**/*"],
    },
    "external_dependencies": {"python": ["passlib", "idna", "requests"]},
    "application": True,
}
