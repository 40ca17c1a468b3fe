"""One pool of FastAPI apps per endpoint, not per URL.

The OCA ``fastapi`` addon (19.0.1.2.0) keys its pool of ready apps by the
request's whole path (``FastApiDispatcher.dispatch`` passes ``PATH_INFO`` as
``root_path``): every new URL (``/api/domains/a.example/outbound``,
``/api/domains/b.example/outbound``, ...) builds a new app, about 80 ms, and
keeps it for the life of the worker, several MB each (measured by ``make
bench``: 90 ms per send decision, workers growing from 130 to 700 MB). This
dispatcher keys the pool by the root path of the endpoint the request
belongs to, so every URL of ``/api`` reuses the same few apps. Registered
for the routing type ``fastapi`` (Odoo keeps the last dispatcher class per
type), it serves every endpoint the same way, otherwise unchanged.
"""

from io import BytesIO

from odoo.http import request

from odoo.addons.fastapi.fastapi_dispatcher import FastApiDispatcher
from odoo.addons.fastapi.pools import fastapi_app_pool


class EndpointPoolFastApiDispatcher(FastApiDispatcher):
    routing_type = "fastapi"

    def dispatch(self, endpoint, args):
        # as FastApiDispatcher.dispatch, but for the key of the pool
        self.request.params = {}
        environ = self._get_environ()
        path = environ["PATH_INFO"]
        endpoints = request.env["fastapi.endpoint"].sudo()
        record = endpoints._get_endpoint(path)
        pool_key = record.root_path if record else path
        with fastapi_app_pool.get_app(env=request.env, root_path=pool_key) as app:
            uid = endpoints.get_uid(path)
            data = BytesIO()
            with self._manage_odoo_env(uid):
                for chunk in app(environ, self._make_response):
                    data.write(chunk)
                if self.inner_exception:
                    raise self.inner_exception
                return self.request.make_response(
                    data.getvalue(), headers=self.headers, status=self.status
                )
