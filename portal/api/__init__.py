"""The API's one home: ``/api/v1/``, one way to sign in, one error shape, one pagination
style and one OpenAPI document. The apps contribute routers (``<app>/api.py``); this
package holds what they share:

- ``urls``: the NinjaAPI, the routers it mounts and its URL patterns (with the docs
  page at ``/api/v1/docs`` and the document at ``/api/v1/openapi.json``);
- ``auth``: the session, personal read-only API tokens, and services' CI tokens;
- ``errors``: ``{"error": "..."}`` for every refusal, ninja's own included;
- ``pagination``: ``{"items", "count", "page", "pages"}`` and ``?page=N``;
- ``params``: a page's form checking the API's query string, and documenting it;
- ``docs``: the documentation page, rendered on the server from the document.

Why django-ninja rather than Django REST framework with drf-spectacular: the push
already validates with pydantic (``reviews.checks.pushed.PushedEvidence``), and ninja's
schemas are pydantic models, so one kind of schema describes what comes in and what
goes out, and the OpenAPI document is generated from the very types that validate and
serialize (drf-spectacular infers it from serializers, with annotations where inference
falls short). Operations are plain typed functions, like the site's function views, and
ninja adds no settings, apps or models. DRF would bring a second validation layer
(serializers), its own authentication, permission, pagination and error classes to
align with ``portal.permissions``, and two packages instead of one. What ninja lacks
here (JSON 405s, a docs page that needs no CDN or inline script) is a few lines in this
package.
"""
