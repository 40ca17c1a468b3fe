"""The dispatcher of the OCA ``fastapi`` addon, with one pool of apps per
endpoint, a bounded request body and a tolerant ``Accept-Language``.

One pool per endpoint, not per URL: the OCA ``fastapi`` addon (19.0.1.2.0)
keys its pool of ready apps by the request's whole path
(``FastApiDispatcher.dispatch`` passes ``PATH_INFO`` as ``root_path``):
every new URL (``/api/domains/a.example/outbound``,
``/api/domains/b.example/outbound``, ...) builds a new app, about 80 ms, and
keeps it for the life of the worker, several MB each (measured by ``make
bench``: 90 ms per send decision, workers growing from 130 to 700 MB). This
dispatcher keys the pool by the root path of the endpoint the request
belongs to, so every URL of ``/api`` reuses the same few apps. Registered
for the routing type ``fastapi`` (Odoo keeps the last dispatcher class per
type), it sees every FastAPI endpoint of every database, but changes only
the suite's (app ``emboux``): any other endpoint is dispatched by the
addon's own code, unchanged.

Bounded body: a request body of the Emboux API larger than
:data:`MAX_BODY_BYTES` answers 413 ``{"detail": ...}`` before anything
parses it: at once from ``Content-Length``, or as soon as a chunked body
goes past the limit while it is read (Odoo's own limit is 128 MiB, and the
addon reads the whole body into memory). A chunked body is passed on with
its length, which the addon's WSGI-to-ASGI bridge needs to see it at all.

Accept-Language: the addon parses the header with ``accept_language``,
which raises on malformed values (``;q=``): a 500 for a header that is only
a preference. An unparsable or absurdly long one is ignored here (the
default language), as if it had not been sent.
"""

from contextlib import contextmanager
from io import BytesIO
import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo.http import request

from odoo.addons.fastapi.context import odoo_env_ctx
from odoo.addons.fastapi.fastapi_dispatcher import FastApiDispatcher
from odoo.addons.fastapi.pools import fastapi_app_pool

_logger = logging.getLogger(__name__)

# The largest request body of the Emboux API. Our JSON bodies are a few KiB;
# the largest legitimate ones are the webhooks: an SNS notification carries
# a message of at most 256 KiB (JSON-escaped in its envelope), Mailgun's
# JSON events a few KiB.
MAX_BODY_BYTES = 1024 * 1024
BODY_TOO_LARGE = f"Request body too large: at most {MAX_BODY_BYTES} bytes"
# browsers send a few dozen characters; the parsed value is a cache key
MAX_ACCEPT_LANGUAGE = 256


def body_too_large():
    return RequestEntityTooLarge(description=BODY_TOO_LARGE)


def lang_from_accept_language(env, value):
    """The installed language ``Accept-Language`` asks for, or None when
    there is none, or the header is malformed or too long."""
    if not value or len(value) > MAX_ACCEPT_LANGUAGE:
        return None
    try:
        return env["res.lang"].sudo()._get_lang_from_accept_language(value)
    except ValueError:  # accept_language's answer to anything it cannot read
        _logger.debug("ignoring the malformed Accept-Language %r", value)
        return None


class EndpointPoolFastApiDispatcher(FastApiDispatcher):
    routing_type = "fastapi"

    def dispatch(self, endpoint, args):
        # as FastApiDispatcher.dispatch, but for the key of the pool and the
        # bounded body of the Emboux API
        path = self._wsgi_request().environ["PATH_INFO"]
        endpoints = request.env["fastapi.endpoint"].sudo()
        record = endpoints._get_endpoint(path)
        self._emboux = bool(record) and record.app == "emboux"
        if not self._emboux:
            # another app (or database) served by this Odoo: the addon's own way
            return super().dispatch(endpoint, args)
        self.request.params = {}
        environ = self._get_bounded_environ()
        pool_key = record.root_path
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

    def _wsgi_request(self):
        """werkzeug's request under Odoo's wrapper (as ``_get_environ``)."""
        httprequest = self.request.httprequest
        return getattr(httprequest, "_HTTPRequest__wrapped", httprequest)

    def _get_bounded_environ(self):
        """As ``_get_environ``, with a body of at most :data:`MAX_BODY_BYTES`
        (413 above), read once into memory (a retry reads it again)."""
        httprequest = self._wsgi_request()
        environ = httprequest.environ
        if not hasattr(httprequest, "_cached_stream"):
            # werkzeug refuses a larger Content-Length at once and stops a
            # chunked body one byte past the limit (it would stop there
            # silently, a truncated body: hence the one byte more)
            httprequest.max_content_length = MAX_BODY_BYTES + 1
            try:
                body = httprequest._get_stream_for_parsing().read()
            except RequestEntityTooLarge as exc:
                raise body_too_large() from exc
            if len(body) > MAX_BODY_BYTES:
                raise body_too_large()
            httprequest._cached_stream = BytesIO(body)
            # a2wsgi passes on CONTENT_LENGTH bytes of the body: without it a
            # chunked body would reach the app empty
            environ["CONTENT_LENGTH"] = str(len(body))
        stream = httprequest._cached_stream
        stream.seek(0)
        environ["wsgi.input"] = stream
        return environ

    @contextmanager
    def _manage_odoo_env(self, uid=None):
        # as FastApiDispatcher._manage_odoo_env, but a malformed
        # Accept-Language is ignored instead of raising (module doc)
        if not getattr(self, "_emboux", False):
            with super()._manage_odoo_env(uid):
                yield
            return
        env = request.env
        lang = lang_from_accept_language(env, request.httprequest.headers.get("Accept-Language"))
        if lang:
            env = env(context=dict(env.context, lang=lang))
        if uid:
            env = env(user=uid)
        token = odoo_env_ctx.set(env)
        try:
            yield
            # as the addon: compute what is pending as the endpoint's user,
            # not as the public user at commit
            env.flush_all()
        finally:
            odoo_env_ctx.reset(token)
