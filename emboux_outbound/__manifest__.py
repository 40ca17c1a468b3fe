{
    "name": "Emboux Outbound",
    "summary": "Mail hosting sending: outbound tiers, enforcement and status, "
    "provider verification, and their inheritance from wildcard parents",
    "version": "19.0.1.0.0",
    "category": "Productivity/Mail Hosting",
    "license": "LGPL-3",
    "author": "Emboux",
    "website": "https://github.com/emboux/emboux",
    "depends": ["emboux_saas"],
    "data": [
        "security/ir.model.access.csv",
        "data/emboux_outbound_tier_data.xml",
        "views/emboux_outbound_tier_views.xml",
        "views/emboux_domain_views.xml",
        "views/emboux_outbound_menus.xml",
    ],
    "post_init_hook": "post_init_hook",
    "uninstall_hook": "uninstall_hook",
    "installable": True,
}
