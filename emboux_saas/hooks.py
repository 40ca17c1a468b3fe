def post_init_hook(env):
    """Domains created before this addon have no tenant; count what exists."""
    env["emboux.tenant"]._reconcile_domains_used()
