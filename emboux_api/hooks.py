def post_init_hook(env):
    """Serve the API right after install.

    An endpoint record shipped as data serves nothing until its routes are
    written to the endpoint registry (``registry_sync``). Align its root
    path with the configured prefix (``emboux_api_prefix`` /
    ``EMBOUX_API_PREFIX``) and sync it; the routes are registered when the
    install transaction commits.
    """
    env["fastapi.endpoint"]._emboux_sync_endpoint()
